//! Mixer throughput: pcmring's mixer against two bare loops, kira 0.12 and
//! rodio 0.23 on the same work, in one run.
//!
//! Workload: N voices, each a distinct 1-second mono 48 kHz sound (its own
//! allocation unless said otherwise), looping, each starting at a random
//! phase, mixed to interleaved stereo f32 in 256-frame blocks on one core.
//! Reported: nanoseconds of thread CPU time per voice-frame (block time /
//! (256 * N); the fastest of five segments, since neighbours on a shared
//! machine only ever add time; the target ratio's columns `avx2`, `avx512`
//! and `dyn` are measured again at the end of each row and the faster run
//! of each counts), and how many voices one core mixes in real time at
//! that cost. Every engine's output is checked to be non-silent.
//! Parameter changes are made between blocks and are not timed (for pcmring
//! they are one atomic compare-and-swap each on the control side).
//!
//! Columns (ns per voice-frame):
//! - `bare`: a naive planar multiply-add loop (what the compiler makes of it
//!   for baseline x86_64, SSE2), fixed gains, unit rate, no features.
//! - `avx2`: the strongest baseline the issue names: the same multiply-add
//!   written with AVX2 intrinsics (8 frames per instruction, no FMA, like the
//!   mixer), the next voices' sources prefetched, without page-walk hints,
//!   with one per voice, and with them batched as the mixer does (the
//!   fastest of the three); `-` without AVX2 (detected at run time).
//! - `avx512`: the same loop with AVX-512 (16 frames per instruction), since
//!   the mixer uses AVX-512 where the CPU has it; `-` without AVX-512F.
//! - `static`: the mixer, fixed gain and pan, unit rate.
//! - `gp`: gain and pan changed on every voice every block (each change a
//!   ramp over the next 240 frames), unit rate.
//! - `dyn`: gain, pan *and* rate (0.95..1.05) changed on every voice every
//!   block: every frame goes through the interpolating kernel, with gain and
//!   rate ramps live. The realistic game workload (Doppler, pitch jitter).
//! - `dyn256`: `dyn` with the mixer limited to AVX2 (what a CPU without
//!   AVX-512 runs: gathers for the ramping interpolation).
//! - `r1.3`: every voice at a fixed rate 1.3, separate sounds.
//! - `packed`: `static` with the sounds in one huge-page bank (`Sound::pack`).
//! - `kira`: kira with the `dyn` workload (volume, panning and playback rate
//!   set every block with a 5 ms tween); `rodio`: rodio with fixed gains and
//!   pans (it has no per-voice parameter handles), random phases. Peers run
//!   up to `MIXER_BENCH_PEERS_MAX` voices.
//! - `3d 5.1`: 3D emitters on a 5.1 output: every voice gets a new gain,
//!   azimuth (anywhere on the circle, panned over the five speakers) and
//!   Doppler rate every block; compare with `dyn` (the same on stereo).
//! - `fx bus`: `static` with every voice on a bus that has a low-pass biquad
//!   and a reverb as inserts (the bus cost is per frame, so it shows at
//!   small N); compare with `static`. These two print in a second table.
//! - Ratios: `dyn/avx2` and `dyn/512` (the cost of every feature over the
//!   bare loops), `kira/dyn`, and voices in real time for `dyn` and `static`.
//!
//! Run with `cargo bench --bench mixer` (a few minutes; about 6 GiB of
//! memory at N = 15,000). Environment: `MIXER_BENCH_SECS` (CPU time per
//! measurement, default 0.6), `MIXER_BENCH_NS` (comma-separated voice counts,
//! default `100,1000,5000,15000`), `MIXER_BENCH_PEERS_MAX` (default 5000),
//! `MIXER_BENCH_PROFILE=static|gp|dyn` (instead, run only that column, for a
//! profiler, or with `avx2` the AVX2 bare loop's three variants;
//! `MIXER_BENCH_SIMD=128|256|512` limits the mixer's vectors;
//! with `MIXER_BENCH_AHEADS=0,8,16` alternating those prefetch
//! distances and `MIXER_BENCH_REPS` repetitions), `MIXER_BENCH_STREAMS` (default 64; 0 skips the streaming run)
//! and `MIXER_BENCH_STREAM_VOICES` (default 5000),
//! `MIXER_BENCH_STREAM_VOICES_ONLY` (default 64; 0 skips the streaming
//! voices column: that many streams alone, render-thread ns per
//! stream-voice-frame).
//!
//! Last, the streaming run: 64 looping Ogg Vorbis streams (assets/music.ogg,
//! made by assets/make_music.sh), each decoded on its own loader thread,
//! played with 5,000 voices, rendered in blocks paced to real time for 5 s;
//! it reports the streams' underrun frames and the mix time.
//! Results with the CPU model: README.md.

