//! Encoding messages into fixed buffers.

use super::limits::*;
use super::message::*;
use std::fmt;

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
