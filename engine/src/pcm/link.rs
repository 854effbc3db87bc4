//! Linking a playback and a capture stream: `SNDRV_PCM_IOCTL_LINK` puts two
//! full fds in one group, so PREPARE and START on either act on both at the
//! same instant (the hardware's frame clocks then agree from the first
//! frame). Where the kernel refuses the link (streams that cannot be
//! linked, a restricted fd, a stream already in another group),
//! [`Pcm::start_together`](crate::pcm::Pcm::start_together) prepares and starts them back to back and
//! says so ([`StartTogether::Unlinked`]); the duplex engine measures the
//! offset between the two clocks instead of assuming it is zero.

use crate::sys::abi::{SNDRV_PCM_IOCTL_LINK, SNDRV_PCM_IOCTL_UNLINK};
use crate::sys::ioctl::{ioctl_none, ioctl_raw};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// How [`Pcm::start_together`](crate::pcm::Pcm::start_together) started the two streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartTogether {
    /// Linked: one START started both.
    Linked,
    /// The kernel refused LINK; the streams were started one after the
    /// other, microseconds apart, so their clocks differ by a small offset
    /// (the duplex engine measures it).
    Unlinked {
        /// The kernel's answer to LINK, in words.
        reason: String,
    },
}

/// LINK: puts the stream of `other` in the group of `fd`.
pub(crate) fn link_fds(fd: BorrowedFd<'_>, other: BorrowedFd<'_>) -> io::Result<()> {
    let theirs = other.as_raw_fd();
    // SAFETY: LINK takes the other PCM's fd number by value (the kernel
    // casts the argument to an int), never as a pointer.
    unsafe {
        ioctl_raw(
            fd,
            SNDRV_PCM_IOCTL_LINK,
            theirs as usize as *mut libc::c_void,
        )
    }?;
    Ok(())
}

/// UNLINK: takes the stream of `fd` out of its group.
pub(crate) fn unlink_fd(fd: BorrowedFd<'_>) -> io::Result<()> {
    ioctl_none(fd, SNDRV_PCM_IOCTL_UNLINK)?;
    Ok(())
}
