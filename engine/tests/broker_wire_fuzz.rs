//! Proptest-based fuzzer for both wire parsers: random bytes, mutated
//! valid messages and truncations never panic and are rejected unless they
//! are exactly a valid message; valid messages round-trip.
//!
//! Bounded (a few thousand cases per property) so it runs in CI in seconds.

use pcmring::broker::wire::{
    self, ClientMessage, ClockId, DeviceKind, Hello, LeaseInfo, LeaseKind, Queued, Refusal,
    RefusalCode, ServerMessage, WireError, HEADER_LEN, MAX_MESSAGE_LEN,
};
use pcmring::pcm::Direction;
use pcmring::{Format, StreamLayout};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

fn layout() -> impl Strategy<Value = StreamLayout> {
    (
        format(),
        1u32..=64,
        1_000u32..=768_000,
        1u64..=4096,
        1u64..=16,
        0u32..=20,
    )
        .prop_filter_map(
            "ring too big",
            |(format, channels, rate, period, periods, shift)| {
                let buffer = period * periods;
                let ring = buffer * channels as u64 * format.sample_bytes() as u64;
                (ring <= wire::MAX_RING_BYTES).then_some(StreamLayout {
                    format,
                    channels,
                    rate,
                    period_size: period,
                    buffer_size: buffer,
                    boundary: buffer << shift,
                })
            },
        )
}

fn lease() -> impl Strategy<Value = LeaseInfo> {
    (
        layout(),
        prop::bool::ANY,
        prop::bool::ANY,
        prop::sample::select(vec![
            ClockId::Monotonic,
            ClockId::MonotonicRaw,
            ClockId::Boottime,
        ]),
        any::<u64>(),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(
            |(layout, hw, status_mappable, clock, lease_id, batch, wake)| LeaseInfo {
                direction: pcmring::pcm::Direction::Playback,
                layout,
                device: if hw {
                    DeviceKind::HwBuffer
                } else {
                    DeviceKind::Simulated
                },
                status_mappable,
                clock,
                batch,
                wake_fd: wake && !hw,
                lease_id,
            },
        )
}

fn refusal_code() -> impl Strategy<Value = RefusalCode> {
    (1u16..=8).prop_map(|n| RefusalCode::from_raw(n).expect("codes 1..=8 exist"))
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        lease().prop_map(ServerMessage::Lease),
        (1u32..).prop_map(|position| ServerMessage::Queued(Queued { position })),
        (refusal_code(), ".{0,80}")
            .prop_map(|(code, d)| ServerMessage::Refusal(Refusal::new(code, &d))),
    ]
}

/// Every broker message of wire version 2: capture leases, duplex pairs
/// (capture at the playback rate), the refusal codes added in version 2.
fn server_message_v2() -> impl Strategy<Value = ServerMessage> {
    let capture = |mut l: LeaseInfo| {
        l.direction = Direction::Capture;
        l
    };
    prop_oneof![
        server_message(),
        lease().prop_map(move |l| ServerMessage::Lease(capture(l))),
        (lease(), lease(), prop::bool::ANY).prop_map(move |(p, c, linked)| {
            let mut c = capture(c);
            c.layout.rate = p.layout.rate;
            ServerMessage::Duplex {
                playback: p,
                capture: c,
                linked,
            }
        }),
        ((1u16..=10), ".{0,80}").prop_map(|(n, d)| {
            let code = RefusalCode::from_raw(n).expect("codes 1..=10 exist");
            ServerMessage::Refusal(Refusal::new(code, &d))
        }),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    (".{0,80}", 1u16..=3).prop_map(|(n, k)| {
        let kind = LeaseKind::from_raw(k).expect("kinds 1..=3 exist");
        ClientMessage::Hello(Hello::request(&n, kind))
    })
}

/// One to three (place, new value) byte overwrites for a message of any
/// length; apply them with [`overwrite_bytes`].
fn byte_overwrites() -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
}

/// Overwrites the bytes `overwrites` names (a place may repeat: the last
/// value wins).
fn overwrite_bytes(bytes: &mut [u8], overwrites: &[(prop::sample::Index, u8)]) {
    for (i, v) in overwrites {
        let i = i.index(bytes.len());
        bytes[i] = *v;
    }
}

