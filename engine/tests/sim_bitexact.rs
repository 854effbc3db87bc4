//! A known signal through the engine and the simulated device comes out
//! of the DAC bit for bit: identical after the start offset, and gaps
//! only where the engine counted an xrun.

mod sim_support;

use pcmring::engine::WakeStrategy;
use pcmring::sim::DacMode;
use pcmring::Format;
use sim_support::*;

#[test]
fn s16_period_steps_timer_wakeups() {
    run_bitexact(
        Case {
            format: Format::S16Le,
            mode: DacMode::Periods,
            wake: WakeStrategy::Timer,
            block: 64,
            start_hw_ptr: 0,
            boundary: 8192 << 16,
            timestamps: true,
        },
        2.0,
    );
}

#[test]
fn s24_3_continuous_period_wakeups() {
    run_bitexact(
        Case {
            format: Format::S24_3Le,
            mode: DacMode::Continuous { step: 16 },
            wake: WakeStrategy::Period,
            block: 256,
            start_hw_ptr: 12_345,
            boundary: 8192 << 16,
            timestamps: true,
        },
        2.0,
    );
}

#[test]
fn f32_and_s32_auto() {
    for format in [Format::F32Le, Format::S32Le] {
        run_bitexact(
            Case {
                format,
                mode: DacMode::Continuous { step: 32 },
                wake: WakeStrategy::Auto,
                block: 128,
                start_hw_ptr: 0,
                boundary: 8192 << 16,
                timestamps: true,
            },
            1.0,
        );
    }
}

/// A device that does not stamp its pointer: the position model uses the
/// read times instead.
#[test]
fn unstamped_device() {
    run_bitexact(
        Case {
            format: Format::S16Le,
            mode: DacMode::Continuous { step: 32 },
            wake: WakeStrategy::Timer,
            block: 64,
            start_hw_ptr: 0,
            boundary: 8192 << 16,
            timestamps: false,
        },
        1.0,
    );
}

/// What a busy machine does: the RT thread stalls past the margin. The
/// recording is still the signal bit for bit wherever it plays, each gap
/// at an xrun the engine counted, and the sim lost exactly the frames the
/// engine counted (checked in `run_bitexact_hooked`).
#[test]
fn starved_engine_leaves_gaps_only_at_counted_xruns() {
    let (_, xruns) = run_bitexact_hooked(
        Case {
            format: Format::S16Le,
            mode: DacMode::Periods,
            wake: WakeStrategy::Timer,
            block: 64,
            start_hw_ptr: 0,
            boundary: 8192 << 16,
            timestamps: true,
        },
        2.0,
        Some(Box::new(|block| {
            // 150 ms: past the 100 ms margin.
            if block == 300 || block == 900 {
                std::thread::sleep(std::time::Duration::from_millis(150));
            }
        })),
    );
    assert!(xruns >= 2, "the stalls starved the engine");
}

/// Stalls of about the margin: some blocks finish too late to be written
/// safely, and whether the hardware then really passed the cursor (an
/// xrun) or not, no rendered content is lost without an xrun counted:
/// a late block is held and written by the next fill when it still can be.
#[test]
fn late_blocks_lose_no_content_without_an_xrun() {
    let mut total_xruns = 0;
    for (mode, wake) in [
        (DacMode::Periods, WakeStrategy::Timer),
        (DacMode::Continuous { step: 16 }, WakeStrategy::Timer),
    ] {
        let (_, xruns) = run_bitexact_hooked(
            Case {
                format: Format::S16Le,
                mode,
                wake,
                block: 64,
                start_hw_ptr: 0,
                boundary: 8192 << 16,
                timestamps: true,
            },
            3.0,
            Some(Box::new(|block| {
                let ms = match block {
                    300 => 92,
                    600 => 96,
                    900 => 99,
                    1200 => 101,
                    1500 => 104,
                    _ => return,
                };
                std::thread::sleep(std::time::Duration::from_millis(ms));
            })),
        );
        total_xruns += xruns;
    }
    println!("{total_xruns} xruns over both runs");
}
