//! The messages and the fields they carry.

use crate::layout::StreamLayout;
use crate::pcm::Direction;

/// Message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// Client to broker: first message on a connection.
    Hello = 1,
    /// Broker to client: the stream is yours; fds attached.
    Lease = 2,
    /// Broker to client: someone else holds the stream, you are in line.
    Queued = 3,
    /// Broker to client: no lease; the connection is closed after this.
    Refusal = 4,
}

impl Kind {
    /// The kind for a wire number.
    pub const fn from_raw(n: u16) -> Option<Kind> {
        match n {
            1 => Some(Kind::Hello),
            2 => Some(Kind::Lease),
            3 => Some(Kind::Queued),
            4 => Some(Kind::Refusal),
            _ => None,
        }
    }

    /// Lower-case name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::Lease => "lease",
            Kind::Queued => "queued",
            Kind::Refusal => "refusal",
        }
    }
}

/// What a client asks the broker for (wire version 2; a version-1 hello
/// always asks for [`LeaseKind::Playback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u16)]
pub enum LeaseKind {
    /// The playback stream (what every version-1 client gets).
    #[default]
    Playback = 1,
    /// The capture stream (its ring is read-only for the client).
    Capture = 2,
    /// The playback and the capture stream of one card, started together
    /// by one linked START: both positions count frames of one clock.
    Duplex = 3,
}

impl LeaseKind {
    /// The kind for a wire number.
    pub const fn from_raw(n: u16) -> Option<LeaseKind> {
        match n {
            1 => Some(LeaseKind::Playback),
            2 => Some(LeaseKind::Capture),
            3 => Some(LeaseKind::Duplex),
            _ => None,
        }
    }

    /// Lower-case name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            LeaseKind::Playback => "playback",
            LeaseKind::Capture => "capture",
            LeaseKind::Duplex => "duplex (playback + capture)",
        }
    }

    /// The lowest wire version that can ask for this kind.
    pub const fn min_version(self) -> u16 {
        match self {
            LeaseKind::Playback => 1,
            LeaseKind::Capture | LeaseKind::Duplex => 2,
        }
    }
}

/// What the leased fds are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum DeviceKind {
    /// One restricted ALSA PCM fd (`anon_inode:snd-pcm-buf`).
    HwBuffer = 1,
    /// The simulated device: two memfds, ring then status page.
    Simulated = 2,
}

impl DeviceKind {
    /// The kind for a wire number.
    pub const fn from_raw(n: u16) -> Option<DeviceKind> {
        match n {
            1 => Some(DeviceKind::HwBuffer),
            2 => Some(DeviceKind::Simulated),
            _ => None,
        }
    }

    /// How many fds a lease of this kind carries (without the optional
    /// wake-up fd of `FLAG_WAKE_FD`).
    pub const fn base_fd_count(self) -> usize {
        match self {
            DeviceKind::HwBuffer => 1,
            DeviceKind::Simulated => 2,
        }
    }

    /// A short description.
    pub const fn describe(self) -> &'static str {
        match self {
            DeviceKind::HwBuffer => "restricted ALSA PCM",
            DeviceKind::Simulated => "simulated device",
        }
    }
}

/// The clock the broker's timestamps use (Linux `clockid_t` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ClockId {
    /// CLOCK_MONOTONIC.
    Monotonic = 1,
    /// CLOCK_MONOTONIC_RAW.
    MonotonicRaw = 4,
    /// CLOCK_BOOTTIME.
    Boottime = 7,
}

impl ClockId {
    /// The clock for a `clockid_t` value.
    pub const fn from_raw(n: u32) -> Option<ClockId> {
        match n {
            1 => Some(ClockId::Monotonic),
            4 => Some(ClockId::MonotonicRaw),
            7 => Some(ClockId::Boottime),
            _ => None,
        }
    }

    /// The clock's Linux name.
    pub const fn name(self) -> &'static str {
        match self {
            ClockId::Monotonic => "CLOCK_MONOTONIC",
            ClockId::MonotonicRaw => "CLOCK_MONOTONIC_RAW",
            ClockId::Boottime => "CLOCK_BOOTTIME",
        }
    }
}

/// Client to broker: the first message on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// What the client asks for.
    pub kind: LeaseKind,
    /// The wire version the hello travels in (the broker answers in the
    /// same one): [`LeaseKind::min_version`] from [`Hello::request`], so a
    /// playback request is byte for byte a version-1 hello that every
    /// broker understands.
    pub version: u16,
    /// A label for the broker's log (at most [`MAX_NAME_LEN`](crate::broker::wire::MAX_NAME_LEN) bytes of
    /// printable UTF-8; the encoder truncates and replaces control chars).
    pub name: String,
}

/// Broker to client: the layout of the leased stream. The message carries
/// [`LeaseInfo::fd_count`] fds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Playback or capture (a version-1 lease is always playback).
    pub direction: Direction,
    /// Geometry of the stream.
    pub layout: StreamLayout,
    /// What the fds are.
    pub device: DeviceKind,
    /// Whether the status page of a hardware fd can be mapped (otherwise
    /// the client reads the position with the POSITION ioctl).
    pub status_mappable: bool,
    /// The clock of the position timestamps (clients:
    /// [`LeaseInfo::clock_name`]; the type is `broker::wire::ClockId`,
    /// public with the `server` feature).
    pub clock: ClockId,
    /// Whether the position moves in whole periods.
    pub batch: bool,
    /// Simulated device only: whether a wake-up pipe fd follows.
    pub wake_fd: bool,
    /// The broker's serial number for this lease (for logs).
    pub lease_id: u64,
}

