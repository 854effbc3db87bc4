//! A known signal through the engine and the simulated device comes out
//! of the DAC bit for bit: identical after the start offset, no gaps.

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
