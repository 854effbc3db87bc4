//! Fault handling on the simulated device: a panicking renderer, a device
//! that disappears, a starved RT thread.

mod sim_support;

use pcmring::engine::{BlockInfo, Engine, EngineConfig, EngineState, Margin, WakeStrategy};
use pcmring::sim::{Recording, SimConfig, SimDac};
use pcmring::{Device, Format, PcmState};
use sim_support::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn sim(record_secs: f64) -> SimDac {
    let mut sc = SimConfig::new(layout(Format::S16Le, 256, 8192, 8192 << 10));
    sc.record_frames = (record_secs * 48_000.0) as usize;
    SimDac::start(sc).expect("sim")
}

fn config(margin: u64) -> EngineConfig {
    EngineConfig {
        name: "sim".into(),
        block_frames: 64,
        wake: WakeStrategy::Timer,
        margin: Margin::Frames(margin),
        ..EngineConfig::default()
    }
}

fn is_silent(rec: &Recording, from: usize, to: usize) -> bool {
    (from..to).all(|i| rec.frame(i).is_some_and(|f| f.iter().all(|&b| b == 0)))
}

#[test]
fn render_panic_is_reported_and_output_goes_silent() {
    let dac = sim(3.0);
    let (mut r, seen) = SignalRenderer::new();
    r.hook = Some(Box::new(|block| {
        if block == 200 {
            panic!("test renderer fails on purpose at block 200");
        }
    }));
    let engine = Engine::start(dac.device().expect("dev"), r, config(4800)).expect("engine");
    std::thread::sleep(Duration::from_millis(1500));
    let tel = engine.telemetry().snapshot();
    assert_eq!(tel.render_panics, 1, "{tel:?}");
    assert_eq!(tel.state, EngineState::Running, "the engine keeps running");
    assert!(engine.is_running());
    // The renderer is not called again after its panic.
    assert_eq!(seen.blocks.load(Ordering::Relaxed), 201);
    // Output went on (silence) after the panic.
    let written_then = tel.frames_written;
    std::thread::sleep(Duration::from_millis(200));
    assert!(engine.telemetry().frames_written() > written_then);
    engine
        .stop()
        .expect("a render panic is not an engine error");
    let rec = dac.stop().expect("dac").recording;
    // 200 blocks of signal, bit-exact, then silence to the end.
    let start = first_sound(&rec).expect("signal before the panic");
    assert_eq!(first_mismatch(&rec, start, 200 * 64), None);
    assert!(is_silent(&rec, start + 200 * 64, rec.frames()));
}

#[test]
fn disconnect_stops_the_engine_with_a_readable_error() {
    let dac = sim(1.0);
    let (r, _seen) = SignalRenderer::new();
    let engine = Engine::start(dac.device().expect("dev"), r, config(2400)).expect("engine");
    std::thread::sleep(Duration::from_millis(300));
    assert!(engine.is_running());
    dac.disconnect();
    assert!(
        engine.wait_finished(Duration::from_secs(5)),
        "engine stopped by itself"
    );
    assert_eq!(engine.telemetry().state(), EngineState::Failed);
    assert_eq!(
        engine.telemetry().snapshot().device_state,
        Some(pcmring::PcmState::Disconnected)
    );
    let msg = engine.error().expect("an error to read");
    assert!(msg.contains("DISCONNECTED"), "{msg}");
    let err = engine.stop().expect_err("stop reports the error");
    assert!(matches!(err, pcmring::Error::BadState { .. }), "{err:?}");
    assert!(err.to_string().contains("sim"), "names the device: {err}");
}

#[test]
fn start_on_a_disconnected_device_fails() {
    let dac = sim(0.0);
    dac.disconnect();
    // The DAC thread publishes the state at its next step: wait for it.
    let mut dev = dac.device().expect("dev");
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while dev.position().ok().map(|p| p.state) != Some(PcmState::Disconnected) {
        assert!(
            std::time::Instant::now() < end,
            "the DAC never disconnected"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let (r, _) = SignalRenderer::new();
    let err = Engine::start(dev, r, config(2400)).expect_err("refused");
    assert!(err.to_string().contains("DISCONNECTED"), "{err}");
}

#[test]
fn starved_rt_thread_counts_an_xrun_and_resumes() {
    let dac = sim(4.0);
    let (mut r, seen) = SignalRenderer::new();
    // Block 300 (~0.4 s in at 64 frames) sleeps 50 ms: more than the
    // 20 ms margin, so the DAC runs past the cursor.
    r.hook = Some(Box::new(|block| {
        if block == 300 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }));
    let engine = Engine::start(dac.device().expect("dev"), r, config(960)).expect("engine");
    std::thread::sleep(Duration::from_millis(2000));
    let tel = engine.telemetry().snapshot();
    engine.stop().expect("an xrun is not an engine error");
    let report = dac.stop().expect("dac");
    assert!(tel.xruns >= 1, "{tel:?}");
    assert!(tel.min_lead_frames.is_some_and(|m| m < 256), "{tel:?}");
    assert!(report.stats.underrun_events >= 1, "{:?}", report.stats);
    assert!(
        seen.blocks.load(Ordering::Relaxed) > 1000,
        "rendering went on"
    );

    let rec = &report.recording;
    let segs = segments(rec.bytes(), rec.layout().format, 2);
    assert!(segs.len() >= 2, "a gap: {segs:?}");
    // Every segment continues the signal (checked bit for bit by
    // `segments`). The starvation is the longest gap (a busy machine may
    // add short ones): at least ~30 ms of silence, after which the signal
    // resumes, further on than where it stopped.
    let (k, gap) = (1..segs.len())
        .map(|k| (k, segs[k].0 - (segs[k - 1].0 + segs[k - 1].2)))
        .max_by_key(|&(_, g)| g)
        .unwrap_or((0, 0));
    assert!(gap >= 1440, "longest gap {gap} frames: {segs:?}");
    assert!(
        segs[k].1 >= segs[k - 1].1 + segs[k - 1].2 as u64,
        "{segs:?}"
    );
    let resumed: usize = segs[1..].iter().map(|s| s.2).sum();
    assert!(resumed > 48_000, "resumed for {resumed} frames: {segs:?}");
}

#[test]
fn renderer_sees_block_info() {
    let dac = sim(0.0);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<BlockInfo>));
    let s2 = seen.clone();
    let engine = Engine::start(
        dac.device().expect("dev"),
        move |out: &mut [f32], info: &BlockInfo| {
            assert_eq!(out.len(), info.frames * info.channels);
            if let Ok(mut g) = s2.try_lock() {
                *g = Some(*info);
            }
        },
        config(2400),
    )
    .expect("engine");
    std::thread::sleep(Duration::from_millis(200));
    let clock = engine.clock();
    let now = clock.now_frames();
    let info = seen.lock().ok().and_then(|g| *g).expect("rendered");
    assert_eq!((info.frames, info.channels, info.rate), (64, 2, 48_000));
    // Blocks are rendered ahead of the clock, within margin + a block.
    assert!(info.frame_time + 64 > now, "{info:?} vs {now}");
    assert!(clock.write_cursor() >= info.frame_time + 64);
    assert!(
        clock.write_cursor() <= now + 2400 + 64 + 256 + 48 * 50,
        "cursor near the clock"
    );
    engine.stop().expect("stop");
}
