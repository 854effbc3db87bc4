//! What the simulated DAC played: raw ring-format frames and a WAV writer.

use crate::convert;
use crate::layout::{Format, StreamLayout};
use std::path::Path;

/// Frames the DAC consumed, in the ring's format, in play order.
#[derive(Debug, Clone)]
pub struct Recording {
    layout: StreamLayout,
    start_frame: u64,
    bytes: Vec<u8>,
    truncated: bool,
}

impl Recording {
    /// An empty recording with room for `max_frames` (allocated now).
    pub(crate) fn with_capacity(
        layout: &StreamLayout,
        start_frame: u64,
        max_frames: usize,
    ) -> Self {
        Self {
            layout: *layout,
            start_frame,
            bytes: Vec::with_capacity(max_frames * layout.frame_bytes()),
            truncated: false,
        }
    }

    /// Appends consumed bytes without growing past the capacity (the DAC
    /// thread must not allocate while it runs); returns false when full.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> bool {
        let room = self.bytes.capacity() - self.bytes.len();
        if bytes.len() > room {
            let keep = room - room % self.layout.frame_bytes();
            self.bytes.extend_from_slice(&bytes[..keep]);
            self.truncated = true;
            return false;
        }
        self.bytes.extend_from_slice(bytes);
        true
    }

    /// The DAC's 64-bit frame position of the first recorded frame: the
    /// recording's frame `i` is device frame `start_frame + i`.
    pub fn start_frame(&self) -> u64 {
        self.start_frame
    }

    /// Stream layout (format, channels, rate) of the recording.
    pub fn layout(&self) -> &StreamLayout {
        &self.layout
    }

    /// Recorded frames.
    pub fn frames(&self) -> usize {
        self.bytes.len() / self.layout.frame_bytes().max(1)
    }

    /// Whether recording stopped early because the buffer was full.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The raw bytes (ring format, interleaved).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The raw bytes of recorded frame `i`.
    pub fn frame(&self, i: usize) -> Option<&[u8]> {
        let fb = self.layout.frame_bytes();
        self.bytes.get(i * fb..(i + 1) * fb)
    }

    /// The recording decoded to f32 (see `convert::decode`).
    pub fn to_f32(&self) -> Vec<f32> {
        let n = self.bytes.len() / self.layout.format.sample_bytes();
        let mut out = vec![0.0; n];
        convert::decode(self.layout.format, &self.bytes, &mut out);
        out
    }

    /// Writes the recording as a WAV file: S16 as 16-bit, S24 (both
    /// containers) as 24-bit, S32 as 32-bit integer, F32 as 32-bit float.
    /// Samples are stored exactly as they were in the ring.
    pub fn write_wav(&self, path: &Path) -> Result<(), hound::Error> {
        let (bits, sample_format) = match self.layout.format {
            Format::S16Le => (16, hound::SampleFormat::Int),
            Format::S24Le | Format::S24_3Le => (24, hound::SampleFormat::Int),
            Format::S32Le => (32, hound::SampleFormat::Int),
            Format::F32Le => (32, hound::SampleFormat::Float),
        };
        let spec = hound::WavSpec {
            channels: u16::try_from(self.layout.channels).map_err(|_| hound::Error::Unsupported)?,
            sample_rate: self.layout.rate,
            bits_per_sample: bits,
            sample_format,
        };
        let mut w = hound::WavWriter::create(path, spec)?;
        let sb = self.layout.format.sample_bytes();
        for s in self.bytes.chunks_exact(sb) {
            match self.layout.format {
                Format::S16Le => w.write_sample(i16::from_le_bytes([s[0], s[1]]))?,
                Format::S24Le => {
                    w.write_sample((i32::from_le_bytes([s[0], s[1], s[2], s[3]]) << 8) >> 8)?
                }
                Format::S24_3Le => {
                    w.write_sample(i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8)?
                }
                Format::S32Le => w.write_sample(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))?,
                Format::F32Le => w.write_sample(f32::from_le_bytes([s[0], s[1], s[2], s[3]]))?,
            }
        }
        w.finalize()
    }
}
