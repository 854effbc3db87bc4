//! The record example's logic (`pcmring_examples::record::run`) on the
//! simulated device fed from a WAV file: the file it writes holds the
//! input bit for bit from the first captured frame on (16-bit on S16,
//! 24-bit on S24_3), and it never overwrites a file without `--force`.

use clap::Parser;
use pcmring_examples::record::{run, RecordArgs, RecordSummary};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pcmring-rec-{}-{name}", std::process::id()))
}

fn write_input(path: &Path, bits: u16, frames: usize) -> Vec<i32> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create input");
    let max = (1i64 << (bits - 1)) - 1;
    let mut v = Vec::new();
    for n in 0..frames as i64 {
        for ch in 0..2 {
            let s = ((n * 7919 + ch * 104_729) % (2 * max)) - max;
            let s = if s == 0 { 1 } else { s } as i32;
            w.write_sample(s).expect("sample");
            v.push(s);
        }
    }
    w.finalize().expect("finalize input");
    v
}

fn record(input: &Path, out: &Path, extra: &[&str]) -> Result<RecordSummary, String> {
    let mut argv = vec!["record", "--device", "sim", "--quiet"];
    argv.extend_from_slice(extra);
    argv.push("placeholder.wav");
    let mut args = RecordArgs::try_parse_from(&argv).expect("arguments");
    args.out = out.to_path_buf();
    args.sim_input = Some(input.to_path_buf());
    run(&args)
}

fn read(path: &Path) -> (hound::WavSpec, Vec<i32>) {
    let mut r = hound::WavReader::open(path).expect("open output");
    let spec = r.spec();
    let s = r
        .samples::<i32>()
        .collect::<Result<Vec<_>, _>>()
        .expect("samples");
    (spec, s)
}

fn check_exact(label: &str, input: &[i32], out: &[i32], s: &RecordSummary) {
    assert!(s.frames > 10_000, "{label}: {s:?}");
    assert_eq!(out.len() as u64, s.frames * 2, "{label}: {s:?}");
    let first = s.first_frame as usize;
    assert_eq!(
        s.frames as usize,
        input.len() / 2 - first,
        "{label}: recorded to the end of the input: {s:?}"
    );
    for (i, pair) in out.chunks_exact(2).enumerate() {
        let want = &input[2 * (first + i)..2 * (first + i) + 2];
        if s.silence_frames > 0 && pair == [0, 0] {
            continue; // an overrun gap, counted in the summary
        }
        assert_eq!(
            pair,
            want,
            "{label}: frame {i} (device frame {}): {s:?}",
            first + i
        );
    }
}

#[test]
fn records_the_simulated_input_bit_for_bit() {
    let input = tmp("in16.wav");
    let out = tmp("out16.wav");
    let samples = write_input(&input, 16, 24_000);
    let s = record(&input, &out, &[]).expect("record");
    let (spec, got) = read(&out);
    assert_eq!(
        (spec.bits_per_sample, spec.channels, spec.sample_rate),
        (16, 2, 48_000)
    );
    check_exact("s16", &samples, &got, &s);
    assert!(!s.interrupted);

    let input24 = tmp("in24.wav");
    let out24 = tmp("out24.wav");
    let samples = write_input(&input24, 24, 24_000);
    let s = record(
        &input24,
        &out24,
        &["--sim-format", "s24_3", "--block", "100"],
    )
    .expect("record");
    let (spec, got) = read(&out24);
    assert_eq!(spec.bits_per_sample, 24);
    check_exact("s24_3", &samples, &got, &s);
    for p in [input, out, input24, out24] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn refuses_to_overwrite_without_force() {
    let input = tmp("in-force.wav");
    let out = tmp("out-force.wav");
    write_input(&input, 16, 9_600);
    std::fs::write(&out, b"keep me").expect("existing file");
    let err = record(&input, &out, &[]).expect_err("must refuse");
    assert!(err.contains("--force") && err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&out).expect("read"), b"keep me");
    let s = record(&input, &out, &["--force"]).expect("with --force");
    assert!(s.frames > 0);
    let (spec, _) = read(&out);
    assert_eq!(spec.channels, 2);
    let _ = std::fs::remove_file(input);
    let _ = std::fs::remove_file(out);
}

#[test]
fn a_sim_input_at_another_rate_is_a_clear_error() {
    let input = tmp("in-rate.wav");
    let out = tmp("out-rate.wav");
    write_input(&input, 16, 4_800);
    let err = record(&input, &out, &["--rate", "44100"]).expect_err("rate");
    assert!(err.contains("--rate 48000"), "{err}");
    assert!(!out.exists(), "no file left behind");
    let _ = std::fs::remove_file(input);
}
