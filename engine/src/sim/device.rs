//! The client side of the simulated device: maps the shared fds and
//! implements [`Device`].

use super::config::{SimFds, SimLayout};
use super::page::{StatusPage, PAGE_BYTES};
use crate::device::{Device, HwPosition, PositionSource};
use crate::error::{DeviceError, Error, Result, Step};
use crate::layout::StreamLayout;
use crate::ring::RingView;
use crate::sys::mmap::{Mapping, Protection};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

const NAME: &str = "sim";

/// One endpoint of a simulated device: the ring and status page mapped
/// from the sim's memfds. Get one from [`super::SimDac::device`] in the
/// process that runs the DAC, or from `SimDevice::attach` with fds
/// received from it (see the module docs).
#[derive(Debug)]
pub struct SimDevice {
    layout: SimLayout,
    ring: RingView,
    _ring_map: Mapping,
    status: StatusPage,
    wake: Option<OwnedFd>,
    _fds: (OwnedFd, OwnedFd),
}

fn fd_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let st = nix::sys::stat::fstat(fd)?;
    u64::try_from(st.st_size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn bad(what: &str) -> Error {
    Error::Unsupported {
        device: NAME.to_owned(),
        what: what.to_owned(),
    }
}

/// Checks a layout received from elsewhere before it sizes any mapping.
pub(crate) fn validate(l: &StreamLayout) -> Result<()> {
    if l.channels == 0 || l.channels > 64 {
        return Err(bad("channel count out of range (1..=64)"));
    }
    if l.rate < 1000 || l.rate > 768_000 {
        return Err(bad("rate out of range (1000..=768000)"));
    }
    if l.buffer_size == 0 || l.buffer_size > 1 << 22 {
        return Err(bad("buffer size out of range (1..=4M frames)"));
    }
    if l.period_size == 0 || l.period_size > l.buffer_size {
        return Err(bad("period size must be in 1..=buffer size"));
    }
    if l.boundary < l.buffer_size || l.boundary.checked_rem(l.buffer_size) != Some(0) {
        return Err(bad("boundary must be a multiple of the buffer size"));
    }
    Ok(())
}

impl SimDevice {
    /// Maps a simulated device from its fds (as sent by the sim's owner)
    /// and the layout that came with them. Validates everything: sizes of
    /// the memfds against the layout, and that the status page is a live
    /// sim page.
    #[doc(hidden)] // sharing plumbing; SimFds/SimLayout are public with `testing`
    pub fn attach(fds: SimFds, layout: SimLayout) -> Result<SimDevice> {
        validate(&layout.stream)?;
        let SimFds { data, status, wake } = fds;
        let ring_bytes = layout.stream.ring_bytes();
        let sys = |step, e| Error::sys(NAME, step, e);
        let data_size = fd_size(data.as_fd()).map_err(|e| sys(Step::MapRing, e))?;
        if data_size < ring_bytes as u64 {
            return Err(bad("data fd is smaller than the layout's ring"));
        }
        let status_size = fd_size(status.as_fd()).map_err(|e| sys(Step::MapStatus, e))?;
        if status_size < PAGE_BYTES as u64 {
            return Err(bad("status fd is smaller than a page"));
        }
        // A sender that can still resize the memfds could truncate them
        // under our mappings and crash this process with SIGBUS.
        if !super::seal::size_sealed(data.as_fd()) || !super::seal::size_sealed(status.as_fd()) {
            return Err(bad(
                "the simulated device's memfds are not sealed against resizing \
                 (F_SEAL_SHRINK | F_SEAL_GROW): refusing to map them, since whoever \
                 sent them could truncate them and crash this process with SIGBUS",
            ));
        }
        let ring_map = Mapping::new(data.as_fd(), 0, ring_bytes, Protection::ReadWrite)
            .map_err(|e| sys(Step::MapRing, e))?;
        let status_map = Mapping::new(status.as_fd(), 0, PAGE_BYTES, Protection::ReadWrite)
            .map_err(|e| sys(Step::MapStatus, e))?;
        let page = StatusPage::new(status_map).ok_or_else(|| bad("status page too small"))?;
        if !page.is_initialised() {
            return Err(bad("status fd is not a running simulated device"));
        }
        // SAFETY: the mapping is `ring_bytes` long, read-write, and lives
        // in `_ring_map` as long as the view (both owned by SimDevice).
        let ring = unsafe { RingView::new(ring_map.as_non_null(), ring_bytes) };
        Ok(SimDevice {
            layout,
            ring,
            _ring_map: ring_map,
            status: page,
            wake,
            _fds: (data, status),
        })
    }

    /// The layout (with the batch flag) this endpoint was attached with.
    #[doc(hidden)] // sharing plumbing; SimFds/SimLayout are public with `testing`
    pub fn sim_layout(&self) -> SimLayout {
        self.layout
    }

    /// The DAC's real position now, without counting a refresh (for
    /// tests and tools that check where the writer is against the truth).
    pub fn real_position(&self) -> std::result::Result<HwPosition, DeviceError> {
        self.status.read_live()
    }

    /// Drains pending wake-ups from the wake pipe (non-blocking).
    fn ack_wake(&self) {
        if let Some(fd) = &self.wake {
            let mut buf = [0u8; 64];
            loop {
                // Non-blocking: EAGAIN (empty) ends the loop.
                match nix::unistd::read(fd, &mut buf) {
                    Ok(n) if n == buf.len() => {}
                    _ => break,
                }
            }
        }
    }
}

impl Device for SimDevice {
    fn layout(&self) -> StreamLayout {
        self.layout.stream
    }

    fn ring(&self) -> &RingView {
        &self.ring
    }

    /// The sim's HWSYNC: returns the DAC's real position and counts the
    /// refresh ([`super::SimStats::syncs`]); on a page that only moves on
    /// a refresh ([`super::PageUpdates::OnSync`]) also publishes it there.
    /// Acknowledges period wake-ups, so a poll on [`Device::poll_fd`]
    /// blocks until the next period.
    fn position(&mut self) -> std::result::Result<HwPosition, DeviceError> {
        self.ack_wake();
        self.status.count_sync();
        let live = self.status.read_live()?;
        if self.status.page_mode() == super::PageUpdates::OnSync.code() {
            let page = self.status.read()?;
            self.status.publish(&HwPosition {
                audio_tstamp_ns: page.audio_tstamp_ns,
                ..live
            });
        }
        Ok(live)
    }

    /// Reads the status page as the DAC last published it (no refresh;
    /// stale with [`super::PageUpdates::PerPeriod`] and `OnSync`). Also
    /// acknowledges period wake-ups.
    fn peek_position(&mut self) -> Option<std::result::Result<HwPosition, DeviceError>> {
        self.ack_wake();
        Some(self.status.read())
    }

    fn position_source(&self) -> PositionSource {
        PositionSource::Simulated
    }

    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake.as_ref().map(|f| f.as_fd())
    }

    fn is_batch(&self) -> bool {
        self.layout.batch
    }

    /// Publishes the write cursor to the DAC, which counts frames it
    /// plays that were never written (see [`super`]).
    fn commit(&mut self, appl_frames: u64) -> std::result::Result<(), DeviceError> {
        self.status
            .set_appl(appl_frames % self.layout.stream.boundary);
        Ok(())
    }

    /// Publishes the hole to the DAC, which counts its frames as
    /// underruns when it plays them (see [`super`]).
    fn mark_unwritten(&mut self, from: u64, to: u64) {
        let l = &self.layout.stream;
        let len = to.saturating_sub(from).min(l.buffer_size);
        self.status.set_hole(from % l.boundary, len);
    }

    fn commit_each_block(&self) -> bool {
        true
    }

    /// The ring memfd's inode: every endpoint of one sim shares it.
    fn ring_identity(&self) -> Option<crate::device::RingIdentity> {
        let st = nix::sys::stat::fstat(&self._fds.0).ok()?;
        Some(crate::device::RingIdentity::File {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

/// The writer that leaves lets the DAC go idle: frames played while no
/// writer holds the device are not underruns.
impl Drop for SimDevice {
    fn drop(&mut self) {
        self.status.release_appl();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PcmState;
    use crate::status::tests::{memfd, store_new};

    /// A copy of a test memfd made with sealing allowed, then sealed.
    fn sealed(src: OwnedFd) -> OwnedFd {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
        let fd = memfd_create(c"sealed", flags).unwrap();
        let len = fd_size(src.as_fd()).unwrap();
        nix::unistd::ftruncate(&fd, len as libc::off_t).unwrap();
        crate::sim::seal::seal_size(&fd).unwrap();
        fd
    }

    /// The simulated device reads its page with the one status-page
    /// reader, and an unknown state follows the one rule (it used to read
    /// as DISCONNECTED here).
    #[test]
    fn reads_its_page_with_the_one_reader_and_rejects_unknown_states() {
        let stream = StreamLayout {
            format: crate::Format::S16Le,
            channels: 2,
            rate: 48_000,
            period_size: 256,
            buffer_size: 1024,
            boundary: 1024 << 10,
        };
        let data = sealed(memfd(stream.ring_bytes() as u64));
        let status = sealed(memfd(PAGE_BYTES as u64));
        let map = Mapping::new(status.as_fd(), 0, PAGE_BYTES, Protection::ReadWrite).unwrap();
        let writer = StatusPage::new(map).unwrap();
        writer.publish(&HwPosition {
            state: PcmState::Running,
            hw_ptr: 300,
            tstamp_ns: 2_000_000_001,
            audio_tstamp_ns: 0,
        });
        let mut dev = SimDevice::attach(
            SimFds {
                data,
                status: status.try_clone().unwrap(),
                wake: None,
            },
            SimLayout {
                stream,
                batch: false,
            },
        )
        .unwrap();
        let pos = dev.peek_position().unwrap().unwrap();
        assert_eq!((pos.state, pos.hw_ptr), (PcmState::Running, 300));
        assert_eq!(pos.tstamp_ns, 2_000_000_001);
        let raw = Mapping::new(status.as_fd(), 0, PAGE_BYTES, Protection::ReadWrite).unwrap();
        store_new(&raw, 77, 300, (2, 1));
        assert_eq!(
            dev.peek_position(),
            Some(Err(DeviceError::UnknownState(77)))
        );
        // A refresh returns the live position (never published here:
        // state 0, OPEN) and is counted; reading the page is not.
        writer.publish_live(&HwPosition {
            state: PcmState::Running,
            hw_ptr: 310,
            tstamp_ns: 2_000_000_002,
            audio_tstamp_ns: 0,
        });
        assert_eq!(writer.syncs(), 0);
        assert_eq!(dev.position().map(|p| p.hw_ptr), Ok(310));
        assert_eq!(writer.syncs(), 1);
    }
}
