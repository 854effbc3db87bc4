//! One voice on the realtime side: its state machine, parameter ramps, and
//! how a block of it is mixed (scheduling and stop events split the block at
//! their exact frame; loop points split it at the loop end; a gain ramp is a
//! short prologue before a flat-gain inner loop).

use std::sync::atomic::Ordering;

use super::command::{Loop, PlayParams, Start};
use super::kernel::{self, ONE};
use super::param;
use super::shared::SlotParams;
use super::tween::{GainTween, Tween};
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

/// The pan law: gains for the left and right output of a voice at `pan`
/// (`-1` left .. `1` right).
///
/// Mono sources use constant power: `left = cos θ`, `right = sin θ` with
/// `θ = (pan + 1) π / 4`, so the centre gives `1/√2` (−3 dB) on each side and
/// `left² + right² = 1` everywhere. Stereo sources use a constant-power
/// balance: `left = min(1, √2 cos θ)`, `right = min(1, √2 sin θ)`, so the
/// centre passes both channels at unity.
///
/// ```
/// let (l, r) = pcmring::mixer::pan_gains(0.0, 1);
/// assert_eq!(l, std::f32::consts::FRAC_1_SQRT_2);
/// assert_eq!(r, std::f32::consts::FRAC_1_SQRT_2);
/// assert_eq!(pcmring::mixer::pan_gains(0.0, 2), (1.0, 1.0));
/// ```
///
/// The curve is tabulated ([`PAN_STEPS`] steps over the pan range, computed
/// in f64) and linearly interpolated between steps (error below 3e-7), so a
/// pan change costs a few operations on the realtime thread; the steps
/// include the centre and both ends, which are exact.
pub fn pan_gains(pan: f32, channels: u16) -> (f32, f32) {
    let t = pan_table();
    let x = (pan.clamp(-1.0, 1.0) + 1.0) * (PAN_STEPS as f32 / 2.0);
    let i = (x as usize).min(PAN_STEPS - 1);
    let f = x - i as f32;
    let lerp = |a: [f32; 2], b: [f32; 2], k: usize| a[k] + (b[k] - a[k]) * f;
    let (a, b) = if channels >= 2 {
        (t.balance[i], t.balance[i + 1])
    } else {
        (t.power[i], t.power[i + 1])
    };
    if f == 0.0 {
        (a[0], a[1])
    } else {
        (lerp(a, b, 0), lerp(a, b, 1))
    }
}

/// Steps of the tabulated pan law over `-1..=1`.
pub const PAN_STEPS: usize = 1024;

struct PanTable {
    /// `(cos θ, sin θ)` per step.
    power: [[f32; 2]; PAN_STEPS + 1],
    /// `(min(1, √2 cos θ), min(1, √2 sin θ))` per step.
    balance: [[f32; 2]; PAN_STEPS + 1],
}

static PAN_TABLE: std::sync::OnceLock<PanTable> = std::sync::OnceLock::new();

/// The pan table, computed on first use (the builder forces it, so the
/// realtime thread never computes it).
fn pan_table() -> &'static PanTable {
    PAN_TABLE.get_or_init(|| {
        let mut t = PanTable {
            power: [[0.0; 2]; PAN_STEPS + 1],
            balance: [[0.0; 2]; PAN_STEPS + 1],
        };
        for i in 0..=PAN_STEPS {
            let theta = i as f64 / PAN_STEPS as f64 * std::f64::consts::FRAC_PI_2;
            // Exact at the ends and the centre.
            let (l, r) = match i {
                0 => (1.0, 0.0),
                _ if i == PAN_STEPS => (0.0, 1.0),
                _ if 2 * i == PAN_STEPS => (
                    std::f64::consts::FRAC_1_SQRT_2,
                    std::f64::consts::FRAC_1_SQRT_2,
                ),
                _ => (theta.cos(), theta.sin()),
            };
            let s = std::f64::consts::SQRT_2;
            t.power[i] = [l as f32, r as f32];
            t.balance[i] = [(l * s).min(1.0) as f32, (r * s).min(1.0) as f32];
        }
        t
    })
}

