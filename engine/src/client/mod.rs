//! The client side of the broker: connect, receive the lease, validate it.
//!
//! [`connect`] says hello, waits in line if the broker asks it to, receives
//! the layout and the fds, and checks that the fds are what the layout
//! claims (a restricted `snd-pcm-buf` fd for hardware, memfds of the right
//! size for the simulated device) and that the ring maps with the
//! advertised size. Every failure is a [`LeaseError`] that says what to do.
//!
//! The lease lasts as long as the connection: keep the [`Lease`] (or the
//! [`BrokerLink`] from [`Lease::into_parts`]) alive while playing, and
//! check [`BrokerLink::check`] now and then to notice a broker that went
//! away.
//!
//! ```no_run
//! use pcmring::{client, Device};
//!
//! let lease = client::connect("/run/pcmring.sock")?;
//! println!("leased {:?}", lease.info().layout);
//! let mut device = lease.into_device()?; // RestrictedPcm or SimDevice
//! let hw_ptr = device.position()?.hw_ptr; // fails once the broker is gone
//! # let _ = hw_ptr;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod device;
pub(crate) mod error;
mod fdcheck;
mod lease;

pub use device::LeasedDevice;
pub use error::LeaseError;
use fdcheck::validate;
pub use lease::{BrokerLink, Lease};

use crate::broker::socket::{self, RecvError, SocketAddr};
use crate::broker::wire::{self, Hello, LeaseKind, ServerMessage};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// How [`ConnectOptions::connect`] behaves.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// A label for the broker's log.
    pub name: String,
    /// Timeout of each socket operation (connect, hello, each reply).
    pub io_timeout: Duration,
    /// How long to wait in line when the stream is leased to someone else;
    /// `None` fails at once with [`LeaseError::Busy`].
    pub wait_in_line: Option<Duration>,
    /// What to lease. Playback (the default) is asked for in wire version
    /// 1, which every broker understands; capture and duplex need a broker
    /// that speaks version 2 (an older one refuses with a version
    /// mismatch, reported as such).
    pub kind: LeaseKind,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            name: default_name(),
            io_timeout: Duration::from_secs(5),
            wait_in_line: Some(Duration::from_secs(30)),
            kind: LeaseKind::Playback,
        }
    }
}

fn default_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

impl ConnectOptions {
    /// Connects to a broker at `addr` and waits for a lease as these
    /// options say ([`connect`] with the defaults).
    pub fn connect(&self, addr: &SocketAddr) -> Result<Lease, LeaseError> {
        connect_with(addr, self)
    }
}

/// Connects to a broker at `addr` (a path, or `@name` for an abstract
/// socket) with default options (others: [`ConnectOptions::connect`]).
pub fn connect(addr: &str) -> Result<Lease, LeaseError> {
    connect_with(&SocketAddr::parse(addr), &ConnectOptions::default())
}

/// Connects to a broker and waits for a lease as `opts` says.
pub(crate) fn connect_with(addr: &SocketAddr, opts: &ConnectOptions) -> Result<Lease, LeaseError> {
    let sock = socket::connect(addr, opts.io_timeout).map_err(|source| LeaseError::Connect {
        addr: addr.to_string(),
        source,
    })?;
    let hello = Hello::request(&opts.name, opts.kind).encode();
    if let Err(source) = socket::send_blocking(sock.as_fd(), hello.as_bytes()) {
        // A broker that refused us at once may have closed already; its
        // refusal is still waiting in our queue.
        if let Some(refusal) = pending_refusal(sock.as_fd()) {
            return Err(explain_refusal(refusal, opts.kind));
        }
        return Err(match source.raw_os_error() {
            Some(libc::EPIPE) | Some(libc::ECONNRESET) => LeaseError::BrokerGone {
                during: "saying hello",
            },
            _ => LeaseError::Io {
                during: "saying hello",
                source,
            },
        });
    }
    let started = Instant::now();
    let mut position = 0;
    loop {
        let timeout = if position == 0 {
            opts.io_timeout
        } else {
            let limit = opts.wait_in_line.unwrap_or_default();
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(LeaseError::Busy { position });
            }
            left
        };
        let (msg, fds) =
            receive(sock.as_fd(), timeout, position).map_err(|e| explain_refusal(e, opts.kind))?;
        match msg {
            ServerMessage::Lease(info) => {
                validate(&info, &fds)?;
                let lease = Lease {
                    info,
                    fds,
                    link: BrokerLink { socket: sock },
                    capture: None,
                };
                return check_kind(lease, opts.kind);
            }
            ServerMessage::Duplex {
                playback,
                capture,
                linked,
            } => {
                let split = playback.fd_count().min(fds.len());
                validate(&playback, &fds[..split])?;
                validate(&capture, &fds[split..])?;
                let lease = Lease {
                    info: playback,
                    fds,
                    link: BrokerLink { socket: sock },
                    capture: Some((capture, linked)),
                };
                return check_kind(lease, opts.kind);
            }
            ServerMessage::Queued(q) => {
                drop(fds);
                if opts.wait_in_line.is_none() {
                    return Err(LeaseError::Busy {
                        position: q.position,
                    });
                }
                position = q.position;
            }
            ServerMessage::Refusal(r) => {
                return Err(explain_refusal(
                    LeaseError::Refused {
                        code: r.code,
                        detail: r.detail,
                    },
                    opts.kind,
                ))
            }
        }
    }
}

