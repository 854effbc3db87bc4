//! Test assets for the decoder, made here: a WAV written with hound, then
//! encoded to FLAC, Ogg Vorbis and MP3 with Debian's command-line encoders
//! (`apt-get install flac vorbis-tools lame`; `.ci/run` installs them).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory for this test binary's files.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcmring-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The test signal: two sines, different per channel, amplitude below 0.5,
/// as 16-bit codes.
pub fn signal(frames: usize, channels: u16, rate: u32) -> Vec<i16> {
    let mut v = Vec::with_capacity(frames * channels as usize);
    for i in 0..frames {
        let t = i as f64 / rate as f64;
        for c in 0..channels {
            let f = 440.0 * (c as f64 + 1.0);
            let x = 0.3 * (2.0 * std::f64::consts::PI * f * t).sin()
                + 0.1 * (2.0 * std::f64::consts::PI * 97.0 * t).sin();
            v.push((x * 32767.0).round() as i16);
        }
    }
    v
}

/// Writes a 16-bit WAV.
pub fn write_wav(path: &Path, samples: &[i16], channels: u16, rate: u32) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {cmd} ({e}): apt-get install flac vorbis-tools lame")
    });
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Encodes `wav` to `ext` ("flac", "ogg" or "mp3") next to it; returns the path.
pub fn encode(wav: &Path, ext: &str) -> PathBuf {
    let out = wav.with_extension(ext);
    let (i, o) = (wav.to_str().unwrap(), out.to_str().unwrap());
    match ext {
        "flac" => run("flac", &["-s", "-f", "-o", o, i]),
        "ogg" => run("oggenc", &["-Q", "-q", "6", "-o", o, i]),
        "mp3" => run("lame", &["--quiet", "-b", "192", i, o]),
        _ => panic!("unknown format {ext}"),
    }
    out
}
