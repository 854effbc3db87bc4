//! The one status-page reader, used by every device: the full PCM
//! ([`crate::pcm`]), the restricted PCM ([`crate::restricted`]) and the
//! simulated device ([`crate::sim`], whose page has the kernel's time64
//! layout). It also holds the one rule for stream states the engine does
//! not know ([`RawStatus::position`]) and the one `page_size`.
//!
//! The kernel (or the simulated DAC) updates the page while we read it, so
//! a reading can tear across fields: the reader re-reads until two
//! consecutive readings agree, with an acquire fence between them, at most
//! [`MAX_READS`] times, and then reports `EAGAIN`. Every field is read with
//! an atomic load of its own width, never through a reference to the
//! struct.

use crate::device::{HwPosition, PcmState};
use crate::error::DeviceError;
use crate::sys::abi::{SndPcmMmapStatus, SndPcmMmapStatus64, Timespec, Timespec64};
use crate::sys::mmap::Mapping;
use std::io;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{fence, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// How many readings the reader takes at most before giving up on a page
/// that keeps changing.
pub(crate) const MAX_READS: usize = 64;

/// Which status page layout a mapping holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusLayout {
    /// Offset 0x82000000, `struct __snd_pcm_mmap_status64` (also the
    /// simulated device's page).
    New,
    /// Offset 0x80000000, `struct snd_pcm_mmap_status`.
    Old,
}

/// One consistent reading of the status, with the state still raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStatus {
    /// `SNDRV_PCM_STATE_*`.
    pub state: i32,
    /// hw_ptr, 0..boundary.
    pub hw_ptr: u64,
    /// Timestamp of the last hw_ptr update (ns, the configured clock).
    pub tstamp_ns: u64,
    /// Audio timestamp (ns).
    pub audio_tstamp_ns: u64,
    /// State before a suspend.
    pub suspended_state: i32,
}

impl RawStatus {
    /// The typed position. **The one rule for unknown states**: a state
    /// number ALSA does not define is an error
    /// ([`DeviceError::UnknownState`]), whatever the device; the engine
    /// retries a few readings and then stops with it.
    pub fn position(&self) -> Result<HwPosition, DeviceError> {
        let state = PcmState::from_raw(self.state).ok_or(DeviceError::UnknownState(self.state))?;
        Ok(HwPosition {
            state,
            hw_ptr: self.hw_ptr,
            tstamp_ns: self.tstamp_ns,
            audio_tstamp_ns: self.audio_tstamp_ns,
        })
    }
}

/// Nanoseconds of a (sec, nsec) pair; negative times read as 0.
pub(crate) fn ts_ns(sec: i64, nsec: i64) -> u64 {
    let (Ok(sec), Ok(nsec)) = (u64::try_from(sec), u64::try_from(nsec)) else {
        return 0;
    };
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The system page size (4096 if it cannot be read).
pub(crate) fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| usize::try_from(p).ok())
        .filter(|&p| p > 0)
        .unwrap_or(4096)
}

/// Field offsets and widths of one layout.
#[derive(Debug)]
struct Fields {
    state: usize,
    hw_ptr: (usize, usize),
    tstamp: (usize, usize, usize),
    audio_tstamp: (usize, usize, usize),
    suspended_state: usize,
    size: usize,
}

const NEW: Fields = Fields {
    state: offset_of!(SndPcmMmapStatus64, state),
    hw_ptr: (
        offset_of!(SndPcmMmapStatus64, hw_ptr),
        size_of::<crate::sys::abi::Uframes>(),
    ),
    tstamp: (
        offset_of!(SndPcmMmapStatus64, tstamp) + offset_of!(Timespec64, tv_sec),
        offset_of!(SndPcmMmapStatus64, tstamp) + offset_of!(Timespec64, tv_nsec),
        size_of::<i64>(),
    ),
    audio_tstamp: (
        offset_of!(SndPcmMmapStatus64, audio_tstamp) + offset_of!(Timespec64, tv_sec),
        offset_of!(SndPcmMmapStatus64, audio_tstamp) + offset_of!(Timespec64, tv_nsec),
        size_of::<i64>(),
    ),
    suspended_state: offset_of!(SndPcmMmapStatus64, suspended_state),
    size: size_of::<SndPcmMmapStatus64>(),
};

