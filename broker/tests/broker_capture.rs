//! Capture and duplex leases on the host (wire version 2), with memfd
//! streams standing in for the devices: the lease kinds, fd order, the
//! refusals (no capture stream, rates that differ), and version
//! compatibility both ways (an old client's hello bytes get today's
//! playback lease; a new client at an old broker gets a typed refusal).

mod broker_common;

use broker_common::{start, test_layout, unique_addr, MemfdSource};
use pcmring::broker::socket;
use pcmring::broker::wire::{self, RefusalCode, ServerMessage};
use pcmring::broker::{LeaseKind, LeaseSource};
use pcmring::client::{ConnectOptions, LeaseError};
use pcmring::pcm::Direction;
use pcmring::{Error, StreamLayout};
use pcmring_broker::{Broker, BrokerConfig, Listener};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

/// A memfd stream that says it is a capture stream.
struct CaptureMemfd(MemfdSource);

impl LeaseSource for CaptureMemfd {
    fn layout(&self) -> StreamLayout {
        self.0.layout()
    }
    fn direction(&self) -> Direction {
        Direction::Capture
    }
    fn device_kind(&self) -> pcmring::broker::DeviceKind {
        self.0.device_kind()
    }
    fn status_mappable(&self) -> bool {
        true
    }
    fn lease_fds(&mut self) -> pcmring::Result<Vec<OwnedFd>> {
        self.0.lease_fds()
    }
    fn silence(&mut self) {}
}

fn opts(kind: LeaseKind) -> ConnectOptions {
    ConnectOptions {
        name: "capture-test".into(),
        io_timeout: Duration::from_secs(2),
        wait_in_line: None,
        kind,
    }
}

/// A broker with a playback memfd stream and, if `capture_rate` is set, a
/// capture one at that rate.
fn serve(tag: &str, capture_rate: Option<u32>, linked: bool) -> Served {
    let addr = unique_addr(tag);
    let listener = Listener::bind(&addr, 16).expect("bind");
    let mut b = Broker::new(
        listener,
        MemfdSource::new(test_layout()),
        BrokerConfig::default(),
    )
    .expect("broker");
    if let Some(rate) = capture_rate {
        let layout = StreamLayout {
            rate,
            ..test_layout()
        };
        b = b.with_capture(Box::new(CaptureMemfd(MemfdSource::new(layout))), linked);
    }
    let stop = b.stop_handle();
    let thread = std::thread::spawn(move || {
        let mut b = b;
        b.run().expect("broker run");
    });
    Served {
        addr,
        stop,
        thread: Some(thread),
    }
}