use std::hint::black_box;
use std::num::NonZero;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pcmring::mixer::{BlockInfo, Clip, Loop, MixerBuilder, PlayParams, VoiceHandle};
use pcmring::sound::Sound;

const RATE: u32 = 48_000;
const BLOCK: usize = 256;
const SOUND_FRAMES: usize = RATE as usize;

/// Small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// N distinct 1-second sounds (a different tone plus noise each), per-voice
/// gain, pan and start phase.
struct Workload {
    sources: Vec<Arc<[f32]>>,
    /// The same sounds packed into one huge-page bank ([`Sound::pack`]).
    bank: Vec<Sound>,
    gains: Vec<f32>,
    pans: Vec<f32>,
    phases: Vec<usize>,
}

fn workload(n: usize) -> Workload {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sources: Vec<Arc<[f32]>> = (0..n)
        .map(|i| {
            // A sawtooth at a voice-specific pitch plus a little noise: cheap to make, all distinct.
            let inc = (40.0 + i as f32 * 0.37) / RATE as f32;
            let mut ph = 0.0f32;
            let v: Vec<f32> = (0..SOUND_FRAMES)
                .map(|_| {
                    ph += inc;
                    if ph >= 1.0 {
                        ph -= 1.0;
                    }
                    (ph - 0.5) * 0.5 + (rng.unit() - 0.5) * 0.05
                })
                .collect();
            Arc::from(v)
        })
        .collect();
    let gains = (0..n).map(|_| 0.1 + 0.9 * rng.unit()).collect();
    let pans = (0..n).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let phases = (0..n)
        .map(|_| (rng.next() % SOUND_FRAMES as u64) as usize)
        .collect();
    let parts = vec![(SOUND_FRAMES, 1u16); n];
    let bank = Sound::pack(&parts, RATE, |i, s: &mut [f32]| {
        s.copy_from_slice(&sources[i])
    })
    .expect("bank");
    Workload {
        sources,
        bank,
        gains,
        pans,
        phases,
    }
}

/// This thread's CPU time in ns (the machine is shared: wall time would count
/// time other processes ran on our core).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Runs `prep` (untimed: parameter changes) then `block` (timed) repeatedly
/// for about `secs` of CPU time (after a short warm-up) and returns ns of
/// thread CPU time per voice-frame (the fastest of five segments) and the
/// summed absolute output.
fn measure(
    n: usize,
    secs: f64,
    max_blocks: usize,
    prep: impl FnMut(),
    block: impl FnMut(&mut [f32]),
) -> (f64, f64) {
    measure_channels(2, n, secs, max_blocks, prep, block)
}

/// [`measure`] with `channels` interleaved output channels.
fn measure_channels(
    channels: usize,
    n: usize,
    secs: f64,
    max_blocks: usize,
    mut prep: impl FnMut(),
    mut block: impl FnMut(&mut [f32]),
) -> (f64, f64) {
    let mut out = vec![0.0f32; BLOCK * channels];
    for _ in 0..4 {
        prep();
        block(&mut out);
    }
    // The machine is shared and neighbours only ever add time: split the
    // budget into segments and keep the fastest segment's average.
    const SEGMENTS: usize = 5;
    let mut energy = 0.0f64;
    let mut best = f64::INFINITY;
    let seg_budget = (secs * 1e9 / SEGMENTS as f64) as u64;
    let seg_max = (max_blocks / SEGMENTS).max(1);
    for _ in 0..SEGMENTS {
        let mut blocks = 0usize;
        let mut mixing = 0u64;
        while (blocks < 2 || mixing < seg_budget) && blocks < seg_max {
            prep();
            let t = thread_cpu_ns();
            block(&mut out);
            mixing += thread_cpu_ns() - t;
            energy += out.iter().map(|s| s.abs() as f64).sum::<f64>();
            blocks += 1;
        }
        best = best.min(mixing as f64 / (blocks * BLOCK * n) as f64);
    }
    (best, energy)
}

