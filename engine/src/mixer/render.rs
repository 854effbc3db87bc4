//! The realtime half: [`MixerRenderer`].
//!
//! Per block: drain the command queue, then in chunks of at most [`CHUNK`]
//! frames mix every active voice into its bus's planar f32 scratch, sum the
//! buses with their (ramped) gains into the master scratch, apply the master
//! gain and the clipper, and interleave into the output. Ended voices go to
//! the garbage queue with their sound reference, to be dropped by
//! [`super::Mixer::collect_garbage`] on another thread.
//!
//! Nothing here allocates, locks or makes a system call (the block timer
//! reads the vDSO clock); `engine/tests/mixer_rt.rs` runs it under the
//! allocation guard.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use super::command::{BusOp, Command};
use super::denormal::FlushDenormals;
use super::effect::Effect;
use super::event::{EndReason, MixerEvent};
use super::kernel::{self, Simd};
use super::param;
use super::planes::Planes;
use super::shared::{Garbage, Shared};
use super::stats::StatsShared;
use super::surround::{OutputLayout, MAX_OUTPUT_CHANNELS};
use super::voice::{prefetch_walk, State, Voice};
pub use crate::render::BlockInfo;
use crate::render::Renderer;

/// Frames mixed per inner pass (the scratch size).
pub const CHUNK: usize = 256;

/// Samples per bus in the scratch: every plane a layout may use.
const BUS_STRIDE: usize = MAX_OUTPUT_CHANNELS * CHUNK;

/// What the output stage does to samples above full scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clip {
    /// Nothing (the sink saturates).
    Off,
    /// Clamp to `[-1, 1]`.
    Hard,
    /// Identity up to ±0.8, then a tanh curve that approaches ±1
    /// with a continuous slope.
    Soft,
}

/// Where [`Clip::Soft`] starts bending.
pub const SOFT_KNEE: f32 = 0.8;

/// A gain that ramps linearly to its target over a fixed number of frames.
#[derive(Debug, Clone, Copy)]
struct GainRamp {
    cur: f32,
    target: f32,
    delta: f32,
    left: u32,
}

impl GainRamp {
    fn new(g: f32) -> Self {
        GainRamp {
            cur: g,
            target: g,
            delta: 0.0,
            left: 0,
        }
    }

    fn set(&mut self, target: f32, frames: u32) {
        if target != self.target {
            self.target = target;
            self.delta = (target - self.cur) / frames as f32;
            self.left = frames;
        }
    }

    fn advance(&mut self, kr: usize) {
        if kr > 0 {
            self.left -= kr as u32;
            if self.left == 0 {
                self.cur = self.target;
            } else {
                self.cur += self.delta * kr as f32;
            }
        }
    }
}

/// The realtime half of the mixer. Move it to the audio thread and call
/// [`MixerRenderer::render`] once per block.
pub struct MixerRenderer {
    shared: Arc<Shared>,
    voices: Box<[Voice]>,
    active: Vec<u32>,
    /// Per bus: [`MAX_OUTPUT_CHANNELS`] planes of `CHUNK` frames each (the
    /// layout's planes in use, in ALSA channel order).
    bus_buf: Box<[f32]>,
    /// The output layout of the current block (from its channel count).
    layout: OutputLayout,
    master: Box<[f32]>,
    bus_gain: Box<[GainRamp]>,
    master_gain: GainRamp,
    clip: Clip,
    ramp: u32,
    simd: Simd,
    prefetch_ahead: usize,
    /// Per slot: the address the voice's source reads next (0 for none),
    /// a compact array for the page-walk hints.
    next_read: Box<[usize]>,
    /// Set when a chunk held non-finite output: the next chunks mix every
    /// voice into `hunt_buf` first, to find and silence the voice responsible.
    hunting: bool,
    /// [`MAX_OUTPUT_CHANNELS`] planes of `CHUNK` frames (used only while hunting).
    hunt_buf: Box<[f32]>,
    /// Per bus: insert effects, in order.
    inserts: Box<[Vec<Box<dyn Effect>>]>,
    /// Sends: (from bus, to bus), `to > from`; levels in `Shared::send_levels`.
    sends: Box<[(u16, u16)]>,
}

