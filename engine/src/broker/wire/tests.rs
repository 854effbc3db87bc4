//! Round trips and rejections.

use super::*;
use crate::layout::{Format, StreamLayout};

pub(crate) fn sample_lease() -> LeaseInfo {
    LeaseInfo {
        direction: crate::pcm::Direction::Playback,
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
    v[4] = 3;
    assert_eq!(
        parse_client_message(&v),
        Err(WireError::UnsupportedVersion { got: 3 })
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

// ------------------------------------------------------------ versions

/// A version-1 hello named "ab", byte for byte as pcmring clients before
/// wire version 2 sent it.
const OLD_HELLO: [u8; 22] = [
    b'P', b'C', b'M', b'R', 1, 0, 1, 0, 10, 0, 0, 0, // header: v1, hello, 10 bytes
    0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', // flags, name_len, reserved, name
];

#[test]
fn an_old_hello_asks_for_playback_and_a_playback_request_is_an_old_hello() {
    let parsed = parse_client_message(&OLD_HELLO);
    assert_eq!(
        parsed,
        Ok(ClientMessage::Hello(Hello {
            kind: LeaseKind::Playback,
            version: 1,
            name: "ab".into()
        }))
    );
    assert_eq!(Hello::new("ab").encode().as_bytes(), &OLD_HELLO);
    assert_eq!(
        Hello::request("ab", LeaseKind::Playback).encode().as_bytes(),
        &OLD_HELLO
    );
}

#[test]
fn version_2_hellos_carry_the_kind() {
    for kind in [LeaseKind::Capture, LeaseKind::Duplex] {
        let h = Hello::request("rec", kind);
        assert_eq!(h.version, 2);
        let e = h.encode();
        let b = e.as_bytes();
        assert_eq!(&b[4..6], &[2, 0]);
        assert_eq!(&b[HEADER_LEN + 6..HEADER_LEN + 8], &(kind as u16).to_le_bytes());
        assert_eq!(parse_client_message(b), Ok(ClientMessage::Hello(h)));
    }
    // A version-2 playback request is fine too (a C client may send it).
    let h = Hello {
        kind: LeaseKind::Playback,
        version: 2,
        name: String::new(),
    };
    assert_eq!(
        parse_client_message(h.encode().as_bytes()),
        Ok(ClientMessage::Hello(h))
    );
}

#[test]
fn hello_kind_rules_depend_on_the_version() {
    // Version 1: the kind slot is reserved.
    let mut b = OLD_HELLO;
    b[HEADER_LEN + 6] = 2;
    assert!(matches!(
        parse_client_message(&b),
        Err(WireError::Reserved {
            field: "hello.reserved",
            ..
        })
    ));
    // Version 2: 1..=3 only.
    for bad in [0u8, 4, 255] {
        let mut b = OLD_HELLO;
        b[4] = 2;
        b[HEADER_LEN + 6] = bad;
        assert!(
            matches!(
                parse_client_message(&b),
                Err(WireError::BadField {
                    field: "hello.kind",
                    ..
                })
            ),
            "kind {bad}"
        );
    }
    // Versions outside 1..=2 are refused as such.
    for v in [0u16, 3, 0xffff] {
        let mut b = OLD_HELLO;
        b[4..6].copy_from_slice(&v.to_le_bytes());
        assert_eq!(
            parse_client_message(&b),
            Err(WireError::UnsupportedVersion { got: v })
        );
    }
}

fn capture_lease() -> LeaseInfo {
    LeaseInfo {
        direction: crate::pcm::Direction::Capture,
        device: DeviceKind::HwBuffer,
        ..sample_lease()
    }
}

#[test]
fn a_playback_lease_for_an_old_client_is_the_old_lease() {
    let l = sample_lease();
    let msg = ServerMessage::Lease(l);
    assert_eq!(msg.encode_as(1).as_bytes(), l.encode().as_bytes());
    assert_eq!(msg.encode().as_bytes(), l.encode().as_bytes());
    assert_eq!(&l.encode().as_bytes()[4..6], &[1, 0]);
}

#[test]
fn version_2_leases_round_trip() {
    let single = [
        ServerMessage::Lease(sample_lease()),
        ServerMessage::Lease(capture_lease()),
    ];
    for msg in single {
        let e = msg.encode_as(2);
        let b = e.as_bytes();
        assert_eq!(b.len(), HEADER_LEN + LEASE_V2_FIXED_LEN + LEASE_PAYLOAD_LEN);
        assert_eq!(&b[4..6], &[2, 0]);
        assert_eq!(parse_server_message(b), Ok(msg));
    }
    for linked in [false, true] {
        let msg = ServerMessage::Duplex {
            playback: sample_lease(),
            capture: capture_lease(),
            linked,
        };
        let e = msg.encode_as(2);
        let b = e.as_bytes();
        assert_eq!(
            b.len(),
            HEADER_LEN + LEASE_V2_FIXED_LEN + 2 * LEASE_PAYLOAD_LEN
        );
        let p = &b[HEADER_LEN..];
        assert_eq!(&p[0..4], &[3, 0, 2, 0]); // duplex, 2 streams
        assert_eq!(&p[4..8], &u32::from(linked).to_le_bytes());
        // Each block is the version-1 payload of its stream.
        assert_eq!(
            &p[16..80],
            &sample_lease().encode().as_bytes()[HEADER_LEN..]
        );
        assert_eq!(parse_server_message(b), Ok(msg));
    }
    // Even asked for version 1, a duplex lease is a version-2 message.
    let msg = ServerMessage::Duplex {
        playback: sample_lease(),
        capture: capture_lease(),
        linked: true,
    };
    assert_eq!(&msg.encode_as(1).as_bytes()[4..6], &[2, 0]);
}

#[test]
fn version_2_lease_rejections() {
    let duplex = |capture: LeaseInfo| ServerMessage::Duplex {
        playback: sample_lease(),
        capture,
        linked: true,
    };
    // Rates differ: a typed field error, not a silently skewed pair.
    let mut c = capture_lease();
    c.layout.rate = 44_100;
    assert!(matches!(
        parse_server_message(duplex(c).encode_as(2).as_bytes()),
        Err(WireError::BadField {
            field: "lease.capture.rate",
            ..
        })
    ));
    let good = duplex(capture_lease()).encode_as(2);
    let patch = |off: usize, bytes: &[u8]| {
        let mut b = good.as_bytes().to_vec();
        b[HEADER_LEN + off..HEADER_LEN + off + bytes.len()].copy_from_slice(bytes);
        parse_server_message(&b)
    };
    assert!(matches!(
        patch(0, &[4, 0]),
        Err(WireError::BadField {
            field: "lease.kind",
            ..
        })
    ));
    assert!(matches!(
        patch(2, &[1, 0]),
        Err(WireError::BadField {
            field: "lease.streams",
            ..
        })
    ));
    assert!(matches!(
        patch(4, &[2, 0, 0, 0]),
        Err(WireError::Reserved {
            field: "lease.flags",
            ..
        })
    ));
    assert!(matches!(
        patch(8, &[1]),
        Err(WireError::Reserved {
            field: "lease.reserved_v2",
            ..
        })
    ));
    // A single-stream lease may not claim to be linked.
    let single = ServerMessage::Lease(capture_lease()).encode_as(2);
    let mut b = single.as_bytes().to_vec();
    b[HEADER_LEN + 4] = 1;
    assert!(matches!(
        parse_server_message(&b),
        Err(WireError::Reserved { .. })
    ));
    // Cut: one block short.
    let b = &good.as_bytes()[..good.as_bytes().len() - LEASE_PAYLOAD_LEN];
    let mut b = b.to_vec();
    let len = (b.len() - HEADER_LEN) as u32;
    b[8..12].copy_from_slice(&len.to_le_bytes());
    assert!(matches!(
        parse_server_message(&b),
        Err(WireError::BadPayloadLength { .. })
    ));
}

#[test]
fn refusals_added_in_version_2_reach_old_clients_as_device_errors() {
    for code in [RefusalCode::Unavailable, RefusalCode::RatesDiffer] {
        let r = Refusal::new(code, "why");
        let old = parse_server_message(r.encode_as(1).as_bytes());
        assert!(
            matches!(&old, Ok(ServerMessage::Refusal(r)) if r.code == RefusalCode::DeviceError),
            "{old:?}"
        );
        let new = parse_server_message(r.encode_as(2).as_bytes());
        assert_eq!(new, Ok(ServerMessage::Refusal(r.clone())));
        // A version-1 message cannot carry a version-2 code.
        let mut b = r.encode_as(2).as_bytes().to_vec();
        b[4] = 1;
        assert!(matches!(
            parse_server_message(&b),
            Err(WireError::BadField {
                field: "refusal.code",
                ..
            })
        ));
    }
}

#[test]
fn garbage_never_panics_and_is_typed() {
    // A cheap deterministic fuzz of both parsers around version-2 messages
    // (the proptest suite in engine/tests/broker_wire_fuzz.rs goes wider).
    let seeds = [
        ServerMessage::Duplex {
            playback: sample_lease(),
            capture: capture_lease(),
            linked: true,
        }
        .encode_as(2),
        Hello::request("x", LeaseKind::Duplex).encode(),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in &seeds {
        for _ in 0..20_000 {
            let mut b = seed.as_bytes().to_vec();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            let cut = (next() as usize) % (b.len() + 1);
            let b = if next() % 4 == 0 { &b[..cut] } else { &b[..] };
            let _ = parse_server_message(b);
            let _ = parse_client_message(b);
        }
    }
}

#[test]
fn the_documented_capture_hello_is_what_the_encoder_sends() {
    // docs/wire-format.md, "Hello": a version-2 capture request named "rec".
    let doc: [u8; 23] = [
        0x50, 0x43, 0x4d, 0x52, 0x02, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x72, 0x65, 0x63,
    ];
    assert_eq!(
        Hello::request("rec", LeaseKind::Capture).encode().as_bytes(),
        &doc
    );
}

#[test]
fn a_client_reads_the_lease_clock_by_name() {
    let mut info = sample_lease();
    assert_eq!(info.clock_name(), "CLOCK_MONOTONIC");
    info.clock = ClockId::Boottime;
    assert_eq!(info.clock_name(), "CLOCK_BOOTTIME");
}
