//! The broker's wire format: small, versioned, little-endian messages.
//!
//! Every message is a 12-byte header followed by a payload whose length the
//! header declares exactly:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `b"PCMR"` |
//! | 4 | 2 | version ([`VERSION`]) |
//! | 6 | 2 | kind ([`Kind`]) |
//! | 8 | 4 | payload length in bytes |
//!
//! Client to broker: [`Hello`]. Broker to client: [`LeaseInfo`] (with the
//! fds attached by `SCM_RIGHTS`), [`Queued`], [`Refusal`]. The full layout
//! of each payload is in `docs/wire-format.md` and in the `encode`
//! functions below. Parsers are strict: they bound every field, reject
//! trailing bytes and non-zero reserved fields, never allocate more than
//! [`MAX_MESSAGE_LEN`] bytes and never panic.

use crate::layout::{Format, StreamLayout};
use std::fmt;

/// The four bytes every message starts with.
pub const MAGIC: [u8; 4] = *b"PCMR";
/// The wire version this build speaks.
pub const VERSION: u16 = 1;
/// Bytes in the header.
pub const HEADER_LEN: usize = 12;
/// Upper bound on any message in this version, header included. Receive
/// buffers are this size plus one, so a longer datagram is detected.
pub const MAX_MESSAGE_LEN: usize = 256;
/// Longest client name in a [`Hello`], in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest detail text in a [`Refusal`], in bytes.
pub const MAX_DETAIL_LEN: usize = 192;
/// Bytes in a lease payload.
pub const LEASE_PAYLOAD_LEN: usize = 64;
/// Bytes in a queued payload.
pub const QUEUED_PAYLOAD_LEN: usize = 8;
/// Fixed part of a hello payload (before the name).
pub const HELLO_FIXED_LEN: usize = 8;
/// Fixed part of a refusal payload (before the detail text).
pub const REFUSAL_FIXED_LEN: usize = 4;

/// Most channels a lease may advertise.
pub const MAX_CHANNELS: u32 = 64;
/// Lowest rate a lease may advertise.
pub const MIN_RATE: u32 = 1_000;
/// Highest rate a lease may advertise.
pub const MAX_RATE: u32 = 768_000;
/// Most frames a ring may hold.
pub const MAX_BUFFER_FRAMES: u64 = 1 << 24;
/// Most bytes a ring may span.
pub const MAX_RING_BYTES: u64 = 512 << 20;
/// Highest boundary a lease may advertise (ALSA's is below `LONG_MAX`).
pub const MAX_BOUNDARY: u64 = 1 << 62;

/// Lease flag: the status page of the fd can be mapped.
pub const FLAG_STATUS_MAPPABLE: u32 = 1;
/// Lease flag (simulated device only): a third fd follows, the read end of
/// a pipe that becomes readable at each period boundary.
pub const FLAG_WAKE_FD: u32 = 2;
/// Lease flag: the position moves in whole periods (batch device).
pub const FLAG_BATCH: u32 = 4;
/// Every flag this version knows.
pub const KNOWN_FLAGS: u32 = FLAG_STATUS_MAPPABLE | FLAG_WAKE_FD | FLAG_BATCH;

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
    /// A label for the broker's log (at most [`MAX_NAME_LEN`] bytes of
    /// printable UTF-8; the encoder truncates and replaces control chars).
    pub name: String,
}

/// Broker to client: the layout of the leased stream. The message carries
/// [`LeaseInfo::fd_count`] fds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Geometry of the stream.
    pub layout: StreamLayout,
    /// What the fds are.
    pub device: DeviceKind,
    /// Whether the status page of a hardware fd can be mapped (otherwise
    /// the client reads the position with the POSITION ioctl).
    pub status_mappable: bool,
    /// The clock of the position timestamps.
    pub clock: ClockId,
    /// Whether the position moves in whole periods.
    pub batch: bool,
    /// Simulated device only: whether a wake-up pipe fd follows.
    pub wake_fd: bool,
    /// The broker's serial number for this lease (for logs).
    pub lease_id: u64,
}

impl LeaseInfo {
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
        }
    }
}

