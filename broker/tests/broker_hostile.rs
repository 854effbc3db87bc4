//! Hostile input on both sides of the broker socket: clear errors, no
//! crash, no fd leak. Tests in this file run one at a time (they count the
//! process's open fds).

mod broker_common;

use broker_common::*;
use pcmring::broker::socket::{self, Listener, SocketAddr};
use pcmring::broker::wire::{
    self, ClockId, DeviceKind, Hello, LeaseInfo, Queued, Refusal, RefusalCode, ServerMessage,
};
use pcmring::client::{self, ConnectOptions, LeaseError};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn opts() -> ConnectOptions {
    ConnectOptions {
        name: "hostile-test".into(),
        io_timeout: Duration::from_millis(500),
        wait_in_line: None,
        ..ConnectOptions::default()
    }
}

// ---------------------------------------------------------------- broker side

/// Sends raw bytes (and fds) as a client and returns the broker's reply.
fn raw_exchange(addr: &SocketAddr, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> ServerMessage {
    let s = socket::connect(addr, Duration::from_secs(2)).expect("connect");
    socket::send_with_fds(s.as_fd(), bytes, fds).expect("send");
    reply(&s)
}

fn reply(s: &OwnedFd) -> ServerMessage {
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = socket::recv_with_fds(s.as_fd(), &mut buf, false).expect("a reply");
    wire::parse_server_message(&buf[..r.len]).expect("a valid reply")
}

fn refusal_code(m: &ServerMessage) -> RefusalCode {
    match m {
        ServerMessage::Refusal(r) => r.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn assert_serves(addr: &SocketAddr) {
    let lease = opts()
        .connect(addr)
        .expect("broker still serves a valid client");
    assert_eq!(lease.info().device, DeviceKind::Simulated);
}

#[test]
fn broker_refuses_garbage_and_keeps_serving() {
    let _g = serial();
    let before = fd_count();
    let b = start(
        MemfdSource::new(test_layout()),
        unique_addr("garbage"),
        |_| {},
    );

    let m = raw_exchange(&b.addr, b"GET / HTTP/1.1\r\n\r\n", &[]);
    assert_eq!(refusal_code(&m), RefusalCode::BadRequest);
    let hello = Hello::new("x").encode();
    let m = raw_exchange(&b.addr, &hello.as_bytes()[..7], &[]);
    assert_eq!(refusal_code(&m), RefusalCode::BadRequest);
    let mut v3 = hello.as_bytes().to_vec();
    v3[4] = 3;
    let m = raw_exchange(&b.addr, &v3, &[]);
    assert_eq!(refusal_code(&m), RefusalCode::VersionMismatch);
    let m = raw_exchange(&b.addr, &[0xAB; 4000], &[]);
    assert_eq!(refusal_code(&m), RefusalCode::BadRequest);
    // A server message sent to the broker.
    let q = Queued { position: 1 }.encode();
    let m = raw_exchange(&b.addr, q.as_bytes(), &[]);
    assert_eq!(refusal_code(&m), RefusalCode::BadRequest);

    assert_serves(&b.addr);
    let log = b.log_lines();
    assert!(
        log.iter().any(|l| l.contains("bad magic")),
        "refusals are logged with a reason: {log:#?}"
    );
    assert!(get(&b.stats.refusals) >= 5);
    drop(b.finish());
    assert_eq!(fd_count(), before, "fd leak");
}

#[test]
fn broker_closes_fds_clients_send() {
    let _g = serial();
    let b = start(MemfdSource::new(test_layout()), unique_addr("fds"), |_| {});
    let f = memfd("junk", 16);
    let before = fd_count();
    let hello = Hello::new("fd-sender").encode();
    let m = raw_exchange(&b.addr, hello.as_bytes(), &[f.as_fd()]);
    assert_eq!(refusal_code(&m), RefusalCode::BadRequest);
    let many: Vec<BorrowedFd<'_>> = (0..6).map(|_| f.as_fd()).collect();
    let m = raw_exchange(&b.addr, hello.as_bytes(), &many);
    assert_eq!(refusal_code(&m), RefusalCode::BadRequest);
    // More fds than the broker's control buffer holds.
    let s = socket::connect(&b.addr, Duration::from_secs(2)).expect("connect");
    let fds: Vec<OwnedFd> = (0..40).map(|_| dup(&f)).collect();
    send_many_fds(s.as_fd(), hello.as_bytes(), &fds);
    drop(fds);
    assert_eq!(refusal_code(&reply(&s)), RefusalCode::BadRequest);
    drop(s);
    assert_serves(&b.addr);
    eventually("broker closed every received fd", || fd_count() == before);
    drop(f);
    b.finish();
}

/// sendmsg with an arbitrary number of fds (the library caps at 8).
fn send_many_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[OwnedFd]) {
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let payload = std::mem::size_of_val(raw.as_slice()) as u32;
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: zeroed msghdr is valid; the buffers outlive the call; the
    // control buffer is 8-aligned and `space` bytes long.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(payload) as usize;
        std::ptr::copy_nonoverlapping(raw.as_ptr(), libc::CMSG_DATA(c).cast(), raw.len());
        assert_eq!(
            libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL),
            bytes.len() as isize
        );
    }
}

