//! Decoded, immutable sounds shared by reference, and WAV loading.
//!
//! A [`Sound`] is interleaved `f32` sample data behind an `Arc<[f32]>`, at
//! the device rate: cloning it is a reference-count increment, and the mixer
//! holds such a reference for every voice that plays it. Files (WAV, FLAC,
//! Ogg Vorbis, MP3) are decoded by [`crate::decode`] (symphonia) and
//! converted to the device rate at load time by
//! [`crate::resample::StreamResampler::resample_all`].

use std::fmt;
use std::io::Read;

use crate::decode::FileDecoder;
pub use crate::sound_error::SoundError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// [`Sound::MAX_CHANNELS`], for this module.
const MAX_CHANNELS: u16 = Sound::MAX_CHANNELS;

/// Decoded sample data: interleaved `f32`, a channel count and a rate.
///
/// A sound is a range of an `Arc<[f32]>`: usually the whole buffer, or one
/// part of a bank made by [`Sound::pack`], where many sounds share one
/// large buffer backed by huge pages (fewer TLB misses when thousands of
/// voices read thousands of sounds).
#[derive(Clone)]
pub struct Sound {
    samples: Arc<[f32]>,
    offset: usize,
    len: usize,
    channels: u16,
    rate: u32,
}

impl fmt::Debug for Sound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sound")
            .field("channels", &self.channels)
            .field("rate", &self.rate)
            .field("frames", &self.frames())
            .finish()
    }
}

/// Checks that every sample is finite.
fn check_finite(samples: &[f32]) -> Result<(), SoundError> {
    match samples.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(SoundError::NonFinite { index }),
        None => Ok(()),
    }
}

/// Checks that `samples` interleaved samples make whole frames of
/// `channels` channels, and that the channel count is supported.
fn check_shape(channels: u16, samples: usize) -> Result<(), SoundError> {
    if channels == 0 || channels > MAX_CHANNELS || !samples.is_multiple_of(channels as usize) {
        return Err(SoundError::BadShape { channels, samples });
    }
    Ok(())
}

impl Sound {
    /// Most channels a sound may have: mono and stereo are panned, 3 to 8
    /// channels (5.1, 7.1, ... in WAV/FLAC order) go through a matrix onto
    /// the output layout ([`crate::mixer::OutputLayout`]).
    pub const MAX_CHANNELS: u16 = 8;

    /// Makes a sound from interleaved samples already at the rate `rate`.
    /// Every sample must be finite ([`SoundError::NonFinite`] otherwise).
    ///
    /// ```
    /// let s = pcmring::sound::Sound::from_samples(vec![0.0, 0.5, 1.0], 1, 48_000).unwrap();
    /// assert_eq!(s.frames(), 3);
    /// ```
    pub fn from_samples(
        samples: impl Into<Arc<[f32]>>,
        channels: u16,
        rate: u32,
    ) -> Result<Sound, SoundError> {
        let samples = samples.into();
        check_shape(channels, samples.len())?;
        check_finite(&samples)?;
        if rate == 0 {
            return Err(SoundError::BadRate);
        }
        let len = samples.len();
        Ok(Sound {
            samples,
            offset: 0,
            len,
            channels,
            rate,
        })
    }

    /// Makes a sound from interleaved samples at `rate`, converted to `device_rate`.
    pub fn from_samples_at(
        samples: &[f32],
        channels: u16,
        rate: u32,
        device_rate: u32,
    ) -> Result<Sound, SoundError> {
        if rate == 0 || device_rate == 0 {
            return Err(SoundError::BadRate);
        }
        check_shape(channels, samples.len())?;
        let converted = crate::resample::resample(samples, channels as usize, rate, device_rate);
        Sound::from_samples(converted, channels, device_rate)
    }

    /// Loads an audio file (WAV, FLAC, Ogg Vorbis or MP3, recognised from
    /// its contents) whole into memory and converts it to `device_rate`.
    /// Sounds keep their channels (up to 8, in the file's order; the mixer
    /// maps them onto the output layout).
    ///
    /// Errors name the file and the problem; truncated or corrupt files are
    /// errors, never panics (a file that decodes to fewer frames than its
    /// header claims is reported as truncated). For long music, stream it
    /// instead ([`crate::stream`]).
    pub fn load(path: impl AsRef<Path>, device_rate: u32) -> Result<Sound, SoundError> {
        let mut dec = FileDecoder::open(path)?;
        Sound::decode(&mut dec, device_rate)
    }

    /// Loads an audio file; the same as [`Sound::load`] (kept for callers
    /// that only ever had WAV files).
    pub fn load_wav(path: impl AsRef<Path>, device_rate: u32) -> Result<Sound, SoundError> {
        Sound::load(path, device_rate)
    }

