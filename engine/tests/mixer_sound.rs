//! Loading WAV files through the symphonia decoder: every PCM sample format,
//! rate conversion at load, the surround downmix, and typed errors (never
//! panics) for truncated, corrupt and odd files.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use pcmring::sound::{Sound, SoundError};

mod mixer_support;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcmring-mixer-sound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A 441 Hz sine at 44.1 kHz (exactly 100 samples per cycle), amplitude 0.5.
fn sine(i: usize) -> f64 {
    0.5 * (i as f64 * 2.0 * std::f64::consts::PI / 100.0).sin()
}

fn write_wav(path: &Path, channels: u16, bits: u16, float: bool, frames: usize) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: 44_100,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        for c in 0..channels {
            let x = sine(i) * if c == 0 { 1.0 } else { -1.0 };
            if float {
                w.write_sample(x as f32).unwrap();
            } else {
                let full = (1i64 << (bits - 1)) as f64 - 1.0;
                let v = (x * full).round() as i32;
                match bits {
                    8 => w.write_sample(v as i8).unwrap(),
                    16 => w.write_sample(v as i16).unwrap(),
                    _ => w.write_sample(v).unwrap(),
                }
            }
        }
    }
    w.finalize().unwrap();
}

#[test]
fn every_format_loads_and_converts() {
    for &(bits, float, tol) in &[
        (8u16, false, 0.02f32),
        (16, false, 2e-3),
        (24, false, 2e-3),
        (32, false, 2e-3),
        (32, true, 2e-3),
    ] {
        for channels in [1u16, 2] {
            let p = tmp(&format!("fmt-{bits}-{float}-{channels}.wav"));
            write_wav(&p, channels, bits, float, 4410);
            // Same rate: samples come back as written.
            let s = Sound::load_wav(&p, 44_100).unwrap();
            assert_eq!(
                (s.channels(), s.rate(), s.frames()),
                (channels, 44_100, 4410)
            );
            for i in 0..4410 {
                let want = sine(i) as f32;
                assert!(
                    (s.samples()[i * channels as usize] - want).abs() < tol,
                    "{bits} bit {i}"
                );
                if channels == 2 {
                    assert!((s.samples()[i * 2 + 1] + want).abs() < tol);
                }
            }
            // Converted to 48 kHz: the sine keeps its shape (compare in the middle, away from the edges).
            let s = Sound::load_wav(&p, 48_000).unwrap();
            assert_eq!((s.rate(), s.frames()), (48_000, 4800));
            for j in 500..4300 {
                let want = 0.5 * (j as f64 * 2.0 * std::f64::consts::PI * 441.0 / 48_000.0).sin();
                let got = s.samples()[j * channels as usize] as f64;
                assert!(
                    (got - want).abs() < tol as f64 + 2e-3,
                    "{bits} bit resampled frame {j}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let p = tmp("does-not-exist.wav");
    let e = Sound::load_wav(&p, 48_000).unwrap_err();
    assert!(matches!(e, SoundError::Io { .. }));
    assert!(e.to_string().contains("does-not-exist.wav"), "{e}");
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let p = tmp("whole.wav");
    write_wav(&p, 2, 16, false, 1000);
    let bytes = std::fs::read(&p).unwrap();
    for cut in [
        0usize,
        3,
        4,
        11,
        12,
        20,
        36,
        40,
        43,
        44,
        45,
        46,
        100,
        bytes.len() - 2,
        bytes.len() - 1,
    ] {
        let t = tmp(&format!("cut-{cut}.wav"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let e = Sound::load_wav(&t, 48_000).unwrap_err();
        assert!(
            matches!(e, SoundError::Format { .. }),
            "cut at {cut}: {e:?}"
        );
        assert!(e.to_string().contains(&format!("cut-{cut}.wav")), "{e}");
    }
}

#[test]
fn garbage_and_corrupt_headers_are_errors_not_panics() {
    let name = Path::new("garbage.wav");
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let good = {
        let p = tmp("good.wav");
        write_wav(&p, 1, 16, false, 200);
        std::fs::read(&p).unwrap()
    };
    for round in 0..3000 {
        let data: Vec<u8> = match round % 3 {
            // Pure noise.
            0 => (0..(next() % 200) as usize).map(|_| next() as u8).collect(),
            // A valid file with random bytes of its header and body flipped.
            _ => {
                let mut d = good.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % 48.min(d.len());
                    d[i] = next() as u8;
                }
                d
            }
        };
        // Either a clean load or a typed error; a panic fails the test.
        if let Err(e) = Sound::read_wav(Cursor::new(data), name, 48_000) {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn huge_claimed_length_does_not_allocate_it() {
    // A header that claims a 4 GiB data chunk over 8 bytes of data.
    let p = tmp("liar.wav");
    write_wav(&p, 1, 16, false, 4);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&p, &bytes[..n]).unwrap();
    let e = Sound::load_wav(&p, 48_000).unwrap_err();
    assert!(matches!(e, SoundError::Format { .. }), "{e:?}");
}

#[test]
fn in_memory_shapes_are_checked() {
    assert!(matches!(
        Sound::from_samples(vec![0.0; 3], 2, 48_000),
        Err(SoundError::BadShape { .. })
    ));
    assert!(matches!(
        Sound::from_samples(vec![0.0; 3], 0, 48_000),
        Err(SoundError::BadShape { .. })
    ));
    assert!(matches!(
        Sound::from_samples(vec![0.0; 3], 1, 0),
        Err(SoundError::BadRate)
    ));
    // 5.1 (FL FR FC LFE BL BR) keeps its six channels, and the mixer
    // downmixes it on a stereo output: centre and surrounds at -3 dB, LFE dropped.
    let p = tmp("six.wav");
    let spec = |channels| hound::WavSpec {
        channels,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&p, spec(6)).unwrap();
    for _ in 0..10 {
        for v in [8192i16, 0, 4096, 16384, 0, 2048] {
            w.write_sample(v).unwrap();
        }
    }
    w.finalize().unwrap();
    let s = Sound::load_wav(&p, 48_000).unwrap();
    assert_eq!((s.channels(), s.frames()), (6, 10));
    assert_eq!(s.samples()[..6], [0.25, 0.0, 0.125, 0.5, 0.0, 0.0625]);
    let (m, mut r) = pcmring::mixer::MixerBuilder::new(48_000).build();
    m.play(&s, pcmring::mixer::PlayParams::new()).unwrap();
    let out = mixer_support::render_stereo(&mut r, 0, 4, 4);
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let (l, rt) = (0.25 + 0.125 * h, 0.125 * h + 0.0625 * h);
    assert!(
        (out[0] - l).abs() < 1e-6 && (out[1] - rt).abs() < 1e-6,
        "{out:?}"
    );
    // Nine channels are refused.
    let p = tmp("nine.wav");
    let mut w = hound::WavWriter::create(&p, spec(9)).unwrap();
    for _ in 0..90 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let e = Sound::load_wav(&p, 48_000).unwrap_err();
    assert!(matches!(e, SoundError::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("9 channels"), "{e}");
}
