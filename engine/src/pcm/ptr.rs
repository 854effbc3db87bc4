//! How the stream's pointers travel: the mapped status and control pages
//! (time64 offsets), or the SYNC_PTR ioctl where they cannot be mapped.

use crate::status::{page_size, ts_ns, StatusLayout, StatusView};
use crate::sys::abi::*;
use crate::sys::ioctl::{ioctl_arg, ioctl_none};
use crate::sys::mmap::{Mapping, Protection};
use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::{addr_of, addr_of_mut};
use std::sync::atomic::{fence, Ordering};

/// Where the status (state, hw_ptr, timestamps) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPath {
    /// The status page, mapped read-only at 0x82000000.
    Mapped,
    /// SYNC_PTR ioctls.
    SyncPtr,
}

/// How appl_ptr reaches the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlPath {
    /// The control page, mapped read-write at 0x83000000.
    Mapped,
    /// SYNC_PTR ioctls.
    SyncPtr,
}

/// Why the pages were not mapped (for diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Both pages are mapped.
    None,
    /// The configuration asked for SYNC_PTR.
    Forced,
    /// The driver needs explicit sync (INFO_EXPLICIT_SYNC).
    ExplicitSync,
    /// The driver needs each appl_ptr move synced (INFO_SYNC_APPLPTR):
    /// status mapped, control by ioctl.
    SyncApplPtr,
    /// The kernel refused the mapping with this errno (ENXIO on
    /// architectures without coherent status pages, EPERM, EINVAL).
    Refused(i32),
}

pub use crate::status::RawStatus;

/// The status as SYNC_PTR returns it (the time64 struct).
fn from_sync_ptr(s: &SndPcmMmapStatus64) -> RawStatus {
    RawStatus {
        state: s.state,
        hw_ptr: uframes(s.hw_ptr),
        tstamp_ns: ts_ns(s.tstamp.tv_sec, s.tstamp.tv_nsec),
        audio_tstamp_ns: ts_ns(s.audio_tstamp.tv_sec, s.audio_tstamp.tv_nsec),
        suspended_state: s.suspended_state,
    }
}

/// The pointer exchange of one open PCM.
#[derive(Debug)]
pub struct Pointers {
    status: Option<Mapping>,
    control: Option<Mapping>,
    fallback: Fallback,
    /// avail_min as last installed (SYNC_PTR writes it back unchanged).
    avail_min: u64,
}

fn refused(e: &io::Error) -> Option<i32> {
    match e.raw_os_error() {
        Some(n @ (libc::ENXIO | libc::EPERM | libc::EINVAL | libc::EACCES | libc::ENODEV)) => {
            Some(n)
        }
        _ => None,
    }
}

impl Pointers {
    /// Maps the status and control pages where the kernel and driver allow
    /// it, else falls back to SYNC_PTR. Send USER_PVERSION before this.
    /// Errors only for failures other than a refused mapping.
    pub fn setup(
        fd: BorrowedFd<'_>,
        info: u32,
        force_sync_ptr: bool,
        avail_min: u64,
    ) -> Result<Pointers, (crate::Step, io::Error)> {
        let mut p = Pointers {
            status: None,
            control: None,
            fallback: Fallback::None,
            avail_min,
        };
        if force_sync_ptr {
            p.fallback = Fallback::Forced;
            return Ok(p);
        }
        if info & SNDRV_PCM_INFO_EXPLICIT_SYNC != 0 {
            p.fallback = Fallback::ExplicitSync;
            return Ok(p);
        }
        let page = page_size();
        match Mapping::new(
            fd,
            SNDRV_PCM_MMAP_OFFSET_STATUS_NEW,
            page,
            Protection::ReadOnly,
        ) {
            Ok(m) => p.status = Some(m),
            Err(e) => match refused(&e) {
                Some(n) => {
                    p.fallback = Fallback::Refused(n);
                    return Ok(p);
                }
                None => return Err((crate::Step::MapStatus, e)),
            },
        }
        if info & SNDRV_PCM_INFO_SYNC_APPLPTR != 0 {
            p.fallback = Fallback::SyncApplPtr;
            return Ok(p);
        }
        match Mapping::new(
            fd,
            SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW,
            page,
            Protection::ReadWrite,
        ) {
            Ok(m) => p.control = Some(m),
            Err(e) => match refused(&e) {
                Some(n) => p.fallback = Fallback::Refused(n),
                None => return Err((crate::Step::MapControl, e)),
            },
        }
        Ok(p)
    }

    /// The status path in use.
    pub fn status_path(&self) -> StatusPath {
        if self.status.is_some() {
            StatusPath::Mapped
        } else {
            StatusPath::SyncPtr
        }
    }

    /// The control path in use.
    pub fn control_path(&self) -> ControlPath {
        if self.control.is_some() {
            ControlPath::Mapped
        } else {
            ControlPath::SyncPtr
        }
    }

    /// Why a page is not mapped.
    pub fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// Reads the mapped status page (no ioctl) with the one status-page
    /// reader ([`crate::status`]). `None` if the page is not mapped;
    /// `EAGAIN` if it kept changing.
    pub fn read_status_page(&self) -> Option<io::Result<RawStatus>> {
        let m = self.status.as_ref()?;
        Some(StatusView::new(m, StatusLayout::New).map_or_else(
            || Err(io::Error::from_raw_os_error(libc::EFAULT)),
            |v| v.read(),
        ))
    }