/// Broker to client: no lease. The broker closes the connection after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub code: RefusalCode,
    /// Free text with details (at most [`MAX_DETAIL_LEN`] bytes; the
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
    /// See [`LeaseInfo`].
    Lease(LeaseInfo),
    /// See [`Queued`].
    Queued(Queued),
    /// See [`Refusal`].
    Refusal(Refusal),
}

/// Why a message did not parse. Every variant says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than a header.
    ShortHeader {
        /// Bytes received.
        got: usize,
    },
    /// The first four bytes are not `PCMR`.
    BadMagic {
        /// The bytes found.
        got: [u8; 4],
    },
    /// Another wire version.
    UnsupportedVersion {
        /// Version in the message.
        got: u16,
    },
    /// A kind number this version does not know.
    UnknownKind {
        /// The number.
        got: u16,
    },
    /// A known kind that this side never receives.
    UnexpectedKind {
        /// The kind.
        got: Kind,
    },
    /// The declared payload length does not match what arrived.
    LengthMismatch {
        /// Length in the header.
        declared: u32,
        /// Payload bytes actually received.
        got: usize,
    },
    /// The payload length is wrong for the kind.
    BadPayloadLength {
        /// The kind.
        kind: Kind,
        /// The length.
        len: usize,
    },
    /// A field is out of range.
    BadField {
        /// Field name.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A reserved field or flag bit is not zero.
    Reserved {
        /// Field name.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A text field is not valid printable UTF-8.
    BadText {
        /// Field name.
        field: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::ShortHeader { got } => write!(
                f,
                "message too short: {got} bytes, a header needs {HEADER_LEN} \
                 (the peer is not a pcmring broker/client or the message was cut)"
            ),
            WireError::BadMagic { got } => write!(
                f,
                "bad magic {got:02x?}: the peer does not speak the pcmring protocol \
                 (wrong socket path?)"
            ),
            WireError::UnsupportedVersion { got } => write!(
                f,
                "peer speaks pcmring wire version {got}, this build speaks {VERSION}: \
                 use matching pcmring releases on both sides"
            ),
            WireError::UnknownKind { got } => write!(f, "unknown message kind {got}"),
            WireError::UnexpectedKind { got } => {
                write!(f, "unexpected {} message from the peer", got.name())
            }
            WireError::LengthMismatch { declared, got } => write!(
                f,
                "header declares a {declared}-byte payload but {got} bytes arrived \
                 (truncated message or trailing garbage)"
            ),
            WireError::BadPayloadLength { kind, len } => {
                write!(f, "a {} payload cannot be {len} bytes", kind.name())
            }
            WireError::BadField { field, value, rule } => {
                write!(f, "field {field} = {value} is invalid: {rule}")
            }
            WireError::Reserved { field, value } => write!(
                f,
                "reserved field {field} is {value:#x}, must be 0 (newer peer?)"
            ),
            WireError::BadText { field } => {
                write!(f, "field {field} is not printable UTF-8")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// An encoded message in a fixed buffer (no allocation).
#[derive(Clone)]
pub struct Encoded {
    buf: [u8; MAX_MESSAGE_LEN],
    len: usize,
}

impl Encoded {
    fn new(kind: Kind) -> Self {
        let mut e = Encoded {
            buf: [0; MAX_MESSAGE_LEN],
            len: HEADER_LEN,
        };
        e.buf[0..4].copy_from_slice(&MAGIC);
        e.buf[4..6].copy_from_slice(&VERSION.to_le_bytes());
        e.buf[6..8].copy_from_slice(&(kind as u16).to_le_bytes());
        e
    }

    fn put(&mut self, bytes: &[u8]) {
        // Callers bound their payloads well below MAX_MESSAGE_LEN.
        let end = self.len + bytes.len();
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    fn finish(mut self) -> Self {
        let payload = (self.len - HEADER_LEN) as u32;
        self.buf[8..12].copy_from_slice(&payload.to_le_bytes());
        self
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Encoded({:02x?})", self.as_bytes())
    }
}

/// Cuts `s` to at most `max` bytes at a char boundary and replaces control
/// characters, so the result always passes the parser's text check.
fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

impl Hello {
    /// A hello with a (sanitized) name.
    pub fn new(name: &str) -> Self {
        Hello {
            name: sanitize(name, MAX_NAME_LEN),
        }
    }

    /// Encodes: `flags u32 (0) | name_len u16 | reserved u16 (0) | name`.
    pub fn encode(&self) -> Encoded {
        let name = sanitize(&self.name, MAX_NAME_LEN);
        let mut e = Encoded::new(Kind::Hello);
        e.put(&0u32.to_le_bytes());
        e.put(&(name.len() as u16).to_le_bytes());
        e.put(&0u16.to_le_bytes());
        e.put(name.as_bytes());
        e.finish()
    }
}

impl LeaseInfo {
    /// Encodes the fixed 64-byte lease payload:
    ///
    /// | off | type | field |
    /// | --- | --- | --- |
    /// | 0 | i32 | ALSA format number |
    /// | 4 | u32 | channels |
    /// | 8 | u32 | rate |
    /// | 12 | u16 | device kind |
    /// | 14 | u16 | fd count |
    /// | 16 | u32 | flags (bit 0: status page mappable, bit 1: wake fd, bit 2: batch) |
    /// | 20 | u32 | clock id |
    /// | 24 | u64 | period size (frames) |
    /// | 32 | u64 | buffer size (frames) |
    /// | 40 | u64 | boundary (frames) |
    /// | 48 | u64 | lease id |
    /// | 56 | u64 | reserved (0) |
    pub fn encode(&self) -> Encoded {
        let l = &self.layout;
        let mut e = Encoded::new(Kind::Lease);
        e.put(&l.format.alsa().to_le_bytes());
        e.put(&l.channels.to_le_bytes());
        e.put(&l.rate.to_le_bytes());
        e.put(&(self.device as u16).to_le_bytes());
        e.put(&(self.fd_count() as u16).to_le_bytes());
        let mut flags = 0;
        if self.status_mappable {
            flags |= FLAG_STATUS_MAPPABLE;
        }
        if self.wake_fd {
            flags |= FLAG_WAKE_FD;
        }
        if self.batch {
            flags |= FLAG_BATCH;
        }
        e.put(&flags.to_le_bytes());
        e.put(&(self.clock as u32).to_le_bytes());
        e.put(&l.period_size.to_le_bytes());
        e.put(&l.buffer_size.to_le_bytes());
        e.put(&l.boundary.to_le_bytes());
        e.put(&self.lease_id.to_le_bytes());
        e.put(&0u64.to_le_bytes());
        e.finish()
    }
}

impl Queued {
    /// Encodes: `position u32 | reserved u32 (0)`.
    pub fn encode(&self) -> Encoded {
        let mut e = Encoded::new(Kind::Queued);
        e.put(&self.position.to_le_bytes());
        e.put(&0u32.to_le_bytes());
        e.finish()
    }
}

impl Refusal {
    /// A refusal with a (sanitized) detail text.
    pub fn new(code: RefusalCode, detail: &str) -> Self {
        Refusal {
            code,
            detail: sanitize(detail, MAX_DETAIL_LEN),
        }
    }

    /// Encodes: `code u16 | detail_len u16 | detail`.
    pub fn encode(&self) -> Encoded {
        let detail = sanitize(&self.detail, MAX_DETAIL_LEN);
        let mut e = Encoded::new(Kind::Refusal);
        e.put(&(self.code as u16).to_le_bytes());
        e.put(&(detail.len() as u16).to_le_bytes());
        e.put(detail.as_bytes());
        e.finish()
    }
}

impl ServerMessage {
    /// Encodes any broker message.
    pub fn encode(&self) -> Encoded {
        match self {
            ServerMessage::Lease(m) => m.encode(),
            ServerMessage::Queued(m) => m.encode(),
            ServerMessage::Refusal(m) => m.encode(),
        }
    }
}

impl ClientMessage {
    /// Encodes any client message.
    pub fn encode(&self) -> Encoded {
        match self {
            ClientMessage::Hello(m) => m.encode(),
        }
    }
}

/// A bounds-checked little-endian reader over a payload.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        // Callers check the payload length before reading fixed fields;
        // out-of-range reads yield zeros instead of panicking.
        let mut out = [0u8; N];
        if let Some(src) = self.bytes.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }
}

/// Checks the header and returns the kind and the payload.
fn parse_header(bytes: &[u8]) -> Result<(Kind, &[u8]), WireError> {
    if bytes.len() < HEADER_LEN {
        return Err(WireError::ShortHeader { got: bytes.len() });
    }
    let mut r = Reader { bytes, pos: 0 };
    let magic: [u8; 4] = r.take();
    if magic != MAGIC {
        return Err(WireError::BadMagic { got: magic });
    }
    let version = r.u16();
    if version != VERSION {
        return Err(WireError::UnsupportedVersion { got: version });
    }
    let kind_raw = r.u16();
    let declared = r.u32();
    let payload = r.rest();
    if declared as usize != payload.len() {
        return Err(WireError::LengthMismatch {
            declared,
            got: payload.len(),
        });
    }
    let kind = Kind::from_raw(kind_raw).ok_or(WireError::UnknownKind { got: kind_raw })?;
    Ok((kind, payload))
}

fn text(bytes: &[u8], field: &'static str) -> Result<String, WireError> {
    let s = std::str::from_utf8(bytes).map_err(|_| WireError::BadText { field })?;
    if s.chars().any(char::is_control) {
        return Err(WireError::BadText { field });
    }
    Ok(s.to_owned())
}

fn field(field: &'static str, value: u64, rule: &'static str) -> WireError {
    WireError::BadField { field, value, rule }
}

/// Parses a message a broker receives (a [`Hello`]).
pub fn parse_client_message(bytes: &[u8]) -> Result<ClientMessage, WireError> {
    let (kind, payload) = parse_header(bytes)?;
    match kind {
        Kind::Hello => parse_hello(payload).map(ClientMessage::Hello),
        other => Err(WireError::UnexpectedKind { got: other }),
    }
}

/// Parses a message a client receives.
pub fn parse_server_message(bytes: &[u8]) -> Result<ServerMessage, WireError> {
    let (kind, payload) = parse_header(bytes)?;
    match kind {
        Kind::Lease => parse_lease(payload).map(ServerMessage::Lease),
        Kind::Queued => parse_queued(payload).map(ServerMessage::Queued),
        Kind::Refusal => parse_refusal(payload).map(ServerMessage::Refusal),
        other => Err(WireError::UnexpectedKind { got: other }),
    }
}

fn parse_hello(p: &[u8]) -> Result<Hello, WireError> {
    if p.len() < HELLO_FIXED_LEN || p.len() > HELLO_FIXED_LEN + MAX_NAME_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Hello,
            len: p.len(),
        });
    }
    let mut r = Reader { bytes: p, pos: 0 };
    let flags = r.u32();
    if flags != 0 {
        return Err(WireError::Reserved {
            field: "hello.flags",
            value: flags.into(),
        });
    }
    let name_len = r.u16() as usize;
    let reserved = r.u16();
    if reserved != 0 {
        return Err(WireError::Reserved {
            field: "hello.reserved",
            value: reserved.into(),
        });
    }
    let name = r.rest();
    if name.len() != name_len {
        return Err(field(
            "hello.name_len",
            name_len as u64,
            "must equal the bytes that follow",
        ));
    }
    Ok(Hello {
        name: text(name, "hello.name")?,
    })
}

