//! Decoding FLAC, Ogg Vorbis and MP3 (assets made by the test from a WAV
//! with Debian's encoders), and robustness: truncated and fuzzed compressed
//! files give typed errors or shorter sounds, never panics.

use pcmring::decode::FileDecoder;
use pcmring::sound::{Sound, SoundError};

mod decode_support;
use decode_support::{encode, signal, tmp, write_wav};

const RATE: u32 = 48_000;

fn source(name: &str, frames: usize, channels: u16) -> (std::path::PathBuf, Vec<f32>) {
    let codes = signal(frames, channels, RATE);
    let wav = tmp(name);
    write_wav(&wav, &codes, channels, RATE);
    (wav, codes.iter().map(|&c| c as f32 / 32768.0).collect())
}

/// Best alignment of `got` against `want` within `max_lag` frames (lossy
/// codecs add a delay), and the RMS error there relative to the signal's RMS.
fn relative_error(got: &[f32], want: &[f32], ch: usize, max_lag: usize) -> f64 {
    let frames = want.len() / ch;
    let span = frames.saturating_sub(max_lag + 2000).min(4000);
    let rms =
        |x: &[f32]| (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    let reference = rms(&want[1000 * ch..(1000 + span) * ch]);
    (0..=max_lag)
        .filter(|lag| (lag + 1000 + span) * ch <= got.len())
        .map(|lag| {
            let g = &got[(lag + 1000) * ch..(lag + 1000 + span) * ch];
            let w = &want[1000 * ch..(1000 + span) * ch];
            let e: Vec<f32> = g.iter().zip(w).map(|(a, b)| a - b).collect();
            rms(&e) / reference
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn flac_decodes_exactly() {
    for channels in [1u16, 2] {
        let (wav, want) = source(&format!("exact-{channels}.wav"), 20_000, channels);
        let flac = encode(&wav, "flac");
        let s = Sound::load(&flac, RATE).unwrap();
        assert_eq!((s.channels(), s.frames()), (channels, 20_000));
        assert_eq!(s.samples(), &want[..], "FLAC is lossless");
    }
}

#[test]
fn vorbis_and_mp3_decode_close_to_the_source() {
    let (wav, want) = source("lossy.wav", 48_000, 2);
    for (ext, tolerance) in [("ogg", 0.05), ("mp3", 0.05)] {
        let f = encode(&wav, ext);
        let s = Sound::load(&f, RATE).unwrap();
        assert_eq!(s.channels(), 2);
        assert!(s.frames() >= 47_000, "{ext}: {} frames", s.frames());
        let e = relative_error(s.samples(), &want, 2, 3000);
        assert!(e < tolerance, "{ext}: relative RMS error {e}");
    }
}

#[test]
fn decoder_reads_in_pieces_and_seeks_exactly() {
    let (wav, want) = source("seek.wav", 30_000, 2);
    let flac = encode(&wav, "flac");
    for path in [&wav, &flac] {
        let mut d = FileDecoder::open(path).unwrap();
        assert_eq!((d.channels(), d.rate()), (2, RATE));
        let mut got = Vec::new();
        while d.read(&mut got, 777).unwrap() > 0 {}
        assert_eq!(got, want);
        for frame in [0u64, 1, 4095, 4096, 12_345, 29_999] {
            d.seek(frame).unwrap();
            let mut v = Vec::new();
            d.read(&mut v, 100).unwrap();
            let k = v.len();
            assert_eq!(
                &v[..],
                &want[frame as usize * 2..frame as usize * 2 + k],
                "{path:?} seek {frame}"
            );
        }
    }
}

#[test]
fn truncated_and_fuzzed_compressed_files_never_panic() {
    let (wav, _) = source("fuzz.wav", 9_600, 2);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for ext in ["flac", "ogg", "mp3", "wav"] {
        let path = if ext == "wav" {
            wav.clone()
        } else {
            encode(&wav, ext)
        };
        let bytes = std::fs::read(&path).unwrap();
        let name = std::path::PathBuf::from(format!("fuzzed.{ext}"));
        // Truncations, from the empty file to one byte short.
        let mut cut = 0;
        while cut < bytes.len() {
            match FileDecoder::from_bytes(bytes[..cut].to_vec(), &name) {
                Ok(mut d) => {
                    if let Ok(s) = Sound::decode(&mut d, RATE) {
                        assert!(s.frames() <= 9_600 + 4_000, "{ext} cut {cut}");
                    }
                }
                Err(e) => assert!(
                    matches!(
                        e,
                        SoundError::Format { .. } | SoundError::Unsupported { .. }
                    ),
                    "{ext} cut {cut}: {e:?}"
                ),
            }
            cut += 1 + cut / 8;
        }
        // Random byte flips anywhere.
        for _ in 0..300 {
            let mut d = bytes.clone();
            for _ in 0..1 + next() % 8 {
                let i = (next() as usize) % d.len();
                d[i] = next() as u8;
            }
            if let Ok(mut dec) = FileDecoder::from_bytes(d, &name) {
                let _ = Sound::decode(&mut dec, RATE);
            }
        }
    }
}

#[test]
fn not_audio_is_a_format_error() {
    let p = tmp("text.ogg");
    std::fs::write(&p, b"this is not an audio file at all, just some words").unwrap();
    let e = Sound::load(&p, RATE).unwrap_err();
    assert!(matches!(e, SoundError::Format { .. }), "{e:?}");
    assert!(e.to_string().contains("text.ogg"), "{e}");
}
