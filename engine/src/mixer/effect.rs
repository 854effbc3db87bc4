//! Bus effects: inserts that process a bus's signal in place, on every
//! channel of the output layout, and the built-in biquad filter, delay and
//! reverb.
//!
//! An [`Effect`] runs on the realtime thread: `process` must not allocate,
//! lock or block (the built-ins allocate their buffers when they are made,
//! with state for all [`MAX_OUTPUT_CHANNELS`] channels). The renderer
//! calls [`Effect::process_channels`] with the layout's planes in ALSA
//! order (FL FR, then RL RR, FC LFE, SL SR as the layout has them); the
//! built-ins process each channel with its own state (filter memory, delay
//! line, comb bank), so a filter on a 5.1 bus filters all six channels.
//! Parameters change from any thread through a cloneable handle of atomics
//! (an [`EffectHandle`], which the effect's constructor returns with it);
//! the effect reads them once per chunk and ramps them: the biquad glides its cutoff and Q
//! (coefficients once per chunk), the delay and reverb move their wet
//! level and the delay its feedback linearly across the chunk (frame `i`
//! of an `n`-frame chunk uses `old + (new - old) * (i + 1) / n`). Buses with inserts and sends are set up on the
//! [`super::MixerBuilder`] ([`super::MixerBuilder::insert`],
//! [`super::MixerBuilder::send`]).

use std::f32::consts::PI;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use super::surround::MAX_OUTPUT_CHANNELS;

/// An insert effect on a bus: processes `l` and `r` (equal lengths, at
/// most 256 frames, the mixer's chunk) in place. Called on the realtime thread.
pub trait Effect: Send {
    /// Processes one chunk of the front pair in place.
    fn process(&mut self, l: &mut [f32], r: &mut [f32]);
    /// Processes one chunk of every channel of the output layout in place
    /// (2 to 8 planes of equal length, ALSA order:
    /// FL FR RL RR FC LFE SL SR as far as the layout goes). The renderer
    /// calls this; the default processes the front pair with
    /// [`Effect::process`] and leaves the other channels dry.
    fn process_channels(&mut self, channels: &mut [&mut [f32]]) {
        if let [l, r, ..] = channels {
            self.process(l, r);
        }
    }
    /// Clears internal state (delay lines, filter memory) after the
    /// output went non-finite.
    fn reset(&mut self) {}
}

/// An `f32` that any thread may set and the effect reads.
#[derive(Debug)]
struct Param(AtomicU32);

impl Param {
    fn new(v: f32) -> Param {
        Param(AtomicU32::new(v.to_bits()))
    }
    fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Relaxed))
    }
    fn set(&self, v: f32) {
        self.0.store(v.to_bits(), Relaxed)
    }
}

/// What a [`Biquad`] passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Low pass (12 dB/octave).
    LowPass,
    /// High pass (12 dB/octave).
    HighPass,
    /// Band pass (constant 0 dB peak gain).
    BandPass,
}

/// Normalised biquad coefficients `[b0, b1, b2, a1, a2]` (a0 = 1) of the
/// RBJ audio-EQ cookbook filter at `cutoff` Hz and quality `q` for `rate`.
pub fn biquad_coefficients(kind: FilterKind, cutoff: f32, q: f32, rate: u32) -> [f32; 5] {
    let w = 2.0 * PI * (cutoff / rate as f32).clamp(1e-5, 0.49);
    let (sin, cos) = w.sin_cos();
    let alpha = sin / (2.0 * q.max(0.05));
    let a0 = 1.0 + alpha;
    let (b0, b1, b2) = match kind {
        FilterKind::LowPass => ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0),
        FilterKind::HighPass => ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0),
        FilterKind::BandPass => (alpha, 0.0, -alpha),
    };
    [
        b0 / a0,
        b1 / a0,
        b2 / a0,
        -2.0 * cos / a0,
        (1.0 - alpha) / a0,
    ]
}

/// A cloneable handle that changes the parameters of the effect `E` (a
/// [`Biquad`], [`Delay`] or [`Reverb`]) from any thread, lock-free: the
/// effect's constructor returns it beside the effect, which reads the
/// values (atomics) once per chunk. The setters are those of
/// `EffectHandle<Biquad>`, `EffectHandle<Delay>` and `EffectHandle<Reverb>`
/// below.
pub struct EffectHandle<E>(Arc<[Param; 3]>, PhantomData<fn() -> E>);

