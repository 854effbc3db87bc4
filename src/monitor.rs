//! The monitor behind `cargo run --example monitor`: input -> a simple
//! effect -> output at a small block through the duplex engine, printing
//! the round trip (the engine's fixed input-to-output offset minus the
//! measured hardware skew) and live counters.

use crate::duplex::{open_pair, PairRequest};
use crate::signal::{self, Ending};
use crate::status::{frames_ms, StatusLine};
use clap::{Parser, ValueEnum};
use pcmring::engine::{DuplexEngine, DuplexInfo, EngineConfig, Margin};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const AFTER_HELP: &str = "\
Examples:
  monitor                                  simulated input -> tremolo -> simulated output
  monitor --input hw:1,0 --output hw:1,0   a card's capture and playback, linked
  monitor --input hw:Loopback,1,0 --output hw:Loopback,0,1 --block 32 --effect none

Headphones: a card's input monitored on its output at a small block is
live sound; start with the volume down. Ctrl-C stops.";

/// Monitors an input through an effect on an output.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "monitor",
    about = "Input -> effect -> output through pcmring's duplex engine, printing the round trip",
    after_help = AFTER_HELP
)]
pub struct MonitorArgs {
    /// Capture device: hw:CARD,DEVICE[,SUB] or `sim`.
    #[arg(long, short = 'i', default_value = "sim")]
    pub input: String,

    /// Playback device: hw:CARD,DEVICE[,SUB] or `sim`.
    #[arg(long, short = 'o', default_value = "sim")]
    pub output: String,

    /// The effect.
    #[arg(long, short = 'e', value_enum, default_value_t = Effect::Tremolo)]
    pub effect: Effect,

    /// Frames per block.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub block: u32,

    /// Frames kept written ahead of the output (default: automatic).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub margin: Option<u64>,

    /// Frames per second (both sides).
    #[arg(long, default_value_t = 48_000)]
    pub rate: u32,

    /// Period size to ask the devices for, in frames.
    #[arg(long, default_value_t = 128)]
    pub period: u64,

    /// Ring size to ask the devices for, in frames.
    #[arg(long, default_value_t = 4096)]
    pub buffer: u64,

    /// How long to run (default: until Ctrl-C).
    #[arg(long, short = 's', value_parser = crate::session::parse_seconds)]
    pub seconds: Option<f64>,

    /// Where the simulated output writes what it played.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Do not ask for SCHED_FIFO for the realtime thread.
    #[arg(long)]
    pub no_realtime: bool,

    /// No live status line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What the monitor does to the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Effect {
    /// Copy the input to the output unchanged.
    None,
    /// A 5 Hz tremolo.
    Tremolo,
    /// A soft-clipping drive.
    Drive,
}

/// What a monitor run measured.
#[derive(Debug, Clone, Copy)]
pub struct MonitorSummary {
    /// The input-to-output offset at start, frames.
    pub offset_frames: i64,
    /// The round trip at start (offset minus hardware skew), frames.
    pub round_trip_frames: i64,
    /// Frames processed.
    pub frames: u64,
    /// Realigns (after an overrun or underrun).
    pub realigns: u64,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
}

/// The example's `main`.
pub fn main() -> ExitCode {
    let args = MonitorArgs::parse();
    signal::run_main("monitor", || {
        Ok(Ending::from_interrupted(run(&args)?.interrupted))
    })
}

/// The effect as a duplex callback (allocation-free).
fn processor(effect: Effect) -> impl FnMut(&[f32], &mut [f32], &DuplexInfo) + Send + 'static {
    let mut phase = 0.0f32;
    move |input: &[f32], output: &mut [f32], info: &DuplexInfo| {
        let (ci, co) = (info.input_channels, info.output_channels);
        let step = 5.0 / info.rate as f32;
        for (fi, fo) in input.chunks_exact(ci).zip(output.chunks_exact_mut(co)) {
            let gain = match effect {
                Effect::Tremolo => {
                    phase = (phase + step).fract();
                    0.6 + 0.4 * (phase * std::f32::consts::TAU).sin()
                }
                _ => 1.0,
            };
            for (c, o) in fo.iter_mut().enumerate() {
                let x = fi[c % ci];
                *o = match effect {
                    Effect::None => x,
                    Effect::Tremolo => x * gain,
                    Effect::Drive => (x * 3.0).tanh() * 0.7,
                };
            }
        }
    }
}

