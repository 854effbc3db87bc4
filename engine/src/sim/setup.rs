//! What the simulated DAC and ADC set up alike at start: the sealed
//! memfds and their mappings, the wake-up pipe, the step, and the first
//! RUNNING status on the page.

use super::config::{DacMode, SimConfig, SimFds};
use super::device::validate;
use super::page::{StatusPage, PAGE_BYTES};
use crate::device::{HwPosition, PcmState};
use crate::error::{Error, Result, Step};
use crate::sys::mmap::{Mapping, Protection};
use pcmring_rt::timer::now_ns;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// The simulated device's shared resources, made by [`Setup::new`].
pub(super) struct Setup {
    /// Frames the thread moves per step.
    pub step: u64,
    /// Whether the position moves in whole periods.
    pub batch: bool,
    /// Length of the ring in bytes.
    pub ring_bytes: usize,
    /// The ring and status memfds, and the wake pipe's read end.
    pub fds: SimFds,
    /// The wake pipe's write end, for the thread.
    pub wake_tx: Option<OwnedFd>,
    /// The thread's read-write mapping of the ring.
    pub ring_map: Mapping,
    /// The thread's view of the status page, RUNNING at `start`.
    pub page: StatusPage,
    /// The first position (raw, below the boundary).
    pub start: u64,
    /// When the first position was published (CLOCK_MONOTONIC, ns).
    pub t0: u64,
}

impl Setup {
    /// Validates `config`'s layout, creates the memfds `names` (ring,
    /// status), maps them and publishes RUNNING at `config.start_hw_ptr`
    /// as both the page's and the live position.
    pub fn new(name: &str, config: &SimConfig, names: [&CStr; 2]) -> Result<Setup> {
        let l = config.layout;
        validate(&l)?;
        let step = match config.mode {
            DacMode::Periods => l.period_size,
            DacMode::Continuous { step } => step.clamp(1, l.period_size),
        };
        let sys = |e| Error::sys(name, Step::Simulate, e);
        let ring_bytes = l.ring_bytes();
        let data = memfd(names[0], ring_bytes).map_err(sys)?;
        let status = memfd(names[1], PAGE_BYTES).map_err(sys)?;
        let (wake, wake_tx) = if config.wake_fd {
            let (r, w) = wake_pipe().map_err(sys)?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let ring_map =
            Mapping::new(data.as_fd(), 0, ring_bytes, Protection::ReadWrite).map_err(sys)?;
        let page = status_page(name, &status)?;
        let start = config.start_hw_ptr % l.boundary;
        let t0 = now_ns();
        let first = HwPosition {
            state: PcmState::Running,
            hw_ptr: start,
            tstamp_ns: if config.timestamps { t0 } else { 0 },
            audio_tstamp_ns: 0,
        };
        page.publish_live(&first);
        page.publish(&first);
        Ok(Setup {
            step,
            batch: matches!(config.mode, DacMode::Periods),
            ring_bytes,
            fds: SimFds { data, status, wake },
            wake_tx,
            ring_map,
            page,
            start,
            t0,
        })
    }
}

/// Nanoseconds per step of `step` frames at the nominal rate, drifted by
/// `config.drift_ppm`.
pub(super) fn step_ns(step: u64, config: &SimConfig) -> f64 {
    step as f64 * 1e9 / (f64::from(config.layout.rate) * (1.0 + config.drift_ppm * 1e-6))
}

/// A read-write view of the status page in the memfd `status`.
pub(super) fn status_page(name: &str, status: &OwnedFd) -> Result<StatusPage> {
    let sys = |e| Error::sys(name, Step::Simulate, e);
    let map = Mapping::new(status.as_fd(), 0, PAGE_BYTES, Protection::ReadWrite).map_err(sys)?;
    StatusPage::new(map).ok_or_else(|| sys(io::Error::from_raw_os_error(libc::EINVAL)))
}

impl SimFds {
    /// Duplicates the fds, e.g. to send them to another process.
    pub(crate) fn try_clone(&self) -> Result<SimFds> {
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|e| Error::sys("sim", Step::Simulate, e))
        };
        Ok(SimFds {
            data: dup(&self.data)?,
            status: dup(&self.status)?,
            wake: self.wake.as_ref().map(dup).transpose()?,
        })
    }
}

pub(super) fn memfd(name: &std::ffi::CStr, len: usize) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    nix::unistd::ftruncate(&fd, len)?;
    super::seal::seal_size(&fd)?;
    Ok(fd)
}

/// A non-blocking pipe: (read end, write end). The read end is only ever
/// readable (POLLIN), never writable, so a poller asking for IN|OUT (what
/// a playback PCM fd needs) wakes exactly on a signal.
pub(super) fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    Ok(nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?)
}
