//! The input and duplex RT threads do not allocate, free, or block outside
//! their wait after start-up: on the simulated device with the counting
//! allocator installed and the guard armed on the RT thread; and the guard
//! does catch an allocating duplex callback, so the zeros mean something.

use pcmring::engine::{BlockInfo, DuplexEngine, DuplexInfo, EngineConfig, InputEngine, Margin};
use pcmring::sim::{DacMode, FrameCounter, SimAdc, SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use pcmring_rt::alloc_guard::{self, CountingAllocator, Mode};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

fn layout(format: Format) -> StreamLayout {
    StreamLayout {
        format,
        channels: 2,
        rate: 48_000,
        period_size: 256,
        buffer_size: 8192,
        boundary: 8192 << 8,
    }
}

fn config(block: usize) -> EngineConfig {
    EngineConfig {
        name: "sim".into(),
        block_frames: block,
        margin: Margin::Frames(2400),
        alloc_guard: Some(Mode::Count),
        ..EngineConfig::default()
    }
}

#[test]
fn the_input_engine_neither_allocates_nor_blocks() {
    assert!(alloc_guard::is_installed());
    let mut sc = SimConfig::new(layout(Format::S24_3Le));
    sc.mode = DacMode::Continuous { step: 16 };
    let adc = SimAdc::start(sc, FrameCounter).expect("adc");
    let cap = move |input: &[f32], _: &BlockInfo| {
        std::hint::black_box(input.iter().sum::<f32>());
    };
    let engine = InputEngine::start(adc.device().expect("dev"), cap, config(64)).expect("engine");
    std::thread::sleep(Duration::from_secs(2));
    let (tel, r) = engine.stop_with_report();
    r.expect("stop");
    assert!(tel.cycles > 100 && tel.frames_read > 48_000, "{tel:?}");
    assert_eq!(
        (tel.rt_allocs, tel.rt_frees, tel.rt_reallocs),
        (0, 0, 0),
        "{tel:?}"
    );
    assert_eq!(tel.unexpected_blocks, 0, "{tel:?}");
}

fn duplex<R: pcmring::engine::DuplexRenderer>(
    r: R,
    secs: u64,
) -> pcmring::engine::TelemetrySnapshot {
    let adc = SimAdc::start(SimConfig::new(layout(Format::S16Le)), FrameCounter).expect("adc");
    let dac = SimDac::start(SimConfig::new(layout(Format::S32Le))).expect("dac");
    let engine = DuplexEngine::start(
        adc.device().expect("in"),
        dac.device().expect("out"),
        r,
        config(64),
    )
    .expect("duplex");
    std::thread::sleep(Duration::from_secs(secs));
    let (tel, r) = engine.stop_with_report();
    r.expect("stop");
    tel
}

#[test]
fn the_duplex_engine_neither_allocates_nor_blocks() {
    let r = |input: &[f32], output: &mut [f32], _: &DuplexInfo| output.copy_from_slice(input);
    let tel = duplex(r, 2);
    assert!(tel.cycles > 100 && tel.frames_written > 48_000, "{tel:?}");
    assert_eq!(
        (tel.rt_allocs, tel.rt_frees, tel.rt_reallocs),
        (0, 0, 0),
        "{tel:?}"
    );
    assert_eq!(tel.unexpected_blocks, 0, "{tel:?}");
}

#[test]
fn an_allocating_duplex_callback_is_caught() {
    let r = |input: &[f32], output: &mut [f32], _: &DuplexInfo| {
        let v = input.to_vec();
        output.copy_from_slice(&v);
    };
    let tel = duplex(r, 1);
    assert!(tel.rt_allocs > 10 && tel.rt_frees > 10, "{tel:?}");
}
