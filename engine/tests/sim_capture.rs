//! Capture on the simulated device: the input engine hands on exactly what
//! the ADC put into the ring, frame for frame, in every format, across the
//! boundary wrap; an induced overrun is counted and recovered from.

use pcmring::engine::{BlockInfo, EngineConfig, InputEngine};
use pcmring::sim::{DacMode, FrameCounter, SimAdc, SimConfig, WavSource};
use pcmring::{Format, StreamLayout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn layout(format: Format, period: u64, buffer: u64, boundary: u64) -> StreamLayout {
    StreamLayout {
        format,
        channels: 2,
        rate: 48_000,
        period_size: period,
        buffer_size: buffer,
        boundary,
    }
}

#[derive(Default)]
struct Seen {
    blocks: AtomicU64,
    frames: AtomicU64,
    wrong: AtomicU64,
    jumps: AtomicU64,
    first: AtomicU64,
}

/// Checks that every frame encodes `frame_time - start` and counts jumps
/// in the frame time. `stall` sleeps once, in block `stall.0`, for
/// `stall.1` (inducing an overrun).
fn checker(
    start: u64,
    stall: Option<(u64, Duration)>,
) -> (impl FnMut(&[f32], &BlockInfo) + Send, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let mut next: Option<u64> = None;
    let cap = move |input: &[f32], info: &BlockInfo| {
        let n = s.blocks.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            s.first.store(info.frame_time, Ordering::Relaxed);
        }
        if next.is_some_and(|t| t != info.frame_time) {
            s.jumps.fetch_add(1, Ordering::Relaxed);
        }
        next = Some(info.frame_time + info.frames as u64);
        for (i, f) in input.chunks_exact(info.channels).enumerate() {
            let want = info.frame_time + i as u64 - start;
            if FrameCounter::index_of(f) != Some(want % (1 << 32)) {
                s.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
        s.frames.fetch_add(info.frames as u64, Ordering::Relaxed);
        if let Some((at, d)) = stall {
            if n == at {
                std::thread::sleep(d);
            }
        }
    };
    (cap, seen)
}

fn config(block: usize) -> EngineConfig {
    EngineConfig {
        name: "sim capture".into(),
        block_frames: block,
        ..EngineConfig::default()
    }
}

#[test]
fn capture_is_bit_exact_in_every_format_and_across_the_wrap() {
    let cases = [
        (Format::S16Le, DacMode::Periods, 0, 64),
        (Format::S24Le, DacMode::Continuous { step: 16 }, 0, 32),
        (Format::S24_3Le, DacMode::Periods, 0, 256),
        (Format::S32Le, DacMode::Continuous { step: 8 }, 0, 128),
        (Format::F32Le, DacMode::Periods, 0, 64),
        // Start 3000 frames before the (small) boundary: the raw hw_ptr
        // wraps within the first 70 ms.
        (
            Format::S16Le,
            DacMode::Continuous { step: 16 },
            (4096 << 4) - 3000,
            64,
        ),
    ];
    for (format, mode, start, block) in cases {
        let l = layout(format, 256, 4096, 4096 << 4);
        let mut sc = SimConfig::new(l);
        sc.mode = mode;
        sc.start_hw_ptr = start;
        let adc = SimAdc::start(sc, FrameCounter).expect("sim adc");
        let (cap, seen) = checker(start, None);
        let engine = InputEngine::start(adc.device().expect("dev"), cap, config(block))
            .expect("input engine");
        // The one start-up report: capture side only, the first block at
        // or after the ADC's start position.
        let si = engine.start_info();
        assert_eq!((si.input, si.output), (Some(l), None), "{si:?}");
        assert!(si.first_frame.is_some_and(|f| f >= start), "{si:?}");
        assert_eq!((si.offset_frames, si.round_trip_frames()), (None, None));
        std::thread::sleep(Duration::from_millis(400));
        let (snap, r) = engine.stop_with_report();
        r.expect("stop");
        let adc_stats = adc.stop().expect("adc stop").stats;
        // One stats type for DAC and ADC: the DAC-only counters stay zero.
        assert!(
            adc_stats.frames > 0 && adc_stats.hw_frames > 0,
            "{adc_stats:?}"
        );
        assert_eq!(
            (
                adc_stats.underrun_frames,
                adc_stats.underrun_events,
                adc_stats.syncs
            ),
            (0, 0, 0),
            "{adc_stats:?}"
        );
        let what = format!("{format} {mode:?} start {start} block {block}: {snap:?}");
        // One counter set for every engine: the output side stays zero.
        assert_eq!(
            (snap.frames_written, snap.output_frames, snap.offset_frames),
            (0, 0, 0),
            "{what}"
        );
        let frames = seen.frames.load(Ordering::Relaxed);
        assert!(
            frames >= 48_000 / 10,
            "too little captured: {frames}, {what}"
        );
        assert_eq!(seen.wrong.load(Ordering::Relaxed), 0, "{what}");
        assert_eq!(snap.frames_read, frames, "{what}");
        // Every jump in the frame time is an overrun the engine counted.
        assert!(
            seen.jumps.load(Ordering::Relaxed) <= snap.overruns,
            "{what}"
        );
        if start > 0 {
            assert!(
                snap.input_frames > 4096 << 4,
                "the position crossed the boundary, widened: {what}"
            );
        }
    }
}

#[test]
fn an_overrun_is_counted_and_capture_recovers() {
    // 4096 frames of ring = 85 ms; the capturer stalls 250 ms once.
    let l = layout(Format::S16Le, 256, 4096, 4096 << 8);
    let adc = SimAdc::start(SimConfig::new(l), FrameCounter).expect("sim adc");
    let (cap, seen) = checker(0, Some((20, Duration::from_millis(250))));
    let engine =
        InputEngine::start(adc.device().expect("dev"), cap, config(128)).expect("input engine");
    std::thread::sleep(Duration::from_millis(700));
    let (snap, r) = engine.stop_with_report();
    r.expect("stop");
    assert!(snap.overruns >= 1, "{snap:?}");
    assert!(
        snap.frames_lost >= 250 * 48 - 4096,
        "lost at least the stall minus the ring: {snap:?}"
    );
    assert!(seen.jumps.load(Ordering::Relaxed) >= 1);
    assert!(seen.jumps.load(Ordering::Relaxed) <= snap.overruns);
    assert_eq!(
        seen.wrong.load(Ordering::Relaxed),
        0,
        "no torn or stale frame was handed on: {snap:?}"
    );
    // Recovered: captured on well after the stall.
    assert!(snap.frames_read > 20 * 128 + 48 * 300, "{snap:?}");
}

#[test]
fn a_disconnect_stops_the_input_engine_with_an_error_naming_the_device() {
    let l = layout(Format::S16Le, 256, 4096, 4096 << 8);
    let adc = SimAdc::start(SimConfig::new(l), FrameCounter).expect("sim adc");
    let engine = InputEngine::start(
        adc.device().expect("dev"),
        |_: &[f32], _: &BlockInfo| {},
        config(64),
    )
    .expect("input engine");
    std::thread::sleep(Duration::from_millis(50));
    adc.disconnect();
    assert!(engine.wait_finished(Duration::from_secs(5)));
    let err = engine.stop().expect_err("disconnect is an error");
    let text = err.to_string();
    assert!(
        text.contains("sim capture") && text.contains("DISCONNECTED"),
        "{text}"
    );
}

/// The ADC plays a WAV file into the ring; what is captured is the file.
#[test]
fn a_wav_file_is_captured_sample_for_sample() {
    let dir = std::env::temp_dir().join(format!("pcmring-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("in.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("wav");
    let total = 9_600u64;
    for n in 0..total {
        let v = ((n * 7919) % 60_000) as i32 - 30_000;
        w.write_sample(v as i16).expect("s");
        w.write_sample((-v) as i16).expect("s");
    }
    w.finalize().expect("finalize");
    let src = WavSource::open(&path).expect("open wav");
    assert_eq!((src.channels(), src.frames()), (2, total));
    let want = src.samples().to_vec();
    let l = layout(Format::S24_3Le, 256, 4096, 4096 << 8);
    let adc = SimAdc::start(SimConfig::new(l), src).expect("sim adc");
    let got = Arc::new(std::sync::Mutex::new(Vec::<(u64, Vec<f32>)>::new()));
    let g = got.clone();
    // The test's capturer allocates and locks: fine off the guard.
    let cap = move |input: &[f32], info: &BlockInfo| {
        if let Ok(mut v) = g.lock() {
            v.push((info.frame_time, input.to_vec()));
        }
    };
    let engine = InputEngine::start(adc.device().expect("dev"), cap, config(96)).expect("engine");
    std::thread::sleep(Duration::from_millis(300));
    let snap = engine.snapshot();
    engine.stop().expect("stop");
    let blocks = got.lock().expect("lock");
    let mut checked = 0;
    for (t, block) in blocks.iter() {
        for (i, s) in block.iter().enumerate() {
            let k = (*t as usize) * 2 + i;
            let w = want.get(k).copied().unwrap_or(0.0);
            assert_eq!(*s, w, "frame {} sample {}: {snap:?}", t, i);
            checked += 1;
        }
    }
    assert!(checked >= 2 * 9_600, "checked {checked} samples");
    let _ = std::fs::remove_dir_all(&dir);
}
