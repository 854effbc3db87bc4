//! [`MixerError`]: why a mixer or voice operation did nothing.

use std::fmt;

/// Why [`super::Mixer::play`], a bus operation or an operation on a
/// [`super::VoiceHandle`] did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixerError {
    /// Every voice slot is in use (after collecting garbage).
    PoolFull,
    /// The command queue is full; nothing was sent. Retry later.
    QueueFull,
    /// No such bus.
    BadBus,
    /// The sound's rate differs from the mixer's (load it at the device rate).
    WrongRate {
        /// The sound's rate.
        sound: u32,
        /// The mixer's rate.
        mixer: u32,
    },
    /// A gain, pan or rate out of range (not finite, negative gain, rate
    /// outside `(0, 16]`), or loop points outside the sound.
    BadParams,
    /// The sound has no frames.
    EmptySound,
    /// Nothing renders this mixer any more: its engine stopped (the device
    /// went away, or an error; `Engine::error` says which), or its
    /// renderer panicked or was dropped. Nothing plays.
    EngineGone,
    /// The stream is already playing in another voice.
    StreamInUse,
    /// The voice has ended (finished, stopped or killed); its slot may now
    /// hold another voice, which this handle can never touch.
    Ended,
}

impl fmt::Display for MixerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixerError::PoolFull => f.write_str("every voice slot is in use"),
            MixerError::QueueFull => f.write_str("the mixer's command queue is full"),
            MixerError::BadBus => f.write_str("no such bus"),
            MixerError::WrongRate { sound, mixer } => write!(
                f,
                "sound rate {sound} Hz differs from mixer rate {mixer} Hz"
            ),
            MixerError::BadParams => f.write_str("gain, pan, rate or loop points out of range"),
            MixerError::EmptySound => f.write_str("the sound has no frames"),
            MixerError::EngineGone => f.write_str(
                "the engine rendering this mixer has stopped (see Engine::error); start a new one",
            ),
            MixerError::StreamInUse => f.write_str("the stream already plays in a voice"),
            MixerError::Ended => f.write_str("the voice has ended"),
        }
    }
}

impl std::error::Error for MixerError {}
