//! What the game, DAW and broker examples share: the output options, the
//! set-up lines, and the clean shutdown (engine first, then the simulated
//! device, whose recording is then written).

use crate::output::{self, AnyDevice, Choice, Output, Request};
use crate::status::frames_ms;
use pcmring::engine::{Engine, EngineConfig, Renderer, StartInfo, TelemetrySnapshot, WakeStrategy};
use pcmring::reserve::ReserveConfig;
use pcmring::sim::{SimDac, SimReport};
use pcmring::Format;
use std::path::{Path, PathBuf};

/// Output options (`--device`, `--connect`, `--out`).
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output device: hw:CARD,DEVICE[,SUB], `sim` or `auto` (default: the
    /// first sound card, taken from the sound server; the simulated device
    /// if there is none).
    #[arg(long, short = 'd', value_name = "hw:X,Y|sim|auto")]
    pub device: Option<String>,

    /// Play through a pcmring-broker listening on SOCKET (a path, or @name).
    #[arg(long, short = 'c', value_name = "SOCKET", conflicts_with = "device")]
    pub connect: Option<String>,

    /// Where the simulated device writes what it played [default:
    /// target/pcmring-<example>.wav in the source tree].
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Open the card without asking the sound server for it (device
    /// reservation on the session bus).
    #[arg(long)]
    pub no_reserve: bool,
}

/// Parses a `--seconds` value for clap: a duration in (0, 3600] seconds.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err("a number of seconds in (0, 3600]".into()),
    }
}

/// Opens a stereo 48 kHz output for about `seconds` of audio (the
/// simulated device records that long plus a margin) and prints where it
/// plays and why.
pub fn open_stereo(args: &OutputArgs, example: &str, seconds: f64) -> Result<Output, String> {
    let choice = Choice::from_args(args.device.as_deref(), args.connect.as_deref())?;
    let rate = 48_000u32;
    let req = Request {
        channels: 2,
        rate,
        sim_format: Format::S16Le,
        period: 128,
        buffer: 4096,
        sim_out: args
            .out
            .clone()
            .unwrap_or_else(|| default_out(&format!("pcmring-{example}.wav"))),
        sim_record_frames: ((seconds + 5.0) * f64::from(rate)) as usize,
        // Take the card from the sound server and keep it until the end.
        reserve: if args.no_reserve {
            ReserveConfig::disabled()
        } else {
            ReserveConfig::new(&format!("pcmring {example}"))
        },
    };
    let out = output::open(&choice, &req)?;
    print_output(&out);
    Ok(out)
}

/// Prints the "note:" lines (fallbacks and why) and the "device:" line.
pub fn print_output(out: &Output) {
    for n in &out.notes {
        println!("note:   {n}");
    }
    println!("device: {}", out.label);
}

/// Starts the engine and prints the "engine:" set-up line. If it cannot
/// start, the simulated device (if any) is stopped first, so its DAC
/// thread does not outlive the error.
pub fn start_engine<R: Renderer>(
    device: AnyDevice,
    sim: &mut Option<SimDac>,
    renderer: R,
    config: EngineConfig,
) -> Result<Engine, String> {
    let rate = pcmring::Device::layout(&device).rate;
    let block = config.block_frames;
    match Engine::start(device, renderer, config) {
        Ok(engine) => {
            println!("{}", engine_line(engine.start_info(), block, rate));
            Ok(engine)
        }
        Err(e) => {
            let _ = Output::finish_sim(sim.take());
            Err(format!("cannot start the engine: {e}"))
        }
    }
}

/// The "engine:" set-up line.
pub fn engine_line(info: &StartInfo, block: usize, rate: u32) -> String {
    format!(
        "engine: block {block} frames ({:.2} ms), {} wake-ups, margin {} frames ({:.2} ms), {}",
        frames_ms(block as f64, rate),
        match info.wake {
            WakeStrategy::Period => "period",
            WakeStrategy::Timer => "timer",
            // Never reported: start-up resolves it.
            WakeStrategy::Auto => "automatic",
        },
        info.margin_frames,
        frames_ms(info.margin_frames as f64, rate),
        match &info.realtime {
            Ok(p) => format!("SCHED_FIFO {p}"),
            Err(why) => format!("not realtime ({why})"),
        }
    )
}

/// One line of engine telemetry: xruns, margin, lead, render time,
/// wake-up lateness.
pub fn telemetry_line(t: &TelemetrySnapshot, block: usize, rate: u32) -> String {
    let us = |ns: u64| ns as f64 / 1e3;
    let block_ns = block as f64 * 1e9 / f64::from(rate.max(1));
    format!(
        "xruns {}  margin {} fr {:.2} ms  lead min {}  render p50 {:.1} p99 {:.1} us ({:.1}% \
         of a block)  wake late p50 {:.0} p99 {:.0} max {:.0} us",
        t.xruns,
        t.margin_frames,
        frames_ms(t.margin_frames as f64, rate),
        t.min_lead_frames
            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        us(t.render_ns.percentile(50.0)),
        us(t.render_ns.percentile(99.0)),
        t.render_ns.percentile(99.0) as f64 * 100.0 / block_ns,
        us(t.wake_late_ns.percentile(50.0)),
        us(t.wake_late_ns.percentile(99.0)),
        us(t.wake_late_ns.max()),
    )
}

/// Stops the engine, then the simulated device (writing its recording);
/// prints where the recording went. Returns the engine's error, if one
/// stopped it, and the simulated device's report.
pub fn shut_down(
    engine: Engine,
    sim: Option<SimDac>,
    sim_out: Option<&std::path::Path>,
) -> Result<Option<SimReport>, String> {
    let stopped = engine.stop();
    let report = Output::finish_sim(sim)?;
    if let (Some(r), Some(path)) = (&report, sim_out) {
        let l = r.recording.layout();
        println!(
            "wrote:  {} ({} frames, {} {}ch {} Hz){}",
            path.display(),
            r.recording.frames(),
            l.format,
            l.channels,
            l.rate,
            if r.recording.is_truncated() {
                " [truncated]"
            } else {
                ""
            }
        );
    }
    stopped.map_err(|e| format!("the engine stopped on an error: {e}"))?;
    Ok(report)
}

/// The default `--out`: `target/NAME` in the examples package.
pub fn default_out(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name)
}
