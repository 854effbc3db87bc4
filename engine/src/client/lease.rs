//! [`Lease`]: a granted, validated lease, and the [`BrokerLink`] that
//! keeps it alive.

use super::error::LeaseError;
use crate::broker::wire::{LeaseInfo, LeaseKind};
use crate::layout::StreamLayout;
use crate::pcm::Direction;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The connection that keeps a lease alive. Dropping it ends the lease.
#[derive(Debug)]
pub struct BrokerLink {
    pub(super) socket: OwnedFd,
}

impl BrokerLink {
    /// Checks without blocking whether the broker is still there.
    pub fn check(&self) -> Result<(), LeaseError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        // The broker's exit closes its end: POLLHUP on a seqpacket socket
        // (always reported). POLLRDHUP is not asked for: nix has no name
        // for it and would then not decode revents at all.
        let mut p = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut p, PollTimeout::ZERO).unwrap_or(0);
        let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
        if n > 0 && p[0].revents().is_some_and(|r| r.intersects(gone)) {
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
    /// Duplex leases: the capture stream (its fds follow `info`'s) and
    /// whether one linked START started both.
    pub(super) capture: Option<(LeaseInfo, bool)>,
}

impl Lease {
    /// The layout and kind the broker advertised (validated); for a duplex
    /// lease, the playback stream's (see [`Lease::capture_info`]).
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// What was leased: playback, capture, or a duplex pair.
    pub fn kind(&self) -> LeaseKind {
        match (self.capture.is_some(), self.info.direction) {
            (true, _) => LeaseKind::Duplex,
            (false, Direction::Playback) => LeaseKind::Playback,
            (false, Direction::Capture) => LeaseKind::Capture,
        }
    }

    /// A duplex lease's capture stream and whether the broker started both
    /// streams with one linked START (then playback frame `n` and capture
    /// frame `n` are one instant: their positions count one clock).
    pub fn capture_info(&self) -> Option<(&LeaseInfo, bool)> {
        self.capture.as_ref().map(|(i, linked)| (i, *linked))
    }

    /// Geometry of the leased stream.
    pub fn layout(&self) -> StreamLayout {
        self.info.layout
    }

    /// The leased fds, in wire order (hardware: the BUFFER fd; simulated:
    /// ring memfd, status memfd; duplex: the playback stream's, then the
    /// capture stream's).
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// The connection to the broker.
    pub fn link(&self) -> &BrokerLink {
        &self.link
    }

    /// Splits the lease to build a device on the fds (of a duplex lease,
    /// the playback stream's info and every fd; see [`Lease::capture_info`]).
    pub fn into_parts(self) -> (LeaseInfo, Vec<OwnedFd>, BrokerLink) {
        (self.info, self.fds, self.link)
    }
}
