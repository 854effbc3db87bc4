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
//!
//! On a busy host (`CPU_HOGS=2 ./test.sh`) the guest stalls now and then:
//! every frame played must still be the demo's, bit for bit, and each gap
//! must coincide with an xrun the engine counted, a loader underrun, or
//! an overrun of the test's own capture (counted and recovered here).

use clap::Parser;
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::{Device, Format};
use pcmring_examples::demo;
use pcmring_examples::gaps::compare_with_gaps;
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

/// What the capture thread got: the bytes, and how many times its ring
/// overran (each one a gap that is the test's, not the engine's).
struct Captured {
    bytes: Vec<u8>,
    overruns: u64,
}

type Capture = (Arc<AtomicBool>, JoinHandle<Captured>);

/// Captures `hw:Loopback,1,0` on a thread until the flag is set. Opened
/// first, with the geometry the playback side will ask for (aloop makes
/// the two sides agree on format, rate, channels and sizes). The thread
/// runs SCHED_FIFO when it may (root in the guest), so it keeps up; an
/// overrun anyway is counted and recovered (prepare + start).
fn start_capture(period: u64, buffer: u64) -> Capture {
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
        let _ = pcmring_rt::sched::promote_fifo(70);
        let mut captured = Vec::new();
        let mut overruns = 0;
        let mut chunk = vec![0u8; cap.ring().len()];
        while !s2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(2));
            match read_capture(&mut cap, &mut chunk) {
                Ok(n) => captured.extend_from_slice(&chunk[..n * cap.layout().frame_bytes()]),
                Err(e) => {
                    out(&format!("vm_play | capture overrun ({e}): recovering"));
                    overruns += 1;
                    recover_capture(&mut cap);
                }
            }
        }
        let _ = cap.drop_stream();
        let _ = pcmring_rt::sched::demote();
        Captured {
            bytes: captured,
            overruns,
        }
    });
    (stop, capture)
}

fn stop_capture(c: Capture) -> Captured {
    std::thread::sleep(Duration::from_millis(100));
    c.0.store(true, Ordering::Relaxed);
    c.1.join().expect("capture thread")
}

/// The capture holds the demo exactly, silence before and after, except
/// for gaps: at most `excused` of them (xruns the engine counted, loader
/// underruns, capture overruns).
fn check_demo(captured: &[u8], excused: u64) {
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
    let got: Vec<i32> = got[start..].iter().map(|&v| i32::from(v)).collect();
    let want: Vec<i32> = want.iter().map(|&v| i32::from(v)).collect();
    let r = compare_with_gaps(&got, &want, 2).unwrap_or_else(|e| panic!("{e}"));
    out(&format!(
        "vm_play | comparison: {r:?}, excused gaps {excused}"
    ));
    assert!(
        r.discontinuities <= excused,
        "{} gap(s) in the capture but only {excused} xrun(s)/underrun(s)/overrun(s) counted: {r:?}",
        r.discontinuities
    );
    if excused == 0 {
        assert_eq!(
            r.matched_frames,
            want.len() / 2,
            "the whole demo, bit for bit"
        );
    }
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
        "vm_play | {}: {:?}, xruns {} ({} frames), loader underruns {}, capture overruns {}, margin {} fr, captured {} frames",
        s.device,
        s.layout,
        s.xruns,
        s.xrun_frames,
        s.starved_events,
        captured.overruns,
        s.margin_frames,
        captured.bytes.len() / 4
    ));
    assert_eq!(s.layout.format, Format::S16Le);
    assert_eq!(s.played_frames, demo::FRAMES as u64);
    check_demo(
        &captured.bytes,
        s.xruns + s.starved_events + captured.overruns,
    );
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
        "vm_play | broker: {}: xruns {} ({} frames), loader underruns {}, capture overruns {}, margin {} fr, captured {} frames",
        s.play.device,
        s.play.xruns,
        s.play.xrun_frames,
        s.play.starved_events,
        captured.overruns,
        s.play.margin_frames,
        captured.bytes.len() / 4
    ));
    assert!(s.sim.is_none());
    assert_eq!(s.play.played_frames, demo::FRAMES as u64);
    check_demo(
        &captured.bytes,
        s.play.xruns + s.play.starved_events + captured.overruns,
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn play_example_picks_the_first_card_by_itself() {
    // No --device: the first playback device PcmDevice::list() finds (the
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

/// After an overrun of the (free-running) capture: skip to the hardware
/// position; a stream the kernel stopped is prepared and started again.
fn recover_capture(cap: &mut Pcm) {
    match cap.status_synced() {
        Ok(st) if st.state == pcmring::PcmState::Running as i32 => cap
            .set_appl_ptr(st.hw_ptr)
            .expect("skip the capture to hw_ptr"),
        _ => {
            cap.prepare().expect("re-prepare capture");
            cap.start().expect("restart capture");
        }
    }
}

/// Reads what the capture holds; `Err` (an overrun) also when the
/// hardware overtook the frames while they were being copied (a torn
/// read: the guest stalled mid-copy), so such frames are never used.
fn read_capture(cap: &mut Pcm, chunk: &mut [u8]) -> pcmring::Result<usize> {
    let n = cap.read_frames(chunk)?;
    let after = cap.avail()?;
    if after + n as u64 > cap.layout().buffer_size {
        return Err(pcmring::Error::BadState {
            device: cap.name().to_owned(),
            state: format!("overrun while {n} frames were being read"),
        });
    }
    Ok(n)
}
