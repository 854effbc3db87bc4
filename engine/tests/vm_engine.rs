//! The engine on real kernels (VM suite, kernel/vm/run): plays through
//! snd-aloop from a full `Pcm` and from a restricted BUFFER fd, and the
//! capture side holds the signal bit for bit; measures on snd-dummy.
//! On the host these tests are listed as ignored.

mod sim_support;

use pcmring::anondup::DupMode;
use pcmring::engine::{Engine, EngineConfig, Margin, TelemetrySnapshot, WakeStrategy};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm, SwConfig, XrunMode};
use pcmring::restricted::RestrictedPcm;
use pcmring::{Device, Format};
use sim_support::*;
use std::io::Write;
use std::time::{Duration, Instant};

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

fn engine_config(block: usize, wake: WakeStrategy) -> EngineConfig {
    EngineConfig {
        name: "hw:Loopback,0,0".into(),
        block_frames: block,
        wake,
        // Generous: the guest runs under TCG emulation.
        margin: Margin::Frames(1536),
        ..EngineConfig::default()
    }
}

/// A classic (not free-running) stream: the kernel stops it on an
/// underrun and does not silence what was played, so the engine must
/// advance appl_ptr through `Device::commit` and never fall behind.
///
/// A stall of the guest longer than the lead (a busy host) stops such a
/// stream too: that is what normal mode does, and the engine reports it.
/// Such a stop is retried, up to three attempts; an engine that does not
/// commit stops the stream within a buffer, every time.
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn full_pcm_normal_mode_commits_appl_ptr() {
    let mut stops = Vec::new();
    for attempt in 1..=3 {
        match normal_mode_attempt() {
            Ok(()) => return,
            Err(e) => {
                out(&format!(
                    "vm_engine | normal mode, attempt {attempt}: the kernel stopped the stream: {e}"
                ));
                stops.push(e);
            }
        }
    }
    panic!("the normal-mode stream stopped on an xrun in every attempt: {stops:?}");
}

/// One run of [`full_pcm_normal_mode_commits_appl_ptr`]; `Err` when the
/// kernel stopped the stream on an xrun (any other failure panics).
fn normal_mode_attempt() -> Result<(), String> {
    let c = Config {
        // 340 ms: room for a prefill that outlasts a slow start-up.
        buffer: BufferSize::Periods(32),
        sw: SwConfig {
            xrun: XrunMode::StopOnXrun,
            ..SwConfig::default()
        },
        ..loop_config()
    };
    let mut play = Pcm::open("hw:Loopback,0,0", Direction::Playback, &c).expect("open playback");
    let mut cap = Pcm::open("hw:Loopback,1,0", Direction::Capture, &c).expect("open capture");
    play.prepare().expect("prepare playback");
    cap.prepare().expect("prepare capture");
    cap.start().expect("start capture");
    // Prefill half the ring (170 ms) with silence so the stream survives
    // until the engine's first commit, then start it. The margin is as
    // large, so that first commit moves appl_ptr forward.
    let fb = play.layout().frame_bytes();
    let half = play.layout().buffer_size as usize / 2;
    let n = play.write_frames(&vec![0u8; half * fb]).expect("prefill");
    assert_eq!(n, half);
    play.start().expect("start playback");
    let (r, _) = SignalRenderer::new();
    let cfg = EngineConfig {
        margin: Margin::Frames(8192),
        ..engine_config(128, WakeStrategy::Timer)
    };
    let stopped_by_xrun = |e: &pcmring::Error| e.to_string().contains("XRUN");
    let engine = match Engine::start(play, r, cfg) {
        Ok(e) => e,
        Err(e) if stopped_by_xrun(&e) => return Err(e.to_string()),
        Err(e) => panic!("engine on a normal-mode PCM: {e}"),
    };
    let secs = 3.0;
    let run = capture_while_result(engine, &mut cap, secs);
    cap.drop_stream().expect("drop capture");
    let (captured, tel) = match run {
        Ok(r) => r,
        Err(e) if stopped_by_xrun(&e) => return Err(e.to_string()),
        Err(e) => panic!("engine failed: {e}"),
    };
    check(
        "full Pcm, normal mode (stop on xrun), timer, block 128",
        &captured,
        &tel,
        secs,
    );
    // The stream ran to the end: the kernel never saw hw_ptr pass the
    // committed appl_ptr. (The engine may still have counted an xrun: it
    // counts one as soon as its cursor falls within a granule of hw_ptr,
    // before the kernel would; the check above holds the gap to it.)
    Ok(())
}

/// What the capture side got while the engine ran.
struct Captured {
    bytes: Vec<u8>,
    /// Overruns of the test's own capture ring (recovered; each one a gap
    /// that is not the engine's).
    overruns: u64,
}

