//! The WAV player behind `cargo run --example play`: streams a file from
//! disk into the engine at the lowest latency the device sustains, with a
//! live status line, and reports what happened.
//!
//! The pieces: [`crate::output`] picks and opens the device,
//! [`crate::stream`] reads and converts the file on a loader thread and
//! feeds the engine through a lock-free chunk queue, and
//! [`pcmring::engine::Engine`] keeps the ring filled just ahead of the
//! hardware with an automatic margin (wake-up jitter probe; grown on an
//! underrun).

use crate::demo;
use crate::output::{self, Choice, Output, Request};
use crate::signal::{self, Ending};
use crate::status::{clock_time, frames_ms, progress_bar, StatusLine};
use crate::stream::{self, StreamPlan, WavSource};
use clap::Parser;
use pcmring::engine::{EngineConfig, Margin};
use pcmring::reserve::{OnRequest, ReserveConfig};
use pcmring::{Format, StreamLayout};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const AFTER_HELP: &str = "\
Examples:
  play                                  the demo (assets/demo.wav), best device
  play music.wav                        the first sound card (sim if there is none)
  play --device hw:1,0 music.wav        a given card (hw:CARD,DEVICE[,SUB])
  play --device sim --out /tmp/o.wav x.wav
                                        the simulated device, recorded to a WAV
  play --connect /run/pcmring.sock x.wav
                                        through a pcmring-broker

On a desktop, play takes the card from the sound server (PipeWire,
PulseAudio) the way JACK does, through the device reservation protocol on
the session bus, and gives it back when it ends; other programs' sound
pauses meanwhile. If a program with a higher priority asks for the card,
play stops and hands it over. --no-reserve opens the card without asking.
If the card is busy and its holder keeps it, play names the holder and
stops; it never falls back to the simulated device silently.

On the simulated device (no sound card, or --device sim) nothing is
heard: what the device played is written to the --out WAV file instead.
Ctrl-C stops cleanly (the recording is still written).";

/// Plays a WAV file with the lowest latency the device sustains.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "play",
    about = "Plays a WAV file through pcmring with the lowest latency the device sustains",
    after_help = AFTER_HELP
)]
pub struct PlayArgs {
    /// The WAV file: PCM 8/16/24/32-bit or 32-bit float, any rate and
    /// channel count (converted to the device's). Default: the demo,
    /// assets/demo.wav.
    #[arg(value_name = "FILE.wav")]
    pub file: Option<PathBuf>,

    /// Output device: hw:CARD,DEVICE[,SUB] (e.g. hw:1,0 or hw:Loopback,0),
    /// `sim` (the simulated device) or `auto` (default: the first sound
    /// card, taken from the sound server; sim if there is no card).
    #[arg(long, short = 'd', value_name = "hw:X,Y|sim|auto")]
    pub device: Option<String>,

    /// Play through a pcmring-broker listening on SOCKET (a path, or
    /// @name for an abstract socket).
    #[arg(long, short = 'c', value_name = "SOCKET", conflicts_with = "device")]
    pub connect: Option<String>,

    /// Where the simulated device writes what it played [default:
    /// target/pcmring-play.wav in the source tree].
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Frames per render block.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=16384))]
    pub block: u32,

    /// Keep this many frames written ahead of the device, instead of the
    /// automatic margin (sized from a wake-up jitter probe).
    #[arg(long, value_name = "FRAMES", value_parser = clap::value_parser!(u64).range(1..))]
    pub margin: Option<u64>,

    /// Period size to ask the device for, in frames (a card grants the
    /// nearest it supports).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(16..=65536))]
    pub period: u32,

    /// Ring size to ask the device for, in frames.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(64..=1048576))]
    pub buffer: u32,

    /// Do not ask for SCHED_FIFO for the realtime thread.
    #[arg(long)]
    pub no_realtime: bool,

    /// Open the card without asking the sound server for it (device
    /// reservation on the session bus); a card the server holds is then
    /// busy.
    #[arg(long)]
    pub no_reserve: bool,

    /// The priority to ask the card's holder with (it gives the card only
    /// to a higher priority than its own: PipeWire -20, PulseAudio 0,
    /// JACK never). Programs asking play with a higher one get the card.
    #[arg(long, value_name = "N", default_value_t = pcmring::reserve::ReserveConfig::DEFAULT_PRIORITY,
          allow_negative_numbers = true)]
    pub reserve_priority: i32,

    /// No live status line: only the set-up lines and the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What the simulated device recorded.