impl<E> EffectHandle<E> {
    fn new(params: [Param; 3]) -> Self {
        EffectHandle(Arc::new(params), PhantomData)
    }
}

impl<E> Clone for EffectHandle<E> {
    fn clone(&self) -> Self {
        EffectHandle(self.0.clone(), PhantomData)
    }
}

impl<E> fmt::Debug for EffectHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EffectHandle").field(&self.0).finish()
    }
}

/// The parameters of a [`Biquad`], settable from any thread.
impl EffectHandle<Biquad> {
    /// Sets the cutoff (or centre) frequency in Hz; the filter glides to it.
    pub fn set_cutoff(&self, hz: f32) {
        if hz.is_finite() && hz > 0.0 {
            self.0[0].set(hz);
        }
    }
    /// Sets the quality factor; the filter glides to it.
    pub fn set_q(&self, q: f32) {
        if q.is_finite() && q > 0.0 {
            self.0[1].set(q);
        }
    }
}

/// A biquad filter (transposed direct form II) with its own state per
/// channel. Parameter changes
/// glide: each chunk the cutoff moves at most a factor of
/// [`Biquad::GLIDE`] (and the Q by the same factor) toward its target, and
/// the coefficients are recomputed, so a sweep never clicks.
pub struct Biquad {
    kind: FilterKind,
    rate: u32,
    params: EffectHandle<Biquad>,
    cutoff: f32,
    q: f32,
    c: [f32; 5],
    /// Per channel: the two state words.
    z: [[f32; 2]; MAX_OUTPUT_CHANNELS],
}

impl Biquad {
    /// Largest cutoff change per chunk, as a ratio.
    pub const GLIDE: f32 = 1.05;

    /// A filter at `cutoff` Hz and quality `q` for a device at `rate`, and
    /// the handle that changes its parameters.
    pub fn new(kind: FilterKind, cutoff: f32, q: f32, rate: u32) -> (Biquad, EffectHandle<Biquad>) {
        let params = EffectHandle::new([Param::new(cutoff), Param::new(q), Param::new(0.0)]);
        let f = Biquad {
            kind,
            rate,
            params: params.clone(),
            cutoff,
            q,
            c: biquad_coefficients(kind, cutoff, q, rate),
            z: [[0.0; 2]; MAX_OUTPUT_CHANNELS],
        };
        (f, params)
    }

    fn glide(cur: f32, target: f32) -> f32 {
        target.clamp(cur / Biquad::GLIDE, cur * Biquad::GLIDE)
    }
}

impl Effect for Biquad {
    fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        self.process_channels(&mut [l, r]);
    }

    fn process_channels(&mut self, channels: &mut [&mut [f32]]) {
        let (tc, tq) = (self.params.0[0].get(), self.params.0[1].get());
        if tc != self.cutoff || tq != self.q {
            self.cutoff = Biquad::glide(self.cutoff, tc);
            self.q = Biquad::glide(self.q, tq);
            self.c = biquad_coefficients(self.kind, self.cutoff, self.q, self.rate);
        }
        let [b0, b1, b2, a1, a2] = self.c;
        for (x, z) in channels.iter_mut().zip(&mut self.z) {
            let [mut z1, mut z2] = *z;
            for s in x.iter_mut() {
                let y = b0 * *s + z1;
                z1 = b1 * *s - a1 * y + z2;
                z2 = b2 * *s - a2 * y;
                *s = y;
            }
            *z = [z1, z2];
        }
    }

    fn reset(&mut self) {
        self.z = [[0.0; 2]; MAX_OUTPUT_CHANNELS];
    }
}

/// The parameters of a [`Delay`], settable from any thread.
impl EffectHandle<Delay> {
    /// Delay time in frames (clamped to the delay's maximum; takes effect
    /// at the next chunk).
    pub fn set_frames(&self, frames: u32) {
        self.0[0].set(frames as f32);
    }
    /// Feedback (0..0.99).
    pub fn set_feedback(&self, fb: f32) {
        if fb.is_finite() {
            self.0[1].set(fb.clamp(0.0, 0.99));
        }
    }
    /// Wet level (the dry signal passes at unity).
    pub fn set_wet(&self, wet: f32) {
        if wet.is_finite() {
            self.0[2].set(wet.max(0.0));
        }
    }
}

