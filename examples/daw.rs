//! DAW-style callback: your own render function, driven by the engine at
//! a small block size, with the engine's telemetry printed every second.
//!
//! ```text
//! cargo run --release --example daw                    # 10 s, block 64
//! cargo run --release --example daw -- --block 32 --seconds 30
//! cargo run --release --example daw -- --help
//! ```
//!
//! The render function is a plain closure handed to `Engine::start`: an
//! 8-voice polyphonic synth (two detuned band-limited saws per voice, an
//! envelope) playing an arpeggio from its own sample-accurate sequencer
//! (driven by the block's `frame_time`), into a one-pole low-pass filter
//! with an LFO, into a stereo ping-pong delay. Everything it needs is
//! allocated before the engine starts; the closure never allocates, locks
//! or blocks. The main thread sweeps the filter cutoff through an atomic,
//! the way a DAW's UI thread moves a knob.
//!
//! **Input channel**: with `--input hw:X,Y` (or `--input sim`, a simulated
//! 220 Hz tone) the example runs on the duplex engine instead: each block's
//! input (captured on the same frame clock as the output, a fixed offset
//! earlier) is mixed into the synth's output at `--input-gain`, and the
//! round trip is printed.
//!
//! ```text
//! cargo run --release --example daw -- --input sim
//! cargo run --release --example daw -- --input hw:1,0 --device hw:1,0
//! ```

use clap::Parser;
use pcmring::engine::{BlockInfo, DuplexEngine, DuplexInfo, EngineConfig, Margin};
use pcmring::Device;
use pcmring_examples::duplex::{open_pair, PairRequest};
use pcmring_examples::session::{self, OutputArgs};
use pcmring_examples::signal::{self, Ending};
use std::f32::consts::TAU;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A synth and effect chain as the engine's render callback.
#[derive(Debug, Parser)]
#[command(
    name = "daw",
    about = "Your own render function (synth -> filter -> delay) driven by pcmring at a small \
             block size, with the engine's telemetry every second"
)]
struct Args {
    #[command(flatten)]
    output: OutputArgs,

    /// How long to run, in seconds.
    #[arg(long, short = 's', default_value_t = 10.0, value_parser = session::parse_seconds)]
    seconds: f64,

    /// Frames per render block.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=8192))]
    block: u32,

    /// Tempo, beats per minute.
    #[arg(long, default_value_t = 110.0, value_parser = bpm)]
    bpm: f64,

    /// An input channel: a capture device (hw:CARD,DEVICE[,SUB]) or `sim`,
    /// mixed into the output through the duplex engine.
    #[arg(
        long,
        short = 'i',
        value_name = "hw:X,Y|sim",
        conflicts_with = "connect"
    )]
    input: Option<String>,

    /// Gain of the input channel.
    #[arg(long, default_value_t = 0.5)]
    input_gain: f32,
}

fn bpm(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (20.0..=400.0).contains(&v) => Ok(v),
        _ => Err("a tempo in 20..=400 bpm".into()),
    }
}

/// Knobs the main thread turns while the synth runs.
struct Knobs {
    /// Filter cutoff in Hz (f32 bits).
    cutoff: AtomicU32,
    /// Notes the sequencer has played.
    notes: AtomicU64,
}

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Off,
    Attack,
    Decay,
    Release,
}

#[derive(Clone, Copy)]
struct Voice {
    stage: Stage,
    env: f32,
    gate: u32,
    dt: f32,
    p1: f32,
    p2: f32,
    gain: f32,
    age: u64,
}

impl Voice {
    const OFF: Voice = Voice {
        stage: Stage::Off,
        env: 0.0,
        gate: 0,
        dt: 0.0,
        p1: 0.0,
        p2: 0.3,
        gain: 0.0,
        age: 0,
    };
}

/// PolyBLEP correction for a saw's jump at phase 0 (band-limits it).
fn blep(t: f32, dt: f32) -> f32 {
    if t < dt {
        let x = t / dt;
        x + x - x * x - 1.0
    } else if t > 1.0 - dt {
        let x = (t - 1.0) / dt;
        x * x + x + x + 1.0
    } else {
        0.0
    }
}

fn saw(phase: f32, dt: f32) -> f32 {
    2.0 * phase - 1.0 - blep(phase, dt)
}

