//! Events from the renderer to any thread: a bounded lock-free queue
//! (crossbeam `ArrayQueue`) the renderer pushes to without allocating and
//! any number of threads pop from with [`super::Mixer::poll_event`]. When
//! nobody reads and the queue is full, new events are dropped and counted in
//! [`super::MixerStats::dropped_events`].

use super::id::VoiceId;

/// Why a voice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A one-shot voice played its last frame.
    Finished,
    /// It was stopped (after its fade, if any).
    Stopped,
    /// Its output contained NaN or an infinity: it was silenced and ended.
    NonFinite,
}

/// Something the renderer tells the control side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixerEvent {
    /// A voice ended.
    VoiceEnded {
        /// The voice.
        id: VoiceId,
        /// Why.
        reason: EndReason,
        /// Device frame time of the first frame of the mixing chunk (at most
        /// 256 frames) in which it ended.
        at: u64,
    },
    /// A chunk of output contained NaN or an infinity and was replaced by
    /// silence (the voice responsible, once found, ends with
    /// [`EndReason::NonFinite`]).
    NonFiniteSilenced {
        /// Device frame time of the silenced chunk's first frame.
        at: u64,
        /// Frames silenced.
        frames: u32,
    },
    /// A streaming voice had no decoded frames ready: `frames` frames of it
    /// were heard as silence starting at `at`.
    StreamUnderrun {
        /// The voice.
        id: VoiceId,
        /// Device frame time of the first silent frame.
        at: u64,
        /// Silent frames in this block.
        frames: u32,
    },
}
