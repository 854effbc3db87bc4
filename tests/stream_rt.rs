//! The file-streaming renderer obeys the realtime rules: rendering blocks
//! (copying from chunks, recycling emptied chunks, running dry, reaching
//! the end) makes no heap allocation and no free on the calling thread.

use pcmring::engine::{BlockInfo, Renderer};
use pcmring_examples::stream::{self, StreamPlan, StreamRenderer, WavSource};
use pcmring_rt::alloc_guard::{AllocGuard, CountingAllocator, Mode};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

/// Renders one 48 kHz stereo block (`out.len() / 2` frames) at `frame_time`
/// into `out`, zeroed first as the engine hands blocks over.
fn render_zeroed_block(renderer: &mut StreamRenderer, out: &mut [f32], frame_time: u64) {
    out.fill(0.0);
    let frames = out.len() / 2;
    renderer.render(
        out,
        &BlockInfo {
            frame_time,
            frames,
            channels: 2,
            rate: 48_000,
        },
    );
}

#[test]
fn rendering_never_allocates_or_frees() {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cur, spec).expect("writer");
    for i in 0..2 * 20_000 {
        w.write_sample((i % 2000 - 1000) as i16).expect("sample");
    }
    w.finalize().expect("finalize");
    let source = WavSource::from_reader(
        std::io::Cursor::new(cur.into_inner()),
        std::path::Path::new("stream.wav"),
    )
    .expect("source");
    let plan = StreamPlan {
        channels: 2,
        rate: 48_000,
        chunk_frames: 480,
        chunks: 8,
    };
    let (mut renderer, loader, shared) = stream::start(source, plan).expect("start");
    assert!(loader.wait_ready(Duration::from_secs(5)));
    let mut out = vec![0.0f32; 2 * 256];
    let mut t = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let guard = AllocGuard::enter(Mode::Count);
    while shared.end_frame().is_none() {
        assert!(Instant::now() < deadline, "never finished");
        render_zeroed_block(&mut renderer, &mut out, t);
        t += 256;
        // Pace like a device would (the loader refills meanwhile); no
        // allocation happens in sleep either.
        std::thread::sleep(Duration::from_micros(500));
    }
    // A few more blocks after the end: silence, still no allocation.
    for _ in 0..4 {
        render_zeroed_block(&mut renderer, &mut out, t);
        t += 256;
    }
    let counts = guard.counts();
    drop(guard);
    assert_eq!(
        (counts.allocs, counts.frees, counts.reallocs),
        (0, 0, 0),
        "the renderer touched the heap"
    );
    assert_eq!(shared.played_frames(), 20_000);
    assert!(out.iter().all(|&v| v == 0.0));
    loader.finish().expect("loader");
}