    /// Reads an audio stream of any supported format; `name` is used in
    /// error messages (and its extension as a format hint).
    pub fn read_wav<R: Read + Send + Sync + 'static>(
        reader: R,
        name: &Path,
        device_rate: u32,
    ) -> Result<Sound, SoundError> {
        let mut dec = FileDecoder::from_reader(reader, name)?;
        Sound::decode(&mut dec, device_rate)
    }

    /// Decodes the rest of `dec` into a sound at `device_rate`.
    pub fn decode(dec: &mut FileDecoder, device_rate: u32) -> Result<Sound, SoundError> {
        let samples = dec.decode_all()?;
        let ch = dec.channels() as usize;
        let frames = (samples.len() / ch) as u64;
        if let Some(claimed) = dec.frames_hint() {
            if frames < claimed {
                return Err(SoundError::Format {
                    path: dec.name().to_path_buf(),
                    problem: format!(
                        "file is truncated: its header claims {claimed} frames, it holds {frames}"
                    ),
                });
            }
        }
        if frames == 0 {
            return Err(SoundError::Format {
                path: dec.name().to_path_buf(),
                problem: "no audio frames".into(),
            });
        }
        Sound::from_samples_at(&samples, ch as u16, dec.rate(), device_rate)
    }

    /// The interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples[self.offset..self.offset + self.len]
    }

    /// The shared sample buffer (for a packed sound, the whole bank).
    pub fn shared_samples(&self) -> &Arc<[f32]> {
        &self.samples
    }

    /// Channels per frame.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.len / self.channels as usize
    }

    /// Makes a bank: one shared buffer holding `parts` (frames and channels
    /// each) at `rate`, filled by `fill(part, samples)`, and returns a
    /// [`Sound`] per part.
    ///
    /// The buffer is advised to the kernel as huge-page memory
    /// (`madvise(MADV_HUGEPAGE)`, best effort) before it is first touched.
    /// Call it at load time, not on a realtime thread.
    ///
    /// ```
    /// use pcmring::sound::Sound;
    /// let bank = Sound::pack(&[(100, 1), (50, 2)], 48_000, |i, s| s.fill(i as f32)).unwrap();
    /// assert_eq!(bank[1].frames(), 50);
    /// assert_eq!(bank[1].samples()[99], 1.0);
    /// ```
    pub fn pack(
        parts: &[(usize, u16)],
        rate: u32,
        mut fill: impl FnMut(usize, &mut [f32]),
    ) -> Result<Vec<Sound>, SoundError> {
        if rate == 0 {
            return Err(SoundError::BadRate);
        }
        let mut total = 0usize;
        for &(frames, channels) in parts {
            if channels == 0 || channels > MAX_CHANNELS {
                return Err(SoundError::BadShape {
                    channels,
                    samples: frames,
                });
            }
            total += frames * channels as usize;
        }
        let mut buf: Arc<[std::mem::MaybeUninit<f32>]> = Arc::new_uninit_slice(total);
        let Some(raw) = Arc::get_mut(&mut buf) else {
            unreachable!("a new Arc is unique")
        };
        crate::sys::mmap::advise_huge_pages(raw);
        for x in raw.iter_mut() {
            x.write(0.0);
        }
        // SAFETY: every element was initialised just above, and
        // `MaybeUninit<f32>` has the same layout as `f32`.
        let init: &mut [f32] =
            unsafe { &mut *(raw as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
        let mut offset = 0;
        for (i, &(frames, channels)) in parts.iter().enumerate() {
            let len = frames * channels as usize;
            fill(i, &mut init[offset..offset + len]);
            offset += len;
        }
        check_finite(init)?;
        // SAFETY: all elements are initialised (see above).
        let samples: Arc<[f32]> = unsafe { buf.assume_init() };
        let mut offset = 0;
        Ok(parts
            .iter()
            .map(|&(frames, channels)| {
                let len = frames * channels as usize;
                let s = Sound {
                    samples: samples.clone(),
                    offset,
                    len,
                    channels,
                    rate,
                };
                offset += len;
                s
            })
            .collect())
    }

    /// Copies already-made sounds (e.g. loaded WAV files, all at the same
    /// rate) into one huge-page bank; see [`Sound::pack`].
    ///
    /// ```
    /// use pcmring::sound::Sound;
    /// let a = Sound::from_samples(vec![0.5; 10], 1, 48_000).unwrap();
    /// let b = Sound::from_samples(vec![0.25; 8], 2, 48_000).unwrap();
    /// let bank = Sound::pack_sounds(&[a, b]).unwrap();
    /// assert_eq!(bank[1].samples(), &[0.25; 8]);
    /// ```
    pub fn pack_sounds(sounds: &[Sound]) -> Result<Vec<Sound>, SoundError> {
        let Some(first) = sounds.first() else {
            return Ok(Vec::new());
        };
        if sounds.iter().any(|s| s.rate != first.rate) {
            return Err(SoundError::Format {
                path: PathBuf::new(),
                problem: "sounds packed into one bank must share a rate".into(),
            });
        }
        let parts: Vec<(usize, u16)> = sounds.iter().map(|s| (s.frames(), s.channels)).collect();
        Sound::pack(&parts, first.rate, |i, dst| {
            dst.copy_from_slice(sounds[i].samples())
        })
    }

    /// How many `Sound` values share this sample data.
    pub fn ref_count(&self) -> usize {
        Arc::strong_count(&self.samples)
    }
}