const OLD: Fields = Fields {
    state: offset_of!(SndPcmMmapStatus, state),
    hw_ptr: (
        offset_of!(SndPcmMmapStatus, hw_ptr),
        size_of::<crate::sys::abi::Uframes>(),
    ),
    tstamp: (
        offset_of!(SndPcmMmapStatus, tstamp) + offset_of!(Timespec, tv_sec),
        offset_of!(SndPcmMmapStatus, tstamp) + offset_of!(Timespec, tv_nsec),
        size_of::<libc::c_long>(),
    ),
    audio_tstamp: (
        offset_of!(SndPcmMmapStatus, audio_tstamp) + offset_of!(Timespec, tv_sec),
        offset_of!(SndPcmMmapStatus, audio_tstamp) + offset_of!(Timespec, tv_nsec),
        size_of::<libc::c_long>(),
    ),
    suspended_state: offset_of!(SndPcmMmapStatus, suspended_state),
    size: size_of::<SndPcmMmapStatus>(),
};

/// Whether `off` is a multiple of the power of two `width`.
const fn aligned(off: usize, width: usize) -> bool {
    off & (width - 1) == 0
}

// Every field is naturally aligned in both layouts (what the atomic loads
// below need, on a page-aligned mapping), and 4 or 8 bytes wide.
const _: () = {
    let f = [NEW, OLD];
    let mut i = 0;
    while i < 2 {
        assert!(aligned(f[i].state, 4) && aligned(f[i].suspended_state, 4));
        assert!(f[i].hw_ptr.1 == 4 || f[i].hw_ptr.1 == 8);
        assert!(f[i].tstamp.2 == 4 || f[i].tstamp.2 == 8);
        assert!(aligned(f[i].hw_ptr.0, f[i].hw_ptr.1));
        assert!(aligned(f[i].tstamp.0, f[i].tstamp.2) && aligned(f[i].tstamp.1, f[i].tstamp.2));
        assert!(aligned(f[i].audio_tstamp.0, f[i].audio_tstamp.2));
        assert!(aligned(f[i].audio_tstamp.1, f[i].audio_tstamp.2));
        i += 1;
    }
};

/// A status page mapping and its layout.
#[derive(Debug)]
pub(crate) struct StatusView<'a> {
    map: &'a Mapping,
    fields: &'static Fields,
}

