//! The RT thread does not allocate, free, or block outside its wait after
//! start-up: several seconds on the simulated device with the counting
//! allocator installed and the guard armed on the RT thread.

mod sim_support;

use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::sim::{DacMode, SimConfig, SimDac};
use pcmring::Format;
use pcmring_rt::alloc_guard::{self, CountingAllocator, Mode};
use sim_support::*;
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

fn run<R: pcmring::engine::Renderer>(
    r: R,
    wake: WakeStrategy,
    mode: DacMode,
    block: usize,
    secs: u64,
) -> pcmring::engine::TelemetrySnapshot {
    let mut sc = SimConfig::new(layout(Format::S24_3Le, 256, 8192, 8192 << 8));
    sc.mode = mode;
    let dac = SimDac::start(sc).expect("sim");
    let cfg = EngineConfig {
        name: "sim".into(),
        block_frames: block,
        wake,
        margin: Margin::Frames(2400),
        alloc_guard: Some(Mode::Count),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dac.device().expect("dev"), r, cfg).expect("engine");
    std::thread::sleep(Duration::from_secs(secs));
    let tel = engine.telemetry().snapshot();
    engine.stop().expect("stop");
    tel
}

#[test]
fn no_allocation_free_or_block_on_the_rt_thread() {
    assert!(
        alloc_guard::is_installed(),
        "CountingAllocator is the global allocator"
    );
    for (wake, mode, block) in [
        (WakeStrategy::Timer, DacMode::Periods, 64),
        (WakeStrategy::Period, DacMode::Continuous { step: 16 }, 256),
    ] {
        // Lock evidence: the thread never went to sleep outside its wait
        // (a contended lock or any blocking call would). Code that blocks
        // does so in every run; a busy host can sleep the thread once in a
        // while (reclaim, a page fault waiting for I/O), so a run with
        // unexpected blocks is repeated, up to three runs in all.
        // Allocations are deterministic and checked on every run.
        let mut blocked = Vec::new();
        for _ in 0..3 {
            let (r, _) = SignalRenderer::new();
            let tel = run(r, wake, mode, block, 3);
            assert!(tel.cycles > 100, "{tel:?}");
            assert!(tel.frames_written > 48_000 * 2, "{tel:?}");
            assert_eq!(tel.rt_allocs, 0, "allocations on the RT thread: {tel:?}");
            assert_eq!(tel.rt_frees, 0, "frees on the RT thread: {tel:?}");
            assert_eq!(tel.rt_reallocs, 0, "reallocs on the RT thread: {tel:?}");
            if tel.unexpected_blocks == 0 {
                break;
            }
            blocked.push(tel);
        }
        assert!(
            blocked.len() < 3,
            "RT thread blocked outside its wait in every run: {blocked:?}"
        );
    }
}

/// The guard sees what it should: a renderer that allocates is caught, so
/// the zero above means something.
#[test]
fn an_allocating_renderer_is_caught() {
    let r = |out: &mut [f32], _: &BlockInfo| {
        let v: Vec<f32> = vec![0.25; out.len()];
        out.copy_from_slice(&v);
    };
    let tel = run(r, WakeStrategy::Timer, DacMode::Periods, 128, 1);
    assert!(tel.rt_allocs > 10, "{tel:?}");
    assert!(tel.rt_frees > 10, "{tel:?}");
}

/// And a renderer that takes a contended lock shows up as blocking.
#[test]
fn a_blocking_renderer_is_caught() {
    let m = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let m2 = m.clone();
    let holder = std::thread::spawn(move || {
        for _ in 0..200 {
            if let Ok(mut g) = m2.lock() {
                *g += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let r = move |_: &mut [f32], _: &BlockInfo| {
        if let Ok(mut g) = m.lock() {
            *g += 1;
        }
    };
    let tel = run(r, WakeStrategy::Timer, DacMode::Periods, 64, 1);
    let _ = holder.join();
    assert!(tel.unexpected_blocks > 0, "{tel:?}");
}
