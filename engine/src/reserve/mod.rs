//! Sharing a card with the desktop's sound server: the device reservation
//! protocol (`org.freedesktop.ReserveDevice1` on the session D-Bus, as
//! JACK, PipeWire and PulseAudio speak it), and naming who holds a busy
//! card.
//!
//! Before opening card N, [`reserve_device`] asks the holder of
//! `org.freedesktop.ReserveDevice1.AudioN` (the sound server) to release
//! it with our priority; the sound server closes the card and lets the
//! name go. pcmring keeps the name while it plays and releases it when
//! the device is dropped, after closing it: the sound server takes the
//! card back. A [`Reserved`] device ties the two together, so the engine
//! holds the card exactly as long as it runs.
//!
//! With no session bus (a server, a container, the VM), or with the
//! `reserve` cargo feature off, the card is opened without asking
//! anyone, and [`Reservation::note`] says why. When the card is busy
//! anyway, [`ReserveError::Busy`] names the processes holding it (from
//! `/proc`).

mod config;
mod device;
mod error;
mod holders;
mod reservation;
mod watch;

#[cfg(feature = "reserve")]
mod bus;

pub use config::{BusAddress, OnRequest, ReleaseRequest, ReserveConfig};
pub use device::{open_reserved, Reserved};
pub use error::{BusHolder, ReserveError};
pub use holders::ProcessHolder;
pub use reservation::{reserve_device, Reservation};
testing_use!(config::{object_path, service_name, INTERFACE});
testing_use!(holders::{pcm_holders, HolderScan});
testing_use!(reservation::card_index);
pub use watch::ReservationWatch;
