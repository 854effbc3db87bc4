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
/// process that runs the DAC, or from [`SimDevice::attach`] with fds
/// received from it.
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
    pub fn sim_layout(&self) -> SimLayout {
        self.layout
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

    /// Reads the status page; also acknowledges period wake-ups, so a
    /// poll on [`Device::poll_fd`] blocks until the next period.
    fn position(&mut self) -> std::result::Result<HwPosition, DeviceError> {
        self.ack_wake();
        self.status.read()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PcmState;
    use crate::status::tests::{memfd, store_new};

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
        let data = memfd(stream.ring_bytes() as u64);
        let status = memfd(PAGE_BYTES as u64);
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
        let pos = dev.position().unwrap();
        assert_eq!((pos.state, pos.hw_ptr), (PcmState::Running, 300));
        assert_eq!(pos.tstamp_ns, 2_000_000_001);
        let raw = Mapping::new(status.as_fd(), 0, PAGE_BYTES, Protection::ReadWrite).unwrap();
        store_new(&raw, 77, 300, (2, 1));
        assert_eq!(dev.position(), Err(DeviceError::UnknownState(77)));
    }
}
