//! The simulated device's memfds are sealed against resizing (a client
//! refuses unsealed ones), and one device takes one engine per process.

mod sim_support;

use pcmring::engine::{Engine, EngineConfig, Margin, WakeStrategy};
use pcmring::sim::{SimConfig, SimDac, SimDevice, SimFds};
use pcmring::{Error, Format};
use sim_support::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

fn new_dac() -> SimDac {
    SimDac::start(SimConfig::new(layout(Format::S16Le, 256, 1024, 1024 << 10))).expect("sim")
}

fn seals(fd: &OwnedFd) -> i32 {
    // SAFETY: fcntl on a valid fd, no pointer argument.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) }
}

/// An unsealed copy of `src` (same size, same bytes).
fn unsealed_copy(src: &OwnedFd) -> OwnedFd {
    // SAFETY: a valid C string and plain flags.
    let raw = unsafe { libc::memfd_create(c"copy".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0);
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = std::fs::metadata(format!("/proc/self/fd/{}", src.as_raw_fd()))
        .expect("stat")
        .len();
    let mut from = std::fs::File::from(src.try_clone().expect("dup"));
    let mut to = std::fs::File::from(fd.try_clone().expect("dup"));
    assert_eq!(std::io::copy(&mut from, &mut to).expect("copy"), len);
    fd
}

#[test]
fn sim_memfds_cannot_be_resized() {
    let dac = new_dac();
    let fds = dac.share().expect("share");
    for fd in [&fds.data, &fds.status] {
        let s = seals(fd);
        assert!(s >= 0, "F_GET_SEALS: {}", std::io::Error::last_os_error());
        assert_eq!(s & libc::F_SEAL_SHRINK, libc::F_SEAL_SHRINK);
        assert_eq!(s & libc::F_SEAL_GROW, libc::F_SEAL_GROW);
        // What a hostile broker would do to SIGBUS its client:
        // SAFETY: valid fd; ftruncate only resizes it (and must fail).
        let r = unsafe { libc::ftruncate(fd.as_raw_fd(), 0) };
        assert_eq!(r, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EPERM)
        );
    }
}

#[test]
fn client_refuses_unsealed_memfds() {
    let dac = new_dac();
    let fds = dac.share().expect("share");
    let unsealed = SimFds {
        data: unsealed_copy(&fds.data),
        status: unsealed_copy(&fds.status),
        wake: None,
    };
    let e = SimDevice::attach(unsealed, dac.layout()).expect_err("unsealed memfds");
    assert!(e.to_string().contains("sealed"), "{e}");
    assert!(e.to_string().contains("SIGBUS"), "{e}");
    // The sealed originals are fine.
    SimDevice::attach(fds, dac.layout()).expect("sealed memfds");
}

#[test]
fn second_engine_on_the_same_device_is_refused() {
    let dac = new_dac();
    let cfg = || EngineConfig {
        name: "sim".into(),
        block_frames: 64,
        wake: WakeStrategy::Timer,
        margin: Margin::Frames(480),
        fifo_priority: None,
        ..EngineConfig::default()
    };
    let (r, _) = SignalRenderer::new();
    let first = Engine::start(dac.device().expect("dev"), r, cfg()).expect("first engine");
    let (r, _) = SignalRenderer::new();
    let e = Engine::start(dac.device().expect("dev"), r, cfg()).expect_err("second engine");
    assert!(matches!(e, Error::EngineRunning { .. }), "{e:?}");
    assert!(e.to_string().contains("another engine"), "{e}");
    // Another sim is another device.
    let other = new_dac();
    let (r, _) = SignalRenderer::new();
    let second = Engine::start(other.device().expect("dev"), r, cfg()).expect("other device");
    second.stop().expect("stop");
    // Once the first one stops, the device is free again.
    first.stop().expect("stop");
    std::thread::sleep(Duration::from_millis(20));
    let (r, _) = SignalRenderer::new();
    let again = Engine::start(dac.device().expect("dev"), r, cfg()).expect("after stop");
    again.stop().expect("stop");
}
