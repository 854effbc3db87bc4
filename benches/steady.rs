//! Steady-state cost of the RT thread on the simulated device (a
//! benchmark, not a test): wake-ups, system calls and CPU per second of
//! audio for three ways of running the same engine, at blocks 64, 128 and
//! 256 frames and a 1024-frame margin:
//!
//! * `every`: a refresh (the sim's HWSYNC) on every wake-up
//!   (`refresh_every_wake`) and one block per wake-up (`margin_wakes` 0),
//!   the engine's behaviour before issue 16;
//! * `page`: the position from the status page and the model, still one
//!   block per wake-up;
//! * `wake`: the page and the model, with the deadline and several blocks
//!   per wake-up (`margin_wakes` 4, the default: 256 frames a wake-up).
//!
//! `cargo bench --bench steady` (env `PCMRING_BENCH_SECS`, default 5 s per
//! row; `PCMRING_STEADY_ONLY=every|page|wake` runs one variant, e.g. under
//! `strace -f -c` to cross-check the engine's own syscall count).
//!
//! The DAC moves in 16-frame steps and publishes its status page once a
//! period (256 frames), like the kernel's page on period interrupts; a
//! refresh (the sim's HWSYNC) returns its real position. Blocks shorter
//! than a period wake on the timer (the sim's wake-up pipe is left out, as
//! draining it would add a read per wake-up the kernel does not need);
//! block 256 wakes on the period pipe.

use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::sim::{DacMode, PageUpdates, SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use std::time::Duration;

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn main() {
    let secs: u64 = std::env::var("PCMRING_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let only = std::env::var("PCMRING_STEADY_ONLY").unwrap_or_default();
    let layout = StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 256,
        buffer_size: 4096,
        boundary: 4096 << 20,
    };
    println!(
        "steady state on the simulated device: {} s per row, page once per period, {}",
        secs,
        cpu_model()
    );
    println!(
        "| block | position, wake-ups | wake interval | wake-ups/s | syscalls/s | refreshes/s | refreshes by reason (start/stale/low lead/refresh/state) | CPU per audio s | xruns | bound overshoot |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
    for block in [64usize, 128, 256] {
        for (name, what) in [
            ("every", "refresh every wake-up, 1 block"),
            ("page", "page + model, 1 block"),
            ("wake", "page + model, deadline, blocks per margin/4"),
        ] {
            let every = name == "every";
            if !only.is_empty() && only != name {
                continue;
            }
            let mut sc = SimConfig::new(layout);
            sc.mode = DacMode::Continuous { step: 16 };
            sc.page_updates = PageUpdates::PerPeriod;
            sc.wake_fd = block as u64 >= layout.period_size;
            let dac = match SimDac::start(sc) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("sim: {e}");
                    return;
                }
            };
            let dev = match dac.device() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("sim device: {e}");
                    return;
                }
            };
            let mut phase = 0f32;
            let render = move |out: &mut [f32], _: &BlockInfo| {
                for s in out.iter_mut() {
                    phase = (phase + 0.01) % 1.0;
                    *s = phase - 0.5;
                }
            };
            let cfg = EngineConfig {
                name: "sim".into(),
                block_frames: block,
                wake: WakeStrategy::Auto,
                margin: Margin::Frames(1024),
                refresh_every_wake: every,
                margin_wakes: if name == "wake" { 4 } else { 0 },
                ..EngineConfig::default()
            };
            let engine = match Engine::start(dev, render, cfg) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("engine: {e}");
                    return;
                }
            };
            std::thread::sleep(Duration::from_secs(secs));
            let t = engine.telemetry().snapshot();
            let _ = engine.stop();
            let _ = dac.stop();
            let a = t.audio_seconds().max(1e-9);
            println!(
                "| {block} | {what} | {} | {:.0} | {:.0} | {:.1} | {}/{}/{}/{}/{} | {:.3}% | {} | {} |",
                t.wake_interval_frames,
                t.cycles as f64 / a,
                t.syscalls_per_audio_second(),
                t.position_syncs as f64 / a,
                t.syncs_start,
                t.syncs_page_stale,
                t.syncs_low_lead,
                t.syncs_refresh,
                t.syncs_page_state,
                t.cpu_per_audio_second() * 100.0,
                t.xruns,
                t.bound_overshoot_max_frames,
            );
        }
    }
}