fn parse_queued(p: &[u8]) -> Result<Queued, WireError> {
    if p.len() != QUEUED_PAYLOAD_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Queued,
            len: p.len(),
        });
    }
    let mut r = Reader { bytes: p, pos: 0 };
    let position = r.u32();
    let reserved = r.u32();
    if position == 0 {
        return Err(field("queued.position", 0, "places in line start at 1"));
    }
    if reserved != 0 {
        return Err(WireError::Reserved {
            field: "queued.reserved",
            value: reserved.into(),
        });
    }
    Ok(Queued { position })
}

fn parse_refusal(p: &[u8]) -> Result<Refusal, WireError> {
    if p.len() < REFUSAL_FIXED_LEN || p.len() > REFUSAL_FIXED_LEN + MAX_DETAIL_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Refusal,
            len: p.len(),
        });
    }
    let mut r = Reader { bytes: p, pos: 0 };
    let code_raw = r.u16();
    let code = RefusalCode::from_raw(code_raw).ok_or(field(
        "refusal.code",
        code_raw.into(),
        "unknown refusal code",
    ))?;
    let len = r.u16() as usize;
    let detail = r.rest();
    if detail.len() != len {
        return Err(field(
            "refusal.detail_len",
            len as u64,
            "must equal the bytes that follow",
        ));
    }
    Ok(Refusal {
        code,
        detail: text(detail, "refusal.detail")?,
    })
}