struct Served {
    addr: socket::SocketAddr,
    stop: pcmring_broker::StopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn capture_and_duplex_leases_carry_their_streams_in_order() {
    let b = serve("kinds", Some(48_000), true);
    let lease = opts(LeaseKind::Capture).connect(&b.addr).expect("capture");
    assert_eq!(lease.kind(), LeaseKind::Capture);
    assert_eq!(lease.info().direction, Direction::Capture);
    assert_eq!(lease.fds().len(), 2);
    assert!(lease.capture_info().is_none());
    drop(lease);

    let lease = opts(LeaseKind::Duplex).connect(&b.addr).expect("duplex");
    assert_eq!(lease.kind(), LeaseKind::Duplex);
    assert_eq!(lease.info().direction, Direction::Playback);
    let (capture, linked) = lease.capture_info().expect("capture stream");
    assert!(linked);
    assert_eq!(capture.direction, Direction::Capture);
    // Playback's ring and status page, then capture's.
    assert_eq!(lease.fds().len(), 4);
    // A duplex lease is not a single device.
    let e = opts(LeaseKind::Duplex).connect(&b.addr);
    assert!(
        matches!(e, Err(LeaseError::Busy { .. })),
        "one lease at a time: {e:?}"
    );
    let e = lease.into_device().expect_err("a pair is two devices");
    assert!(
        matches!(
            &e,
            Error::Lease(l) if matches!(**l, LeaseError::WrongKind {
                got: LeaseKind::Duplex,
                ..
            })
        ),
        "{e}"
    );

    // Playback, as before.
    let lease = opts(LeaseKind::Playback)
        .connect(&b.addr)
        .expect("playback");
    assert_eq!(lease.kind(), LeaseKind::Playback);
    assert_eq!(lease.fds().len(), 2);
}

#[test]
fn a_broker_without_capture_refuses_capture_and_duplex_by_name() {
    let b = serve("nocap", None, false);
    for kind in [LeaseKind::Capture, LeaseKind::Duplex] {
        let e = opts(kind).connect(&b.addr).expect_err("refused");
        assert!(
            matches!(
                e,
                LeaseError::Refused {
                    code: RefusalCode::Unavailable,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("capture"), "{e}");
    }
    opts(LeaseKind::Playback)
        .connect(&b.addr)
        .expect("playback still works");
}

#[test]
fn a_pair_whose_rates_differ_is_refused_with_a_typed_error() {
    let b = serve("rates", Some(44_100), false);
    let e = opts(LeaseKind::Duplex)
        .connect(&b.addr)
        .expect_err("refused");
    assert!(
        matches!(
            e,
            LeaseError::Refused {
                code: RefusalCode::RatesDiffer,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("44100 Hz"), "{e}");
    // Each stream alone is still fine.
    let l = opts(LeaseKind::Capture).connect(&b.addr).expect("capture");
    assert_eq!(l.layout().rate, 44_100);
}

#[test]
fn an_old_clients_hello_gets_the_old_lease() {
    let b = serve("old", Some(48_000), true);
    // Version 1, hello, 10-byte payload: flags 0, name "ab", reserved 0.
    let old: [u8; 22] = [
        b'P', b'C', b'M', b'R', 1, 0, 1, 0, 10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b',
    ];
    let s = socket::connect(&b.addr, Duration::from_secs(2)).expect("connect");
    socket::send_with_fds(s.as_fd(), &old, &[]).expect("send");
    socket::set_timeouts(s.as_fd(), Duration::from_secs(2)).expect("timeouts");
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = socket::recv_with_fds(s.as_fd(), &mut buf, false).expect("reply");
    let bytes = &buf[..r.len];
    // Exactly the version-1 lease: 12 + 64 bytes, version 1, 2 fds.
    assert_eq!(bytes.len(), wire::HEADER_LEN + wire::LEASE_PAYLOAD_LEN);
    assert_eq!(&bytes[4..8], &[1, 0, 2, 0]);
    assert_eq!(r.fds.len(), 2);
    match wire::parse_server_message(bytes) {
        Ok(ServerMessage::Lease(info)) => {
            assert_eq!(info.direction, Direction::Playback);
            assert_eq!(info.layout, test_layout());
        }
        other => panic!("expected a lease, got {other:?}"),
    }
}

#[test]
fn a_new_client_at_an_old_broker_gets_a_typed_refusal() {
    // An old broker: refuses any version but 1 with VersionMismatch, in
    // version 1 (what pcmring brokers before wire version 2 did).
    let addr = unique_addr("oldbroker");
    let listener = Listener::bind(&addr, 4).expect("bind");
    let t = std::thread::spawn(move || {
        let s = loop {
            if let Some(s) = listener.accept().expect("accept") {
                break s;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        socket::set_timeouts(s.as_fd(), Duration::from_secs(2)).expect("timeouts");
        let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
        let r = socket::recv_with_fds(s.as_fd(), &mut buf, false).expect("hello");
        assert_eq!(&buf[4..6], &[2, 0], "a capture hello is version 2");
        assert_eq!(r.len, 12 + 8 + "capture-test".len());
        let refusal = wire::Refusal::new(
            RefusalCode::VersionMismatch,
            "peer speaks pcmring wire version 2, this build speaks 1",
        );
        socket::send_with_fds(s.as_fd(), refusal.encode_as(1).as_bytes(), &[]).expect("send");
        std::thread::sleep(Duration::from_millis(200));
    });
    let e = opts(LeaseKind::Capture)
        .connect(&addr)
        .expect_err("refused");
    t.join().expect("old broker");
    assert!(
        matches!(
            e,
            LeaseError::Refused {
                code: RefusalCode::VersionMismatch,
                ..
            }
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("wire version 2"), "{text}");
    assert!(text.contains("upgrade pcmring-broker"), "{text}");
}

#[test]
fn the_common_helpers_still_serve_playback() {
    // The shared broker helper (one playback source) is unchanged by v2.
    let b = start(
        MemfdSource::new(test_layout()),
        unique_addr("plain"),
        |_| {},
    );
    let l = opts(LeaseKind::Playback).connect(&b.addr).expect("lease");
    assert_eq!(l.kind(), LeaseKind::Playback);
}
