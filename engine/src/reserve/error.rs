//! Why a card could not be had, naming who holds it and what to do.

use super::holders::ProcessHolder;
use std::fmt;

/// The holder of a card's reservation, as the session bus tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusHolder {
    /// Its unique bus name (`:1.42`).
    pub bus_name: String,
    /// Its `ApplicationName` property, e.g. `PipeWire`.
    pub application_name: Option<String>,
    /// Its `ApplicationDeviceName` property.
    pub device_name: Option<String>,
    /// Its `Priority` property.
    pub priority: Option<i32>,
    /// Its process id (the bus daemon's `GetConnectionUnixProcessID`).
    pub pid: Option<u32>,
    /// That process's command name.
    pub command: Option<String>,
}

impl fmt::Display for BusHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.application_name {
            Some(n) => write!(f, "{n:?}")?,
            None => write!(f, "bus client {}", self.bus_name)?,
        }
        match (self.pid, &self.command) {
            (Some(pid), Some(c)) => write!(f, " ({c}, pid {pid}")?,
            (Some(pid), None) => write!(f, " (pid {pid}")?,
            _ => write!(f, " ({}", self.bus_name)?,
        }
        if let Some(p) = self.priority {
            write!(f, ", priority {p}")?;
        }
        write!(f, ")")
    }
}

/// Why a card could not be reserved or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReserveError {
    /// The card's reservation holder said no (its priority is at least
    /// ours, or it never gives the card up).
    Refused {
        /// The card index.
        card: u32,
        /// Who holds it.
        holder: Box<BusHolder>,
        /// The priority we asked with.
        priority: i32,
        /// What the holder answered, when it was not a plain "no".
        detail: Option<String>,
    },
    /// The card is open in another process (EBUSY) that does not speak
    /// the reservation protocol, or kept the card after releasing the name.
    Busy {
        /// The PCM name, e.g. `hw:0,0`.
        device: String,
        /// The processes that have the card's PCM nodes open.
        holders: Vec<ProcessHolder>,
        /// Processes whose files we could not inspect (another user's).
        unreadable: usize,
        /// The reservation holder, when there was one.
        bus_holder: Option<Box<BusHolder>>,
    },
    /// The bus failed in the middle of the protocol.
    Bus {
        /// The card index.
        card: u32,
        /// What failed.
        what: String,
    },
    /// Opening or configuring the card failed for another reason.
    Pcm(crate::Error),
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveError::Refused {
                card,
                holder,
                priority,
                detail,
            } => {
                write!(
                    f,
                    "sound card {card} is reserved by {holder}, which refused to release it \
                     to pcmring (priority {priority})"
                )?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                match holder.priority {
                    // The protocol's "never gives it up" (JACK).
                    Some(i32::MAX) => write!(
                        f,
                        "; it never gives cards up: stop that program, or play on another card"
                    ),
                    p => write!(
                        f,
                        "; to get the card: stop that program, or ask with a higher priority \
                         than {} (play: --reserve-priority), or play on another card",
                        p.map_or_else(|| "its own".to_owned(), |p| p.to_string())
                    ),
                }
            }
            ReserveError::Busy {
                device,
                holders,
                unreadable,
                bus_holder,
            } => {
                write!(f, "{device} is busy: ")?;
                if holders.is_empty() {
                    write!(f, "another process has it open")?;
                    if *unreadable > 0 {
                        write!(
                            f,
                            " (none of ours; {unreadable} processes of other users \
                             could not be inspected: try `sudo fuser -v /dev/snd/*`)"
                        )?;
                    }
                } else {
                    write!(f, "held open by ")?;
                    for (i, h) in holders.iter().enumerate() {
                        if i > 0 {
                            write!(f, ", ")?;
                        }
                        write!(f, "{h}")?;
                    }
                }
                match bus_holder {
                    Some(b) => write!(
                        f,
                        "; {b} gave up its reservation but kept the card open: stop it, \
                         or play on another card"
                    ),
                    None => write!(
                        f,
                        "; that program does not give cards up on request: stop it, or \
                         play on another card"
                    ),
                }
            }
            ReserveError::Bus { card, what } => write!(
                f,
                "reserving sound card {card} on the session bus failed: {what} \
                 (to open the card without asking other programs, turn reservation off, \
                 e.g. --no-reserve)"
            ),
            ReserveError::Pcm(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReserveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReserveError::Pcm(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for ReserveError {
    fn from(e: crate::Error) -> Self {
        ReserveError::Pcm(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipewire() -> BusHolder {
        BusHolder {
            bus_name: ":1.7".into(),
            application_name: Some("PipeWire".into()),
            device_name: Some("alsa_card.pci-0000_00_1f.3".into()),
            priority: Some(-20),
            pid: Some(1234),
            command: Some("pipewire".into()),
        }
    }

    #[test]
    fn busy_names_the_processes_and_says_what_to_do() {
        let e = ReserveError::Busy {
            device: "hw:0,0".into(),
            holders: vec![ProcessHolder {
                pid: 99,
                command: "aplay".into(),
                node: "/dev/snd/pcmC0D0p".into(),
            }],
            unreadable: 0,
            bus_holder: None,
        };
        assert_eq!(
            e.to_string(),
            "hw:0,0 is busy: held open by aplay (pid 99, /dev/snd/pcmC0D0p); that program \
             does not give cards up on request: stop it, or play on another card"
        );
        let e = ReserveError::Busy {
            device: "hw:0,0".into(),
            holders: vec![],
            unreadable: 3,
            bus_holder: Some(Box::new(pipewire())),
        };
        let msg = e.to_string();
        assert!(msg.contains("3 processes of other users"), "{msg}");
        assert!(msg.contains("sudo fuser -v /dev/snd/*"), "{msg}");
        assert!(
            msg.contains("\"PipeWire\" (pipewire, pid 1234, priority -20) gave up"),
            "{msg}"
        );
    }

    #[test]
    fn refused_names_the_holder_and_the_priority_to_beat() {
        let e = ReserveError::Refused {
            card: 0,
            holder: Box::new(BusHolder {
                priority: Some(i32::MAX),
                application_name: Some("Jack audio server".into()),
                ..pipewire()
            }),
            priority: 10,
            detail: None,
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "sound card 0 is reserved by \"Jack audio server\" (pipewire, pid 1234, \
                 priority 2147483647), which refused to release it to pcmring (priority 10)"
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with("it never gives cards up: stop that program, or play on another card"),
            "{msg}"
        );
    }
}
