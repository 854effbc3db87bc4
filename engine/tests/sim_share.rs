//! The simulated device's fds work in another process, like a restricted
//! PCM fd handed out by a broker: a child process attaches to them and
//! runs the engine; the parent's DAC records the signal bit for bit.

mod sim_support;

use pcmring::engine::{Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::sim::{SimConfig, SimDac, SimDevice, SimFds, SimLayout};
use pcmring::Format;
use sim_support::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const ENV: &str = "PCMRING_SIM_CHILD_FDS";

fn stream() -> pcmring::StreamLayout {
    layout(Format::S16Le, 256, 8192, 8192 << 10)
}

fn inheritable(fd: &OwnedFd) {
    // SAFETY: F_SETFD on a valid fd we own; clears FD_CLOEXEC only.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    assert_eq!(rc, 0, "fcntl");
}

#[test]
fn sim_fds_work_in_another_process() {
    let mut sc = SimConfig::new(stream());
    sc.record_frames = 48_000 * 4;
    let dac = SimDac::start(sc).expect("sim");
    let fds = dac.share().expect("share");
    let wake = fds.wake.as_ref().expect("wake fd");
    for fd in [&fds.data, &fds.status, wake] {
        inheritable(fd);
    }
    let spec = format!(
        "{},{},{},{}",
        fds.data.as_raw_fd(),
        fds.status.as_raw_fd(),
        wake.as_raw_fd(),
        u8::from(dac.layout().batch)
    );
    let exe = std::env::current_exe().expect("test binary");
    let status = std::process::Command::new(exe)
        .args([
            "--exact",
            "child_plays_on_inherited_fds",
            "--ignored",
            "--nocapture",
        ])
        .env(ENV, spec)
        .status()
        .expect("spawn child");
    drop(fds);
    assert!(status.success(), "child failed: {status}");
    std::thread::sleep(Duration::from_millis(300));
    let rec = dac.stop().expect("stop").recording;
    let start = first_sound(&rec).expect("the child's signal was played");
    let end = end_of_sound(&rec);
    assert!(end - start > 48_000, "{} frames", end - start);
    assert_eq!(first_mismatch(&rec, start, end - start), None);
}

/// The child side of `sim_fds_work_in_another_process` (does nothing
/// unless started by it).
#[test]
#[ignore = "child process of sim_fds_work_in_another_process"]
fn child_plays_on_inherited_fds() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let v: Vec<i32> = spec
        .split(',')
        .map(|s| s.parse().expect("fd number"))
        .collect();
    assert_eq!(v.len(), 4, "{spec}");
    // SAFETY: the parent passed these open fds to this process for it to
    // own; nothing else in the child uses those numbers.
    let fds = unsafe {
        SimFds {
            data: OwnedFd::from_raw_fd(v[0]),
            status: OwnedFd::from_raw_fd(v[1]),
            wake: Some(OwnedFd::from_raw_fd(v[2])),
        }
    };
    let layout = SimLayout {
        stream: stream(),
        batch: v[3] == 1,
    };
    let dev = SimDevice::attach(fds, layout).expect("attach in the child");
    let (r, _) = SignalRenderer::new();
    let cfg = EngineConfig {
        name: "sim (child)".into(),
        block_frames: 128,
        wake: WakeStrategy::Period,
        margin: Margin::Frames(4800),
        ..EngineConfig::default()
    };
    let engine = Engine::start(dev, r, cfg).expect("engine in the child");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(engine.telemetry().xruns(), 0);
    engine.stop().expect("stop");
}

#[test]
fn attach_rejects_bad_input() {
    let dac = SimDac::start(SimConfig::new(stream())).expect("sim");
    // A layout bigger than the ring.
    let mut big = dac.layout();
    big.stream.buffer_size *= 2;
    big.stream.boundary = big.stream.buffer_size << 4;
    let e = SimDevice::attach(dac.share().expect("share"), big).expect_err("too big");
    assert!(e.to_string().contains("smaller"), "{e}");
    // Nonsense geometry.
    let mut odd = dac.layout();
    odd.stream.boundary = odd.stream.buffer_size * 3 + 1;
    assert!(SimDevice::attach(dac.share().expect("share"), odd).is_err());
    let mut zero = dac.layout();
    zero.stream.channels = 0;
    assert!(SimDevice::attach(dac.share().expect("share"), zero).is_err());
    // Fds that are not a sim: swapped data and status.
    let f = dac.share().expect("share");
    let swapped = SimFds {
        data: f.status,
        status: f.data,
        wake: None,
    };
    let mut small = dac.layout();
    small.stream.buffer_size = 256;
    small.stream.period_size = 256;
    small.stream.boundary = 256 << 4;
    let e = SimDevice::attach(swapped, small).expect_err("not a sim page");
    assert!(
        e.to_string().contains("not a running simulated device"),
        "{e}"
    );
}
