//! A restricted (BUFFER-mode) PCM fd, as a client receives it from a
//! broker: the data ring and the status page mapped through the fd, and the
//! hardware position read from the page, or from the `snd-pcm-anondup`
//! POSITION ioctl where the page cannot be mapped.

pub use crate::anondup::DupMode;

use crate::anondup::{position_ioctl, AnondupPosition};
use crate::device::{Device, HwPosition, PositionSource};
use crate::error::{DeviceError, Error, Result, Step};
use crate::layout::StreamLayout;
use crate::ring::RingView;
use crate::status::{page_size, ts_ns, RawStatus, StatusLayout, StatusView};
use crate::sys::abi::{
    SNDRV_PCM_IOCTL_HWSYNC, SNDRV_PCM_MMAP_OFFSET_DATA, SNDRV_PCM_MMAP_OFFSET_STATUS_NEW,
    SNDRV_PCM_MMAP_OFFSET_STATUS_OLD,
};
use crate::sys::ioctl::ioctl_none;
use crate::sys::mmap::{Mapping, Protection};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The name restricted devices carry in errors.
const NAME: &str = "restricted PCM";

mod path {
    /// How to obtain the position (a test hook: public with `testing`;
    /// [`super::RestrictedPcm::from_fd`] always takes `Auto`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum PositionPath {
        /// The status page if it can be mapped, else the POSITION ioctl.
        #[default]
        Auto,
        /// Always the POSITION ioctl (tests, or architectures without the page).
        Ioctl,
    }
}
testing_use!(path::PositionPath);

/// A restricted PCM: ring and position through a BUFFER fd.
#[derive(Debug)]
pub struct RestrictedPcm {
    layout: StreamLayout,
    ring: RingView,
    writable: bool,
    status: Option<(Mapping, StatusLayout)>,
    _ring_map: Mapping,
    fd: OwnedFd,
}

impl RestrictedPcm {
    /// Maps the ring of `fd` (`layout.ring_bytes()`, writable if the fd
    /// allows it, read-only otherwise, e.g. for capture) and the status page
    /// (new offset, then old), falling back to the POSITION ioctl.
    pub fn from_fd(fd: OwnedFd, layout: StreamLayout) -> Result<RestrictedPcm> {
        RestrictedPcm::with_path(fd, layout, PositionPath::Auto)
    }

    /// Like [`RestrictedPcm::from_fd`], choosing the position path (a test
    /// hook: `PositionPath` is public with the `testing` feature).
    #[doc(hidden)]
    pub fn with_path(
        fd: OwnedFd,
        layout: StreamLayout,
        path: PositionPath,
    ) -> Result<RestrictedPcm> {
        let bytes = layout.ring_bytes();
        if bytes == 0 {
            return Err(Error::Unsupported {
                device: NAME.to_owned(),
                what: format!("an empty ring ({layout:?})"),
            });
        }
        let (ring_map, writable) = map_ring(fd.as_fd(), bytes)?;
        // SAFETY: the mapping is `bytes` long and lives in `self` as long
        // as the view (fields drop together; the view is never handed out
        // beyond `&self`).
        let ring = unsafe { RingView::new(ring_map.as_non_null(), bytes) };
        let status = match path {
            PositionPath::Auto => map_status(fd.as_fd()),
            PositionPath::Ioctl => None,
        };
        let pcm = RestrictedPcm {
            layout,
            ring,
            writable,
            status,
            _ring_map: ring_map,
            fd,
        };
        // Proves the position path works before anyone relies on it.
        let mut probe = pcm;
        probe.position()?;
        Ok(probe)
    }

    /// Whether the ring was mapped writable (playback).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The restricted fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads the position without refreshing it first (no system call when
    /// the status page is mapped).
    pub fn peek_position(&self) -> std::result::Result<HwPosition, DeviceError> {
        match &self.status {
            Some((map, layout)) => StatusView::new(map, *layout)
                .ok_or(DeviceError::Sys {
                    step: Step::Position,
                    errno: libc::EFAULT,
                })?
                .position(),
            None => self.ioctl_position(),
        }
    }

    fn ioctl_position(&self) -> std::result::Result<HwPosition, DeviceError> {
        let pos =
            position_ioctl(self.fd.as_fd()).map_err(|e| DeviceError::sys(Step::Position, &e))?;
        from_ioctl(&pos).position()
    }
}

impl Device for RestrictedPcm {
    fn layout(&self) -> StreamLayout {
        self.layout
    }

    fn ring(&self) -> &RingView {
        &self.ring
    }

    fn position(&mut self) -> std::result::Result<HwPosition, DeviceError> {
        match &self.status {
            Some(_) => {
                // A stopped stream refuses HWSYNC (EBADFD, EPIPE...): the
                // state on the page says so, the error adds nothing.
                let _ = ioctl_none(self.fd.as_fd(), SNDRV_PCM_IOCTL_HWSYNC);
                RestrictedPcm::peek_position(self)
            }
            None => self.ioctl_position(),
        }
    }

