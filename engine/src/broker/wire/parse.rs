//! The strict parsers.

use super::error::WireError;
use super::limits::*;
use super::message::*;
use crate::layout::{Format, StreamLayout};
use crate::pcm::Direction;

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

/// Checks the header and returns the version, the kind and the payload.
fn parse_header(bytes: &[u8]) -> Result<(u16, Kind, &[u8]), WireError> {
    if bytes.len() < HEADER_LEN {
        return Err(WireError::ShortHeader { got: bytes.len() });
    }
    let mut r = Reader { bytes, pos: 0 };
    let magic: [u8; 4] = r.take();
    if magic != MAGIC {
        return Err(WireError::BadMagic { got: magic });
    }
    let version = r.u16();
    if !(MIN_VERSION..=VERSION).contains(&version) {
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
    Ok((version, kind, payload))
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

/// Parses a message a broker receives (a [`Hello`], in version 1 or 2).
pub fn parse_client_message(bytes: &[u8]) -> Result<ClientMessage, WireError> {
    let (version, kind, payload) = parse_header(bytes)?;
    match kind {
        Kind::Hello => parse_hello(payload, version).map(ClientMessage::Hello),
        other => Err(WireError::UnexpectedKind { got: other }),
    }
}

/// Parses a message a client receives (version 1 or 2).
pub fn parse_server_message(bytes: &[u8]) -> Result<ServerMessage, WireError> {
    let (version, kind, payload) = parse_header(bytes)?;
    match kind {
        Kind::Lease if version < 2 => {
            parse_lease(payload, Direction::Playback).map(ServerMessage::Lease)
        }
        Kind::Lease => parse_lease_v2(payload),
        Kind::Queued => parse_queued(payload).map(ServerMessage::Queued),
        Kind::Refusal => parse_refusal(payload, version).map(ServerMessage::Refusal),
        other => Err(WireError::UnexpectedKind { got: other }),
    }
}

fn parse_hello(p: &[u8], version: u16) -> Result<Hello, WireError> {
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
    let kind_raw = r.u16();
    // Version 1: a reserved 0 that means playback. Version 2: the kind.
    let kind = if version < 2 {
        if kind_raw != 0 {
            return Err(WireError::Reserved {
                field: "hello.reserved",
                value: kind_raw.into(),
            });
        }
        LeaseKind::Playback
    } else {
        LeaseKind::from_raw(kind_raw).ok_or(field(
            "hello.kind",
            kind_raw.into(),
            "must be 1 (playback), 2 (capture) or 3 (duplex)",
        ))?
    };
    let name = r.rest();
    if name.len() != name_len {
        return Err(field(
            "hello.name_len",
            name_len as u64,
            "must equal the bytes that follow",
        ));
    }
    Ok(Hello {
        kind,
        version,
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

fn parse_refusal(p: &[u8], version: u16) -> Result<Refusal, WireError> {
    if p.len() < REFUSAL_FIXED_LEN || p.len() > REFUSAL_FIXED_LEN + MAX_DETAIL_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Refusal,
            len: p.len(),
        });
    }
    let mut r = Reader { bytes: p, pos: 0 };
    let code_raw = r.u16();
    let code = RefusalCode::from_raw(code_raw)
        // Codes added in a later version do not exist in an earlier one.
        .filter(|c| c.for_version(version) == *c)
        .ok_or(field(
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

/// A version-2 lease: a 16-byte head, then one 64-byte block per stream.
fn parse_lease_v2(p: &[u8]) -> Result<ServerMessage, WireError> {
    if p.len() < LEASE_V2_FIXED_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Lease,
            len: p.len(),
        });
    }
    let mut r = Reader { bytes: p, pos: 0 };
    let kind_raw = r.u16();
    let streams = r.u16();
    let flags = r.u32();
    let reserved = r.u64();
    let kind = LeaseKind::from_raw(kind_raw).ok_or(field(
        "lease.kind",
        kind_raw.into(),
        "must be 1 (playback), 2 (capture) or 3 (duplex)",
    ))?;
    let want = if kind == LeaseKind::Duplex { 2 } else { 1 };
    if streams != want {
        return Err(field(
            "lease.streams",
            streams.into(),
            "must be 1 for a playback or capture lease, 2 for duplex",
        ));
    }
    if p.len() != LEASE_V2_FIXED_LEN + usize::from(streams) * LEASE_PAYLOAD_LEN {
        return Err(WireError::BadPayloadLength {
            kind: Kind::Lease,
            len: p.len(),
        });
    }
    let known = if kind == LeaseKind::Duplex {
        LEASE_FLAG_LINKED
    } else {
        0
    };
    if flags & !known != 0 {
        return Err(WireError::Reserved {
            field: "lease.flags",
            value: flags.into(),
        });
    }
    if reserved != 0 {
        return Err(WireError::Reserved {
            field: "lease.reserved_v2",
            value: reserved,
        });
    }
    let block = |i: usize, direction| {
        let start = LEASE_V2_FIXED_LEN + i * LEASE_PAYLOAD_LEN;
        parse_lease(&p[start..start + LEASE_PAYLOAD_LEN], direction)
    };
    match kind {
        LeaseKind::Playback => block(0, Direction::Playback).map(ServerMessage::Lease),
        LeaseKind::Capture => block(0, Direction::Capture).map(ServerMessage::Lease),
        LeaseKind::Duplex => {
            let playback = block(0, Direction::Playback)?;
            let capture = block(1, Direction::Capture)?;
            if playback.layout.rate != capture.layout.rate {
                return Err(field(
                    "lease.capture.rate",
                    capture.layout.rate.into(),
                    "a duplex pair must run at the playback stream's rate",
                ));
            }
            if playback.fd_count() + capture.fd_count() > crate::broker::socket::MAX_FDS {
                return Err(field(
                    "lease.fd_count",
                    (playback.fd_count() + capture.fd_count()) as u64,
                    "a lease carries at most 6 fds",
                ));
            }
            Ok(ServerMessage::Duplex {
                playback,
                capture,
                linked: flags & LEASE_FLAG_LINKED != 0,
            })
        }
    }
}

/// One stream block (the whole version-1 lease payload).
fn parse_lease(p: &[u8], direction: Direction) -> Result<LeaseInfo, WireError> {
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
        direction,
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
