//! Shared helpers for the engine tests on the simulated device.
#![allow(dead_code)]

use pcmring::convert;
use pcmring::engine::{
    BlockInfo, Engine, EngineConfig, Margin, Renderer, TelemetrySnapshot, WakeStrategy,
};
use pcmring::sim::{DacMode, Recording, SimConfig, SimDac};
use pcmring::{Format, StreamLayout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A stereo-or-more layout at 48 kHz with a roomy buffer.
pub fn layout(format: Format, period: u64, buffer: u64, boundary: u64) -> StreamLayout {
    StreamLayout {
        format,
        channels: 2,
        rate: 48_000,
        period_size: period,
        buffer_size: buffer,
        boundary,
    }
}

/// The known test signal: sample `i` (interleaved index) of the stream.
/// Never zero, so silence (gaps) cannot pass for signal; exactly
/// representable in S16 and every wider format.
pub fn sample(i: u64) -> f32 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let code = (x % 60_000) as i32 - 30_000;
    let code = if code == 0 { 1 } else { code };
    code as f32 / 32768.0
}

/// What a [`SignalRenderer`] saw, readable from the test thread.
#[derive(Debug, Default)]
pub struct Seen {
    /// `frame_time` of the first block, plus one (0: no block yet).
    pub first_frame_time_plus1: AtomicU64,
    /// Blocks rendered.
    pub blocks: AtomicU64,
    /// Blocks whose frame_time did not follow the previous block's end.
    pub discontinuities: AtomicU64,
}

/// Renders [`sample`] continuously (its own sample counter), and checks
/// that `frame_time` advances by exactly one block each call.
pub struct SignalRenderer {
    pub n: u64,
    pub next_time: Option<u64>,
    pub seen: Arc<Seen>,
    /// Called with the block index before rendering (fault injection).
    pub hook: Option<Box<dyn FnMut(u64) + Send>>,
}

impl SignalRenderer {
    pub fn new() -> (Self, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        (
            Self {
                n: 0,
                next_time: None,
                seen: seen.clone(),
                hook: None,
            },
            seen,
        )
    }
}

impl Renderer for SignalRenderer {
    fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        let block = self.seen.blocks.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = &mut self.hook {
            h(block);
        }
        match self.next_time {
            None => self
                .seen
                .first_frame_time_plus1
                .store(info.frame_time + 1, Ordering::Relaxed),
            Some(t) if t != info.frame_time => {
                self.seen.discontinuities.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {}
        }
        self.next_time = Some(info.frame_time + info.frames as u64);
        for s in out.iter_mut() {
            *s = sample(self.n);
            self.n += 1;
        }
    }
}

/// The ring-format bytes of frames `first..first + n` of the signal.
pub fn expected_bytes(format: Format, channels: usize, first: u64, n: usize) -> Vec<u8> {
    let src: Vec<f32> = (0..(n * channels) as u64)
        .map(|i| sample(first * channels as u64 + i))
        .collect();
    let mut out = vec![0u8; src.len() * format.sample_bytes()];
    convert::encode(format, &src, &mut out);
    out
}

/// Index of the first recorded frame that is not all zero bytes.
pub fn first_sound(rec: &Recording) -> Option<usize> {
    (0..rec.frames()).find(|&i| rec.frame(i).is_some_and(|f| f.iter().any(|&b| b != 0)))
}

/// Index one past the last recorded frame that is not all zero bytes.
pub fn end_of_sound(rec: &Recording) -> usize {
    (0..rec.frames())
        .rev()
        .find(|&i| rec.frame(i).is_some_and(|f| f.iter().any(|&b| b != 0)))
        .map_or(0, |i| i + 1)
}

/// Compares the recording from frame `at` with the signal from its frame
/// 0 for `n` frames; returns the first mismatching signal frame.
pub fn first_mismatch(rec: &Recording, at: usize, n: usize) -> Option<usize> {
    let l = rec.layout();
    let want = expected_bytes(l.format, l.channels as usize, 0, n);
    let fb = l.frame_bytes();
    (0..n).find(|&i| rec.frame(at + i) != Some(&want[i * fb..(i + 1) * fb]))
}

/// One bit-exact run: engine + sim with these settings.
pub struct Case {
    pub format: Format,
    pub mode: DacMode,
    pub wake: WakeStrategy,
    pub block: usize,
    pub start_hw_ptr: u64,
    pub boundary: u64,
    /// Whether the DAC stamps its pointer updates.
    pub timestamps: bool,
}

/// Plays the signal for `secs` and checks the recording bit for bit;
/// returns the DAC's final 64-bit position.
pub fn run_bitexact(case: Case, secs: f64) -> u64 {
    run_bitexact_hooked(case, secs, None).0
}

