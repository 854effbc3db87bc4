//! Output path measurement (a benchmark, not a test): margin used, xruns
//! per minute and wake-up lateness for block sizes 32, 64, 128 and 256
//! frames at 48 kHz on the simulated device.
//!
//! `cargo bench --bench output` (env `PCMRING_BENCH_SECS`, default 10 s
//! per block size; `PCMRING_BENCH_MODE=periods` for a batch DAC that
//! moves in 256-frame periods instead of 16-frame steps).

use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::sim::{DacMode, SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use std::time::Duration;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
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
        "{:>5} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>3}",
        "block",
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
        "rt"
    );
    println!(
        "{:>5} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>3}",
        "fr", "", "fr", "fr", "ms", "fr", "", "", "us", "us", "us", "p99 us", ""
    );
    for block in [32usize, 64, 128, 256] {
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
        let cfg = EngineConfig {
            name: "sim".into(),
            block_frames: block,
            wake: WakeStrategy::Auto,
            margin: Margin::Auto {
                probe: Duration::from_millis(500),
            },
            ..EngineConfig::default()
        };
        let engine = match Engine::start(dev, renderer, cfg) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("engine: {e}");
                std::process::exit(1);
            }
        };
        std::thread::sleep(Duration::from_secs(secs));
        let t = engine.telemetry().snapshot();
        let info = engine.start_info().clone();
        let _ = engine.stop();
        let sim = dac.stats();
        let minutes = secs as f64 / 60.0;
        println!(
            "{:>5} {:>6} {:>9} {:>9} {:>9.2} {:>9} {:>8} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>3}",
            block,
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
        );
        if sim.underrun_events != t.xruns {
            println!(
                "      (DAC saw {} underrun episodes, {} frames)",
                sim.underrun_events, sim.underrun_frames
            );
        }
        let _ = dac.stop();
    }
    println!("margin = granule + jitter allowance (start-up probe p99.9 * 1.5, >= 100 us) + 0.5 ms safety");
    println!("margin@0 = at start (granule = one period until the DAC step is measured); margin = at the end");
    println!("  (the granule measured, and each xrun grew the allowance by its shortfall + 25%)");
    println!("min lead = frames still queued at the worst wake-up (margin actually used = margin - min lead)");
}
