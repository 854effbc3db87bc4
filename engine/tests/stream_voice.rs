//! Streaming voices: a file decoded on the loader thread and played as a
//! voice equals the decoded file sample for sample (FLAC, and WAV through
//! the streaming resampler), loops its region, seeks, and underruns into
//! silence that is counted and reported, then resumes where it stopped.

use std::time::Duration;

use pcmring::decode::{decode_all, FileDecoder};
use pcmring::mixer::{BlockInfo, Clip, Loop, MixerBuilder, MixerEvent, MixerRenderer, PlayParams};
use pcmring::resample::StreamResampler;
use pcmring::stream::{Stream, StreamOptions};

mod decode_support;
use decode_support::{encode, signal, tmp, write_wav};

const RATE: u32 = 48_000;
const BLOCK: usize = 256;

fn file(name: &str, frames: usize, rate: u32) -> std::path::PathBuf {
    let wav = tmp(name);
    write_wav(&wav, &signal(frames, 2, rate), 2, rate);
    wav
}

fn decoded(path: &std::path::Path) -> Vec<f32> {
    decode_all(&mut FileDecoder::open(path).unwrap()).unwrap()
}

fn block(r: &mut MixerRenderer, t: u64) -> Vec<f32> {
    let mut out = vec![0.0f32; 2 * BLOCK];
    r.render(
        &mut out,
        &BlockInfo {
            frame_time: t,
            frames: BLOCK,
            channels: 2,
            rate: RATE,
        },
    );
    out
}

/// Renders until the voice has ended, waiting (off the renderer) for the
/// loader before each block so no underrun happens.
fn play_to_end(
    stream: &Stream,
    r: &mut MixerRenderer,
    handle_active: impl Fn() -> bool,
) -> Vec<f32> {
    let mut out = Vec::new();
    let mut t = 0;
    while handle_active() {
        while stream.buffered_frames() < 4 * BLOCK as u64 + 8 && !stream.is_finished() {
            std::thread::sleep(Duration::from_micros(200));
        }
        out.extend(block(r, t));
        t += BLOCK as u64;
        assert!(t < 10_000_000, "the stream never ended");
    }
    out
}

#[test]
fn a_streamed_flac_equals_the_decoded_file() {
    let flac = encode(&file("stream.wav", 50_000, RATE), "flac");
    let want = decoded(&flac);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    // A short read-ahead so the ring wraps many times.
    let s = Stream::open(
        &flac,
        RATE,
        StreamOptions::new().read_ahead(Duration::from_millis(50)),
    )
    .unwrap();
    assert!(s.wait_ready(Duration::from_secs(10)));
    let v = m.play_stream(&s, PlayParams::new()).unwrap();
    assert!(
        m.play_stream(&s, PlayParams::new()).is_err(),
        "one voice per stream"
    );
    let out = play_to_end(&s, &mut r, || v.is_active());
    assert_eq!(&out[..want.len()], &want[..]);
    assert!(out[want.len()..].iter().all(|&x| x == 0.0));
    assert_eq!(s.underrun_frames(), 0);
    assert_eq!(s.played_frames(), 50_000);
}

#[test]
fn a_stream_at_another_rate_goes_through_the_streaming_resampler() {
    let wav = file("stream-44k.wav", 30_000, 44_100);
    let src = decoded(&wav);
    let mut rs = StreamResampler::new(2, 44_100, RATE);
    rs.push(&src);
    let mut want = Vec::new();
    rs.produce(&mut want, true);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let s = Stream::open(
        &wav,
        RATE,
        StreamOptions::new().read_ahead(Duration::from_millis(100)),
    )
    .unwrap();
    let v = m.play_stream(&s, PlayParams::new()).unwrap();
    let out = play_to_end(&s, &mut r, || v.is_active());
    assert_eq!(&out[..want.len()], &want[..]);
}