fn parse_lease(p: &[u8]) -> Result<LeaseInfo, WireError> {
    if p.len() != LEASE_PAYLOAD_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Lease,
            len: p.len(),
        });
    }
    let mut r = Reader { bytes: p, pos: 0 };
    let format_raw = r.i32();
    let channels = r.u32();
    let rate = r.u32();
    let device_raw = r.u16();
    let fd_count = r.u16();
    let flags = r.u32();
    let clock_raw = r.u32();
    let period_size = r.u64();
    let buffer_size = r.u64();
    let boundary = r.u64();
    let lease_id = r.u64();
    let reserved = r.u64();

    let format = Format::from_alsa(format_raw).ok_or(field(
        "lease.format",
        format_raw as u32 as u64,
        "not a sample format pcmring supports (S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE)",
    ))?;
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(field("lease.channels", channels.into(), "must be 1..=64"));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(field("lease.rate", rate.into(), "must be 1000..=768000 Hz"));
    }
    let device = DeviceKind::from_raw(device_raw).ok_or(field(
        "lease.device_kind",
        device_raw.into(),
        "unknown device kind (1 = restricted PCM, 2 = simulated)",
    ))?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(WireError::Reserved {
            field: "lease.flags",
            value: flags.into(),
        });
    }
    let wake_fd = flags & FLAG_WAKE_FD != 0;
    if wake_fd && device != DeviceKind::Simulated {
        return Err(field(
            "lease.flags",
            flags.into(),
            "only the simulated device sends a wake-up fd",
        ));
    }
    if usize::from(fd_count) != device.base_fd_count() + wake_fd as usize {
        return Err(field(
            "lease.fd_count",
            fd_count.into(),
            "must be 1 for a restricted PCM, 2 (3 with a wake-up fd) for the simulated device",
        ));
    }
    let clock = ClockId::from_raw(clock_raw).ok_or(field(
        "lease.clock_id",
        clock_raw.into(),
        "must be CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW or CLOCK_BOOTTIME",
    ))?;
    if period_size == 0 {
        return Err(field("lease.period_size", 0, "must be at least 1 frame"));
    }
    if buffer_size == 0 || buffer_size > MAX_BUFFER_FRAMES {
        return Err(field(
            "lease.buffer_size",
            buffer_size,
            "must be 1..=16777216 frames",
        ));
    }
    if buffer_size.checked_rem(period_size) != Some(0) {
        return Err(field(
            "lease.buffer_size",
            buffer_size,
            "must be a whole number of periods",
        ));
    }
    let frame_bytes = u64::from(channels) * format.sample_bytes() as u64;
    if buffer_size * frame_bytes > MAX_RING_BYTES {
        return Err(field(
            "lease.buffer_size",
            buffer_size,
            "ring would exceed 512 MiB",
        ));
    }
    if boundary < buffer_size
        || boundary > MAX_BOUNDARY
        || boundary.checked_rem(buffer_size) != Some(0)
    {
        return Err(field(
            "lease.boundary",
            boundary,
            "must be a multiple of the buffer size, at most 2^62",
        ));
    }
    if reserved != 0 {
        return Err(WireError::Reserved {
            field: "lease.reserved",
            value: reserved,
        });
    }
    Ok(LeaseInfo {
        layout: StreamLayout {
            format,
            channels,
            rate,
            period_size,
            buffer_size,
            boundary,
        },
        device,
        status_mappable: flags & FLAG_STATUS_MAPPABLE != 0,
        clock,
        batch: flags & FLAG_BATCH != 0,
        wake_fd,
        lease_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_lease() -> LeaseInfo {
        LeaseInfo {
            layout: StreamLayout {
                format: Format::S16Le,
                channels: 2,
                rate: 48_000,
                period_size: 256,
                buffer_size: 1024,
                boundary: 1024 << 30,
            },
            device: DeviceKind::Simulated,
            status_mappable: true,
            clock: ClockId::Monotonic,
            batch: true,
            wake_fd: false,
            lease_id: 7,
        }
    }

    #[test]
    fn lease_round_trips_and_has_fixed_size() {
        let l = sample_lease();
        let e = l.encode();
        assert_eq!(e.as_bytes().len(), HEADER_LEN + LEASE_PAYLOAD_LEN);
        assert_eq!(&e.as_bytes()[..4], b"PCMR");
        assert_eq!(
            parse_server_message(e.as_bytes()),
            Ok(ServerMessage::Lease(l))
        );
    }

    #[test]
    fn lease_bytes_are_little_endian_at_documented_offsets() {
        let e = sample_lease().encode();
        let b = e.as_bytes();
        assert_eq!(&b[4..6], &[1, 0]); // version
        assert_eq!(&b[6..8], &[2, 0]); // kind lease
        assert_eq!(&b[8..12], &[64, 0, 0, 0]);
        let p = &b[HEADER_LEN..];
        assert_eq!(&p[0..4], &[2, 0, 0, 0]); // S16_LE
        assert_eq!(&p[8..12], &48_000u32.to_le_bytes());
        assert_eq!(&p[12..16], &[2, 0, 2, 0]); // simulated, 2 fds
        assert_eq!(&p[32..40], &1024u64.to_le_bytes());
    }

    #[test]
    fn rejects_bad_geometry() {
        let mut l = sample_lease();
        l.layout.buffer_size = 1000; // not a multiple of 256
        let e = l.encode();
        assert!(matches!(
            parse_server_message(e.as_bytes()),
            Err(WireError::BadField {
                field: "lease.buffer_size",
                ..
            })
        ));
        let mut l = sample_lease();
        l.layout.channels = 65;
        assert!(parse_server_message(l.encode().as_bytes()).is_err());
        let mut l = sample_lease();
        l.layout.rate = 999;
        assert!(parse_server_message(l.encode().as_bytes()).is_err());
        let mut l = sample_lease();
        l.layout.boundary = 1024 * 3 + 1;
        assert!(parse_server_message(l.encode().as_bytes()).is_err());
    }

    #[test]
    fn rejects_trailing_garbage_and_truncation() {
        let e = sample_lease().encode();
        let mut v = e.as_bytes().to_vec();
        v.push(0);
        assert!(matches!(
            parse_server_message(&v),
            Err(WireError::LengthMismatch { .. })
        ));
        let t = &e.as_bytes()[..e.as_bytes().len() - 1];
        assert!(matches!(
            parse_server_message(t),
            Err(WireError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn wrong_version_and_direction() {
        let e = Hello::new("x").encode();
        let mut v = e.as_bytes().to_vec();
        v[4] = 2;
        assert_eq!(
            parse_client_message(&v),
            Err(WireError::UnsupportedVersion { got: 2 })
        );
        assert!(matches!(
            parse_server_message(e.as_bytes()),
            Err(WireError::UnexpectedKind { got: Kind::Hello })
        ));
    }

    #[test]
    fn hello_and_refusal_sanitize_text() {
        let h = Hello::new("game\n\u{7}x");
        assert_eq!(h.name, "game??x");
        let long = "é".repeat(100);
        let h = Hello::new(&long);
        assert!(h.name.len() <= MAX_NAME_LEN);
        assert_eq!(
            parse_client_message(h.encode().as_bytes()),
            Ok(ClientMessage::Hello(h))
        );
        let r = Refusal::new(RefusalCode::Busy, &"x".repeat(1000));
        assert_eq!(r.detail.len(), MAX_DETAIL_LEN);
        assert!(r.encode().as_bytes().len() <= MAX_MESSAGE_LEN);
        assert_eq!(
            parse_server_message(r.encode().as_bytes()),
            Ok(ServerMessage::Refusal(r))
        );
    }
}
