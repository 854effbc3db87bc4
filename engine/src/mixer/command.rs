//! What a caller asks for when it starts a voice, and the commands that
//! travel from control threads to the renderer.

use std::sync::Arc;

pub use super::looping::Loop;
use crate::sound::Sound;
use crate::stream::StreamShared;

/// A bus (voice group with its own gain). [`BusId::MAIN`] always exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BusId(pub(crate) u16);

impl BusId {
    /// The bus every mixer has, named "main".
    pub const MAIN: BusId = BusId(0);

    /// The bus's index (0 for [`BusId::MAIN`], then in the order the builder added them).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// When a voice starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// At the start of the next block the renderer mixes.
    #[default]
    Now,
    /// On exactly this output frame of the device's 64-bit frame clock (the
    /// `frame_time` of the renderer's blocks). A time already past starts at
    /// once and is counted in [`super::MixerStats::late_starts`].
    At(u64),
}

/// Parameters of a new voice. Build with [`PlayParams::new`] and the setters.
///
/// ```
/// use pcmring::mixer::{Loop, PlayParams};
/// let p = PlayParams::new().gain(0.5).pan(-0.25).looping(Loop::Whole).at(48_000);
/// assert_eq!(p.gain, 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayParams {
    /// Linear gain (1.0 = unity). Finite and non-negative.
    pub gain: f32,
    /// Pan in `-1.0..=1.0` (left..right), constant power (−3 dB per
    /// side at the centre for mono, balance for stereo).
    pub pan: f32,
    /// Playback rate (1.0 = as recorded; 2.0 = an octave up). In `(0, 16]`.
    pub rate: f32,
    /// Looping.
    pub looping: Loop,
    /// The bus the voice mixes into.
    pub bus: BusId,
    /// When it starts.
    pub start: Start,
    /// Fade-in length in frames (0 = start at full gain).
    pub fade_in: u32,
    /// The frame of the sound the voice starts playing from (a seek before
    /// the start; 0 = the beginning). Must be inside the sound.
    pub offset: u64,
}

impl Default for PlayParams {
    fn default() -> Self {
        PlayParams {
            gain: 1.0,
            pan: 0.0,
            rate: 1.0,
            looping: Loop::Off,
            bus: BusId::MAIN,
            start: Start::Now,
            fade_in: 0,
            offset: 0,
        }
    }
}

impl PlayParams {
    /// Unity gain, centre pan, rate 1, no loop, main bus, start now.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the gain.
    pub fn gain(mut self, gain: f32) -> Self {
        self.gain = gain;
        self
    }
    /// Sets the pan.
    pub fn pan(mut self, pan: f32) -> Self {
        self.pan = pan;
        self
    }
    /// Sets the playback rate.
    pub fn rate(mut self, rate: f32) -> Self {
        self.rate = rate;
        self
    }
    /// Sets the looping mode.
    pub fn looping(mut self, looping: Loop) -> Self {
        self.looping = looping;
        self
    }
    /// Sets the bus.
    pub fn bus(mut self, bus: BusId) -> Self {
        self.bus = bus;
        self
    }
    /// Starts on exactly this output frame.
    pub fn at(mut self, frame_time: u64) -> Self {
        self.start = Start::At(frame_time);
        self
    }
    /// Starts playing from frame `frame` of the sound instead of its beginning.
    pub fn offset(mut self, frame: u64) -> Self {
        self.offset = frame;
        self
    }
    /// Sets the fade-in length in frames.
    pub fn fade_in(mut self, frames: u32) -> Self {
        self.fade_in = frames;
        self
    }
}

/// What a bus command does to the bus's voices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BusOp {
    Stop,
    Pause,
    Resume,
}

/// A command for the renderer. Every command names a voice by slot and
/// generation; the renderer ignores commands for a voice that has ended.
pub(crate) enum Command {
    /// Start a voice in a slot the sender allocated.
    Play {
        slot: u32,
        generation: u32,
        sound: Option<Sound>,
        stream: Option<Arc<StreamShared>>,
        params: PlayParams,
        loop_start: u64,
        loop_end: u64,
    },
    /// Stop at `at` (0 = now) with a fade of `fade` frames.
    Stop {
        slot: u32,
        generation: u32,
        at: u64,
        fade: u32,
    },
    /// Fade out over `fade` frames and pause.
    Pause {
        slot: u32,
        generation: u32,
        fade: u32,
    },
    /// Tween a parameter to `target`, starting on frame `at` (0 = now).
    Tween {
        slot: u32,
        generation: u32,
        param: super::tween::TweenParam,
        target: f32,
        tween: super::Tween,
        at: u64,
    },
    /// Stop, pause or resume every voice of a bus.
    Bus { bus: u16, op: BusOp },
    /// Move a (non-streaming) voice to frame `frame` of its sound.
    Seek {
        slot: u32,
        generation: u32,
        frame: u64,
    },
    /// Resume a paused voice, fading in over `fade` frames.
    Resume {
        slot: u32,
        generation: u32,
        fade: u32,
    },
}