/// A lease of another kind than asked for is refused (and ends).
fn check_kind(lease: Lease, asked: LeaseKind) -> Result<Lease, LeaseError> {
    let got = lease.kind();
    if got != asked {
        return Err(LeaseError::WrongKind { asked, got });
    }
    Ok(lease)
}

/// A version-1 broker refuses a version-2 hello with a version mismatch:
/// say what that means for the lease asked for.
fn explain_refusal(e: LeaseError, asked: LeaseKind) -> LeaseError {
    match e {
        LeaseError::Refused {
            code: wire::RefusalCode::VersionMismatch,
            detail,
        } if asked.min_version() > 1 => LeaseError::Refused {
            code: wire::RefusalCode::VersionMismatch,
            detail: format!(
                "{detail}; a {} lease needs a broker that speaks wire version {} \
                 (upgrade pcmring-broker), playback works with any",
                asked.name(),
                asked.min_version()
            ),
        },
        other => other,
    }
}

/// Receives one broker message; the fds are returned only with a lease.
/// `position` is the place in line (0: not queued).
fn receive(
    sock: BorrowedFd<'_>,
    timeout: Duration,
    position: u32,
) -> Result<(ServerMessage, Vec<OwnedFd>), LeaseError> {
    let queued = position != 0;
    let during = if queued {
        "waiting in line"
    } else {
        "waiting for the lease"
    };
    // A zero timeval would mean "wait forever".
    let timeout = timeout.max(Duration::from_millis(1));
    socket::set_timeouts(sock, timeout).map_err(|source| LeaseError::Io { during, source })?;
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = match socket::recv_with_fds(sock, &mut buf, false) {
        Ok(r) => r,
        Err(RecvError::Closed) => return Err(LeaseError::BrokerGone { during }),
        // The broker closed with our hello unread (it refused us before
        // reading it): the reset is reported first, the refusal follows.
        Err(RecvError::Io(e)) if e.raw_os_error() == Some(libc::ECONNRESET) => {
            return Err(pending_refusal(sock).unwrap_or(LeaseError::BrokerGone { during }))
        }
        Err(RecvError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock && queued => {
            return Err(LeaseError::Busy { position })
        }
        Err(RecvError::Io(source)) => return Err(LeaseError::Io { during, source }),
        Err(e) => {
            return Err(LeaseError::FdTransfer {
                reason: e.to_string(),
            })
        }
    };
    let msg = wire::parse_server_message(&buf[..r.len]).map_err(LeaseError::Protocol)?;
    let carries_fds = matches!(msg, ServerMessage::Lease(_) | ServerMessage::Duplex { .. });
    if !carries_fds && !r.fds.is_empty() {
        return Err(LeaseError::FdTransfer {
            reason: format!(
                "{} fd(s) attached to a message that carries none",
                r.fds.len()
            ),
        });
    }
    Ok((msg, r.fds))
}

/// A refusal already queued on the socket, if any (non-blocking).
fn pending_refusal(sock: BorrowedFd<'_>) -> Option<LeaseError> {
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = socket::recv_with_fds(sock, &mut buf, true).ok()?;
    match wire::parse_server_message(&buf[..r.len]) {
        Ok(ServerMessage::Refusal(r)) => Some(LeaseError::Refused {
            code: r.code,
            detail: r.detail,
        }),
        _ => None,
    }
}
