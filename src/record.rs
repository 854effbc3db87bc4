//! The recorder behind `cargo run --example record`: captures a device
//! into a WAV file with a live progress line; Ctrl-C (or `--seconds`)
//! finishes the file cleanly; an existing file is never overwritten
//! without `--force`.
//!
//! The pieces: [`pcmring::engine::InputEngine`] follows the capture ring
//! on its RT thread and hands each block to a capturer that copies it into
//! a preallocated block from a lock-free pool (no allocation, no lock);
//! this thread takes filled blocks off a lock-free queue, writes them with
//! hound in the device's own sample format (so the file holds exactly the
//! captured codes) and returns them to the pool. Frames the hardware
//! overwrote before they were read (an overrun, counted by the engine) are
//! written as silence, so the file keeps the device's time axis.

use crate::signal::{self, Ending};
use crate::status::{clock_time, StatusLine};
use clap::Parser;
use crossbeam_queue::ArrayQueue;
use pcmring::engine::{BlockInfo, EngineConfig, InputEngine};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::sim::{SimAdc, SimConfig, WavSource};
use pcmring::{Device, Format, StreamLayout};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const AFTER_HELP: &str = "\
Examples:
  record take.wav                       the simulated input (a 440 Hz tone), until Ctrl-C
  record --device hw:1,0 take.wav       a capture device (hw:CARD,DEVICE[,SUB])
  record --device hw:Loopback,1,0 --seconds 10 take.wav
  record --sim-input in.wav --force take.wav
                                        the simulated device fed from in.wav

The file holds the device's own samples (16, 24 or 32-bit integer, or
32-bit float), bit for bit. Ctrl-C finishes the file cleanly.";

/// Records a capture device into a WAV file.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "record",
    about = "Records a capture device into a WAV file through pcmring",
    after_help = AFTER_HELP
)]
pub struct RecordArgs {
    /// The WAV file to write.
    #[arg(value_name = "OUT.wav")]
    pub out: PathBuf,

    /// Capture device: hw:CARD,DEVICE[,SUB] or `sim` (the simulated
    /// device; the default).
    #[arg(long, short = 'd', value_name = "hw:X,Y|sim", default_value = "sim")]
    pub device: String,

    /// Overwrite OUT.wav if it exists.
    #[arg(long, short = 'f')]
    pub force: bool,

    /// Stop after this many seconds (default: at Ctrl-C; with --sim-input,
    /// at the end of that file).
    #[arg(long, short = 's', value_parser = crate::session::parse_seconds)]
    pub seconds: Option<f64>,

    /// The simulated device's input: a WAV file (default: a 440 Hz tone).
    #[arg(long, value_name = "IN.wav")]
    pub sim_input: Option<PathBuf>,

    /// Sample format of the simulated device: s16, s24, s24_3, s32, f32.
    #[arg(long, default_value = "s16", value_parser = parse_format)]
    pub sim_format: Format,

    /// Channels.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub channels: u32,

    /// Frames per second.
    #[arg(long, default_value_t = 48_000, value_parser = clap::value_parser!(u32).range(1000..=768000))]
    pub rate: u32,

    /// Frames per capture block.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(8..=16384))]
    pub block: u32,

    /// Period size to ask the device for, in frames.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=65536))]
    pub period: u32,

    /// Ring size to ask the device for, in frames.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u32).range(64..=1048576))]
    pub buffer: u32,

    /// Do not ask for SCHED_FIFO for the realtime thread.
    #[arg(long)]
    pub no_realtime: bool,

    /// No live progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "s16" => Format::S16Le,
        "s24" => Format::S24Le,
        "s24_3" => Format::S24_3Le,
        "s32" => Format::S32Le,
        "f32" => Format::F32Le,
        _ => return Err(format!("{s:?}: expected s16, s24, s24_3, s32 or f32")),
    })
}

