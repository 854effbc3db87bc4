//! Capture and duplex leases on real hardware, in the VM suite
//! (kernel/vm/run), through snd-aloop:
//!
//! - a process running as uid 65534 leases the broker's capture stream
//!   (wire version 2, a read-only BUFFER fd) and reads, bit-exactly, the
//!   frame counter the test plays into the other end of the loopback;
//! - a client leases the broker's linked playback + capture pair and
//!   copies input to output with the duplex engine; what comes out of the
//!   loopback is the counter, bit-exact.
//!
//! On the host every test is listed as ignored.

use pcmring::broker::LeaseKind;
use pcmring::client::ConnectOptions;
use pcmring::engine::{
    BlockInfo, DuplexEngine, DuplexInfo, Engine, EngineConfig, InputEngine, Margin, WakeStrategy,
};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm, StartTogether};
use pcmring::sim::FrameCounter;
use pcmring::Format;
use pcmring_broker::{Broker, BrokerConfig, Listener, PcmSource, SocketAddr, StopHandle};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// Writes past libtest's output capture, so the VM log keeps the line.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn loop_config() -> Config {
    Config {
        format: Some(Format::S16Le),
        channels: 2,
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: 512,
        buffer: BufferSize::Periods(8),
        ..Config::default()
    }
}

fn config(name: &str) -> EngineConfig {
    EngineConfig {
        name: name.into(),
        block_frames: 128,
        wake: WakeStrategy::Timer,
        // Generous: the guest runs under TCG emulation.
        margin: Margin::Frames(1536),
        ..EngineConfig::default()
    }
}

fn addr(tag: &str) -> SocketAddr {
    SocketAddr::Abstract(format!("pcmring-vm-cap-{tag}-{}", std::process::id()).into_bytes())
}

/// Plays the frame counter (continuous across blocks).
fn counter_renderer() -> impl FnMut(&mut [f32], &BlockInfo) + Send + 'static {
    let mut n = 0u64;
    move |out: &mut [f32], info: &BlockInfo| {
        for frame in out.chunks_exact_mut(info.channels) {
            for (ch, s) in frame.iter_mut().enumerate() {
                *s = FrameCounter::sample(n, ch);
            }
            n += 1;
        }
    }
}

/// What a checking capturer saw.
#[derive(Debug, Default)]
struct Seen {
    signal: AtomicU64,
    jumps: AtomicU64,
    garbage: AtomicU64,
}

impl Seen {
    fn line(&self) -> String {
        format!(
            "signal {} jumps {} garbage {}",
            self.signal.load(Ordering::Relaxed),
            self.jumps.load(Ordering::Relaxed),
            self.garbage.load(Ordering::Relaxed),
        )
    }
}

/// An allocation-free capturer that checks every frame: silence, or the
/// counter's next index (a jump is counted; an implausible index is
/// garbage).
fn checker() -> (impl FnMut(&[f32], &BlockInfo) + Send, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let mut prev: Option<u64> = None;
    let f = move |input: &[f32], info: &BlockInfo| {
        for f in input.chunks_exact(info.channels) {
            let Some(n) = FrameCounter::index_of(f) else {
                continue;
            };
            s.signal.fetch_add(1, Ordering::Relaxed);
            if let Some(p) = prev {
                if n != p + 1 {
                    s.jumps.fetch_add(1, Ordering::Relaxed);
                    if n <= p || n > p + 48_000 * 30 {
                        s.garbage.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            prev = Some(n);
        }
    };
    (f, seen)
}

/// HWSYNC on a BUFFER fd: 0, or the errno (ENODEV once revoked).
fn hwsync_errno(fd: &OwnedFd) -> i32 {
    // SAFETY: HWSYNC takes no argument.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            pcmring::sys::abi::SNDRV_PCM_IOCTL_HWSYNC as libc::c_ulong,
        )
    };
    if r == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    }
}

