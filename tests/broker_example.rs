//! The broker-and-client example end to end on the simulated device: a
//! broker on a thread leases the device, the player connects as a client
//! and plays the demo, and the broker's device recording holds the demo
//! bit for bit after the client's start offset.

use clap::Parser;
use pcmring_examples::broker_demo::{run, BrokerArgs};

#[test]
fn demo_through_an_in_process_broker_is_bit_exact() {
    let out = std::env::temp_dir().join(format!("pcmring-test-{}-broker.wav", std::process::id()));
    let socket = format!("@pcmring-test-broker-{}", std::process::id());
    let out_s = out.to_string_lossy().into_owned();
    let args = BrokerArgs::try_parse_from([
        "broker_client",
        "--quiet",
        "--margin",
        "2048",
        "--socket",
        &socket,
        "--out",
        &out_s,
    ])
    .expect("arguments");
    let s = run(&args).expect("broker and client");
    // On a busy machine an xrun may leave a gap: `bit_exact` holds when
    // every frame played is the file's, each gap at an xrun the engine
    // counted (src/gaps.rs).
    assert_eq!(s.play.played_frames, s.play.total_frames);
    let rec = &s
        .sim
        .as_ref()
        .expect("the broker's simulated device")
        .recording;
    assert!(rec.frames() as u64 >= s.play.total_frames);
    assert_eq!(s.bit_exact, Some(true));
    // The WAV file on disk is the same recording.
    let r = hound::WavReader::open(&out).expect("recording written");
    assert_eq!(r.duration() as usize, rec.frames());
    let _ = std::fs::remove_file(out);
}

#[test]
fn connecting_to_no_broker_is_a_clear_error() {
    let args = BrokerArgs::try_parse_from([
        "broker_client",
        "--quiet",
        "--connect",
        "@pcmring-test-nobody-listens-here",
    ])
    .expect("arguments");
    let e = run(&args).unwrap_err();
    assert!(
        e.contains("broker at @pcmring-test-nobody-listens-here"),
        "{e}"
    );
}