/// A feedback delay, one line per channel: `y = x + wet * d`, where the
/// line holds `x + feedback * d` and `d` is the line's output `frames`
/// frames ago (wet and feedback ramp across a chunk, see the module docs).
pub struct Delay {
    params: EffectHandle<Delay>,
    line: [Box<[f32]>; MAX_OUTPUT_CHANNELS],
    at: usize,
    /// Feedback and wet as of the end of the last chunk.
    fb: f32,
    wet: f32,
}

/// `from + (to - from) * (i + 1) / n` for frame `i` of an `n`-frame chunk.
#[inline(always)]
fn ramp_at(from: f32, step: f32, i: usize) -> f32 {
    from + step * (i + 1) as f32
}

impl Delay {
    /// A delay of up to `max_frames`, set to `frames`, with `feedback` and
    /// `wet`; and the handle that changes them.
    pub fn new(
        max_frames: usize,
        frames: u32,
        feedback: f32,
        wet: f32,
    ) -> (Delay, EffectHandle<Delay>) {
        let params = EffectHandle::new([
            Param::new(frames as f32),
            Param::new(feedback.clamp(0.0, 0.99)),
            Param::new(wet.max(0.0)),
        ]);
        let n = max_frames.max(1) + 1;
        let d = Delay {
            fb: params.0[1].get(),
            wet: params.0[2].get(),
            params: params.clone(),
            line: std::array::from_fn(|_| vec![0.0; n].into_boxed_slice()),
            at: 0,
        };
        (d, params)
    }
}

impl Effect for Delay {
    fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        self.process_channels(&mut [l, r]);
    }

    fn process_channels(&mut self, channels: &mut [&mut [f32]]) {
        let len = self.line[0].len();
        let frames = (self.params.0[0].get() as usize).clamp(1, len - 1);
        let (fb, wet) = (self.params.0[1].get(), self.params.0[2].get());
        let n = channels.first().map_or(0, |x| x.len()).max(1) as f32;
        let (dfb, dwet) = ((fb - self.fb) / n, (wet - self.wet) / n);
        let start = self.at;
        for (x, line) in channels.iter_mut().zip(&mut self.line) {
            let mut at = start;
            for (i, s) in x.iter_mut().enumerate() {
                let d = line[(at + len - frames) % len];
                line[at] = *s + ramp_at(self.fb, dfb, i) * d;
                *s += ramp_at(self.wet, dwet, i) * d;
                at = (at + 1) % len;
            }
            self.at = at;
        }
        (self.fb, self.wet) = (fb, wet);
    }

    fn reset(&mut self) {
        for l in &mut self.line {
            l.fill(0.0);
        }
    }
}

/// The parameters of a [`Reverb`], settable from any thread.
impl EffectHandle<Reverb> {
    /// Room size 0..1 (the combs' feedback, 0.7 to 0.98).
    pub fn set_room(&self, room: f32) {
        if room.is_finite() {
            self.0[0].set(room.clamp(0.0, 1.0));
        }
    }
    /// Damping 0..1 (high frequencies decay faster).
    pub fn set_damping(&self, damp: f32) {
        if damp.is_finite() {
            self.0[1].set(damp.clamp(0.0, 1.0));
        }
    }
    /// Wet level; the effect outputs only the reverberated signal times
    /// this (use it on a send bus).
    pub fn set_wet(&self, wet: f32) {
        if wet.is_finite() {
            self.0[2].set(wet.max(0.0));
        }
    }
}

/// Comb delays (frames at 44.1 kHz) of the Schroeder-Moorer reverb, as in
/// Freeverb; output channel `c`'s are longer by `c` × [`REVERB_SPREAD`].
pub const REVERB_COMBS: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
/// All-pass delays (frames at 44.1 kHz).
pub const REVERB_ALLPASSES: [usize; 4] = [556, 441, 341, 225];
/// Extra delay of each further channel's lines (frames at 44.1 kHz): the
/// right channel's are longer by this, the next one's by twice this, and so on.
pub const REVERB_SPREAD: usize = 23;