/// The engine is gone once its renderer is: the control handles see it
/// ([`super::MixerError::EngineGone`]).
impl Drop for MixerRenderer {
    fn drop(&mut self) {
        self.shared
            .renderer_gone
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl MixerRenderer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        clip: Clip,
        inserts: Vec<Vec<Box<dyn Effect>>>,
        sends: Vec<(u16, u16)>,
    ) -> Self {
        let voices = shared.generations.len();
        let buses = shared.bus_names.len();
        MixerRenderer {
            voices: (0..voices).map(|_| Voice::new()).collect(),
            active: Vec::with_capacity(voices),
            bus_buf: vec![0.0; buses * BUS_STRIDE].into_boxed_slice(),
            layout: OutputLayout::Stereo,
            master: vec![0.0; BUS_STRIDE].into_boxed_slice(),
            bus_gain: (0..buses).map(|_| GainRamp::new(1.0)).collect(),
            master_gain: GainRamp::new(1.0),
            clip,
            ramp: shared.ramp_frames,
            simd: Simd::detect(),
            prefetch_ahead: PREFETCH_AHEAD,
            next_read: vec![0; voices].into_boxed_slice(),
            hunting: false,
            hunt_buf: vec![0.0; BUS_STRIDE].into_boxed_slice(),
            inserts: inserts.into_boxed_slice(),
            sends: sends.into_boxed_slice(),
            shared,
        }
    }

    /// Limits the mixing loops to vectors of `bits` (128: the portable
    /// SSE2 loops, 256: AVX2, 512: AVX-512; the default is the widest this
    /// CPU has). For benchmarks and tests of every path.
    #[doc(hidden)]
    pub fn limit_simd(&mut self, bits: u32) {
        self.simd = Simd::up_to(bits);
    }

    /// How many voices ahead the voice loop prefetches source data (default
    /// [`PREFETCH_AHEAD`]; 0 turns prefetching off). A tuning knob for benchmarks.
    #[doc(hidden)]
    pub fn set_prefetch_ahead(&mut self, voices: usize) {
        self.prefetch_ahead = voices;
    }

    /// Voices the renderer holds (playing, pending or paused).
    pub fn active_voices(&self) -> usize {
        self.active.len()
    }