/// Both parsers on arbitrary input: no panic, and the only accepted inputs
/// are exactly the encoding of what they return.
fn check_both(bytes: &[u8]) {
    if let Ok(m) = wire::parse_server_message(bytes) {
        // Canonical in the version it came in.
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        assert_eq!(
            m.encode_as(version).as_bytes(),
            bytes,
            "accepted a non-canonical server message"
        );
    }
    if let Ok(m) = wire::parse_client_message(bytes) {
        assert_eq!(
            m.encode().as_bytes(),
            bytes,
            "accepted a non-canonical client message"
        );
    }
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..=MAX_MESSAGE_LEN + 16)) {
        check_both(&bytes);
    }

    #[test]
    fn random_payload_behind_a_valid_header(
        kind in 0u16..=6,
        version in wire::MIN_VERSION..=wire::VERSION,
        payload in prop::collection::vec(any::<u8>(), 0..=200),
    ) {
        let mut bytes = Vec::from(*b"PCMR");
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&kind.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&payload);
        check_both(&bytes);
    }

    #[test]
    fn server_messages_round_trip(m in server_message()) {
        let e = m.encode();
        prop_assert!(e.as_bytes().len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(wire::parse_server_message(e.as_bytes()), Ok(m));
        prop_assert!(wire::parse_client_message(e.as_bytes()).is_err());
    }

    #[test]
    fn version_2_server_messages_round_trip(m in server_message_v2()) {
        let e = m.encode_as(2);
        prop_assert!(e.as_bytes().len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(wire::parse_server_message(e.as_bytes()), Ok(m));
        prop_assert!(wire::parse_client_message(e.as_bytes()).is_err());
    }

    #[test]
    fn mutated_version_2_server_messages(
        m in server_message_v2(),
        edits in byte_overwrites(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Never a panic, whatever comes back.
        let mut bytes = m.encode_as(2).as_bytes().to_vec();
        overwrite_bytes(&mut bytes, &edits);
        let _ = wire::parse_server_message(&bytes);
        let n = cut.index(bytes.len() + 1);
        let _ = wire::parse_server_message(&bytes[..n]);
    }

    #[test]
    fn client_messages_round_trip(m in client_message()) {
        let e = m.encode();
        prop_assert_eq!(wire::parse_client_message(e.as_bytes()), Ok(m));
        prop_assert!(wire::parse_server_message(e.as_bytes()).is_err());
    }

    #[test]
    fn mutated_server_messages(
        m in server_message(),
        overwrites in byte_overwrites(),
    ) {
        let mut bytes = m.encode().as_bytes().to_vec();
        overwrite_bytes(&mut bytes, &overwrites);
        check_both(&bytes);
    }

    #[test]
    fn mutated_client_messages(
        m in client_message(),
        overwrites in byte_overwrites(),
    ) {
        let mut bytes = m.encode().as_bytes().to_vec();
        overwrite_bytes(&mut bytes, &overwrites);
        check_both(&bytes);
    }

    #[test]
    fn truncations_and_extensions_are_rejected(
        m in server_message(),
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let full = m.encode().as_bytes().to_vec();
        let cut = cut.index(full.len());
        prop_assert!(wire::parse_server_message(&full[..cut]).is_err());
        let mut longer = full.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(wire::parse_server_message(&longer).is_err());
        // Fixing up the declared length does not make trailing bytes valid.
        let len = (longer.len() - HEADER_LEN) as u32;
        longer[8..12].copy_from_slice(&len.to_le_bytes());
        prop_assert!(wire::parse_server_message(&longer).is_err());
    }

    #[test]
    fn every_version_but_ours_is_refused(m in server_message(), v in any::<u16>()) {
        prop_assume!(!(wire::MIN_VERSION..=wire::VERSION).contains(&v));
        let mut bytes = m.encode().as_bytes().to_vec();
        bytes[4..6].copy_from_slice(&v.to_le_bytes());
        prop_assert_eq!(
            wire::parse_server_message(&bytes),
            Err(WireError::UnsupportedVersion { got: v })
        );
    }
}

/// Field-level rules the random tests may not hit often.
#[test]
fn out_of_range_lease_fields() {
    let good = LeaseInfo {
        direction: pcmring::pcm::Direction::Playback,
        layout: StreamLayout {
            format: Format::S32Le,
            channels: 2,
            rate: 48_000,
            period_size: 128,
            buffer_size: 512,
            boundary: 512 << 20,
        },
        device: DeviceKind::HwBuffer,
        status_mappable: true,
        clock: ClockId::Monotonic,
        batch: false,
        wake_fd: false,
        lease_id: 1,
    };
    let bytes = good.encode().as_bytes().to_vec();
    assert!(wire::parse_server_message(&bytes).is_ok());
    let p = HEADER_LEN;
    let cases: &[(usize, &[u8], &str)] = &[
        (p, &3i32.to_le_bytes(), "lease.format"),
        (p + 4, &0u32.to_le_bytes(), "lease.channels"),
        (p + 4, &65u32.to_le_bytes(), "lease.channels"),
        (p + 8, &999u32.to_le_bytes(), "lease.rate"),
        (p + 8, &768_001u32.to_le_bytes(), "lease.rate"),
        (p + 12, &3u16.to_le_bytes(), "lease.device_kind"),
        (p + 14, &2u16.to_le_bytes(), "lease.fd_count"),
        (p + 20, &0u32.to_le_bytes(), "lease.clock_id"),
        (p + 24, &0u64.to_le_bytes(), "lease.period_size"),
        (p + 24, &100u64.to_le_bytes(), "lease.buffer_size"),
        (p + 32, &(1u64 << 25).to_le_bytes(), "lease.buffer_size"),
        (p + 40, &513u64.to_le_bytes(), "lease.boundary"),
        (p + 40, &256u64.to_le_bytes(), "lease.boundary"),
    ];
    for (off, val, field) in cases {
        let mut b = bytes.clone();
        b[*off..*off + val.len()].copy_from_slice(val);
        match wire::parse_server_message(&b) {
            Err(WireError::BadField { field: f, .. }) => assert_eq!(f, *field),
            other => panic!("{field}: expected BadField, got {other:?}"),
        }
    }
    let mut b = bytes.clone();
    b[p + 16] = 2; // a wake-up fd on a hardware lease
    assert!(matches!(
        wire::parse_server_message(&b),
        Err(WireError::BadField {
            field: "lease.flags",
            ..
        })
    ));
    let mut b = bytes.clone();
    b[p + 16] = 8; // unknown flag
    assert!(matches!(
        wire::parse_server_message(&b),
        Err(WireError::Reserved {
            field: "lease.flags",
            ..
        })
    ));
    let mut b = bytes;
    b[p + 60] = 1;
    assert!(matches!(
        wire::parse_server_message(&b),
        Err(WireError::Reserved {
            field: "lease.reserved",
            ..
        })
    ));
}

#[test]
fn errors_read_as_advice() {
    let e = WireError::UnsupportedVersion { got: 9 };
    assert!(e.to_string().contains("matching pcmring releases"), "{e}");
    let e = WireError::BadMagic { got: *b"HTTP" };
    assert!(e.to_string().contains("wrong socket path"), "{e}");
}