/// Runs `engine` for `secs` while draining the capture side (SCHED_FIFO
/// when permitted, so it keeps up on a busy host; an overrun anyway is
/// counted and recovered); returns what was captured and the engine
/// telemetry.
fn capture_while(engine: Engine, cap: &mut Pcm, secs: f64) -> (Captured, TelemetrySnapshot) {
    capture_while_result(engine, cap, secs).unwrap_or_else(|e| panic!("engine failed: {e}"))
}

/// [`capture_while`], with the error that stopped the engine returned.
fn capture_while_result(
    engine: Engine,
    cap: &mut Pcm,
    secs: f64,
) -> Result<(Captured, TelemetrySnapshot), pcmring::Error> {
    let rt = pcmring_rt::sched::promote_fifo(70).is_ok();
    let mut captured = Vec::new();
    let mut overruns = 0;
    let mut chunk = vec![0u8; cap.ring().len()];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs_f64(secs) {
        std::thread::sleep(Duration::from_millis(2));
        match read_capture(cap, &mut chunk) {
            Ok(n) => captured.extend_from_slice(&chunk[..n * cap.layout().frame_bytes()]),
            Err(e) => {
                out(&format!("vm_engine | capture overrun ({e}): recovering"));
                overruns += 1;
                recover_capture(cap);
            }
        }
    }
    if rt {
        let _ = pcmring_rt::sched::demote();
    }
    let tel = engine.telemetry().snapshot();
    engine.stop()?;
    Ok((
        Captured {
            bytes: captured,
            overruns,
        },
        tel,
    ))
}

/// Every captured frame is the signal continuing or silence, and every
/// gap coincides with an xrun the engine counted (or a capture overrun).
fn check(label: &str, captured: &Captured, tel: &TelemetrySnapshot, secs: f64) {
    let overruns = captured.overruns;
    let captured = &captured.bytes[..];
    let segs = segments(captured, Format::S16Le, 2);
    let total: usize = segs.iter().map(|s| s.2).sum();
    out(&format!(
        "vm_engine | {label}: {} frames captured, {total} signal frames bit-exact in {} segment(s) starting at frame {}; engine xruns {} ({} frames), capture overruns {overruns}, margin {} fr, min lead {:?} fr, wake late p50/p99/max {}/{}/{} us, rt {}",
        captured.len() / 4,
        segs.len(),
        segs.first().map_or(0, |s| s.0),
        tel.xruns,
        tel.xrun_frames,
        tel.margin_frames,
        tel.min_lead_frames,
        tel.wake_late_ns.percentile(50.0) / 1000,
        tel.wake_late_ns.percentile(99.0) / 1000,
        tel.wake_late_ns.max() / 1000,
        tel.realtime,
    ));
    assert!(!segs.is_empty(), "{label}: no signal captured");
    assert!(
        total as f64 > 0.5 * secs * 48_000.0,
        "{label}: only {total} signal frames: {segs:?}"
    );
    // Every gap in the signal is an xrun the engine reported (or the
    // test's capture overran).
    assert!(
        segs.len() as u64 <= tel.xruns + overruns + 1,
        "{label}: {} gaps but {} xruns and {overruns} capture overruns reported: {segs:?}",
        segs.len() - 1,
        tel.xruns
    );
}

