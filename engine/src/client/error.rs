//! [`LeaseError`]: everything that can go wrong getting or keeping a lease.
//! It never contains the engine's [`crate::Error`] (that one wraps it).

use crate::broker::wire::{LeaseKind, RefusalCode, WireError};
use std::io;

/// Everything that can go wrong getting or keeping a lease.
#[derive(Debug)]
#[non_exhaustive]
pub enum LeaseError {
    /// Connecting to the broker's socket failed.
    Connect {
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// A socket operation failed or timed out.
    Io {
        /// What the client was doing.
        during: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The broker refused the client.
    Refused {
        /// Why.
        code: RefusalCode,
        /// The broker's details.
        detail: String,
    },
    /// The stream is leased to someone else and waiting was not allowed
    /// or took too long.
    Busy {
        /// Last known place in line.
        position: u32,
    },
    /// The broker closed the connection (exited, crashed or was killed).
    BrokerGone {
        /// What the client was doing.
        during: &'static str,
    },
    /// The broker's message is malformed; the error says how (its type,
    /// `broker::wire::WireError`, is public with the `server` feature).
    Protocol(WireError),
    /// The fds attached to the lease are unusable (too many, cut, none).
    FdTransfer {
        /// What went wrong.
        reason: String,
    },
    /// The lease carries the wrong number of fds.
    FdCount {
        /// What the layout says.
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// An fd is not what the lease says it is.
    WrongFdType {
        /// Which fd (0-based).
        index: usize,
        /// What it should be.
        expected: &'static str,
        /// What `/proc/self/fd` says it is.
        found: String,
    },
    /// The broker sent a full PCM fd where a restricted one belongs.
    FullFd {
        /// What `/proc/self/fd` says it is.
        found: String,
    },
    /// A shared file is smaller than the layout needs.
    Undersized {
        /// Which part.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes the file has.
        got: u64,
    },
    /// Mapping part of the lease failed.
    Map {
        /// Which part.
        what: &'static str,
        /// Bytes asked for.
        bytes: usize,
        /// The OS error.
        source: io::Error,
    },
    /// The broker's timestamps use a clock the engine does not follow.
    Clock {
        /// The Linux name of the clock the broker uses
        /// ([`LeaseInfo::clock_name`](crate::broker::LeaseInfo::clock_name)).
        got: &'static str,
    },
    /// The broker granted another kind of lease than the one asked for,
    /// or the lease does not fit what the caller builds on it.
    WrongKind {
        /// What was asked for (or needed).
        asked: LeaseKind,
        /// What the lease is.
        got: LeaseKind,
    },
}

impl std::fmt::Display for LeaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseError::Connect { addr, source } => {
                write!(f, "cannot connect to the broker at {addr}: {source}")?;
                match source.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ECONNREFUSED) => {
                        f.write_str(" (is pcmring-broker running, with this --socket?)")
                    }
                    Some(libc::EACCES) | Some(libc::EPERM) => f.write_str(
                        " (the socket's permissions exclude you: ask for the broker's group)",
                    ),
                    _ => Ok(()),
                }
            }
            LeaseError::Io { during, source } => {
                if matches!(
                    source.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    write!(f, "the broker did not answer in time while {during}")
                } else {
                    write!(f, "socket error while {during}: {source}")
                }
            }
            LeaseError::Refused { code, detail } => {
                write!(f, "the broker refused: {}", code.describe())?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            LeaseError::Busy { position } => write!(
                f,
                "the stream is leased to another client (we were number {position} in line); \
                 try again later or wait longer"
            ),
            LeaseError::BrokerGone { during } => write!(
                f,
                "the broker closed the connection while {during} \
                 (it exited or was killed); playback stopped"
            ),
            LeaseError::Protocol(e) => write!(f, "bad message from the broker: {e}"),
            LeaseError::FdTransfer { reason } => {
                write!(f, "bad file descriptors from the broker: {reason}")
            }
            LeaseError::FdCount { expected, got } => write!(
                f,
                "the lease should carry {expected} fd(s) but {got} arrived \
                 (broker bug, or not a pcmring broker)"
            ),
            LeaseError::WrongFdType {
                index,
                expected,
                found,
            } => write!(
                f,
                "fd #{index} of the lease is {found:?}, expected {expected} \
                 (broker misconfigured, or not a pcmring broker)"
            ),
            LeaseError::FullFd { found } => write!(
                f,
                "the broker sent a full PCM fd ({found:?}) instead of a restricted buffer fd; \
                 refusing it: a broker must hand out BUFFER fds (is it pcmring-broker, with \
                 the snd-pcm-anondup module loaded?)"
            ),
            LeaseError::Undersized { what, need, got } => write!(
                f,
                "the {what} holds {got} bytes but the layout needs {need}"
            ),
            LeaseError::Map {
                what,
                bytes,
                source,
            } => write!(
                f,
                "mapping the {what} ({bytes} bytes) failed: {source} \
                 (the fd does not hold the advertised buffer)"
            ),
            LeaseError::Clock { got } => write!(
                f,
                "the broker's clock is {got}, the engine needs CLOCK_MONOTONIC"
            ),
            LeaseError::WrongKind { asked, got } => write!(
                f,
                "needed a {} lease but the lease is {}: ask for the right kind \
                 (ConnectOptions::kind)",
                asked.name(),
                got.name()
            ),
        }
    }
}

impl std::error::Error for LeaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LeaseError::Connect { source, .. }
            | LeaseError::Io { source, .. }
            | LeaseError::Map { source, .. } => Some(source),
            LeaseError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}