/// Runs the monitor; see the module docs.
pub fn run(args: &MonitorArgs) -> Result<MonitorSummary, String> {
    let sim_out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::session::default_out("pcmring-monitor.wav"));
    let req = PairRequest {
        input: args.input.clone(),
        output: args.output.clone(),
        rate: args.rate,
        period: args.period,
        buffer: args.buffer,
        sim_out: sim_out.clone(),
        sim_seconds: args.seconds.unwrap_or(60.0) + 1.0,
    };
    let (input, output, pair) = open_pair(&req)?;
    println!(
        "monitor: {} -> {} ({:?})",
        args.input, args.output, args.effect
    );
    println!("note:    {}", pair.start_note);
    let config = EngineConfig {
        name: "monitor".into(),
        block_frames: args.block as usize,
        margin: args.margin.map_or(
            Margin::Auto {
                probe: Duration::ZERO,
            },
            Margin::Frames,
        ),
        fifo_priority: (!args.no_realtime).then_some(80),
        ..EngineConfig::default()
    };
    let engine = match DuplexEngine::start(input, output, processor(args.effect), config) {
        Ok(e) => e,
        Err(e) => {
            let _ = pair.finish(&sim_out);
            return Err(format!("cannot start duplex: {e}"));
        }
    };
    let s = engine.start_info().clone();
    let rate = s.output.map_or(args.rate, |l| l.rate);
    // A duplex engine always reports its offset and skew.
    let round_trip = s.round_trip_frames().unwrap_or(0);
    println!(
        "round trip: {} frames = {:.2} ms (offset {} - hardware skew {}; block {}, margin {} \
         frames) + what the converters add",
        round_trip,
        frames_ms(round_trip as f64, rate),
        s.offset_frames.unwrap_or(0),
        s.hw_skew_frames.unwrap_or(0),
        args.block,
        s.margin_frames
    );
    let started = Instant::now();
    let mut status = StatusLine::new(Duration::from_secs(2));
    let mut interrupted = false;
    loop {
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        if !engine.is_running() {
            break;
        }
        if args
            .seconds
            .is_some_and(|secs| started.elapsed().as_secs_f64() >= secs)
        {
            break;
        }
        if !args.quiet {
            let t = engine.snapshot();
            let rt = t.offset_frames - t.hw_skew_frames;
            status.update(&format!(
                "monitor: round trip {rt} frames {:.2} ms | realigns {} | underruns {} | overruns {}",
                frames_ms(rt as f64, rate),
                t.realigns,
                t.xruns,
                t.overruns
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    status.end_line();
    let (t, stopped) = engine.stop_with_report();
    let wrote = pair.finish(&sim_out)?;
    stopped.map_err(|e| format!("the duplex engine stopped on an error: {e}"))?;
    println!(
        "monitor: {} frames, round trip {} frames ({:.2} ms), {} realigns, {} underruns, {} overruns",
        t.frames_written,
        t.offset_frames - t.hw_skew_frames,
        frames_ms((t.offset_frames - t.hw_skew_frames) as f64, rate),
        t.realigns,
        t.xruns,
        t.overruns
    );
    if let Some(p) = wrote {
        println!(
            "wrote:   {} (what the simulated output played)",
            p.display()
        );
    }
    Ok(MonitorSummary {
        offset_frames: s.offset_frames.unwrap_or(0),
        round_trip_frames: round_trip,
        frames: t.frames_written,
        realigns: t.realigns,
        interrupted,
    })
}
