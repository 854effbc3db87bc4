//! Why a sound could not be made, loaded or decoded.

use std::fmt;
use std::path::PathBuf;

/// Why a sound could not be made or loaded.
#[derive(Debug)]
pub enum SoundError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not in a format we decode, or it is corrupt or truncated.
    Format {
        /// The file (empty for in-memory data).
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
    },
    /// The file's format, codec or shape (channels, rate) is not one we decode.
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The format found, in words.
        what: String,
    },
    /// The channel count is zero or above [`crate::Sound::MAX_CHANNELS`], or the sample
    /// count is not a whole number of frames.
    BadShape {
        /// The channel count.
        channels: u16,
        /// The number of samples given.
        samples: usize,
    },
    /// A sample rate of zero.
    BadRate,
    /// A sample is NaN or infinite (sounds must hold finite samples, so
    /// the mix stays finite).
    NonFinite {
        /// Index of the first such sample (interleaved).
        index: usize,
    },
}

impl fmt::Display for SoundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoundError::Io { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            SoundError::Format { path, problem } => {
                write!(
                    f,
                    "{}: not a readable audio file: {problem}",
                    path.display()
                )
            }
            SoundError::Unsupported { path, what } => {
                write!(f, "{}: unsupported: {what}", path.display())
            }
            SoundError::BadShape { channels, samples } => {
                write!(
                    f,
                    "bad sound shape: {samples} samples in {channels} channels"
                )
            }
            SoundError::BadRate => write!(f, "bad sound: sample rate 0"),
            SoundError::NonFinite { index } => {
                write!(f, "bad sound: sample {index} is NaN or infinite")
            }
        }
    }
}

impl std::error::Error for SoundError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SoundError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
