//! The broker on real hardware, in the VM suite (kernel/vm/run): a broker
//! leases `hw:Loopback,0,0` (played) while the test captures
//! `hw:Loopback,1,0`. A client process running as uid 65534 gets the BUFFER
//! fd, probes what it may not do through it, and plays a known signal that
//! must arrive bit-exactly in the capture. On the host every test is
//! listed as ignored.

use pcmring::anondup::DupMode;
use pcmring::broker::wire::{ClockId, DeviceKind, LeaseInfo};
use pcmring::client::{ConnectOptions, LeaseError};
use pcmring::pcm::verify::{find_signal, test_pattern_i16};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::restricted::{PositionPath, RestrictedPcm};
use pcmring::sys::abi::{
    SNDRV_PCM_IOCTL_DROP, SNDRV_PCM_IOCTL_HW_PARAMS, SNDRV_PCM_IOCTL_PREPARE,
    SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW, SNDRV_PCM_MMAP_OFFSET_CONTROL_OLD,
};
use pcmring::wrap::Widener;
use pcmring::{Device, Format};
use pcmring_broker::{Broker, BrokerConfig, Listener, PcmSource, SocketAddr};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

const LOOP_PLAY: &str = "hw:Loopback,0,0";
const LOOP_CAP: &str = "hw:Loopback,1,0";
const NOBODY: u32 = 65534;

fn config() -> Config {
    Config {
        format: Some(Format::S16Le),
        channels: 2,
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: 2048,
        buffer: BufferSize::Periods(4),
        ..Config::default()
    }
}

fn capture() -> Pcm {
    let mut cap = Pcm::open(LOOP_CAP, Direction::Capture, &config()).expect("open capture");
    cap.prepare().expect("prepare capture");
    cap.start().expect("start capture");
    cap
}

fn addr(tag: &str) -> SocketAddr {
    SocketAddr::Abstract(format!("pcmring-vm-{tag}-{}", std::process::id()).into_bytes())
}

