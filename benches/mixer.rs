//! Mixer throughput: pcmring's mixer against a bare multiply-add loop, kira
//! 0.12 and rodio 0.23 on identical work, in one run.
//!
//! Workload (issue 5): N voices, each a distinct 1-second mono 48 kHz sound,
//! looping, each with its own gain and pan, mixed to interleaved stereo f32
//! in 256-frame blocks on one core. Reported: nanoseconds of thread CPU time
//! per voice-frame (block time / (256 * N); the fastest of five segments,
//! since neighbours on a shared machine only ever add time), and how many
//! voices one core mixes in real time at that cost. Every engine's output is
//! checked to be non-silent.
//!
//! Columns: `bare` a planar multiply-add loop over the same sources with no
//! features; `pcmring` the mixer (ramps, pan, scheduling, looping all live)
//! with one allocation per sound; `packed` the same sounds in one huge-page
//! bank (`Sound::pack`); `portable` the SSE2 copy of the loops; `rate1.3`
//! every voice at playback rate 1.3 (linear interpolation, packed); `kira`
//! and `rodio` the peers (up to `MIXER_BENCH_PEERS_MAX` voices: beyond that
//! they take tens of seconds per measured second and gigabytes more memory).
//!
//! Run with `cargo bench --bench mixer` (about a minute and a half; needs
//! about 8 GiB of memory for N = 20,000). Environment: `MIXER_BENCH_SECS`
//! (CPU time per measurement, default 0.6), `MIXER_BENCH_NS`
//! (comma-separated voice counts, default `100,1000,5000,20000`),
//! `MIXER_BENCH_PEERS_MAX` (default 5000), `MIXER_BENCH_PREFETCH_SWEEP=1`
//! (instead, time the mixer against its prefetch distance).
//!
//! One run on the 2-core Xeon VM (AVX2, shared with other jobs), ns per
//! voice-frame:
//!
//! ```text
//!      N |  bare pcmring packed portable rate1.3 |  kira rodio | pc/bare kira/pc | rt voices (packed)
//!    100 | 0.309  0.275  0.310    0.381   0.762 | 18.12 26.88 |   0.89x   65.9x |  75807  (67172)
//!   1000 | 0.882  0.535  0.384    0.567   0.898 | 19.69 28.92 |   0.61x   36.8x |  38953  (54189)
//!   5000 | 0.913  0.666  0.445    0.758   0.942 | 19.96 67.17 |   0.73x   30.0x |  31280  (46767)
//!  20000 | 1.633  0.664  0.457    0.788   0.985 |     -     - |   0.41x       - |  31384  (45628)
//! ```

use std::hint::black_box;
use std::num::NonZero;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pcmring::mixer::{BlockInfo, Clip, Loop, MixerBuilder, PlayParams};
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

