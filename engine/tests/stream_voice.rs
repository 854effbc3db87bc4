//! Streaming voices: a file decoded on the loader thread and played as a
//! voice equals the decoded file sample for sample (FLAC, and WAV through
//! the streaming resampler), loops its region, seeks, and underruns into
//! silence that is counted and reported, then resumes where it stopped.

use std::time::Duration;

use pcmring::decode::FileDecoder;
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
    FileDecoder::open(path).unwrap().decode_all().unwrap()
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
    // What was buffered before the seek is skipped; until the loader has
    // decoded from the new place the voice underruns: silence, counted. So
    // the output after the seek is the file from frame 30,000 with exactly
    // `underrun_frames` silent frames somewhere in between (the file has no
    // silent frame there, so the two cannot be confused).
    let want = &src[2 * 30_000..2 * (30_000 + 4 * BLOCK)];
    assert!(want.chunks(2).all(|f| f != [0.0, 0.0]));
    let underrun_before = s.underrun_frames();
    let (mut heard, mut silent) = (Vec::new(), 0u64);
    let mut t = BLOCK as u64;
    while heard.len() < want.len() {
        assert!(t < 10_000 * BLOCK as u64, "the stream never resumed");
        for f in block(&mut r, t).chunks(2) {
            if f == [0.0, 0.0] {
                silent += 1;
            } else {
                heard.extend_from_slice(f);
            }
        }
        t += BLOCK as u64;
        std::thread::sleep(Duration::from_micros(500));
    }
    assert_eq!(&heard[..want.len()], want);
    assert_eq!(silent, s.underrun_frames() - underrun_before);
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

/// Renders a voice to its end on a `channels`-channel device, waiting for
/// the loader before each block (no underrun).
fn play_to_end_on(
    stream: &Stream,
    r: &mut MixerRenderer,
    channels: usize,
    active: impl Fn() -> bool,
) -> Vec<f32> {
    let mut out = Vec::new();
    let mut t = 0;
    while active() {
        while stream.buffered_frames() < 4 * BLOCK as u64 + 8 && !stream.is_finished() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut b = vec![0.0f32; channels * BLOCK];
        r.render(
            &mut b,
            &BlockInfo {
                frame_time: t,
                frames: BLOCK,
                channels,
                rate: RATE,
            },
        );
        out.extend(b);
        t += BLOCK as u64;
        assert!(t < 10_000_000, "the stream never ended");
    }
    out
}

#[test]
fn a_streamed_six_channel_flac_reaches_every_speaker_of_a_5_1_device() {
    const FRAMES: usize = 30_000;
    let wav = tmp("six.wav");
    write_wav(&wav, &signal(FRAMES, 6, RATE), 6, RATE);
    let flac = encode(&wav, "flac");
    let want = decoded(&flac);
    assert_eq!(want.len(), 6 * FRAMES);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let s = Stream::open(
        &flac,
        RATE,
        StreamOptions::new().read_ahead(Duration::from_millis(50)),
    )
    .unwrap();
    assert_eq!(s.channels(), 6, "a 5.1 file streams as 6 channels");
    assert!(s.wait_ready(Duration::from_secs(10)));
    let v = m.play_stream(&s, PlayParams::new()).unwrap();
    let out = play_to_end_on(&s, &mut r, 6, || v.is_active());
    // File order FL FR FC LFE BL BR; ALSA's 5.1 order FL FR RL RR FC LFE.
    const FILE_CHANNEL_OF_OUTPUT: [usize; 6] = [0, 1, 4, 5, 2, 3];
    for (o, &c) in FILE_CHANNEL_OF_OUTPUT.iter().enumerate() {
        let got: Vec<f32> = out
            .iter()
            .skip(o)
            .step_by(6)
            .take(FRAMES)
            .copied()
            .collect();
        let file: Vec<f32> = want.iter().skip(c).step_by(6).copied().collect();
        assert_eq!(got, file, "output channel {o} (file channel {c})");
        assert!(file.iter().any(|&x| x != 0.0));
    }
    assert!(out[6 * FRAMES..].iter().all(|&x| x == 0.0));
    assert_eq!(s.underrun_frames(), 0);
}

#[test]
fn a_streamed_six_channel_file_on_stereo_matches_the_in_memory_sound() {
    const FRAMES: usize = 20_000;
    let wav = tmp("six-stereo.wav");
    write_wav(&wav, &signal(FRAMES, 6, RATE), 6, RATE);
    let flac = encode(&wav, "flac");
    let samples = decoded(&flac);
    // The in-memory path: the same frames as a 6-channel Sound.
    let sound = pcmring::sound::Sound::from_samples(samples, 6, RATE).unwrap();
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let v = m.play(&sound, PlayParams::new().gain(0.7)).unwrap();
    let mut want = Vec::new();
    let mut t = 0;
    while v.is_active() {
        want.extend(block(&mut r, t));
        t += BLOCK as u64;
    }
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let s = Stream::open(
        &flac,
        RATE,
        StreamOptions::new().read_ahead(Duration::from_millis(50)),
    )
    .unwrap();
    assert!(s.wait_ready(Duration::from_secs(10)));
    let v = m.play_stream(&s, PlayParams::new().gain(0.7)).unwrap();
    let got = play_to_end_on(&s, &mut r, 2, || v.is_active());
    assert_eq!(&got[..2 * FRAMES], &want[..2 * FRAMES]);
    assert!(got[..2 * FRAMES].iter().any(|&x| x != 0.0));
}
