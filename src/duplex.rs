//! Opening a capture + playback pair for the duplex examples (`monitor`,
//! `daw --input`): two cards' streams (started together with
//! `SNDRV_PCM_IOCTL_LINK` when the kernel allows it, else back to back,
//! and the examples say which), or the simulated device's input (a tone)
//! and output (recorded to a WAV file).

use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm, StartTogether};
use pcmring::sim::{DacMode, SimAdc, SimConfig, SimDac};
use pcmring::{Device, Format, StreamLayout};
use std::path::PathBuf;

/// What to open.
#[derive(Debug, Clone)]
pub struct PairRequest {
    /// Capture device: `hw:CARD,DEVICE[,SUB]` or `sim`.
    pub input: String,
    /// Playback device: `hw:CARD,DEVICE[,SUB]` or `sim`.
    pub output: String,
    /// Frames per second (both sides).
    pub rate: u32,
    /// Period size to ask for.
    pub period: u64,
    /// Ring size to ask for.
    pub buffer: u64,
    /// Where the simulated output writes what it played.
    pub sim_out: PathBuf,
    /// Seconds of simulated output to record.
    pub sim_seconds: f64,
}

/// What stays with the caller of [`open_pair`] while the engine owns the
/// devices.
pub struct Pair {
    /// The simulated ADC, if the input is simulated.
    pub sim_in: Option<SimAdc>,
    /// The simulated DAC, if the output is simulated.
    pub sim_out: Option<SimDac>,
    /// How the pair was started, in words.
    pub start_note: String,
}

fn is_sim(name: &str) -> bool {
    name.eq_ignore_ascii_case("sim")
}

fn sim_layout(req: &PairRequest) -> StreamLayout {
    let buffer = (req.buffer / req.period).max(2) * req.period;
    StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: req.rate,
        period_size: req.period,
        buffer_size: buffer,
        boundary: buffer << 20,
    }
}

fn pcm_config(req: &PairRequest) -> Config {
    Config {
        format: None,
        channels: 2,
        rate: req.rate,
        rate_match: Match::Exact,
        period_size: req.period,
        buffer: BufferSize::Frames(req.buffer),
        ..Config::default()
    }
}

fn open_pcm(name: &str, dir: Direction, req: &PairRequest) -> Result<Pcm, String> {
    Pcm::open(name, dir, &pcm_config(req)).map_err(|e| {
        format!("{dir} device {name}: {e} (list devices with `cargo run --example devices`; `sim` simulates one)")
    })
}

/// The capture device, the playback device, and the rest of the pair.
pub type Opened = (Box<dyn Device>, Box<dyn Device>, Pair);

/// Opens and starts both sides; the rates must match (the duplex engine
/// checks again and names both devices if they do not).
pub fn open_pair(req: &PairRequest) -> Result<Opened, String> {
    let fail = |e: pcmring::Error| e.to_string();
    match (is_sim(&req.input), is_sim(&req.output)) {
        (false, false) => {
            let mut cap = open_pcm(&req.input, Direction::Capture, req)?;
            let mut play = open_pcm(&req.output, Direction::Playback, req)?;
            let how = play.start_together(&mut cap).map_err(fail)?;
            let start_note = match how {
                StartTogether::Linked => "input and output linked (one START)".to_owned(),
                StartTogether::Unlinked { reason } => format!(
                    "input and output NOT linked ({reason}): started back to back, \
                     the round trip below uses the measured offset"
                ),
            };
            Ok((
                Box::new(cap),
                Box::new(play),
                Pair {
                    sim_in: None,
                    sim_out: None,
                    start_note,
                },
            ))
        }
        (in_sim, out_sim) => {
            let (input, sim_in): (Box<dyn Device>, _) = if in_sim {
                let mut c = SimConfig::new(sim_layout(req));
                c.mode = DacMode::Continuous { step: 16 };
                let rate = f64::from(req.rate);
                let tone = move |index: u64, channels: usize, out: &mut [f32]| {
                    for (i, frame) in out.chunks_exact_mut(channels.max(1)).enumerate() {
                        let t = (index + i as u64) as f64 / rate;
                        let v = (t * 220.0 * std::f64::consts::TAU).sin() * 0.3;
                        frame.fill(v as f32);
                    }
                };
                let adc = SimAdc::start(c, tone).map_err(fail)?;
                (Box::new(adc.device().map_err(fail)?), Some(adc))
            } else {
                let mut cap = open_pcm(&req.input, Direction::Capture, req)?;
                cap.prepare().map_err(fail)?;
                cap.start().map_err(fail)?;
                (Box::new(cap), None)
            };
            let (output, sim_out): (Box<dyn Device>, _) = if out_sim {
                let mut c = SimConfig::new(sim_layout(req));
                c.mode = DacMode::Continuous { step: 16 };
                c.record_frames = (req.sim_seconds * f64::from(req.rate)) as usize;
                c.wav = Some(req.sim_out.clone());
                let dac = SimDac::start(c).map_err(fail)?;
                (Box::new(dac.device().map_err(fail)?), Some(dac))
            } else {
                let mut play = open_pcm(&req.output, Direction::Playback, req)?;
                play.prepare().map_err(fail)?;
                play.start().map_err(fail)?;
                (Box::new(play), None)
            };
            let start_note = if in_sim && out_sim {
                "simulated input (220 Hz tone) and output (one clock: both follow CLOCK_MONOTONIC)"
                    .to_owned()
            } else {
                "input and output on different clocks (one simulated): they drift, \
                 and a drift the margin cannot hold ends in a counted realign"
                    .to_owned()
            };
            Ok((
                input,
                output,
                Pair {
                    sim_in,
                    sim_out,
                    start_note,
                },
            ))
        }
    }
}

impl Pair {
    /// Stops the simulated sides (the DAC writes its recording); call after
    /// the engine stopped. Returns the recording's path if one was written.
    pub fn finish(self, sim_out: &std::path::Path) -> Result<Option<PathBuf>, String> {
        if let Some(adc) = self.sim_in {
            let _ = adc.stop();
        }
        match self.sim_out {
            Some(dac) => {
                dac.stop().map_err(|e| e.to_string())?;
                Ok(Some(sim_out.to_path_buf()))
            }
            None => Ok(None),
        }
    }
}
