//! The test of the real-card comparison (`compare-recording`, run by
//! `kernel/vm/run` on qemu's recording): a faithful recording passes, and
//! the same recording with one flipped sample bit, or one dropped frame,
//! fails with the `NOT bit-exact` line and exit status 1.

use pcmring_examples::recording::{signal, Played};
use std::path::Path;
use std::process::Command;

/// A 16-bit stereo WAV as qemu writes it (header sizes never fixed).
fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend(0u32.to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend((rate * 4).to_le_bytes());
    b.extend(4u16.to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend(0u32.to_le_bytes());
    b.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(path, b).expect("write the WAV");
}

/// Two tests' signals, each with its padding, one after the other; the
/// console log that announces them.
fn session() -> (Vec<Played>, Vec<i16>, String) {
    let mut samples = vec![0i16; 2 * 300];
    let mut log = String::from("[    3.0] boot noise\nVM-KERNEL 6.1\n");
    let mut played = Vec::new();
    for (test, seed) in [("engine-timer", 11u64), ("broker-client", 12)] {
        let p = Played {
            card: "ac97".into(),
            test: test.into(),
            seed,
            frames: 4800,
            pad: 9600,
            rate: 48_000,
            channels: 2,
        };
        samples.extend(signal(seed, 4800, 2));
        samples.extend(vec![0i16; 2 * 9600]);
        log.push_str(&format!("{p}\n"));
        played.push(p);
    }
    (played, samples, log)
}

fn compare(name: &str, samples: &[i16], log: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("pcmring-compare-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wav = dir.join("rec.wav");
    let con = dir.join("console.log");
    write_wav(&wav, 48_000, samples);
    std::fs::write(&con, log).expect("write the log");
    let o = Command::new(env!("CARGO_BIN_EXE_compare-recording"))
        .arg("--card")
        .arg("ac97")
        .arg(&wav)
        .arg(&con)
        .output()
        .expect("run compare-recording");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn faithful_recording_is_bit_exact() {
    let (_, samples, log) = session();
    let (code, text) = compare("ok", &samples, &log);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("bit-exact: ac97 engine-timer frames=4800"),
        "{text}"
    );
    assert!(
        text.contains("bit-exact: ac97 broker-client frames=4800"),
        "{text}"
    );
}

#[test]
fn one_flipped_sample_fails_the_comparison() {
    let (_, mut samples, log) = session();
    // Frame 1000 of the second signal, right channel, lowest bit.
    let at = 2 * (300 + 4800 + 9600 + 1000) + 1;
    samples[at] ^= 1;
    let (code, text) = compare("flip", &samples, &log);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("bit-exact: ac97 engine-timer"), "{text}");
    assert!(
        text.contains("NOT bit-exact: ac97 broker-client: signal frame 1000"),
        "{text}"
    );
}

#[test]
fn a_dropped_frame_fails_the_comparison() {
    let (_, mut samples, log) = session();
    let at = 2 * (300 + 2000);
    samples.drain(at..at + 2);
    let (code, text) = compare("drop", &samples, &log);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("NOT bit-exact: ac97 engine-timer"), "{text}");
}