#[derive(Debug, Clone)]
pub struct RecordingInfo {
    /// The WAV file written.
    pub path: PathBuf,
    /// The device frame of the recording's first frame.
    pub start_frame: u64,
    /// Frames recorded.
    pub frames: usize,
    /// Whether the recording stopped early (its memory was full).
    pub truncated: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The device description.
    pub device: String,
    /// The device's stream layout.
    pub layout: StreamLayout,
    /// The file's format.
    pub spec: hound::WavSpec,
    /// Frames in the file (file rate).
    pub file_frames: u64,
    /// Frames the file converts to at the device rate.
    pub total_frames: u64,
    /// File frames (device rate) handed to the engine.
    pub played_frames: u64,
    /// Device frame at which the file's first frame played.
    pub first_frame: Option<u64>,
    /// Device frame just after the file's last frame.
    pub end_frame: Option<u64>,
    /// Engine underruns.
    pub xruns: u64,
    /// Frames of silence because the loader was behind.
    pub starved_frames: u64,
    /// Times the loader fell behind (each leaves one gap of silence).
    pub starved_events: u64,
    /// Frames the hardware played that the engine had not written.
    pub xrun_frames: u64,
    /// The margin the engine kept at the end, frames.
    pub margin_frames: u64,
    /// Stopped by Ctrl-C (or SIGTERM).
    pub interrupted: bool,
    /// The simulated device's recording, when it played there.
    pub recording: Option<RecordingInfo>,
    /// Why the file ended early, if it did.
    pub loader_error: Option<String>,
}

/// The example's `main`: parses the command line, plays, prints the
/// summary; exit code 0 when the file played out, 130 after Ctrl-C, 1 on
/// an error, 2 on a bad command line.
pub fn main() -> ExitCode {
    let args = PlayArgs::parse();
    signal::run_main("play", || {
        Ok(Ending::from_interrupted(run(&args)?.interrupted))
    })
}

/// The ring format that keeps a file's samples exact on the simulated
/// device.
fn sim_format(spec: &hound::WavSpec) -> Format {
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, _) => Format::F32Le,
        (_, 0..=16) => Format::S16Le,
        (_, 17..=24) => Format::S24Le,
        _ => Format::S32Le,
    }
}

pub use crate::session::default_out;

/// At most this many bytes of recording memory (taken up front).
const MAX_RECORDING_BYTES: usize = 256 << 20;

/// Plays `args.file`; see the module docs. Prints the set-up, the status
/// line (unless quiet) and the summary to stdout.
pub fn run(args: &PlayArgs) -> Result<Summary, String> {
    let path = match &args.file {
        Some(p) => p.clone(),
        None => {
            let p = demo::asset_path().to_path_buf();
            if !p.exists() {
                demo::write(&p)
                    .map_err(|e| format!("cannot write the demo {}: {e}", p.display()))?;
            }
            p
        }
    };
    let choice = Choice::from_args(args.device.as_deref(), args.connect.as_deref())?;
    let source = WavSource::open(&path)?;
    let spec = source.spec();
    let file_frames = source.frames();
    let format = sim_format(&spec);
    let frame_bytes = format.sample_bytes() * usize::from(spec.channels);
    let want_frames = file_frames + u64::from(spec.sample_rate) * 8;
    let cap = MAX_RECORDING_BYTES / frame_bytes.max(1);
    let record_frames = usize::try_from(want_frames).unwrap_or(usize::MAX).min(cap);
    let req = Request {
        channels: u32::from(spec.channels),
        rate: spec.sample_rate,
        sim_format: format,
        period: u64::from(args.period),
        buffer: u64::from(args.buffer),
        sim_out: args
            .out
            .clone()
            .unwrap_or_else(|| default_out("pcmring-play.wav")),
        sim_record_frames: record_frames,
        reserve: if args.no_reserve {
            ReserveConfig::disabled()
        } else {
            // Give the card up to a program with a higher priority: stop
            // and say so (the loop below watches for it).
            ReserveConfig {
                on_request: OnRequest::release(),
                priority: args.reserve_priority,
                ..ReserveConfig::new("pcmring play")
            }
        },
    };
    println!(
        "file:   {} ({} Hz, {} ch, {}-bit {}, {})",
        path.display(),
        spec.sample_rate,
        spec.channels,
        spec.bits_per_sample,
        if spec.sample_format == hound::SampleFormat::Float {
            "float"
        } else {
            "int"
        },
        clock_time(source.duration_secs())
    );
    let out = output::open(&choice, &req)?;
    crate::session::print_output(&out);
    if out.sim.is_none() && args.out.is_some() {
        println!("note:   --out only applies to the simulated device: nothing is recorded");
    }
    if out.sim.is_some() && (record_frames as u64) < want_frames {
        println!(
            "note:   the recording keeps only the first {} (memory cap)",
            clock_time(record_frames as f64 / f64::from(spec.sample_rate))
        );
    }
    let layout = out.layout();
    if layout.rate != spec.sample_rate || layout.channels != u32::from(spec.channels) {
        println!(
            "note:   converting {} Hz {} ch to the device's {} Hz {} ch",
            spec.sample_rate, spec.channels, layout.rate, layout.channels
        );
    }
    play_on(args, out, source, spec, file_frames)
}

