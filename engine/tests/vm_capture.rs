//! Capture and duplex on real kernels (VM suite, kernel/vm/run), through
//! snd-aloop: what the output engine plays on `hw:Loopback,0,N` the input
//! engine captures on `hw:Loopback,1,N`, bit for bit, through a full fd and
//! through a read-only BUFFER fd received over SCM_RIGHTS by a process
//! running as nobody; an induced overrun is counted and recovered; a duplex
//! pass-through is bit-exact end to end. On the host these are ignored.
//!
//! The signal is [`FrameCounter`]: every played frame names its index, so
//! the capture side checks order and content of every frame, and every
//! jump in the captured sequence must be an xrun or overrun some engine
//! counted.

use pcmring::broker::socket::{recv_with_fds, send_with_fds};
use pcmring::engine::{
    BlockInfo, DuplexEngine, DuplexInfo, Engine, EngineConfig, InputEngine, Margin,
    TelemetrySnapshot, WakeStrategy,
};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm, StartTogether};
use pcmring::restricted::RestrictedPcm;
use pcmring::sim::FrameCounter;
use pcmring::{Device, DupMode, Format};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: 512,
        buffer: BufferSize::Periods(8),
        ..Config::default()
    }
}

fn config(name: &str, block: usize) -> EngineConfig {
    EngineConfig {
        name: name.into(),
        block_frames: block,
        wake: WakeStrategy::Timer,
        // Generous: the guest runs under TCG emulation.
        margin: Margin::Frames(1536),
        ..EngineConfig::default()
    }
}

/// Plays the frame counter from its own count (continuous across blocks).
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
    frames: AtomicU64,
    signal: AtomicU64,
    jumps: AtomicU64,
    garbage: AtomicU64,
    last: AtomicU64,
}

impl Seen {
    fn line(&self) -> String {
        format!(
            "frames {} signal {} jumps {} garbage {}",
            self.frames.load(Ordering::Relaxed),
            self.signal.load(Ordering::Relaxed),
            self.jumps.load(Ordering::Relaxed),
            self.garbage.load(Ordering::Relaxed),
        )
    }
}

/// A capturer (allocation-free) that checks every frame: silence, or the
/// counter's next index. A stereo frame whose two words do not form a
/// plausible index (far from the last one) is garbage.
fn checker(stall: Option<(u64, Duration)>) -> (impl FnMut(&[f32], &BlockInfo) + Send, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let mut prev: Option<u64> = None;
    let mut blocks = 0u64;
    let f = move |input: &[f32], info: &BlockInfo| {
        for f in input.chunks_exact(info.channels) {
            s.frames.fetch_add(1, Ordering::Relaxed);
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
            s.last.store(n, Ordering::Relaxed);
        }
        if stall.is_some_and(|(at, _)| at == blocks) {
            if let Some((_, d)) = stall {
                std::thread::sleep(d);
            }
        }
        blocks += 1;
    };
    (f, seen)
}

fn open_pair(n: u32) -> (Pcm, Pcm) {
    let c = loop_config();
    let play = Pcm::open(&format!("hw:Loopback,0,{n}"), Direction::Playback, &c)
        .expect("open loopback playback");
    let cap = Pcm::open(&format!("hw:Loopback,1,{n}"), Direction::Capture, &c)
        .expect("open loopback capture");
    (play, cap)
}

fn start(pcm: &mut Pcm) {
    pcm.prepare().expect("prepare");
    pcm.start().expect("start");
}