/// A broker on a thread; stopped and joined on drop.
struct Running {
    stop: StopHandle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    at: &SocketAddr,
    playback: PcmSource,
    capture: PcmSource,
    linked: bool,
    uids: &[u32],
) -> Running {
    let mut cfg = BrokerConfig {
        verbose: true,
        ..BrokerConfig::default()
    };
    cfg.policy.uids.extend_from_slice(uids);
    let listener = Listener::bind(at, 8).expect("bind");
    let broker = Broker::new(listener, playback, cfg)
        .expect("broker")
        .with_capture(Box::new(capture), linked);
    let stop = broker.stop_handle();
    let thread = std::thread::spawn(move || {
        let mut broker = broker;
        broker.run().expect("broker run");
    });
    Running {
        stop,
        thread: Some(thread),
    }
}

/// The uid-65534 child: leases capture, checks the counter for 3 s,
/// writes `OK ...` or `ERR ...` to `report` and exits.
fn capture_child(report: OwnedFd, at: &SocketAddr) -> ! {
    let result = (|| -> Result<String, String> {
        // SAFETY: plain syscalls in the freshly forked child.
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
        }
        let opts = ConnectOptions {
            kind: LeaseKind::Capture,
            io_timeout: Duration::from_secs(10),
            ..ConnectOptions::default()
        };
        // The broker starts after the fork: retry the connection a while.
        let deadline = Instant::now() + Duration::from_secs(20);
        let lease = loop {
            match opts.connect(at) {
                Ok(l) => break l,
                Err(e) if Instant::now() > deadline => return Err(format!("lease: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        if lease.kind() != LeaseKind::Capture || lease.info().direction != Direction::Capture {
            return Err(format!("not a capture lease: {:?}", lease.info()));
        }
        let device = lease.into_device().map_err(|e| format!("device: {e}"))?;
        let (c, seen) = checker();
        let input = InputEngine::start(device, c, config("leased capture"))
            .map_err(|e| format!("input engine: {e}"))?;
        std::thread::sleep(Duration::from_secs(4));
        let (t, r) = input.stop_with_report();
        r.map_err(|e| format!("engine: {e}"))?;
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        Ok(format!("uid {uid} {} overruns {}", seen.line(), t.overruns))
    })();
    let text = match result {
        Ok(s) => format!("OK {s}"),
        Err(e) => format!("ERR {e}"),
    };
    // SAFETY: writes from a live buffer, then exits without running the
    // parent's destructors.
    unsafe {
        libc::write(report.as_raw_fd(), text.as_ptr().cast(), text.len());
        libc::_exit(0);
    }
}

/// The counter played into hw:Loopback,0,6 is captured on hw:Loopback,1,6,
/// which the broker leases (wire version 2, capture) to a uid-65534
/// process; it reads the counter bit-exactly through its read-only BUFFER
/// fd.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn an_unprivileged_process_leases_capture_and_reads_it_bit_exact() {
    let at = addr("capture");
    let mut sv = [0; 2];
    // SAFETY: valid out array for two fds.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair");
    // SAFETY: fresh fds owned by nobody else.
    let (parent_sock, child_sock) =
        unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    // Fork before any thread of this test exists.
    // SAFETY: the child only runs the client code and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        drop(parent_sock);
        capture_child(child_sock, &at);
    }
    drop(child_sock);
    // The broker: an idle playback stream and the capture under test.
    let cap = PcmSource::open_capture("hw:Loopback,1,6", &loop_config())
        .expect("broker capture (snd-aloop loaded?)");
    let idle = PcmSource::open("hw:Loopback,0,7", &loop_config()).expect("broker playback");
    let broker = serve(&at, idle, cap, false, &[NOBODY]);
    let mut play =
        Pcm::open("hw:Loopback,0,6", Direction::Playback, &loop_config()).expect("open play");
    play.prepare().expect("prepare");
    play.start().expect("start");
    let output =
        Engine::start(play, counter_renderer(), config("hw:Loopback,0,6")).expect("engine");
    let mut buf = vec![0u8; 512];
    // SAFETY: reads into a live buffer; blocks until the child reports.
    let n = unsafe { libc::read(parent_sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let ptel = output.telemetry().snapshot();
    output.stop().expect("output stop");
    drop(broker);
    let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
    out(&format!(
        "vm_broker_capture | capture lease child: {text} | play xruns {}",
        ptel.xruns
    ));
    assert!(text.starts_with("OK uid 65534"), "{text}");
    let field = |k: &str| -> u64 {
        text.split_whitespace()
            .skip_while(|w| *w != k)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    assert!(field("signal") > 48_000, "{text}");
    // Bit-exact: every frame is the counter's next, except at a gap an
    // engine counted (an output underrun under emulation can tear a frame
    // or two at its edge).
    let events = ptel.xruns + field("overruns");
    assert!(field("garbage") <= 2 * events, "{text}");
    assert!(field("jumps") <= 4 * events, "{text}");
}

/// The C client (examples/c/pcmring_capture.c, built by kernel/vm/run into
/// /vm/cclients) leases capture as uid 65534 over wire version 2, maps the
/// read-only ring and checks the counter played into hw:Loopback,0,4.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn the_c_client_leases_capture_and_reads_it_bit_exact() {
    use std::os::unix::process::CommandExt;
    let exe = "/vm/cclients/pcmring_capture";
    assert!(
        std::path::Path::new(exe).exists(),
        "{exe} missing: kernel/vm/run builds examples/c/*.c into the guest"
    );
    let at = addr("cclient");
    let cap = PcmSource::open_capture("hw:Loopback,1,4", &loop_config())
        .expect("broker capture (snd-aloop loaded?)");
    let idle = PcmSource::open("hw:Loopback,0,5", &loop_config()).expect("broker playback");
    let broker = serve(&at, idle, cap, false, &[NOBODY]);
    let mut play =
        Pcm::open("hw:Loopback,0,4", Direction::Playback, &loop_config()).expect("open play");
    play.prepare().expect("prepare");
    play.start().expect("start");
    let output =
        Engine::start(play, counter_renderer(), config("hw:Loopback,0,4")).expect("engine");
    // Let the counter reach the capture side first.
    std::thread::sleep(Duration::from_millis(300));
    let name = at.to_string();
    let run = std::process::Command::new(exe)
        .args([name.as_str(), "48000"])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run the C client");
    let ptel = output.telemetry().snapshot();
    output.stop().expect("output stop");
    drop(broker);
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    out(&format!(
        "vm_broker_capture | C client: {} {} | status {} | play xruns {}",
        text.trim(),
        String::from_utf8_lossy(&run.stderr).trim(),
        run.status,
        ptel.xruns
    ));
    assert!(run.status.success(), "{text}");
    let field = |k: &str| -> u64 {
        text.split_whitespace()
            .skip_while(|w| *w != k)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    assert_eq!(field("frames"), 48_000, "{text}");
    assert!(field("signal") > 24_000, "{text}");
    let events = ptel.xruns + field("overruns");
    assert!(field("jumps") <= 4 * events, "{text}");
}

/// Duplex pass-through over a pair lease: the counter plays into
/// hw:Loopback,0,2; the broker's capture (hw:Loopback,1,2) and playback
/// (hw:Loopback,0,3) are linked and leased as one pair; the client copies
/// input to output; an input engine checks what arrives on
/// hw:Loopback,1,3.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn a_duplex_lease_passes_the_counter_through_bit_exact() {
    let at = addr("duplex");
    let (playback, capture, started) =
        PcmSource::open_duplex("hw:Loopback,0,3", "hw:Loopback,1,2", &loop_config())
            .expect("broker duplex pair (snd-aloop loaded?)");
    out(&format!(
        "vm_broker_capture | broker pair started: {started:?}"
    ));
    assert_eq!(
        started,
        StartTogether::Linked,
        "two streams of one card link"
    );
    let broker = serve(&at, playback, capture, true, &[]);

    let mut check_cap =
        Pcm::open("hw:Loopback,1,3", Direction::Capture, &loop_config()).expect("open check");
    check_cap.prepare().expect("prepare check");
    check_cap.start().expect("start check");
    let (c, seen) = checker();
    let checker_engine =
        InputEngine::start(check_cap, c, config("hw:Loopback,1,3")).expect("checker");
    let mut src =
        Pcm::open("hw:Loopback,0,2", Direction::Playback, &loop_config()).expect("open source");
    src.prepare().expect("prepare source");
    src.start().expect("start source");
    let source = Engine::start(src, counter_renderer(), config("hw:Loopback,0,2")).expect("source");

    // The lease itself: kind, fd order, the linked flag.
    let opts = ConnectOptions {
        kind: LeaseKind::Duplex,
        io_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    };
    let lease = opts.connect(&at).expect("duplex lease");
    assert_eq!(lease.kind(), LeaseKind::Duplex);
    assert_eq!(lease.fds().len(), 2);
    let (cap_info, linked) = lease.capture_info().expect("a capture stream");
    assert!(linked, "the broker reports the linked start");
    assert_eq!(cap_info.direction, Direction::Capture);
    assert_eq!(cap_info.layout.rate, lease.info().layout.rate);
    // Copies of both fds outlive the lease: the broker must revoke both.
    let kept: Vec<OwnedFd> = lease
        .fds()
        .iter()
        .map(|f| f.try_clone().expect("dup"))
        .collect();
    for fd in &kept {
        assert_eq!(hwsync_errno(fd), 0, "HWSYNC works during the lease");
    }
    let (input, output) = lease.into_duplex().expect("devices");
    let misaligned = Arc::new(AtomicU64::new(0));
    let m = misaligned.clone();
    let pass = move |input: &[f32], output: &mut [f32], info: &DuplexInfo| {
        if info.output_time as i64 - info.input_time as i64 != info.offset {
            m.fetch_add(1, Ordering::Relaxed);
        }
        output.copy_from_slice(input);
    };
    let duplex = DuplexEngine::start(input, output, pass, config("leased duplex")).expect("duplex");
    let start_info = duplex.start_info().clone();
    std::thread::sleep(Duration::from_secs(6));
    let (dtel, r) = duplex.stop_with_report();
    r.expect("duplex stop");
    // The engine dropped both devices: the lease ended; both fds revoked.
    let t0 = Instant::now();
    while kept.iter().any(|fd| hwsync_errno(fd) != libc::ENODEV)
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let after: Vec<i32> = kept.iter().map(hwsync_errno).collect();
    assert_eq!(
        after,
        [libc::ENODEV, libc::ENODEV],
        "the playback and the capture fd are revoked at lease end"
    );
    let stel = source.telemetry().snapshot();
    source.stop().expect("source stop");
    let (ctel, r) = checker_engine.stop_with_report();
    r.expect("checker stop");
    drop(broker);
    out(&format!(
        "vm_broker_capture | leased duplex: {} | offset {} skew {} | source xruns {} \
         duplex overruns {} xruns {} checker overruns {}",
        seen.line(),
        start_info.offset_frames.expect("duplex offset"),
        start_info.hw_skew_frames.expect("duplex skew"),
        stel.xruns,
        dtel.overruns,
        dtel.xruns,
        ctel.overruns
    ));
    assert_eq!(misaligned.load(Ordering::Relaxed), 0);
    // Three engines and the broker share an emulated CPU with other VMs:
    // much of the run is counted gaps. Half a second of the counter must
    // come through; what matters is that every frame of it is exact.
    assert!(
        seen.signal.load(Ordering::Relaxed) > 24_000,
        "too little signal: {}",
        seen.line()
    );
    let events = stel.xruns + dtel.overruns + dtel.xruns + ctel.overruns;
    let (jumps, garbage) = (
        seen.jumps.load(Ordering::Relaxed),
        seen.garbage.load(Ordering::Relaxed),
    );
    assert!(
        jumps <= 4 * events && garbage <= 2 * events,
        "{jumps} jumps, {garbage} implausible frames, {events} events counted"
    );
    // Linked by the broker: the two positions count one clock.
    assert!(
        start_info
            .hw_skew_frames
            .expect("duplex skew")
            .unsigned_abs()
            <= 2 * 512,
        "linked streams: skew within the granule: {start_info:?}"
    );
}
