//! Encoding messages into fixed buffers.

use super::limits::*;
use super::message::*;
use crate::pcm::Direction;
use std::fmt;

/// An encoded message in a fixed buffer (no allocation).
#[derive(Clone)]
pub struct Encoded {
    buf: [u8; MAX_MESSAGE_LEN],
    len: usize,
}

impl Encoded {
    fn new(kind: Kind, version: u16) -> Self {
        let mut e = Encoded {
            buf: [0; MAX_MESSAGE_LEN],
            len: HEADER_LEN,
        };
        e.buf[0..4].copy_from_slice(&MAGIC);
        e.buf[4..6].copy_from_slice(&version.to_le_bytes());
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
    /// A version-1 hello (a playback request) with a (sanitized) name.
    pub fn new(name: &str) -> Self {
        Hello::request(name, LeaseKind::Playback)
    }

    /// A hello asking for `kind`, in the lowest version that can say it
    /// (so a playback request still works with a version-1 broker).
    pub fn request(name: &str, kind: LeaseKind) -> Self {
        Hello {
            kind,
            version: kind.min_version(),
            name: sanitize(name, MAX_NAME_LEN),
        }
    }

    /// Encodes in `self.version`: `flags u32 (0) | name_len u16 | kind u16
    /// | name`. In version 1 the kind field is reserved and 0 (playback).
    pub fn encode(&self) -> Encoded {
        let name = sanitize(&self.name, MAX_NAME_LEN);
        let mut e = Encoded::new(Kind::Hello, self.version);
        e.put(&0u32.to_le_bytes());
        e.put(&(name.len() as u16).to_le_bytes());
        let kind = if self.version < 2 { 0 } else { self.kind as u16 };
        e.put(&kind.to_le_bytes());
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
    /// This is the whole payload of a version-1 lease (playback only) and
    /// one stream block of a version-2 lease.
    pub fn encode(&self) -> Encoded {
        let mut e = Encoded::new(Kind::Lease, 1);
        self.put_block(&mut e);
        e.finish()
    }

    fn put_block(&self, e: &mut Encoded) {
        let l = &self.layout;
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
    }
}

/// Encodes a version-2 lease: `lease kind u16 | stream count u16 | flags
/// u32 | reserved u64 (0)`, then one 64-byte block per stream (playback
/// first).
fn encode_lease_v2(kind: LeaseKind, streams: &[&LeaseInfo], linked: bool) -> Encoded {
    let mut e = Encoded::new(Kind::Lease, 2);
    e.put(&(kind as u16).to_le_bytes());
    e.put(&(streams.len() as u16).to_le_bytes());
    let flags = if linked { LEASE_FLAG_LINKED } else { 0 };
    e.put(&flags.to_le_bytes());
    e.put(&0u64.to_le_bytes());
    for s in streams {
        s.put_block(&mut e);
    }
    e.finish()
}

impl Queued {
    /// Encodes in version 1: `position u32 | reserved u32 (0)`.
    pub fn encode(&self) -> Encoded {
        self.encode_as(1)
    }

    /// Encodes in `version` (the same payload in every version).
    pub fn encode_as(&self, version: u16) -> Encoded {
        let mut e = Encoded::new(Kind::Queued, version);
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

    /// Encodes in version 1, which every client reads:
    /// `code u16 | detail_len u16 | detail`.
    pub fn encode(&self) -> Encoded {
        self.encode_as(1)
    }

    /// Encodes in `version`; a code that version does not know travels as
    /// [`RefusalCode::for_version`] says.
    pub fn encode_as(&self, version: u16) -> Encoded {
        let detail = sanitize(&self.detail, MAX_DETAIL_LEN);
        let mut e = Encoded::new(Kind::Refusal, version);
        e.put(&(self.code.for_version(version) as u16).to_le_bytes());
        e.put(&(detail.len() as u16).to_le_bytes());
        e.put(detail.as_bytes());
        e.finish()
    }
}

impl ServerMessage {
    /// Encodes any broker message in version 1 (a [`ServerMessage::Duplex`]
    /// only exists in version 2 and is encoded so).
    pub fn encode(&self) -> Encoded {
        self.encode_as(1)
    }

    /// Encodes in the peer's `version`. A version-1 lease can only say
    /// playback: the broker never sends other kinds to a version-1 client.
    pub fn encode_as(&self, version: u16) -> Encoded {
        match self {
            ServerMessage::Lease(m) if version < 2 => m.encode(),
            ServerMessage::Lease(m) => {
                let kind = match m.direction {
                    Direction::Playback => LeaseKind::Playback,
                    Direction::Capture => LeaseKind::Capture,
                };
                encode_lease_v2(kind, &[m], false)
            }
            ServerMessage::Duplex {
                playback,
                capture,
                linked,
            } => encode_lease_v2(LeaseKind::Duplex, &[playback, capture], *linked),
            ServerMessage::Queued(m) => m.encode_as(version),
            ServerMessage::Refusal(m) => m.encode_as(version),
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
