//! A device opened under a reservation: the device is closed before the
//! name is released, so the sound server can take the card back at once.

use super::config::ReserveConfig;
use super::error::ReserveError;
use super::reservation::{reserve_device, Reservation};
use crate::device::{Device, HwPosition, PositionSource};
use crate::pcm::{Config, Direction, Pcm};
use crate::{RingView, StreamLayout};
use std::os::fd::BorrowedFd;

/// A device and the reservation of its card. Start the engine on it: the
/// engine holds the card while it runs, and stopping it closes the device
/// and then gives the card back.
#[derive(Debug)]
pub struct Reserved<D> {
    // Field order is drop order: the device closes before the name goes.
    device: D,
    reservation: Reservation,
}

impl<D: Device> Reserved<D> {
    /// Pairs an opened device with its card's reservation.
    pub fn new(device: D, reservation: Reservation) -> Reserved<D> {
        Reserved {
            device,
            reservation,
        }
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device, e.g. to prepare and start a PCM.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// The reservation.
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }
}

/// Reserves the card, then opens PCM `name` on it. A busy card gives
/// [`ReserveError::Busy`] naming the processes that hold it.
pub fn open_reserved(
    name: &str,
    direction: Direction,
    config: &Config,
    reserve: &ReserveConfig,
) -> Result<Reserved<Pcm>, ReserveError> {
    let reservation = reserve_device(name, reserve)?;
    let pcm = Pcm::open(name, direction, config).map_err(|e| reservation.explain(e))?;
    Ok(Reserved::new(pcm, reservation))
}

impl<D: Device> Device for Reserved<D> {
    fn layout(&self) -> StreamLayout {
        self.device.layout()
    }
    fn ring(&self) -> &RingView {
        self.device.ring()
    }
    fn position(&mut self) -> Result<HwPosition, crate::DeviceError> {
        self.device.position()
    }
    fn position_source(&self) -> PositionSource {
        self.device.position_source()
    }
    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.device.poll_fd()
    }
    fn is_batch(&self) -> bool {
        self.device.is_batch()
    }
    fn commit(&mut self, appl_frames: u64) -> Result<(), crate::DeviceError> {
        self.device.commit(appl_frames)
    }
}