    fn sync_ptr(&self, fd: BorrowedFd<'_>, flags: u32, appl: u64) -> io::Result<SndPcmSyncPtr64> {
        let mut sp = SndPcmSyncPtr64::zeroed();
        sp.flags = flags;
        sp.c.control = SndPcmMmapControl64 {
            appl_ptr: Uframes::try_from(appl).unwrap_or(0),
            avail_min: Uframes::try_from(self.avail_min).unwrap_or(Uframes::MAX),
            pad4: Default::default(),
        };
        // SAFETY: SYNC_PTR64 transfers a `__snd_pcm_sync_ptr64`, which
        // SndPcmSyncPtr64 mirrors (checked by tests/abi_layout.rs).
        unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_SYNC_PTR64, &mut sp)? };
        Ok(sp)
    }

    /// Reads everything through SYNC_PTR without changing the kernel's
    /// appl_ptr or avail_min; with `hwsync`, refreshes hw_ptr first where
    /// the state allows it.
    pub fn sync_ptr_read(&self, fd: BorrowedFd<'_>, hwsync: bool) -> io::Result<(RawStatus, u64)> {
        let read_flags = SNDRV_PCM_SYNC_PTR_APPL | SNDRV_PCM_SYNC_PTR_AVAIL_MIN;
        let sp = if hwsync {
            match self.sync_ptr(fd, read_flags | SNDRV_PCM_SYNC_PTR_HWSYNC, 0) {
                // Not running (EBADFD) or in xrun (EPIPE): no hwsync possible.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::EBADFD)) => {
                    self.sync_ptr(fd, read_flags, 0)?
                }
                r => r?,
            }
        } else {
            self.sync_ptr(fd, read_flags, 0)?
        };
        // SAFETY: the union halves were written by the kernel as the
        // status and control structs; every bit pattern is valid for them.
        let (st, ctl) = unsafe { (sp.s.status, sp.c.control) };
        Ok((from_sync_ptr(&st), uframes(ctl.appl_ptr)))
    }

    /// The status: refreshed with HWSYNC (mapped path) or SYNC_PTR+HWSYNC
    /// when `hwsync`, else as last published by the kernel.
    pub fn status(&self, fd: Option<BorrowedFd<'_>>, hwsync: bool) -> io::Result<RawStatus> {
        if self.status.is_some() {
            if hwsync {
                if let Some(fd) = fd {
                    match ioctl_none(fd, SNDRV_PCM_IOCTL_HWSYNC) {
                        Ok(_) => {}
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::EBADFD)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            return self
                .read_status_page()
                .unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EBADFD)));
        }
        let fd = fd.ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        Ok(self.sync_ptr_read(fd, hwsync)?.0)
    }

    /// The kernel's appl_ptr (raw).
    pub fn appl_ptr(&self, fd: Option<BorrowedFd<'_>>) -> io::Result<u64> {
        if let Some(m) = &self.control {
            let p = m.as_ptr().cast::<SndPcmMmapControl64>().cast_const();
            // SAFETY: `p` points to the live control page mapping owned by
            // `self`; appl_ptr is a plain integer read volatile.
            return Ok(uframes(unsafe {
                std::ptr::read_volatile(addr_of!((*p).appl_ptr))
            }));
        }
        let fd = fd.ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        Ok(self.sync_ptr_read(fd, false)?.1)
    }

    /// Publishes a new appl_ptr (raw, 0..boundary). Ring writes before this
    /// call are ordered before the publication.
    pub fn set_appl_ptr(&self, fd: Option<BorrowedFd<'_>>, raw: u64) -> io::Result<()> {
        let v = Uframes::try_from(raw).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        fence(Ordering::Release);
        if let Some(m) = &self.control {
            let p = m.as_ptr().cast::<SndPcmMmapControl64>();
            // SAFETY: `p` points to the live, writable control page mapping
            // owned by `self`; appl_ptr is a plain integer written volatile.
            unsafe { std::ptr::write_volatile(addr_of_mut!((*p).appl_ptr), v) };
            return Ok(());
        }
        let fd = fd.ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        // Write appl_ptr, keep avail_min as the kernel has it.
        self.sync_ptr(fd, SNDRV_PCM_SYNC_PTR_AVAIL_MIN, raw)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PcmState;
    use crate::error::DeviceError;
    use crate::status::tests::{memfd, store_new};
    use std::os::fd::AsFd;

    /// The full PCM's mapped path reads its status page with the one
    /// reader, and its states follow the one rule.
    #[test]
    fn mapped_status_uses_the_one_reader_and_rule() {
        let fd = memfd(4096);
        let rw = Mapping::new(fd.as_fd(), 0, 4096, Protection::ReadWrite).unwrap();
        store_new(&rw, 2, 99_999, (3, 4));
        let ptrs = Pointers {
            status: Some(Mapping::new(fd.as_fd(), 0, 4096, Protection::ReadOnly).unwrap()),
            control: None,
            fallback: Fallback::None,
            avail_min: 0,
        };
        assert_eq!(ptrs.status_path(), StatusPath::Mapped);
        // No fd: the HWSYNC is skipped, the page still reads.
        let st = ptrs.status(None, true).unwrap();
        let pos = st.position().unwrap();
        assert_eq!((pos.state, pos.hw_ptr), (PcmState::Prepared, 99_999));
        assert_eq!(pos.tstamp_ns, 3_000_000_004);
        store_new(&rw, 1234, 99_999, (3, 4));
        let st = ptrs.status(None, false).unwrap();
        assert_eq!(st.position(), Err(DeviceError::UnknownState(1234)));
    }

    #[test]
    fn sync_ptr_status_widens_like_the_page() {
        let mut s = SndPcmMmapStatus64::zeroed();
        s.state = 3;
        s.hw_ptr = 42;
        s.tstamp = Timespec64 {
            tv_sec: -1,
            tv_nsec: 0,
        };
        let st = from_sync_ptr(&s);
        assert_eq!((st.state, st.hw_ptr, st.tstamp_ns), (3, 42, 0));
    }
}
