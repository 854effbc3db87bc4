//! Restricted duplicates of a PCM fd: the native
//! `SNDRV_PCM_IOCTL_ANONYMOUS_DUP` where the kernel carries it, otherwise the
//! `snd-pcm-anondup` module's `/dev/snd/anondup`.
//!
//! The ABI mirrors `kernel/include/uapi/sound/anondup.h` by hand; the sizes
//! are asserted at compile time.

use crate::error::{Error, Result, Step};
use crate::sys::abi::{ior, iow, iowr};
use crate::sys::ioctl::{ioctl_arg, ioctl_none};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Path of the module's device node.
pub const DEVICE_PATH: &str = "/dev/snd/anondup";

/// The ABI version this mirror follows (`ANONDUP_ABI_VERSION`; 2 added
/// [`ANONDUP_IOCTL_REVOKE`]).
pub const ABI_VERSION: u32 = 2;

/// ioctl type byte of the module (`ANONDUP_IOCTL_MAGIC`).
pub const IOCTL_MAGIC: u8 = 0xAD;

/// Rights of a duplicated fd (values of the uapi and the 2019 series).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum DupMode {
    /// `anon_inode:snd-pcm`: the same rights as the source fd.
    Full = 0,
    /// `anon_inode:snd-pcm-buf`: data and status mmap, poll, HWSYNC,
    /// PVERSION and POSITION only.
    Buffer = 1,
}

/// `struct anondup_dup`, the argument of [`ANONDUP_IOCTL_DUP`].
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnondupDup {
    /// The PCM fd to duplicate.
    pub fd: i32,
    /// [`DupMode`] as a number.
    pub mode: u32,
    /// Must be 0.
    pub flags: u32,
    /// Must be 0.
    pub reserved: [u32; 5],
}

/// `struct anondup_position`, the result of [`ANONDUP_IOCTL_POSITION`].
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnondupPosition {
    /// `SNDRV_PCM_STATE_*`.
    pub state: i32,
    /// 0.
    pub reserved0: u32,
    /// Hardware pointer, frames, wrapping at the boundary.
    pub hw_ptr: u64,
    /// Time of the last `hw_ptr` update, seconds.
    pub tstamp_sec: i64,
    /// Nanoseconds part of `tstamp_sec`.
    pub tstamp_nsec: i64,
    /// Audio timestamp, seconds.
    pub audio_tstamp_sec: i64,
    /// Nanoseconds part of `audio_tstamp_sec`.
    pub audio_tstamp_nsec: i64,
    /// 0.
    pub reserved: [u64; 4],
}

/// `struct anondup_revoke`, the argument of [`ANONDUP_IOCTL_REVOKE`].
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnondupRevoke {
    /// The source PCM fd whose restricted fds are revoked.
    pub fd: i32,
    /// Must be 0.
    pub flags: u32,
    /// Must be 0.
    pub reserved: [u32; 6],
}

const _: () = assert!(std::mem::size_of::<AnondupDup>() == 32);
const _: () = assert!(std::mem::size_of::<AnondupRevoke>() == 32);
const _: () = assert!(std::mem::size_of::<AnondupPosition>() == 80);

/// `ANONDUP_IOCTL_VERSION`: `_IOR(0xAD, 0x40, __u32)` on the device.
pub const ANONDUP_IOCTL_VERSION: u32 = ior::<u32>(IOCTL_MAGIC, 0x40);
/// `ANONDUP_IOCTL_DUP`: `_IOW(0xAD, 0x41, struct anondup_dup)` on the
/// device; returns the new fd.
pub const ANONDUP_IOCTL_DUP: u32 = iow::<AnondupDup>(IOCTL_MAGIC, 0x41);
/// `ANONDUP_IOCTL_POSITION`: `_IOR(0xAD, 0x42, struct anondup_position)`
/// on a duplicated fd.
pub const ANONDUP_IOCTL_POSITION: u32 = ior::<AnondupPosition>(IOCTL_MAGIC, 0x42);
/// `ANONDUP_IOCTL_REVOKE`: `_IOW(0xAD, 0x43, struct anondup_revoke)` on
/// the device; returns how many fds it revoked.
pub const ANONDUP_IOCTL_REVOKE: u32 = iow::<AnondupRevoke>(IOCTL_MAGIC, 0x43);
/// The native revocation (kernels carrying `kernel/patches/`):
/// `_IO('A', 0x06)` on the PCM fd; returns how many fds it revoked.
pub const SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE: u32 = crate::sys::abi::ioc(0, b'A', 0x06, 0);
/// The native ioctl of the 2019 series: `_IOWR('A', 0x05, int)` on the
/// PCM fd; the int goes in as the mode and comes back as the fd.
pub const SNDRV_PCM_IOCTL_ANONYMOUS_DUP: u32 = iowr::<i32>(b'A', 0x05);

/// Takes ownership of an fd the kernel just returned.
fn owned(fd: i32) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the kernel returned this fd to us a moment ago as a new
    // descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The native `SNDRV_PCM_IOCTL_ANONYMOUS_DUP` (patched kernels only).