fn errno_after(r: i64) -> i32 {
    if r < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// The security probes a client runs through its fd; one line each,
/// `PROBE <what> <errno>`.
fn probes(fd: BorrowedFd<'_>, ring_bytes: usize) -> Vec<String> {
    let raw = fd.as_raw_fd();
    let mut lines = Vec::new();
    let mut ioctl = |name: &str, req: u32, arg: *mut libc::c_void| {
        // SAFETY: the requests either fail before touching `arg` (EPERM) or
        // get a zeroed buffer large enough for their struct.
        let r = unsafe { libc::ioctl(raw, req as libc::c_ulong, arg) };
        lines.push(format!("PROBE ioctl-{name} {}", errno_after(r.into())));
    };
    let mut big = vec![0u8; 4096];
    ioctl("PREPARE", SNDRV_PCM_IOCTL_PREPARE, std::ptr::null_mut());
    ioctl("DROP", SNDRV_PCM_IOCTL_DROP, std::ptr::null_mut());
    ioctl(
        "HW_PARAMS",
        SNDRV_PCM_IOCTL_HW_PARAMS,
        big.as_mut_ptr().cast(),
    );
    for (name, off) in [
        ("control-new", SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW),
        ("control-old", SNDRV_PCM_MMAP_OFFSET_CONTROL_OLD),
    ] {
        // SAFETY: a fresh mapping request; unmapped at once if it succeeds.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                off as libc::off_t,
            )
        };
        let e = if p == libc::MAP_FAILED {
            errno_after(-1)
        } else {
            // SAFETY: p came from a successful mmap of 4096 bytes.
            unsafe { libc::munmap(p, 4096) };
            0
        };
        lines.push(format!("PROBE mmap-{name} {e}"));
    }
    // SAFETY: a fresh mapping request of the ring; unmapped at once.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ring_bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            raw,
            0,
        )
    };
    if p != libc::MAP_FAILED {
        // SAFETY: p came from a successful mmap of ring_bytes.
        unsafe { libc::munmap(p, ring_bytes) };
    }
    lines.push(format!(
        "PROBE mmap-data {}",
        if p == libc::MAP_FAILED {
            errno_after(-1)
        } else {
            0
        }
    ));
    // SAFETY: writes 4096 bytes from a live buffer.
    let r = unsafe { libc::write(raw, big.as_ptr().cast(), big.len()) };
    lines.push(format!("PROBE write {}", errno_after(r as i64)));
    let dev = c"/dev/snd/pcmC1D0p";
    // SAFETY: valid C path.
    let r = unsafe {
        libc::open(
            dev.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if r >= 0 {
        // SAFETY: r is a valid fd we just opened.
        unsafe { libc::close(r) };
    }
    lines.push(format!("PROBE open-device {}", errno_after(r.into())));
    lines
}

/// The forked client: drops to uid 65534, leases, probes, plays `pattern`.
/// Writes its report to `report` and never returns.
fn client_child(report: RawFd, addr: &SocketAddr, pattern: &[i16]) -> ! {
    let mut out = String::new();
    let code = (|| -> Result<(), String> {
        // SAFETY: plain syscalls in a freshly forked child.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                return Err(format!(
                    "drop privileges: {}",
                    std::io::Error::last_os_error()
                ));
            }
            out.push_str(&format!("UID {} {}\n", libc::getuid(), libc::geteuid()));
        }
        let opts = ConnectOptions {
            name: "vm-client".into(),
            io_timeout: Duration::from_secs(10),
            wait_in_line: Some(Duration::from_secs(30)),
            ..ConnectOptions::default()
        };
        let t0 = Instant::now();
        let lease = opts.connect(addr).map_err(|e| format!("connect: {e}"))?;
        out.push_str(&format!("LEASE_US {}\n", t0.elapsed().as_micros()));
        let l = lease.layout();
        for p in probes(lease.fds()[0].as_fd(), l.ring_bytes()) {
            out.push_str(&p);
            out.push('\n');
        }
        let t0 = Instant::now();
        let mut dev = lease.into_device().map_err(|e| format!("device: {e}"))?;
        out.push_str(&format!("SOURCE {:?}\n", dev.position_source()));
        let fb = l.frame_bytes();
        let frames = pattern.len() / 2;
        let mut wid = Widener::new(l.boundary);
        let hw0 = wid.update(dev.position().map_err(|e| e.to_string())?.hw_ptr);
        let start = hw0 + l.period_size;
        let end = start + frames as u64;
        let mut cursor = start;
        let mut first_write = None;
        while cursor < end {
            let hw = wid.update(dev.position().map_err(|e| e.to_string())?.hw_ptr);
            if hw >= cursor {
                return Err(format!("client underrun: hw {hw} passed cursor {cursor}"));
            }
            while cursor < end && cursor < hw + l.buffer_size - l.period_size {
                let i = (cursor - start) as usize;
                let at = (cursor % l.buffer_size) as usize * fb;
                let mut frame = [0u8; 4];
                frame[..2].copy_from_slice(&pattern[2 * i].to_le_bytes());
                frame[2..].copy_from_slice(&pattern[2 * i + 1].to_le_bytes());
                // SAFETY: one frame ahead of hw_ptr and behind hw + buffer:
                // the hardware is not reading it.
                unsafe { dev.ring().slice_mut(at, fb).copy_from_slice(&frame) };
                cursor += 1;
                first_write.get_or_insert_with(|| t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(3));
        }
        if let Some(t) = first_write {
            out.push_str(&format!("DEVICE_TO_FIRST_WRITE_US {}\n", t.as_micros()));
        }
        // Stay until the last frame was played, then leave.
        let deadline = Instant::now() + Duration::from_secs(10);
        while wid.update(dev.position().map_err(|e| e.to_string())?.hw_ptr) < end + l.period_size {
            if Instant::now() > deadline {
                return Err("the stream stopped moving".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        out.push_str("PLAYED\n");
        Ok(())
    })();
    if let Err(e) = &code {
        out.push_str(&format!("ERROR {e}\n"));
    }
    // SAFETY: writes the report from a live buffer, then exits without
    // running the parent's destructors.
    unsafe {
        libc::write(report, out.as_ptr().cast(), out.len());
        libc::_exit(if code.is_ok() { 0 } else { 1 });
    }
}

/// Writes past libtest's output capture, so the VM log keeps the line.
fn out(line: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: valid out array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn unprivileged_client_plays_bit_exact_through_the_broker() {
    let mut cap = capture();
    let source = PcmSource::open(LOOP_PLAY, &config()).expect("broker opens the playback side");
    let addr = addr("play");
    let listener = Listener::bind(&addr, 8).expect("bind");
    let pattern = test_pattern_i16(2 * 24_000, 0xb40c);
    let (rx, tx) = pipe();
    // Fork before any broker thread exists; the child keeps only the
    // report pipe (fd 3) and stdio: no inherited PCM fd, no listener.
    // SAFETY: the child only runs client code and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: in the child: move the pipe to fd 3, close everything else.
        unsafe {
            libc::dup2(tx.as_raw_fd(), 3);
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        }
        client_child(3, &addr, &pattern);
    }
    drop(tx);
    let mut config = BrokerConfig {
        verbose: true,
        ..BrokerConfig::default()
    };
    config.policy.uids.push(NOBODY);
    let mut broker = Broker::new(listener, source, config).expect("broker");
    let stop = broker.stop_handle();
    let stats = broker.stats();
    let thread = std::thread::spawn(move || {
        broker.run().expect("broker run");
        broker.into_source()
    });
    // Capture until the child is done and three buffers of quiet follow.
    // The reader runs at SCHED_FIFO (below the client's engine) so that a
    // busy guest does not let the test's own capture overrun; it goes back
    // to SCHED_OTHER before the CPU-heavy comparison.
    let promoted = pcmring_rt::sched::promote_fifo(50).is_ok();
    let fb = 4;
    let mut chunk = vec![0u8; cap.ring().len()];
    let mut captured: Vec<i16> = Vec::new();
    let t0 = Instant::now();
    let mut exited = None;
    let mut quiet = 0u64;
    while t0.elapsed() < Duration::from_secs(60) {
        let n = cap.read_frames(&mut chunk).expect("capture read");
        captured.extend(
            chunk[..n * fb]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        if exited.is_none() {
            let mut status = 0;
            // SAFETY: non-blocking wait for our child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                exited = Some(status);
            }
        } else {
            quiet += n as u64;
            if quiet > 3 * 8192 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    if promoted {
        pcmring_rt::sched::demote().expect("demote the capture reader");
    }
    let mut report = String::new();
    std::fs::File::from(rx)
        .read_to_string(&mut report)
        .expect("report");
    for line in report.lines() {
        out(&format!("broker | client {line}"));
    }
    let status = exited.expect("client exited");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "client failed: {report}"
    );
    assert!(
        report.contains(&format!("UID {NOBODY} {NOBODY}")),
        "{report}"
    );
    for (probe, errno) in [
        ("ioctl-PREPARE", libc::EPERM),
        ("ioctl-DROP", libc::EPERM),
        ("ioctl-HW_PARAMS", libc::EPERM),
        ("mmap-control-new", libc::EPERM),
        ("mmap-control-old", libc::EPERM),
        ("write", libc::EPERM),
        ("mmap-data", 0),
    ] {
        let line = format!("PROBE {probe} {errno}\n");
        assert!(report.contains(&line), "expected {line:?} in {report}");
    }
    assert!(
        !report.contains("PROBE open-device 0"),
        "uid {NOBODY} could open the device node itself: {report}"
    );
    let at = find_signal(&captured, &pattern).unwrap_or_else(|m| {
        panic!(
            "client signal not in the capture ({} samples): {m}",
            captured.len()
        )
    });
    out(&format!(
        "broker | uid {NOBODY} client: 24000 frames bit-exact in the capture after {} frames",
        at / 2
    ));
    assert_eq!(pcmring_broker::BrokerStats::get(&stats.leases), 1);
    stop.stop();
    let source = thread.join().expect("broker thread");
    drop(source);
}

/// A fake broker that sends `fd` as a hardware lease; returns the client's error.
fn client_error_for(fd: OwnedFd, layout: pcmring::StreamLayout, tag: &str) -> LeaseError {
    let addr = addr(tag);
    let listener = Listener::bind(&addr, 2).expect("bind");
    let t = std::thread::spawn(move || {
        let s = loop {
            if let Some(s) = listener.accept().expect("accept") {
                break s;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        std::thread::sleep(Duration::from_millis(50)); // the hello arrives
        let info = LeaseInfo {
            direction: Direction::Playback,
            layout,
            device: DeviceKind::HwBuffer,
            status_mappable: true,
            clock: ClockId::Monotonic,
            batch: false,
            wake_fd: false,
            lease_id: 1,
        };
        pcmring::broker::socket::send_with_fds(s.as_fd(), info.encode().as_bytes(), &[fd.as_fd()])
            .expect("send");
        std::thread::sleep(Duration::from_millis(200));
    });
    let e = ConnectOptions {
        wait_in_line: None,
        ..ConnectOptions::default()
    }
    .connect(&addr)
    .expect_err("client must refuse the fd");
    t.join().expect("fake broker");
    e
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn client_refuses_full_fds() {
    let play = PcmSource::open(LOOP_PLAY, &config()).expect("open");
    let layout = play.pcm().layout();
    let full = play.pcm().anonymous_dup(DupMode::Full).expect("FULL dup");
    let e = client_error_for(full, layout, "full");
    assert!(matches!(e, LeaseError::FullFd { .. }), "{e}");
    out(&format!("broker | FULL anonymous dup refused: {e}"));
    let node = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/snd/pcmC1D0p");
    // The node is busy (opened above) on most drivers; only check if it opened.
    if let Ok(f) = node {
        let e = client_error_for(OwnedFd::from(f), layout, "node");
        assert!(matches!(e, LeaseError::FullFd { .. }), "{e}");
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn position_read_cost_status_page_vs_position_ioctl() {
    let play = PcmSource::open(LOOP_PLAY, &config()).expect("open");
    let layout = play.pcm().layout();
    let fd = || {
        play.pcm()
            .anonymous_dup(DupMode::Buffer)
            .expect("BUFFER dup")
    };
    let mut page = RestrictedPcm::with_path(fd(), layout, PositionPath::Auto).expect("page");
    let mut ioctl = RestrictedPcm::with_path(fd(), layout, PositionPath::Ioctl).expect("ioctl");
    const N: u32 = 20_000;
    let measure = |dev: &mut RestrictedPcm| {
        let mut last = 0u64;
        let t = Instant::now();
        for _ in 0..N {
            last = last.max(dev.position().expect("position").hw_ptr);
        }
        (t.elapsed() / N, last)
    };
    let (page_ns, p1) = measure(&mut page);
    let (ioctl_ns, p2) = measure(&mut ioctl);
    let t = Instant::now();
    let mut peeked = 0u64;
    for _ in 0..N {
        peeked = peeked.max(page.peek_position().expect("peek").hw_ptr);
    }
    let peek_ns = t.elapsed() / N;
    out(&format!(
        "broker | position read per cycle: {page_ns:?} via {:?} (HWSYNC + page), \
         {peek_ns:?} page only (no syscall), {ioctl_ns:?} via POSITION ioctl",
        page.position_source()
    ));
    assert!(peeked >= p1, "page-only read {peeked} behind {p1}");
    assert_eq!(
        ioctl.position_source(),
        pcmring::PositionSource::PositionIoctl
    );
    // Both paths follow the same running stream.
    assert!(p2 >= p1, "ioctl position {p2} behind the page's {p1}");
    let a = page.position().expect("page").hw_ptr;
    let b = ioctl.position().expect("ioctl").hw_ptr;
    assert!(
        b.abs_diff(a) <= layout.buffer_size,
        "paths disagree: {a} vs {b}"
    );
}
