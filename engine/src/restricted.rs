//! A restricted (BUFFER-mode) PCM fd, as a client receives it from a
//! broker: the data ring and the status page mapped through the fd, and the
//! hardware position read from the page, or from the `snd-pcm-anondup`
//! POSITION ioctl where the page cannot be mapped.

use crate::anondup::{position_ioctl, AnondupPosition};
use crate::device::{Device, HwPosition, PcmState, PositionSource};
use crate::error::{DeviceError, Error, Result, Step};
use crate::layout::StreamLayout;
use crate::ring::RingView;
use crate::sys::abi::{
    SndPcmMmapStatus, SndPcmMmapStatus64, SNDRV_PCM_IOCTL_HWSYNC, SNDRV_PCM_MMAP_OFFSET_DATA,
    SNDRV_PCM_MMAP_OFFSET_STATUS_NEW, SNDRV_PCM_MMAP_OFFSET_STATUS_OLD,
};
use crate::sys::ioctl::ioctl_none;
use crate::sys::mmap::{Mapping, Protection};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::addr_of;

/// The name restricted devices carry in errors.
const NAME: &str = "restricted PCM";

/// How many times a torn status-page read is retried before giving up.
const MAX_READS: usize = 16;

/// How to obtain the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionPath {
    /// The status page if it can be mapped, else the POSITION ioctl.
    #[default]
    Auto,
    /// Always the POSITION ioctl (tests, or architectures without the page).
    Ioctl,
}

/// Which status page layout is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusLayout {
    /// Offset 0x82000000, `struct __snd_pcm_mmap_status64`.
    New,
    /// Offset 0x80000000, `struct snd_pcm_mmap_status`.
    Old,
}

/// One raw reading of the status fields, compared to detect tearing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawReading {
    state: i32,
    hw_ptr: u64,
    tstamp: (i64, i64),
    audio_tstamp: (i64, i64),
}

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

    /// Like [`RestrictedPcm::from_fd`], choosing the position path.
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
            Some((map, layout)) => to_position(read_page(map, *layout)?),
            None => self.ioctl_position(),
        }
    }

    fn ioctl_position(&self) -> std::result::Result<HwPosition, DeviceError> {
        let pos =
            position_ioctl(self.fd.as_fd()).map_err(|e| DeviceError::sys(Step::Position, &e))?;
        to_position(from_ioctl(&pos))
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
                self.peek_position()
            }
            None => self.ioctl_position(),
        }
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

fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096).max(4096)
}

/// Reads the page until two consecutive readings agree.
fn read_page(map: &Mapping, layout: StatusLayout) -> std::result::Result<RawReading, DeviceError> {
    let mut last = read_once(map, layout);
    for _ in 0..MAX_READS {
        let next = read_once(map, layout);
        if next == last {
            return Ok(next);
        }
        last = next;
    }
    // The page kept changing.
    Err(DeviceError::Sys {
        step: Step::Position,
        errno: libc::EAGAIN,
    })
}

// The casts widen `c_ulong`/`time_t`, which are already 64-bit on 64-bit
// targets only.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn read_once(map: &Mapping, layout: StatusLayout) -> RawReading {
    let base = map.as_ptr();
    match layout {
        StatusLayout::New => {
            let s = base.cast::<SndPcmMmapStatus64>().cast_const();
            // SAFETY: the page is mapped read-only for the life of `map`,
            // is page-aligned and at least one page long, which holds the
            // struct; volatile reads because the kernel updates it.
            unsafe {
                RawReading {
                    state: addr_of!((*s).state).read_volatile(),
                    hw_ptr: addr_of!((*s).hw_ptr).read_volatile() as u64,
                    tstamp: (
                        addr_of!((*s).tstamp.tv_sec).read_volatile(),
                        addr_of!((*s).tstamp.tv_nsec).read_volatile(),
                    ),
                    audio_tstamp: (
                        addr_of!((*s).audio_tstamp.tv_sec).read_volatile(),
                        addr_of!((*s).audio_tstamp.tv_nsec).read_volatile(),
                    ),
                }
            }
        }
        StatusLayout::Old => {
            let s = base.cast::<SndPcmMmapStatus>().cast_const();
            // SAFETY: as above, for the legacy layout.
            unsafe {
                RawReading {
                    state: addr_of!((*s).state).read_volatile(),
                    hw_ptr: addr_of!((*s).hw_ptr).read_volatile() as u64,
                    tstamp: (
                        i64::from(addr_of!((*s).tstamp.tv_sec).read_volatile()),
                        i64::from(addr_of!((*s).tstamp.tv_nsec).read_volatile()),
                    ),
                    audio_tstamp: (
                        i64::from(addr_of!((*s).audio_tstamp.tv_sec).read_volatile()),
                        i64::from(addr_of!((*s).audio_tstamp.tv_nsec).read_volatile()),
                    ),
                }
            }
        }
    }
}

