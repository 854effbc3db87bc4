//! Output path measurement (a benchmark, not a test): margin used, xruns
//! per minute and wake-up lateness for block sizes 32, 64, 128 and 256
//! frames at 48 kHz on the simulated device.
//!
//! `cargo bench --bench output` (env `PCMRING_BENCH_SECS`, default 10 s
//! per block size and variant; `PCMRING_BENCH_MODE=periods` for a batch
//! DAC that moves in 256-frame periods instead of 16-frame steps).
//!
//! Each block size runs twice, side by side: `per-block` (one wake-up per
//! block, blocking monitor on: the engine's cycle as it was before the
//! CPU tuning) and `default` (the engine's defaults: timer wake-ups at
//! least `min_wake_ns` apart, no `getrusage` per cycle). The RT thread's
//! CPU time comes from `/proc/self/task/<tid>/schedstat` (nanoseconds on
//! CPU); the machine may be noisy, so compare the ratio within one run.

use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::sim::{DacMode, SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use std::time::Duration;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Nanoseconds on CPU of this process's threads named `pcmring-rt-*`.
fn rt_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|t| t.ok())
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("pcmring-rt-"))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let secs: u64 = std::env::var("PCMRING_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let periods = std::env::var("PCMRING_BENCH_MODE").is_ok_and(|m| m == "periods");
    let layout = StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 256,
        buffer_size: 4096,
        boundary: 4096 << 20,
    };
    let mode = if periods {
        DacMode::Periods
    } else {
        DacMode::Continuous { step: 16 }
    };
    println!(
        "output bench: simulated device, 48 kHz S16 stereo, DAC {:?}, {secs} s per block size",
        mode
    );
    println!(
        "{:>5} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>3} {:>8} {:>8}",
        "block",
        "variant",
        "wake",
        "margin@0",
        "margin",
        "margin",
        "min lead",
        "xruns",
        "xruns/min",
        "late p50",
        "late p99",
        "late max",
        "render",
        "rt",
        "wakes/s",
        "cpu %"
    );
    println!(
        "{:>5} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>3} {:>8} {:>8}",
        "fr", "", "", "fr", "fr", "ms", "fr", "", "", "us", "us", "us", "p99 us", "", "", "rt thr"
    );
    let mut ratios = Vec::new();
    for block in [32usize, 64, 128, 256] {
        let mut cpu = [0.0f64; 2];
        for (vi, variant) in ["per-block", "default"].into_iter().enumerate() {
            let mut sc = SimConfig::new(layout);
            sc.mode = mode;
            let dac = match SimDac::start(sc) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("sim: {e}");
                    std::process::exit(1);
                }
            };
            let dev = match dac.device() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("sim device: {e}");
                    std::process::exit(1);
                }
            };
            let mut phase = 0.0f32;
            let renderer = move |out: &mut [f32], _: &BlockInfo| {
                for f in out.chunks_exact_mut(2) {
                    let v = (phase * std::f32::consts::TAU).sin() * 0.25;
                    f[0] = v;
                    f[1] = v;
                    phase = (phase + 440.0 / 48_000.0).fract();
                }
            };
            let mut cfg = EngineConfig {
                name: "sim".into(),
                block_frames: block,
                wake: WakeStrategy::Auto,
                margin: Margin::Auto {
                    probe: Duration::from_millis(500),
                },
                ..EngineConfig::default()
            };
            if variant == "per-block" {
                cfg.min_wake_ns = 0;
                // Arms the blocking monitor (getrusage around each wait); no
                // counting allocator is installed, so the guard itself is idle.
                cfg.alloc_guard = Some(pcmring_rt::alloc_guard::Mode::Count);
            }
            let engine = match Engine::start(dev, renderer, cfg) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("engine: {e}");
                    std::process::exit(1);
                }
            };
            // Measure after the start-up (probe, headroom).
            std::thread::sleep(Duration::from_millis(200));
            let (cpu0, cycles0) = (rt_cpu_ns(), engine.telemetry().snapshot().cycles);
            std::thread::sleep(Duration::from_secs(secs));
            let t = engine.telemetry().snapshot();
            let cpu_pct = (rt_cpu_ns() - cpu0) as f64 / (secs as f64 * 1e9) * 100.0;
            let wakes = (t.cycles - cycles0) as f64 / secs as f64;
            cpu[vi] = cpu_pct;
            let info = engine.start_info().clone();
            let _ = engine.stop();
            let sim = dac.stats();
            let minutes = secs as f64 / 60.0;
            println!(
            "{:>5} {:>9} {:>6} {:>9} {:>9} {:>9.2} {:>9} {:>8} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>3} {:>8.0} {:>8.2}",
            block,
            variant,
            format!("{:?}", info.wake),
            info.margin_frames,
            t.margin_frames,
            t.margin_frames as f64 / 48.0,
            t.min_lead_frames.unwrap_or(0),
            t.xruns,
            t.xruns as f64 / minutes,
            us(t.wake_late_ns.percentile(50.0)),
            us(t.wake_late_ns.percentile(99.0)),
            us(t.wake_late_ns.max()),
            us(t.render_ns.percentile(99.0)),
            if t.realtime { "yes" } else { "no" },
            wakes,
            cpu_pct,
        );
            if sim.underrun_events != t.xruns {
                println!(
                    "      (DAC saw {} underrun episodes, {} frames)",
                    sim.underrun_events, sim.underrun_frames
                );
            }
            let _ = dac.stop();
        }
        ratios.push((block, cpu[1] / cpu[0].max(1e-9)));
    }
    for (block, r) in ratios {
        println!("block {block}: RT thread CPU default / per-block = {r:.2}");
    }
    println!("margin = granule + jitter allowance (start-up probe p99.9 * 1.5, >= 100 us) + 0.5 ms safety");
    println!("margin@0 = at start (granule = one period until the DAC step is measured); margin = at the end");
    println!(
        "  (the granule measured; each xrun grew the allowance by its shortfall + 25%, an excess
  that halves after each quiet EngineConfig::margin_decay, 4 s by default)"
    );
    println!("min lead = frames still queued at the worst wake-up (margin actually used = margin - min lead)");
}
