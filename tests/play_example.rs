//! The CI check of the README's main command: the play example's logic
//! (`pcmring_examples::play::run`, which `examples/play.rs` calls) plays
//! the committed demo on the simulated device, and the WAV the device
//! recorded must hold the input bit for bit after the start offset, with
//! silence before and after and no gap.
//!
//! Exactness: 16-bit input on an S16 ring and 24-bit input on an S24 ring
//! round-trip exactly (`code / 2^(bits-1)` in f32, then the engine's
//! rounding conversion back), so the comparison is `==`, not within an
//! LSB. The runs use a fixed 2048-frame margin so that an xrun is rare
//! on a loaded CI machine; when one happens anyway, every frame played
//! must still be the input's, and each gap must coincide with an xrun
//! the engine counted (or a loader underrun): `pcmring_examples::gaps`.
//! The automatic margin is exercised by the example itself.

use clap::Parser;
use pcmring_examples::demo;
use pcmring_examples::gaps::compare_with_gaps;
use pcmring_examples::play::{run, PlayArgs, Summary};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pcmring-test-{}-{name}", std::process::id()))
}

fn play(file: &Path, out: &Path, extra: &[&str]) -> Summary {
    let mut argv = vec!["play", "--device", "sim", "--quiet", "--margin", "2048"];
    argv.extend_from_slice(extra);
    let mut args = PlayArgs::try_parse_from(&argv).expect("arguments");
    args.file = Some(file.to_path_buf());
    args.out = Some(out.to_path_buf());
    run(&args).expect("play on the simulated device")
}

fn read_i32(path: &Path) -> (hound::WavSpec, Vec<i32>) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let s = r
        .samples::<i32>()
        .collect::<Result<Vec<_>, _>>()
        .expect("samples");
    (spec, s)
}

/// Checks the recording holds `input` exactly at the summary's offset.
fn check_exact(input: &[i32], in_spec: hound::WavSpec, s: &Summary) {
    let rec = s.recording.as_ref().expect("a recording");
    assert!(!rec.truncated, "recording truncated");
    let (spec, got) = read_i32(&rec.path);
    assert_eq!(spec.channels, in_spec.channels);
    assert_eq!(spec.sample_rate, in_spec.sample_rate);
    assert_eq!(spec.bits_per_sample, in_spec.bits_per_sample);
    let ch = usize::from(spec.channels);
    let first = s.first_frame.expect("playback started");
    let offset = usize::try_from(first - rec.start_frame).expect("offset") * ch;
    assert!(
        got[..offset].iter().all(|&v| v == 0),
        "sound before the start offset"
    );
    let r = compare_with_gaps(&got[offset..], input, ch).unwrap_or_else(|e| panic!("{e}"));
    // Every gap is one the engine (or the loader) counted.
    let excused = s.xruns + s.starved_events;
    assert!(
        r.discontinuities <= excused,
        "{r:?}: gaps without an xrun to explain them (xruns {}, loader underruns {})",
        s.xruns,
        s.starved_events
    );
    assert_eq!(s.played_frames, (input.len() / ch) as u64);
    if r.discontinuities == 0 {
        assert_eq!(r.matched_frames, input.len() / ch);
        assert_eq!(
            s.end_frame,
            Some(first + (input.len() / ch) as u64),
            "end frame"
        );
    }
}

#[test]
fn committed_demo_matches_its_generator() {
    let bytes = std::fs::read(demo::asset_path()).expect("assets/demo.wav is committed");
    let fresh = demo::wav_bytes().expect("generate");
    assert!(
        bytes == fresh,
        "assets/demo.wav is stale: run `cargo run --example make_demo`"
    );
}

#[test]
fn readme_command_plays_the_demo_bit_exact_on_the_sim_device() {
    let out = tmp("demo.wav");
    let s = play(demo::asset_path(), &out, &[]);
    let (spec, input) = read_i32(demo::asset_path());
    check_exact(&input, spec, &s);
    assert_eq!(s.layout.format, pcmring::Format::S16Le);
    let _ = std::fs::remove_file(out);
}

#[test]
fn twenty_four_bit_mono_at_44k1_is_bit_exact_too() {
    let file = tmp("in24.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut rng = pcmring_examples::rng::Rng::new(7);
    let input: Vec<i32> = (0..22_050)
        .map(|i| {
            // A ramp through the extremes plus noise: every bit pattern
            // region, full scale included.
            let v = match i {
                100 => 8_388_607,
                101 => -8_388_608,
                _ => ((rng.f32() - 0.5) * 16_000_000.0) as i32,
            };
            if i < 10 {
                i + 1
            } else {
                v
            }
        })
        .collect();
    let mut w = hound::WavWriter::create(&file, spec).expect("create");
    for &v in &input {
        w.write_sample(v).expect("write");
    }
    w.finalize().expect("finalize");
    let out = tmp("out24.wav");
    let s = play(&file, &out, &["--block", "32"]);
    assert_eq!(s.layout.format, pcmring::Format::S24Le);
    check_exact(&input, spec, &s);
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(out);
}
