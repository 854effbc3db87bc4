//! Engine start-up choices and lifecycle on the simulated device.

mod sim_support;

use pcmring::engine::{BlockInfo, Engine, EngineConfig, EngineState, Margin, WakeStrategy};
use pcmring::sim::{SimConfig, SimDac};
use pcmring::Format;
use sim_support::*;
use std::time::Duration;

fn dac(wake_fd: bool) -> SimDac {
    let mut sc = SimConfig::new(layout(Format::S16Le, 256, 4096, 4096 << 10));
    sc.wake_fd = wake_fd;
    SimDac::start(sc).expect("sim")
}

fn silence(_: &mut [f32], _: &BlockInfo) {}

fn cfg(block: usize, wake: WakeStrategy) -> EngineConfig {
    EngineConfig {
        name: "sim".into(),
        block_frames: block,
        wake,
        margin: Margin::Frames(1024),
        ..EngineConfig::default()
    }
}

/// Threads of this process whose name starts with `prefix` (other tests
/// run in parallel, so count by name, not in total).
fn threads(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|c| c.trim_end().starts_with(prefix))
        .count()
}

#[test]
fn wake_strategy_is_chosen_automatically_and_can_be_overridden() {
    for (wake_fd, block, strategy, want) in [
        (true, 64, WakeStrategy::Auto, Some(WakeStrategy::Timer)), // block < period
        (true, 256, WakeStrategy::Auto, Some(WakeStrategy::Period)),
        (false, 256, WakeStrategy::Auto, Some(WakeStrategy::Timer)), // no poll fd
        (true, 256, WakeStrategy::Timer, Some(WakeStrategy::Timer)),
        (true, 64, WakeStrategy::Period, Some(WakeStrategy::Period)),
        (false, 64, WakeStrategy::Period, None), // impossible: error
    ] {
        let d = dac(wake_fd);
        let r = Engine::start(d.device().expect("dev"), silence, cfg(block, strategy));
        match (r, want) {
            (Ok(e), Some(w)) => {
                assert_eq!(e.start_info().wake, w, "{wake_fd} {block} {strategy:?}");
                assert_eq!(e.telemetry().snapshot().wake_mode, Some(w));
                std::thread::sleep(Duration::from_millis(50));
                assert!(e.telemetry().frames_written() > 0);
                e.stop().expect("stop");
            }
            (Err(e), None) => assert!(e.to_string().contains("poll fd"), "{e}"),
            (r, w) => panic!("{wake_fd} {block} {strategy:?}: got {r:?}, want {w:?}"),
        }
    }
}

#[test]
fn refused_realtime_is_reported_and_output_runs_anyway() {
    let d = dac(true);
    // Priority 0 is not a SCHED_FIFO priority: the promotion fails the
    // way a missing CAP_SYS_NICE would, and the engine goes on.
    let c = EngineConfig {
        fifo_priority: Some(0),
        ..cfg(64, WakeStrategy::Timer)
    };
    let e = Engine::start(d.device().expect("dev"), silence, c).expect("engine");
    let why = e.start_info().realtime.clone().expect_err("not realtime");
    assert!(!why.is_empty());
    assert!(!e.telemetry().snapshot().realtime);
    std::thread::sleep(Duration::from_millis(100));
    assert!(e.telemetry().frames_written() > 0);
    e.stop().expect("stop");
}

#[test]
fn bad_configurations_are_refused_with_reasons() {
    let d = dac(true);
    let e = Engine::start(
        d.device().expect("dev"),
        silence,
        cfg(0, WakeStrategy::Timer),
    )
    .expect_err("block 0");
    assert!(e.to_string().contains("block"), "{e}");
    let e = Engine::start(
        d.device().expect("dev"),
        silence,
        cfg(4096, WakeStrategy::Timer),
    )
    .expect_err("block too big");
    assert!(e.to_string().contains("block"), "{e}");
    // A margin the ring cannot hold is clamped, and an auto margin is
    // never more than the ring allows.
    let c = EngineConfig {
        margin: Margin::Frames(1 << 20),
        ..cfg(64, WakeStrategy::Timer)
    };
    let e = Engine::start(d.device().expect("dev"), silence, c).expect("clamped");
    assert!(
        e.start_info().margin_frames + 64 + 256 <= 4096,
        "{:?}",
        e.start_info()
    );
    e.stop().expect("stop");
}

