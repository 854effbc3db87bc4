//! Parsing `hw:CARD,DEVICE[,SUBDEVICE]` device names.

use crate::{Error, Result};

/// How a name designates its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRef {
    /// By index, `hw:0,0`.
    Index(u32),
    /// By card id, `hw:Loopback,0` (see `/proc/asound/cards`).
    Id(String),
}

/// A parsed `hw:` device name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName {
    /// The card.
    pub card: CardRef,
    /// The PCM device number on the card.
    pub device: u32,
    /// A specific subdevice, or any free one.
    pub subdevice: Option<u32>,
}

impl DeviceName {
    /// Parses `hw:CARD[,DEVICE[,SUBDEVICE]]`. CARD is an index or a card id;
    /// the `CARD=`, `DEV=` and `SUBDEV=` prefixes alsa-lib accepts are
    /// accepted too. DEVICE defaults to 0.
    pub fn parse(name: &str) -> Result<DeviceName> {
        let bad = |reason| Error::BadDeviceName {
            name: name.to_owned(),
            reason,
        };
        let rest = name
            .strip_prefix("hw:")
            .ok_or_else(|| bad("only hw:CARD,DEVICE[,SUBDEVICE] names are supported"))?;
        let mut parts = rest.split(',');
        let card = parts.next().unwrap_or("");
        let card = card.strip_prefix("CARD=").unwrap_or(card);
        if card.is_empty() {
            return Err(bad("the card is missing"));
        }
        let card = if card.bytes().all(|b| b.is_ascii_digit()) {
            CardRef::Index(card.parse().map_err(|_| bad("card index out of range"))?)
        } else if card.len() > 15 || !card.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("a card id is at most 15 printable characters"));
        } else {
            CardRef::Id(card.to_owned())
        };
        let number = |s: Option<&str>, prefix: &str, what| -> Result<Option<u32>> {
            match s {
                None => Ok(None),
                Some(s) => {
                    let s = s.strip_prefix(prefix).unwrap_or(s);
                    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad(what));
                    }
                    s.parse().map(Some).map_err(|_| bad(what))
                }
            }
        };
        let device = number(parts.next(), "DEV=", "the device must be a number")?.unwrap_or(0);
        let subdevice = number(parts.next(), "SUBDEV=", "the subdevice must be a number")?;
        if parts.next().is_some() {
            return Err(bad("too many fields: use hw:CARD,DEVICE[,SUBDEVICE]"));
        }
        Ok(DeviceName {
            card,
            device,
            subdevice,
        })
    }
}

impl std::fmt::Display for DeviceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.card {
            CardRef::Index(i) => write!(f, "hw:{i},{}", self.device)?,
            CardRef::Id(id) => write!(f, "hw:{id},{}", self.device)?,
        }
        if let Some(s) = self.subdevice {
            write!(f, ",{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let n = DeviceName::parse("hw:0,0").unwrap();
        assert_eq!(n.card, CardRef::Index(0));
        assert_eq!((n.device, n.subdevice), (0, None));
        let n = DeviceName::parse("hw:Loopback,1,3").unwrap();
        assert_eq!(n.card, CardRef::Id("Loopback".into()));
        assert_eq!((n.device, n.subdevice), (1, Some(3)));
        let n = DeviceName::parse("hw:CARD=Dummy,DEV=0").unwrap();
        assert_eq!(n.card, CardRef::Id("Dummy".into()));
        let n = DeviceName::parse("hw:2").unwrap();
        assert_eq!((n.card, n.device), (CardRef::Index(2), 0));
        assert_eq!(
            DeviceName::parse("hw:Loopback,1,3").unwrap().to_string(),
            "hw:Loopback,1,3"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "hw:",
            "plughw:0,0",
            "default",
            "hw:0,x",
            "hw:0,0,0,0",
            "hw:0,",
            "hw:0,-1",
            "hw:99999999999,0",
            "hw:a b,0",
            "hw:0,0,",
        ] {
            assert!(
                matches!(DeviceName::parse(bad), Err(Error::BadDeviceName { .. })),
                "{bad:?} accepted"
            );
        }
    }
}