    fn peek_position(&mut self) -> Option<std::result::Result<HwPosition, DeviceError>> {
        self.status.as_ref()?;
        Some(RestrictedPcm::peek_position(self))
    }

    fn position_source(&self) -> PositionSource {
        match self.status {
            Some(_) => PositionSource::StatusPage,
            None => PositionSource::PositionIoctl,
        }
    }

    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }
}

/// Maps the data ring writable, or read-only if the fd refuses writes.
fn map_ring(fd: BorrowedFd<'_>, bytes: usize) -> Result<(Mapping, bool)> {
    match Mapping::new(fd, SNDRV_PCM_MMAP_OFFSET_DATA, bytes, Protection::ReadWrite) {
        Ok(m) => Ok((m, true)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
            Mapping::new(fd, SNDRV_PCM_MMAP_OFFSET_DATA, bytes, Protection::ReadOnly)
                .map(|m| (m, false))
                .map_err(|e| Error::sys(NAME, Step::MapRing, e))
        }
        Err(e) => Err(Error::sys(NAME, Step::MapRing, e)),
    }
}

/// Maps the status page read-only: new layout first, then old.
fn map_status(fd: BorrowedFd<'_>) -> Option<(Mapping, StatusLayout)> {
    let page = page_size();
    [
        (SNDRV_PCM_MMAP_OFFSET_STATUS_NEW, StatusLayout::New),
        (SNDRV_PCM_MMAP_OFFSET_STATUS_OLD, StatusLayout::Old),
    ]
    .into_iter()
    .find_map(|(offset, layout)| {
        Mapping::new(fd, offset, page, Protection::ReadOnly)
            .ok()
            .map(|m| (m, layout))
    })
}

/// The POSITION ioctl's answer as a status reading.
fn from_ioctl(p: &AnondupPosition) -> RawStatus {
    RawStatus {
        state: p.state,
        hw_ptr: p.hw_ptr,
        tstamp_ns: ts_ns(p.tstamp_sec, p.tstamp_nsec),
        audio_tstamp_ns: ts_ns(p.audio_tstamp_sec, p.audio_tstamp_nsec),
        suspended_state: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PcmState;
    use crate::status::tests::{memfd, store_new};
    use crate::sys::abi::SNDRV_PCM_MMAP_OFFSET_STATUS_NEW;

    fn layout() -> StreamLayout {
        StreamLayout {
            format: crate::Format::S16Le,
            channels: 2,
            rate: 48_000,
            period_size: 256,
            buffer_size: 1024,
            boundary: 1024 << 10,
        }
    }

    /// A sparse memfd stands in for a BUFFER fd: the ring at offset 0 and
    /// the time64 status page at 0x82000000 (HWSYNC fails with ENOTTY,
    /// which the device ignores as it does on a stopped stream).
    #[test]
    fn reads_its_status_page_with_the_one_reader_and_rejects_unknown_states() {
        let page = crate::status::page_size();
        let fd = memfd(SNDRV_PCM_MMAP_OFFSET_STATUS_NEW + page as u64);
        let status = Mapping::new(
            fd.as_fd(),
            SNDRV_PCM_MMAP_OFFSET_STATUS_NEW,
            page,
            Protection::ReadWrite,
        )
        .unwrap();
        store_new(&status, 3, 4321, (5, 6));
        let dup = fd.try_clone().unwrap();
        let mut pcm = RestrictedPcm::from_fd(dup, layout()).unwrap();
        assert_eq!(pcm.position_source(), PositionSource::StatusPage);
        let pos = pcm.position().unwrap();
        assert_eq!((pos.state, pos.hw_ptr), (PcmState::Running, 4321));
        assert_eq!(pos.tstamp_ns, 5_000_000_006);
        store_new(&status, 99, 4321, (5, 6));
        assert_eq!(pcm.position(), Err(DeviceError::UnknownState(99)));
        assert_eq!(pcm.peek_position(), Err(DeviceError::UnknownState(99)));
    }

    #[test]
    fn ioctl_readings_follow_the_same_rules() {
        let p = AnondupPosition {
            state: 99,
            hw_ptr: 5,
            tstamp_sec: -1,
            tstamp_nsec: 5,
            ..AnondupPosition::default()
        };
        assert_eq!(
            from_ioctl(&p).position(),
            Err(DeviceError::UnknownState(99))
        );
        let ok = from_ioctl(&AnondupPosition { state: 3, ..p })
            .position()
            .unwrap();
        assert_eq!(
            (ok.state, ok.hw_ptr, ok.tstamp_ns),
            (PcmState::Running, 5, 0)
        );
    }
}
