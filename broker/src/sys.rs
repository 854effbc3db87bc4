//! The two system calls of the broker loop that `nix` cannot express,
//! each behind a safe function.
//!
//! - `poll(2)` over raw `pollfd`s: the set mixes a resting listener (fd
//!   -1, which poll skips) with connections watched for `POLLRDHUP`, a bit
//!   nix's `PollFlags` does not name (its `revents()` would return `None`).
//! - The `SIGINT`/`SIGTERM` handler's `write(2)` to the stop eventfd: the
//!   handler has only the fd number, from an atomic.

use std::io;
use std::os::fd::RawFd;

/// `poll(2)` on `fds` for at most `timeout_ms` (-1: forever); returns how
/// many entries have events. `EINTR` comes back as an error, for the caller
/// to retry.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd
    // structs for the duration of the call; poll only writes `revents`,
    // and fd numbers that are negative or closed are reported, not used.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Adds 1 to the eventfd `fd`; async-signal-safe. The caller keeps `fd`
/// open for as long as this may be called (the broker's private dup lives
/// for the whole process).
pub(crate) fn signal_eventfd(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64; a full counter or a bad fd
    // only makes the write fail, which the stop path tolerates.
    unsafe {
        libc::write(fd, (&one as *const u64).cast(), 8);
    }
}