/// Computes the pan table now (call off the realtime thread).
pub(crate) fn init_pan_table() {
    let _ = pan_table();
}

/// Realtime state of one voice slot.
pub(crate) struct Voice {
    pub pos: u64,
    pub step: u64,
    pub gl: f32,
    pub gr: f32,
    pub tl: f32,
    pub tr: f32,
    pub dl: f32,
    pub dr: f32,
    pub ramp_left: u32,
    pub step_left: u32,
    pub step_target: u64,
    pub step_delta: i64,
    pub loop_start: u64,
    pub loop_end: u64,
    pub looping: bool,
    pub channels: u16,
    pub state: State,
    pub fade: FadeEnd,
    pub bus: u16,
    pub generation: u32,
    pub start_at: u64,
    pub stop_at: u64,
    pub stop_fade: u32,
    pub seen_gain: u64,
    pub seen_pan: u64,
    pub seen_rate: u64,
    pub gain: f32,
    pub pan: f32,
    pub sound: Option<Sound>,
    /// For a streaming voice: its ring (and `sound` is `None`).
    pub stream: Option<Arc<StreamShared>>,
    /// The stream's jump index this voice has followed.
    pub jump_seen: u64,
    /// Whether the previous chunk underran (a run of underruns is reported once).
    pub starving: bool,
    /// Use the AVX2 gather kernels (set by the renderer's AVX2 copy only).
    pub gather: bool,
    /// A gain tween, pending or running, and frames left in its segment.
    pub tween: Option<GainTween>,
    pub tween_seg_left: u32,
    /// Tweens waiting for their start frame.
    pub pending: [Option<GainTween>; PENDING_TWEENS],
}