#[test]
fn silent_and_idle_clients_time_out() {
    let _g = serial();
    let b = start(MemfdSource::new(test_layout()), unique_addr("idle"), |c| {
        c.hello_timeout = Duration::from_millis(200);
        c.max_pending = 4;
    });
    let t = Instant::now();
    let idle: Vec<OwnedFd> = (0..4)
        .map(|_| socket::connect(&b.addr, Duration::from_secs(2)).expect("connect"))
        .collect();
    // The pending table is full: one more is turned away at once.
    let extra = socket::connect(&b.addr, Duration::from_secs(2)).expect("connect");
    assert_eq!(
        refusal_code(&reply(&extra)),
        RefusalCode::TooManyConnections
    );
    for s in &idle {
        assert_eq!(refusal_code(&reply(s)), RefusalCode::Timeout);
    }
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_serves(&b.addr);
    b.finish();
}

#[test]
fn clients_that_never_read_do_not_stall_the_broker() {
    let _g = serial();
    let b = start(
        MemfdSource::new(test_layout()),
        unique_addr("noread"),
        |c| {
            c.max_queue = 2;
        },
    );
    let hello = Hello::new("mute").encode();
    // The lessee and two queued clients never read anything.
    let mut mute = Vec::new();
    for _ in 0..3 {
        let s = socket::connect(&b.addr, Duration::from_secs(2)).expect("connect");
        socket::send_with_fds(s.as_fd(), hello.as_bytes(), &[]).expect("hello");
        mute.push(s);
    }
    eventually("one lease and two queued", || {
        get(&b.stats.leases) == 1 && get(&b.stats.queued) == 2
    });
    // The line is full: the next is refused quickly, not blocked.
    let t = Instant::now();
    let e = opts().connect(&b.addr).unwrap_err();
    assert!(
        matches!(
            e,
            LeaseError::Refused {
                code: RefusalCode::Busy,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("leased to another client"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(1));
    // The lessee leaves without reading: the first in line gets the lease.
    drop(mute.remove(0));
    eventually("second lease", || get(&b.stats.leases) == 2);
    assert_eq!(get(&b.stats.leases_ended), 1);
    drop(mute);
    eventually("all closed", || get(&b.stats.open) == 0);
    b.finish();
}

#[test]
fn chatty_lessee_keeps_its_lease_and_is_logged_once() {
    let _g = serial();
    let b = start(
        MemfdSource::new(test_layout()),
        unique_addr("chatty"),
        |_| {},
    );
    let s = socket::connect(&b.addr, Duration::from_secs(2)).expect("connect");
    let hello = Hello::new("chatty").encode();
    socket::send_with_fds(s.as_fd(), hello.as_bytes(), &[]).expect("hello");
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = socket::recv_with_fds(s.as_fd(), &mut buf, false).expect("lease");
    assert!(matches!(
        wire::parse_server_message(&buf[..r.len]),
        Ok(ServerMessage::Lease(_))
    ));
    drop(r);
    for i in 0..50u8 {
        socket::send_with_fds(s.as_fd(), &[i; 300], &[]).expect("garbage");
    }
    let f = memfd("junk", 16);
    socket::send_with_fds(s.as_fd(), b"fd", &[f.as_fd()]).expect("fd");
    eventually("the broker read everything", || {
        b.log_lines()
            .iter()
            .any(|l| l.contains("further ones not logged"))
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(get(&b.stats.leases_ended), 0, "still leased");
    let noisy = b
        .log_lines()
        .iter()
        .filter(|l| l.contains("chatty") && l.contains("Refusal"))
        .count();
    assert_eq!(noisy, 1, "logged once: {:#?}", b.log_lines());
    drop(s);
    eventually("lease ended", || get(&b.stats.leases_ended) == 1);
    b.finish();
}

#[test]
fn waiting_in_line_gives_up_with_the_place_in_line() {
    let _g = serial();
    let b = start(MemfdSource::new(test_layout()), unique_addr("line"), |_| {});
    let holder = opts().connect(&b.addr).expect("first lease");
    let t = Instant::now();
    let e = ConnectOptions {
        wait_in_line: Some(Duration::from_millis(300)),
        ..opts()
    }
    .connect(&b.addr)
    .unwrap_err();
    let waited = t.elapsed();
    assert!(matches!(e, LeaseError::Busy { position: 1 }), "{e}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    drop(holder);
    eventually("the waiter left the line", || get(&b.stats.open) == 0);
    assert_eq!(
        get(&b.stats.leases),
        1,
        "the lease did not go to a client that left"
    );
    b.finish();
}

#[test]
fn allow_list_is_enforced() {
    let _g = serial();
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let b = start(MemfdSource::new(test_layout()), unique_addr("deny"), |c| {
        c.policy.uids = vec![uid.wrapping_add(4242)];
        c.policy.gids = vec![gid.wrapping_add(4242)];
    });
    let e = opts().connect(&b.addr).unwrap_err();
    assert!(
        matches!(
            e,
            LeaseError::Refused {
                code: RefusalCode::NotAllowed,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("allow-list"), "{e}");
    let log = b.log_lines();
    assert!(
        log.iter().any(|l| l.contains(&format!("uid {uid}"))),
        "{log:#?}"
    );
    b.finish();
    // Allowed through the group only.
    let b = start(MemfdSource::new(test_layout()), unique_addr("gid"), |c| {
        c.policy.uids = vec![uid.wrapping_add(4242)];
        c.policy.gids = vec![gid];
    });
    assert_serves(&b.addr);
    b.finish();
}

#[test]
fn exclusive_lease_passes_on_with_a_silenced_ring() {
    let _g = serial();
    let src = MemfdSource::new(test_layout());
    let map = src.map.clone();
    let silenced = src.silenced.clone();
    let b = start(src, unique_addr("excl"), |_| {});
    let first = opts().connect(&b.addr).expect("first lease");
    // The first client writes ahead into the ring.
    let ring = pcmring::sys::mmap::Mapping::new(
        first.fds()[0].as_fd(),
        0,
        first.layout().ring_bytes(),
        pcmring::sys::mmap::Protection::ReadWrite,
    )
    .expect("map leased ring");
    // SAFETY: test-owned mapping of ring_bytes bytes.
    unsafe { std::ptr::write_bytes(ring.as_ptr(), 0x5A, ring.len()) };
    assert!(
        ring_bytes(&map).iter().all(|&b| b == 0x5A),
        "broker sees the writes"
    );
    // A second client waits in line.
    let addr = b.addr.clone();
    let waiter = std::thread::spawn(move || {
        ConnectOptions {
            wait_in_line: Some(Duration::from_secs(5)),
            ..opts()
        }
        .connect(&addr)
    });
    eventually("second client queued", || get(&b.stats.queued) == 1);
    let first_id = first.info().lease_id;
    drop(first);
    let second = waiter.join().expect("thread").expect("second lease");
    assert!(second.info().lease_id > first_id);
    assert_eq!(silenced.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        ring_bytes(&map).iter().all(|&b| b == 0),
        "ring silenced for the next client"
    );
    drop(ring);
    drop(second);
    b.finish();
}

#[test]
fn thousands_of_connects_with_bounded_memory() {
    let _g = serial();
    let b = start(MemfdSource::new(test_layout()), unique_addr("churn"), |c| {
        c.verbose = false;
    });
    let rss = || -> u64 {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        s.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            * 4096
    };
    // Warm up, then measure.
    for _ in 0..50 {
        drop(opts().connect(&b.addr).expect("lease"));
    }
    eventually("warm-up connections closed", || get(&b.stats.open) == 0);
    std::thread::sleep(Duration::from_millis(20));
    let fds = fd_count();
    let rss0 = rss();
    const N: u64 = 2000;
    for i in 0..N {
        // Alternate clean leases and clients that vanish before hello.
        if i % 2 == 0 {
            let l = opts().connect(&b.addr).expect("lease");
            assert_eq!(l.fds().len(), 2);
        } else {
            drop(socket::connect(&b.addr, Duration::from_secs(1)).expect("connect"));
        }
    }
    eventually("all connections closed", || get(&b.stats.open) == 0);
    assert_eq!(get(&b.stats.leases), 50 + N / 2);
    assert!(
        get(&b.stats.peak_open) <= 3,
        "peak {}",
        get(&b.stats.peak_open)
    );
    let t = Instant::now();
    while fd_count() != fds && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fd_count(), fds, "fd leak over {N} cycles: {:#?}", fd_list());
    let grown = rss().saturating_sub(rss0);
    assert!(grown < 8 << 20, "RSS grew by {grown} bytes over {N} cycles");
    b.finish();
}

// ---------------------------------------------------------------- client side

/// A fake broker: accepts one client, reads its hello, then runs `reply`.
fn fake_broker(
    tag: &str,
    reply: impl FnOnce(&OwnedFd) + Send + 'static,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let addr = unique_addr(tag);
    let listener = Listener::bind(&addr, 4).expect("bind");
    let t = std::thread::spawn(move || {
        let start = Instant::now();
        let s = loop {
            if let Some(s) = listener.accept().expect("accept") {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no client");
            std::thread::sleep(Duration::from_millis(1));
        };
        socket::set_timeouts(s.as_fd(), Duration::from_secs(2)).expect("timeouts");
        // SAFETY: plain fcntl calls on our own fd: clear O_NONBLOCK.
        let fl = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) };
        // SAFETY: as above.
        unsafe { libc::fcntl(s.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) };
        let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
        let r = socket::recv_with_fds(s.as_fd(), &mut buf, false).expect("hello");
        assert!(wire::parse_client_message(&buf[..r.len]).is_ok());
        reply(&s);
        // Let the client read before the socket closes.
        std::thread::sleep(Duration::from_millis(50));
    });
    (addr, t)
}

fn lease_info(device: DeviceKind) -> LeaseInfo {
    LeaseInfo {
        direction: pcmring::pcm::Direction::Playback,
        layout: test_layout(),
        device,
        status_mappable: true,
        clock: ClockId::Monotonic,
        batch: true,
        wake_fd: false,
        lease_id: 1,
    }
}

fn send(s: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
    socket::send_with_fds(s.as_fd(), bytes, fds).expect("fake broker send");
}

/// Runs a fake broker that sends `bytes` with fresh fds made by `fds`, and
/// returns the client's error; checks that the client leaked no fd.
fn client_error(
    tag: &str,
    bytes: Vec<u8>,
    fds: impl FnOnce() -> Vec<OwnedFd> + Send + 'static,
) -> LeaseError {
    let before = fd_count();
    let (addr, t) = fake_broker(tag, move |s| {
        let owned = fds();
        let b: Vec<BorrowedFd<'_>> = owned.iter().map(|f| f.as_fd()).collect();
        send(s, &bytes, &b);
    });
    let e = opts().connect(&addr).expect_err("client must refuse");
    t.join().expect("fake broker");
    assert_eq!(fd_count(), before, "client leaked fds on: {e}");
    e
}

fn sim_lease_bytes() -> Vec<u8> {
    lease_info(DeviceKind::Simulated)
        .encode()
        .as_bytes()
        .to_vec()
}

fn hw_lease_bytes() -> Vec<u8> {
    lease_info(DeviceKind::HwBuffer)
        .encode()
        .as_bytes()
        .to_vec()
}

fn good_memfds() -> Vec<OwnedFd> {
    vec![memfd("r", test_layout().ring_bytes()), memfd("s", 4096)]
}

#[test]
fn client_rejects_malformed_messages() {
    let _g = serial();
    let e = client_error("rand", vec![0x13; 40], Vec::new);
    assert!(matches!(e, LeaseError::Protocol(_)), "{e}");
    let mut v = sim_lease_bytes();
    v[4] = 7;
    let e = client_error("ver", v, good_memfds);
    assert!(e.to_string().contains("wire version 7"), "{e}");
    let mut v = sim_lease_bytes();
    v.truncate(30);
    let e = client_error("trunc", v, good_memfds);
    assert!(matches!(e, LeaseError::Protocol(_)), "{e}");
    let mut v = sim_lease_bytes();
    v.push(0);
    let e = client_error("trail", v, good_memfds);
    assert!(matches!(e, LeaseError::Protocol(_)), "{e}");
    // fds attached to a message that carries none
    let q = Queued { position: 1 }.encode().as_bytes().to_vec();
    let e = client_error("qfd", q, good_memfds);
    assert!(matches!(e, LeaseError::FdTransfer { .. }), "{e}");
}

#[test]
fn client_rejects_wrong_fd_counts() {
    let _g = serial();
    let e = client_error("nofd", sim_lease_bytes(), Vec::new);
    assert!(
        matches!(
            e,
            LeaseError::FdCount {
                expected: 2,
                got: 0
            }
        ),
        "{e}"
    );
    let e = client_error("hwnofd", hw_lease_bytes(), Vec::new);
    assert!(
        matches!(
            e,
            LeaseError::FdCount {
                expected: 1,
                got: 0
            }
        ),
        "{e}"
    );
    let e = client_error("few", sim_lease_bytes(), || vec![memfd("r", 4096)]);
    assert!(matches!(e, LeaseError::FdCount { .. }), "{e}");
    let e = client_error("many", sim_lease_bytes(), || {
        (0..7).map(|_| memfd("m", 4096)).collect()
    });
    assert!(matches!(e, LeaseError::FdTransfer { .. }), "{e}");
    assert!(e.to_string().contains("7 fds"), "{e}");
    // More than the control buffer holds: MSG_CTRUNC, all closed.
    let before = fd_count();
    let (addr, t) = fake_broker("ctrunc", |s| {
        let f = memfd("m", 4096);
        let fds: Vec<OwnedFd> = (0..40).map(|_| dup(&f)).collect();
        send_many_fds(s.as_fd(), &sim_lease_bytes(), &fds);
    });
    let e = opts().connect(&addr).unwrap_err();
    t.join().expect("fake broker");
    assert!(matches!(e, LeaseError::FdTransfer { .. }), "{e}");
    assert_eq!(fd_count(), before, "leaked fds on: {e}");
}

fn regular_file() -> OwnedFd {
    let f = tempfile_in_target();
    OwnedFd::from(f)
}

fn tempfile_in_target() -> std::fs::File {
    let dir = std::env::temp_dir().join(format!("pcmring-broker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join("regular");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&p)
        .expect("regular file");
    f.set_len(64 << 10).expect("size");
    f
}

fn a_socket() -> OwnedFd {
    let mut sv = [0i32; 2];
    assert_eq!(
        // SAFETY: valid out array of two ints.
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        },
        0
    );
    // SAFETY: both fds are fresh; we keep one and close the other.
    unsafe {
        libc::close(sv[1]);
        OwnedFd::from_raw_fd(sv[0])
    }
}

fn an_eventfd() -> OwnedFd {
    // SAFETY: plain syscall; fresh fd owned below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: fresh fd.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[test]
fn client_rejects_wrong_fd_types() {
    let _g = serial();
    // Where a restricted PCM fd belongs.
    for (what, make) in [
        ("regular", regular_file as fn() -> OwnedFd),
        ("socket", a_socket),
        ("eventfd", an_eventfd),
        ("memfd", || memfd("r", 64 << 10)),
    ] {
        let e = client_error(what, hw_lease_bytes(), move || vec![make()]);
        assert!(
            matches!(e, LeaseError::WrongFdType { index: 0, .. }),
            "{what}: {e}"
        );
        assert!(e.to_string().contains("snd-pcm-buf"), "{e}");
    }
    // Where memfds belong.
    let e = client_error("simreg", sim_lease_bytes(), || {
        vec![regular_file(), memfd("s", 4096)]
    });
    assert!(matches!(e, LeaseError::WrongFdType { index: 0, .. }), "{e}");
    let e = client_error("simsock", sim_lease_bytes(), || {
        vec![memfd("r", test_layout().ring_bytes()), a_socket()]
    });
    assert!(matches!(e, LeaseError::WrongFdType { index: 1, .. }), "{e}");
    // A wake-up fd that is not the read end of a pipe.
    let mut with_wake = lease_info(DeviceKind::Simulated);
    with_wake.wake_fd = true;
    let bytes = with_wake.encode().as_bytes().to_vec();
    let e = client_error("wake", bytes.clone(), || {
        let mut v = good_memfds();
        v.push(memfd("w", 16));
        v
    });
    assert!(matches!(e, LeaseError::WrongFdType { index: 2, .. }), "{e}");
    let e = client_error("wakew", bytes, || {
        let mut fds = [0; 2];
        // SAFETY: valid out array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh fds; keep the write end, close the read end.
        let w = unsafe {
            libc::close(fds[0]);
            OwnedFd::from_raw_fd(fds[1])
        };
        let mut v = good_memfds();
        v.push(w);
        v
    });
    assert!(matches!(e, LeaseError::WrongFdType { index: 2, .. }), "{e}");
    // A memfd smaller than the advertised ring (mapping it would SIGBUS).
    let e = client_error("small", sim_lease_bytes(), || {
        vec![memfd("r", 100), memfd("s", 4096)]
    });
    assert!(
        matches!(e, LeaseError::Undersized { what: "ring", .. }),
        "{e}"
    );
}

#[test]
fn client_reports_refusals_busy_and_hangups() {
    let _g = serial();
    let r = Refusal::new(RefusalCode::NotAllowed, "uid 1000")
        .encode()
        .as_bytes()
        .to_vec();
    let e = client_error("refuse", r, Vec::new);
    assert!(
        matches!(
            e,
            LeaseError::Refused {
                code: RefusalCode::NotAllowed,
                ..
            }
        ),
        "{e}"
    );
    let q = Queued { position: 3 }.encode().as_bytes().to_vec();
    let e = client_error("busy", q, Vec::new);
    assert!(matches!(e, LeaseError::Busy { position: 3 }), "{e}");
    // Hang-up before the lease.
    let (addr, t) = fake_broker("hup", |_s| {});
    let e = opts().connect(&addr).unwrap_err();
    t.join().expect("fake broker");
    assert!(matches!(e, LeaseError::BrokerGone { .. }), "{e}");
    // A broker that never answers.
    let (addr, t) = fake_broker("mute", |_s| std::thread::sleep(Duration::from_millis(800)));
    let e = opts().connect(&addr).unwrap_err();
    t.join().expect("fake broker");
    assert!(e.to_string().contains("did not answer in time"), "{e}");
    // Nobody listening.
    let e = client::connect("/nonexistent/pcmring.sock").unwrap_err();
    assert!(e.to_string().contains("is pcmring-broker running"), "{e}");
}

#[test]
fn client_accepts_a_good_lease_and_sees_broker_hangup() {
    let _g = serial();
    let before = fd_count();
    let (addr, t) = fake_broker("good", |s| {
        let fds = good_memfds();
        let b: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        send(s, &sim_lease_bytes(), &b);
    });
    let lease = opts().connect(&addr).expect("good lease");
    assert_eq!(lease.info().layout, test_layout());
    t.join().expect("fake broker"); // closes the broker's end
    let e = lease.link().check().unwrap_err();
    assert!(matches!(e, LeaseError::BrokerGone { .. }), "{e}");
    drop(lease);
    assert_eq!(fd_count(), before);
}
