//! `pcmring-broker`: owns a playback stream and leases it, one client at a
//! time, as a restricted buffer-mode fd over a Unix socket.
//!
//! See `docs/broker.md` for running it as a systemd service and
//! `docs/wire-format.md` for the protocol.

use clap::Parser;
use pcmring::pcm::{BufferSize, Config, StartTogether};
use pcmring::sim::{SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use pcmring_broker::{
    daemon, install_signal_handlers, AccessPolicy, Broker, BrokerConfig, LeaseSource, Listener,
    PcmSource, SimSource, SocketAddr,
};
use std::process::ExitCode;
use std::time::Duration;

/// Leases an ALSA playback stream (or the simulated device) to one client
/// at a time, as a restricted buffer-mode fd over a Unix socket.
#[derive(Debug, Parser)]
#[command(
    name = "pcmring-broker",
    version,
    about = "Leases an ALSA playback stream (or the simulated device) to one client at a time, \
             as a restricted buffer-mode fd over a Unix socket"
)]
struct Args {
    /// What to lease: `hw:CARD,DEVICE[,SUB]` (CARD an index or an id, e.g.
    /// hw:Loopback,0) or `sim` for the simulated device.
    #[arg(long, short = 'd', value_name = "hw:X,Y|sim")]
    device: String,

    /// Also lease this capture device (`hw:CARD,DEVICE[,SUB]`, of the same
    /// card): clients may then ask for capture or for a duplex pair. Both
    /// streams are opened with the same settings and started together,
    /// linked when the kernel allows it.
    #[arg(long, short = 'c', value_name = "hw:X,Y")]
    capture: Option<String>,

    /// Where to listen: a path, or `@name` for an abstract socket. Ignored
    /// under systemd socket activation (LISTEN_FDS).
    #[arg(
        long,
        short = 's',
        value_name = "PATH|@NAME",
        default_value = "/run/pcmring.sock"
    )]
    socket: String,

    /// Allow this uid (repeatable; a number or a user name). Default: the
    /// broker's own uid and root.
    #[arg(long = "allow-uid", value_name = "UID")]
    allow_uid: Vec<String>,

    /// Allow this gid, primary or supplementary (repeatable; a number or a
    /// group name, e.g. audio).
    #[arg(long = "allow-gid", value_name = "GID")]
    allow_gid: Vec<String>,

    /// Sample rate in Hz.
    #[arg(long, default_value_t = 48_000)]
    rate: u32,

    /// Sample format: S16_LE, S24_LE, S24_3LE, S32_LE or FLOAT_LE
    /// (hardware: default the first the device supports).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,

    /// Channels.
    #[arg(long, default_value_t = 2)]
    channels: u32,

    /// Frames per period.
    #[arg(long, default_value_t = 256)]
    period: u64,

    /// Periods in the ring.
    #[arg(long, default_value_t = 4)]
    periods: u32,

    /// Clients that may wait in line while the stream is leased.
    #[arg(long, default_value_t = 8)]
    max_queue: usize,

    /// Milliseconds a new connection has to say hello.
    #[arg(long, default_value_t = 2000)]
    hello_timeout_ms: u64,

    /// Permissions of a filesystem socket, octal (e.g. 660).
    #[arg(long, value_name = "MODE")]
    socket_mode: Option<String>,

    /// Group of a filesystem socket (a number or a name).
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,

    /// Log every lease granted and ended, not only refusals.
    #[arg(long, short = 'v')]
    verbose: bool,

    /// Open the card without reserving it from the desktop's sound server
    /// (org.freedesktop.ReserveDevice1 on the session bus).
    #[arg(long)]
    no_reserve: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::ALL
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!("unknown format {s:?}: use S16_LE, S24_LE, S24_3LE, S32_LE or FLOAT_LE")
        })
}

fn bind(args: &Args, addr: &SocketAddr) -> Result<Listener, String> {
    let group = args
        .socket_group
        .as_deref()
        .map(daemon::lookup_group)
        .transpose()?;
    let mode = args
        .socket_mode
        .as_deref()
        .map(|m| u32::from_str_radix(m, 8).map_err(|_| format!("bad octal mode {m:?}")))
        .transpose()?;
    daemon::listen(addr, group, mode)
}

/// The lease source, the capture source (and whether it was started
/// linked with the first), and the card's reservation (device
/// reservation, issue 17) to keep until the sources are dropped.
type Opened = (
    Box<dyn LeaseSource>,
    Option<(Box<dyn LeaseSource + Send>, bool)>,
    Option<pcmring::reserve::Reservation>,
);

