//! Listing the PCM devices present.

use super::control::{card_indexes, Control};
use super::direction::Direction;
use crate::sys::abi::{c_str, SNDRV_PCM_STREAM_CAPTURE, SNDRV_PCM_STREAM_PLAYBACK};
use crate::{Error, Result, Step};

/// One PCM device and direction, as the card's control device reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcmDevice {
    /// Card index.
    pub card: u32,
    /// Card id (use it in names: `hw:<card_id>,<device>`).
    pub card_id: String,
    /// Card short name.
    pub card_name: String,
    /// PCM device number.
    pub device: u32,
    /// Playback or capture.
    pub direction: Direction,
    /// The PCM's id.
    pub id: String,
    /// The PCM's name.
    pub name: String,
    /// Subdevices (substreams) in this direction.
    pub subdevices: u32,
    /// Subdevices not currently open.
    pub subdevices_free: u32,
}

impl PcmDevice {
    /// Every PCM device of every card, by card, device, then playback before
    /// capture. Empty (not an error) on a machine with no sound card.
    pub fn list() -> Result<Vec<PcmDevice>> {
        let mut out = Vec::new();
        for card in card_indexes() {
            let where_ = format!("/dev/snd/controlC{card}");
            let ctl = match Control::open(card) {
                Ok(c) => c,
                // Vanished between readdir and open.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(Error::sys(&where_, Step::Info, e)),
            };
            let ci = ctl
                .card_info()
                .map_err(|e| Error::sys(&where_, Step::Info, e))?;
            let mut dev = None;
            loop {
                dev = match ctl
                    .next_pcm_device(dev)
                    .map_err(|e| Error::sys(&where_, Step::Info, e))?
                {
                    Some(d) => Some(d),
                    None => break,
                };
                let Some(d) = dev else { break };
                for (direction, stream) in [
                    (Direction::Playback, SNDRV_PCM_STREAM_PLAYBACK),
                    (Direction::Capture, SNDRV_PCM_STREAM_CAPTURE),
                ] {
                    let info = ctl
                        .pcm_info(d, 0, stream)
                        .map_err(|e| Error::sys(&where_, Step::Info, e))?;
                    if let Some(info) = info {
                        out.push(PcmDevice {
                            card,
                            card_id: ci.id.clone(),
                            card_name: ci.name.clone(),
                            device: d,
                            direction,
                            id: c_str(&info.id),
                            name: c_str(&info.name),
                            subdevices: info.subdevices_count,
                            subdevices_free: info.subdevices_avail,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The name to open it with, by card id: `hw:Loopback,0`.
    pub fn hw_name(&self) -> String {
        format!("hw:{},{}", self.card_id, self.device)
    }
}
