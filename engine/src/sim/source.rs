//! What the simulated device's input side (the "ADC") captures: a
//! [`SimSource`] fills each step's frames. Two come with the crate: a
//! [`FrameCounter`] whose every frame names its own index (for checking
//! that captured audio arrives complete, in order and bit-exact), and a
//! [`WavSource`] that plays a WAV file into the capture ring.

use crate::error::{Error, Result, Step};
use std::path::Path;

/// Produces the audio the simulated ADC "hears".
///
/// Runs on the ADC thread: it should not allocate or block.
pub trait SimSource: Send + 'static {
    /// Fills `out` (interleaved f32, whole frames of `channels`) with the
    /// frames starting at `index`, counted from 0 at the ADC's start.
    fn fill(&mut self, index: u64, channels: usize, out: &mut [f32]);
}

impl<F: FnMut(u64, usize, &mut [f32]) + Send + 'static> SimSource for F {
    fn fill(&mut self, index: u64, channels: usize, out: &mut [f32]) {
        self(index, channels, out)
    }
}

/// A source whose frame `n` encodes `n + 1` in 16-bit codes: channel 0 the
/// low 16 bits, channel 1 the next 16, channels 2 and 3 the rest, further
/// channels 0. Every value is an exact S16 code, so it survives every ring
/// format bit for bit, and [`FrameCounter::index_of`] reads the index back
/// from a captured frame (silence reads as `None`).
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))] // the tests' source
pub struct FrameCounter;

#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl FrameCounter {
    /// The sample of channel `ch` of frame `index`.
    pub fn sample(index: u64, ch: usize) -> f32 {
        if ch >= 4 {
            return 0.0;
        }
        let word = ((index + 1) >> (16 * ch)) as u16;
        f32::from(word as i16) / 32_768.0
    }

    /// The frame index a captured frame encodes (`None` for silence). Reads
    /// as many 16-bit words as the frame has channels (up to 4), so a mono
    /// stream's index is known modulo 2^16, stereo's modulo 2^32.
    pub fn index_of(frame: &[f32]) -> Option<u64> {
        let mut v = 0u64;
        for (ch, &x) in frame.iter().take(4).enumerate() {
            let code = (x * 32_768.0).round() as i32 as i16 as u16;
            v |= u64::from(code) << (16 * ch);
        }
        v.checked_sub(1)
    }

    /// The modulus of the indices [`FrameCounter::index_of`] returns for
    /// frames of `channels` channels (0: the full u64 range).
    pub fn modulus(channels: usize) -> u64 {
        match channels.min(4) {
            4 => 0,
            n => 1u64 << (16 * n),
        }
    }
}

impl SimSource for FrameCounter {
    fn fill(&mut self, index: u64, channels: usize, out: &mut [f32]) {
        for (i, frame) in out.chunks_exact_mut(channels.max(1)).enumerate() {
            for (ch, s) in frame.iter_mut().enumerate() {
                *s = FrameCounter::sample(index + i as u64, ch);
            }
        }
    }
}

/// A WAV file as capture input: played once from the ADC's start, then
/// silence (or looped). Loaded and converted to f32 up front, so the ADC
/// thread only copies.
#[derive(Debug, Clone)]
pub struct WavSource {
    samples: Vec<f32>,
    channels: usize,
    rate: u32,
    looped: bool,
}

impl WavSource {
    /// Loads `path` (integer PCM up to 32 bits, or 32-bit float). Integer
    /// samples become `code / 2^(bits-1)`, which the ring formats with at
    /// least as many bits hold exactly.
    pub fn open(path: &Path) -> Result<WavSource> {
        let name = path.display().to_string();
        let fail = |e: hound::Error| Error::sys(&name, Step::Simulate, std::io::Error::other(e));
        let reader = hound::WavReader::open(path).map_err(fail)?;
        let spec = reader.spec();
        let samples: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader
                .into_samples::<f32>()
                .collect::<std::result::Result<_, _>>()
                .map_err(fail)?,
            hound::SampleFormat::Int => {
                let scale = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f64;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| (f64::from(v) / scale) as f32))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(fail)?
            }
        };
        Ok(WavSource {
            samples,
            channels: usize::from(spec.channels.max(1)),
            rate: spec.sample_rate,
            looped: false,
        })
    }

    /// Plays the file over and over instead of once.
    pub fn looped(mut self) -> WavSource {
        self.looped = true;
        self
    }

    /// Channels in the file.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The file's sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Frames in the file.
    pub fn frames(&self) -> u64 {
        (self.samples.len() / self.channels) as u64
    }

    /// The file's interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }
}

impl SimSource for WavSource {
    /// Frame `index` of the file, channel by channel; device channels the
    /// file lacks are silent, file channels the device lacks are dropped.
    fn fill(&mut self, index: u64, channels: usize, out: &mut [f32]) {
        let total = self.frames();
        for (i, frame) in out.chunks_exact_mut(channels.max(1)).enumerate() {
            let mut n = index + i as u64;
            if self.looped && total > 0 {
                n %= total;
            }
            if n >= total {
                frame.fill(0.0);
                continue;
            }
            let base = n as usize * self.channels;
            for (ch, s) in frame.iter_mut().enumerate() {
                *s = if ch < self.channels {
                    self.samples[base + ch]
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_names_its_frames_in_every_channel_count() {
        for channels in 1..=6 {
            let mut out = vec![0.0; 8 * channels];
            FrameCounter.fill(70_000, channels, &mut out);
            for (i, f) in out.chunks_exact(channels).enumerate() {
                let want = 70_000 + i as u64;
                let m = FrameCounter::modulus(channels);
                let got = FrameCounter::index_of(f).unwrap();
                if m == 0 {
                    assert_eq!(got, want);
                } else {
                    assert_eq!(got, (want + 1) % m - 1, "{channels} ch");
                }
            }
        }
        assert_eq!(FrameCounter::index_of(&[0.0, 0.0]), None);
    }
}
