//! Game-style voices: hundreds of short sounds fired from several threads
//! at random, plus a drum-and-bass loop scheduled sample-accurately on the
//! engine's frame clock, on two buses ("music", "effects") with gains; a
//! streamed Ogg Vorbis music track (`assets/music.ogg`, made by
//! `assets/make_music.sh`) looping on the music bus, faded in by a dB
//! tween; a 3D emitter circling the listener (distance, pan, Doppler glided
//! by rate tweens); and a reverb on a send bus fed by both.
//!
//! ```text
//! cargo run --release --example game                 # 10 s, best device
//! cargo run --release --example game -- --seconds 5 --threads 4 --rate 300
//! cargo run --release --example game -- --help
//! ```
//!
//! All sounds are synthesized at start (no files). Gameplay threads call
//! `Mixer::play` (lock-free, never blocks) whenever they like; the music
//! thread looks 100 ms ahead on the engine clock and schedules each
//! sixteenth note with `PlayParams::at(frame)`, so the beat is exact to
//! the sample whatever the threads' timing. The status line shows the
//! live voice count and the mix load (render time / block time).

use clap::Parser;
use pcmring::engine::{EngineClock, EngineConfig};
use pcmring::mixer::{
    Attenuation, BusId, Emitter, Listener, Loop, Mixer, MixerBuilder, MixerError, PlayParams,
    Reverb, Tween,
};
use pcmring::sound::Sound;
use pcmring::stream::{Stream, StreamOptions};
use pcmring::Device;
use pcmring_examples::rng::Rng;
use pcmring_examples::session::{self, OutputArgs};
use pcmring_examples::signal::{self, Ending};
use pcmring_examples::status::StatusLine;
use std::f32::consts::TAU;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Game-style voices: many short sounds from several threads, a
/// sample-accurate beat, buses with gains.
#[derive(Debug, Parser)]
#[command(
    name = "game",
    about = "Hundreds of short sounds from several threads plus a sample-accurate beat, \
             on two buses, through pcmring"
)]
struct Args {
    #[command(flatten)]
    output: OutputArgs,

    /// How long to run, in seconds.
    #[arg(long, short = 's', default_value_t = 10.0, value_parser = session::parse_seconds)]
    seconds: f64,

    /// Gameplay threads firing sound effects.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,

    /// Sound effects per second per thread (on average, at random times).
    #[arg(long, default_value_t = 200.0, value_parser = positive)]
    rate: f64,

    /// Tempo of the music, beats per minute.
    #[arg(long, default_value_t = 124.0, value_parser = positive)]
    bpm: f64,

    /// Voice pool size.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(16..=65536))]
    voices: u32,

    /// Frames per render block.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(8..=8192))]
    block: u32,

    /// Music streamed from this file (WAV, FLAC, Ogg Vorbis or MP3), looping.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/music.ogg"))]
    music: std::path::PathBuf,

    /// No live status line.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 100_000.0 => Ok(v),
        _ => Err("a positive number".into()),
    }
}

/// The synthesized sound bank.
struct Bank {
    kick: Sound,
    snare: Sound,
    hat: Sound,
    bass: Sound,
    effects: Vec<Sound>,
    /// A 1-second loop for the 3D emitter.
    drone: Sound,
}

fn sound(samples: Vec<f32>, rate: u32) -> Result<Sound, String> {
    Sound::from_samples(samples, 1, rate).map_err(|e| format!("making a sound: {e}"))
}

/// `secs` of mono samples from `f(t, noise)`.
fn synth(rate: u32, secs: f32, rng: &mut Rng, mut f: impl FnMut(f32, f32) -> f32) -> Vec<f32> {
    let n = (secs * rate as f32) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let noise = rng.range(-1.0, 1.0);
            // 2 ms fade in and out: no clicks.
            let edge = (t / 0.002).min((secs - t) / 0.002).clamp(0.0, 1.0);
            f(t, noise) * edge
        })
        .collect()
}

