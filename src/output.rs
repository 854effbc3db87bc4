//! Choosing and opening the output the examples play on: a sound card
//! (`hw:CARD,DEVICE`), the simulated device recording to a WAV file, or a
//! stream leased from a `pcmring-broker`.
//!
//! A card is taken the way JACK takes it from the desktop's sound server
//! (device reservation, [`pcmring::reserve`]) unless [`Request::reserve`]
//! is off, and given back when the engine stops.
//!
//! [`open`] with [`Choice::Auto`] takes the first playback device
//! [`pcmring::pcm::PcmDevice::list`] finds. If there is none, or it refuses the
//! settings, it says why and falls back to the simulated device. If the
//! card is busy and its holder keeps it, it fails and names the holder:
//! falling back would play where nobody hears it (`--device sim` chooses
//! the simulated device).

use pcmring::pcm::{self, BufferSize, Config, Direction, Pcm};
use pcmring::reserve::{self, ReservationWatch, ReserveConfig, ReserveError, Reserved};
use pcmring::sim::{DacMode, SimConfig, SimDac, SimReport};
use pcmring::Device;
use pcmring::{Error, Format, StreamLayout};
use std::path::{Path, PathBuf};

/// Where to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The first playback card if one is there and free, else the
    /// simulated device.
    Auto,
    /// This ALSA device (`hw:1,0`, `hw:Loopback,0`, ...); no fallback.
    Hw(String),
    /// The simulated device.
    Sim,
    /// A broker listening on this socket (a path, or `@name`).
    Connect(String),
}

impl Choice {
    /// From the examples' `--device` and `--connect` options.
    pub fn from_args(device: Option<&str>, connect: Option<&str>) -> Result<Choice, String> {
        match (device, connect) {
            (Some(_), Some(_)) => {
                Err("--device and --connect exclude each other: the broker owns the device".into())
            }
            (None, Some(s)) => Ok(Choice::Connect(s.to_owned())),
            (None, None) => Ok(Choice::Auto),
            (Some(d), None) if d.eq_ignore_ascii_case("sim") => Ok(Choice::Sim),
            (Some(d), None) if d.eq_ignore_ascii_case("auto") => Ok(Choice::Auto),
            (Some(d), None) => {
                pcm::DeviceName::parse(d).map_err(|e| {
                    format!("--device {d:?}: {e} (expected hw:CARD,DEVICE[,SUB], sim or auto)")
                })?;
                Ok(Choice::Hw(d.to_owned()))
            }
        }
    }
}

/// What the caller would like; the device may grant something else
/// (read [`Output::layout`]).
#[derive(Debug, Clone)]
pub struct Request {
    /// Channels wanted (hardware falls back to stereo if refused).
    pub channels: u32,
    /// Frames per second wanted.
    pub rate: u32,
    /// Ring format of the simulated device (hardware picks its own).
    pub sim_format: Format,
    /// Frames per period (hardware: nearest the card allows).
    pub period: u64,
    /// Frames in the ring (hardware: nearest the card allows).
    pub buffer: u64,
    /// Where the simulated device writes what it played.
    pub sim_out: PathBuf,
    /// Frames the simulated device records at most (memory is taken up
    /// front).
    pub sim_record_frames: usize,
    /// How to reserve a card from the sound server
    /// ([`ReserveConfig::disabled`] for `--no-reserve`).
    pub reserve: ReserveConfig,
}

/// A device of any of the three kinds, as one [`Device`] type.
pub type AnyDevice = Box<dyn Device>;

/// An opened output: the device for the engine, and the simulated DAC
/// when there is one (stop it after the engine to get the recording).
#[derive(Debug)]
pub struct Output {
    /// The device to start the engine on.
    pub device: AnyDevice,
    /// The simulated device's DAC, when playing on it.
    pub sim: Option<SimDac>,
    /// Where the simulated device writes its recording.
    pub sim_out: Option<PathBuf>,
    /// A short description, e.g. `hw:0,0 (HDA Intel PCH)`.
    pub label: String,
    /// Things the user should know (fallbacks and why).
    pub notes: Vec<String>,
    /// Tells when another program asks for the reserved card (see
    /// [`pcmring::reserve::OnRequest`]); `None` unless a card is reserved.
    pub reservation: Option<ReservationWatch>,
}

impl Output {
    /// The stream's geometry.
    pub fn layout(&self) -> StreamLayout {
        self.device.layout()
    }

    /// Stops the simulated DAC (if any) and writes its recording; call
    /// after the engine has stopped.
    pub fn finish_sim(sim: Option<SimDac>) -> Result<Option<SimReport>, String> {
        match sim {
            None => Ok(None),
            Some(dac) => dac
                .stop()
                .map(Some)
                .map_err(|e| format!("simulated device: {e}")),
        }
    }
}

/// Opens the output `choice` names; see the module docs.
pub fn open(choice: &Choice, req: &Request) -> Result<Output, String> {
    match choice {
        Choice::Sim => open_sim(req, Vec::new()),
        Choice::Hw(name) => open_hw(name, req).map_err(|e| e.to_string()),
        Choice::Connect(addr) => open_leased(addr),
        Choice::Auto => {
            let first = match pcm::PcmDevice::list() {
                Ok(list) => list
                    .into_iter()
                    .find(|d| d.direction == Direction::Playback),
                Err(e) => {
                    return open_sim(req, vec![format!("cannot list sound cards ({e})")]);
                }
            };
            let Some(dev) = first else {
                return open_sim(req, vec!["no sound card found".to_owned()]);
            };
            let name = dev.hw_name();
            match open_hw(&name, req) {
                Ok(out) => Ok(out),
                Err(e @ (ReserveError::Busy { .. } | ReserveError::Refused { .. })) => {
                    Err(format!(
                        "{e}\n(not falling back to the simulated device, where nothing would be \
                     heard: --device sim plays there and records to a WAV file)"
                    ))
                }
                Err(e) => open_sim(req, vec![format!("{name}: {e}")]),
            }
        }
    }
}