fn full_pcm_run(label: &str, block: usize, wake: WakeStrategy) {
    let c = loop_config();
    let mut play = Pcm::open("hw:Loopback,0,0", Direction::Playback, &c).expect("open playback");
    let mut cap = Pcm::open("hw:Loopback,1,0", Direction::Capture, &c).expect("open capture");
    play.prepare().expect("prepare playback");
    cap.prepare().expect("prepare capture");
    cap.start().expect("start capture");
    play.start().expect("start playback");
    let (r, _) = SignalRenderer::new();
    let engine =
        Engine::start(play, r, engine_config(block, wake)).expect("engine on the full PCM");
    out(&format!(
        "vm_engine | {label}: started {:?}",
        engine.start_info()
    ));
    let secs = 3.0;
    let (captured, tel) = capture_while(engine, &mut cap, secs);
    cap.drop_stream().expect("drop capture");
    check(label, &captured, &tel, secs);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn full_pcm_timer_wakeups_bit_exact_through_loopback() {
    full_pcm_run("full Pcm, timer, block 128", 128, WakeStrategy::Timer);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn full_pcm_period_wakeups_bit_exact_through_loopback() {
    full_pcm_run("full Pcm, period, block 512", 512, WakeStrategy::Period);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn restricted_buffer_fd_bit_exact_through_loopback() {
    let c = loop_config();
    // The "server": owns the full fd, configures and starts the stream.
    let mut play = Pcm::open("hw:Loopback,0,0", Direction::Playback, &c).expect("open playback");
    let mut cap = Pcm::open("hw:Loopback,1,0", Direction::Capture, &c).expect("open capture");
    play.prepare().expect("prepare playback");
    cap.prepare().expect("prepare capture");
    cap.start().expect("start capture");
    play.start().expect("start playback");
    let fd = play
        .anonymous_dup(DupMode::Buffer)
        .expect("a BUFFER fd (snd-pcm-anondup loaded?)");
    // The "client": only the BUFFER fd and the layout.
    let client = RestrictedPcm::from_fd(fd, play.layout()).expect("restricted PCM");
    out(&format!(
        "vm_engine | restricted: position via {:?}, poll fd {}",
        client.position_source(),
        client.poll_fd().is_some()
    ));
    let (r, _) = SignalRenderer::new();
    let engine = Engine::start(client, r, engine_config(128, WakeStrategy::Timer))
        .expect("engine on the BUFFER fd");
    let secs = 3.0;
    let (captured, tel) = capture_while(engine, &mut cap, secs);
    play.drop_stream().expect("drop playback");
    cap.drop_stream().expect("drop capture");
    check(
        "restricted BUFFER fd, timer, block 128",
        &captured,
        &tel,
        secs,
    );
}

/// The output bench on snd-dummy: margin, xruns per minute and wake-up
/// lateness for blocks of 32..256 frames at 48 kHz (numbers, not limits).
#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn measure_on_dummy() {
    let secs = 5.0;
    out("vm_engine | dummy bench: block wake margin(fr) min-lead(fr) xruns xruns/min late-p50/p99/max(us) render-p99(us) rt");
    for block in [32usize, 64, 128, 256] {
        let c = Config {
            format: Some(Format::S16Le),
            rate: 48_000,
            period_size: 256,
            buffer: BufferSize::Periods(16),
            ..Config::default()
        };
        let mut pcm = Pcm::open("hw:Dummy,0", Direction::Playback, &c).expect("open dummy");
        pcm.prepare().expect("prepare");
        pcm.start().expect("start");
        let mut phase = 0.0f32;
        let r = move |o: &mut [f32], _: &pcmring::engine::BlockInfo| {
            for f in o.chunks_exact_mut(2) {
                let v = (phase * std::f32::consts::TAU).sin() * 0.25;
                f[0] = v;
                f[1] = v;
                phase = (phase + 440.0 / 48_000.0).fract();
            }
        };
        let cfg = EngineConfig {
            name: "hw:Dummy,0".into(),
            block_frames: block,
            margin: Margin::Auto {
                probe: Duration::from_millis(500),
            },
            ..EngineConfig::default()
        };
        let engine = Engine::start(pcm, r, cfg).expect("engine on snd-dummy");
        let wake = engine.start_info().wake;
        std::thread::sleep(Duration::from_secs_f64(secs));
        let t = engine.telemetry().snapshot();
        engine.stop().expect("stop");
        out(&format!(
            "vm_engine | dummy bench: {block} {wake:?} {} {:?} {} {:.1} {:.0}/{:.0}/{:.0} {:.1} {}",
            t.margin_frames,
            t.min_lead_frames,
            t.xruns,
            t.xruns as f64 * 60.0 / secs,
            t.wake_late_ns.percentile(50.0) as f64 / 1000.0,
            t.wake_late_ns.percentile(99.0) as f64 / 1000.0,
            t.wake_late_ns.max() as f64 / 1000.0,
            t.render_ns.percentile(99.0) as f64 / 1000.0,
            t.realtime
        ));
        assert!(t.frames_written as f64 > 0.5 * secs * 48_000.0, "{t:?}");
    }
}

/// After an overrun of the (free-running) capture: skip to the hardware
/// position; a stream the kernel stopped is prepared and started again.
fn recover_capture(cap: &mut Pcm) {
    match cap.status_synced() {
        Ok(st) if st.state == pcmring::PcmState::Running as i32 => cap
            .set_appl_ptr(st.hw_ptr)
            .expect("skip the capture to hw_ptr"),
        _ => {
            cap.prepare().expect("re-prepare capture");
            cap.start().expect("restart capture");
        }
    }
}

/// Reads what the capture holds; `Err` (an overrun) also when the
/// hardware overtook the frames while they were being copied (a torn
/// read: the guest stalled mid-copy), so such frames are never used.
fn read_capture(cap: &mut Pcm, chunk: &mut [u8]) -> pcmring::Result<usize> {
    let n = cap.read_frames(chunk)?;
    let after = cap.avail()?;
    if after + n as u64 > cap.layout().buffer_size {
        return Err(pcmring::Error::BadState {
            device: cap.name().to_owned(),
            state: format!("overrun while {n} frames were being read"),
        });
    }
    Ok(n)
}