fn midi_hz(m: f32) -> f32 {
    440.0 * 2f32.powf((m - 69.0) / 12.0)
}

/// The whole instrument: sequencer, voices, filter, delay.
struct Synth {
    rate: f32,
    voices: [Voice; 8],
    origin: Option<u64>,
    step: u64,
    step_frames: f64,
    attack: f32,
    decay: f32,
    release: f32,
    lfo: f32,
    lp: f32,
    delay: [Vec<f32>; 2],
    delay_at: usize,
    knobs: Arc<Knobs>,
    clock: u64,
}

/// Am, F, C, G: chord tones (MIDI notes), one chord per bar.
const CHORDS: [[f32; 4]; 4] = [
    [57.0, 60.0, 64.0, 69.0],
    [53.0, 57.0, 60.0, 65.0],
    [48.0, 52.0, 55.0, 60.0],
    [55.0, 59.0, 62.0, 67.0],
];
/// Which chord tone each sixteenth plays (+12 on the upper half).
const ARP: [usize; 8] = [0, 1, 2, 3, 2, 1, 3, 2];

impl Synth {
    fn new(rate: u32, bpm: f64, knobs: Arc<Knobs>) -> Synth {
        let r = rate as f32;
        // A dotted-eighth delay, allocated here, before the engine starts.
        let delay_len = (f64::from(rate) * 60.0 / bpm * 0.75) as usize;
        Synth {
            rate: r,
            voices: [Voice::OFF; 8],
            origin: None,
            step: 0,
            step_frames: f64::from(rate) * 60.0 / bpm / 4.0,
            attack: 1.0 / (0.004 * r),
            decay: (-1.0 / (0.25 * r)).exp(),
            release: (-1.0 / (0.08 * r)).exp(),
            lfo: 0.0,
            lp: 0.0,
            delay: [vec![0.0; delay_len.max(1)], vec![0.0; delay_len.max(1)]],
            delay_at: 0,
            knobs,
            clock: 0,
        }
    }

    fn note_on(&mut self, midi: f32, gain: f32, gate: u32) {
        self.clock += 1;
        // A free voice, else steal the oldest.
        let i = self
            .voices
            .iter()
            .position(|v| v.stage == Stage::Off)
            .unwrap_or_else(|| {
                let mut oldest = 0;
                for (i, v) in self.voices.iter().enumerate() {
                    if v.age < self.voices[oldest].age {
                        oldest = i;
                    }
                }
                oldest
            });
        let v = &mut self.voices[i];
        v.stage = Stage::Attack;
        v.gate = gate;
        v.dt = midi_hz(midi) / self.rate;
        v.gain = gain;
        v.age = self.clock;
        self.knobs.notes.fetch_add(1, Ordering::Relaxed);
    }

    /// Plays the sequencer step due at device frame `t`, if one is.
    fn sequence(&mut self, t: u64) {
        let origin = *self.origin.get_or_insert(t);
        loop {
            let due = origin + (self.step as f64 * self.step_frames).round() as u64;
            if due > t {
                return;
            }
            let s = (self.step % 16) as usize;
            let chord = CHORDS[((self.step / 16) % 4) as usize];
            let octave = if s >= 8 { 12.0 } else { 0.0 };
            let gate = (self.step_frames * 0.7) as u32;
            self.note_on(chord[ARP[s % 8]] + octave, 0.16, gate);
            if s == 0 {
                self.note_on(chord[0] - 12.0, 0.22, (self.step_frames * 14.0) as u32);
            }
            self.step += 1;
        }
    }

    fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        let ch = info.channels.max(1);
        // Control rate: the cutoff (knob + LFO) once per block.
        let knob = f32::from_bits(self.knobs.cutoff.load(Ordering::Relaxed));
        self.lfo = (self.lfo + info.frames as f32 * 0.3 / self.rate).fract();
        let fc = (knob * (1.0 + 0.4 * (TAU * self.lfo).sin())).clamp(40.0, 0.45 * self.rate);
        let a = 1.0 - (-TAU * fc / self.rate).exp();
        for (i, frame) in out.chunks_exact_mut(ch).enumerate() {
            self.sequence(info.frame_time + i as u64);
            let mut dry = 0.0;
            for v in self.voices.iter_mut().filter(|v| v.stage != Stage::Off) {
                match v.stage {
                    Stage::Attack => {
                        v.env += self.attack;
                        if v.env >= 1.0 {
                            v.env = 1.0;
                            v.stage = Stage::Decay;
                        }
                    }
                    Stage::Decay => v.env = 0.55 + (v.env - 0.55) * self.decay,
                    Stage::Release => {
                        v.env *= self.release;
                        if v.env < 1e-4 {
                            *v = Voice::OFF;
                            continue;
                        }
                    }
                    Stage::Off => {}
                }
                if v.gate == 0 && v.stage != Stage::Release {
                    v.stage = Stage::Release;
                }
                v.gate = v.gate.saturating_sub(1);
                let dt2 = v.dt * 1.007; // detuned second oscillator
                let s = saw(v.p1, v.dt) + saw(v.p2, dt2);
                v.p1 = (v.p1 + v.dt).fract();
                v.p2 = (v.p2 + dt2).fract();
                dry += s * v.env * v.gain;
            }
            // One-pole low-pass, then the ping-pong delay.
            self.lp += a * (dry - self.lp);
            let x = self.lp;
            let len = self.delay[0].len();
            let (dl, dr) = (self.delay[0][self.delay_at], self.delay[1][self.delay_at]);
            self.delay[0][self.delay_at] = x + 0.45 * dr;
            self.delay[1][self.delay_at] = 0.45 * dl;
            self.delay_at = (self.delay_at + 1) % len;
            let (l, r) = (x + 0.5 * dl, x + 0.5 * dr);
            match frame {
                [m] => *m = 0.5 * (l + r),
                [fl, fr, ..] => {
                    *fl = l;
                    *fr = r;
                }
                [] => {}
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    signal::run_main("daw", || run(&args))
}

fn run(args: &Args) -> Result<Ending, String> {
    if let Some(input) = &args.input {
        return run_duplex(args, input);
    }
    let out = session::open_stereo(&args.output, "daw", args.seconds)?;
    let rate = out.device.layout().rate;
    let knobs = Arc::new(Knobs {
        cutoff: AtomicU32::new(800f32.to_bits()),
        notes: AtomicU64::new(0),
    });
    let mut synth = Synth::new(rate, args.bpm, knobs.clone());
    // The render callback: any FnMut(&mut [f32], &BlockInfo) + Send.
    let render = move |out: &mut [f32], info: &BlockInfo| synth.render(out, info);
    let block = args.block as usize;
    let config = EngineConfig {
        name: "daw".into(),
        block_frames: block,
        ..EngineConfig::default()
    };
    let sim_out = out.sim_out.clone();
    let mut sim = out.sim;
    let engine = session::start_engine(out.device, &mut sim, render, config)?;
    let started = Instant::now();
    let mut next_print = 1.0;
    let mut interrupted = false;
    let mut failure = None;
    while started.elapsed().as_secs_f64() < args.seconds {
        std::thread::sleep(Duration::from_millis(20));
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        if !engine.is_running() {
            failure = engine.error();
            break;
        }
        // The "UI thread" turns the cutoff knob: a slow 8-second sweep.
        let t = started.elapsed().as_secs_f64();
        let sweep = 0.5 - 0.5 * (std::f64::consts::TAU * t / 8.0).cos();
        let cutoff = (300.0 + 3200.0 * sweep) as f32;
        knobs.cutoff.store(cutoff.to_bits(), Ordering::Relaxed);
        if t >= next_print {
            next_print += 1.0;
            let tel = engine.telemetry().snapshot();
            println!(
                "t {:>4.0} s  cutoff {:>4.0} Hz  notes {:>4}  {}",
                t,
                cutoff,
                knobs.notes.load(Ordering::Relaxed),
                session::telemetry_line(&tel, block, rate)
            );
        }
    }
    let tel = engine.telemetry().snapshot();
    let report = session::shut_down(engine, sim, sim_out.as_deref());
    if let Some(f) = failure {
        return Err(format!("playback failed: {f}"));
    }
    report?;
    if interrupted {
        println!("stopped: Ctrl-C");
    }
    println!(
        "total:  {} blocks in {} cycles, {} frames, {} render panics; {}",
        tel.render_ns.count(),
        tel.cycles,
        tel.frames_written,
        tel.render_panics,
        session::telemetry_line(&tel, block, rate)
    );
    Ok(Ending::from_interrupted(interrupted))
}

/// The synth with an input channel, on the duplex engine.
fn run_duplex(args: &Args, input: &str) -> Result<Ending, String> {
    let output = args
        .output
        .device
        .clone()
        .unwrap_or_else(|| "sim".to_owned());
    let sim_out = args
        .output
        .out
        .clone()
        .unwrap_or_else(|| session::default_out("pcmring-daw.wav"));
    let req = PairRequest {
        input: input.to_owned(),
        output: output.clone(),
        rate: 48_000,
        period: 128,
        buffer: 4096,
        sim_out: sim_out.clone(),
        sim_seconds: args.seconds + 1.0,
    };
    let (dev_in, dev_out, pair) = open_pair(&req)?;
    println!("device: {input} -> synth + input -> {output}");
    println!("note:   {}", pair.start_note);
    let rate = dev_out.layout().rate;
    let knobs = Arc::new(Knobs {
        cutoff: AtomicU32::new(800f32.to_bits()),
        notes: AtomicU64::new(0),
    });
    let mut synth = Synth::new(rate, args.bpm, knobs.clone());
    let gain = args.input_gain;
    // The duplex callback: the synth renders the output block, then the
    // input block (same frame clock, `info.offset` frames earlier) is mixed in.
    let process = move |inp: &[f32], out: &mut [f32], info: &DuplexInfo| {
        let block = BlockInfo {
            frame_time: info.output_time,
            frames: info.frames,
            channels: info.output_channels,
            rate: info.rate,
        };
        synth.render(out, &block);
        let (ci, co) = (info.input_channels, info.output_channels);
        for (fi, fo) in inp.chunks_exact(ci).zip(out.chunks_exact_mut(co)) {
            for (c, o) in fo.iter_mut().enumerate() {
                *o += gain * fi[c % ci];
            }
        }
    };
    let config = EngineConfig {
        name: "daw".into(),
        block_frames: args.block as usize,
        margin: Margin::Auto {
            probe: Duration::ZERO,
        },
        ..EngineConfig::default()
    };
    let engine = match DuplexEngine::start(dev_in, dev_out, process, config) {
        Ok(e) => e,
        Err(e) => {
            let _ = pair.finish(&sim_out);
            return Err(format!("cannot start duplex: {e}"));
        }
    };
    // A duplex engine always reports its offset and skew.
    let round_trip = engine.start_info().round_trip_frames().unwrap_or(0);
    println!(
        "engine: duplex, block {} frames, round trip {} frames ({:.2} ms)",
        args.block,
        round_trip,
        round_trip as f64 * 1000.0 / f64::from(rate)
    );
    let started = Instant::now();
    let mut next_print = 1.0;
    let mut interrupted = false;
    while started.elapsed().as_secs_f64() < args.seconds {
        std::thread::sleep(Duration::from_millis(20));
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        if !engine.is_running() {
            break;
        }
        let t = started.elapsed().as_secs_f64();
        let sweep = 0.5 - 0.5 * (std::f64::consts::TAU * t / 8.0).cos();
        knobs.cutoff.store(
            ((300.0 + 3200.0 * sweep) as f32).to_bits(),
            Ordering::Relaxed,
        );
        if t >= next_print {
            next_print += 1.0;
            let tel = engine.snapshot();
            println!(
                "t {:>4.0} s  notes {:>4}  in {} frames  realigns {}  underruns {}  overruns {}",
                t,
                knobs.notes.load(Ordering::Relaxed),
                tel.frames_read,
                tel.realigns,
                tel.xruns,
                tel.overruns
            );
        }
    }
    let (tel, stopped) = engine.stop_with_report();
    if let Some(p) = pair.finish(&sim_out)? {
        println!("wrote:  {}", p.display());
    }
    stopped.map_err(|e| format!("the duplex engine stopped on an error: {e}"))?;
    println!(
        "total:  {} frames in, {} out, {} realigns, {} render panics",
        tel.frames_read, tel.frames_written, tel.realigns, tel.render_panics
    );
    Ok(Ending::from_interrupted(interrupted))
}
