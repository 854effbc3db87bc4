//! Sealing the simulated device's memfds against resizing, and checking
//! the seals of memfds received from elsewhere.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// The seals every sim memfd carries: its size can never change, so a
/// mapping of it can never SIGBUS because the other side truncated it.
pub(crate) const SIM_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// Seals `fd`'s size ([`SIM_SEALS`]) and the seal set itself. The memfd
/// must have been created with `MFD_ALLOW_SEALING`.
pub(crate) fn seal_size(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a valid fd with an integer argument.
    if unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_ADD_SEALS,
            SIM_SEALS | libc::F_SEAL_SEAL,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` is a memfd whose size is sealed ([`SIM_SEALS`]).
pub(crate) fn size_sealed(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: fcntl on a valid, borrowed fd with no pointer argument.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SIM_SEALS == SIM_SEALS
}