    /// Renders one block: fills `out` (interleaved, `info.channels` per frame)
    /// for the block that starts at device frame `info.frame_time`. Frames
    /// beyond `info.frames` (if `out` is longer) are zeroed.
    ///
    /// Denormals are flushed to zero while it runs.
    pub fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        let _ftz = FlushDenormals::new();
        let started = Instant::now();
        let ch = info.channels.max(1);
        let frames = info.frames.min(out.len() / ch);
        self.layout = OutputLayout::from_channels(ch);
        self.drain_commands();
        let mut done = 0;
        while done < frames {
            let n = CHUNK.min(frames - done);
            self.mix_chunk(info.frame_time + done as u64, n);
            self.write_out(&mut out[done * ch..(done + n) * ch], ch, n);
            done += n;
        }
        out[frames * ch..].fill(0.0);
        let st = &self.shared.stats;
        st.active_voices.store(self.active.len() as u32, Relaxed);
        st.blocks.fetch_add(1, Relaxed);
        st.frames.fetch_add(frames as u64, Relaxed);
        st.mix_time.record(started.elapsed().as_nanos() as u64);
    }

    fn drain_commands(&mut self) {
        let shared = &*self.shared;
        while let Some(cmd) = shared.commands.pop() {
            match cmd {
                Command::Play {
                    slot,
                    generation,
                    sound,
                    stream,
                    params,
                    loop_start,
                    loop_end,
                } => {
                    let v = &mut self.voices[slot as usize];
                    debug_assert!(v.state == State::Free && v.sound.is_none());
                    v.start(
                        generation,
                        sound,
                        stream,
                        &params,
                        loop_start,
                        loop_end,
                        &shared.params[slot as usize],
                    );
                    self.active.push(slot);
                    shared.stats.voices_started.fetch_add(1, Relaxed);
                }
                Command::Stop {
                    slot,
                    generation,
                    at,
                    fade,
                } => {
                    if let Some(v) = live(&mut self.voices, slot, generation) {
                        v.stop(at, fade);
                    }
                }
                Command::Pause {
                    slot,
                    generation,
                    fade,
                } => {
                    if let Some(v) = live(&mut self.voices, slot, generation) {
                        v.pause(fade);
                    }
                }
                Command::Tween {
                    slot,
                    generation,
                    param,
                    target,
                    tween,
                    at,
                } => {
                    if let Some(v) = live(&mut self.voices, slot, generation) {
                        v.start_tween(param, target, tween, at);
                    }
                }
                Command::Bus { bus, op } => {
                    let (fade, ramp) = (shared.default_fade, shared.ramp_frames);
                    for &slot in &self.active {
                        let v = &mut self.voices[slot as usize];
                        if v.bus != bus || matches!(v.state, State::Free | State::Dead) {
                            continue;
                        }
                        match op {
                            BusOp::Stop => v.stop(0, fade),
                            BusOp::Pause => v.pause(fade),
                            BusOp::Resume => v.resume(ramp),
                        }
                    }
                }
                Command::Seek {
                    slot,
                    generation,
                    frame,
                } => {
                    if let Some(v) = live(&mut self.voices, slot, generation) {
                        v.seek(frame);
                    }
                }
                Command::Resume {
                    slot,
                    generation,
                    fade,
                } => {
                    if let Some(v) = live(&mut self.voices, slot, generation) {
                        v.resume(fade);
                    }
                }
            }
        }
    }

    fn mix_chunk(&mut self, t0: u64, n: usize) {
        let planes = self.layout.planes();
        for b in self.bus_buf.chunks_exact_mut(BUS_STRIDE) {
            for p in b.chunks_exact_mut(CHUNK).take(planes) {
                p[..n].fill(0.0);
            }
        }
        match self.simd {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `simd` is at most what `Simd::detect` found on this CPU.
            Simd::Avx512 => unsafe { mix_voices_avx512(self, t0, n) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Simd::Avx2 => unsafe { mix_voices_avx2(self, t0, n) },
            _ => mix_voices(self, t0, n),
        }

        // Keep NaN and infinities out of the mix: a bus chunk holding one is
        // silenced, and the next chunks look for the voice responsible.
        let mut clean = true;
        for b in self.bus_buf.chunks_exact_mut(BUS_STRIDE) {
            for buf in b.chunks_exact_mut(CHUNK).take(planes) {
                if !kernel::all_finite(&buf[..n]) {
                    buf[..n].fill(0.0);
                    clean = false;
                }
            }
        }
        if !clean {
            self.shared.stats.non_finite_chunks.fetch_add(1, Relaxed);
            self.shared.event(MixerEvent::NonFiniteSilenced {
                at: t0,
                frames: n as u32,
            });
            self.hunting = true;
        } else if self.hunting {
            // A whole chunk mixed voice by voice came out clean: stop looking.
            self.hunting = false;
        }

        // Sum buses into the master scratch.
        for p in self.master.chunks_exact_mut(CHUNK).take(planes) {
            p[..n].fill(0.0);
        }
        let stats = &self.shared.stats;
        let buses = self.bus_gain.len();
        for b in 0..buses {
            let (head, tail) = self.bus_buf.split_at_mut((b + 1) * BUS_STRIDE);
            let buf = &mut head[b * BUS_STRIDE..];
            let ramp = &mut self.bus_gain[b];
            let target = f32::from_bits(self.shared.bus_gains[b].load(Relaxed));
            ramp.set(target, self.ramp);
            // Inserts, in order (pre-fader), on every plane of the layout.
            if !self.inserts[b].is_empty() {
                let mut it = buf.chunks_exact_mut(CHUNK);
                let mut chans: [&mut [f32]; MAX_OUTPUT_CHANNELS] =
                    std::array::from_fn(|_| it.next().map(|p| &mut p[..n]).unwrap_or_default());
                let chans = &mut chans[..planes];
                for fx in self.inserts[b].iter_mut() {
                    fx.process_channels(chans);
                }
                if !chans.iter().all(|p| kernel::all_finite(p)) {
                    for fx in self.inserts[b].iter_mut() {
                        fx.reset();
                    }
                    for p in chans.iter_mut() {
                        p.fill(0.0);
                    }
                    stats.non_finite_chunks.fetch_add(1, Relaxed);
                    self.shared.event(MixerEvent::NonFiniteSilenced {
                        at: t0,
                        frames: n as u32,
                    });
                }
            }
            // Apply the bus gain in place so the peak meter sees it, then add.
            let start = *ramp;
            let mut peak = 0.0f32;
            for p in buf.chunks_exact_mut(CHUNK).take(planes) {
                let mut r = start;
                scale_in_place(&mut p[..n], &mut r);
                *ramp = r;
                peak = peak.max(kernel::peak(&p[..n]));
            }
            StatsShared::raise(&stats.bus_peaks[b], peak);
            // Sends (post-fader) into later buses.
            for (k, &(from, to)) in self.sends.iter().enumerate() {
                if from as usize != b {
                    continue;
                }
                let level = f32::from_bits(self.shared.send_levels[k].load(Relaxed));
                let at = (to as usize - b - 1) * BUS_STRIDE;
                let dst = &mut tail[at..at + BUS_STRIDE];
                for (d, p) in dst
                    .chunks_exact_mut(CHUNK)
                    .zip(buf.chunks_exact(CHUNK))
                    .take(planes)
                {
                    kernel::add_scaled(&mut d[..n], &p[..n], level, 0.0);
                }
            }
            for (m, p) in self
                .master
                .chunks_exact_mut(CHUNK)
                .zip(buf.chunks_exact(CHUNK))
                .take(planes)
            {
                kernel::add_scaled(&mut m[..n], &p[..n], 1.0, 0.0);
            }
        }
        let mg = f32::from_bits(self.shared.master_gain.load(Relaxed));
        self.master_gain.set(mg, self.ramp);
        let start = self.master_gain;
        let mut peak = 0.0f32;
        for p in self.master.chunks_exact_mut(CHUNK).take(planes) {
            let mut r = start;
            scale_in_place(&mut p[..n], &mut r);
            self.master_gain = r;
            peak = peak.max(kernel::peak(&p[..n]));
        }
        StatsShared::raise(&stats.master_peak, peak);
    }

    fn write_out(&mut self, out: &mut [f32], ch: usize, n: usize) {
        let clip = self.clip;
        let m = &self.master;
        if ch == 1 {
            // Mono output: left and right folded.
            let (ml, mr) = (&m[..n], &m[CHUNK..CHUNK + n]);
            for (o, (l, r)) in out.iter_mut().zip(ml.iter().zip(mr)) {
                *o = clip_sample(clip, (l + r) * 0.5);
            }
            return;
        }
        // Every plane to its channel (ALSA order); channels past the layout silent.
        let used = self.layout.channels();
        if used == 2 {
            let (ml, mr) = (&m[..n], &m[CHUNK..CHUNK + n]);
            for (o, (l, r)) in out.chunks_exact_mut(ch).zip(ml.iter().zip(mr)) {
                o[0] = clip_sample(clip, *l);
                o[1] = clip_sample(clip, *r);
                o[2..].fill(0.0);
            }
            return;
        }
        for (i, o) in out.chunks_exact_mut(ch).take(n).enumerate() {
            for (c, x) in o[..used].iter_mut().enumerate() {
                *x = clip_sample(clip, m[c * CHUNK + i]);
            }
            o[used..].fill(0.0);
        }
    }

    /// Visits every voice the renderer holds: `(id, gain the voice was last
    /// told)`. For tests and debugging; not for the realtime thread's hot path.
    #[doc(hidden)]
    pub fn debug_voices(&self, mut f: impl FnMut(super::VoiceId, f32)) {
        for &slot in &self.active {
            let v = &self.voices[slot as usize];
            f(
                super::VoiceId {
                    slot,
                    generation: v.generation,
                },
                v.gain,
            );
        }
    }
}