/// Gain tweens (scheduled changes) a voice holds waiting for their frame.
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
            gl: 0.0,
            gr: 0.0,
            tl: 0.0,
            tr: 0.0,
            dl: 0.0,
            dr: 0.0,
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
            gather: false,
            tween: None,
            tween_seg_left: 0,
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
        self.sound = sound;
        self.stream = stream;
        self.jump_seen = 0;
        self.starving = false;
        self.tween = None;
        self.tween_seg_left = 0;
        self.pending = [None; PENDING_TWEENS];
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
        let (tl, tr) = self.targets();
        self.gl = 0.0;
        self.gr = 0.0;
        self.ramp_to(tl, tr, p.fade_in);
    }

    /// Gains the current gain and pan call for.
    fn targets(&self) -> (f32, f32) {
        let (l, r) = pan_gains(self.pan, self.channels);
        (self.gain * l, self.gain * r)
    }

    /// Starts a linear ramp of the effective gains to `(tl, tr)` over `frames`.
    pub fn ramp_to(&mut self, tl: f32, tr: f32, frames: u32) {
        self.tl = tl;
        self.tr = tr;
        if frames == 0 {
            self.gl = tl;
            self.gr = tr;
            self.dl = 0.0;
            self.dr = 0.0;
            self.ramp_left = 0;
        } else {
            self.dl = (tl - self.gl) / frames as f32;
            self.dr = (tr - self.gr) / frames as f32;
            self.ramp_left = frames;
        }
    }

    /// Picks up gain/pan/rate changes from the slot's parameter words.
    #[inline(always)]
    pub fn poll_params(&mut self, sp: &SlotParams, ramp: u32) {
        let g = sp.gain.load(Ordering::Acquire);
        let p = sp.pan.load(Ordering::Acquire);
        if g != self.seen_gain || p != self.seen_pan {
            if g != self.seen_gain {
                // A plain gain change replaces any tween, running or waiting.
                self.tween = None;
                self.pending = [None; PENDING_TWEENS];
            }
            self.seen_gain = g;
            self.seen_pan = p;
            if let Some(v) = param::get(&sp.gain, self.generation) {
                self.gain = v;
            }
            if let Some(v) = param::get(&sp.pan, self.generation) {
                self.pan = v;
            }
            if self.fade == FadeEnd::None && self.state != State::Paused {
                let (tl, tr) = self.targets();
                self.ramp_to(tl, tr, ramp);
            }
        }
        let r = sp.rate.load(Ordering::Acquire);
        if r != self.seen_rate {
            self.seen_rate = r;
            let (g, v) = param::unpack(r);
            if g == self.generation {
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

    /// Schedules a gain tween to `target` starting on frame `at` (0 = now).
    /// Up to [`PENDING_TWEENS`] may wait; beyond that the latest is dropped.
    pub fn start_tween(&mut self, target: f32, tween: Tween, at: u64) {
        let new = GainTween {
            from: self.gain,
            to: target,
            frames: tween.frames,
            done: 0,
            curve: tween.curve,
            at,
            started: false,
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
    }

    /// Whether a tween runs or waits.
    #[inline(always)]
    fn has_tweens(&self) -> bool {
        self.tween.is_some() || self.pending.iter().any(Option::is_some)
    }

    /// The waiting tween that starts first: its index and frame.
    fn next_pending(&self) -> Option<(usize, u64)> {
        self.pending
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p.at)))
            .min_by_key(|&(_, at)| at)
    }

    /// Starts the tween's next segment (or ends the tween).
    fn tween_segment(&mut self, ramp_now: bool) {
        let Some(tw) = self.tween else { return };
        if tw.done >= tw.frames {
            self.gain = tw.to;
            if ramp_now {
                let (tl, tr) = self.targets();
                self.ramp_to(tl, tr, 0);
            }
            self.tween = None;
            self.tween_seg_left = 0;
            return;
        }
        let (len, g) = tw.next_segment();
        self.gain = g;
        if ramp_now {
            let (tl, tr) = self.targets();
            self.ramp_to(tl, tr, len);
        }
        self.tween_seg_left = len;
    }

    /// Moves tweens on at output offset `off` of a block starting at `t0`:
    /// starts those due (a new one replaces a running one), advances segments.
    #[inline(always)]
    fn tween_step(&mut self, t0: u64, off: usize) {
        let ramp_now = self.fade == FadeEnd::None && self.state == State::Playing;
        let now = t0 + off as u64;
        let mut started = false;
        while let Some((i, at)) = self.next_pending() {
            if at > now {
                break;
            }
            if let Some(mut tw) = self.pending[i].take() {
                tw.started = true;
                tw.from = self.gain;
                self.tween = Some(tw);
                self.tween_segment(ramp_now);
                started = true;
            }
        }
        if started {
            return;
        }
        if let Some(mut tw) = self.tween {
            if self.tween_seg_left == 0 {
                tw.done += tw.next_segment().0;
                self.tween = Some(tw);
                self.tween_segment(ramp_now);
            }
        }
    }

    /// Frames from offset `off` to the next tween event, if any.
    #[inline(always)]
    fn tween_until(&self, t0: u64, off: usize, n: usize) -> usize {
        let mut until = n;
        if self.tween.is_some() {
            until = until.min(off + self.tween_seg_left as usize);
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
        self.ramp_to(0.0, 0.0, frames);
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
                self.gl = 0.0;
                self.gr = 0.0;
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
            let (tl, tr) = self.targets();
            self.ramp_to(tl, tr, fade);
        }
    }

    /// Mixes frames `[t0, t0 + l.len())` of the output clock into `l`/`r`.
    /// Returns `false` when the voice has ended.
    #[inline(always)]
    pub fn mix(
        &mut self,
        t0: u64,
        l: &mut [f32],
        r: &mut [f32],
        late: &mut u32,
        underrun: &mut u32,
    ) -> bool {
        let n = l.len();
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
                let (l, r) = (&mut l[off..until], &mut r[off..until]);
                let more = match (&sound, &stream) {
                    (Some(s), _) => self.mix_span(s.samples(), l, r),
                    (None, Some(st)) => self.mix_stream_span(st, l, r, underrun),
                    (None, None) => false,
                };
                if !more {
                    break false;
                }
                if self.tween.is_some() {
                    self.tween_seg_left = self.tween_seg_left.saturating_sub((until - off) as u32);
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
    fn mix_stream_span(
        &mut self,
        st: &StreamShared,
        l: &mut [f32],
        r: &mut [f32],
        underrun: &mut u32,
    ) -> bool {
        let n = l.len();
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
            // Mix inside one window, with positions relative to its start.
            let window = |v: &mut Voice, m: usize, l: &mut [f32], r: &mut [f32]| {
                v.pos -= base << 32;
                v.loop_start = 0;
                v.loop_end = m as u64;
                v.looping = false;
                let alive = v.mix_span(st.window(base, m), l, r);
                v.pos += base << 32;
                st.consume(v.pos >> 32);
                st.played
                    .fetch_add((v.pos >> 32) - base, std::sync::atomic::Ordering::Relaxed);
                alive
            };
            if eof && avail <= GUARD_FRAMES {
                // The rest of the stream fits one window: end like a one-shot.
                return avail > 0 && window(self, avail, &mut l[o..], &mut r[o..]);
            }
            let m = avail.min(GUARD_FRAMES);
            let unit = self.step == ONE && self.step_left == 0 && self.pos as u32 == 0;
            let k = if unit {
                m.min(n - o)
            } else {
                // Frames whose interpolation partner is inside the window.
                let smax = if self.step_left > 0 {
                    self.step.max(self.step_target)
                } else {
                    self.step
                };
                let rel = self.pos - (base << 32);
                let last = (m as u64).saturating_sub(1) << 32;
                if rel < last {
                    (((last - rel - 1) / smax + 1) as usize).min(n - o)
                } else {
                    0
                }
            };
            if k == 0 {
                *underrun += (n - o) as u32;
                return true;
            }
            // Inside the window by construction: never the one-shot end.
            let _ = window(self, m, &mut l[o..o + k], &mut r[o..o + k]);
            o += k;
        }
        true
    }

    /// Frames of the next `k` that still ramp, and the gains to mix them with.
    #[inline(always)]
    fn ramp_part(&self, k: usize) -> (usize, [f32; 4]) {
        (
            (self.ramp_left as usize).min(k),
            [self.gl, self.gr, self.dl, self.dr],
        )
    }

    /// Advances the gain ramp by `kr` frames (snapping to the target at its end).
    #[inline(always)]
    fn advance_gain(&mut self, kr: usize) {
        if kr > 0 {
            self.ramp_left -= kr as u32;
            if self.ramp_left == 0 {
                self.gl = self.tl;
                self.gr = self.tr;
            } else {
                self.gl += self.dl * kr as f32;
                self.gr += self.dr * kr as f32;
            }
        }
    }

    #[inline(always)]
    fn silent(&self) -> bool {
        self.gl == 0.0 && self.gr == 0.0 && self.ramp_left == 0
    }

    /// Asks the CPU to start loading the source frames the next `n` output
    /// frames will read (a hint; never faults).
    #[inline(always)]
    pub fn prefetch(&self, n: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sound) = &self.sound {
            let s = sound.samples();
            let ch = self.channels as usize;
            let start = (self.pos >> 32) as usize * ch;
            let len = (((n as u64 * self.step) >> 32) as usize + 2) * ch;
            let end = (start + len).min(s.len());
            let mut i = start;
            while i < end {
                // SAFETY: `i < s.len()`, so the address is inside the sample
                // buffer; prefetch has no architectural effect besides caching.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(
                        s.as_ptr().add(i) as *const i8,
                        std::arch::x86_64::_MM_HINT_T0,
                    )
                };
                i += 16;
            }
        }
    }

    /// Touches the first source line the next block will read, so its page
    /// translation is cached by the time [`Voice::prefetch`] asks for the rest.
    #[inline(always)]
    pub fn prefetch_page(&self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sound) = &self.sound {
            let s = sound.samples();
            let i = (self.pos >> 32) as usize * self.channels as usize;
            if i < s.len() {
                // SAFETY: `i < s.len()`: the address is inside the sample buffer;
                // a prefetch has no architectural effect besides caching.
                unsafe {
                    std::arch::x86_64::_mm_prefetch(
                        s.as_ptr().add(i) as *const i8,
                        std::arch::x86_64::_MM_HINT_T2,
                    )
                };
            }
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

    /// Mixes a span with no events inside. `false` when a one-shot ends.
    #[inline(always)]
    fn mix_span(&mut self, src: &[f32], l: &mut [f32], r: &mut [f32]) -> bool {
        let n = l.len();
        let ch = self.channels as usize;
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
                    // The ramp prologue, then the flat-gain loop (no closures:
                    // everything inlines into the renderer's AVX2 copy).
                    let s = &src[idx * ch..(idx + k) * ch];
                    let (l, r) = (&mut l[o..o + k], &mut r[o..o + k]);
                    let (kr, g) = self.ramp_part(k);
                    if kr > 0 {
                        if ch == 1 {
                            kernel::mono_ramp(&s[..kr], &mut l[..kr], &mut r[..kr], g);
                        } else {
                            kernel::stereo_ramp(&s[..2 * kr], &mut l[..kr], &mut r[..kr], g);
                        }
                        self.advance_gain(kr);
                    }
                    if kr < k {
                        let (gl, gr) = (self.gl, self.gr);
                        if ch == 1 {
                            kernel::mono_flat(&s[kr..], &mut l[kr..], &mut r[kr..], gl, gr);
                        } else {
                            kernel::stereo_flat(&s[2 * kr..], &mut l[kr..], &mut r[kr..], gl, gr);
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
                // No step in this span exceeds `smax` (a ramp moves monotonically
                // towards its target), so this bound is safe for the whole span.
                let smax = if ramping {
                    self.step.max(self.step_target)
                } else {
                    self.step
                };
                // Frames whose interpolation partner idx + 1 is still inside the segment.
                let last = ((seg_end as u64) - 1) << 32;
                let safe = if self.pos < last {
                    ((last - self.pos - 1) / smax + 1) as usize
                } else {
                    0
                };
                let mut k = (n - o).min(safe);
                if ramping {
                    k = k.min(self.step_left as usize);
                }
                if k == 0 {
                    self.slow(src, &mut l[o..o + 1], &mut r[o..o + 1]);
                    o += 1;
                    continue;
                }
                let mut step = self.step;
                if self.silent() {
                    (self.pos, step) = kernel::advance(self.pos, step, dstep, k);
                } else {
                    // Work relative to the segment base so the kernel sees a short position.
                    let base = idx;
                    let s = &src[base * ch..seg_end * ch];
                    let mut p = self.pos - ((base as u64) << 32);
                    let (l, r) = (&mut l[o..o + k], &mut r[o..o + k]);
                    let (kr, g) = self.ramp_part(k);
                    if kr > 0 {
                        let (l, r) = (&mut l[..kr], &mut r[..kr]);
                        (p, step) = if ch == 1 {
                            kernel::mono_lerp(s, p, step, dstep, l, r, g, self.gather)
                        } else {
                            kernel::stereo_lerp(s, p, step, dstep, l, r, g, self.gather)
                        };
                        self.advance_gain(kr);
                    }
                    if kr < k {
                        let g = [self.gl, self.gr, 0.0, 0.0];
                        let (l, r) = (&mut l[kr..], &mut r[kr..]);
                        (p, step) = if ch == 1 {
                            kernel::mono_lerp(s, p, step, dstep, l, r, g, self.gather)
                        } else {
                            kernel::stereo_lerp(s, p, step, dstep, l, r, g, self.gather)
                        };
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
    fn slow(&mut self, src: &[f32], l: &mut [f32], r: &mut [f32]) {
        let idx = self.pos >> 32;
        let frac = ((self.pos as u32) >> 8) as f32 * (1.0 / 16_777_216.0);
        let c1 = if self.channels >= 2 { 1 } else { 0 };
        let a0 = self.fetch(src, idx, 0);
        let b0 = self.fetch(src, idx + 1, 0);
        let a1 = self.fetch(src, idx, c1);
        let b1 = self.fetch(src, idx + 1, c1);
        if self.ramp_left > 0 {
            self.ramp_left -= 1;
            if self.ramp_left == 0 {
                self.gl = self.tl;
                self.gr = self.tr;
            } else {
                self.gl += self.dl;
                self.gr += self.dr;
            }
        }
        l[0] += (a0 + (b0 - a0) * frac) * self.gl;
        r[0] += (a1 + (b1 - a1) * frac) * self.gr;
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