pub fn native_dup(pcm: BorrowedFd<'_>, mode: DupMode) -> io::Result<OwnedFd> {
    let mut arg = mode as i32;
    // SAFETY: the request transfers one int, and `arg` is a live i32.
    unsafe { ioctl_arg(pcm, SNDRV_PCM_IOCTL_ANONYMOUS_DUP, &mut arg) }?;
    owned(arg)
}

/// Opens the module's device node (close-on-exec).
pub fn open_device() -> io::Result<OwnedFd> {
    const PATH: &CStr = c"/dev/snd/anondup";
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    Ok(nix::fcntl::open(PATH, flags, Mode::empty())?)
}

/// `ANONDUP_IOCTL_DUP` on an open device node.
pub fn device_dup(
    device: BorrowedFd<'_>,
    pcm: BorrowedFd<'_>,
    mode: DupMode,
) -> io::Result<OwnedFd> {
    let mut req = AnondupDup {
        fd: pcm.as_raw_fd(),
        mode: mode as u32,
        ..AnondupDup::default()
    };
    // SAFETY: the request reads one `struct anondup_dup`, mirrored by
    // AnondupDup (size asserted above); `req` is live for the call.
    let fd = unsafe { ioctl_arg(device, ANONDUP_IOCTL_DUP, &mut req) }?;
    owned(fd)
}

/// `ANONDUP_IOCTL_REVOKE` on an open device node: revokes every restricted
/// fd the module made from `source` (directly or through other restricted
/// fds), in every process. Their mappings are torn down (a later access
/// gets SIGBUS) and every later operation on them fails with `ENODEV`.
/// Returns how many fds were revoked.
///
/// Only the holder of the source PCM fd can do this: passing a restricted
/// fd fails with `EPERM`.
pub fn device_revoke(device: BorrowedFd<'_>, source: BorrowedFd<'_>) -> io::Result<u32> {
    let mut req = AnondupRevoke {
        fd: source.as_raw_fd(),
        ..AnondupRevoke::default()
    };
    // SAFETY: the request reads one `struct anondup_revoke`, mirrored by
    // AnondupRevoke (size asserted above); `req` is live for the call.
    let n = unsafe { ioctl_arg(device, ANONDUP_IOCTL_REVOKE, &mut req) }?;
    u32::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The native `SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE` (patched kernels only).
pub fn native_revoke(pcm: BorrowedFd<'_>) -> io::Result<u32> {
    let n = ioctl_none(pcm, SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE)?;
    u32::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Revokes every restricted fd made from `pcm`, by the kernel's native
/// ioctl and by the module (see [`device_revoke`]); returns how many.
/// `device` names the stream in errors.
///
/// A kernel without the native ioctl (`ENOTTY`) or a machine without
/// `/dev/snd/anondup` has nothing to revoke there: that part counts 0.
pub fn revoke_dups(pcm: BorrowedFd<'_>, device: &str) -> Result<u32> {
    let native = match native_revoke(pcm) {
        Ok(n) => n,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL)) => 0,
        Err(e) => return Err(Error::sys(device, Step::Dup, e)),
    };
    let node = match open_device() {
        Ok(node) => node,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)
            ) =>
        {
            return Ok(native)
        }
        Err(e) => return Err(Error::sys(device, Step::Dup, e)),
    };
    let module = device_revoke(node.as_fd(), pcm).map_err(|e| Error::sys(device, Step::Dup, e))?;
    Ok(native + module)
}

/// `ANONDUP_IOCTL_VERSION` on an open device node.
pub fn device_version(device: BorrowedFd<'_>) -> io::Result<u32> {
    let mut v = 0u32;
    // SAFETY: the request writes one u32 into `v`.
    unsafe { ioctl_arg(device, ANONDUP_IOCTL_VERSION, &mut v) }?;
    Ok(v)
}

/// `ANONDUP_IOCTL_POSITION` on a duplicated fd: a consistent snapshot taken
/// by the kernel after a hwsync.
pub fn position_ioctl(fd: BorrowedFd<'_>) -> io::Result<AnondupPosition> {
    let mut pos = AnondupPosition::default();
    // SAFETY: the request writes one `struct anondup_position`, mirrored by
    // AnondupPosition (size asserted above); every bit pattern is valid.
    unsafe { ioctl_arg(fd, ANONDUP_IOCTL_POSITION, &mut pos) }?;
    Ok(pos)
}

/// Whether an errno of the native ioctl means "ask the module instead":
/// the kernel has no native anonymous dup (ENOTTY, EINVAL, ENOSYS), or `pcm`
/// is one of the module's BUFFER fds, which refuses every foreign ioctl
/// with EPERM (the module then decides: BUFFER again is allowed).
fn try_module_after(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTTY | libc::EINVAL | libc::ENOSYS | libc::EPERM)
    )
}