impl Renderer for MixerRenderer {
    fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        MixerRenderer::render(self, out, info)
    }
}

/// `x *= gain` with the ramp, advancing it.
#[inline(always)]
fn scale_in_place(x: &mut [f32], ramp: &mut GainRamp) {
    let n = x.len();
    let kr = (ramp.left as usize).min(n);
    for (i, s) in x[..kr].iter_mut().enumerate() {
        *s *= ramp.cur + (i as i32 + 1) as f32 * ramp.delta;
    }
    ramp.advance(kr);
    let g = ramp.cur;
    if g != 1.0 {
        for s in &mut x[kr..] {
            *s *= g;
        }
    }
}

#[inline(always)]
fn clip_sample(clip: Clip, x: f32) -> f32 {
    match clip {
        Clip::Off => x,
        Clip::Hard => x.clamp(-1.0, 1.0),
        Clip::Soft => {
            let a = x.abs();
            if a <= SOFT_KNEE {
                x
            } else {
                let k = 1.0 - SOFT_KNEE;
                (SOFT_KNEE + k * ((a - SOFT_KNEE) / k).tanh()).copysign(x)
            }
        }
    }
}

fn live(voices: &mut [Voice], slot: u32, generation: u32) -> Option<&mut Voice> {
    voices
        .get_mut(slot as usize)
        .filter(|v| v.generation == generation && !matches!(v.state, State::Free | State::Dead))
}