/// The faster of two measurements (ns per voice-frame, output energy).
fn faster(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> Option<(f64, f64)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// What changes every block.
#[derive(Clone, Copy, PartialEq)]
enum Changes {
    /// Nothing.
    None,
    /// Gain and pan.
    GainPan,
    /// Gain, pan and rate.
    All,
}

fn pcmring_mixer(w: &Workload, rate: f32, packed: bool, changes: Changes, secs: f64) -> (f64, f64) {
    pcmring_mixer_ahead(w, rate, packed, changes, secs, None, None)
}

/// [`pcmring_mixer`] with a prefetch distance other than the default, or
/// limited to vectors of `simd_bits`.
fn pcmring_mixer_ahead(
    w: &Workload,
    rate: f32,
    packed: bool,
    changes: Changes,
    secs: f64,
    ahead: Option<usize>,
    simd_bits: Option<u32>,
) -> (f64, f64) {
    let n = w.sources.len();
    let (mixer, mut r) = MixerBuilder::new(RATE)
        .voices(n)
        .command_capacity(n)
        .clip(Clip::Off)
        .build();
    if let Some(a) = ahead {
        r.set_prefetch_ahead(a);
    }
    if let Some(bits) = simd_bits {
        r.limit_simd(bits);
    }
    let mut handles: Vec<VoiceHandle> = Vec::with_capacity(n);
    for i in 0..n {
        let s = if packed {
            w.bank[i].clone()
        } else {
            Sound::from_samples(w.sources[i].clone(), 1, RATE).expect("sound")
        };
        let p = PlayParams::new()
            .gain(w.gains[i])
            .pan(w.pans[i])
            .rate(rate)
            .offset(w.phases[i] as u64)
            .looping(Loop::Whole);
        handles.push(mixer.play(&s, p).expect("play"));
    }
    let mut t = 0u64;
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let res = measure(
        n,
        secs,
        usize::MAX,
        || {
            if changes == Changes::None {
                return;
            }
            for h in &handles {
                let _ = h.set_gain(0.1 + 0.9 * rng.unit());
                let _ = h.set_pan(rng.unit() * 2.0 - 1.0);
                if changes == Changes::All {
                    let _ = h.set_rate(0.95 + 0.1 * rng.unit());
                }
            }
        },
        |out| {
            r.render(
                out,
                &BlockInfo {
                    frame_time: t,
                    frames: BLOCK,
                    channels: 2,
                    rate: RATE,
                },
            );
            t += BLOCK as u64;
        },
    );
    assert_eq!(r.active_voices(), n);
    res
}

/// The surround and effects columns.
#[derive(Clone, Copy, PartialEq)]
enum Scene {
    /// 3D emitters on a 5.1 output: every voice gets a new gain, azimuth
    /// (anywhere on the circle) and Doppler rate (0.95..1.05) every block.
    Emitters51,
    /// Voices at fixed gain and pan on a bus with a low-pass biquad and a
    /// reverb as inserts, stereo output.
    FxBus,
}

fn pcmring_scene(w: &Workload, scene: Scene, secs: f64) -> (f64, f64) {
    use pcmring::mixer::{Biquad, FilterKind, Reverb};
    let n = w.sources.len();
    let (lp, _) = Biquad::new(FilterKind::LowPass, 3_000.0, 0.7, RATE);
    let (verb, _) = Reverb::new(RATE, 0.7, 0.4, 0.3);
    let mut b = MixerBuilder::new(RATE)
        .voices(n)
        .command_capacity(n)
        .clip(Clip::Off)
        .bus("fx");
    if scene == Scene::FxBus {
        b = b.insert("fx", lp).insert("fx", verb);
    }
    let (mixer, mut r) = b.build();
    let fx = mixer.bus("fx").expect("bus");
    let mut handles: Vec<VoiceHandle> = Vec::with_capacity(n);
    for i in 0..n {
        let s = Sound::from_samples(w.sources[i].clone(), 1, RATE).expect("sound");
        let p = PlayParams::new()
            .gain(w.gains[i])
            .pan(w.pans[i])
            .bus(fx)
            .offset(w.phases[i] as u64)
            .looping(Loop::Whole);
        handles.push(mixer.play(&s, p).expect("play"));
    }
    let channels = if scene == Scene::Emitters51 { 6 } else { 2 };
    let mut t = 0u64;
    let mut rng = Rng(0x0F1E_2D3C_4B5A_6978);
    let res = measure_channels(
        channels,
        n,
        secs,
        usize::MAX,
        || {
            if scene != Scene::Emitters51 {
                return;
            }
            for h in &handles {
                let _ = h.set_gain(0.1 + 0.9 * rng.unit());
                let _ = h.set_azimuth(rng.unit() * 360.0 - 180.0);
                let _ = h.set_rate(0.95 + 0.1 * rng.unit());
            }
        },
        |out| {
            r.render(
                out,
                &BlockInfo {
                    frame_time: t,
                    frames: BLOCK,
                    channels,
                    rate: RATE,
                },
            );
            t += BLOCK as u64;
        },
    );
    assert_eq!(r.active_voices(), n);
    res
}

/// Streaming voices alone: `streams` looping Ogg Vorbis streams (stereo),
/// ns of the render thread's CPU time per stream-voice-frame (decoding
/// runs on the loader threads and is not counted).
fn streaming_voices(streams: usize, secs: f64) -> (f64, f64) {
    use pcmring::stream::{Stream, StreamOptions};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/music.ogg");
    let (mixer, mut r) = MixerBuilder::new(RATE)
        .voices(streams)
        .clip(Clip::Off)
        .build();
    let mut open = Vec::new();
    for k in 0..streams {
        let opts = StreamOptions::new()
            .looping(Loop::Whole)
            .start((k as u64 * 1_777) % 40_000);
        let s = Stream::open(path, RATE, opts).expect("run assets/make_music.sh first");
        s.wait_ready(std::time::Duration::from_secs(20));
        mixer
            .play_stream(&s, PlayParams::new().gain(0.1).pan(0.0))
            .expect("play stream");
        open.push(s);
    }
    let mut t = 0u64;
    // Paced loosely so the loaders keep up (the sleep is not timed).
    let res = measure(
        streams,
        secs,
        usize::MAX,
        || std::thread::sleep(std::time::Duration::from_micros(500)),
        |out| {
            r.render(
                out,
                &BlockInfo {
                    frame_time: t,
                    frames: BLOCK,
                    channels: 2,
                    rate: RATE,
                },
            );
            t += BLOCK as u64;
        },
    );
    drop(open);
    res
}

/// Fixed left/right gains per voice (the mono pan law).
fn fixed_gains(w: &Workload) -> (Vec<f32>, Vec<f32>) {
    let n = w.sources.len();
    let a = |i: usize| (w.pans[i] + 1.0) * std::f32::consts::FRAC_PI_4;
    (
        (0..n).map(|i| w.gains[i] * a(i).cos()).collect(),
        (0..n).map(|i| w.gains[i] * a(i).sin()).collect(),
    )
}

/// The naive bare loop: planar multiply-add of every source at a fixed gain
/// pair from its own phase, wrap-around at the end, then interleave.
fn bare_loop(w: &Workload, secs: f64) -> (f64, f64) {
    let n = w.sources.len();
    let (gl, gr) = fixed_gains(w);
    let mut l = [0.0f32; BLOCK];
    let mut r = [0.0f32; BLOCK];
    let mut pos: Vec<usize> = w
        .phases
        .iter()
        .map(|p| p.min(&(SOUND_FRAMES - BLOCK)) & !7)
        .collect();
    measure(
        n,
        secs,
        usize::MAX,
        || {},
        |out| {
            l.fill(0.0);
            r.fill(0.0);
            for v in 0..n {
                let p = pos[v];
                let src: &[f32; BLOCK] = w.sources[v][p..p + BLOCK].try_into().expect("block");
                let (a, b) = (gl[v], gr[v]);
                for i in 0..BLOCK {
                    l[i] += src[i] * a;
                    r[i] += src[i] * b;
                }
                pos[v] = if p + 2 * BLOCK > SOUND_FRAMES {
                    0
                } else {
                    p + BLOCK
                };
            }
            for (o, (a, b)) in out.chunks_exact_mut(2).zip(l.iter().zip(&r)) {
                o[0] = *a;
                o[1] = *b;
            }
            black_box(&out);
        },
    )
}

/// The strongest bare loop: AVX2 intrinsics, sources of the voices
/// `AHEAD` places on prefetched; measured without a page-walk hint, with
/// one per voice (the first line of the voice `4 * AHEAD` places on) and
/// with them batched (every `WALK_BATCH` voices, the next `WALK_BATCH`
/// voices' first lines at once, so their page walks overlap, as the mixer
/// does); the fastest counts.
#[cfg(target_arch = "x86_64")]
mod avx2_bare {
    use super::*;
    use std::arch::x86_64::*;

    const AHEAD: usize = 8;

    /// Page-walk hints: none, one per voice, or batched.
    const NO_WALK: usize = 0;
    const WALK_EACH: usize = 1;
    const WALK_BATCH: usize = 16;

    /// Prefetches the sources of the voice `AHEAD` places on, and the
    /// first lines of voices `4 * AHEAD` on to start their page walks: with
    /// `PAGE` 1 one voice's, with `PAGE` > 1 the next `PAGE` voices' every
    /// `PAGE` voices.
    ///
    /// # Safety
    /// Every `pos[v] + BLOCK <= src[v].len()`.
    #[inline(always)]
    unsafe fn prefetch<const PAGE: usize>(src: &[Arc<[f32]>], pos: &[usize], v: usize) {
        let n = src.len();
        // SAFETY: by the contract, every address is inside `src[v + AHEAD]`
        // or a `src[v + 4 * AHEAD + k]`.
        unsafe {
            if v + AHEAD < n {
                let s = src[v + AHEAD].as_ptr().add(pos[v + AHEAD]);
                let mut k = 0;
                while k < BLOCK {
                    _mm_prefetch(s.add(k) as *const i8, _MM_HINT_T0);
                    k += 16;
                }
            }
            if PAGE > 0 && v.is_multiple_of(PAGE) {
                for w in (v + 4 * AHEAD..n).take(PAGE) {
                    _mm_prefetch(src[w].as_ptr().add(pos[w]) as *const i8, _MM_HINT_T2);
                }
            }
        }
    }

    /// Defines `$name`, the bare loop with the vector intrinsics of one
    /// instruction set (`$lanes` frames per instruction): every voice's
    /// block multiplied by its two gains and added to `l` and `r`, the
    /// sources ahead prefetched.
    macro_rules! bare_block {
        ($name:ident, $feature:literal, $lanes:literal, $set1:ident, $load:ident,
         $store:ident, $add:ident, $mul:ident) => {
            /// # Safety
            #[doc = concat!("The CPU must support ", $feature, "; every `pos[v] + BLOCK <= src[v].len()`.")]
            #[target_feature(enable = $feature)]
            unsafe fn $name<const PAGE: usize>(
                src: &[Arc<[f32]>],
                pos: &[usize],
                gl: &[f32],
                gr: &[f32],
                l: &mut [f32; BLOCK],
                r: &mut [f32; BLOCK],
            ) {
                // SAFETY: the caller's contract: the extension is available
                // and every source has BLOCK frames from its position, so
                // each load, store and prefetch address is inside `src[v]`,
                // `l` or `r`.
                unsafe {
                    for v in 0..src.len() {
                        prefetch::<PAGE>(src, pos, v);
                        let s = src[v].as_ptr().add(pos[v]);
                        let a = $set1(gl[v]);
                        let b = $set1(gr[v]);
                        let mut i = 0;
                        while i < BLOCK {
                            let x = $load(s.add(i));
                            let lp = l.as_mut_ptr().add(i);
                            let rp = r.as_mut_ptr().add(i);
                            $store(lp, $add($load(lp), $mul(x, a)));
                            $store(rp, $add($load(rp), $mul(x, b)));
                            i += $lanes;
                        }
                    }
                }
            }
        };
    }

    bare_block!(
        block,
        "avx2",
        8,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_add_ps,
        _mm256_mul_ps
    );
    bare_block!(
        block512,
        "avx512f",
        16,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_add_ps,
        _mm512_mul_ps
    );

    /// The fastest of the AVX2 (or with `wide`, AVX-512) loop without,
    /// with and with batched page-walk hints; `None` if the CPU lacks the
    /// extension.
    pub fn run(w: &Workload, secs: f64, wide: bool) -> Option<(f64, f64)> {
        let a = run_variant::<NO_WALK>(w, secs, wide)?;
        let b = run_variant::<WALK_EACH>(w, secs, wide)?;
        let c = run_variant::<WALK_BATCH>(w, secs, wide)?;
        Some(
            [a, b, c]
                .into_iter()
                .fold(a, |x, y| if y.0 < x.0 { y } else { x }),
        )
    }

    /// The AVX2 loop's three variants (no, per-voice and batched page-walk
    /// hints), for `MIXER_BENCH_PROFILE=avx2`.
    pub fn variants(w: &Workload, secs: f64) -> Option<[f64; 3]> {
        Some([
            run_variant::<NO_WALK>(w, secs, false)?.0,
            run_variant::<WALK_EACH>(w, secs, false)?.0,
            run_variant::<WALK_BATCH>(w, secs, false)?.0,
        ])
    }

    fn run_variant<const PAGE: usize>(w: &Workload, secs: f64, wide: bool) -> Option<(f64, f64)> {
        let has = if wide {
            std::is_x86_feature_detected!("avx512f")
        } else {
            std::is_x86_feature_detected!("avx2")
        };
        if !has {
            return None;
        }
        let n = w.sources.len();
        let (gl, gr) = fixed_gains(w);
        let mut l = [0.0f32; BLOCK];
        let mut r = [0.0f32; BLOCK];
        let mut pos: Vec<usize> = w
            .phases
            .iter()
            .map(|p| (*p).min(SOUND_FRAMES - BLOCK))
            .collect();
        Some(measure(
            n,
            secs,
            usize::MAX,
            || {},
            |out| {
                l.fill(0.0);
                r.fill(0.0);
                // SAFETY: the extension was detected above; every position
                // leaves a whole block inside its 1-second source.
                unsafe {
                    if wide {
                        block512::<PAGE>(&w.sources, &pos, &gl, &gr, &mut l, &mut r)
                    } else {
                        block::<PAGE>(&w.sources, &pos, &gl, &gr, &mut l, &mut r)
                    }
                };
                for p in pos.iter_mut() {
                    *p = if *p + 2 * BLOCK > SOUND_FRAMES {
                        0
                    } else {
                        *p + BLOCK
                    };
                }
                for (o, (a, b)) in out.chunks_exact_mut(2).zip(l.iter().zip(&r)) {
                    o[0] = *a;
                    o[1] = *b;
                }
                black_box(&out);
            },
        ))
    }
}

mod kira_run {
    use super::*;
    use kira::backend::{Backend, Renderer};
    use kira::sound::static_sound::{StaticSoundData, StaticSoundHandle, StaticSoundSettings};
    use kira::track::MainTrackBuilder;
    use kira::{
        AudioManager, AudioManagerSettings, Capacities, Decibels, Frame, Panning, PlaybackRate,
        Tween,
    };

    type Slot = Arc<Mutex<Option<Renderer>>>;

    /// A backend that hands kira's renderer to the benchmark instead of a device.
    pub struct CaptureInto(Slot);

    impl Backend for CaptureInto {
        type Settings = Slot;
        type Error = ();
        fn setup(slot: Slot, _buffer: usize) -> Result<(Self, u32), ()> {
            Ok((CaptureInto(slot), RATE))
        }
        fn start(&mut self, r: Renderer) -> Result<(), ()> {
            *self.0.lock().map_err(|_| ())? = Some(r);
            Ok(())
        }
    }

    /// kira with gain, pan and rate changed on every voice every block.
    pub fn run(w: &Workload, secs: f64) -> (f64, f64) {
        let n = w.sources.len();
        let slot: Slot = Arc::new(Mutex::new(None));
        let settings = AudioManagerSettings::<CaptureInto> {
            capacities: Capacities::default(),
            main_track_builder: MainTrackBuilder::new().sound_capacity(n),
            internal_buffer_size: BLOCK,
            backend_settings: slot.clone(),
        };
        let mut manager = AudioManager::<CaptureInto>::new(settings).expect("kira manager");
        let mut renderer = slot.lock().expect("lock").take().expect("kira renderer");
        let mut handles: Vec<StaticSoundHandle> = Vec::with_capacity(n);
        for i in 0..n {
            let frames: Arc<[Frame]> = w.sources[i].iter().map(|s| Frame::from_mono(*s)).collect();
            let data = StaticSoundData {
                sample_rate: RATE,
                frames,
                settings: StaticSoundSettings::new()
                    .loop_region(..)
                    .start_position(w.phases[i] as f64 / RATE as f64)
                    .volume(Decibels(20.0 * w.gains[i].log10()))
                    .panning(Panning(w.pans[i])),
                slice: None,
            };
            handles.push(manager.play(data).expect("kira play"));
            if i % 64 == 63 {
                renderer.on_start_processing(); // let kira take the queued sounds in
            }
        }
        renderer.on_start_processing();
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let tween = Tween {
            duration: std::time::Duration::from_millis(5),
            ..Default::default()
        };
        let res = measure(
            n,
            secs,
            400,
            || {
                for h in handles.iter_mut() {
                    h.set_volume(Decibels(20.0 * (0.1 + 0.9 * rng.unit()).log10()), tween);
                    h.set_panning(Panning(rng.unit() * 2.0 - 1.0), tween);
                    h.set_playback_rate(PlaybackRate(0.95 + 0.1 * rng.unit() as f64), tween);
                }
            },
            |out| {
                renderer.on_start_processing();
                renderer.process(out, 2);
            },
        );
        drop(manager);
        res
    }
}

mod rodio_run {
    use super::*;
    use rodio::buffer::SamplesBuffer;
    use rodio::source::{ChannelVolume, Source};

    pub fn run(w: &Workload, secs: f64) -> (f64, f64) {
        let n = w.sources.len();
        let two = NonZero::new(2u16).expect("2");
        let one = NonZero::new(1u16).expect("1");
        let rate = NonZero::new(RATE).expect("rate");
        let (ctl, mut src) = rodio::mixer::mixer(two, rate);
        let (gl, gr) = fixed_gains(w);
        for i in 0..n {
            // The source rotated to its phase: looping it starts there.
            let mut v = w.sources[i].to_vec();
            v.rotate_left(w.phases[i]);
            let buf = SamplesBuffer::new(one, rate, v);
            ctl.add(ChannelVolume::new(
                buf.repeat_infinite(),
                vec![gl[i], gr[i]],
            ));
        }
        measure(
            n,
            secs,
            400,
            || {},
            |out| {
                for o in out.iter_mut() {
                    *o = src.next().unwrap_or(0.0);
                }
            },
        )
    }
}

/// Streaming under load: `streams` looping compressed streams (the game's
/// Ogg Vorbis track, each on its own loader thread) plus `voices` voices,
/// rendered in 256-frame blocks paced to real time for `secs` seconds.
/// Returns (stream underrun frames in all, mix time p99 in us, blocks late).
fn streaming_under_load(streams: usize, voices: usize, secs: f64) -> (u64, f64, u64) {
    use pcmring::stream::{Stream, StreamOptions};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/music.ogg");
    let w = workload(voices);
    let (mixer, mut r) = MixerBuilder::new(RATE)
        .voices(voices + streams)
        .command_capacity(voices + streams)
        .clip(Clip::Off)
        .build();
    for i in 0..voices {
        let s = Sound::from_samples(w.sources[i].clone(), 1, RATE).expect("sound");
        let p = PlayParams::new()
            .gain(w.gains[i] * 0.01)
            .pan(w.pans[i])
            .offset(w.phases[i] as u64)
            .looping(Loop::Whole);
        mixer.play(&s, p).expect("play");
    }
    let mut open = Vec::new();
    for k in 0..streams {
        let opts = StreamOptions::new()
            .looping(Loop::Whole)
            .start((k as u64 * 1_777) % 40_000);
        let s = Stream::open(path, RATE, opts).expect("run assets/make_music.sh first");
        open.push(s);
    }
    for s in &open {
        s.wait_ready(std::time::Duration::from_secs(20));
        mixer
            .play_stream(s, PlayParams::new().gain(0.01))
            .expect("play stream");
    }
    let block_dur = std::time::Duration::from_secs_f64(BLOCK as f64 / RATE as f64);
    let mut out = vec![0.0f32; 2 * BLOCK];
    let start = Instant::now();
    let blocks = (secs * RATE as f64 / BLOCK as f64) as u64;
    let mut late = 0;
    for b in 0..blocks {
        let due = start + block_dur * b as u32;
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
        } else if now > due + block_dur {
            late += 1;
        }
        r.render(
            &mut out,
            &BlockInfo {
                frame_time: b * BLOCK as u64,
                frames: BLOCK,
                channels: 2,
                rate: RATE,
            },
        );
    }
    let underrun = open.iter().map(|s| s.underrun_frames()).sum();
    let p99 = mixer.stats().mix_time.percentile(99.0) as f64 / 1e3;
    (underrun, p99, late)
}