fn open_source(args: &Args) -> Result<Opened, String> {
    let format = args.format.as_deref().map(parse_format).transpose()?;
    if args.device == "sim" {
        if args.capture.is_some() {
            return Err(
                "--capture needs a hardware --device (the simulated device only plays)".into(),
            );
        }
        let buffer = args.period * u64::from(args.periods);
        let layout = StreamLayout {
            format: format.unwrap_or(Format::S16Le),
            channels: args.channels,
            rate: args.rate,
            period_size: args.period,
            buffer_size: buffer,
            boundary: buffer << 20,
        };
        let dac = SimDac::start(SimConfig::new(layout)).map_err(|e| e.to_string())?;
        return Ok((
            Box::new(SimSource::new(dac).map_err(|e| e.to_string())?),
            None,
            None,
        ));
    }
    let config = Config {
        format,
        channels: args.channels,
        rate: args.rate,
        period_size: args.period,
        buffer: BufferSize::Periods(args.periods),
        ..Config::default()
    };
    // [reserve] Take the card from the desktop's sound server for as long
    // as the broker runs (refusing requests from others), unless told not to.
    let reserve = if args.no_reserve {
        pcmring::reserve::ReserveConfig::disabled()
    } else {
        pcmring::reserve::ReserveConfig::new("pcmring-broker")
    };
    let reservation =
        pcmring::reserve::reserve_device(&args.device, &reserve).map_err(|e| e.to_string())?;
    if let Some(note) = reservation.note().filter(|_| !args.no_reserve) {
        eprintln!("pcmring-broker: {note}");
    }
    let explain = |e| reservation.explain(e).to_string();
    let (mut pcm, capture) = match &args.capture {
        None => (
            PcmSource::open(&args.device, &config).map_err(explain)?,
            None,
        ),
        Some(cap) => {
            let (play, cap, started) =
                PcmSource::open_duplex(&args.device, cap, &config).map_err(explain)?;
            let linked = started == StartTogether::Linked;
            if let StartTogether::Unlinked { reason } = started {
                eprintln!("pcmring-broker: playback and capture not linked: {reason}");
            }
            (play, Some((cap, linked)))
        }
    };
    // Fail now, not at the first client, when restricted fds are unavailable.
    pcm.lease_fds().map_err(|e| e.to_string())?;
    let capture = match capture {
        Some((mut cap, linked)) => {
            cap.lease_fds().map_err(|e| e.to_string())?;
            Some((Box::new(cap) as Box<dyn LeaseSource + Send>, linked))
        }
        None => None,
    };
    Ok((Box::new(pcm), capture, Some(reservation)))
}

fn run(args: Args) -> Result<(), String> {
    let mut policy = AccessPolicy::default();
    for u in &args.allow_uid {
        policy.uids.push(daemon::lookup_user(u)?);
    }
    for g in &args.allow_gid {
        policy.gids.push(daemon::lookup_group(g)?);
    }
    let addr = SocketAddr::parse(&args.socket);
    // `_reservation` outlives `broker` (dropped in reverse order): the card
    // is closed before its reservation is released.
    let (source, capture, _reservation) = open_source(&args)?;
    let listener = bind(&args, &addr)?;
    let config = BrokerConfig {
        policy,
        max_queue: args.max_queue,
        hello_timeout: Duration::from_millis(args.hello_timeout_ms),
        verbose: args.verbose,
        ..BrokerConfig::default()
    };
    eprintln!(
        "pcmring-broker: leasing {} on {} (uids {:?}, gids {:?})",
        source.describe(),
        listener.addr(),
        config.policy.uids,
        config.policy.gids
    );
    if let Some((c, linked)) = &capture {
        let how = if *linked { "linked" } else { "not linked" };
        eprintln!("pcmring-broker: and capture {} ({how})", c.describe());
    }
    let mut broker = Broker::new(listener, source, config).map_err(|e| e.to_string())?;
    if let Some((c, linked)) = capture {
        broker = broker.with_capture(c, linked);
    }
    install_signal_handlers(&broker.stop_handle()).map_err(|e| e.to_string())?;
    broker.run().map_err(|e| format!("broker loop: {e}"))
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcmring-broker: {e}");
            ExitCode::FAILURE
        }
    }
}
