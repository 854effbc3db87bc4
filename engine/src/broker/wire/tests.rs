//! Round trips and rejections.

use super::*;
use crate::layout::{Format, StreamLayout};

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
