//! The examples' logic on real ALSA devices (runs in the VM suite,
//! `kernel/vm/run`):
//!
//! - `play::run` plays the demo on snd-aloop's playback side
//!   (`hw:Loopback,0,0`, opened by the player itself: HW/SW params, mmap,
//!   start), and the capture side (`hw:Loopback,1,0`) must hold the demo
//!   bit for bit (S16, 48 kHz stereo on both sides: aloop copies exactly);
//! - the same through the broker example: a broker on a thread leases
//!   `hw:Loopback,0,0` as a restricted fd (snd-pcm-anondup), the player
//!   connects as a client;
//! - with no `--device`, the player picks the first card by itself.

use clap::Parser;
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::{Device, Format};
use pcmring_examples::demo;
use pcmring_examples::play::{run, PlayArgs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A line on the console even when the test passes (libtest captures
/// `println!`, not direct writes).
fn out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The demo, written from its generator (the guest has no source tree).
fn demo_file(name: &str) -> PathBuf {
    let file = std::env::temp_dir().join(name);
    demo::write(&file).expect("write the demo");
    file
}

/// Captures `hw:Loopback,1,0` on a thread until the flag is set. Opened
/// first, with the geometry the playback side will ask for (aloop makes
/// the two sides agree on format, rate, channels and sizes).
fn start_capture(period: u64, buffer: u64) -> (Arc<AtomicBool>, JoinHandle<Vec<u8>>) {
    let config = Config {
        format: Some(Format::S16Le),
        channels: 2,
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: period,
        buffer: BufferSize::Frames(buffer),
        ..Config::default()
    };
    let mut cap = Pcm::open("hw:Loopback,1,0", Direction::Capture, &config).expect("capture");
    cap.prepare().expect("prepare capture");
    cap.start().expect("start capture");
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let capture = std::thread::spawn(move || {
        let mut captured = Vec::new();
        let mut chunk = vec![0u8; cap.ring().len()];
        while !s2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(2));
            let n = cap.read_frames(&mut chunk).expect("capture read");
            captured.extend_from_slice(&chunk[..n * cap.layout().frame_bytes()]);
        }
        let _ = cap.drop_stream();
        captured
    });
    (stop, capture)
}

fn stop_capture(c: (Arc<AtomicBool>, JoinHandle<Vec<u8>>)) -> Vec<u8> {
    std::thread::sleep(Duration::from_millis(100));
    c.0.store(true, Ordering::Relaxed);
    c.1.join().expect("capture thread")
}

/// The capture holds the demo exactly, silence before and after.
fn check_demo(captured: &[u8]) {
    let got: Vec<i16> = captured
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let want = demo::samples();
    // Align on the first non-zero sample of each.
    let k = want.iter().position(|&v| v != 0).expect("demo not silent");
    let j = got.iter().position(|&v| v != 0).expect("nothing captured");
    assert!(j >= k && (j - k) % 2 == 0, "misaligned start: {j} vs {k}");
    let start = j - k;
    assert!(
        got.len() >= start + want.len(),
        "capture too short: {} samples from {start}, want {}",
        got.len() - start,
        want.len()
    );
    let played = &got[start..start + want.len()];
    if let Some(i) = played.iter().zip(&want).position(|(a, b)| a != b) {
        panic!(
            "sample {i} differs: captured {} expected {}",
            played[i], want[i]
        );
    }
    assert!(got[start + want.len()..].iter().all(|&v| v == 0));
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn play_example_on_aloop_is_bit_exact() {
    let (period, buffer) = (256u64, 16_384u64);
    let cap = start_capture(period, buffer);
    let (p, b) = (period.to_string(), buffer.to_string());
    let mut args = PlayArgs::try_parse_from([
        "play",
        "--device",
        "hw:Loopback,0,0",
        "--quiet",
        "--margin",
        "4096",
        "--period",
        &p,
        "--buffer",
        &b,
    ])
    .expect("arguments");
    args.file = Some(demo_file("pcmring-vm-demo.wav"));
    let summary = run(&args);
    let captured = stop_capture(cap);
    let s = summary.expect("play on hw:Loopback,0,0");
    out(&format!(
        "vm_play | {}: {:?}, xruns {}, margin {} fr, captured {} frames",
        s.device,
        s.layout,
        s.xruns,
        s.margin_frames,
        captured.len() / 4
    ));
    assert_eq!(s.layout.format, Format::S16Le);
    assert_eq!(s.played_frames, demo::FRAMES as u64);
    assert_eq!(s.xruns, 0, "underruns leave gaps");
    check_demo(&captured);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn broker_example_on_aloop_is_bit_exact() {
    use pcmring_examples::broker_demo::{run, BrokerArgs};
    // The broker example's stream: 128-frame periods, 4096-frame ring.
    let cap = start_capture(128, 4096);
    let file = demo_file("pcmring-vm-demo-broker.wav");
    let file_s = file.to_string_lossy().into_owned();
    let args = BrokerArgs::try_parse_from([
        "broker_client",
        "--device",
        "hw:Loopback,0,0",
        "--socket",
        "@pcmring-vm-broker-example",
        "--quiet",
        "--margin",
        "2048",
        &file_s,
    ])
    .expect("arguments");
    let summary = run(&args);
    let captured = stop_capture(cap);
    let s = summary.expect("broker on hw:Loopback,0,0 and a client");
    out(&format!(
        "vm_play | broker: {}: xruns {}, margin {} fr, captured {} frames",
        s.play.device,
        s.play.xruns,
        s.play.margin_frames,
        captured.len() / 4
    ));
    assert!(s.sim.is_none());
    assert_eq!(s.play.played_frames, demo::FRAMES as u64);
    assert_eq!(s.play.xruns, 0, "underruns leave gaps");
    check_demo(&captured);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn play_example_picks_the_first_card_by_itself() {
    // No --device: the first playback device pcm::list() finds (the
    // guest's card 0 is snd-dummy, id Dummy), not the simulated device.
    let mut args =
        PlayArgs::try_parse_from(["play", "--quiet", "--margin", "2048"]).expect("arguments");
    args.file = Some(demo_file("pcmring-vm-demo-auto.wav"));
    let s = run(&args).expect("play on the first card");
    out(&format!(
        "vm_play | auto: {}: {:?}, xruns {}",
        s.device, s.layout, s.xruns
    ));
    assert!(s.device.starts_with("hw:Dummy,0"), "picked {}", s.device);
    assert!(s.recording.is_none(), "fell back to the simulated device");
    assert_eq!(s.played_frames, demo::FRAMES as u64);
    assert!(!s.interrupted);
}
