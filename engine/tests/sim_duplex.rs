//! Full duplex on the simulated device: the sim ADC's frame counter goes
//! through a pass-through duplex engine into the sim DAC, and what the DAC
//! played is the input, bit for bit, exactly `offset` frames later.

use pcmring::engine::{DuplexEngine, DuplexInfo, DuplexRenderer, EngineConfig, Margin};
use pcmring::sim::{DacMode, FrameCounter, SimAdc, SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn layout(format: Format, rate: u32) -> StreamLayout {
    StreamLayout {
        format,
        channels: 2,
        rate,
        period_size: 256,
        buffer_size: 4096,
        boundary: 4096 << 10,
    }
}

fn config(block: usize) -> EngineConfig {
    EngineConfig {
        name: "sim duplex".into(),
        block_frames: block,
        margin: Margin::Frames(1024),
        ..EngineConfig::default()
    }
}

#[derive(Default)]
struct Seen {
    blocks: AtomicU64,
    misaligned: AtomicU64,
    offset: AtomicI64,
}

fn pass_through() -> (impl DuplexRenderer, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let f = move |input: &[f32], output: &mut [f32], info: &DuplexInfo| {
        s.blocks.fetch_add(1, Ordering::Relaxed);
        if info.output_time as i64 - info.input_time as i64 != info.offset {
            s.misaligned.fetch_add(1, Ordering::Relaxed);
        }
        s.offset.store(info.offset, Ordering::Relaxed);
        output.copy_from_slice(input);
    };
    (f, seen)
}

#[test]
fn duplex_pass_through_is_bit_exact_at_the_reported_offset() {
    for (fin, fout, mode, block) in [
        (Format::S16Le, Format::S16Le, DacMode::Periods, 64),
        (
            Format::S24_3Le,
            Format::S32Le,
            DacMode::Continuous { step: 16 },
            32,
        ),
        (
            Format::F32Le,
            Format::S24Le,
            DacMode::Continuous { step: 32 },
            128,
        ),
    ] {
        let mut ac = SimConfig::new(layout(fin, 48_000));
        ac.mode = mode;
        let mut dc = SimConfig::new(layout(fout, 48_000));
        dc.mode = mode;
        dc.record_frames = 48_000;
        let adc = SimAdc::start(ac, FrameCounter).expect("adc");
        let dac = SimDac::start(dc).expect("dac");
        let (r, seen) = pass_through();
        let engine = DuplexEngine::start(
            adc.device().expect("in"),
            dac.device().expect("out"),
            r,
            config(block),
        )
        .expect("duplex");
        let start = engine.start_info().clone();
        // The one start-up report: both layouts, offset and skew.
        assert_eq!(start.input, Some(layout(fin, 48_000)), "{start:?}");
        assert_eq!(start.output, Some(layout(fout, 48_000)), "{start:?}");
        assert!(start.first_frame.is_some() && start.hw_skew_frames.is_some());
        std::thread::sleep(Duration::from_millis(500));
        let (snap, res) = engine.stop_with_report();
        res.expect("stop");
        let rec = dac.stop().expect("dac stop").recording;
        adc.stop().expect("adc stop");
        let what = format!("{fin}->{fout} {mode:?} block {block}: {start:?} {snap:?}");
        assert_eq!(seen.misaligned.load(Ordering::Relaxed), 0, "{what}");
        assert!(snap.frames_written > 48_000 / 5, "{what}");
        // Every non-silent frame played at output frame p is input frame
        // n with p - n one of the offsets in force; with no realign, the
        // start offset.
        let samples = rec.to_f32();
        let mut offsets = std::collections::BTreeSet::new();
        let mut played = 0u64;
        for (i, f) in samples.chunks_exact(2).enumerate() {
            let Some(n) = FrameCounter::index_of(f) else {
                continue;
            };
            let p = rec.start_frame() + i as u64;
            offsets.insert(p as i64 - n as i64);
            played += 1;
        }
        assert!(played > 48_000 / 5, "{what}: played {played}");
        assert!(
            offsets.len() as u64 <= 1 + snap.realigns,
            "every offset change is a counted realign: {offsets:?} {what}"
        );
        if snap.realigns == 0 {
            assert_eq!(
                offsets.into_iter().collect::<Vec<_>>(),
                vec![start
                    .offset_frames
                    .expect("a duplex start reports its offset")],
                "{what}"
            );
        }
        // Linked-like sim clocks: the round trip is the offset within the
        // hardware skew, which a shared clock keeps within a granule or so.
        let round_trip = start
            .round_trip_frames()
            .expect("a duplex start reports offset and skew");
        assert!(round_trip > 0, "{what}: {start:?}");
    }
}

#[test]
fn duplex_refuses_different_rates_with_a_typed_error() {
    let adc =
        SimAdc::start(SimConfig::new(layout(Format::S16Le, 44_100)), FrameCounter).expect("adc");
    let dac = SimDac::start(SimConfig::new(layout(Format::S16Le, 48_000))).expect("dac");
    let (r, _) = pass_through();
    let err = DuplexEngine::start(
        adc.device().expect("in"),
        dac.device().expect("out"),
        r,
        config(64),
    )
    .expect_err("rates differ");
    let text = err.to_string();
    assert!(matches!(err, pcmring::Error::Unsupported { .. }), "{text}");
    assert!(
        text.contains("44100") && text.contains("48000") && text.contains("sim duplex"),
        "{text}"
    );
}

#[test]
fn duplex_refuses_a_block_that_does_not_fit() {
    let adc =
        SimAdc::start(SimConfig::new(layout(Format::S16Le, 48_000)), FrameCounter).expect("adc");
    let dac = SimDac::start(SimConfig::new(layout(Format::S16Le, 48_000))).expect("dac");
    let (r, _) = pass_through();
    let err = DuplexEngine::start(
        adc.device().expect("in"),
        dac.device().expect("out"),
        r,
        EngineConfig {
            margin: Margin::Frames(3000),
            ..config(1024)
        },
    )
    .expect_err("too big");
    assert!(err.to_string().contains("output buffer"), "{err}");
}

#[test]
fn an_input_stall_realigns_and_duplex_goes_on() {
    let adc =
        SimAdc::start(SimConfig::new(layout(Format::S16Le, 48_000)), FrameCounter).expect("adc");
    let mut dc = SimConfig::new(layout(Format::S16Le, 48_000));
    dc.record_frames = 96_000;
    let dac = SimDac::start(dc).expect("dac");
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let r = move |input: &[f32], output: &mut [f32], info: &DuplexInfo| {
        let n = s.blocks.fetch_add(1, Ordering::Relaxed);
        if info.output_time as i64 - info.input_time as i64 != info.offset {
            s.misaligned.fetch_add(1, Ordering::Relaxed);
        }
        output.copy_from_slice(input);
        if n == 30 {
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let engine = DuplexEngine::start(
        adc.device().expect("in"),
        dac.device().expect("out"),
        r,
        config(64),
    )
    .expect("duplex");
    std::thread::sleep(Duration::from_millis(700));
    let (snap, res) = engine.stop_with_report();
    res.expect("stop");
    assert!(snap.realigns >= 1, "{snap:?}");
    assert!(snap.overruns + snap.xruns >= 1, "{snap:?}");
    assert_eq!(seen.misaligned.load(Ordering::Relaxed), 0);
    assert!(
        snap.frames_read > 48_000 / 4,
        "went on after the stall: {snap:?}"
    );
    let rec = dac.stop().expect("dac").recording;
    let samples = rec.to_f32();
    let mut offsets = std::collections::BTreeSet::new();
    for (i, f) in samples.chunks_exact(2).enumerate() {
        if let Some(n) = FrameCounter::index_of(f) {
            offsets.insert((rec.start_frame() + i as u64) as i64 - n as i64);
        }
    }
    assert!(
        offsets.len() as u64 <= 1 + snap.realigns,
        "{offsets:?} {snap:?}"
    );
}
