//! The card's control device (`/dev/snd/controlC<n>`): card ids, PCM
//! enumeration and the preferred-subdevice hint.

use crate::sys::abi::{
    c_str, SndCtlCardInfo, SndPcmInfo, Zeroed, SNDRV_CTL_IOCTL_CARD_INFO, SNDRV_CTL_IOCTL_PCM_INFO,
    SNDRV_CTL_IOCTL_PCM_NEXT_DEVICE, SNDRV_CTL_IOCTL_PCM_PREFER_SUBDEVICE,
};
use crate::sys::ioctl::ioctl_arg;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where ALSA's device nodes live.
pub const DEV_SND: &str = "/dev/snd";

/// An open control device.
#[derive(Debug)]
pub struct Control {
    file: File,
}

/// Card identification from CARD_INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// Card index.
    pub index: u32,
    /// Card id, e.g. `Loopback`.
    pub id: String,
    /// Short name.
    pub name: String,
    /// Driver name.
    pub driver: String,
}

impl Control {
    /// Opens `/dev/snd/controlC<card>` read-only.
    pub fn open(card: u32) -> io::Result<Control> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(format!("{DEV_SND}/controlC{card}"))?;
        Ok(Control { file })
    }

    /// CARD_INFO.
    pub fn card_info(&self) -> io::Result<CardInfo> {
        let mut ci = SndCtlCardInfo::zeroed();
        // SAFETY: CARD_INFO transfers a `snd_ctl_card_info`, which
        // SndCtlCardInfo mirrors (checked by tests/abi_layout.rs).
        unsafe { ioctl_arg(self.file.as_fd(), SNDRV_CTL_IOCTL_CARD_INFO, &mut ci)? };
        Ok(CardInfo {
            index: u32::try_from(ci.card).unwrap_or(u32::MAX),
            id: c_str(&ci.id),
            name: c_str(&ci.name),
            driver: c_str(&ci.driver),
        })
    }

    /// PCM_NEXT_DEVICE: the next PCM device number after `after`
    /// (`None` to start), or `None` at the end.
    pub fn next_pcm_device(&self, after: Option<u32>) -> io::Result<Option<u32>> {
        let mut dev: i32 = after.map_or(-1, |d| i32::try_from(d).unwrap_or(i32::MAX));
        // SAFETY: PCM_NEXT_DEVICE transfers one int.
        unsafe { ioctl_arg(self.file.as_fd(), SNDRV_CTL_IOCTL_PCM_NEXT_DEVICE, &mut dev)? };
        Ok(u32::try_from(dev).ok())
    }

    /// PCM_INFO for one device/subdevice/stream. `Ok(None)` when the
    /// device has no substream in that direction (ENOENT) or no such
    /// device or subdevice exists (ENXIO).
    pub fn pcm_info(
        &self,
        device: u32,
        subdevice: u32,
        stream: i32,
    ) -> io::Result<Option<SndPcmInfo>> {
        let mut info = SndPcmInfo::zeroed();
        info.device = device;
        info.subdevice = subdevice;
        info.stream = stream;
        // SAFETY: PCM_INFO transfers a `snd_pcm_info`, which SndPcmInfo
        // mirrors (checked by tests/abi_layout.rs).
        match unsafe { ioctl_arg(self.file.as_fd(), SNDRV_CTL_IOCTL_PCM_INFO, &mut info) } {
            Ok(_) => Ok(Some(info)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENXIO)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PCM_PREFER_SUBDEVICE: the next PCM open *by this thread* while
    /// this control stays open gets `subdevice` (or fails if it is busy).
    pub fn prefer_subdevice(&self, subdevice: Option<u32>) -> io::Result<()> {
        let mut v: i32 = subdevice.map_or(-1, |s| i32::try_from(s).unwrap_or(i32::MAX));
        // SAFETY: PCM_PREFER_SUBDEVICE reads one int.
        unsafe {
            ioctl_arg(
                self.file.as_fd(),
                SNDRV_CTL_IOCTL_PCM_PREFER_SUBDEVICE,
                &mut v,
            )?
        };
        Ok(())
    }
}

/// Indexes of the cards that have a control device, ascending.
pub fn card_indexes() -> Vec<u32> {
    let mut cards: Vec<u32> = match std::fs::read_dir(DEV_SND) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("controlC"))
                    .and_then(|n| n.parse().ok())
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if cards.is_empty() {
        cards = proc_card_indexes();
    }
    cards.sort_unstable();
    cards.dedup();
    cards
}

fn proc_card_indexes() -> Vec<u32> {
    match std::fs::read_dir("/proc/asound") {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("card"))
                    .and_then(|n| n.parse().ok())
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The card id of card `index`: CARD_INFO, else `/proc/asound/card<N>/id`.
pub fn card_id(index: u32) -> Option<String> {
    if let Ok(id) = Control::open(index).and_then(|c| c.card_info()) {
        return Some(id.id);
    }
    std::fs::read_to_string(Path::new(&format!("/proc/asound/card{index}/id")))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Resolves a card id (e.g. `Loopback`) to its index.
pub fn resolve_card_id(id: &str) -> Option<u32> {
    card_indexes()
        .into_iter()
        .find(|&i| card_id(i).as_deref() == Some(id))
}
