//! The simulated device starts just below `boundary`; the engine plays
//! across the wrap with no glitch (bit-exact, no gap, no xrun).

mod sim_support;

use pcmring::engine::WakeStrategy;
use pcmring::sim::DacMode;
use pcmring::Format;
use sim_support::*;

#[test]
fn plays_across_boundary_bit_exactly() {
    // A small boundary (16 buffers) so the 2 s run wraps several times;
    // the start is half a buffer before the first wrap.
    let boundary = 8192 * 4;
    let end = run_bitexact(
        Case {
            format: Format::S16Le,
            mode: DacMode::Periods,
            wake: WakeStrategy::Timer,
            block: 64,
            start_hw_ptr: boundary - 4096,
            boundary,
            timestamps: true,
        },
        2.0,
    );
    assert!(
        end > 2 * boundary,
        "the DAC wrapped the raw pointer at least twice ({end})"
    );
}

#[test]
fn continuous_device_across_boundary_with_period_wakeups() {
    let boundary = 8192 * 2;
    let end = run_bitexact(
        Case {
            format: Format::S24Le,
            mode: DacMode::Continuous { step: 8 },
            wake: WakeStrategy::Period,
            block: 256,
            start_hw_ptr: boundary - 300,
            boundary,
            timestamps: true,
        },
        1.5,
    );
    assert!(end > 3 * boundary, "wrapped several times ({end})");
}
