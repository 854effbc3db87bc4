//! The demo sound: two seconds of a plucked C major seven arpeggio
//! walking across the stereo field, ending on a chord. 48 kHz, stereo,
//! 16-bit (375 KiB). `assets/demo.wav` is this, written by
//! `cargo run --example make_demo`; a test checks the two agree.

use std::f64::consts::{PI, TAU};
use std::path::Path;

/// Frames per second of the demo.
pub const RATE: u32 = 48_000;
/// Channels of the demo.
pub const CHANNELS: u16 = 2;
/// Length of the demo in frames (2 s).
pub const FRAMES: usize = 2 * RATE as usize;

/// Where the committed demo lives in the source tree.
pub fn asset_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo.wav"))
}

/// The WAV format of the demo.
pub fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: CHANNELS,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

struct Note {
    start: f64,
    midi: f64,
    pan: f64,
    gain: f64,
}

fn freq(midi: f64) -> f64 {
    440.0 * 2f64.powf((midi - 69.0) / 12.0)
}

/// The demo's samples, interleaved stereo 16-bit.
pub fn samples() -> Vec<i16> {
    let mut notes = Vec::new();
    // Arpeggio: C4 E4 G4 B4 C5 E5 G5 B5, one every 150 ms, left to right.
    for (i, m) in [60.0, 64.0, 67.0, 71.0, 72.0, 76.0, 79.0, 83.0]
        .into_iter()
        .enumerate()
    {
        notes.push(Note {
            start: 0.15 * i as f64,
            midi: m,
            pan: -0.8 + 1.6 * i as f64 / 7.0,
            gain: 0.22,
        });
    }
    // Closing chord: C3 C4 E4 G4 B4.
    for (m, pan) in [
        (48.0, 0.0),
        (60.0, -0.4),
        (64.0, 0.4),
        (67.0, -0.2),
        (71.0, 0.2),
    ] {
        notes.push(Note {
            start: 1.25,
            midi: m,
            pan,
            gain: 0.16,
        });
    }
    let rate = f64::from(RATE);
    let mut mix = vec![0.0f64; FRAMES * 2];
    for n in &notes {
        let f = freq(n.midi);
        let (gl, gr) = (
            ((n.pan + 1.0) * PI / 4.0).cos() * n.gain,
            ((n.pan + 1.0) * PI / 4.0).sin() * n.gain,
        );
        let first = (n.start * rate) as usize;
        let tau = 0.3 * (440.0 / f).sqrt();
        for (k, frame) in mix.chunks_exact_mut(2).enumerate().skip(first) {
            let t = (k - first) as f64 / rate;
            // Soft 4 ms attack, exponential decay; higher notes die sooner.
            let env = (1.0 - (-t / 0.004).exp()) * (-t / tau).exp();
            if env < 1e-5 && t > 0.01 {
                break;
            }
            let mut v = 0.0;
            for h in 1..=5 {
                let hf = f * f64::from(h);
                if hf < 18_000.0 {
                    v += (TAU * hf * t).sin() * 0.55f64.powi(h - 1);
                }
            }
            frame[0] += v * env * gl;
            frame[1] += v * env * gr;
        }
    }
    // Fade the last 150 ms out to exact silence.
    let fade = (0.15 * rate) as usize;
    for (k, frame) in mix.chunks_exact_mut(2).enumerate() {
        let left = FRAMES - 1 - k;
        if left < fade {
            let g = left as f64 / fade as f64;
            frame[0] *= g;
            frame[1] *= g;
        }
    }
    let peak = mix.iter().fold(0.0f64, |p, v| p.max(v.abs()));
    let norm = if peak > 0.0 { 0.8 / peak } else { 1.0 };
    mix.iter()
        .map(|v| (v * norm * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// The demo as WAV file bytes.
pub fn wav_bytes() -> Result<Vec<u8>, hound::Error> {
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cur, spec())?;
    for s in samples() {
        w.write_sample(s)?;
    }
    w.finalize()?;
    Ok(cur.into_inner())
}

/// Writes the demo to `path` (creating the directory).
pub fn write(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = wav_bytes().map_err(std::io::Error::other)?;
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_small_stereo_and_not_silent() {
        let s = samples();
        assert_eq!(s.len(), FRAMES * 2);
        let peak = s.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        assert!((26_000..=26_300).contains(&peak), "peak {peak}");
        assert_eq!(s[s.len() - 2..], [0, 0], "ends in silence");
        // The arpeggio moves left to right: the left channel dominates at
        // first, the right one later.
        let energy = |range: std::ops::Range<usize>, ch: usize| -> f64 {
            range.map(|k| f64::from(s[2 * k + ch]).powi(2)).sum()
        };
        assert!(energy(0..7200, 0) > 2.0 * energy(0..7200, 1));
        assert!(energy(50_400..57_600, 1) > 2.0 * energy(50_400..57_600, 0));
        assert!(wav_bytes().expect("wav").len() <= 400 * 1024);
    }
}