/// What a recording did.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    /// The device description.
    pub device: String,
    /// The capture stream's layout.
    pub layout: StreamLayout,
    /// The file written.
    pub path: PathBuf,
    /// Frames in the file.
    pub frames: u64,
    /// The device frame of the file's first frame.
    pub first_frame: u64,
    /// Overruns the engine counted (the hardware lapped the reader).
    pub overruns: u64,
    /// Frames written as silence for what overruns lost.
    pub silence_frames: u64,
    /// Blocks dropped because the file writer was behind (pool empty).
    pub dropped_blocks: u64,
    /// Stopped by Ctrl-C (or SIGTERM).
    pub interrupted: bool,
}

/// The example's `main`.
pub fn main() -> ExitCode {
    let args = RecordArgs::parse();
    signal::run_main("record", || {
        Ok(Ending::from_interrupted(run(&args)?.interrupted))
    })
}

/// One captured block on its way to the file.
struct Block {
    frame_time: u64,
    samples: Vec<f32>,
}

/// What the RT capturer and the file writer share.
struct Pipe {
    free: ArrayQueue<Block>,
    full: ArrayQueue<Block>,
    dropped: AtomicU64,
}

/// The WAV spec that holds `format` exactly.
fn wav_spec(format: Format, channels: u32, rate: u32) -> hound::WavSpec {
    let (bits, sample_format) = match format {
        Format::S16Le => (16, hound::SampleFormat::Int),
        Format::S24Le | Format::S24_3Le => (24, hound::SampleFormat::Int),
        Format::S32Le => (32, hound::SampleFormat::Int),
        Format::F32Le => (32, hound::SampleFormat::Float),
    };
    hound::WavSpec {
        channels: channels as u16,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format,
    }
}

type Wav = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

/// Writes f32 samples in the file's format: the exact inverse of the
/// reader's conversion, so the file holds the captured codes.
fn write_samples(w: &mut Wav, format: Format, samples: &[f32]) -> Result<(), hound::Error> {
    for &x in samples {
        match format {
            Format::S16Le => w.write_sample(to_code(x, 16) as i16)?,
            Format::S24Le | Format::S24_3Le => w.write_sample(to_code(x, 24))?,
            Format::S32Le => w.write_sample(to_code(x, 32))?,
            Format::F32Le => w.write_sample(x)?,
        }
    }
    Ok(())
}

/// The `bits`-bit code of `x`: `x * 2^(bits-1)`, rounded, saturated. The
/// engine reads code `c` as `c / 2^(bits-1)`, which f32 holds exactly for
/// 16 and 24 bits (and for 32-bit codes with at most 24 significant bits),
/// so this gives back the captured code.
fn to_code(x: f32, bits: u32) -> i32 {
    let scale = f64::from(1u32 << (bits - 1));
    let v = (f64::from(x) * scale).round();
    v.clamp(-scale, scale - 1.0) as i32
}

/// The opened capture device, boxed, and how to describe it.
struct Source {
    dev: Box<dyn Device>,
    sim: Option<SimAdc>,
    describe: String,
    sim_frames: Option<u64>,
}