fn open_hw(name: &str, req: &Request) -> Result<Output, ReserveError> {
    let config = |channels| Config {
        format: None,
        channels,
        rate: req.rate,
        period_size: req.period,
        buffer: BufferSize::Frames(req.buffer),
        ..Config::default()
    };
    let mut notes = Vec::new();
    // Reserve the card first: the sound server closes it for us.
    let reservation = reserve::reserve_device(name, &req.reserve)?;
    if let Some(note) = reservation.note().filter(|_| req.reserve.enabled) {
        notes.push(note.to_owned());
    }
    if let Some(h) = reservation.previous_holder() {
        notes.push(format!(
            "took the card from {h}; it gets the card back when playback ends"
        ));
    }
    let open = |channels| {
        Pcm::open(name, Direction::Playback, &config(channels)).map_err(|e| reservation.explain(e))
    };
    let mut pcm = match open(req.channels) {
        Err(ReserveError::Pcm(Error::Unsupported { .. })) if req.channels != 2 => {
            notes.push(format!(
                "{name} does not take {} channels; using stereo",
                req.channels
            ));
            open(2)?
        }
        r => r?,
    };
    pcm.prepare()?;
    pcm.start()?;
    let info = pcm.info();
    let label = if info.name.is_empty() {
        name.to_owned()
    } else {
        format!("{name} ({})", info.name)
    };
    let watch = reservation.is_held().then(|| reservation.watch());
    Ok(Output {
        device: Box::new(Reserved::new(pcm, reservation)),
        sim: None,
        sim_out: None,
        label,
        notes,
        reservation: watch,
    })
}

/// The simulated device's layout for `req`.
pub fn sim_layout(req: &Request) -> StreamLayout {
    let period = req.period.clamp(16, 4096);
    let buffer = req.buffer.max(period * 2).div_ceil(period) * period;
    StreamLayout {
        format: req.sim_format,
        channels: req.channels,
        rate: req.rate,
        period_size: period,
        buffer_size: buffer,
        boundary: buffer << 20,
    }
}

fn open_sim(req: &Request, mut notes: Vec<String>) -> Result<Output, String> {
    let layout = sim_layout(req);
    let mut config = SimConfig::new(layout);
    config.mode = DacMode::Periods;
    config.record_frames = req.sim_record_frames;
    config.wav = Some(req.sim_out.clone());
    if let Some(dir) = req.sim_out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    check_writable(&req.sim_out)?;
    let dac = SimDac::start(config).map_err(|e| format!("simulated device: {e}"))?;
    let device = dac.device().map_err(|e| format!("simulated device: {e}"))?;
    if !notes.is_empty() {
        notes.push("playing on the simulated device instead".to_owned());
    }
    Ok(Output {
        device: Box::new(device),
        sim: Some(dac),
        sim_out: Some(req.sim_out.clone()),
        label: format!(
            "simulated device ({} {}ch {} Hz, recording to {})",
            layout.format,
            layout.channels,
            layout.rate,
            req.sim_out.display()
        ),
        notes,
        reservation: None,
    })
}

/// Fails early (before playing) when the recording could not be saved.
fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("--out {}: is a directory", path.display()));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn open_leased(addr: &str) -> Result<Output, String> {
    let lease = pcmring::client::connect(addr).map_err(|e| format!("broker at {addr}: {e}"))?;
    let device = lease
        .into_device()
        .map_err(|e| format!("broker at {addr}: {e}"))?;
    let info = device.info();
    let l = info.layout;
    let label = format!(
        "stream leased from the broker at {addr} ({}, {} {}ch {} Hz)",
        info.device.describe(),
        l.format,
        l.channels,
        l.rate
    );
    Ok(Output {
        device: Box::new(device),
        sim: None,
        sim_out: None,
        label,
        notes: Vec::new(),
        reservation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        assert_eq!(Choice::from_args(None, None), Ok(Choice::Auto));
        assert_eq!(Choice::from_args(Some("SIM"), None), Ok(Choice::Sim));
        assert_eq!(
            Choice::from_args(Some("hw:Loopback,0"), None),
            Ok(Choice::Hw("hw:Loopback,0".into()))
        );
        assert!(Choice::from_args(Some("default"), None).is_err());
        assert!(Choice::from_args(Some("hw:0,0"), Some("/tmp/s")).is_err());
        assert_eq!(
            Choice::from_args(None, Some("@pcmring")),
            Ok(Choice::Connect("@pcmring".into()))
        );
    }

    #[test]
    fn sim_layout_is_valid() {
        let req = Request {
            channels: 1,
            rate: 44_100,
            sim_format: Format::S16Le,
            period: 100,
            buffer: 250,
            sim_out: PathBuf::from("x.wav"),
            sim_record_frames: 0,
            reserve: ReserveConfig::disabled(),
        };
        let l = sim_layout(&req);
        assert_eq!(l.period_size, 100);
        assert_eq!(l.buffer_size % l.period_size, 0);
        assert!(l.buffer_size >= 250);
        assert_eq!(l.boundary % l.buffer_size, 0);
    }
}
