//! Sealing the simulated device's memfds against resizing, and checking
//! the seals of memfds received from elsewhere.

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// The seals every sim memfd carries: its size can never change, so a
/// mapping of it can never SIGBUS because the other side truncated it.
fn sim_seals() -> SealFlag {
    SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW
}

/// Seals `fd`'s size ([`sim_seals`]) and the seal set itself. The memfd
/// must have been created with `MFD_ALLOW_SEALING`.
pub(crate) fn seal_size(fd: &OwnedFd) -> io::Result<()> {
    fcntl(
        fd,
        FcntlArg::F_ADD_SEALS(sim_seals() | SealFlag::F_SEAL_SEAL),
    )?;
    Ok(())
}

/// Whether `fd` is a memfd whose size is sealed ([`sim_seals`]).
pub(crate) fn size_sealed(fd: BorrowedFd<'_>) -> bool {
    fcntl(fd, FcntlArg::F_GET_SEALS)
        .ok()
        .and_then(SealFlag::from_bits)
        .is_some_and(|seals| seals.contains(sim_seals()))
}
