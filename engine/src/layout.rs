//! The shape of a stream: sample format, channels, rate and ring geometry.

/// Sample formats the engine can write into a ring (all little-endian, interleaved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Signed 16-bit.
    S16Le,
    /// Signed 24-bit in the low three bytes of a 32-bit container.
    S24Le,
    /// Signed 24-bit packed in three bytes.
    S24_3Le,
    /// Signed 32-bit.
    S32Le,
    /// IEEE 754 32-bit float.
    F32Le,
}

impl Format {
    /// Every format, in the order the engine prefers them for negotiation.
    pub const ALL: [Format; 5] = [
        Format::F32Le,
        Format::S32Le,
        Format::S24Le,
        Format::S24_3Le,
        Format::S16Le,
    ];

    /// Bytes one sample occupies in the ring.
    pub const fn sample_bytes(self) -> usize {
        match self {
            Format::S16Le => 2,
            Format::S24_3Le => 3,
            Format::S24Le | Format::S32Le | Format::F32Le => 4,
        }
    }

    /// The ALSA `SNDRV_PCM_FORMAT_*` number of this format.
    pub const fn alsa(self) -> i32 {
        match self {
            Format::S16Le => 2,
            Format::S24Le => 6,
            Format::S32Le => 10,
            Format::F32Le => 14,
            Format::S24_3Le => 32,
        }
    }

    /// The format with ALSA number `n`, if the engine supports it.
    pub const fn from_alsa(n: i32) -> Option<Format> {
        match n {
            2 => Some(Format::S16Le),
            6 => Some(Format::S24Le),
            10 => Some(Format::S32Le),
            14 => Some(Format::F32Le),
            32 => Some(Format::S24_3Le),
            _ => None,
        }
    }

    /// The name ALSA uses for the format, e.g. `S16_LE`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::S16Le => "S16_LE",
            Format::S24Le => "S24_LE",
            Format::S24_3Le => "S24_3LE",
            Format::S32Le => "S32_LE",
            Format::F32Le => "FLOAT_LE",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The negotiated geometry of a running stream: everything a writer needs
/// to address the ring and follow the hardware pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLayout {
    /// Sample format in the ring.
    pub format: Format,
    /// Interleaved channels per frame.
    pub channels: u32,
    /// Frames per second.
    pub rate: u32,
    /// Frames per period (the interrupt granule).
    pub period_size: u64,
    /// Frames in the ring.
    pub buffer_size: u64,
    /// Where `hw_ptr` and `appl_ptr` wrap (a multiple of `buffer_size`).
    pub boundary: u64,
}

impl StreamLayout {
    /// Bytes per interleaved frame.
    pub const fn frame_bytes(&self) -> usize {
        self.format.sample_bytes() * self.channels as usize
    }

    /// Bytes in the whole ring.
    pub const fn ring_bytes(&self) -> usize {
        self.frame_bytes() * self.buffer_size as usize
    }

    /// Periods in the ring.
    pub const fn periods(&self) -> u64 {
        match self.buffer_size.checked_div(self.period_size) {
            Some(n) => n,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alsa_numbers_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_alsa(f.alsa()), Some(f));
        }
        assert_eq!(Format::from_alsa(0), None);
    }

    #[test]
    fn geometry() {
        let l = StreamLayout {
            format: Format::S24_3Le,
            channels: 2,
            rate: 48_000,
            period_size: 256,
            buffer_size: 1024,
            boundary: 1024 << 20,
        };
        assert_eq!(l.frame_bytes(), 6);
        assert_eq!(l.ring_bytes(), 6144);
        assert_eq!(l.periods(), 4);
    }
}
