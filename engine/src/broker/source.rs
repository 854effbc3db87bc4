//! What a broker leases: a stream it owns and can hand out as fds.

use super::wire::{ClockId, DeviceKind};
use crate::layout::StreamLayout;
use crate::pcm::Direction;
use std::os::fd::OwnedFd;

/// A running stream a broker leases to one client at a time.
///
/// Implemented for a full PCM the broker opened (each lease is a fresh
/// BUFFER fd from `anonymous_dup`) and for the simulated device (each lease
/// is a copy of its ring and status memfds). The broker only calls these
/// from its own thread.
pub trait LeaseSource {
    /// Geometry of the running stream.
    fn layout(&self) -> StreamLayout;
    /// Playback or capture.
    fn direction(&self) -> Direction {
        Direction::Playback
    }
    /// What kind of fds [`LeaseSource::lease_fds`] returns.
    fn device_kind(&self) -> DeviceKind;
    /// Whether a client can map the status page of the leased fd.
    fn status_mappable(&self) -> bool;
    /// The clock of the stream's timestamps.
    fn clock(&self) -> ClockId {
        ClockId::Monotonic
    }
    /// Whether the position moves in whole periods.
    fn batch(&self) -> bool {
        false
    }
    /// Whether leases carry a wake-up pipe (simulated device only).
    fn wake_fd(&self) -> bool {
        false
    }
    /// Fresh fds for one lease, in wire order: the BUFFER fd; or ring,
    /// status page and (if [`LeaseSource::wake_fd`]) the wake-up pipe. The broker closes its copies after sending.
    fn lease_fds(&mut self) -> crate::Result<Vec<OwnedFd>>;
    /// Silences the ring after a lessee left (it may have written ahead).
    fn silence(&mut self);
    /// Revokes the fds of the lease that just ended, so a lessee that kept
    /// them can no longer touch the ring; returns how many it revoked.
    /// Sources whose fds cannot be revoked return `Ok(0)`.
    fn revoke_leases(&mut self) -> crate::Result<u32> {
        Ok(0)
    }
    /// Stops the stream on broker shutdown.
    fn stop(&mut self) -> crate::Result<()> {
        Ok(())
    }
    /// A one-line description for the log, e.g. `hw:Loopback,0 S16_LE 2ch 48000 Hz`.
    fn describe(&self) -> String {
        let l = self.layout();
        format!(
            "{} {} {}ch {} Hz, period {} / buffer {} frames",
            self.device_kind().describe(),
            l.format,
            l.channels,
            l.rate,
            l.period_size,
            l.buffer_size
        )
    }
}