fn open_source(args: &RecordArgs) -> Result<Source, String> {
    if args.device.eq_ignore_ascii_case("sim") {
        let layout = StreamLayout {
            format: args.sim_format,
            channels: args.channels,
            rate: args.rate,
            period_size: u64::from(args.period),
            buffer_size: u64::from(args.buffer.max(args.period * 2)) / u64::from(args.period)
                * u64::from(args.period),
            boundary: 0,
        };
        let layout = StreamLayout {
            boundary: layout.buffer_size << 20,
            ..layout
        };
        let mut sc = SimConfig::new(layout);
        if args.no_realtime {
            sc.dac_priority = None;
        }
        let (sim, describe, frames) = match &args.sim_input {
            Some(p) => {
                let src = WavSource::open(p).map_err(|e| format!("--sim-input: {e}"))?;
                if src.rate() != args.rate {
                    return Err(format!(
                        "--sim-input {}: {} Hz, the device runs at {} Hz (pass --rate {})",
                        p.display(),
                        src.rate(),
                        args.rate,
                        src.rate()
                    ));
                }
                let frames = src.frames();
                let adc = SimAdc::start(sc, src).map_err(|e| e.to_string())?;
                (
                    adc,
                    format!("simulated input from {}", p.display()),
                    Some(frames),
                )
            }
            None => {
                let rate = f64::from(args.rate);
                let tone = move |index: u64, channels: usize, out: &mut [f32]| {
                    for (i, frame) in out.chunks_exact_mut(channels.max(1)).enumerate() {
                        let t = (index + i as u64) as f64 / rate;
                        let v = (t * 440.0 * std::f64::consts::TAU).sin() * 0.25;
                        frame.fill(v as f32);
                    }
                };
                let adc = SimAdc::start(sc, tone).map_err(|e| e.to_string())?;
                (adc, "simulated input (440 Hz tone)".to_owned(), None)
            }
        };
        let dev = sim.device().map_err(|e| e.to_string())?;
        return Ok(Source {
            dev: Box::new(dev),
            sim: Some(sim),
            describe,
            sim_frames: frames,
        });
    }
    let config = Config {
        format: None,
        channels: args.channels,
        rate: args.rate,
        rate_match: Match::Nearest,
        period_size: u64::from(args.period),
        buffer: BufferSize::Frames(u64::from(args.buffer)),
        ..Config::default()
    };
    let mut pcm = Pcm::open(&args.device, Direction::Capture, &config).map_err(|e| {
        format!(
            "{e}\n  (list capture devices with `cargo run --example devices`; \
             `--device sim` records the simulated input)"
        )
    })?;
    pcm.prepare().map_err(|e| e.to_string())?;
    pcm.start().map_err(|e| e.to_string())?;
    let describe = format!("{} ({:?})", args.device, pcm.position_source());
    Ok(Source {
        dev: Box::new(pcm),
        sim: None,
        describe,
        sim_frames: None,
    })
}