fn from_ioctl(p: &AnondupPosition) -> RawReading {
    RawReading {
        state: p.state,
        hw_ptr: p.hw_ptr,
        tstamp: (p.tstamp_sec, p.tstamp_nsec),
        audio_tstamp: (p.audio_tstamp_sec, p.audio_tstamp_nsec),
    }
}

/// Nanoseconds of a (sec, nsec) pair; negative times read as 0.
fn to_ns((sec, nsec): (i64, i64)) -> u64 {
    let sec = u64::try_from(sec).unwrap_or(0);
    let nsec = u64::try_from(nsec).unwrap_or(0);
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn to_position(r: RawReading) -> std::result::Result<HwPosition, DeviceError> {
    let state = PcmState::from_raw(r.state).ok_or(DeviceError::UnknownState(r.state))?;
    Ok(HwPosition {
        state,
        hw_ptr: r.hw_ptr,
        tstamp_ns: to_ns(r.tstamp),
        audio_tstamp_ns: to_ns(r.audio_tstamp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_widen_and_clamp() {
        assert_eq!(to_ns((2, 5)), 2_000_000_005);
        assert_eq!(to_ns((-1, 5)), 5);
        assert_eq!(to_ns((i64::MAX, 0)), u64::MAX);
    }

    #[test]
    fn unknown_state_is_an_error() {
        let r = RawReading {
            state: 99,
            hw_ptr: 0,
            tstamp: (0, 0),
            audio_tstamp: (0, 0),
        };
        assert_eq!(to_position(r), Err(DeviceError::UnknownState(99)));
        let ok = to_position(RawReading { state: 3, ..r }).unwrap();
        assert_eq!(ok.state, PcmState::Running);
    }

    #[test]
    fn status_page_read_of_a_memfd_is_consistent() {
        // A memfd stands in for the kernel's page: the reader must return
        // exactly what is stored there.
        // SAFETY: the name is NUL-terminated; memfd_create has no other inputs.
        let raw = unsafe { libc::memfd_create(c"status".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: memfd_create returned a new fd we own.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        let page = page_size();
        // SAFETY: fd is a valid memfd; ftruncate only resizes it.
        assert_eq!(unsafe { libc::ftruncate(raw, page as libc::off_t) }, 0);
        let rw = Mapping::new(fd.as_fd(), 0, page, Protection::ReadWrite).unwrap();
        let s = rw.as_ptr().cast::<SndPcmMmapStatus64>();
        // SAFETY: the mapping is a page long and page aligned; nobody else
        // touches it during the test.
        unsafe {
            (*s).state = 3;
            (*s).hw_ptr = 12345;
            (*s).tstamp.tv_sec = 7;
            (*s).tstamp.tv_nsec = 9;
        }
        let ro = Mapping::new(fd.as_fd(), 0, page, Protection::ReadOnly).unwrap();
        let pos = to_position(read_page(&ro, StatusLayout::New).unwrap()).unwrap();
        assert_eq!(pos.state, PcmState::Running);
        assert_eq!(pos.hw_ptr, 12345);
        assert_eq!(pos.tstamp_ns, 7_000_000_009);
    }
}