impl<S: LeaseSource + ?Sized> LeaseSource for Box<S> {
    fn layout(&self) -> StreamLayout {
        (**self).layout()
    }
    fn direction(&self) -> Direction {
        (**self).direction()
    }
    fn device_kind(&self) -> DeviceKind {
        (**self).device_kind()
    }
    fn status_mappable(&self) -> bool {
        (**self).status_mappable()
    }
    fn clock(&self) -> ClockId {
        (**self).clock()
    }
    fn batch(&self) -> bool {
        (**self).batch()
    }
    fn wake_fd(&self) -> bool {
        (**self).wake_fd()
    }
    fn lease_fds(&mut self) -> crate::Result<Vec<OwnedFd>> {
        (**self).lease_fds()
    }
    fn silence(&mut self) {
        (**self).silence()
    }
    fn revoke_leases(&mut self) -> crate::Result<u32> {
        (**self).revoke_leases()
    }
    fn stop(&mut self) -> crate::Result<()> {
        (**self).stop()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Zeroes shared memory that other threads or processes may touch at the
/// same time, with relaxed atomic stores (never a plain `memset` racing
/// with the DAC).
///
/// # Safety
/// `ptr..ptr+len` must be mapped and writable, and `ptr` 8-byte aligned.
pub(crate) unsafe fn zero_shared(ptr: *mut u8, len: usize) {
    use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
    let words = len / 8;
    for i in 0..words {
        // SAFETY: in bounds and aligned (caller contract); only ever
        // accessed as plain bytes or atomics by the parties sharing it.
        unsafe { (*ptr.add(i * 8).cast::<AtomicU64>()).store(0, Ordering::Relaxed) };
    }
    for i in words * 8..len {
        // SAFETY: in bounds (caller contract); byte atomics need no alignment.
        unsafe { (*ptr.add(i).cast::<AtomicU8>()).store(0, Ordering::Relaxed) };
    }
}

/// Leases the simulated device: each lease is a copy of its ring and
/// status memfds (and its wake-up pipe, if it has one).
#[derive(Debug)]
pub struct SimSource {
    dac: crate::sim::SimDac,
    ring: crate::sys::mmap::Mapping,
    wake: bool,
}

impl SimSource {
    /// Wraps a running [`crate::sim::SimDac`].
    pub fn new(dac: crate::sim::SimDac) -> crate::Result<SimSource> {
        use std::os::fd::AsFd;
        let fds = dac.share()?;
        let bytes = dac.layout().stream.ring_bytes();
        let ring = crate::sys::mmap::Mapping::new(
            fds.data.as_fd(),
            0,
            bytes,
            crate::sys::mmap::Protection::ReadWrite,
        )
        .map_err(|e| crate::Error::sys("sim", crate::Step::MapRing, e))?;
        Ok(SimSource {
            wake: fds.wake.is_some(),
            dac,
            ring,
        })
    }

    /// The simulated device (counters, recording).
    pub fn dac(&self) -> &crate::sim::SimDac {
        &self.dac
    }

    /// Unwraps the simulated device, e.g. to stop it and get the recording.
    pub fn into_dac(self) -> crate::sim::SimDac {
        self.dac
    }
}

impl LeaseSource for SimSource {
    fn layout(&self) -> StreamLayout {
        self.dac.layout().stream
    }
    fn device_kind(&self) -> DeviceKind {
        DeviceKind::Simulated
    }
    fn status_mappable(&self) -> bool {
        true
    }
    fn batch(&self) -> bool {
        self.dac.layout().batch
    }
    fn wake_fd(&self) -> bool {
        self.wake
    }
    fn lease_fds(&mut self) -> crate::Result<Vec<OwnedFd>> {
        let fds = self.dac.share()?;
        let mut v = vec![fds.data, fds.status];
        v.extend(fds.wake);
        Ok(v)
    }
    fn silence(&mut self) {
        // The lessee is gone: the sim must not count what it plays now
        // as underruns of a writer that no longer exists.
        self.dac.release_writer();
        // SAFETY: the mapping is page-aligned and ring_bytes long.
        unsafe { zero_shared(self.ring.as_ptr(), self.ring.len()) };
    }
}

/// Leases a hardware PCM the broker opened: each lease is a fresh BUFFER
/// fd from [`crate::pcm::Pcm::anonymous_dup`].
#[derive(Debug)]
pub struct PcmSource {
    pcm: crate::pcm::Pcm,
}

impl PcmSource {
    /// Opens `name` for playback with `config` forced to free-running
    /// (stop threshold = boundary, silence fill, MONOTONIC timestamps),
    /// silences the ring, prepares and starts the stream.
    pub fn open(name: &str, config: &crate::pcm::Config) -> crate::Result<PcmSource> {
        use crate::device::Device;
        let config = free_running(config);
        let mut pcm = crate::pcm::Pcm::open(name, Direction::Playback, &config)?;
        let ring = pcm.ring();
        // SAFETY: the ring mapping is page-aligned and `len` bytes long;
        // the stream is not running yet.
        unsafe { zero_shared(ring.as_ptr(), ring.len()) };
        pcm.prepare()?;
        pcm.start()?;
        Ok(PcmSource { pcm })
    }

    /// Opens `capture` as free-running capture (overruns never stop it)
    /// with `config`, prepares and starts it.
    pub fn open_capture(name: &str, config: &crate::pcm::Config) -> crate::Result<PcmSource> {
        let mut pcm = crate::pcm::Pcm::open(name, Direction::Capture, &free_running(config))?;
        pcm.prepare()?;
        pcm.start()?;
        Ok(PcmSource { pcm })
    }

    /// Opens `playback` and `capture` (two PCMs of one card) with
    /// `config`, both free-running, and starts them together: linked when
    /// the kernel allows it (one START, so their positions count frames of
    /// one clock), else back to back (the `StartTogether` says why). The
    /// streams keep running for the broker's life, so every duplex lease
    /// sees the same fixed relation. When the hardware gives the two
    /// streams different rates they are started apart and not linked: a
    /// broker then refuses duplex leases with `RatesDiffer`.
    pub fn open_duplex(
        playback: &str,
        capture: &str,
        config: &crate::pcm::Config,
    ) -> crate::Result<(PcmSource, PcmSource, crate::pcm::StartTogether)> {
        use crate::device::Device;
        let config = free_running(config);
        let mut out = crate::pcm::Pcm::open(playback, Direction::Playback, &config)?;
        let mut inp = crate::pcm::Pcm::open(capture, Direction::Capture, &config)?;
        let ring = out.ring();
        // SAFETY: the ring mapping is page-aligned and `len` bytes long;
        // the stream is not running yet.
        unsafe { zero_shared(ring.as_ptr(), ring.len()) };
        let started = if out.layout().rate == inp.layout().rate {
            out.start_together(&mut inp)?
        } else {
            for pcm in [&mut out, &mut inp] {
                pcm.prepare()?;
                pcm.start()?;
            }
            crate::pcm::StartTogether::Unlinked {
                reason: format!(
                    "the rates differ: playback {} Hz, capture {} Hz",
                    out.layout().rate,
                    inp.layout().rate
                ),
            }
        };
        Ok((PcmSource { pcm: out }, PcmSource { pcm: inp }, started))
    }

    /// Wraps a PCM the caller configured and started itself.
    pub fn from_running(pcm: crate::pcm::Pcm) -> PcmSource {
        PcmSource { pcm }
    }

    /// The PCM.
    pub fn pcm(&self) -> &crate::pcm::Pcm {
        &self.pcm
    }

    /// Unwraps the PCM.
    pub fn into_pcm(self) -> crate::pcm::Pcm {
        self.pcm
    }
}

/// `config` forced to what a leased stream needs: free-running (stop
/// threshold = boundary), started by the broker, MONOTONIC timestamps.
fn free_running(config: &crate::pcm::Config) -> crate::pcm::Config {
    let mut config = *config;
    config.sw.xrun = crate::pcm::XrunMode::FreeRunning;
    config.sw.start_threshold = None;
    config.sw.no_timestamps = false;
    config
}

impl LeaseSource for PcmSource {
    fn layout(&self) -> StreamLayout {
        use crate::device::Device;
        self.pcm.layout()
    }
    fn direction(&self) -> Direction {
        self.pcm.direction()
    }
    fn device_kind(&self) -> DeviceKind {
        DeviceKind::HwBuffer
    }
    fn status_mappable(&self) -> bool {
        // The BUFFER fd maps the status page where the full fd could.
        self.pcm.status_path() == crate::pcm::StatusPath::Mapped
    }
    fn batch(&self) -> bool {
        use crate::device::Device;
        self.pcm.is_batch()
    }
    fn lease_fds(&mut self) -> crate::Result<Vec<OwnedFd>> {
        Ok(vec![self
            .pcm
            .anonymous_dup(crate::anondup::DupMode::Buffer)?])
    }
    fn revoke_leases(&mut self) -> crate::Result<u32> {
        self.pcm.revoke_dups()
    }
    fn silence(&mut self) {
        use crate::device::Device;
        // A capture ring is the hardware's to write (and mapped read-only).
        if self.pcm.direction() == Direction::Capture {
            return;
        }
        let ring = self.pcm.ring();
        // SAFETY: the ring mapping is page-aligned and `len` bytes long.
        unsafe { zero_shared(ring.as_ptr(), ring.len()) };
    }
    fn stop(&mut self) -> crate::Result<()> {
        self.pcm.drop_stream()
    }
    fn describe(&self) -> String {
        use crate::device::Device;
        let l = self.pcm.layout();
        format!(
            "{} ({}) {} {}ch {} Hz, period {} / buffer {} frames",
            self.pcm.name(),
            self.pcm.info().name,
            l.format,
            l.channels,
            l.rate,
            l.period_size,
            l.buffer_size
        )
    }
}