/// Records; see the module docs. Prints the set-up, the progress line
/// (unless quiet) and the summary to stdout.
pub fn run(args: &RecordArgs) -> Result<RecordSummary, String> {
    if args.out.exists() && !args.force {
        return Err(format!(
            "{} exists: pass --force to overwrite it",
            args.out.display()
        ));
    }
    let source = open_source(args)?;
    let layout = source.dev.layout();
    let channels = layout.channels as usize;
    let block = args.block as usize;
    let spec = wav_spec(layout.format, layout.channels, layout.rate);
    let wav = create_wav(&args.out, spec)?;
    println!(
        "record: {} | {} {} ch {} Hz, ring {} frames | block {block} -> {}",
        source.describe,
        layout.format,
        layout.channels,
        layout.rate,
        layout.buffer_size,
        args.out.display()
    );

    // A second of blocks in flight, allocated now.
    let slots = (layout.rate as usize / block).clamp(8, 4096);
    let pipe = Arc::new(Pipe {
        free: ArrayQueue::new(slots),
        full: ArrayQueue::new(slots),
        dropped: AtomicU64::new(0),
    });
    for _ in 0..slots {
        let _ = pipe.free.push(Block {
            frame_time: 0,
            samples: vec![0.0; block * channels],
        });
    }
    let p = pipe.clone();
    let capturer = move |input: &[f32], info: &BlockInfo| match p.free.pop() {
        Some(mut b) => {
            b.frame_time = info.frame_time;
            b.samples.copy_from_slice(input);
            if let Err(b) = p.full.push(b) {
                let _ = p.free.push(b);
                p.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => {
            p.dropped.fetch_add(1, Ordering::Relaxed);
        }
    };
    let config = EngineConfig {
        name: args.device.clone(),
        block_frames: block,
        fifo_priority: (!args.no_realtime).then_some(80),
        ..EngineConfig::default()
    };
    let engine = InputEngine::start(source.dev, capturer, config).map_err(|e| e.to_string())?;
    // An input engine always reports its first frame.
    let first_frame = engine.start_info().first_frame.unwrap_or(0);
    let limit_frames = match (args.seconds, source.sim_frames) {
        (Some(s), _) => Some((s * f64::from(layout.rate)) as u64),
        (None, Some(f)) => Some(f.saturating_sub(first_frame)),
        (None, None) => None,
    };
    let mut status = StatusLine::new(Duration::from_secs(2));
    let mut sink = Sink {
        wav,
        format: layout.format,
        channels,
        block,
        next: first_frame,
        frames: 0,
        silence: 0,
        peak: 0.0,
        limit: limit_frames,
        error: None,
    };
    let mut interrupted = false;
    loop {
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        if !engine.is_running() || sink.drain(&pipe) || sink.error.is_some() {
            break;
        }
        if !args.quiet {
            let snap = engine.snapshot();
            status.update(&format!(
                "record: {} recorded | peak {:5.1} dBFS | overruns {} | dropped {}",
                clock_time(sink.frames as f64 / f64::from(layout.rate)),
                20.0 * f64::from(sink.peak.max(1e-9)).log10(),
                snap.overruns,
                pipe.dropped.load(Ordering::Relaxed)
            ));
            sink.peak = 0.0;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (snap, stopped) = engine.stop_with_report();
    // What was captured before the stop still goes into the file.
    sink.drain(&pipe);
    status.end_line();
    if let Some(sim) = source.sim {
        let _ = sim.stop();
    }
    let Sink {
        wav,
        frames,
        silence,
        error,
        ..
    } = sink;
    wav.finalize()
        .map_err(|e| format!("{}: finishing the WAV file: {e}", args.out.display()))?;
    if let Some(e) = error {
        return Err(format!("{}: writing: {e}", args.out.display()));
    }
    stopped.map_err(|e| format!("capture stopped: {e}"))?;
    let summary = RecordSummary {
        device: source.describe,
        layout,
        path: args.out.clone(),
        frames,
        first_frame,
        overruns: snap.overruns,
        silence_frames: silence,
        dropped_blocks: pipe.dropped.load(Ordering::Relaxed),
        interrupted,
    };
    println!(
        "record: wrote {} ({} frames, {:.2} s){} | overruns {} ({} frames of silence) | dropped blocks {}",
        summary.path.display(),
        summary.frames,
        summary.frames as f64 / f64::from(layout.rate),
        if interrupted { ", stopped by Ctrl-C" } else { "" },
        summary.overruns,
        summary.silence_frames,
        summary.dropped_blocks
    );
    Ok(summary)
}

/// The file side: writes blocks in order, silence over overrun gaps, up
/// to the frame limit.
struct Sink {
    wav: Wav,
    format: Format,
    channels: usize,
    block: usize,
    next: u64,
    frames: u64,
    silence: u64,
    peak: f32,
    limit: Option<u64>,
    error: Option<hound::Error>,
}

impl Sink {
    fn room(&self) -> u64 {
        self.limit
            .map_or(u64::MAX, |l| l.saturating_sub(self.frames))
    }

    fn write(&mut self, samples: &[f32]) {
        if self.error.is_none() {
            if let Err(e) = write_samples(&mut self.wav, self.format, samples) {
                self.error = Some(e);
            }
        }
    }

    /// Writes every filled block; returns whether the limit is reached.
    fn drain(&mut self, pipe: &Pipe) -> bool {
        while self.room() > 0 {
            let Some(b) = pipe.full.pop() else {
                return false;
            };
            if b.frame_time > self.next {
                let gap = (b.frame_time - self.next).min(self.room());
                let zeros = vec![0.0f32; gap as usize * self.channels];
                self.write(&zeros);
                self.silence += gap;
                self.frames += gap;
            }
            let n = (self.block as u64).min(self.room()) as usize;
            self.write(&b.samples[..n * self.channels]);
            self.peak = b.samples.iter().fold(self.peak, |m, x| m.max(x.abs()));
            self.frames += n as u64;
            self.next = b.frame_time + self.block as u64;
            let _ = pipe.free.push(b);
        }
        true
    }
}

fn create_wav(path: &Path, spec: hound::WavSpec) -> Result<Wav, String> {
    hound::WavWriter::create(path, spec).map_err(|e| format!("{}: {e}", path.display()))
}