fn play_on(
    args: &PlayArgs,
    out: Output,
    source: WavSource<std::io::BufReader<std::fs::File>>,
    spec: hound::WavSpec,
    file_frames: u64,
) -> Result<Summary, String> {
    let Output {
        device,
        mut sim,
        sim_out,
        label,
        reservation,
        ..
    } = out;
    let layout = pcmring::Device::layout(&device);
    let rate = layout.rate;
    let plan = StreamPlan::new(layout.channels as usize, rate, Duration::from_millis(500));
    let (renderer, loader, shared) = stream::start(source, plan)?;
    if !loader.wait_ready(Duration::from_secs(10)) {
        return Err("the file could not be read ahead within 10 s".into());
    }
    let config = EngineConfig {
        name: engine_name(args),
        block_frames: args.block as usize,
        margin: match args.margin {
            Some(f) => Margin::Frames(f),
            None => Margin::Auto {
                probe: Duration::from_millis(200),
            },
        },
        fifo_priority: (!args.no_realtime).then_some(80),
        ..EngineConfig::default()
    };
    let engine = crate::session::start_engine(device, &mut sim, renderer, config)?;

    let mut status = StatusLine::new(Duration::from_secs(1));
    let clock = engine.clock();
    let total = shared.total_frames();
    let duration = total as f64 / f64::from(rate);
    let mut interrupted = false;
    let mut failure = None;
    let mut last_move = (clock.now_frames(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if signal::interrupted() {
            interrupted = true;
            break;
        }
        // Another program with a higher priority asked for the card: it
        // waits until the engine has stopped and the card is closed.
        if let Some(p) = reservation.as_ref().and_then(|w| w.release_requested()) {
            failure = Some(format!(
                "another program (priority {p}) asked for the card: stopped and handed it over"
            ));
            break;
        }
        if !engine.is_running() {
            failure = Some(
                engine
                    .error()
                    .unwrap_or_else(|| "the engine stopped".to_owned()),
            );
            break;
        }
        // Done once the device itself reports the last frame consumed:
        // the interpolated clock runs up to a granule ahead of that, and
        // stopping on it cut the tail off the capture in the VM.
        if shared
            .end_frame()
            .is_some_and(|end| clock.reported_frames() >= end)
        {
            break;
        }
        let now = clock.now_frames();
        if now != last_move.0 {
            last_move = (now, Instant::now());
        } else if last_move.1.elapsed() > Duration::from_secs(3) {
            failure = Some("the device position stopped moving for 3 s".to_owned());
            break;
        }
        if !args.quiet {
            let t = engine.telemetry().snapshot();
            let pos = shared
                .first_frame()
                .map_or(0, |f| now.saturating_sub(f).min(total));
            let starved = shared.starved_frames();
            let text = format!(
                "{} {}/{}  margin {} fr {:.1} ms  lead {}  xruns {}{}",
                progress_bar(pos as f64 / total.max(1) as f64, 16),
                clock_time(pos as f64 / f64::from(rate)),
                clock_time(duration),
                t.margin_frames,
                frames_ms(t.margin_frames as f64, rate),
                t.lead_frames,
                t.xruns,
                if starved > 0 {
                    format!("  starved {starved} fr")
                } else {
                    String::new()
                },
            );
            status.update(&text);
        }
    }
    status.end_line();
    if interrupted {
        println!("stopped: Ctrl-C");
    }
    let t = engine.telemetry().snapshot();
    let stop = engine.stop();
    let loader_error = loader.finish().err();
    let report = Output::finish_sim(sim);
    if let Some(f) = failure {
        return Err(match stop {
            Err(e) => format!("playback failed: {e}"),
            Ok(()) => format!("playback failed: {f}"),
        });
    }
    let report = report?;
    let recording = match (report, sim_out) {
        (Some(r), Some(path)) => Some(RecordingInfo {
            path,
            start_frame: r.recording.start_frame(),
            frames: r.recording.frames(),
            truncated: r.recording.is_truncated(),
        }),
        _ => None,
    };
    let summary = Summary {
        device: label,
        layout,
        spec,
        file_frames,
        total_frames: total,
        played_frames: shared.played_frames(),
        first_frame: shared.first_frame(),
        end_frame: shared.end_frame(),
        xruns: t.xruns,
        starved_frames: shared.starved_frames(),
        starved_events: shared.starved_events(),
        xrun_frames: t.xrun_frames,
        margin_frames: t.margin_frames,
        interrupted,
        recording,
        loader_error,
    };
    print_summary(&summary, &t);
    Ok(summary)
}

fn engine_name(args: &PlayArgs) -> String {
    match (&args.device, &args.connect) {
        (_, Some(_)) => "broker".to_owned(),
        (Some(d), None) => d.clone(),
        (None, None) => "play".to_owned(),
    }
}

fn print_summary(s: &Summary, t: &pcmring::engine::TelemetrySnapshot) {
    let rate = s.layout.rate;
    let secs = |f: u64| clock_time(f as f64 / f64::from(rate));
    println!(
        "played: {} of {} ({} of {} frames) on {}",
        secs(s.played_frames),
        secs(s.total_frames),
        s.played_frames,
        s.total_frames,
        s.device
    );
    println!(
        "        xruns {}, loader underruns {} frames, margin {} frames ({:.2} ms), \
         smallest lead {} frames",
        s.xruns,
        s.starved_frames,
        s.margin_frames,
        frames_ms(s.margin_frames as f64, rate),
        t.min_lead_frames
            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
    );
    println!(
        "        render p50 {:.1} us p99 {:.1} us, wake-up lateness p50 {:.1} us p99 {:.1} us \
         max {:.1} us",
        t.render_ns.percentile(50.0) as f64 / 1e3,
        t.render_ns.percentile(99.0) as f64 / 1e3,
        t.wake_late_ns.percentile(50.0) as f64 / 1e3,
        t.wake_late_ns.percentile(99.0) as f64 / 1e3,
        t.wake_late_ns.max() as f64 / 1e3,
    );
    if let Some(e) = &s.loader_error {
        println!("note:   the file ended early: {e}");
    }
    if let Some(r) = &s.recording {
        let offset = s
            .first_frame
            .map(|f| f.saturating_sub(r.start_frame).to_string())
            .unwrap_or_else(|| "-".to_owned());
        println!(
            "wrote:  {} ({} frames, {} {}ch {} Hz; the file starts at frame {}){}",
            r.path.display(),
            r.frames,
            s.layout.format,
            s.layout.channels,
            rate,
            offset,
            if r.truncated { " [truncated]" } else { "" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        let a = PlayArgs::try_parse_from(["play", "--device", "sim", "x.wav"]).expect("parse");
        assert_eq!(a.device.as_deref(), Some("sim"));
        assert_eq!(a.block, 64);
        assert!(PlayArgs::try_parse_from(["play", "--block", "0"]).is_err());
        assert!(PlayArgs::try_parse_from(["play", "--block", "lots"]).is_err());
        assert!(PlayArgs::try_parse_from(["play", "-d", "sim", "--connect", "@x"]).is_err());
        assert!(PlayArgs::try_parse_from(["play", "--bogus"]).is_err());
    }

    #[test]
    fn sim_formats_keep_samples_exact() {
        let mut s = demo::spec();
        assert_eq!(sim_format(&s), Format::S16Le);
        s.bits_per_sample = 24;
        assert_eq!(sim_format(&s), Format::S24Le);
        s.sample_format = hound::SampleFormat::Float;
        s.bits_per_sample = 32;
        assert_eq!(sim_format(&s), Format::F32Le);
    }

    #[test]
    fn a_missing_or_bad_file_is_a_clear_error() {
        let args = PlayArgs::try_parse_from(["play", "-d", "sim", "-q", "/nonexistent/a.wav"])
            .expect("parse");
        let e = run(&args).unwrap_err();
        assert!(e.contains("cannot open /nonexistent/a.wav"), "{e}");
        let junk = std::env::temp_dir().join(format!("pcmring-junk-{}.wav", std::process::id()));
        std::fs::write(&junk, b"this is not a wav file").expect("write");
        let args = PlayArgs::try_parse_from(["play", "-d", "sim", "-q"])
            .map(|mut a| {
                a.file = Some(junk.clone());
                a
            })
            .expect("parse");
        let e = run(&args).unwrap_err();
        let _ = std::fs::remove_file(&junk);
        assert!(e.contains("not a WAV file"), "{e}");
    }
}