/// Creates a restricted duplicate of `pcm` (a PCM fd, or an fd from an
/// earlier dup): the native ioctl first, then `/dev/snd/anondup`.
///
/// `device` names the stream in errors. When neither exists the error says
/// to load `snd-pcm-anondup`.
pub fn anonymous_dup_fd(pcm: BorrowedFd<'_>, mode: DupMode, device: &str) -> Result<OwnedFd> {
    let native_err = match native_dup(pcm, mode) {
        Ok(fd) => return Ok(fd),
        Err(e) if try_module_after(&e) => e,
        Err(e) => return Err(Error::sys(device, Step::Dup, e)),
    };
    let node = match open_device() {
        Ok(node) => node,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)
            ) =>
        {
            if native_err.raw_os_error() == Some(libc::EPERM) {
                // A restricted fd of a patched kernel said no.
                return Err(Error::sys(device, Step::Dup, native_err));
            }
            return Err(Error::Unsupported {
                device: device.to_owned(),
                what: format!(
                    "restricted fds: the kernel has no native anonymous dup and {DEVICE_PATH} \
                     is missing ({e}); load the snd-pcm-anondup module \
                     (insmod kernel/snd-pcm-anondup.ko)"
                ),
            });
        }
        Err(e) => return Err(Error::sys(device, Step::Dup, e)),
    };
    match device_dup(node.as_fd(), pcm, mode) {
        Ok(fd) => Ok(fd),
        // A restricted fd of a patched kernel, unknown to the module: the
        // kernel's refusal is the answer.
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL)
                && native_err.raw_os_error() == Some(libc::EPERM) =>
        {
            Err(Error::sys(device, Step::Dup, native_err))
        }
        Err(e) => Err(Error::sys(device, Step::Dup, e)),
    }
}

impl crate::pcm::Pcm {
    /// A restricted duplicate of this PCM's fd (the native ioctl first,
    /// then `/dev/snd/anondup`; the error says to load `snd-pcm-anondup`
    /// when neither exists): [`DupMode::Buffer`] for a client,
    /// [`DupMode::Full`] for a peer.
    ///
    /// ```no_run
    /// use pcmring::pcm::{Config, Direction, Pcm};
    /// use pcmring::restricted::DupMode;
    ///
    /// let pcm = Pcm::open("hw:Loopback,0", Direction::Playback, &Config::default())?;
    /// let client_fd = pcm.anonymous_dup(DupMode::Buffer)?;
    /// # drop(client_fd);
    /// # Ok::<(), pcmring::Error>(())
    /// ```
    pub fn anonymous_dup(&self, mode: DupMode) -> Result<OwnedFd> {
        use crate::device::Device;
        let fd = self.poll_fd().ok_or_else(|| Error::BadState {
            device: self.name().to_owned(),
            state: "closed".to_owned(),
        })?;
        anonymous_dup_fd(fd, mode, self.name())
    }

    /// Revokes every restricted fd made from this PCM with
    /// [`Pcm::anonymous_dup`](crate::pcm::Pcm::anonymous_dup) through the
    /// module (the `ANONDUP_IOCTL_REVOKE` call): what a broker does at the end of a
    /// lease. Returns how many fds were revoked.
    pub fn revoke_dups(&self) -> Result<u32> {
        use crate::device::Device;
        let fd = self.poll_fd().ok_or_else(|| Error::BadState {
            device: self.name().to_owned(),
            state: "closed".to_owned(),
        })?;
        revoke_dups(fd, self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_uapi_header() {
        // _IOR(0xAD, 0x40, __u32), _IOW(0xAD, 0x41, 32 bytes),
        // _IOR(0xAD, 0x42, 80 bytes), _IOWR('A', 0x05, int).
        assert_eq!(ANONDUP_IOCTL_VERSION, 0x8004_AD40);
        assert_eq!(ANONDUP_IOCTL_DUP, 0x4020_AD41);
        assert_eq!(ANONDUP_IOCTL_POSITION, 0x8050_AD42);
        assert_eq!(ANONDUP_IOCTL_REVOKE, 0x4020_AD43);
        assert_eq!(SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE, 0x0000_4106);
        assert_eq!(SNDRV_PCM_IOCTL_ANONYMOUS_DUP, 0xC004_4105);
    }

    #[test]
    fn native_errnos_that_fall_back_to_the_module() {
        for errno in [libc::ENOTTY, libc::EINVAL, libc::ENOSYS, libc::EPERM] {
            assert!(try_module_after(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [libc::EBADFD, libc::EMFILE, libc::EFAULT] {
            assert!(!try_module_after(&io::Error::from_raw_os_error(errno)));
        }
    }

    #[test]
    fn dup_of_a_non_pcm_fd_fails_cleanly() {
        // A pipe is no PCM: the native ioctl fails with ENOTTY, then either
        // the device is missing (the error names the module) or it refuses
        // the fd with EINVAL.
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let e = anonymous_dup_fd(r.as_fd(), DupMode::Buffer, "pipe").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("snd-pcm-anondup") || e.raw_os_error() == Some(libc::EINVAL),
            "{text}"
        );
        drop(w);
    }
}