fn make_bank(rate: u32) -> Result<Bank, String> {
    let mut rng = Rng::new(42);
    let r = &mut rng;
    let kick = synth(rate, 0.35, r, |t, _| {
        // A sine falling from 155 to 45 Hz (the phase integrates the
        // frequency 45 + 110 e^(-t/0.04)).
        let phase = TAU * (45.0 * t + 110.0 * 0.04 * (1.0 - (-t / 0.04).exp()));
        phase.sin() * (-t / 0.12).exp()
    });
    let snare = synth(rate, 0.22, r, |t, n| {
        (0.6 * n + 0.4 * (TAU * 185.0 * t).sin()) * (-t / 0.05).exp()
    });
    let mut last = 0.0;
    let hat = synth(rate, 0.06, r, |t, n| {
        let hp = n - last; // crude high-pass
        last = n;
        0.5 * hp * (-t / 0.015).exp()
    });
    let bass = synth(rate, 0.3, r, |t, _| {
        let saw = 2.0 * (55.0 * t).fract() - 1.0;
        let sub = (TAU * 55.0 * t).sin();
        (0.5 * saw + 0.6 * sub) * (-t / 0.15).exp()
    });
    let mut effects = Vec::new();
    // Blip: a square at 880 Hz.
    effects.push(synth(rate, 0.08, r, |t, _| {
        0.5 * (TAU * 880.0 * t).sin().signum() * (-t / 0.03).exp()
    }));
    // Coin: two tones.
    effects.push(synth(rate, 0.3, r, |t, _| {
        let f = if t < 0.07 { 988.0 } else { 1319.0 };
        0.6 * (TAU * f * t).sin() * (-t / 0.12).exp()
    }));
    // Zap: a falling sweep.
    effects.push(synth(rate, 0.35, r, |t, _| {
        let phase = TAU * (1500.0 * t - 1800.0 * t * t);
        0.5 * phase.sin() * (-t / 0.15).exp()
    }));
    // Rumble: low-passed noise, the longest.
    let mut lp = 0.0;
    effects.push(synth(rate, 0.9, r, |t, n| {
        lp += 0.03 * (n - lp);
        4.0 * lp * (-t / 0.3).exp()
    }));
    // Drop: a decaying sine with a bit of bend.
    effects.push(synth(rate, 0.6, r, |t, _| {
        (TAU * (660.0 * t - 200.0 * t * t)).sin() * (-t / 0.2).exp()
    }));
    // Step: a short noise burst.
    effects.push(synth(rate, 0.04, r, |t, n| n * (-t / 0.01).exp()));
    // Two detuned saws a fifth apart, a whole number of cycles per second (loops cleanly).
    let drone: Vec<f32> = (0..rate)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let saw = |f: f32| 2.0 * (f * t).fract() - 1.0;
            0.15 * (saw(110.0) + saw(165.0) + 0.5 * saw(221.0))
        })
        .collect();
    Ok(Bank {
        drone: sound(drone, rate)?,
        kick: sound(kick, rate)?,
        snare: sound(snare, rate)?,
        hat: sound(hat, rate)?,
        bass: sound(bass, rate)?,
        effects: effects
            .into_iter()
            .map(|s| sound(s, rate))
            .collect::<Result<_, _>>()?,
    })
}

/// Counters the trigger threads keep.
#[derive(Default)]
struct Counts {
    fired: AtomicU64,
    refused: AtomicU64,
    scheduled: AtomicU64,
}

fn count_play(c: &Counts, r: Result<pcmring::mixer::VoiceHandle, MixerError>) {
    match r {
        Ok(_) => c.fired.fetch_add(1, Ordering::Relaxed),
        Err(_) => c.refused.fetch_add(1, Ordering::Relaxed),
    };
}

/// A gameplay thread: random sound effects at random times.
fn effects_thread(
    id: u32,
    mixer: Mixer,
    bank: Arc<Bank>,
    bus: BusId,
    per_sec: f64,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let mut rng = Rng::new(1000 + u64::from(id));
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Exponential inter-arrival times: a Poisson stream of events.
        let wait = -(1.0 - f64::from(rng.f32())).ln() / per_sec;
        next += Duration::from_secs_f64(wait.min(1.0));
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let s = &bank.effects[rng.below(bank.effects.len())];
        let p = PlayParams::new()
            .bus(bus)
            .gain(rng.range(0.03, 0.12))
            .pan(rng.range(-1.0, 1.0))
            .rate(rng.range(0.7, 1.4));
        count_play(&counts, mixer.play(s, p));
    }
}

