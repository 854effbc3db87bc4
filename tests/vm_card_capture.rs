//! Capture on a real card driver, in the VM suite
//! (`VM_CARD=hda-capture kernel/vm/run`): qemu's intel-hda + hda-duplex,
//! the guest's snd-hda-intel (generic codec) running the capture stream
//! with real DMA and interrupts, and qemu feeding the card's input from a
//! file on the host (SDL's `disk` audio driver reading
//! `SDL_DISKAUDIOFILEIN`, a raw S16LE stereo 48 kHz file).
//!
//! The host writes the [`FrameCounter`] signal into that file: stereo frame
//! `n` holds `n + 1` as two 16-bit words, so every captured frame names its
//! index in the file. The test captures through the engine on a full
//! `Pcm` and checks every frame: leading silence (before qemu's input
//! starts), then each frame exactly the one after the previous; any jump,
//! torn frame or silence inside the stream must coincide with an overrun
//! the engine counted.
//!
//! With any other card (`VM_CARD`) the test fails: the rig only runs this
//! target with `hda-capture`.

use pcmring::engine::{BlockInfo, EngineConfig, InputEngine, Margin, WakeStrategy};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::sim::FrameCounter;
use pcmring::Format;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The card's capture device: the real card is the guest's only card.
const DEVICE: &str = "hw:0,0";
/// How long the test captures, in seconds (the host's file is longer).
const CAPTURE_SECS: f64 = 8.0;

/// Writes past libtest's output capture, so the VM log keeps the line.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// What the checking capturer saw.
#[derive(Debug, Default)]
struct Seen {
    /// Frames delivered.
    frames: AtomicU64,
    /// Non-silent frames.
    signal: AtomicU64,
    /// Silent frames before the signal.
    leading: AtomicU64,
    /// Non-silent frames that were not the previous one's successor.
    jumps: AtomicU64,
    /// Silent frames after the signal had started (a gap, or the file's end).
    holes: AtomicU64,
    /// The first captured index plus one (0: none yet).
    first: AtomicU64,
    /// The last captured index.
    last: AtomicU64,
    /// The first jump: the index before it, and the one after it.
    jump_from: AtomicU64,
    jump_to: AtomicU64,
}

impl Seen {
    fn line(&self) -> String {
        let first = self.first.load(Ordering::Relaxed);
        format!(
            "frames {} leading silence {} signal {} jumps {} silent-after-start {} first index {} \
             last index {} first jump {} -> {}",
            self.frames.load(Ordering::Relaxed),
            self.leading.load(Ordering::Relaxed),
            self.signal.load(Ordering::Relaxed),
            self.jumps.load(Ordering::Relaxed),
            self.holes.load(Ordering::Relaxed),
            first.checked_sub(1).map_or("-".into(), |f| f.to_string()),
            self.last.load(Ordering::Relaxed),
            self.jump_from.load(Ordering::Relaxed),
            self.jump_to.load(Ordering::Relaxed),
        )
    }
}

/// A capturer (allocation-free) that checks every frame against the
/// counter: silence before the signal, then consecutive indices.
fn checker() -> (impl FnMut(&[f32], &BlockInfo) + Send, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let mut prev: Option<u64> = None;
    let f = move |input: &[f32], info: &BlockInfo| {
        for frame in input.chunks_exact(info.channels) {
            s.frames.fetch_add(1, Ordering::Relaxed);
            let Some(n) = FrameCounter::index_of(frame) else {
                if prev.is_some() {
                    s.holes.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.leading.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            };
            s.signal.fetch_add(1, Ordering::Relaxed);
            match prev {
                None => s.first.store(n + 1, Ordering::Relaxed),
                Some(p) if n != p + 1 => {
                    if s.jumps.fetch_add(1, Ordering::Relaxed) == 0 {
                        s.jump_from.store(p, Ordering::Relaxed);
                        s.jump_to.store(n, Ordering::Relaxed);
                    }
                }
                Some(_) => {}
            }
            prev = Some(n);
            s.last.store(n, Ordering::Relaxed);
        }
    };
    (f, seen)
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn hda_capture_of_the_host_file_is_bit_exact() {
    let card = std::env::var("VM_CARD").unwrap_or_default();
    assert_eq!(
        card, "hda-capture",
        "vm_card_capture needs qemu feeding the card's input: run it with \
         VM_CARD=hda-capture kernel/vm/run"
    );
    let config = Config {
        format: Some(Format::S16Le),
        channels: 2,
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: 1024,
        buffer: BufferSize::Periods(16),
        ..Config::default()
    };
    let mut pcm = Pcm::open(DEVICE, Direction::Capture, &config).expect("open the HDA capture PCM");
    pcm.prepare().expect("prepare");
    pcm.start().expect("start");
    let (capturer, seen) = checker();
    let engine_config = EngineConfig {
        name: DEVICE.into(),
        block_frames: 256,
        wake: WakeStrategy::Timer,
        // Generous (170 ms): the guest runs under TCG on a busy host.
        margin: Margin::Frames(8192),
        // No SCHED_FIFO, as in vm_card: a TCG stall would trip its
        // RLIMIT_RTTIME (issue 13).
        fifo_priority: None,
        ..EngineConfig::default()
    };
    let input = InputEngine::start(pcm, capturer, engine_config).expect("input engine");
    // Live input: the engine starts at the card's position when it
    // starts; what the DMA wrote before is not delivered.
    let first_frame = input
        .start_info()
        .first_frame
        .expect("an input engine reports its first frame");
    std::thread::sleep(Duration::from_secs_f64(CAPTURE_SECS));
    let (tel, r) = input.stop_with_report();
    r.expect("input engine stop");
    out(&format!(
        "vm_card_capture | {card} full fd, block 256, engine from device frame {first_frame}: {} \
         | overruns {} lost {} | read {}",
        seen.line(),
        tel.overruns,
        tel.frames_lost,
        tel.frames_read
    ));

    let signal = seen.signal.load(Ordering::Relaxed);
    let leading = seen.leading.load(Ordering::Relaxed);
    let first_index = seen.first.load(Ordering::Relaxed).saturating_sub(1);
    let jumps = seen.jumps.load(Ordering::Relaxed);
    let holes = seen.holes.load(Ordering::Relaxed);
    // qemu feeds the input at the host's real-time pace; the guest's
    // clock under TCG follows it. A quarter of the run is plenty to
    // tell a stream from a glitch.
    assert!(
        signal as f64 > 48_000.0 * CAPTURE_SECS * 0.25,
        "too little of the host's signal captured: {}",
        seen.line()
    );
    // Every frame is the next one unless the engine counted an overrun:
    // each overrun is at most one jump (and no silence: the file is
    // longer than the run, so silence inside the stream is a gap too).
    assert!(
        jumps + holes.min(1) <= tel.overruns,
        "{jumps} jumps and {holes} silent frames inside the stream, but {} overruns counted: {}",
        tel.overruns,
        seen.line()
    );
    // The file's first frames: file frame i is device frame i + q, where
    // q >= 0 is the silence qemu delivered before the file. The engine's
    // first signal frame is device frame first_frame + leading, so the
    // file frames before it were the ones the DMA wrote before the engine
    // started, never more.
    let device_frame = first_frame + leading;
    assert!(
        first_index <= device_frame,
        "file frame {first_index} arrived as device frame {device_frame}: frames were lost \
         before the stream's first delivered frame"
    );
    out(&format!(
        "vm_card_capture | bit-exact: {card} capture frames={signal} first-index={first_index} \
         qemu-leading-silence={} overruns={}",
        device_frame - first_index,
        tel.overruns
    ));
}