/// A comb filter's line, position and low-pass memory.
type Comb = (Box<[f32]>, usize, f32);
/// An all-pass filter's line and position.
type AllPass = (Box<[f32]>, usize);

/// A Schroeder-Moorer reverb (eight low-pass-feedback combs in parallel,
/// four all-passes in series, per output channel, with the Freeverb tunings
/// scaled to the device rate). Every channel's bank is fed the sum of all
/// the layout's channels times a fixed input gain of 0.015. Outputs the wet signal
/// only (its level ramped across a chunk): put it on a send bus.
pub struct Reverb {
    params: EffectHandle<Reverb>,
    /// Per channel: comb lines, their positions and filter memories.
    combs: [[Comb; 8]; MAX_OUTPUT_CHANNELS],
    allpasses: [[AllPass; 4]; MAX_OUTPUT_CHANNELS],
    /// The wet level as of the end of the last chunk.
    wet: f32,
}

impl Reverb {
    /// A reverb for a device at `rate`, and the handle for its parameters.
    pub fn new(rate: u32, room: f32, damping: f32, wet: f32) -> (Reverb, EffectHandle<Reverb>) {
        let params = EffectHandle::new([
            Param::new(room.clamp(0.0, 1.0)),
            Param::new(damping.clamp(0.0, 1.0)),
            Param::new(wet.max(0.0)),
        ]);
        let scale = |n: usize| ((n as u64 * rate as u64) / 44_100).max(1) as usize;
        let line = |n: usize| vec![0.0f32; n].into_boxed_slice();
        let combs: [[Comb; 8]; MAX_OUTPUT_CHANNELS] = std::array::from_fn(|c| {
            REVERB_COMBS.map(|n| (line(scale(n + c * REVERB_SPREAD)), 0usize, 0.0f32))
        });
        let allpasses: [[AllPass; 4]; MAX_OUTPUT_CHANNELS] = std::array::from_fn(|c| {
            REVERB_ALLPASSES.map(|n| (line(scale(n + c * REVERB_SPREAD)), 0usize))
        });
        (
            Reverb {
                wet: params.0[2].get(),
                params: params.clone(),
                combs,
                allpasses,
            },
            params,
        )
    }
}

/// Input gain into the combs (keeps the sum of eight combs in range).
pub const REVERB_INPUT: f32 = 0.015;

impl Effect for Reverb {
    fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        self.process_channels(&mut [l, r]);
    }

    fn process_channels(&mut self, channels: &mut [&mut [f32]]) {
        let room = 0.7 + 0.28 * self.params.0[0].get();
        let damp = 0.4 * self.params.0[1].get();
        let wet = self.params.0[2].get();
        let n = channels.iter().map(|x| x.len()).min().unwrap_or(0);
        let used = channels.len().min(MAX_OUTPUT_CHANNELS);
        let dwet = (wet - self.wet) / n.max(1) as f32;
        for i in 0..n {
            let mut sum = 0.0f32;
            for x in channels[..used].iter() {
                sum += x[i];
            }
            let input = sum * REVERB_INPUT;
            let w = ramp_at(self.wet, dwet, i);
            for (ch, x) in channels[..used].iter_mut().enumerate() {
                let mut acc = 0.0f32;
                for (buf, at, store) in self.combs[ch].iter_mut() {
                    let y = buf[*at];
                    *store = y * (1.0 - damp) + *store * damp;
                    buf[*at] = input + *store * room;
                    *at = (*at + 1) % buf.len();
                    acc += y;
                }
                for (buf, at) in self.allpasses[ch].iter_mut() {
                    let b = buf[*at];
                    buf[*at] = acc + b * 0.5;
                    acc = b - acc;
                    *at = (*at + 1) % buf.len();
                }
                x[i] = acc * w;
            }
        }
        self.wet = wet;
    }

    fn reset(&mut self) {
        for ch in &mut self.combs {
            for (b, _, s) in ch.iter_mut() {
                b.fill(0.0);
                *s = 0.0;
            }
        }
        for ch in &mut self.allpasses {
            for (b, _) in ch.iter_mut() {
                b.fill(0.0);
            }
        }
    }
}