impl LeaseInfo {
    /// The Linux name of the clock the position timestamps use
    /// (`CLOCK_MONOTONIC`, the one the engine needs, `CLOCK_MONOTONIC_RAW`
    /// or `CLOCK_BOOTTIME`).
    pub const fn clock_name(&self) -> &'static str {
        self.clock.name()
    }

    /// How many fds the lease message carries.
    pub const fn fd_count(&self) -> usize {
        self.device.base_fd_count() + self.wake_fd as usize
    }
}

/// Broker to client: the stream is leased to someone else; the broker
/// sends a [`LeaseInfo`] on this connection when it is this client's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// Place in line, 1 = next.
    pub position: u32,
}

/// Why the broker refused a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum RefusalCode {
    /// The peer's uid/gid is not on the allow-list.
    NotAllowed = 1,
    /// The stream is leased and the waiting line is full.
    Busy = 2,
    /// The hello was malformed.
    BadRequest = 3,
    /// The client speaks another wire version.
    VersionMismatch = 4,
    /// The broker could not create a lease (device error).
    DeviceError = 5,
    /// The broker is shutting down.
    ShuttingDown = 6,
    /// The client did not say hello in time.
    Timeout = 7,
    /// Too many connections are being set up at once.
    TooManyConnections = 8,
    /// The broker does not serve the lease kind asked for (e.g. capture
    /// from a broker started without a capture device). Version 2 only.
    Unavailable = 9,
    /// A duplex lease was asked for but the broker's playback and capture
    /// streams run at different rates. Version 2 only.
    RatesDiffer = 10,
}

impl RefusalCode {
    /// The code for a wire number.
    pub const fn from_raw(n: u16) -> Option<RefusalCode> {
        Some(match n {
            1 => RefusalCode::NotAllowed,
            2 => RefusalCode::Busy,
            3 => RefusalCode::BadRequest,
            4 => RefusalCode::VersionMismatch,
            5 => RefusalCode::DeviceError,
            6 => RefusalCode::ShuttingDown,
            7 => RefusalCode::Timeout,
            8 => RefusalCode::TooManyConnections,
            9 => RefusalCode::Unavailable,
            10 => RefusalCode::RatesDiffer,
            _ => return None,
        })
    }

    /// What the code means, and what a user can do about it.
    pub const fn describe(self) -> &'static str {
        match self {
            RefusalCode::NotAllowed => {
                "not allowed: your user and groups are not on the broker's allow-list \
                 (see --allow-uid / --allow-gid)"
            }
            RefusalCode::Busy => {
                "busy: the stream is leased to another client and the waiting line is full; \
                 try again later"
            }
            RefusalCode::BadRequest => "the broker could not understand the client's hello",
            RefusalCode::VersionMismatch => {
                "wire version mismatch: client and broker come from incompatible pcmring \
                 releases; upgrade the older one"
            }
            RefusalCode::DeviceError => "the broker could not create a lease on its device",
            RefusalCode::ShuttingDown => "the broker is shutting down",
            RefusalCode::Timeout => "the client did not say hello in time",
            RefusalCode::TooManyConnections => {
                "too many clients are connecting at once; try again later"
            }
            RefusalCode::Unavailable => {
                "the broker does not serve this kind of lease (no capture stream?); \
                 start it with --capture or ask for another kind"
            }
            RefusalCode::RatesDiffer => {
                "the broker's playback and capture streams run at different rates, \
                 so they cannot be leased as one duplex pair; lease them one by one \
                 or restart the broker with one --rate both devices support"
            }
        }
    }

    /// The code a version-1 peer understands: the codes added in version
    /// 2 travel as `DeviceError` (the detail text keeps the reason).
    pub const fn for_version(self, version: u16) -> RefusalCode {
        match self {
            RefusalCode::Unavailable | RefusalCode::RatesDiffer if version < 2 => {
                RefusalCode::DeviceError
            }
            other => other,
        }
    }
}

/// Broker to client: no lease. The broker closes the connection after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub code: RefusalCode,
    /// Free text with details (at most [`MAX_DETAIL_LEN`](crate::broker::wire::MAX_DETAIL_LEN) bytes; the
    /// encoder truncates at a char boundary).
    pub detail: String,
}

/// Messages a broker accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// See [`Hello`].
    Hello(Hello),
}

/// Messages a client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// One stream (playback, or capture in version 2). See [`LeaseInfo`].
    Lease(LeaseInfo),
    /// Version 2: a duplex lease, the fds of `playback` then of `capture`.
    Duplex {
        /// The playback stream.
        playback: LeaseInfo,
        /// The capture stream.
        capture: LeaseInfo,
        /// Whether one linked START started both, so that playback frame
        /// `n` and capture frame `n` are the same instant of one clock
        /// (otherwise they were started back to back and differ by a few
        /// frames the client has to measure).
        linked: bool,
    },
    /// See [`Queued`].
    Queued(Queued),
    /// See [`Refusal`].
    Refusal(Refusal),
}