/// `MIXER_BENCH_SIMD`: the widest vectors the mixer may use in the
/// profiling mode (128, 256 or 512).
fn simd_limit() -> Option<u32> {
    std::env::var("MIXER_BENCH_SIMD").ok()?.parse().ok()
}

fn env_f64(name: &str, d: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn rt_voices(ns_per_vf: f64) -> f64 {
    1e9 / (ns_per_vf * RATE as f64)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let secs = env_f64("MIXER_BENCH_SECS", 0.6);
    let peers_max = env_f64("MIXER_BENCH_PEERS_MAX", 5000.0) as usize;
    let ns: Vec<usize> = std::env::var("MIXER_BENCH_NS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000, 5000, 15000]);
    println!("cpu: {}", cpu_model());
    println!(
        "{:>6} | {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>8} {:>8} {:>8} | {:>6} {:>6}",
        "N", "bare", "avx2", "avx512", "static", "gp", "dyn", "dyn256", "r1.3", "packed", "kira",
        "rodio", "dyn/avx2", "dyn/512", "kira/dyn", "rt dyn", "rt st"
    );
    let started = Instant::now();
    let mut scenes = Vec::new();
    if let Ok(which) = std::env::var("MIXER_BENCH_PROFILE") {
        // Profiling aid: one pcmring column (`static`, `gp` or `dyn`) for a
        // while, or the AVX2 bare loop's variants (`avx2`).
        let changes = match which.as_str() {
            "gp" => Changes::GainPan,
            "dyn" => Changes::All,
            _ => Changes::None,
        };
        // Optionally alternate prefetch distances (`MIXER_BENCH_AHEADS`,
        // comma-separated) and repeat (`MIXER_BENCH_REPS`), side by side.
        let aheads: Vec<Option<usize>> = std::env::var("MIXER_BENCH_AHEADS")
            .ok()
            .map(|v| v.split(',').map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![None]);
        let reps = env_f64("MIXER_BENCH_REPS", 1.0) as usize;
        for &n in &ns {
            let w = workload(n);
            #[cfg(target_arch = "x86_64")]
            if which == "avx2" {
                for _ in 0..reps {
                    if let Some([a, b, c]) = avx2_bare::variants(&w, secs) {
                        println!("avx2 N {n}: no hint {a:.3}, per voice {b:.3}, batched {c:.3} ns per voice-frame");
                    }
                }
                continue;
            }
            for _ in 0..reps {
                for &a in &aheads {
                    let (t, _) =
                        pcmring_mixer_ahead(&w, 1.0, false, changes, secs, a, simd_limit());
                    println!("{which} N {n} ahead {a:?}: {t:.3} ns per voice-frame");
                }
            }
        }
        return;
    }
    for &n in &ns {
        let w = workload(n);
        let (bare, e0) = bare_loop(&w, secs);
        #[cfg(target_arch = "x86_64")]
        let (avx2, avx512) = (
            avx2_bare::run(&w, secs, false),
            avx2_bare::run(&w, secs, true),
        );
        #[cfg(not(target_arch = "x86_64"))]
        let (avx2, avx512): (Option<(f64, f64)>, Option<(f64, f64)>) = (None, None);
        let (st, e1) = pcmring_mixer(&w, 1.0, false, Changes::None, secs);
        let (gp, e2) = pcmring_mixer(&w, 1.0, false, Changes::GainPan, secs);
        let (dy, e3) = pcmring_mixer(&w, 1.0, false, Changes::All, secs);
        let (dy256, e8) = pcmring_mixer_ahead(&w, 1.0, false, Changes::All, secs, None, Some(256));
        let (r13, e4) = pcmring_mixer(&w, 1.3, false, Changes::None, secs);
        let (packed, e5) = pcmring_mixer(&w, 1.0, true, Changes::None, secs);
        let (e3d, e6) = pcmring_scene(&w, Scene::Emitters51, secs);
        let (fxbus, e7) = pcmring_scene(&w, Scene::FxBus, secs);
        // The target ratio's two sides again at the end of the row, the
        // faster of each counting: a neighbour's burst on this shared
        // machine then has to hit both measurements of one side to move it.
        #[cfg(target_arch = "x86_64")]
        let (avx2, avx512) = (
            faster(avx2, avx2_bare::run(&w, secs, false)),
            faster(avx512, avx2_bare::run(&w, secs, true)),
        );
        let (dy, e3) = faster(
            Some((dy, e3)),
            Some(pcmring_mixer(&w, 1.0, false, Changes::All, secs)),
        )
        .unwrap_or((dy, e3));
        for (name, e) in [
            ("bare", e0),
            ("avx2", avx2.map_or(2.0, |a| a.1)),
            ("avx512", avx512.map_or(2.0, |a| a.1)),
            ("static", e1),
            ("gp", e2),
            ("dyn", e3),
            ("dyn avx2", e8),
            ("r1.3", e4),
            ("packed", e5),
            ("3d 5.1", e6),
            ("fx bus", e7),
        ] {
            assert!(e > 1.0, "{name} output is silent");
        }
        let (kira, rodio) = if n <= peers_max {
            let (k, ek) = kira_run::run(&w, secs);
            assert!(ek > 1.0, "kira output is silent");
            let (r, er) = rodio_run::run(&w, secs);
            assert!(er > 1.0, "rodio output is silent");
            (Some(k), Some(r))
        } else {
            (None, None)
        };
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        let ratio =
            |x: Option<f64>, d: f64| x.map_or("-".to_string(), |v| format!("{:.2}x", v / d));
        let inv = |x: Option<f64>, d: f64| x.map_or("-".to_string(), |v| format!("{:.2}x", d / v));
        println!(
            "{:>6} | {:>6.3} {:>6} {:>6} | {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} | {:>6} {:>6} | {:>8} {:>8} {:>8} | {:>6.0} {:>6.0}",
            n,
            bare,
            f(avx2.map(|a| a.0)),
            f(avx512.map(|a| a.0)),
            st,
            gp,
            dy,
            dy256,
            r13,
            packed,
            kira.map_or("-".into(), |v| format!("{v:.2}")),
            rodio.map_or("-".into(), |v| format!("{v:.2}")),
            inv(avx2.map(|a| a.0), dy),
            inv(avx512.map(|a| a.0), dy),
            ratio(kira, dy),
            rt_voices(dy),
            rt_voices(st)
        );
        scenes.push((n, dy, e3d, fxbus, st));
        drop(w);
    }
    println!(
        "{:>6} | {:>6} {:>7} {:>6} | {:>9} {:>8}",
        "N", "dyn", "3d 5.1", "fx bus", "3d / dyn", "fx / st"
    );
    for (n, dy, e3d, fxbus, st) in scenes {
        println!(
            "{:>6} | {:>6.3} {:>7.3} {:>6.3} | {:>8.2}x {:>7.2}x",
            n,
            dy,
            e3d,
            fxbus,
            e3d / dy,
            fxbus / st
        );
    }
    let stream_voices = env_f64("MIXER_BENCH_STREAM_VOICES_ONLY", 64.0) as usize;
    if stream_voices > 0 {
        let (ns, e) = streaming_voices(stream_voices, secs);
        assert!(e > 1.0, "streaming output is silent");
        println!(
            "streaming voices: {stream_voices} Ogg Vorbis streams alone: {ns:.3} ns per \
             stream-voice-frame on the render thread"
        );
    }
    let streams = env_f64("MIXER_BENCH_STREAMS", 64.0) as usize;
    if streams > 0 {
        let voices = env_f64("MIXER_BENCH_STREAM_VOICES", 5000.0) as usize;
        let (underrun, p99, late) = streaming_under_load(streams, voices, 5.0);
        println!(
            "streaming: {streams} Ogg Vorbis streams + {voices} voices, 5 s paced to real time: \
             {underrun} stream underrun frames, mix p99 {p99:.0} us per {BLOCK}-frame block \
             ({:.0} us of audio), {late} blocks late",
            BLOCK as f64 * 1e6 / RATE as f64
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