/// [`run_bitexact`] with a fault-injection hook on the renderer (called
/// with the block index); also returns the xruns the engine counted.
pub fn run_bitexact_hooked(
    case: Case,
    secs: f64,
    hook: Option<Box<dyn FnMut(u64) + Send>>,
) -> (u64, u64) {
    let l = layout(case.format, 256, 8192, case.boundary);
    let dir = std::env::temp_dir().join(format!(
        "pcmring-bitexact-{}-{}-{:?}.wav",
        std::process::id(),
        case.format,
        case.wake
    ));
    let mut sc = SimConfig::new(l);
    sc.mode = case.mode;
    sc.start_hw_ptr = case.start_hw_ptr;
    sc.timestamps = case.timestamps;
    sc.record_frames = ((secs + 1.0) * 48_000.0) as usize;
    sc.wav = Some(dir.clone());
    let dac = SimDac::start(sc).expect("sim");
    let dev = dac.device().expect("device");
    let (mut r, seen) = SignalRenderer::new();
    r.hook = hook;
    let cfg = EngineConfig {
        name: "sim".into(),
        block_frames: case.block,
        wake: case.wake,
        // Generous (100 ms): this test checks content, not latency, on a
        // possibly busy machine.
        margin: Margin::Frames(4800),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dev, r, cfg).expect("engine");
    let events = engine.events();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let tel = engine.telemetry().snapshot();
    engine.stop().expect("clean stop");
    // Every xrun of the run, stop included (the events outlive the engine).
    let (mut xruns, mut xrun_frames) = (0u64, 0u64);
    for e in events.drain() {
        if let pcmring::events::EngineEvent::Xrun { frames, .. } = e {
            xruns += 1;
            xrun_frames += frames;
        }
    }
    // Let the DAC play past what was written (a buffer is 85 ms).
    std::thread::sleep(Duration::from_millis(400));
    let report = dac.stop().expect("dac stop");
    let rec = &report.recording;

    // The WAV on disk holds the same samples as the in-memory recording.
    let wav = hound::WavReader::open(&dir).expect("wav");
    assert_eq!(wav.spec().channels, 2);
    assert_eq!(wav.spec().sample_rate, 48_000);
    assert_eq!(wav.len() as usize, rec.frames() * 2);
    let _ = std::fs::remove_file(&dir);

    let start = first_sound(rec).expect("some sound was played");
    let end = end_of_sound(rec);
    let n = end - start;
    // One xrun truth: the sim lost exactly the frames the engine counted.
    assert_eq!(
        report.stats.underrun_frames, xrun_frames,
        "sim {:?} vs engine {xruns} xruns",
        report.stats
    );
    // Frames of signal that played (without the gaps).
    let mut played = n;
    if xruns > 0 {
        // A busy machine starved the engine: every frame played is still
        // the signal continuing, bit for bit, and each gap is an xrun the
        // engine counted.
        let fb = rec.layout().frame_bytes();
        let segs = segments(&rec.bytes()[start * fb..end * fb], case.format, 2);
        let total: usize = segs.iter().map(|s| s.2).sum();
        println!(
            "{xruns} xrun(s), {xrun_frames} frames; {} segment(s), {total} signal frames",
            segs.len()
        );
        assert!(
            segs.len() as u64 <= xruns + 1,
            "{} gaps but {xruns} xruns: {segs:?}",
            segs.len() - 1
        );
        assert!(
            total as f64 > 0.5 * secs * 48_000.0,
            "only {total} frames of signal"
        );
        assert!(seen.discontinuities.load(Ordering::Relaxed) <= xruns);
        played = total;
    } else {
        check_exact(rec, &seen, &report.stats, &tel, start, n, secs);
    }
    // After the signal only silence: what was queued played out (stop
    // never overwrites frames the hardware may be copying) and the stale
    // rest of the ring was silenced, so nothing from one buffer ago plays
    // again. `tel` was read just before stop(): the engine may write a few
    // more blocks (up to a wake interval) before it sees the stop, hence
    // the slack.
    assert!(rec.frames() > end + 4800, "the DAC kept playing silence");
    assert!(
        played as u64 <= tel.frames_written + 1024 + tel.wake_interval_frames,
        "only what was written plays: played {played}, written {}",
        tel.frames_written
    );
    (report.stats.hw_frames, xruns)
}

/// The recording holds the signal from `start` for `n` frames exactly,
/// from where the engine said block 0 would play (a run without xruns).
fn check_exact(
    rec: &Recording,
    seen: &Seen,
    stats: &pcmring::sim::SimStats,
    tel: &TelemetrySnapshot,
    start: usize,
    n: usize,
    secs: f64,
) {
    assert!(
        n as f64 > 0.8 * secs * 48_000.0,
        "only {n} frames of signal"
    );
    if let Some(m) = first_mismatch(rec, start, n) {
        let want = expected_bytes(rec.layout().format, 2, m as u64, 4);
        panic!(
            "recording differs from the signal at signal frame {m} of {n} (start {start}): got {:?}.. want {:?}; sim {stats:?}; tel {tel:?}",
            (0..4).map(|i| rec.frame(start + m + i)).collect::<Vec<_>>(),
            want,
        );
    }
    // The start offset is exactly where the engine said block 0 would play.
    let first_time = seen.first_frame_time_plus1.load(Ordering::Relaxed) - 1;
    assert_eq!(rec.start_frame() + start as u64, first_time);
    assert_eq!(seen.discontinuities.load(Ordering::Relaxed), 0);
}

/// Segments of played audio (ring-format `bytes`, interleaved) that
/// continue the signal: (frame index, signal frame, length). All-zero
/// frames in between are gaps; anything that is neither silence nor the
/// signal continuing forward panics.
pub fn segments(bytes: &[u8], format: Format, channels: usize) -> Vec<(usize, u64, usize)> {
    let fb = format.sample_bytes() * channels;
    let frames = bytes.len() / fb;
    let frame = |i: usize| &bytes[i * fb..(i + 1) * fb];
    let mut out = Vec::new();
    let mut i = 0;
    let mut next_sig = 0u64;
    while i < frames {
        let f = frame(i);
        if f.iter().all(|&b| b == 0) {
            i += 1;
            continue;
        }
        // Which signal frame is this? The signal does not repeat a frame
        // within the range searched.
        let found = (next_sig..next_sig + 48_000 * 8)
            .find(|&j| expected_bytes(format, channels, j, 1) == f);
        let Some(j) = found else {
            panic!("frame {i} is neither silence nor the signal continuing");
        };
        let mut n = 0;
        while i + n < frames
            && frame(i + n) == expected_bytes(format, channels, j + n as u64, 1).as_slice()
        {
            n += 1;
        }
        out.push((i, j, n));
        i += n;
        next_sig = j + n as u64;
    }
    out
}
