//! One xrun truth: the engine's count (from positions) and the simulated
//! device's own count (what its DAC played unwritten) agree, and the sim
//! counts nothing while no writer holds it.

mod sim_support;

use pcmring::engine::{Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::events::EngineEvent;
use pcmring::sim::{DacMode, SimConfig, SimDac};
use pcmring::{Device, Format};
use sim_support::*;
use std::time::Duration;

/// Runs an engine whose renderer stalls three times past the margin and
/// returns (engine xruns, engine xrun frames, sim underrun events, sim
/// underrun frames), all counted over the same run.
fn starve(mode: DacMode, wake: WakeStrategy) -> (u64, u64, u64, u64) {
    let mut sc = SimConfig::new(layout(Format::S16Le, 256, 8192, 8192 << 10));
    sc.mode = mode;
    sc.record_frames = 0;
    let dac = SimDac::start(sc).expect("sim");
    let (mut r, _seen) = SignalRenderer::new();
    r.hook = Some(Box::new(|block| {
        if block == 300 || block == 700 {
            std::thread::sleep(Duration::from_millis(60));
        }
        if block == 1100 {
            std::thread::sleep(Duration::from_millis(35));
        }
    }));
    let cfg = EngineConfig {
        name: "sim".into(),
        block_frames: 64,
        wake,
        margin: Margin::Frames(960),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dac.device().expect("dev"), r, cfg).expect("engine");
    let events = engine.events();
    std::thread::sleep(Duration::from_millis(1800));
    engine.stop().expect("xruns are not errors");
    // The engine is gone (its device endpoint released the sim): whatever
    // the DAC plays now is idle, not underrun.
    std::thread::sleep(Duration::from_millis(100));
    let stats = dac.stop().expect("dac").stats;
    let (mut n, mut frames) = (0, 0);
    for e in events.drain() {
        if let EngineEvent::Xrun { frames: f, .. } = e {
            n += 1;
            frames += f;
        }
    }
    assert_eq!(events.dropped(), 0);
    (n, frames, stats.underrun_events, stats.underrun_frames)
}

fn check(mode: DacMode, wake: WakeStrategy) {
    let (xruns, xrun_frames, events, underrun_frames) = starve(mode, wake);
    println!("{mode:?} {wake:?}: engine {xruns} xruns / {xrun_frames} frames; sim {events} events / {underrun_frames} frames");
    assert!(xruns >= 2, "the stalls starved the ring");
    assert_eq!(
        xrun_frames, underrun_frames,
        "engine and sim count the same lost frames"
    );
    assert_eq!(xruns, events, "one sim underrun episode per engine xrun");
}

#[test]
fn engine_and_sim_agree_on_starvation_batch_device() {
    check(DacMode::Periods, WakeStrategy::Timer);
}

#[test]
fn engine_and_sim_agree_on_starvation_continuous_device() {
    check(DacMode::Continuous { step: 16 }, WakeStrategy::Timer);
}

#[test]
fn engine_and_sim_agree_on_starvation_period_wakeups() {
    check(DacMode::Periods, WakeStrategy::Period);
}

/// Waits until the DAC thread has played `periods` more periods: then it
/// has been through its loop, and seen what was asked of it before, at
/// least once (a fixed sleep is not enough on a loaded host).
fn dac_steps(dac: &SimDac, periods: u64) {
    let start = dac.stats().frames;
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while dac.stats().frames < start + periods * 256 {
        assert!(std::time::Instant::now() < end, "the DAC stopped playing");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn no_underruns_counted_after_the_writer_leaves() {
    let sc = SimConfig::new(layout(Format::S16Le, 256, 1024, 1024 << 10));
    let dac = SimDac::start(sc).expect("sim");
    // A writer that commits once and hangs up (a broker client that died).
    let mut dev = dac.device().expect("dev");
    let hw = dev.position().expect("pos").hw_ptr;
    dev.commit(hw + 512).expect("commit");
    std::mem::forget(dev); // died: no clean release
    std::thread::sleep(Duration::from_millis(100));
    let counted = dac.stats().underrun_frames;
    assert!(
        counted > 0,
        "the dead writer's stall is counted while it holds the device"
    );
    // The lease ends: the broker releases the writer.
    dac.release_writer();
    dac_steps(&dac, 2);
    let at_release = dac.stats().underrun_frames;
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        dac.stats().underrun_frames,
        at_release,
        "idle, not underrun"
    );

    // A writer that leaves cleanly releases the device itself.
    let mut dev = dac.device().expect("dev");
    let hw = dev.position().expect("pos").hw_ptr;
    dev.commit(hw + 512).expect("commit");
    drop(dev);
    dac_steps(&dac, 2);
    let at_drop = dac.stats().underrun_frames;
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(dac.stats().underrun_frames, at_drop);
}
