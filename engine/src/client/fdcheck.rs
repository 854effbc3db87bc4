//! Checks that the fds of a lease are what its layout claims.

use super::error::LeaseError;
use crate::broker::socket;
use crate::broker::wire::{ClockId, DeviceKind, LeaseInfo};
use crate::sys::mmap::{Mapping, Protection};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::stat::SFlag;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// What `/proc/self/fd/N` points at.
fn fd_target(fd: BorrowedFd<'_>) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("<unreadable: {e}>"))
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<nix::sys::stat::FileStat> {
    Ok(nix::sys::stat::fstat(fd)?)
}

/// The name an ALSA restricted (BUFFER) fd has in `/proc/self/fd`.
pub(crate) const BUFFER_FD_NAME: &str = "anon_inode:snd-pcm-buf";
/// The name a FULL anonymous dup has.
pub(crate) const FULL_FD_NAME: &str = "anon_inode:snd-pcm";

/// Checks that `fd` is a restricted PCM fd (not a full one).
pub(crate) fn check_buffer_fd(fd: BorrowedFd<'_>) -> Result<(), LeaseError> {
    classify_pcm_fd(fd_target(fd))
}

/// Classifies what `/proc/self/fd` says about a leased PCM fd.
fn classify_pcm_fd(found: String) -> Result<(), LeaseError> {
    if found == BUFFER_FD_NAME {
        return Ok(());
    }
    if found == FULL_FD_NAME || found.starts_with("/dev/snd/pcm") {
        return Err(LeaseError::FullFd { found });
    }
    Err(LeaseError::WrongFdType {
        index: 0,
        expected: "a restricted PCM fd (anon_inode:snd-pcm-buf)",
        found,
    })
}

/// Checks that `fd` is a memfd of at least `need` bytes.
fn check_memfd(
    fd: BorrowedFd<'_>,
    index: usize,
    what: &'static str,
    need: u64,
) -> Result<(), LeaseError> {
    let found = fd_target(fd);
    let wrong = |found: String| LeaseError::WrongFdType {
        index,
        expected: "a memfd of the simulated device",
        found,
    };
    if !found.starts_with("/memfd:") {
        return Err(wrong(found));
    }
    let st = fstat(fd).map_err(|_| wrong(found.clone()))?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(wrong(found));
    }
    // Fails with EINVAL on anything but shmem files.
    if fcntl(fd, FcntlArg::F_GET_SEALS).is_err() {
        return Err(wrong(found));
    }
    let got = u64::try_from(st.st_size).unwrap_or(0);
    if got < need {
        return Err(LeaseError::Undersized { what, need, got });
    }
    Ok(())
}

/// Checks that `fd` is the read end of a pipe, and makes it non-blocking.
fn check_wake_pipe(fd: BorrowedFd<'_>, index: usize) -> Result<(), LeaseError> {
    let found = fd_target(fd);
    let wrong = |found: String| LeaseError::WrongFdType {
        index,
        expected: "the read end of the wake-up pipe",
        found,
    };
    let is_fifo = fstat(fd).is_ok_and(|st| {
        SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFIFO
    });
    let read_only = fcntl(fd, FcntlArg::F_GETFL)
        .is_ok_and(|fl| OFlag::from_bits_retain(fl) & OFlag::O_ACCMODE == OFlag::O_RDONLY);
    if !found.starts_with("pipe:") || !is_fifo || !read_only {
        return Err(wrong(found));
    }
    socket::set_nonblocking(fd).map_err(|_| wrong(found))
}

/// Validates the fds of one leased stream against its layout. On success
/// the ring is known to map with the advertised size (read-write for
/// playback, read-only for capture).
pub(crate) fn validate(info: &LeaseInfo, fds: &[OwnedFd]) -> Result<(), LeaseError> {
    let expected = info.fd_count();
    if fds.len() != expected {
        return Err(LeaseError::FdCount {
            expected,
            got: fds.len(),
        });
    }
    if info.clock != ClockId::Monotonic {
        return Err(LeaseError::Clock {
            got: info.clock_name(),
        });
    }
    let ring_bytes = info.layout.ring_bytes();
    match info.device {
        DeviceKind::HwBuffer => check_buffer_fd(fds[0].as_fd())?,
        DeviceKind::Simulated => {
            check_memfd(fds[0].as_fd(), 0, "ring", ring_bytes as u64)?;
            check_memfd(
                fds[1].as_fd(),
                1,
                "status page",
                crate::sim::page::PAGE_BYTES as u64,
            )?;
            if info.wake_fd {
                check_wake_pipe(fds[2].as_fd(), 2)?;
            }
        }
    }
    // A capture ring is read-only through a restricted fd.
    let protection = match info.direction {
        crate::pcm::Direction::Playback => Protection::ReadWrite,
        crate::pcm::Direction::Capture => Protection::ReadOnly,
    };
    Mapping::new(fds[0].as_fd(), 0, ring_bytes, protection).map_err(|source| LeaseError::Map {
        what: "ring",
        bytes: ring_bytes,
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_fd_classification() {
        assert!(classify_pcm_fd(BUFFER_FD_NAME.into()).is_ok());
        for full in [FULL_FD_NAME, "/dev/snd/pcmC0D0p"] {
            let e = classify_pcm_fd(full.into()).unwrap_err();
            assert!(matches!(e, LeaseError::FullFd { .. }), "{e}");
            assert!(e.to_string().contains("anondup"), "{e}");
        }
        for other in [
            "/tmp/anon_inode:snd-pcm-buf",
            "anon_inode:[eventfd]",
            "socket:[1234]",
        ] {
            let e = classify_pcm_fd(other.into()).unwrap_err();
            assert!(matches!(e, LeaseError::WrongFdType { .. }), "{e}");
        }
    }
}