/// How many voices ahead the voice loop prefetches source data.
pub const PREFETCH_AHEAD: usize = 8;

/// How many voices' page walks the voice loop starts at once (every
/// `WALK_BATCH` voices, the next `WALK_BATCH`, four prefetch distances on).
/// Beyond the TLB's reach (a few thousand voices) every voice's source
/// prefetch otherwise waited on its own page walk: started together, the
/// walks overlap, and `dyn` at 15,000 voices measured 8-12% faster
/// (benches/mixer.rs, README).
const WALK_BATCH: usize = 16;

/// The voice loop, inlined into each instruction-set variant.
#[inline(always)]
fn mix_voices(r: &mut MixerRenderer, t0: u64, n: usize) {
    let MixerRenderer {
        shared,
        voices,
        active,
        bus_buf,
        layout,
        ramp,
        simd,
        prefetch_ahead,
        next_read,
        hunting,
        hunt_buf,
        ..
    } = r;
    let hunting = *hunting;
    let layout = *layout;
    let planes = layout.planes();
    let ahead_by = *prefetch_ahead;
    let shared = &**shared;
    let mut late = 0u32;
    let mut i = 0;
    while i < active.len() {
        let slot = active[i] as usize;
        {
            let v = &mut voices[slot];
            v.simd = *simd;
            v.set_layout(layout);
            if v.state != State::Dead {
                v.poll_params(&shared.params[slot], *ramp);
            }
        }
        if ahead_by > 0 {
            // The sources of the voice `ahead_by` on, and the hot state of
            // the one twice as far (read by the source prefetch then).
            // Issued after this voice's parameter arithmetic, which then
            // runs while they wait for free miss buffers: 4-10% faster than
            // before it at 5,000 voices and more. Then, every
            // `WALK_BATCH` voices, the page walks of the next batch four
            // distances on (one walk per voice measured no better).
            if let Some(&ahead) = active.get(i + ahead_by) {
                voices[ahead as usize].prefetch(n);
            }
            if let Some(&further) = active.get(i + 2 * ahead_by) {
                voices[further as usize].prefetch_state();
            }
            if i.is_multiple_of(WALK_BATCH) {
                let from = (i + 4 * ahead_by).min(active.len());
                let to = (from + WALK_BATCH).min(active.len());
                for &s in &active[from..to] {
                    prefetch_walk(next_read[s as usize]);
                }
            }
        }
        let v = &mut voices[slot];
        let base = v.bus as usize * BUS_STRIDE;
        let bus = &mut bus_buf[base..base + BUS_STRIDE];
        let mut reason = EndReason::Finished;
        let mut underrun = 0u32;
        if !hunting {
            let alive = v.mix(
                t0,
                &mut Planes::new(bus, CHUNK, 0, n),
                &mut late,
                &mut underrun,
            );
            after_mix(shared, v, slot, (t0, n), underrun, next_read);
            if alive {
                i += 1;
                continue;
            }
        } else {
            // The slow, rare path: mix alone, check, then add.
            for h in hunt_buf.chunks_exact_mut(CHUNK).take(planes) {
                h[..n].fill(0.0);
            }
            let alive = v.mix(
                t0,
                &mut Planes::new(hunt_buf, CHUNK, 0, n),
                &mut late,
                &mut underrun,
            );
            after_mix(shared, v, slot, (t0, n), underrun, next_read);
            let hunted = hunt_buf.chunks_exact(CHUNK).take(planes);
            if hunted.clone().all(|h| kernel::all_finite(&h[..n])) {
                for (b, h) in bus.chunks_exact_mut(CHUNK).zip(hunted) {
                    kernel::add_scaled(&mut b[..n], &h[..n], 1.0, 0.0);
                }
                if alive {
                    i += 1;
                    continue;
                }
            } else {
                reason = EndReason::NonFinite;
                shared.stats.non_finite_voices.fetch_add(1, Relaxed);
            }
        }
        if reason == EndReason::Finished && v.stopped() {
            reason = EndReason::Stopped;
        }
        shared.event(MixerEvent::VoiceEnded {
            id: super::VoiceId {
                slot: slot as u32,
                generation: v.generation,
            },
            reason,
            at: t0,
        });
        // The voice ended: hand it back, never freeing anything here.
        param::end(&shared.generations[slot], v.generation);
        v.state = State::Free;
        {
            if let Err(g) = shared.garbage.push(Garbage {
                slot: slot as u32,
                sound: v.sound.take(),
                stream: v.stream.take(),
            }) {
                // Unreachable by the slot accounting; leak rather than free on this thread.
                std::mem::forget(g);
                shared.stats.garbage_overflow.fetch_add(1, Relaxed);
            }
        }
        shared.stats.voices_ended.fetch_add(1, Relaxed);
        active.swap_remove(i);
    }
    if late > 0 {
        shared.stats.late_starts.fetch_add(late as u64, Relaxed);
    }
}

