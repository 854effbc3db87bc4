//! How the stream's pointers travel: the mapped status and control pages
//! (time64 offsets), or the SYNC_PTR ioctl where they cannot be mapped.

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

/// One consistent reading of the status.
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

fn ts_ns(ts: Timespec64) -> u64 {
    if ts.tv_sec < 0 || ts.tv_nsec < 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

impl RawStatus {
    fn from_page(s: &SndPcmMmapStatus64) -> Self {
        RawStatus {
            state: s.state,
            hw_ptr: uframes(s.hw_ptr),
            tstamp_ns: ts_ns(s.tstamp),
            audio_tstamp_ns: ts_ns(s.audio_tstamp),
            suspended_state: s.suspended_state,
        }
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

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
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

    /// Reads the mapped status page (no ioctl), re-reading until two
    /// consecutive reads agree. `None` if the page is not mapped.
    pub fn read_status_page(&self) -> Option<RawStatus> {
        let m = self.status.as_ref()?;
        let p = m.as_ptr().cast::<SndPcmMmapStatus64>().cast_const();
        let read = || {
            // SAFETY: `p` points to the live, page-sized, page-aligned
            // status mapping (the struct is 56 bytes) owned by `self`; the
            // kernel updates it concurrently, hence volatile reads of each
            // plain-integer field, never a reference.
            unsafe {
                SndPcmMmapStatus64 {
                    state: std::ptr::read_volatile(addr_of!((*p).state)),
                    pad1: 0,
                    hw_ptr: std::ptr::read_volatile(addr_of!((*p).hw_ptr)),
                    pad2: Default::default(),
                    tstamp: std::ptr::read_volatile(addr_of!((*p).tstamp)),
                    suspended_state: std::ptr::read_volatile(addr_of!((*p).suspended_state)),
                    pad3: 0,
                    audio_tstamp: std::ptr::read_volatile(addr_of!((*p).audio_tstamp)),
                }
            }
        };
        let mut last = RawStatus::from_page(&read());
        for _ in 0..64 {
            fence(Ordering::Acquire);
            let now = RawStatus::from_page(&read());
            if now == last {
                return Some(now);
            }
            last = now;
        }
        Some(last)
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
        Ok((RawStatus::from_page(&st), uframes(ctl.appl_ptr)))
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
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADFD));
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
