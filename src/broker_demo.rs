//! The broker-and-client example in one process: a `pcmring-broker` runs
//! on a thread (the same library the `pcmring-broker` binary uses),
//! leasing the simulated device (or a card), and the player connects to
//! it as a client and plays a file through the lease. With the simulated
//! device, the broker's device records what it played and the run checks
//! the recording against the file.
//!
//! The two-command form runs the broker binary and connects to it:
//!
//! ```text
//! cargo run -p pcmring-broker -- --device sim --socket /tmp/pcmring.sock
//! cargo run --example broker_client -- --connect /tmp/pcmring.sock
//! ```

use crate::demo;
use crate::play::{self, PlayArgs, Summary};
use crate::signal::{self, Ending};
use crate::stream::WavSource;
use clap::Parser;
use pcmring::pcm::{BufferSize, Config};
use pcmring::sim::{SimConfig, SimDac, SimReport};
use pcmring::{Format, StreamLayout};
use pcmring_broker::{
    Broker, BrokerConfig, LeaseSource, Listener, PcmSource, SimSource, SocketAddr, StopHandle,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread::JoinHandle;

const AFTER_HELP: &str = "\
One command (broker on a thread, on the simulated device, plus a client):
  cargo run --example broker_client [-- FILE.wav]
  cargo run --example broker_client -- --device hw:Loopback,0   (needs /dev/snd/anondup)

Two commands (the broker binary, then a client):
  cargo run -p pcmring-broker -- --device sim --socket /tmp/pcmring.sock
  cargo run --example broker_client -- --connect /tmp/pcmring.sock [FILE.wav]
  (the same as: cargo run --example play -- --connect /tmp/pcmring.sock FILE.wav)";

/// Starts a broker and plays a file through it as a client.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "broker_client",
    about = "Runs a pcmring broker on a device and plays a WAV file through it as a client",
    after_help = AFTER_HELP
)]
pub struct BrokerArgs {
    /// The WAV file to play (default: the demo, assets/demo.wav).
    #[arg(value_name = "FILE.wav")]
    pub file: Option<PathBuf>,

    /// What the in-process broker leases: `sim` (default) or
    /// hw:CARD,DEVICE (needs the anondup module for restricted fds).
    #[arg(long, short = 'd', value_name = "sim|hw:X,Y")]
    pub device: Option<String>,

    /// Where the in-process broker listens [default: an abstract socket
    /// @pcmring-example-<pid>].
    #[arg(long, short = 's', value_name = "PATH|@NAME")]
    pub socket: Option<String>,

    /// Client only: connect to a broker already running on SOCKET (the
    /// two-command form).
    #[arg(long, short = 'c', value_name = "SOCKET", conflicts_with_all = ["device", "socket", "out"])]
    pub connect: Option<String>,

    /// Where the broker's simulated device writes what it played
    /// [default: target/pcmring-broker.wav in the source tree].
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Frames per render block (client).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=512))]
    pub block: u32,

    /// A fixed margin in frames instead of the automatic one (client).
    #[arg(long, value_name = "FRAMES", value_parser = clap::value_parser!(u64).range(1..))]
    pub margin: Option<u64>,

    /// No live status line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What a run did.
#[derive(Debug)]
pub struct BrokerSummary {
    /// The client's playback summary.
    pub play: Summary,
    /// The in-process broker's simulated device, stopped (with its
    /// recording), when it ran one.
    pub sim: Option<SimReport>,
    /// The recording, if checked: whether it holds the file bit for bit
    /// at the client's start offset.
    pub bit_exact: Option<bool>,
}

/// The example's `main`.
pub fn main() -> ExitCode {
    let args = BrokerArgs::parse();
    signal::run_main("broker_client", || {
        let s = run(&args)?;
        Ok(if s.play.interrupted {
            Ending::Interrupted
        } else if s.bit_exact == Some(false) {
            Ending::CheckFailed
        } else {
            Ending::Finished
        })
    })
}

/// The broker's stream: 48 kHz stereo S16, 128-frame periods.
fn broker_layout() -> StreamLayout {
    StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 128,
        buffer_size: 4096,
        boundary: 4096 << 20,
    }
}

/// A broker serving on its own thread.
struct Running {
    stop: StopHandle,
    thread: JoinHandle<Result<Option<SimDac>, String>>,
}

impl Running {
    fn finish(self) -> Result<Option<SimDac>, String> {
        self.stop.stop();
        self.thread
            .join()
            .map_err(|_| "the broker thread panicked".to_string())?
    }
}

fn serve<S: LeaseSource>(
    listener: Listener,
    source: S,
    ready: &mpsc::Sender<Result<StopHandle, String>>,
) -> Result<S, String> {
    let config = BrokerConfig {
        verbose: true,
        ..BrokerConfig::default()
    };
    let mut broker = match Broker::new(listener, source, config) {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("cannot start the broker: {e}");
            let _ = ready.send(Err(msg.clone()));
            return Err(msg);
        }
    };
    let _ = ready.send(Ok(broker.stop_handle()));
    broker.run().map_err(|e| format!("broker loop: {e}"))?;
    Ok(broker.into_source())
}