#[test]
fn a_stream_loops_its_region() {
    let wav = file("loop.wav", 20_000, RATE);
    let src = decoded(&wav);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let opts = StreamOptions::new()
        .read_ahead(Duration::from_millis(50))
        .looping(Loop::Region {
            start: 5_000,
            end: 12_000,
        });
    let s = Stream::open(&wav, RATE, opts).unwrap();
    let v = m.play_stream(&s, PlayParams::new()).unwrap();
    let mut out = Vec::new();
    for b in 0..200u64 {
        while s.buffered_frames() < 4 * BLOCK as u64 {
            std::thread::sleep(Duration::from_micros(200));
        }
        out.extend(block(&mut r, b * BLOCK as u64));
    }
    let mut want: Vec<f32> = src[..2 * 12_000].to_vec();
    while want.len() < out.len() {
        want.extend_from_slice(&src[2 * 5_000..2 * 12_000]);
    }
    assert_eq!(&out[..], &want[..out.len()]);
    assert!(v.is_active());
    v.stop_with_fade(0).unwrap();
    let _ = block(&mut r, 200 * BLOCK as u64);
    assert!(!v.is_active());
}

#[test]
fn a_stream_seeks() {
    let wav = file("seek-stream.wav", 40_000, RATE);
    let src = decoded(&wav);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let s = Stream::open(
        &wav,
        RATE,
        StreamOptions::new().read_ahead(Duration::from_millis(50)),
    )
    .unwrap();
    assert!(s.wait_ready(Duration::from_secs(10)));
    let v = m.play_stream(&s, PlayParams::new()).unwrap();
    let first = block(&mut r, 0);
    assert_eq!(&first[..], &src[..2 * BLOCK]);
    s.seek(30_000);
    while !s.seek_done() {
        std::thread::sleep(Duration::from_micros(200));
    }
    while s.buffered_frames() < 4096 + 4 * BLOCK as u64 {
        std::thread::sleep(Duration::from_micros(200));
    }
    let next = block(&mut r, BLOCK as u64);
    assert_eq!(&next[..], &src[2 * 30_000..2 * (30_000 + BLOCK)]);
    assert!(v.is_active());
}

#[test]
fn underrun_is_silence_counted_reported_and_resumes_where_it_stopped() {
    let wav = file("starve.wav", 40_000, RATE);
    let src = decoded(&wav);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let s = Stream::open(
        &wav,
        RATE,
        StreamOptions::new().read_ahead(Duration::from_millis(50)),
    )
    .unwrap();
    assert!(s.wait_ready(Duration::from_secs(10)));
    s.hold_loader(true);
    let v = m.play_stream(&s, PlayParams::new()).unwrap();
    // Drain the read-ahead, then starve for a while.
    let mut out = Vec::new();
    let mut t = 0u64;
    while s.underrun_frames() < 10 * BLOCK as u64 {
        out.extend(block(&mut r, t));
        t += BLOCK as u64;
        assert!(t < 1_000_000);
    }
    let played = s.played_frames() as usize;
    assert!(played >= 8192, "the read-ahead played first: {played}");
    // What was heard: the file up to where it starved, then silence.
    assert_eq!(&out[..2 * played], &src[..2 * played]);
    assert!(out[2 * played..].iter().all(|&x| x == 0.0));
    assert_eq!(s.underruns(), 1);
    let events: Vec<MixerEvent> = std::iter::from_fn(|| m.poll_event()).collect();
    assert!(
        matches!(events[..], [MixerEvent::StreamUnderrun { id, at, .. }] if id == v.id() && at == played as u64),
        "{events:?}"
    );
    // The loader catches up: the music continues from where it stopped.
    s.hold_loader(false);
    assert!(s.wait_ready(Duration::from_secs(10)));
    let more = block(&mut r, t);
    assert_eq!(&more[..], &src[2 * played..2 * (played + BLOCK)]);
    assert_eq!(v.position().unwrap(), (played + BLOCK) as u64);
}
