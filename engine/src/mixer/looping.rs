//! How a voice (or a stream) loops.

/// How a voice loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loop {
    /// Play once and end.
    #[default]
    Off,
    /// Loop the whole sound.
    Whole,
    /// Play from the start; on reaching frame `end` (exclusive) jump back to
    /// frame `start`, forever. Requires `start < end <= sound.frames()`.
    Region {
        /// First frame of the loop.
        start: u64,
        /// One past the last frame of the loop.
        end: u64,
    },
}
