//! One voice on the realtime side: its state machine, parameter ramps, and
//! how a block of it is mixed (scheduling and stop events split the block at
//! their exact frame; loop points split it at the loop end; a gain ramp is a
//! short prologue before a flat-gain inner loop).

use std::sync::atomic::Ordering;

use super::command::{Loop, PlayParams, Start};
use super::kernel::{self, Simd, ONE};
use super::pan::pan_gains;
use super::param;
use super::planes::Planes;
use super::shared::SlotParams;
use super::surround::{decode_position, Matrix, OutputLayout, Position, MAX_OUTPUT_CHANNELS};
use super::tween::{ParamTween, Tween, TweenParam};
use std::sync::Arc;

use crate::sound::Sound;
use crate::stream::{StreamShared, GUARD_FRAMES};

/// Where a voice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Slot not in use by the renderer.
    Free,
    /// Waiting for its start frame.
    Pending,
    /// Mixing.
    Playing,
    /// Paused (position kept, silent).
    Paused,
    /// To be ended at the next mix pass.
    Dead,
}

/// What happens when the current fade-out reaches zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FadeEnd {
    /// Not fading out.
    None,
    /// End the voice.
    End,
    /// Pause the voice.
    Pause,
}

/// Realtime state of one voice slot: the fields every block reads first,
/// in declaration order, on cache-line-aligned slots.
#[repr(C, align(64))]
pub(crate) struct Voice {
    // The hot part: what every block reads (the renderer prefetches it).
    pub pos: u64,
    pub step: u64,
    pub step_target: u64,
    pub step_delta: i64,
    pub loop_start: u64,
    pub loop_end: u64,
    pub stop_at: u64,
    pub seen_gain: u64,
    pub seen_pan: u64,
    pub seen_rate: u64,
    pub sound: Option<Sound>,
    /// For a streaming voice: its ring (and `sound` is `None`).
    pub stream: Option<Arc<StreamShared>>,
    pub ramp_left: u32,
    pub step_left: u32,
    pub generation: u32,
    pub gain: f32,
    pub pan: f32,
    pub bus: u16,
    pub channels: u16,
    /// The output layout the gains are for.
    pub layout: OutputLayout,
    pub state: State,
    pub fade: FadeEnd,
    pub looping: bool,
    /// Whether the previous chunk underran (a run of underruns is reported once).
    pub starving: bool,
    /// The kernels' instruction set (set by the renderer's copy for it).
    pub simd: Simd,
    /// Whether any of `tweens` or `pending` is set.
    pub tweening: bool,
    /// The plane pairs of `layout` (a byte: the hot part fits three cache lines).
    pub pairs: u8,
    /// Per plane pair: the gains now, their targets and slopes per frame
    /// (a stereo layout's pair ends the hot part; the others are cold).
    pub gains: [PairGains; MAX_OUTPUT_CHANNELS / 2],
    // The cold part.
    /// For a sound of 3 to 8 channels: its matrix onto the layout.
    pub matrix: &'static Matrix,
    pub start_at: u64,
    pub stop_fade: u32,
    /// The stream's jump index this voice has followed.
    pub jump_seen: u64,
    /// The running tween of each parameter (by [`TweenParam`]) and the
    /// frames left in its segment.
    pub tweens: [Option<ParamTween>; 3],
    pub tween_seg_left: [u32; 3],
    /// Tweens waiting for their start frame.
    pub pending: [Option<ParamTween>; PENDING_TWEENS],
}

/// The gains of one output plane pair (planes `2p` and `2p + 1`): now, the
/// ramp's targets, and the slopes per frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PairGains {
    pub g: [f32; 2],
    pub t: [f32; 2],
    pub d: [f32; 2],
}

impl PairGains {
    /// Starts the ramp from `g` to `t` over `frames` (0: snaps to `t`).
    #[inline(always)]
    fn start_ramp(&mut self, frames: u32) {
        if frames == 0 {
            (self.g, self.d) = (self.t, [0.0; 2]);
        } else {
            let f = frames as f32;
            self.d = [(self.t[0] - self.g[0]) / f, (self.t[1] - self.g[1]) / f];
        }
    }
}

/// Bytes at the start of a [`Voice`] that every block of a voice on a
/// stereo output reads: up to its first plane pair's gains.
const HOT_BYTES: usize = std::mem::offset_of!(Voice, gains) + std::mem::size_of::<PairGains>();

// Three cache lines: a new hot field must push a cold one out (the first
// pair's gains are interleaved so they fit; as three arrays of eight they
// had made it four).
const _: () = assert!(HOT_BYTES <= 192);

/// How many of the next `want` frames, from position `pos` with steps of
/// at most `smax`, start before position `last` (all of them, without a
/// division, in the common case).
#[inline(always)]
fn frames_before(pos: u64, last: u64, smax: u64, want: usize) -> usize {
    if pos >= last {
        0
    } else if (want as u64).saturating_sub(1) * smax < last - pos {
        want
    } else {
        (((last - pos - 1) / smax + 1) as usize).min(want)
    }
}

