//! `pcmring-broker`: owns a playback stream and leases it, one client at a
//! time, as a restricted buffer-mode fd over a Unix socket.
//!
//! See `docs/broker.md` for running it as a systemd service and
//! `docs/wire-format.md` for the protocol.

use clap::Parser;
use pcmring::broker::source::{PcmSource, SimSource};
use pcmring::broker::{
    install_signal_handlers, AccessPolicy, Broker, BrokerConfig, LeaseSource, Listener, SocketAddr,
};
use pcmring::pcm::{BufferSize, Config};
use pcmring::sim::{SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
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
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::ALL
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!("unknown format {s:?}: use S16_LE, S24_LE, S24_3LE, S32_LE or FLOAT_LE")
        })
}

fn lookup_id(s: &str, group: bool) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    let name = CString::new(s).map_err(|_| format!("bad name {s:?}"))?;
    // SAFETY: single-threaded at startup; the returned pointers are read
    // at once, before any other passwd/group call.
    unsafe {
        if group {
            let g = libc::getgrnam(name.as_ptr());
            if !g.is_null() {
                return Ok((*g).gr_gid);
            }
        } else {
            let p = libc::getpwnam(name.as_ptr());
            if !p.is_null() {
                return Ok((*p).pw_uid);
            }
        }
    }
    Err(format!(
        "no such {} {s:?}",
        if group { "group" } else { "user" }
    ))
}

/// The socket systemd passed us (socket activation), if any.
fn systemd_listener(addr: &SocketAddr) -> Result<Option<Listener>, String> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_ok || fds < 1 {
        return Ok(None);
    }
    if fds > 1 {
        return Err(format!("systemd passed {fds} sockets, expected one"));
    }
    // SAFETY: systemd passes the listening socket as fd 3 (SD_LISTEN_FDS_START)
    // and nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(3) };
    // SAFETY: plain fcntl on our fd.
    unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
    Listener::from_fd(fd, addr.clone())
        .map(Some)
        .map_err(|e| format!("socket from systemd: {e}"))
}

fn bind(args: &Args, addr: &SocketAddr) -> Result<Listener, String> {
    if let Some(l) = systemd_listener(addr)? {
        return Ok(l);
    }
    let listener = Listener::bind(addr, 64).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    if let SocketAddr::Path(p) = addr {
        let path = CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| "socket path contains NUL".to_string())?;
        if let Some(g) = &args.socket_group {
            let gid = lookup_id(g, true)?;
            // SAFETY: valid C path; -1 keeps the owner.
            if unsafe { libc::chown(path.as_ptr(), u32::MAX, gid) } != 0 {
                return Err(format!(
                    "chown {}: {}",
                    p.display(),
                    std::io::Error::last_os_error()
                ));
            }
        }
        if let Some(m) = &args.socket_mode {
            let mode = u32::from_str_radix(m, 8).map_err(|_| format!("bad octal mode {m:?}"))?;
            // SAFETY: valid C path.
            if unsafe { libc::chmod(path.as_ptr(), mode as libc::mode_t) } != 0 {
                return Err(format!(
                    "chmod {}: {}",
                    p.display(),
                    std::io::Error::last_os_error()
                ));
            }
        }
    } else if args.socket_mode.is_some() || args.socket_group.is_some() {
        return Err(
            "--socket-mode/--socket-group need a filesystem socket: abstract sockets have no \
             permissions, use --allow-uid/--allow-gid"
                .into(),
        );
    }
    Ok(listener)
}

fn open_source(args: &Args) -> Result<Box<dyn LeaseSource>, String> {
    let format = args.format.as_deref().map(parse_format).transpose()?;
    if args.device == "sim" {
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
        return Ok(Box::new(SimSource::new(dac).map_err(|e| e.to_string())?));
    }
    let config = Config {
        format,
        channels: args.channels,
        rate: args.rate,
        period_size: args.period,
        buffer: BufferSize::Periods(args.periods),
        ..Config::default()
    };
    let pcm = PcmSource::open(&args.device, &config).map_err(|e| e.to_string())?;
    // Fail now, not at the first client, when restricted fds are unavailable.
    let mut probe = pcm;
    probe.lease_fds().map_err(|e| e.to_string())?;
    Ok(Box::new(probe))
}

fn run(args: Args) -> Result<(), String> {
    let mut policy = AccessPolicy::default();
    for u in &args.allow_uid {
        policy.uids.push(lookup_id(u, false)?);
    }
    for g in &args.allow_gid {
        policy.gids.push(lookup_id(g, true)?);
    }
    let addr = SocketAddr::parse(&args.socket);
    let source = open_source(&args)?;
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
    let mut broker = Broker::new(listener, source, config).map_err(|e| e.to_string())?;
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
