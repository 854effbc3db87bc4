//! [`LeasedDevice`]: the device built on a lease, which notices a broker
//! that went away.

use super::error::LeaseError;
use super::lease::{BrokerLink, Lease};
use crate::broker::wire::{DeviceKind, LeaseInfo, LeaseKind};
use crate::device::{Device, HwPosition, PositionSource};
use crate::error::DeviceError;
use crate::layout::StreamLayout;
use crate::ring::RingView;
use std::os::fd::{BorrowedFd, OwnedFd};

impl Lease {
    /// Builds the device on a playback or capture lease: a
    /// [`crate::restricted::RestrictedPcm`] for hardware (its ring mapped
    /// read-only for capture), a [`crate::sim::SimDevice`] for the
    /// simulated device, wrapped so that it notices a broker that went
    /// away. A lease that is fine but whose device cannot be built fails
    /// with the device's error; a duplex lease fails with
    /// [`LeaseError::WrongKind`] (use [`Lease::into_duplex`]).
    pub fn into_device(self) -> crate::Result<LeasedDevice> {
        if self.capture.is_some() {
            return Err(LeaseError::WrongKind {
                asked: self.info.direction_kind(),
                got: LeaseKind::Duplex,
            }
            .into());
        }
        let (info, fds, link) = self.into_parts();
        let mut fds = fds.into_iter();
        build(info, &mut fds, link)
    }

    /// Builds both devices of a duplex lease, `(capture, playback)` in the
    /// order [`crate::DuplexEngine::start`] takes them. The lease ends when
    /// both are dropped. Another kind of lease fails with
    /// [`LeaseError::WrongKind`].
    pub fn into_duplex(self) -> crate::Result<(LeasedDevice, LeasedDevice)> {
        let Some((capture, _linked)) = self.capture else {
            return Err(LeaseError::WrongKind {
                asked: LeaseKind::Duplex,
                got: self.kind(),
            }
            .into());
        };
        let (playback, fds, link) = (self.info, self.fds, self.link);
        let second = BrokerLink {
            socket: link.socket.try_clone().map_err(|source| LeaseError::Io {
                during: "sharing the broker connection between the two devices",
                source,
            })?,
        };
        let mut fds = fds.into_iter();
        let output = build(playback, &mut fds, link)?;
        let input = build(capture, &mut fds, second)?;
        Ok((input, output))
    }
}

impl LeaseInfo {
    /// The single-stream lease kind of this stream's direction.
    fn direction_kind(&self) -> LeaseKind {
        match self.direction {
            crate::pcm::Direction::Playback => LeaseKind::Playback,
            crate::pcm::Direction::Capture => LeaseKind::Capture,
        }
    }
}

/// The device of one leased stream, taking its fds from `fds`.
fn build(
    info: LeaseInfo,
    fds: &mut impl Iterator<Item = OwnedFd>,
    link: BrokerLink,
) -> crate::Result<LeasedDevice> {
    let mut next = || {
        fds.next().ok_or(LeaseError::FdCount {
            expected: info.fd_count(),
            got: 0,
        })
    };
    let inner: Box<dyn Device> = match info.device {
        DeviceKind::HwBuffer => Box::new(crate::restricted::RestrictedPcm::from_fd(
            next()?,
            info.layout,
        )?),
        DeviceKind::Simulated => {
            let data = next()?;
            let status = next()?;
            let wake = if info.wake_fd { Some(next()?) } else { None };
            Box::new(crate::sim::SimDevice::attach(
                crate::sim::SimFds { data, status, wake },
                crate::sim::SimLayout {
                    stream: info.layout,
                    batch: info.batch,
                },
            )?)
        }
    };
    Ok(LeasedDevice {
        inner,
        info,
        link,
        next_check_ns: 0,
        lost: false,
    })
}

/// How often [`LeasedDevice`] checks that the broker is still there.
const LINK_CHECK_NS: u64 = 20_000_000;

/// A device on a leased stream. Implements [`Device`] by delegation; its
/// [`Device::position`] also notices (within 20 ms, one `poll` of the
/// socket) that the broker went away and from then on fails with
/// [`DeviceError::BrokerGone`] (the engine reports it as
/// [`LeaseError::BrokerGone`]). Dropping it ends the lease.
pub struct LeasedDevice {
    inner: Box<dyn Device>,
    info: LeaseInfo,
    link: BrokerLink,
    next_check_ns: u64,
    lost: bool,
}

impl std::fmt::Debug for LeasedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasedDevice")
            .field("info", &self.info)
            .field("link", &self.link)
            .field("position_source", &self.inner.position_source())
            .field("lost", &self.lost)
            .finish()
    }
}

impl LeasedDevice {
    /// What the broker advertised.
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// The connection to the broker.
    pub fn link(&self) -> &BrokerLink {
        &self.link
    }
}

impl LeasedDevice {
    /// Fails (for good) once the broker is gone; looks at the socket at
    /// most every [`LINK_CHECK_NS`].
    fn check_link(&mut self) -> Result<(), DeviceError> {
        if self.lost {
            return Err(DeviceError::BrokerGone);
        }
        let now = pcmring_rt::timer::now_ns();
        if now >= self.next_check_ns {
            self.next_check_ns = now + LINK_CHECK_NS;
            if self.link.check().is_err() {
                // Sticky: once gone, the lease never comes back.
                self.lost = true;
                return Err(DeviceError::BrokerGone);
            }
        }
        Ok(())
    }
}

impl Device for LeasedDevice {
    fn layout(&self) -> StreamLayout {
        self.info.layout
    }
    fn ring(&self) -> &RingView {
        self.inner.ring()
    }
    fn position(&mut self) -> Result<HwPosition, DeviceError> {
        self.check_link()?;
        self.inner.position()
    }
    fn peek_position(&mut self) -> Option<Result<HwPosition, DeviceError>> {
        match self.check_link() {
            Ok(()) => self.inner.peek_position(),
            Err(e) => Some(Err(e)),
        }
    }
    fn position_source(&self) -> PositionSource {
        self.inner.position_source()
    }
    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.poll_fd()
    }
    fn is_batch(&self) -> bool {
        self.info.batch || self.inner.is_batch()
    }
    fn commit(&mut self, appl_frames: u64) -> Result<(), DeviceError> {
        self.inner.commit(appl_frames)
    }
    fn mark_unwritten(&mut self, from: u64, to: u64) {
        self.inner.mark_unwritten(from, to)
    }
    fn commit_each_block(&self) -> bool {
        self.inner.commit_each_block()
    }
    fn ring_identity(&self) -> Option<crate::device::RingIdentity> {
        self.inner.ring_identity()
    }
}
