//! Thin `ioctl(2)` wrappers: errno to `io::Error`, EINTR retried.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Runs `ioctl(fd, req, arg)` and retries on EINTR.
///
/// # Safety
/// `arg` must be what the kernel expects for `req`: null or a pointer to a
/// valid, writable value of the type encoded in `req` (or an integer for
/// the few requests that take one by value), live for the call.
pub unsafe fn ioctl_raw(fd: BorrowedFd<'_>, req: u32, arg: *mut libc::c_void) -> io::Result<i32> {
    loop {
        // SAFETY: the caller guarantees `arg` matches `req`; the fd is
        // borrowed, hence open, for the duration of the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as libc::Ioctl, arg) };
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// An ioctl whose argument is a `T` the kernel reads and/or writes.
///
/// # Safety
/// `req` must encode an argument of type `T` (see the `_IOR/_IOW/_IOWR`
/// numbers in [`crate::sys::abi`]), and every bit pattern the kernel may
/// write must be a valid `T` (true for the plain-old-data ABI mirrors).
pub unsafe fn ioctl_arg<T>(fd: BorrowedFd<'_>, req: u32, arg: &mut T) -> io::Result<i32> {
    // SAFETY: `arg` is a live exclusive reference to a `T`, which the
    // caller promises is what `req` transfers.
    unsafe { ioctl_raw(fd, req, (arg as *mut T).cast()) }
}

/// An ioctl without argument (`_IO`), e.g. PREPARE, START, DROP, HWSYNC.
pub fn ioctl_none(fd: BorrowedFd<'_>, req: u32) -> io::Result<i32> {
    // SAFETY: `_IO` requests take no argument; a null pointer is passed
    // and never dereferenced. Requests that do take one would at worst fail
    // with EFAULT, since null is never a valid user address.
    unsafe { ioctl_raw(fd, req, std::ptr::null_mut()) }
}