/// The music thread: a one-bar pattern of sixteenth notes, each
/// scheduled on its exact frame, 100 ms ahead of the write cursor.
#[allow(clippy::too_many_arguments)]
fn music_thread(
    mixer: Mixer,
    bank: Arc<Bank>,
    bus: BusId,
    clock: EngineClock,
    rate: u32,
    bpm: f64,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let step = f64::from(rate) * 60.0 / bpm / 4.0; // frames per sixteenth
    let lookahead = u64::from(rate) / 10;
    // The clock reads 0 until the engine's first cycle has published it.
    while clock.write_cursor() == 0 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = clock.write_cursor() + lookahead;
    // Bass line in semitones over A (55 Hz), one note per eighth.
    let bass_notes = [0, 0, 12, 0, 3, 0, 10, 7, 5, 5, 17, 5, 3, 3, 15, 7];
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let horizon = clock.write_cursor() + lookahead;
        loop {
            let at = start + (k as f64 * step).round() as u64;
            if at > horizon {
                break;
            }
            let s16 = (k % 16) as usize;
            let play = |s: &Sound, p: PlayParams| {
                counts.scheduled.fetch_add(1, Ordering::Relaxed);
                count_play(&counts, mixer.play(s, p.bus(bus).at(at)));
            };
            if s16.is_multiple_of(8) || s16 == 10 {
                play(&bank.kick, PlayParams::new().gain(0.9));
            }
            if s16 % 8 == 4 {
                play(&bank.snare, PlayParams::new().gain(0.5).pan(0.1));
            }
            if s16.is_multiple_of(2) {
                let accent = if s16 % 4 == 2 { 0.35 } else { 0.2 };
                play(&bank.hat, PlayParams::new().gain(accent).pan(0.4));
            }
            if s16.is_multiple_of(2) {
                let bar = (k / 16) as usize;
                let semis = bass_notes[(s16 / 2 + 8 * (bar % 2)) % 16];
                let pitch = 2f32.powf(semis as f32 / 12.0);
                play(&bank.bass, PlayParams::new().gain(0.45).rate(pitch));
            }
            k += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    signal::run_main("game", || run(&args))
}

fn run(args: &Args) -> Result<Ending, String> {
    let out = session::open_stereo(&args.output, "game", args.seconds)?;
    let layout = out.device.layout();
    let rate = layout.rate;
    let bank = Arc::new(make_bank(rate)?);
    let (reverb, _) = Reverb::new(rate, 0.8, 0.4, 0.9);
    let (mixer, renderer) = MixerBuilder::new(rate)
        .voices(args.voices as usize)
        .bus("music")
        .bus("effects")
        .bus("reverb")
        .insert("reverb", reverb)
        .send("music", "reverb", 0.25)
        .send("effects", "reverb", 0.4)
        .build();
    // The streamed track: decoded on its loader thread, looping.
    let stream = Stream::open(&args.music, rate, StreamOptions::new().looping(Loop::Whole))
        .map_err(|e| format!("music: {e} (make it with assets/make_music.sh)"))?;
    stream.wait_ready(Duration::from_secs(2));
    let (Some(music), Some(effects)) = (mixer.bus("music"), mixer.bus("effects")) else {
        return Err("the mixer lost its buses".into());
    };
    mixer.set_bus_gain(music, 0.8);
    mixer.set_bus_gain(effects, 0.7);
    let janitor = mixer
        .spawn_janitor(Duration::from_millis(20))
        .map_err(|e| format!("cannot start the janitor thread: {e}"))?;
    let block = args.block as usize;
    let config = EngineConfig {
        name: "game".into(),
        block_frames: block,
        ..EngineConfig::default()
    };
    let sim_out = out.sim_out.clone();
    let mut sim = out.sim;
    let engine = session::start_engine(out.device, &mut sim, renderer, config)?;
    let music_bus = mixer.bus("music").ok_or("the mixer lost its music bus")?;
    let track = mixer
        .play_stream(&stream, PlayParams::new().gain(0.0).bus(music_bus))
        .map_err(|e| format!("music: {e}"))?;
    // The music fades in over two seconds, straight in decibels.
    let _ = track.set_gain_tween(0.5, Tween::exponential_db(2 * rate));
    // A drone circling the listener at 10 m/s, 6 m away: 3D on stereo.
    let drone = mixer
        .play(
            &bank.drone,
            PlayParams::new()
                .gain(0.0)
                .bus(effects)
                .looping(Loop::Whole),
        )
        .map_err(|e| format!("drone: {e}"))?;
    println!(
        "sounds: {} effects + kick, snare, hat, bass; {} gameplay threads x {}/s, music at {} bpm",
        bank.effects.len(),
        args.threads,
        args.rate,
        args.bpm
    );

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut threads = Vec::new();
    for id in 0..args.threads {
        let (m, b, s, c) = (mixer.clone(), bank.clone(), stop.clone(), counts.clone());
        let per_sec = args.rate;
        threads.push(
            std::thread::Builder::new()
                .name(format!("gameplay-{id}"))
                .spawn(move || effects_thread(id, m, b, effects, per_sec, s, c))
                .map_err(|e| format!("cannot start a thread: {e}"))?,
        );
    }
    {
        let (m, b, s, c, clock) = (
            mixer.clone(),
            bank.clone(),
            stop.clone(),
            counts.clone(),
            engine.clock(),
        );
        let bpm = args.bpm;
        threads.push(
            std::thread::Builder::new()
                .name("music".into())
                .spawn(move || music_thread(m, b, music, clock, rate, bpm, s, c))
                .map_err(|e| format!("cannot start a thread: {e}"))?,
        );
    }

    let mut status = StatusLine::new(Duration::from_secs(1));
    let started = Instant::now();
    let mut peak_voices = 0;
    let mut interrupted = false;
    let mut ducked = false;
    let block_ns = block as f64 * 1e9 / f64::from(rate);
    let mut failure = None;
    let listener = Listener::default();
    let model = Attenuation::Inverse {
        reference: 1.0,
        max: 100.0,
        rolloff: 1.0,
    };
    while started.elapsed().as_secs_f64() < args.seconds {
        std::thread::sleep(Duration::from_millis(50));
        // Move the drone on its circle and apply what the listener hears.
        let a = started.elapsed().as_secs_f32() * 10.0 / 6.0;
        let emitter = Emitter {
            position: [6.0 * a.cos(), 0.0, 6.0 * a.sin()],
            velocity: [-10.0 * a.sin(), 0.0, 10.0 * a.cos()],
        };
        let heard = listener.hear(&emitter, model, 1.0);
        let _ = drone.set_gain(heard.gain);
        let _ = drone.set_azimuth(heard.azimuth);
        // Doppler glides over the 50 ms to the next update (a rate tween).
        let _ = drone.set_rate_tween(heard.doppler, Tween::linear(rate / 20));
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        if !engine.is_running() {
            failure = engine.error();
            break;
        }
        // Halfway through, duck the effects bus (a ramped gain change).
        if !ducked && started.elapsed().as_secs_f64() > args.seconds / 2.0 {
            mixer.set_bus_gain(effects, 0.25);
            ducked = true;
            status.note("bus:    effects ducked to 0.25 (ramped)");
        }
        let st = mixer.stats();
        peak_voices = peak_voices.max(st.active_voices);
        if !args.quiet {
            let t = engine.telemetry().snapshot();
            let refused = counts.refused.load(Ordering::Relaxed);
            status.update(&format!(
                "t {:>4.1} s  voices {:>3} (peak {:>3})  mix p99 {:>3.0} us = {:>4.1}% load  late \
                 {}  xruns {}{}",
                started.elapsed().as_secs_f64(),
                st.active_voices,
                peak_voices,
                st.mix_time.percentile(99.0) as f64 / 1e3,
                st.mix_time.percentile(99.0) as f64 * 100.0 / block_ns,
                st.late_starts,
                t.xruns,
                if refused > 0 {
                    format!("  refused {refused}")
                } else {
                    String::new()
                }
            ));
        }
    }
    status.end_line();
    let _ = track.stop();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let st = mixer.stats();
    let t = engine.telemetry().snapshot();
    let report = session::shut_down(engine, sim, sim_out.as_deref());
    drop(janitor);
    if let Some(f) = failure {
        return Err(format!("playback failed: {f}"));
    }
    report?;
    if interrupted {
        println!("stopped: Ctrl-C");
    }
    println!(
        "voices: {} started ({} scheduled on the beat, {} late), peak {} at once, {} refused \
         (pool of {})",
        st.voices_started,
        counts.scheduled.load(Ordering::Relaxed),
        st.late_starts,
        peak_voices,
        counts.refused.load(Ordering::Relaxed),
        args.voices
    );
    println!(
        "mix:    p50 {:.0} us, p99 {:.0} us, max {:.0} us per {}-frame block ({:.1}% load at p99)",
        st.mix_time.percentile(50.0) as f64 / 1e3,
        st.mix_time.percentile(99.0) as f64 / 1e3,
        st.mix_time.max() as f64 / 1e3,
        block,
        st.mix_time.percentile(99.0) as f64 * 100.0 / block_ns
    );
    println!(
        "stream: {} frames played, {} underrun frames",
        stream.played_frames(),
        stream.underrun_frames()
    );
    println!("engine: {}", session::telemetry_line(&t, block, rate));
    Ok(Ending::from_interrupted(interrupted))
}