impl<'a> StatusView<'a> {
    /// A view of `map` holding a status page in `layout`; `None` if the
    /// mapping is too short for it.
    pub(crate) fn new(map: &'a Mapping, layout: StatusLayout) -> Option<StatusView<'a>> {
        let fields = match layout {
            StatusLayout::New => &NEW,
            StatusLayout::Old => &OLD,
        };
        (map.len() >= fields.size).then_some(StatusView { map, fields })
    }

    /// Loads the `width`-byte integer at `off`, sign-extended.
    fn load_i(&self, off: usize, width: usize) -> i64 {
        let p = self.map.as_ptr().wrapping_add(off);
        if width == 8 {
            // SAFETY: `off + 8 <= size <= map.len()` (checked in `new`),
            // `off` is 8-aligned (checked at compile time) on a
            // page-aligned mapping that lives as long as `self`; every
            // party accesses the page with single loads and stores of the
            // field's width, so an atomic load of it is sound.
            unsafe { (*p.cast::<AtomicI64>()).load(Ordering::Relaxed) }
        } else {
            // SAFETY: as above, with 4 bytes and 4-alignment.
            i64::from(unsafe { (*p.cast::<AtomicI32>()).load(Ordering::Relaxed) })
        }
    }

    /// Loads the `width`-byte unsigned integer at `off`.
    fn load_u(&self, off: usize, width: usize) -> u64 {
        let p = self.map.as_ptr().wrapping_add(off);
        if width == 8 {
            // SAFETY: as in `load_i`.
            unsafe { (*p.cast::<AtomicU64>()).load(Ordering::Relaxed) }
        } else {
            // SAFETY: as in `load_i`, with 4 bytes and 4-alignment.
            u64::from(unsafe { (*p.cast::<AtomicU32>()).load(Ordering::Relaxed) })
        }
    }

    fn read_once(&self) -> RawStatus {
        let f = self.fields;
        let ts = |(s, n, w): (usize, usize, usize)| ts_ns(self.load_i(s, w), self.load_i(n, w));
        RawStatus {
            state: self.load_i(f.state, 4) as i32,
            hw_ptr: self.load_u(f.hw_ptr.0, f.hw_ptr.1),
            tstamp_ns: ts(f.tstamp),
            audio_tstamp_ns: ts(f.audio_tstamp),
            suspended_state: self.load_i(f.suspended_state, 4) as i32,
        }
    }

    /// One consistent reading: two consecutive readings that agree, or
    /// `EAGAIN` after [`MAX_READS`] readings (no allocation either way).
    pub(crate) fn read(&self) -> io::Result<RawStatus> {
        let mut last = self.read_once();
        for _ in 1..MAX_READS {
            fence(Ordering::Acquire);
            let now = self.read_once();
            if now == last {
                return Ok(now);
            }
            last = now;
        }
        Err(io::Error::from_raw_os_error(libc::EAGAIN))
    }

    /// [`StatusView::read`], typed by [`RawStatus::position`].
    pub(crate) fn position(&self) -> Result<HwPosition, DeviceError> {
        self.read()
            .map_err(|e| DeviceError::sys(crate::Step::Position, &e))?
            .position()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sys::mmap::Protection;
    use std::os::fd::{AsFd, OwnedFd};

    /// A memfd of `len` bytes standing in for a kernel page.
    pub(crate) fn memfd(len: u64) -> OwnedFd {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let fd = memfd_create(c"status", MFdFlags::MFD_CLOEXEC).unwrap();
        nix::unistd::ftruncate(&fd, len as libc::off_t).unwrap();
        fd
    }

    /// Stores a time64 status at the start of `map` (a writable mapping).
    pub(crate) fn store_new(map: &Mapping, state: i32, hw_ptr: u64, tstamp: (i64, i64)) {
        let s = map.as_ptr().cast::<SndPcmMmapStatus64>();
        // SAFETY: the mapping is at least a page long and page aligned;
        // nobody reads it concurrently in the tests that call this.
        unsafe {
            (*s).state = state;
            (*s).hw_ptr = hw_ptr as crate::sys::abi::Uframes;
            (*s).tstamp.tv_sec = tstamp.0;
            (*s).tstamp.tv_nsec = tstamp.1;
        }
    }

    #[test]
    fn reads_the_time64_layout() {
        let fd = memfd(4096);
        let rw = Mapping::new(fd.as_fd(), 0, 4096, Protection::ReadWrite).unwrap();
        store_new(&rw, 3, 12345, (7, 9));
        let ro = Mapping::new(fd.as_fd(), 0, 4096, Protection::ReadOnly).unwrap();
        let view = StatusView::new(&ro, StatusLayout::New).unwrap();
        let pos = view.position().unwrap();
        assert_eq!(pos.state, PcmState::Running);
        assert_eq!(pos.hw_ptr, 12345);
        assert_eq!(pos.tstamp_ns, 7_000_000_009);
    }

    #[test]
    fn reads_the_old_layout() {
        let fd = memfd(4096);
        let rw = Mapping::new(fd.as_fd(), 0, 4096, Protection::ReadWrite).unwrap();
        let s = rw.as_ptr().cast::<SndPcmMmapStatus>();
        // SAFETY: page-long, page-aligned, single-threaded test.
        unsafe {
            (*s).state = 6;
            (*s).hw_ptr = 777;
            (*s).tstamp.tv_sec = 1;
            (*s).tstamp.tv_nsec = 2;
        }
        let view = StatusView::new(&rw, StatusLayout::Old).unwrap();
        let pos = view.position().unwrap();
        assert_eq!(pos.state, PcmState::Paused);
        assert_eq!(pos.hw_ptr, 777);
        assert_eq!(pos.tstamp_ns, 1_000_000_002);
    }

    #[test]
    fn unknown_state_is_an_error_with_the_number() {
        let raw = RawStatus {
            state: 99,
            hw_ptr: 0,
            tstamp_ns: 0,
            audio_tstamp_ns: 0,
            suspended_state: 0,
        };
        assert_eq!(raw.position(), Err(DeviceError::UnknownState(99)));
        assert_eq!(
            RawStatus { state: -1, ..raw }.position(),
            Err(DeviceError::UnknownState(-1))
        );
        let ok = RawStatus { state: 3, ..raw }.position().unwrap();
        assert_eq!(ok.state, PcmState::Running);
    }

    #[test]
    fn timestamps_widen_and_clamp() {
        assert_eq!(ts_ns(2, 5), 2_000_000_005);
        assert_eq!(ts_ns(-1, 5), 0);
        assert_eq!(ts_ns(5, -1), 0);
        assert_eq!(ts_ns(i64::MAX, 0), u64::MAX);
    }

    #[test]
    fn a_short_mapping_has_no_view() {
        let fd = memfd(4096);
        let m = Mapping::new(fd.as_fd(), 0, 16, Protection::ReadOnly).unwrap();
        assert!(StatusView::new(&m, StatusLayout::New).is_none());
    }

    #[test]
    fn page_size_is_a_power_of_two_of_at_least_4k() {
        let p = page_size();
        assert!(p >= 4096 && p.is_power_of_two(), "{p}");
    }
}