/// N distinct 1-second sounds (a different tone plus noise each) and per-voice gain/pan.
struct Workload {
    sources: Vec<Arc<[f32]>>,
    /// The same sounds packed into one huge-page bank ([`Sound::pack`]).
    bank: Vec<Sound>,
    gains: Vec<f32>,
    pans: Vec<f32>,
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

/// Runs `block` repeatedly for about `secs` of CPU time (after a short
/// warm-up) and returns ns of thread CPU time per voice-frame (the fastest of
/// five segments) and the summed absolute output.
fn measure(
    n: usize,
    secs: f64,
    max_blocks: usize,
    mut block: impl FnMut(&mut [f32]),
) -> (f64, f64) {
    let mut out = vec![0.0f32; BLOCK * 2];
    for _ in 0..4 {
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
        let start = thread_cpu_ns();
        let mut blocks = 0usize;
        let mut mixing = 0u64;
        while (blocks < 2 || thread_cpu_ns() - start < seg_budget) && blocks < seg_max {
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

fn pcmring_mixer(w: &Workload, rate: f32, portable: bool, packed: bool, secs: f64) -> (f64, f64) {
    pcmring_mixer_with(w, rate, portable, packed, secs, None)
}

fn pcmring_mixer_with(
    w: &Workload,
    rate: f32,
    portable: bool,
    packed: bool,
    secs: f64,
    prefetch: Option<usize>,
) -> (f64, f64) {
    let n = w.sources.len();
    let (mixer, mut r) = MixerBuilder::new(RATE)
        .voices(n)
        .command_capacity(n)
        .clip(Clip::Off)
        .build();
    r.force_portable(portable);
    if let Some(a) = prefetch {
        r.set_prefetch_ahead(a);
    }
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
            .looping(Loop::Whole);
        mixer.play(&s, p).expect("play");
    }
    let mut t = 0u64;
    let res = measure(n, secs, usize::MAX, |out| {
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
    });
    assert_eq!(r.active_voices(), n);
    res
}

/// The bare loop: planar multiply-add of every source at a fixed gain pair,
/// wrap-around at the end, then interleave. No ramps, no scheduling, no events.
fn bare_loop(w: &Workload, secs: f64) -> (f64, f64) {
    let n = w.sources.len();
    let gl: Vec<f32> = (0..n)
        .map(|i| w.gains[i] * ((w.pans[i] + 1.0) * std::f32::consts::FRAC_PI_4).cos())
        .collect();
    let gr: Vec<f32> = (0..n)
        .map(|i| w.gains[i] * ((w.pans[i] + 1.0) * std::f32::consts::FRAC_PI_4).sin())
        .collect();
    let mut l = [0.0f32; BLOCK];
    let mut r = [0.0f32; BLOCK];
    let mut pos = 0usize;
    measure(n, secs, usize::MAX, |out| {
        l.fill(0.0);
        r.fill(0.0);
        for v in 0..n {
            let src: &[f32; BLOCK] = w.sources[v][pos..pos + BLOCK].try_into().expect("block");
            let (a, b) = (gl[v], gr[v]);
            for i in 0..BLOCK {
                l[i] += src[i] * a;
                r[i] += src[i] * b;
            }
        }
        for (o, (a, b)) in out.chunks_exact_mut(2).zip(l.iter().zip(&r)) {
            o[0] = *a;
            o[1] = *b;
        }
        pos += BLOCK;
        if pos + BLOCK > SOUND_FRAMES {
            pos = 0;
        }
        black_box(&out);
    })
}

mod kira_run {
    use super::*;
    use kira::backend::{Backend, Renderer};
    use kira::sound::static_sound::{StaticSoundData, StaticSoundSettings};
    use kira::track::MainTrackBuilder;
    use kira::{AudioManager, AudioManagerSettings, Capacities, Decibels, Frame, Panning};

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

    pub fn run(w: &Workload, rate: f64, secs: f64) -> (f64, f64) {
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
        for i in 0..n {
            let frames: Arc<[Frame]> = w.sources[i].iter().map(|s| Frame::from_mono(*s)).collect();
            let data = StaticSoundData {
                sample_rate: RATE,
                frames,
                settings: StaticSoundSettings::new()
                    .loop_region(..)
                    .volume(Decibels(20.0 * w.gains[i].log10()))
                    .panning(Panning(w.pans[i]))
                    .playback_rate(rate),
                slice: None,
            };
            manager.play(data).expect("kira play");
            if i % 64 == 63 {
                renderer.on_start_processing(); // let kira take the queued sounds in
            }
        }
        renderer.on_start_processing();
        let res = measure(n, secs, 400, |out| {
            renderer.on_start_processing();
            renderer.process(out, 2);
        });
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
        for i in 0..n {
            let buf = SamplesBuffer::new(one, rate, w.sources[i].to_vec());
            let a = (w.pans[i] + 1.0) * std::f32::consts::FRAC_PI_4;
            let vol = vec![w.gains[i] * a.cos(), w.gains[i] * a.sin()];
            ctl.add(ChannelVolume::new(buf.repeat_infinite(), vol));
        }
        measure(n, secs, 400, |out| {
            for o in out.iter_mut() {
                *o = src.next().unwrap_or(0.0);
            }
        })
    }
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

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let secs = env_f64("MIXER_BENCH_SECS", 0.6);
    let peers_max = env_f64("MIXER_BENCH_PEERS_MAX", 5000.0) as usize;
    let ns: Vec<usize> = std::env::var("MIXER_BENCH_NS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000, 5000, 20000]);
    #[cfg(target_arch = "x86_64")]
    println!("cpu: avx2 {}", std::is_x86_feature_detected!("avx2"));
    println!(
        "{:>6} | {:>7} {:>7} {:>7} {:>8} {:>7} | {:>7} {:>7} | {:>7} {:>7} {:>8} | {:>7} {:>7}",
        "N",
        "bare",
        "pcmring",
        "packed",
        "portable",
        "rate1.3",
        "kira",
        "rodio",
        "pc/bare",
        "kira/pc",
        "rodio/pc",
        "rt",
        "rt pack"
    );
    println!(
        "{:>6} | {:>41} | {:>15} | {:>25} | {:>15}",
        "", "ns per voice-frame (thread CPU time)", "ns/voice-frame", "ratios", "voices in rt"
    );
    let started = Instant::now();
    if std::env::var("MIXER_BENCH_PREFETCH_SWEEP").is_ok() {
        // Tuning aid: ns per voice-frame against prefetch distance.
        for &n in &ns {
            let w = workload(n);
            for a in [0usize, 1, 2, 4, 8, 16, 32] {
                let (sep, _) = pcmring_mixer_with(&w, 1.0, false, false, secs, Some(a));
                let (pack, _) = pcmring_mixer_with(&w, 1.0, false, true, secs, Some(a));
                println!("N {n:>6} prefetch {a:>2}: separate {sep:.3} packed {pack:.3}");
            }
        }
        return;
    }
    for &n in &ns {
        let w = workload(n);
        let (bare, e0) = bare_loop(&w, secs);
        let (pc, e1) = pcmring_mixer(&w, 1.0, false, false, secs);
        let (packed, e4) = pcmring_mixer(&w, 1.0, false, true, secs);
        let (port, e2) = pcmring_mixer(&w, 1.0, true, false, secs);
        let (rate, e3) = pcmring_mixer(&w, 1.3, false, true, secs);
        for (name, e) in [
            ("bare", e0),
            ("pcmring", e1),
            ("portable", e2),
            ("rate", e3),
            ("packed", e4),
        ] {
            assert!(e > 1.0, "{name} output is silent");
        }
        let (kira, rodio) = if n <= peers_max {
            let (k, ek) = kira_run::run(&w, 1.0, secs);
            assert!(ek > 1.0, "kira output is silent");
            let (r, er) = rodio_run::run(&w, secs);
            assert!(er > 1.0, "rodio output is silent");
            (Some(k), Some(r))
        } else {
            (None, None)
        };
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
        let ratio = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}x", v / pc));
        println!(
            "{:>6} | {:>7.3} {:>7.3} {:>7.3} {:>8.3} {:>7.3} | {:>7} {:>7} | {:>6.2}x {:>7} {:>8} | {:>7.0} {:>7.0}",
            n,
            bare,
            pc,
            packed,
            port,
            rate,
            f(kira),
            f(rodio),
            pc / bare,
            ratio(kira),
            ratio(rodio),
            rt_voices(pc),
            rt_voices(packed)
        );
        drop(w);
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