/// What follows every voice's mix: publish its position, note where its
/// source reads next (for the page-walk hints), report a stream underrun.
#[inline(always)]
fn after_mix(
    shared: &Shared,
    v: &mut Voice,
    slot: usize,
    (t0, n): (u64, usize),
    underrun: u32,
    next_read: &mut [usize],
) {
    shared.params[slot].position.store(v.pos >> 32, Relaxed);
    next_read[slot] = v.read_addr();
    if underrun > 0 {
        stream_underrun(shared, v, slot, t0, n, underrun);
    } else {
        v.starving = false;
    }
}

/// Counts a stream voice's underrun and, when a run of them begins, reports it.
#[inline(never)]
fn stream_underrun(shared: &Shared, v: &mut Voice, slot: usize, t0: u64, n: usize, frames: u32) {
    if let Some(st) = &v.stream {
        st.underrun_frames.fetch_add(frames as u64, Relaxed);
        if !v.starving {
            st.underruns.fetch_add(1, Relaxed);
            shared.event(MixerEvent::StreamUnderrun {
                id: super::VoiceId {
                    slot: slot as u32,
                    generation: v.generation,
                },
                at: t0 + (n as u64 - frames as u64),
                frames,
            });
        }
    }
    v.starving = true;
}

/// The voice loop compiled for AVX2 (the caller checked the CPU has it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn mix_voices_avx2(r: &mut MixerRenderer, t0: u64, n: usize) {
    mix_voices(r, t0, n)
}

/// The voice loop compiled for AVX-512F (the caller checked the CPU has it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn mix_voices_avx512(r: &mut MixerRenderer, t0: u64, n: usize) {
    mix_voices(r, t0, n)
}
