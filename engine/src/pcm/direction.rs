//! [`Direction`]: playback or capture.

use crate::sys::abi::{SNDRV_PCM_STREAM_CAPTURE, SNDRV_PCM_STREAM_PLAYBACK};

/// Stream direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Playback (`pcmC*D*p`).
    Playback,
    /// Capture (`pcmC*D*c`).
    Capture,
}

impl Direction {
    /// `SNDRV_PCM_STREAM_*`.
    pub const fn stream(self) -> i32 {
        match self {
            Direction::Playback => SNDRV_PCM_STREAM_PLAYBACK,
            Direction::Capture => SNDRV_PCM_STREAM_CAPTURE,
        }
    }

    /// The letter of the device node.
    pub const fn node_suffix(self) -> char {
        match self {
            Direction::Playback => 'p',
            Direction::Capture => 'c',
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Playback => "playback",
            Direction::Capture => "capture",
        })
    }
}
