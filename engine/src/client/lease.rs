//! [`Lease`]: a granted, validated lease, and the [`BrokerLink`] that
//! keeps it alive.

use super::error::LeaseError;
use crate::broker::wire::LeaseInfo;
use crate::layout::StreamLayout;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// The connection that keeps a lease alive. Dropping it ends the lease.
#[derive(Debug)]
pub struct BrokerLink {
    pub(super) socket: OwnedFd,
}

impl BrokerLink {
    /// Checks without blocking whether the broker is still there.
    pub fn check(&self) -> Result<(), LeaseError> {
        let mut p = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n > 0 && p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0 {
            return Err(LeaseError::BrokerGone { during: "playing" });
        }
        Ok(())
    }

    /// The socket, e.g. to add to a poll set (it reports `POLLHUP` when
    /// the broker goes away).
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A granted, validated lease.
#[derive(Debug)]
pub struct Lease {
    pub(super) info: LeaseInfo,
    pub(super) fds: Vec<OwnedFd>,
    pub(super) link: BrokerLink,
}

impl Lease {
    /// The layout and kind the broker advertised (validated).
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// Geometry of the leased stream.
    pub fn layout(&self) -> StreamLayout {
        self.info.layout
    }

    /// The leased fds, in wire order (hardware: the BUFFER fd; simulated:
    /// ring memfd, status memfd).
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// The connection to the broker.
    pub fn link(&self) -> &BrokerLink {
        &self.link
    }

    /// Splits the lease to build a device on the fds.
    pub fn into_parts(self) -> (LeaseInfo, Vec<OwnedFd>, BrokerLink) {
        (self.info, self.fds, self.link)
    }
}