/// The checks every capture run ends with: enough signal, no garbage,
/// every jump counted by an engine.
fn check(label: &str, seen: &Seen, xruns: u64, cap: &TelemetrySnapshot, secs: f64) {
    out(&format!(
        "vm_capture | {label}: {} | play xruns {} | capture overruns {} lost {} | reads {}",
        seen.line(),
        xruns,
        cap.overruns,
        cap.frames_lost,
        cap.frames_read
    ));
    let signal = seen.signal.load(Ordering::Relaxed);
    // At least a quarter of the run: under TCG the output engine itself
    // can underrun a lot (each one counted, and checked below).
    assert!(
        signal as f64 > 48_000.0 * secs * 0.25,
        "{label}: too little signal captured: {}",
        seen.line()
    );
    // With nothing counted, every frame is the next one. A counted event
    // is a gap (a jump), and an output underrun under emulation can also
    // race snd-aloop's copy of the ring, leaving a torn frame or two at
    // the gap's edge (a jump there and back): a few per event, never
    // without one.
    let jumps = seen.jumps.load(Ordering::Relaxed);
    let garbage = seen.garbage.load(Ordering::Relaxed);
    let events = xruns + cap.overruns;
    assert!(
        jumps <= 4 * events && garbage <= 2 * events,
        "{label}: {jumps} jumps, {garbage} implausible frames, but {xruns} xruns + {} \
         overruns counted",
        cap.overruns
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn full_fd_capture_is_bit_exact_through_loopback() {
    let (mut play, mut cap) = open_pair(0);
    assert_eq!(
        cap.sw_config().stop_threshold,
        cap.sw_config().boundary,
        "free-running capture: stop_threshold = boundary"
    );
    start(&mut cap);
    start(&mut play);
    let (c, seen) = checker(None);
    let input = InputEngine::start(cap, c, config("hw:Loopback,1,0", 128)).expect("input engine");
    let output =
        Engine::start(play, counter_renderer(), config("hw:Loopback,0,0", 128)).expect("engine");
    let secs = 3.0;
    std::thread::sleep(Duration::from_secs_f64(secs));
    let ptel = output.telemetry().snapshot();
    output.stop().expect("output stop");
    let (ctel, r) = input.stop_with_report();
    r.expect("input stop");
    check("full fd, block 128", &seen, ptel.xruns, &ctel, secs);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn an_induced_overrun_is_counted_and_recovered() {
    let (mut play, mut cap) = open_pair(2);
    start(&mut cap);
    start(&mut play);
    // The ring holds 4096 frames (85 ms); the capturer stalls 400 ms.
    let (c, seen) = checker(Some((50, Duration::from_millis(400))));
    let input = InputEngine::start(cap, c, config("hw:Loopback,1,2", 128)).expect("input engine");
    let output =
        Engine::start(play, counter_renderer(), config("hw:Loopback,0,2", 128)).expect("engine");
    let secs = 3.0;
    std::thread::sleep(Duration::from_secs_f64(secs));
    let ptel = output.telemetry().snapshot();
    output.stop().expect("output stop");
    let (ctel, r) = input.stop_with_report();
    r.expect("input stop");
    check("induced overrun", &seen, ptel.xruns, &ctel, secs);
    assert!(ctel.overruns >= 1, "{ctel:?}");
    assert!(ctel.frames_lost >= 400 * 48 - 4096, "{ctel:?}");
    assert!(seen.jumps.load(Ordering::Relaxed) >= 1, "{}", seen.line());
}

/// The capture side as an unprivileged client: root opens and starts the
/// capture stream, makes a BUFFER fd, and sends it with SCM_RIGHTS to a
/// forked child that has dropped to nobody; the child maps the ring
/// read-only, runs the input engine, and reports what it captured.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn buffer_fd_capture_by_an_unprivileged_process_is_bit_exact() {
    let (mut play, mut cap) = open_pair(1);
    let layout = cap.layout();
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
    // Fork before any engine thread exists.
    // SAFETY: the child only runs the client code below and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        drop(parent_sock);
        drop(play);
        drop(cap);
        let report = (|| -> Result<String, String> {
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
            let mut buf = [0u8; 64];
            let got = recv_with_fds(child_sock.as_fd(), &mut buf, false)
                .map_err(|e| format!("recv: {e:?}"))?;
            let fd = got.fds.into_iter().next().ok_or("no fd came")?;
            let dev = RestrictedPcm::from_fd(fd, layout).map_err(|e| format!("map: {e}"))?;
            if dev.is_writable() {
                return Err("a capture BUFFER fd mapped the ring writable".into());
            }
            let source = dev.position_source();
            let (c, seen) = checker(None);
            let input = InputEngine::start(dev, c, config("BUFFER fd hw:Loopback,1,1", 128))
                .map_err(|e| format!("input engine: {e}"))?;
            std::thread::sleep(Duration::from_secs(3));
            let (t, r) = input.stop_with_report();
            r.map_err(|e| format!("engine: {e}"))?;
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            Ok(format!(
                "uid {uid} source {source:?} signal {} jumps {} garbage {} overruns {}",
                seen.signal.load(Ordering::Relaxed),
                seen.jumps.load(Ordering::Relaxed),
                seen.garbage.load(Ordering::Relaxed),
                t.overruns
            ))
        })();
        let text = match report {
            Ok(s) => format!("OK {s}"),
            Err(e) => format!("ERR {e}"),
        };
        // SAFETY: writes from a live buffer, then exits without running
        // the parent's destructors.
        unsafe {
            libc::write(child_sock.as_raw_fd(), text.as_ptr().cast(), text.len());
            libc::_exit(0);
        }
    }
    drop(child_sock);
    start(&mut cap);
    start(&mut play);
    let buffer_fd = cap
        .anonymous_dup(DupMode::Buffer)
        .expect("a BUFFER fd (snd-pcm-anondup loaded?)");
    send_with_fds(parent_sock.as_fd(), b"capture", &[buffer_fd.as_fd()]).expect("send fd");
    drop(buffer_fd);
    let output =
        Engine::start(play, counter_renderer(), config("hw:Loopback,0,1", 128)).expect("engine");
    let mut buf = vec![0u8; 512];
    // SAFETY: reads into a live buffer; blocks until the child reports.
    let n = unsafe { libc::read(parent_sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let ptel = output.telemetry().snapshot();
    output.stop().expect("output stop");
    drop(cap);
    let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
    out(&format!(
        "vm_capture | BUFFER fd child: {text} | play xruns {}",
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
    let events = ptel.xruns + field("overruns");
    assert!(field("garbage") <= 2 * events, "{text}");
    assert!(field("jumps") <= 4 * events, "{text}");
}

/// Duplex pass-through: a counter plays into hw:Loopback,0,3, the duplex
/// engine reads it from hw:Loopback,1,3 and copies it to hw:Loopback,0,4
/// (the two duplex streams linked), and an input engine checks what
/// arrives on hw:Loopback,1,4.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn duplex_pass_through_is_bit_exact_through_loopback() {
    let (mut src_play, mut dup_in) = open_pair(3);
    let (mut dup_out, mut check_cap) = open_pair(4);
    start(&mut check_cap);
    let how = dup_out
        .start_together(&mut dup_in)
        .expect("start the duplex pair");
    out(&format!("vm_capture | duplex pair started: {how:?}"));
    assert_eq!(how, StartTogether::Linked, "two streams of one card link");
    start(&mut src_play);
    let (c, seen) = checker(None);
    let checker_engine =
        InputEngine::start(check_cap, c, config("hw:Loopback,1,4", 128)).expect("checker");
    let source = Engine::start(src_play, counter_renderer(), config("hw:Loopback,0,3", 128))
        .expect("source engine");
    let misaligned = Arc::new(AtomicU64::new(0));
    let m = misaligned.clone();
    let pass = move |input: &[f32], output: &mut [f32], info: &DuplexInfo| {
        if info.output_time as i64 - info.input_time as i64 != info.offset {
            m.fetch_add(1, Ordering::Relaxed);
        }
        output.copy_from_slice(input);
    };
    let duplex = DuplexEngine::start(dup_in, dup_out, pass, config("duplex 1,3 -> 0,4", 128))
        .expect("duplex engine");
    let start_info = duplex.start_info().clone();
    let secs = 4.0;
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (dtel, r) = duplex.stop_with_report();
    r.expect("duplex stop");
    let stel = source.telemetry().snapshot();
    source.stop().expect("source stop");
    let (ctel, r) = checker_engine.stop_with_report();
    r.expect("checker stop");
    out(&format!(
        "vm_capture | duplex: offset {} skew {} round trip {} frames; {dtel:?}",
        start_info.offset_frames.expect("duplex offset"),
        start_info.hw_skew_frames.expect("duplex skew"),
        start_info.round_trip_frames().expect("duplex round trip")
    ));
    assert_eq!(misaligned.load(Ordering::Relaxed), 0);
    let counted = stel.xruns + dtel.overruns + dtel.xruns + ctel.overruns;
    check("duplex pass-through", &seen, counted, &ctel, secs / 2.0);
    assert!(
        start_info
            .hw_skew_frames
            .expect("duplex skew")
            .unsigned_abs()
            <= 2 * 512,
        "linked streams: skew within the granule: {start_info:?}"
    );
}

/// Round trip measured like `alsabat --roundtriplatency` and
/// `jack_iodelay`: the duplex engine's output is looped back by snd-aloop
/// (hw:Loopback,0,5 -> hw:Loopback,1,5) into its own input. A click is
/// written into the output of the block that processes input frame `t`;
/// it comes back at input frame `d`; `d - t` is the measured round trip,
/// which must match the engine's reported `offset - hw_skew` within one
/// block (aloop adds no delay of its own). Blocks 32 to 512; the numbers
/// are printed for docs/latency.md.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn round_trip_matches_the_reported_offset() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    out(&format!("vm_capture | round trip (cpu: {cpu}): block margin reported(fr) skew measured mean/min/max(fr) clicks realigns"));
    for block in [32usize, 64, 128, 256, 512] {
        let (mut play, mut cap) = open_pair(5);
        let how = play.start_together(&mut cap).expect("start");
        assert_eq!(how, StartTogether::Linked);
        #[derive(Default)]
        struct Clicks {
            n: AtomicU64,
            bad: AtomicU64,
            sum: AtomicU64,
            min: AtomicU64,
            max: AtomicU64,
            // measured minus the offset in force when the click left
            diff_min: AtomicI64,
            diff_max: AtomicI64,
        }
        let clicks = Arc::new(Clicks {
            min: AtomicU64::new(u64::MAX),
            diff_min: AtomicI64::new(i64::MAX),
            diff_max: AtomicI64::new(i64::MIN),
            ..Clicks::default()
        });
        let c = clicks.clone();
        let period = 9_600u64; // a click every 200 ms
        let mut pending: Option<(u64, i64)> = None; // (input frame, offset)
        let mut next_click = 0u64;
        let process = move |input: &[f32], output: &mut [f32], info: &DuplexInfo| {
            if let Some((t, offset)) = pending {
                if let Some(j) = input
                    .chunks_exact(info.input_channels)
                    .position(|f| f[0] > 0.5)
                {
                    let d = info.input_time + j as u64;
                    pending = None;
                    if info.offset != offset {
                        return; // a realign moved the output in between
                    }
                    let m = d - t;
                    let diff = m as i64 - offset;
                    c.n.fetch_add(1, Ordering::Relaxed);
                    c.sum.fetch_add(m, Ordering::Relaxed);
                    c.min.fetch_min(m, Ordering::Relaxed);
                    c.max.fetch_max(m, Ordering::Relaxed);
                    c.diff_min.fetch_min(diff, Ordering::Relaxed);
                    c.diff_max.fetch_max(diff, Ordering::Relaxed);
                    if diff.unsigned_abs() > info.frames as u64 {
                        c.bad.fetch_add(1, Ordering::Relaxed);
                    }
                } else if info.input_time > t + 48_000 {
                    pending = None; // lost (an xrun ate it)
                }
            }
            if pending.is_none() && info.input_time >= next_click {
                output[..info.output_channels].fill(0.9);
                pending = Some((info.input_time, info.offset));
                next_click = info.input_time + period;
            }
        };
        let engine = DuplexEngine::start(
            cap,
            play,
            process,
            config(&format!("round trip block {block}"), block),
        )
        .expect("duplex");
        let s = engine.start_info().clone();
        std::thread::sleep(Duration::from_secs(3));
        let (tel, r) = engine.stop_with_report();
        r.expect("stop");
        let n = clicks.n.load(Ordering::Relaxed);
        let min = clicks.min.load(Ordering::Relaxed);
        let max = clicks.max.load(Ordering::Relaxed);
        let mean = clicks.sum.load(Ordering::Relaxed) / n.max(1);
        let diff_min = clicks.diff_min.load(Ordering::Relaxed);
        let diff_max = clicks.diff_max.load(Ordering::Relaxed);
        out(&format!(
            "vm_capture | round trip: block {block} margin {} reported {} skew {} measured mean {mean} min {min} max {max} clicks {n} realigns {} diff {diff_min}..{diff_max} | {:.2} ms reported, {:.2} ms measured",
            s.margin_frames,
            tel.offset_frames,
            tel.hw_skew_frames,
            tel.realigns,
            (tel.offset_frames - tel.hw_skew_frames) as f64 / 48.0,
            mean as f64 / 48.0,
        ));
        assert!(n >= 3, "block {block}: only {n} clicks came back: {tel:?}");
        assert_eq!(
            clicks.bad.load(Ordering::Relaxed),
            0,
            "block {block}: a click came back more than a block away from the offset"
        );
        if tel.realigns == 0 {
            // The bar: measured and reported agree within a block
            // (on snd-aloop they are usually equal to the frame).
            let reported = tel.offset_frames - tel.hw_skew_frames;
            let b = block as i64;
            assert!(
                (min as i64 - reported).abs() <= b && (max as i64 - reported).abs() <= b,
                "block {block}: clicks came back at {min}..{max}, the reported round trip is \
                 {reported}"
            );
        }
    }
}
