//! A card's reservation: taking it ([`reserve_device`]), holding it, and
//! explaining a busy card.

use super::config::ReserveConfig;
use super::error::{BusHolder, ReserveError};
use super::holders::pcm_holders;
use super::watch::ReservationWatch;
use crate::pcm::{resolve_card_id, CardRef, DeviceName};

/// A card's reservation, held until this is dropped (or never taken:
/// see [`Reservation::note`]). Dropping it marks the device closed and
/// releases the name, so drop it after the device.
#[derive(Debug)]
pub struct Reservation {
    card: Option<u32>,
    note: Option<String>,
    previous_holder: Option<BusHolder>,
    watch: ReservationWatch,
    // Declared last: dropped after `Drop::drop` marked the device closed.
    #[cfg(feature = "reserve")]
    claim: Option<super::bus::Claim>,
}

impl Reservation {
    fn unheld(card: Option<u32>, note: Option<String>) -> Reservation {
        Reservation {
            card,
            note,
            previous_holder: None,
            watch: ReservationWatch::new(),
            #[cfg(feature = "reserve")]
            claim: None,
        }
    }

    /// Whether pcmring holds the card's name on the bus.
    pub fn is_held(&self) -> bool {
        #[cfg(feature = "reserve")]
        {
            self.claim.is_some()
        }
        #[cfg(not(feature = "reserve"))]
        {
            false
        }
    }

    /// The card index, when the name resolved to one.
    pub fn card(&self) -> Option<u32> {
        self.card
    }

    /// Why the card was not reserved (no session bus, reservation turned
    /// off, built without the `reserve` feature), for the user.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The program that held the card and released it to us.
    pub fn previous_holder(&self) -> Option<&BusHolder> {
        self.previous_holder.as_ref()
    }

    /// The handle that tells when another program asked for the card.
    pub fn watch(&self) -> ReservationWatch {
        self.watch.clone()
    }

    /// Turns an error from opening the card into one that names who
    /// holds it, when it is [`crate::Error::Busy`].
    pub fn explain(&self, e: crate::Error) -> ReserveError {
        let crate::Error::Busy { device } = e else {
            return ReserveError::Pcm(e);
        };
        let dev = DeviceName::parse(&device).ok().map(|d| d.device);
        let scan = self.card.map(|c| pcm_holders(c, dev)).unwrap_or_default();
        ReserveError::Busy {
            device,
            holders: scan.holders,
            unreadable: scan.unreadable,
            bus_holder: self.previous_holder.clone().map(Box::new),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.watch.mark_closed();
    }
}

/// The card index `name` (`hw:CARD,DEV`) refers to, if the card exists.
pub fn card_index(name: &str) -> Option<u32> {
    match DeviceName::parse(name).ok()?.card {
        CardRef::Index(i) => Some(i),
        CardRef::Id(id) => resolve_card_id(&id),
    }
}

/// Reserves the card PCM `name` is on (before opening it); see the
/// module docs. `Ok` with an unheld reservation when there is nothing to
/// ask (no bus, turned off); [`ReserveError::Refused`] when the holder
/// keeps the card.
pub fn reserve_device(name: &str, config: &ReserveConfig) -> Result<Reservation, ReserveError> {
    let card = card_index(name);
    if !config.enabled {
        return Ok(Reservation::unheld(card, Some("reservation is off".into())));
    }
    let Some(card) = card else {
        // No such card: the open will say so.
        return Ok(Reservation::unheld(None, None));
    };
    take(card, name, config)
}

#[cfg(feature = "reserve")]
fn take(card: u32, name: &str, config: &ReserveConfig) -> Result<Reservation, ReserveError> {
    let watch = ReservationWatch::new();
    match super::bus::take(card, name, config, &watch)? {
        super::bus::Taken::NoBus(why) => Ok(Reservation::unheld(
            Some(card),
            Some(format!("{why}: opening the card without reserving it")),
        )),
        super::bus::Taken::Held(claim, previous_holder) => Ok(Reservation {
            card: Some(card),
            note: None,
            previous_holder,
            watch,
            claim: Some(claim),
        }),
    }
}

#[cfg(not(feature = "reserve"))]
fn take(card: u32, _name: &str, _config: &ReserveConfig) -> Result<Reservation, ReserveError> {
    Ok(Reservation::unheld(
        Some(card),
        Some("built without the `reserve` feature: opening the card without reserving it".into()),
    ))
}
