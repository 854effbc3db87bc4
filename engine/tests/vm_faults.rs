//! Faults that need privileges the host test run may not have: a render
//! callback that spins past `RLIMIT_RTTIME` under `SCHED_FIFO`. Runs as
//! root in the VM suite (`VM_BINS=vm_faults kernel/vm/run`); on the simulated
//! device, so it needs no sound card.

mod sim_support;

use pcmring::engine::{Engine, EngineConfig, EngineState, Margin, WakeStrategy};
use pcmring::events::EngineEvent;
use pcmring::sim::{SimConfig, SimDac};
use pcmring::Format;
use sim_support::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The soft `RLIMIT_RTTIME` the engine sets is 200 ms; the spin uses
/// well past it in thread CPU time (in a guest on a busy host the wall
/// clock runs on while the vCPU does not, and the kernel counts realtime
/// time in ticks the thread actually ran). Bounded in wall-clock time.
const SPIN_CPU: Duration = Duration::from_millis(1200);
const SPIN_WALL_MAX: Duration = Duration::from_secs(20);

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
#[ignore = "needs SCHED_FIFO (root): runs in the VM suite (kernel/vm/run)"]
fn render_spinning_past_the_rt_limit_demotes_instead_of_killing() {
    let mut sc = SimConfig::new(layout(Format::S16Le, 256, 8192, 8192 << 10));
    sc.record_frames = 0;
    let dac = SimDac::start(sc).expect("sim");
    let (mut r, seen) = SignalRenderer::new();
    r.hook = Some(Box::new(|block| {
        if block == 100 {
            let (t, cpu0) = (Instant::now(), thread_cpu_time());
            let mut x = 0u64;
            while thread_cpu_time() - cpu0 < SPIN_CPU && t.elapsed() < SPIN_WALL_MAX {
                for _ in 0..1000 {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
        }
    }));
    let cfg = EngineConfig {
        name: "sim".into(),
        block_frames: 64,
        wake: WakeStrategy::Timer,
        margin: Margin::Frames(2400),
        fifo_priority: Some(10),
        repromote_after: Duration::from_millis(500),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dac.device().expect("dev"), r, cfg).expect("engine");
    let info = engine.start_info().clone();
    assert!(
        info.realtime.is_ok(),
        "this test needs SCHED_FIFO (run it as root, as the VM suite does): {:?}",
        info.realtime
    );
    assert_eq!(info.demotion_watch, Some(Ok(())), "{info:?}");
    let events = engine.events();
    // The spin at block 100 (~0.13 s in) overruns the soft limit; the
    // process must still be here afterwards, demoted, then re-promoted.
    let end = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while Instant::now() < end
        && !got
            .iter()
            .any(|e| matches!(e, EngineEvent::Repromoted { .. }))
    {
        std::thread::sleep(Duration::from_millis(50));
        got.extend(events.drain());
    }
    let tel = engine.telemetry().snapshot();
    assert!(
        got.iter().any(|e| matches!(e, EngineEvent::Demoted { .. })),
        "{got:?} {tel:?}"
    );
    assert!(
        got.iter()
            .any(|e| matches!(e, EngineEvent::Repromoted { priority: 10 })),
        "{got:?} {tel:?}"
    );
    assert!(tel.rt_demotions >= 1, "{tel:?}");
    assert!(tel.rt_repromotions >= 1, "{tel:?}");
    assert!(tel.realtime, "SCHED_FIFO again after the quiet period");
    assert_eq!(tel.state, EngineState::Running);
    // Playback resumed: the renderer runs on, frames keep coming.
    let blocks = seen.blocks.load(Ordering::Relaxed);
    let written = tel.frames_written;
    std::thread::sleep(Duration::from_millis(300));
    assert!(seen.blocks.load(Ordering::Relaxed) > blocks);
    assert!(engine.telemetry().frames_written() > written);
    assert!(pcmring_rt::sched::sigxcpu_signals() >= 1);
    engine.stop().expect("a demotion is not an engine error");
    dac.stop().expect("dac");
}