/// Starts the broker thread on `device` at `addr`.
fn start_broker(
    device: &str,
    addr: &SocketAddr,
    wav: PathBuf,
    record_frames: usize,
) -> Result<Running, String> {
    let (tx, rx) = mpsc::channel();
    let listener = Listener::bind(addr, 16).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let thread = if device.eq_ignore_ascii_case("sim") {
        let mut config = SimConfig::new(broker_layout());
        config.record_frames = record_frames;
        config.wav = Some(wav);
        let dac = SimDac::start(config).map_err(|e| format!("simulated device: {e}"))?;
        let source = SimSource::new(dac).map_err(|e| format!("simulated device: {e}"))?;
        std::thread::Builder::new()
            .name("pcmring-broker".into())
            .spawn(move || serve(listener, source, &tx).map(|s| Some(s.into_dac())))
    } else {
        let l = broker_layout();
        let config = Config {
            format: None,
            channels: l.channels,
            rate: l.rate,
            period_size: l.period_size,
            buffer: BufferSize::Frames(l.buffer_size),
            ..Config::default()
        };
        // [reserve] Take the card from the sound server while serving.
        let reserve = pcmring::reserve::ReserveConfig::new("pcmring broker_client");
        let reservation =
            pcmring::reserve::reserve_device(device, &reserve).map_err(|e| e.to_string())?;
        let mut source = PcmSource::open(device, &config)
            .map_err(|e| format!("{device}: {}", reservation.explain(e)))?;
        // Fail now, not at the client, when restricted fds are unavailable.
        source
            .lease_fds()
            .map_err(|e| format!("{device}: cannot make a restricted fd: {e}"))?;
        std::thread::Builder::new()
            .name("pcmring-broker".into())
            .spawn(move || {
                // `serve` drops the source (closing the card) before the
                // reservation goes.
                let served = serve(listener, source, &tx).map(|_| None);
                drop(reservation);
                served
            })
    }
    .map_err(|e| format!("cannot start the broker thread: {e}"))?;
    match rx.recv() {
        Ok(Ok(stop)) => Ok(Running { stop, thread }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err("the broker thread died at start".into()),
        },
    }
}

/// Runs the example; see the module docs.
pub fn run(args: &BrokerArgs) -> Result<BrokerSummary, String> {
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| demo::asset_path().to_path_buf());
    let mut pargs = PlayArgs::try_parse_from(["play"]).map_err(|e| e.to_string())?;
    pargs.file = Some(file.clone());
    pargs.block = args.block;
    pargs.margin = args.margin;
    pargs.quiet = args.quiet;
    if let Some(sock) = &args.connect {
        pargs.connect = Some(sock.clone());
        let play = play::run(&pargs)?;
        return Ok(BrokerSummary {
            play,
            sim: None,
            bit_exact: None,
        });
    }
    if !file.exists() && args.file.is_none() {
        demo::write(&file).map_err(|e| format!("cannot write the demo: {e}"))?;
    }
    let source = WavSource::open(&file)?;
    let secs = source.duration_secs();
    let wanted = source.spec();
    drop(source);
    let device = args.device.clone().unwrap_or_else(|| "sim".to_owned());
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| format!("@pcmring-example-{}", std::process::id()));
    let addr = SocketAddr::parse(&socket);
    let wav = args
        .out
        .clone()
        .unwrap_or_else(|| play::default_out("pcmring-broker.wav"));
    if let Some(dir) = wav.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let record_frames = ((secs.min(1200.0) + 10.0) * 48_000.0) as usize;
    let broker = start_broker(&device, &addr, wav.clone(), record_frames)?;
    println!("broker: leasing {device} on {socket} (in this process, on a thread)");
    pargs.connect = Some(socket);
    let played = play::run(&pargs);
    let dac = broker.finish();
    let play = played?;
    let sim = match dac? {
        Some(d) => Some(d.stop().map_err(|e| format!("simulated device: {e}"))?),
        None => None,
    };
    let mut bit_exact = None;
    if let Some(report) = &sim {
        let rec = &report.recording;
        println!(
            "broker: its simulated device wrote {} ({} frames)",
            wav.display(),
            rec.frames()
        );
        let l = broker_layout();
        let comparable = u32::from(wanted.channels) == l.channels
            && wanted.sample_rate == l.rate
            && wanted.bits_per_sample == 16
            && wanted.sample_format == hound::SampleFormat::Int;
        if comparable && !play.interrupted {
            let ok = matches_file(&file, rec, &play)?;
            bit_exact = Some(ok);
        }
    }
    Ok(BrokerSummary {
        play,
        sim,
        bit_exact,
    })
}

/// Whether `rec` holds the 16-bit file's samples exactly from the
/// client's first frame, every gap coinciding with an xrun the engine
/// counted or a loader starvation ([`crate::gaps`]); prints the verdict.
fn matches_file(
    file: &std::path::Path,
    rec: &pcmring::sim::Recording,
    play: &play::Summary,
) -> Result<bool, String> {
    let Some(first) = play.first_frame else {
        return Ok(false);
    };
    let mut r = hound::WavReader::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let input = r
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let Some(offset) = first.checked_sub(rec.start_frame()) else {
        return Ok(false);
    };
    let fb = rec.layout().frame_bytes();
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .saturating_mul(fb);
    let Some(bytes) = rec.bytes().get(start..) else {
        return Ok(false);
    };
    let played: Vec<i32> = bytes
        .chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let input: Vec<i32> = input.into_iter().map(i32::from).collect();
    let excused = play.xruns + play.starved_events;
    let ok = match crate::gaps::compare_with_gaps(&played, &input, rec.layout().channels as usize) {
        Ok(r) if r.discontinuities <= excused => {
            println!(
                "check:  the recording holds the file bit for bit after the start offset \
                 ({} gap(s), each at an xrun or a loader underrun: {} xrun(s), {} loader \
                 underrun(s); {} frame(s) of the file skipped)",
                r.discontinuities, play.xruns, play.starved_events, r.skipped_frames
            );
            true
        }
        Ok(r) => {
            println!(
                "check:  the recording does NOT hold the file: {} gap(s) but only {excused} \
                 xrun(s) and loader underrun(s) to explain them",
                r.discontinuities
            );
            false
        }
        Err(e) => {
            println!("check:  the recording does NOT hold the file: {e}");
            false
        }
    };
    Ok(ok)
}