/// Asks the CPU to start loading every cache line of `[first, end)`,
/// `STEP` lines per step (a few lines past `end` are harmless: prefetch
/// never faults). Does nothing off x86_64.
#[inline(always)]
fn prefetch_lines<const STEP: usize>(first: *const i8, end: *const i8) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut line = first.wrapping_sub(first as usize & 63);
        while line < end {
            for k in 0..STEP {
                // SAFETY: prefetch has no architectural effect besides
                // caching, on any address; `wrapping_add` computes the
                // address without asserting it is in bounds.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(
                        line.wrapping_add(64 * k),
                        std::arch::x86_64::_MM_HINT_T0,
                    )
                };
            }
            line = line.wrapping_add(64 * STEP);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (first, end);
}

/// Asks the CPU to start translating `addr` (and load its line into L2):
/// a hint that starts a page walk early. Does nothing for 0 or off x86_64.
#[inline(always)]
pub(crate) fn prefetch_walk(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    if addr != 0 {
        // SAFETY: prefetch has no architectural effect besides caching,
        // on any address, mapped or not.
        unsafe {
            std::arch::x86_64::_mm_prefetch(addr as *const i8, std::arch::x86_64::_MM_HINT_T1)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Tweens (scheduled changes) a voice holds waiting for their frame.
pub const PENDING_TWEENS: usize = 4;

/// No pending stop.
pub(crate) const NEVER: u64 = u64::MAX;

fn rate_step(rate: f32) -> u64 {
    ((rate as f64) * ONE as f64).round().max(1.0) as u64
}

impl Voice {
    pub fn new() -> Voice {
        Voice {
            pos: 0,
            step: ONE,
            gains: [PairGains::default(); MAX_OUTPUT_CHANNELS / 2],
            layout: OutputLayout::Stereo,
            pairs: 1,
            matrix: OutputLayout::Stereo.matrix(1),
            ramp_left: 0,
            step_left: 0,
            step_target: ONE,
            step_delta: 0,
            loop_start: 0,
            loop_end: 0,
            looping: false,
            channels: 1,
            state: State::Free,
            fade: FadeEnd::None,
            bus: 0,
            generation: 0,
            start_at: 0,
            stop_at: NEVER,
            stop_fade: 0,
            seen_gain: 0,
            seen_pan: 0,
            seen_rate: 0,
            gain: 0.0,
            pan: 0.0,
            sound: None,
            stream: None,
            jump_seen: 0,
            starving: false,
            simd: Simd::Portable,
            tweens: [None; 3],
            tween_seg_left: [0; 3],
            tweening: false,
            pending: [None; PENDING_TWEENS],
        }
    }

    /// Sets the voice up for a `Play` command.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        generation: u32,
        sound: Option<Sound>,
        stream: Option<Arc<StreamShared>>,
        p: &PlayParams,
        loop_start: u64,
        loop_end: u64,
        sp: &SlotParams,
    ) {
        self.generation = generation;
        self.channels = match (&sound, &stream) {
            (Some(s), _) => s.channels(),
            (None, Some(st)) => st.channels,
            (None, None) => 1,
        };
        self.matrix = self.layout.matrix(self.channels);
        self.sound = sound;
        self.stream = stream;
        self.jump_seen = 0;
        self.starving = false;
        self.tweens = [None; 3];
        self.tween_seg_left = [0; 3];
        self.pending = [None; PENDING_TWEENS];
        self.tweening = false;
        self.pos = p.offset << 32;
        self.step = rate_step(p.rate);
        self.step_target = self.step;
        self.step_left = 0;
        self.step_delta = 0;
        self.loop_start = loop_start;
        self.loop_end = loop_end;
        self.looping = !matches!(p.looping, Loop::Off);
        self.bus = p.bus.0;
        self.state = State::Pending;
        self.fade = FadeEnd::None;
        self.start_at = match p.start {
            Start::Now => 0,
            Start::At(t) => t,
        };
        self.stop_at = NEVER;
        self.stop_fade = 0;
        self.seen_gain = sp.gain.load(Ordering::Acquire);
        self.seen_pan = sp.pan.load(Ordering::Acquire);
        self.seen_rate = sp.rate.load(Ordering::Acquire);
        self.gain = param::unpack(self.seen_gain).1;
        self.pan = param::unpack(self.seen_pan).1;
        self.gains = [PairGains::default(); MAX_OUTPUT_CHANNELS / 2];
        self.retarget(p.fade_in);
    }

    /// Ramps the gains over `frames` to what the current gain, pan and
    /// layout call for. The usual case, a pan on a stereo (or mono) output
    /// of a mono or stereo sound, stays in registers: through the array of
    /// eight it cost about a fifth of a `dyn` block in store-forwarding
    /// stalls and calls (benches/mixer.rs).
    #[inline(always)]
    fn retarget(&mut self, frames: u32) {
        let stereo_out = matches!(self.layout, OutputLayout::Mono | OutputLayout::Stereo);
        let pan = match decode_position(self.pan) {
            Position::Pan(pan) if stereo_out && self.channels <= 2 => pan,
            _ => {
                let t = self.targets();
                return self.ramp_to(t, frames);
            }
        };
        // The operations of `targets` and `ramp_to`, so the result is the
        // same to the bit (these layouts mix planes 0 and 1 only).
        let (l, r) = pan_gains(pan, self.channels);
        self.gains[0].t = [l * self.gain, r * self.gain];
        self.gains[0].start_ramp(frames);
        self.ramp_left = frames;
    }

    /// Gains per output plane the current gain, pan and layout call for.
    #[inline(never)]
    fn targets(&self) -> [f32; MAX_OUTPUT_CHANNELS] {
        let mut t = self.layout.gains(decode_position(self.pan), self.channels);
        for x in &mut t[..self.layout.planes()] {
            *x *= self.gain;
        }
        t
    }

    /// Follows the renderer's output layout; a change snaps the gains to the
    /// new layout's (the layout only changes with the device).
    #[inline(always)]
    pub fn set_layout(&mut self, layout: OutputLayout) {
        if layout != self.layout {
            self.layout = layout;
            self.pairs = (layout.planes() / 2) as u8;
            // The pairs past the layout's stay silent until it grows.
            for p in &mut self.gains[self.pairs as usize..] {
                *p = PairGains::default();
            }
            self.matrix = layout.matrix(self.channels);
            if self.fade == FadeEnd::None && self.state != State::Paused {
                self.retarget(0);
            }
        }
    }

    /// Starts a linear ramp of the effective gains to `t` over `frames`.
    pub fn ramp_to(&mut self, t: [f32; MAX_OUTPUT_CHANNELS], frames: u32) {
        for (p, t) in self.gains.iter_mut().zip(t.chunks_exact(2)) {
            p.t = [t[0], t[1]];
        }
        // A snap sets every pair; a ramp only the layout's (the others are
        // never mixed).
        let ramped = if frames == 0 {
            self.gains.len()
        } else {
            self.pairs as usize
        };
        for p in &mut self.gains[..ramped] {
            p.start_ramp(frames);
        }
        self.ramp_left = frames;
    }

    /// Picks up gain/pan/rate changes from the slot's parameter words.
    #[inline(always)]
    pub fn poll_params(&mut self, sp: &SlotParams, ramp: u32) {
        let g = sp.gain.load(Ordering::Acquire);
        let p = sp.pan.load(Ordering::Acquire);
        // (Cancelling tweens is a call that rewrites the tween slots: skipped
        // when none runs or waits, the usual case on every block of `dyn`.)
        if g != self.seen_gain || p != self.seen_pan {
            // A plain change replaces its parameter's tweens, running or
            // waiting; the other parameter keeps its (tweened) value.
            if g != self.seen_gain {
                if self.has_tweens() {
                    self.cancel_tweens(TweenParam::Gain);
                }
                if let Some(v) = param::get(&sp.gain, self.generation) {
                    self.gain = v;
                }
            }
            if p != self.seen_pan {
                if self.has_tweens() {
                    self.cancel_tweens(TweenParam::Pan);
                }
                if let Some(v) = param::get(&sp.pan, self.generation) {
                    self.pan = v;
                }
            }
            self.seen_gain = g;
            self.seen_pan = p;
            if self.fade == FadeEnd::None && self.state != State::Paused {
                self.retarget(ramp);
            }
        }
        let r = sp.rate.load(Ordering::Acquire);
        if r != self.seen_rate {
            self.seen_rate = r;
            let (g, v) = param::unpack(r);
            if g == self.generation {
                if self.has_tweens() {
                    self.cancel_tweens(TweenParam::Rate);
                }
                self.step_target = rate_step(v);
                self.step_delta = (self.step_target as i64 - self.step as i64) / ramp as i64;
                self.step_left = ramp;
                if self.step_delta == 0 {
                    self.step = self.step_target;
                    self.step_left = 0;
                }
            }
        }
    }

    /// Whether the voice ended (or is ending) because it was stopped.
    pub fn stopped(&self) -> bool {
        self.state == State::Dead || self.fade == FadeEnd::End
    }

    /// Drops the running and waiting tweens of `param` (cold: only on a
    /// plain parameter change).
    #[inline(never)]
    fn cancel_tweens(&mut self, param: TweenParam) {
        self.tweens[param as usize] = None;
        self.tween_seg_left[param as usize] = 0;
        for p in &mut self.pending {
            if p.is_some_and(|p| p.param == param) {
                *p = None;
            }
        }
        self.tweens_changed();
    }

    /// The current value of `param` (where its tween starts from).
    fn param_now(&self, param: TweenParam) -> f32 {
        match param {
            TweenParam::Gain => self.gain,
            TweenParam::Pan => match decode_position(self.pan) {
                Position::Pan(p) => p,
                Position::Azimuth(a) => a.to_radians().sin(),
            },
            TweenParam::Rate => (self.step as f64 / ONE as f64) as f32,
        }
    }

    /// Schedules a tween of `param` to `target` starting on frame `at` (0 =
    /// now). Up to [`PENDING_TWEENS`] may wait; beyond that the latest is dropped.
    pub fn start_tween(&mut self, param: TweenParam, target: f32, tween: Tween, at: u64) {
        let new = ParamTween {
            param,
            from: 0.0,
            to: target,
            frames: tween.frames,
            done: 0,
            curve: tween.curve,
            at,
        };
        let slot = match self.pending.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                // Full: replace the latest one if the new one comes earlier.
                let (i, latest) = self
                    .pending
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i, p.map_or(0, |p| p.at)))
                    .max_by_key(|&(_, at)| at)
                    .unwrap_or((0, 0));
                if latest <= at {
                    return;
                }
                i
            }
        };
        self.pending[slot] = Some(new);
        self.tweening = true;
    }

    /// Whether a tween runs or waits (a field, so that the common case
    /// does not read the tween slots' cache lines).
    #[inline(always)]
    fn has_tweens(&self) -> bool {
        self.tweening
    }

    /// Recomputes [`Voice::has_tweens`] after the tween slots changed.
    fn tweens_changed(&mut self) {
        self.tweening =
            self.tweens.iter().any(Option::is_some) || self.pending.iter().any(Option::is_some);
    }

    /// The waiting tween that starts first: its index and frame.
    fn next_pending(&self) -> Option<(usize, u64)> {
        self.pending
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p.at)))
            .min_by_key(|&(_, at)| at)
    }

    /// Sets `param` to `value`, reached over the next `len` frames (0 = at once).
    fn apply_tween_value(&mut self, param: TweenParam, value: f32, len: u32, ramp_now: bool) {
        match param {
            TweenParam::Gain | TweenParam::Pan => {
                if param == TweenParam::Gain {
                    self.gain = value;
                } else {
                    self.pan = value;
                }
                if ramp_now {
                    self.retarget(len);
                }
            }
            TweenParam::Rate => {
                let target = rate_step(value);
                self.step_target = target;
                self.step_delta = if len == 0 {
                    0
                } else {
                    (target as i64 - self.step as i64) / len as i64
                };
                if self.step_delta == 0 {
                    self.step = target;
                    self.step_left = 0;
                } else {
                    self.step_left = len;
                }
            }
        }
    }

    /// Starts the next segment of `param`'s tween (or ends the tween).
    fn tween_segment(&mut self, param: TweenParam, ramp_now: bool) {
        let k = param as usize;
        let Some(tw) = self.tweens[k] else { return };
        if tw.done >= tw.frames {
            self.apply_tween_value(param, tw.to, 0, ramp_now);
            self.tweens[k] = None;
            self.tween_seg_left[k] = 0;
            return;
        }
        let (len, v) = tw.next_segment();
        self.apply_tween_value(param, v, len, ramp_now);
        self.tween_seg_left[k] = len;
    }

    /// Moves tweens on at output offset `off` of a block starting at `t0`:
    /// starts those due (a new one replaces its parameter's running one),
    /// advances segments.
    #[inline(always)]
    fn tween_step(&mut self, t0: u64, off: usize) {
        let ramp_now = self.fade == FadeEnd::None && self.state == State::Playing;
        let now = t0 + off as u64;
        let mut started = [false; 3];
        while let Some((i, at)) = self.next_pending() {
            if at > now {
                break;
            }
            if let Some(mut tw) = self.pending[i].take() {
                tw.from = self.param_now(tw.param);
                let k = tw.param as usize;
                self.tweens[k] = Some(tw);
                self.tween_segment(tw.param, ramp_now);
                started[k] = true;
            }
        }
        for param in [TweenParam::Gain, TweenParam::Pan, TweenParam::Rate] {
            let k = param as usize;
            if started[k] {
                continue;
            }
            if let Some(mut tw) = self.tweens[k] {
                if self.tween_seg_left[k] == 0 {
                    tw.done += tw.next_segment().0;
                    self.tweens[k] = Some(tw);
                    self.tween_segment(param, ramp_now);
                }
            }
        }
        self.tweens_changed();
    }

    /// Frames from offset `off` to the next tween event, if any.
    #[inline(always)]
    fn tween_until(&self, t0: u64, off: usize, n: usize) -> usize {
        let mut until = n;
        for (tw, &left) in self.tweens.iter().zip(&self.tween_seg_left) {
            if tw.is_some() {
                until = until.min(off + left as usize);
            }
        }
        if let Some((_, at)) = self.next_pending() {
            if at < t0 + n as u64 {
                until = until.min((at.saturating_sub(t0) as usize).max(off));
            }
        }
        until
    }

    /// Begins a fade-out of `frames` after which `then` happens.
    pub fn fade_out(&mut self, frames: u32, then: FadeEnd) {
        self.fade = then;
        self.ramp_to([0.0; MAX_OUTPUT_CHANNELS], frames);
    }

    /// Handles a stop request at frame `at` (0 = now).
    pub fn stop(&mut self, at: u64, fade: u32) {
        match self.state {
            State::Paused => self.state = State::Dead,
            State::Pending if at <= self.start_at => self.state = State::Dead,
            State::Pending | State::Playing => {
                if self.fade == FadeEnd::End {
                    return; // already stopping
                }
                self.stop_at = at;
                self.stop_fade = fade;
            }
            State::Free | State::Dead => {}
        }
    }

    /// Handles a pause request.
    pub fn pause(&mut self, fade: u32) {
        match self.state {
            State::Pending => {
                self.state = State::Paused;
                for p in &mut self.gains {
                    p.g = [0.0; 2];
                }
                self.ramp_left = 0;
            }
            State::Playing if self.fade == FadeEnd::None => self.fade_out(fade, FadeEnd::Pause),
            _ => {}
        }
    }

    /// Handles a resume request.
    pub fn resume(&mut self, fade: u32) {
        let was_pausing = self.fade == FadeEnd::Pause;
        if self.state == State::Paused || was_pausing {
            self.state = State::Playing;
            self.fade = FadeEnd::None;
            self.retarget(fade);
        }
    }

    /// Mixes frames `[t0, t0 + out.len())` of the output clock into the
    /// output planes. Returns `false` when the voice has ended.
    #[inline(always)]
    pub fn mix(&mut self, t0: u64, out: &mut Planes, late: &mut u32, underrun: &mut u32) -> bool {
        let n = out.len();
        let end_t = t0 + n as u64;
        let mut off = 0usize;
        match self.state {
            State::Playing => {}
            State::Pending => {
                if self.start_at >= end_t {
                    return true;
                }
                if self.start_at < t0 && self.start_at != 0 {
                    *late += 1;
                }
                off = self.start_at.saturating_sub(t0) as usize;
                self.state = State::Playing;
            }
            State::Paused => return true,
            State::Dead | State::Free => return false,
        }
        let sound = self.sound.take();
        let stream = self.stream.take();
        let alive = loop {
            // The next event inside this block, as an offset.
            let mut until = n;
            if self.stop_at < end_t {
                until = until.min((self.stop_at.saturating_sub(t0) as usize).max(off));
            }
            if self.fade != FadeEnd::None {
                until = until.min(off + self.ramp_left as usize);
            }
            if self.has_tweens() {
                self.tween_step(t0, off);
                until = until.min(self.tween_until(t0, off, n));
            }
            if until > off {
                let mut span = out.sub(off, until);
                let more = match (&sound, &stream) {
                    (Some(s), _) => self.mix_span(s.samples(), &mut span),
                    (None, Some(st)) => self.mix_stream_span(st, &mut span, underrun),
                    (None, None) => false,
                };
                if !more {
                    break false;
                }
                if self.tweening {
                    for (tw, left) in self.tweens.iter().zip(&mut self.tween_seg_left) {
                        if tw.is_some() {
                            *left = left.saturating_sub((until - off) as u32);
                        }
                    }
                }
            }
            off = until;
            if self.stop_at <= t0 + off as u64 {
                self.stop_at = NEVER;
                self.fade_out(self.stop_fade, FadeEnd::End);
            }
            if self.fade != FadeEnd::None && self.ramp_left == 0 {
                match self.fade {
                    FadeEnd::End => break false,
                    _ => {
                        self.fade = FadeEnd::None;
                        self.state = State::Paused;
                        break true;
                    }
                }
            }
            if off >= n {
                break true;
            }
        };
        self.sound = sound;
        self.stream = stream;
        alive
    }

    /// Moves a sound voice to frame `frame` (a stream seeks with
    /// [`crate::stream::Stream::seek`]); past the end of a one-shot it ends.
    pub fn seek(&mut self, frame: u64) {
        if self.sound.is_some() {
            self.pos = frame.min(self.loop_end) << 32;
        }
    }

    /// Mixes a span of a streaming voice from its ring: windows of up to
    /// [`GUARD_FRAMES`] frames through [`Voice::mix_span`]; when the loader
    /// is behind, the rest of the span stays silent (added to `underrun`)
    /// and the position waits. `false` when the stream has ended.
    fn mix_stream_span(&mut self, st: &StreamShared, out: &mut Planes, underrun: &mut u32) -> bool {
        let n = out.len();
        let jump = st.jump();
        if jump > self.jump_seen {
            // A seek: skip what was buffered before it.
            self.jump_seen = jump;
            if (self.pos >> 32) < jump {
                self.pos = jump << 32;
                st.consume(jump);
            }
        }
        let mut o = 0;
        while o < n {
            let eof = st.finished();
            let base = self.pos >> 32;
            let avail = st.written().saturating_sub(base) as usize;
            if eof && avail <= GUARD_FRAMES {
                // The rest of the stream fits one window: end like a one-shot.
                return avail > 0 && self.mix_window(st, base, avail, &mut out.sub(o, n));
            }
            let m = avail.min(GUARD_FRAMES);
            let unit = self.step == ONE && self.step_left == 0 && self.pos as u32 == 0;
            let k = if unit {
                m.min(n - o)
            } else {
                // Frames whose interpolation partner is inside the window.
                let rel = self.pos - (base << 32);
                let last = (m as u64).saturating_sub(1) << 32;
                frames_before(rel, last, self.max_step(), n - o)
            };
            if k == 0 {
                *underrun += (n - o) as u32;
                return true;
            }
            // Inside the window by construction: never the one-shot end.
            let _ = self.mix_window(st, base, m, &mut out.sub(o, o + k));
            o += k;
        }
        true
    }

    /// Mixes from the stream window of `m` frames at `base`, with positions
    /// relative to its start.
    fn mix_window(&mut self, st: &StreamShared, base: u64, m: usize, out: &mut Planes) -> bool {
        self.pos -= base << 32;
        self.loop_start = 0;
        self.loop_end = m as u64;
        self.looping = false;
        let alive = self.mix_span(st.window(base, m), out);
        self.pos += base << 32;
        st.consume(self.pos >> 32);
        st.played.fetch_add(
            (self.pos >> 32) - base,
            std::sync::atomic::Ordering::Relaxed,
        );
        alive
    }

    /// The ramping gains of plane pair `p` (planes `2p`, `2p + 1`):
    /// `[g0, g1, d0, d1]`.
    #[inline(always)]
    fn pair_ramp(&self, p: usize) -> [f32; 4] {
        let x = &self.gains[p];
        [x.g[0], x.g[1], x.d[0], x.d[1]]
    }

    /// Whether plane pair `p` gets any signal in the current ramp.
    #[inline(always)]
    fn pair_live(&self, p: usize) -> bool {
        let x = &self.gains[p];
        x.g != [0.0; 2] || x.t != [0.0; 2]
    }

    /// Advances the gain ramp by `kr` frames (snapping to the target at its end).
    #[inline(always)]
    fn advance_gain(&mut self, kr: usize) {
        if kr > 0 {
            self.ramp_left -= kr as u32;
            // Pairs past the layout's are never mixed, and stay 0 (see
            // `set_layout`): only the layout's are touched.
            let pairs = &mut self.gains[..self.pairs as usize];
            if self.ramp_left == 0 {
                for p in pairs {
                    p.g = p.t;
                }
            } else {
                for p in pairs {
                    p.g = [p.g[0] + p.d[0] * kr as f32, p.g[1] + p.d[1] * kr as f32];
                }
            }
        }
    }

    #[inline(always)]
    fn silent(&self) -> bool {
        self.ramp_left == 0
            && self.gains[..self.pairs as usize]
                .iter()
                .all(|p| p.g == [0.0; 2])
    }

    /// Asks the CPU to start loading the hot part of this voice's state (a hint).
    #[inline(always)]
    pub fn prefetch_state(&self) {
        let p = self as *const Voice as *const i8;
        prefetch_lines::<{ HOT_BYTES.div_ceil(64) }>(p, p.wrapping_add(HOT_BYTES));
    }

    /// Asks the CPU to start loading the source frames the next `n` output
    /// frames will read (a hint; never faults).
    #[inline(always)]
    pub fn prefetch(&self, n: usize) {
        if let Some(sound) = &self.sound {
            let s = sound.samples();
            let ch = self.channels as usize;
            let start = (self.pos >> 32) as usize * ch;
            let len = (((n as u64 * self.step) >> 32) as usize + 2) * ch;
            let end = (start + len).min(s.len());
            let p = s.as_ptr() as *const i8;
            prefetch_lines::<4>(p.wrapping_add(4 * start), p.wrapping_add(4 * end));
        }
    }

    /// The address its source reads next (0 for a stream): what the voice
    /// loop's page-walk hint touches.
    #[inline(always)]
    pub fn read_addr(&self) -> usize {
        match &self.sound {
            Some(sound) => {
                let at = (self.pos >> 32) as usize * self.channels as usize;
                sound.samples().as_ptr().wrapping_add(at) as usize
            }
            None => 0,
        }
    }

    /// Wraps a position past the loop end back into the loop; `false` if a
    /// one-shot voice ran off its end.
    #[inline(always)]
    fn wrap(&mut self) -> bool {
        if (self.pos >> 32) < self.loop_end {
            return true;
        }
        if !self.looping {
            return false;
        }
        let len = (self.loop_end - self.loop_start) << 32;
        self.pos = (self.loop_start << 32) + (self.pos - (self.loop_end << 32)) % len;
        true
    }

    /// The largest step until the rate ramp ends (a ramp moves
    /// monotonically towards its target), or the steady step.
    #[inline(always)]
    fn max_step(&self) -> u64 {
        if self.step_left > 0 {
            self.step.max(self.step_target)
        } else {
            self.step
        }
    }

    /// Mixes a span with no events inside into every plane pair that gets
    /// signal. `false` when a one-shot ends.
    #[inline(always)]
    fn mix_span(&mut self, src: &[f32], out: &mut Planes) -> bool {
        let n = out.len();
        let ch = self.channels as usize;
        let pairs = self.pairs as usize;
        let mut o = 0;
        while o < n {
            if !self.wrap() {
                return false;
            }
            let idx = (self.pos >> 32) as usize;
            let seg_end = self.loop_end as usize;
            if self.step == ONE && self.step_left == 0 && self.pos as u32 == 0 {
                let k = (n - o).min(seg_end - idx);
                if !self.silent() {
                    // The ramp prologue, then the flat-gain loop, per plane
                    // pair (no closures: everything inlines into the
                    // renderer's AVX2 copy).
                    let s = &src[idx * ch..(idx + k) * ch];
                    let kr = (self.ramp_left as usize).min(k);
                    if kr > 0 {
                        for p in 0..pairs {
                            if !self.pair_live(p) {
                                continue;
                            }
                            let g = self.pair_ramp(p);
                            let (l, r) = out.pair(p, o, o + kr);
                            match ch {
                                1 => kernel::mono_ramp(&s[..kr], l, r, g),
                                2 => kernel::stereo_ramp(&s[..2 * kr], l, r, g),
                                _ => {
                                    let (ma, mb) = (&self.matrix[2 * p], &self.matrix[2 * p + 1]);
                                    kernel::matrix_unit(&s[..ch * kr], ch, l, r, ma, mb, g)
                                }
                            }
                        }
                        self.advance_gain(kr);
                    }
                    if kr < k {
                        for p in 0..pairs {
                            if !self.pair_live(p) {
                                continue;
                            }
                            let [gl, gr] = self.gains[p].g;
                            let (l, r) = out.pair(p, o + kr, o + k);
                            match ch {
                                1 => kernel::mono_flat(&s[kr..], l, r, gl, gr),
                                2 => kernel::stereo_flat(&s[2 * kr..], l, r, gl, gr),
                                _ => {
                                    let (ma, mb) = (&self.matrix[2 * p], &self.matrix[2 * p + 1]);
                                    let g = [gl, gr, 0.0, 0.0];
                                    kernel::matrix_unit(&s[ch * kr..], ch, l, r, ma, mb, g)
                                }
                            }
                        }
                    }
                }
                self.pos += (k as u64) << 32;
                o += k;
            } else {
                // A steady rate or a rate ramp: the same kernel, whose step
                // grows by `dstep` per frame (0 when steady).
                let ramping = self.step_left > 0;
                let dstep = if ramping { self.step_delta } else { 0 };
                // Frames whose interpolation partner idx + 1 is still inside the segment.
                let last = ((seg_end as u64) - 1) << 32;
                let mut k = frames_before(self.pos, last, self.max_step(), n - o);
                if ramping {
                    k = k.min(self.step_left as usize);
                }
                if k == 0 {
                    self.slow(src, &mut out.sub(o, o + 1));
                    o += 1;
                    continue;
                }
                if ramping && ch == 1 {
                    let m = self.steady_after_ramp(k, last, n - o - k);
                    if m > 0 {
                        self.mix_ramp_then_steady(src, &mut out.sub(o, o + k + m), k);
                        o += k + m;
                        continue;
                    }
                }
                let mut step = self.step;
                if self.silent() {
                    (self.pos, step) = kernel::advance(self.pos, step, dstep, k);
                } else {
                    // Work relative to the segment base so the kernel sees a short position.
                    let base = idx;
                    let s = &src[base * ch..seg_end * ch];
                    let mut p = self.pos - ((base as u64) << 32);
                    let kr = (self.ramp_left as usize).min(k);
                    if kr > 0 {
                        // Every pair's kernel moves the position the same way.
                        let mut next = None;
                        for q in 0..pairs {
                            if !self.pair_live(q) {
                                continue;
                            }
                            let g = self.pair_ramp(q);
                            let (l, r) = out.pair(q, o, o + kr);
                            next = Some(self.lerp_pair(s, q, (p, step, dstep), l, r, g));
                        }
                        (p, step) = next.unwrap_or_else(|| kernel::advance(p, step, dstep, kr));
                        self.advance_gain(kr);
                    }
                    if kr < k {
                        let mut next = None;
                        for q in 0..pairs {
                            if !self.pair_live(q) {
                                continue;
                            }
                            let [gl, gr] = self.gains[q].g;
                            let g = [gl, gr, 0.0, 0.0];
                            let (l, r) = out.pair(q, o + kr, o + k);
                            next = Some(self.lerp_pair(s, q, (p, step, dstep), l, r, g));
                        }
                        (p, step) = next.unwrap_or_else(|| kernel::advance(p, step, dstep, k - kr));
                    }
                    self.pos = p + ((base as u64) << 32);
                }
                self.step = step;
                if ramping {
                    self.step_left -= k as u32;
                    if self.step_left == 0 {
                        self.step = self.step_target;
                    }
                }
                o += k;
            }
        }
        self.wrap()
    }

    /// When the rate and gain ramps both end after the next `k` frames, how
    /// many of the following `room` frames the steady rate can mix in the
    /// same kernel call (before position `last`); else 0. Not when a pair
    /// falls silent at the ramp's end (a separate span skips it), nor at
    /// unit rate (a separate span may take the copy path).
    #[inline(always)]
    fn steady_after_ramp(&self, k: usize, last: u64, room: usize) -> usize {
        let ends_together = self.step_left as usize == k && self.ramp_left as usize == k;
        let pairs = &self.gains[..self.pairs as usize];
        if room == 0
            || !ends_together
            || self.step_target == ONE
            || pairs.iter().any(|p| p.t == [0.0; 2] && p.g != [0.0; 2])
        {
            return 0;
        }
        let (mid, _) = kernel::advance(self.pos, self.step, self.step_delta, k);
        frames_before(mid, last, self.step_target, room)
    }

    /// Mixes a mono span whose first `k` frames end the rate and gain
    /// ramps and whose rest runs at the steady rate and flat gains, with
    /// one kernel call per plane pair (as two spans would, to the bit).
    #[inline(always)]
    fn mix_ramp_then_steady(&mut self, src: &[f32], out: &mut Planes, k: usize) {
        let n = out.len();
        let base = (self.pos >> 32) as usize;
        let s = &src[base..self.loop_end as usize];
        let p = self.pos - ((base as u64) << 32);
        let mut next = None;
        for q in 0..self.pairs as usize {
            if !self.pair_live(q) {
                continue;
            }
            let [gl, gr] = self.gains[q].t;
            let then = kernel::Then {
                frames: n - k,
                step: self.step_target,
                gl,
                gr,
            };
            let g = self.pair_ramp(q);
            let (l, r) = out.pair(q, 0, n);
            let (step, dstep) = (self.step, self.step_delta);
            next = Some(kernel::mono_lerp_then(
                s, p, step, dstep, l, r, g, then, self.simd,
            ));
        }
        let p = match next {
            Some((p, _)) => p,
            None => {
                let mid = kernel::advance(p, self.step, self.step_delta, k).0;
                kernel::advance(mid, self.step_target, 0, n - k).0
            }
        };
        self.pos = p + ((base as u64) << 32);
        self.advance_gain(k);
        self.step = self.step_target;
        self.step_left = 0;
    }

    /// The interpolating kernel for this voice's channel count, into plane
    /// pair `q`; `at` is the position, step and step slope.
    #[inline(always)]
    fn lerp_pair(
        &self,
        s: &[f32],
        q: usize,
        at: (u64, u64, i64),
        l: &mut [f32],
        r: &mut [f32],
        g: [f32; 4],
    ) -> (u64, u64) {
        let (p, step, dstep) = at;
        match self.channels {
            1 => kernel::mono_lerp(s, p, step, dstep, l, r, g, self.simd),
            2 => kernel::stereo_lerp(s, p, step, dstep, l, r, g, self.simd),
            ch => {
                let (ma, mb) = (&self.matrix[2 * q], &self.matrix[2 * q + 1]);
                kernel::matrix_lerp(s, ch as usize, p, step, dstep, l, r, ma, mb, g)
            }
        }
    }

    /// Reads channel `c` of frame `idx` with loop wrap-around (one-shots read silence past the end).
    #[inline(always)]
    fn fetch(&self, src: &[f32], idx: u64, c: usize) -> f32 {
        let ch = self.channels as usize;
        let idx = if idx < self.loop_end {
            idx
        } else if self.looping {
            self.loop_start + (idx - self.loop_end) % (self.loop_end - self.loop_start)
        } else {
            return 0.0;
        };
        src.get(idx as usize * ch + c).copied().unwrap_or(0.0)
    }

    /// Mixes one frame the general way (any position, wrap-around
    /// interpolation, rate ramp). The position must already be wrapped.
    #[inline(never)]
    fn slow(&mut self, src: &[f32], out: &mut Planes) {
        let idx = self.pos >> 32;
        let frac = ((self.pos as u32) >> 8) as f32 * (1.0 / 16_777_216.0);
        let c1 = if self.channels >= 2 { 1 } else { 0 };
        let a0 = self.fetch(src, idx, 0);
        let b0 = self.fetch(src, idx + 1, 0);
        let a1 = self.fetch(src, idx, c1);
        let b1 = self.fetch(src, idx + 1, c1);
        if self.ramp_left > 0 {
            self.advance_gain(1);
        }
        let (v0, v1) = (a0 + (b0 - a0) * frac, a1 + (b1 - a1) * frac);
        let ch = self.channels as usize;
        if ch > 2 {
            let mut v = [0.0f32; MAX_OUTPUT_CHANNELS];
            for (c, v) in v.iter_mut().enumerate().take(ch) {
                let (a, b) = (self.fetch(src, idx, c), self.fetch(src, idx + 1, c));
                *v = a + (b - a) * frac;
            }
            for q in 0..self.pairs as usize {
                if !self.pair_live(q) {
                    continue;
                }
                let dot = |m: &[f32; MAX_OUTPUT_CHANNELS]| {
                    let mut x = 0.0f32;
                    for (v, g) in v[..ch].iter().zip(m) {
                        x += v * g;
                    }
                    x
                };
                let (xa, xb) = (dot(&self.matrix[2 * q]), dot(&self.matrix[2 * q + 1]));
                let (l, r) = out.pair(q, 0, 1);
                l[0] += xa * self.gains[q].g[0];
                r[0] += xb * self.gains[q].g[1];
            }
        } else {
            for q in 0..self.pairs as usize {
                if !self.pair_live(q) {
                    continue;
                }
                let (l, r) = out.pair(q, 0, 1);
                l[0] += v0 * self.gains[q].g[0];
                r[0] += v1 * self.gains[q].g[1];
            }
        }
        self.pos += self.step;
        if self.step_left > 0 {
            self.step_left -= 1;
            self.step = if self.step_left == 0 {
                self.step_target
            } else {
                (self.step as i64 + self.step_delta).max(1) as u64
            };
        }
    }
}