#[test]
fn drop_and_stop_leave_no_thread_behind_and_silence_the_ring() {
    // The RT thread is named "pcmring-rt-<name>" (15 bytes kept by Linux).
    const RT: &str = "pcmring-rt-dz";
    let d = dac(true);
    for _ in 0..5 {
        let c = EngineConfig {
            name: "dz".into(),
            ..cfg(64, WakeStrategy::Timer)
        };
        let e = Engine::start(
            d.device().expect("dev"),
            |o: &mut [f32], _: &BlockInfo| o.fill(0.5),
            c,
        )
        .expect("engine");
        assert_eq!(threads(RT), 1);
        std::thread::sleep(Duration::from_millis(30));
        drop(e); // no stop(): Drop joins the thread
        assert_eq!(threads(RT), 0, "the RT thread is gone after drop");
    }
    // After stop the DAC plays out what was already queued (at most the
    // margin: stop never overwrites frames the hardware may be copying),
    // then silence.
    drop(d);
    let mut sc = SimConfig::new(layout(Format::S16Le, 256, 4096, 4096 << 10));
    sc.record_frames = 48_000;
    let d2 = SimDac::start(sc).expect("sim");
    let e = Engine::start(
        d2.device().expect("dev"),
        |o: &mut [f32], _: &BlockInfo| o.fill(0.5),
        cfg(64, WakeStrategy::Timer),
    )
    .expect("engine");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(e.telemetry().state(), EngineState::Running);
    let written = e.telemetry().frames_written();
    e.stop().expect("stop");
    std::thread::sleep(Duration::from_millis(200));
    let rec_check = d2.stop().expect("stop").recording;
    // Nothing plays that was not written: the stale rest of the ring was
    // silenced, so no audio from one buffer (4096 frames) ago comes round
    // again. `written` was read just before stop(); the engine may write a
    // few more blocks before it sees the stop, hence the margin's slack.
    let start = first_sound(&rec_check).expect("sound");
    assert!(
        end_of_sound(&rec_check) - start <= written as usize + 1024,
        "played {} frames of sound, wrote {written}",
        end_of_sound(&rec_check) - start
    );
    // Sound, then silence to the end: nothing written before the stop
    // plays later, and nothing loops.
    let end = end_of_sound(&rec_check);
    assert!(
        end > 0 && end + 4096 < rec_check.frames(),
        "{end} of {}",
        rec_check.frames()
    );
}

#[test]
fn clock_handle_reads_the_device_clock_from_any_thread() {
    let d = dac(true);
    let e = Engine::start(
        d.device().expect("dev"),
        silence,
        cfg(64, WakeStrategy::Timer),
    )
    .expect("engine");
    let clock = e.clock();
    std::thread::sleep(Duration::from_millis(50));
    let reader = std::thread::spawn(move || {
        let mut last = 0;
        for _ in 0..50 {
            let now = clock.now_frames();
            assert!(now >= last, "monotonic");
            last = now;
            std::thread::sleep(Duration::from_millis(2));
        }
        (last, clock.anchor().2)
    });
    let (last, rate) = reader.join().expect("reader");
    let dac_now = d.stats().hw_frames;
    // Within a couple of periods of the DAC's own position.
    assert!(
        last + 2048 > dac_now && last < dac_now + 2048,
        "{last} vs {dac_now}"
    );
    assert!((rate - 48_000.0).abs() < 48.0, "{rate}");
    assert!(e.now_frames() >= last);
    e.stop().expect("stop");
}
