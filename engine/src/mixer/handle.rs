//! Voice handles: cheap, `Send + Sync`, generation-checked.

use std::fmt;
use std::sync::Arc;

use super::command::Command;
use super::error::MixerError;
pub use super::id::VoiceId;
use super::param;
use super::shared::Shared;
use super::tween::{Tween, TweenParam};

/// A handle to one voice, returned by [`super::Mixer::play`].
///
/// Cloning is a reference-count increment. Every operation checks the
/// voice's generation: once the voice has ended, operations return
/// [`MixerError::Ended`] and never affect a later voice in the same slot.
/// Dropping the handle does not stop the voice.
#[derive(Clone)]
pub struct VoiceHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: VoiceId,
}

impl fmt::Debug for VoiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceHandle").field("id", &self.id).finish()
    }
}

pub(crate) fn valid_gain(g: f32) -> bool {
    g.is_finite() && g >= 0.0
}

pub(crate) fn valid_rate(r: f32) -> bool {
    r.is_finite() && r > 0.0 && r <= 16.0
}

impl VoiceHandle {
    /// The voice's id.
    pub fn id(&self) -> VoiceId {
        self.id
    }

    /// Whether the voice has not ended yet (it may still be waiting for its
    /// start time, or paused) and its engine still runs.
    pub fn is_active(&self) -> bool {
        !self.engine_gone()
            && param::is_current(
                &self.shared.generations[self.id.slot as usize],
                self.id.generation,
            )
    }

    fn engine_gone(&self) -> bool {
        self.shared
            .renderer_gone
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn check(&self) -> Result<(), MixerError> {
        if self.engine_gone() {
            Err(MixerError::EngineGone)
        } else if self.is_active() {
            Ok(())
        } else {
            Err(MixerError::Ended)
        }
    }

    fn set_word(&self, word: &std::sync::atomic::AtomicU64, value: f32) -> Result<(), MixerError> {
        self.check()?;
        if param::set(word, self.id.generation, value) {
            Ok(())
        } else {
            Err(MixerError::Ended)
        }
    }

    /// Sets the gain (linear, >= 0); the change ramps over the mixer's ramp length.
    pub fn set_gain(&self, gain: f32) -> Result<(), MixerError> {
        if !valid_gain(gain) {
            return Err(MixerError::BadParams);
        }
        self.set_word(&self.shared.params[self.id.slot as usize].gain, gain)
    }

    /// Sets the pan (`-1..=1`, clamped); the change ramps.
    pub fn set_pan(&self, pan: f32) -> Result<(), MixerError> {
        if !pan.is_finite() {
            return Err(MixerError::BadParams);
        }
        self.set_word(
            &self.shared.params[self.id.slot as usize].pan,
            pan.clamp(-1.0, 1.0),
        )
    }

    /// Places the voice at a direction: `degrees` off ahead, positive to
    /// the right, ±180 behind (any value; wrapped). On quad, 5.1 and 7.1
    /// outputs a mono voice is panned with constant power between the two
    /// speakers around that direction; on stereo and mono outputs, and for
    /// stereo voices, it acts as the pan `sin(degrees)`. It replaces the
    /// pan, and [`VoiceHandle::set_pan`] replaces it; the change ramps.
    /// See [`super::OutputLayout`].
    pub fn set_azimuth(&self, degrees: f32) -> Result<(), MixerError> {
        if !degrees.is_finite() {
            return Err(MixerError::BadParams);
        }
        self.set_word(
            &self.shared.params[self.id.slot as usize].pan,
            super::surround::encode_azimuth(degrees),
        )
    }

    /// Sets the playback rate (`(0, 16]`); the change ramps.
    pub fn set_rate(&self, rate: f32) -> Result<(), MixerError> {
        if !valid_rate(rate) {
            return Err(MixerError::BadParams);
        }
        self.set_word(&self.shared.params[self.id.slot as usize].rate, rate)
    }

    /// The gain last set (what the voice is at or ramping to).
    pub fn gain(&self) -> Result<f32, MixerError> {
        self.check()?;
        param::get(
            &self.shared.params[self.id.slot as usize].gain,
            self.id.generation,
        )
        .ok_or(MixerError::Ended)
    }

    /// Tweens the gain to `gain` now, over `tween.frames` frames along
    /// `tween.curve` (instead of the mixer's default linear ramp). A later
    /// [`VoiceHandle::set_gain`] replaces it; [`VoiceHandle::gain`] keeps
    /// reporting the last plain `set_gain` value.
    pub fn set_gain_tween(&self, gain: f32, tween: Tween) -> Result<(), MixerError> {
        self.tween_gain_at(0, gain, tween)
    }

    /// Changes the gain to `gain` on exactly output frame `frame_time`,
    /// ramping linearly over the mixer's ramp length from that frame (the
    /// target is reached on frame `frame_time + ramp - 1`).
    pub fn set_gain_at(&self, frame_time: u64, gain: f32) -> Result<(), MixerError> {
        let ramp = self.shared.ramp_frames;
        self.tween_gain_at(frame_time, gain, Tween::linear(ramp))
    }

    /// A gain tween that starts on exactly output frame `frame_time` (0 = now).
    pub fn tween_gain_at(
        &self,
        frame_time: u64,
        gain: f32,
        tween: Tween,
    ) -> Result<(), MixerError> {
        if !valid_gain(gain) {
            return Err(MixerError::BadParams);
        }
        self.tween_at(TweenParam::Gain, frame_time, gain, tween)
    }

    /// Tweens the stage pan (`-1..=1`, clamped) to `pan` now, over
    /// `tween.frames` frames along `tween.curve` ([`super::Curve::ExponentialDb`]
    /// is linear for a pan). A later [`VoiceHandle::set_pan`] or
    /// [`VoiceHandle::set_azimuth`] replaces it. See [`super::Tween`].
    pub fn set_pan_tween(&self, pan: f32, tween: Tween) -> Result<(), MixerError> {
        self.tween_pan_at(0, pan, tween)
    }

    /// Changes the stage pan to `pan` on exactly output frame `frame_time`,
    /// ramping over the mixer's ramp length from that frame.
    pub fn set_pan_at(&self, frame_time: u64, pan: f32) -> Result<(), MixerError> {
        let ramp = self.shared.ramp_frames;
        self.tween_pan_at(frame_time, pan, Tween::linear(ramp))
    }

    /// A pan tween that starts on exactly output frame `frame_time` (0 = now).
    pub fn tween_pan_at(&self, frame_time: u64, pan: f32, tween: Tween) -> Result<(), MixerError> {
        if !pan.is_finite() {
            return Err(MixerError::BadParams);
        }
        self.tween_at(TweenParam::Pan, frame_time, pan.clamp(-1.0, 1.0), tween)
    }

    /// Tweens the playback rate (`(0, 16]`) to `rate` now, over
    /// `tween.frames` frames along `tween.curve`
    /// ([`super::Curve::ExponentialDb`] is a constant ratio per frame). A
    /// later [`VoiceHandle::set_rate`] replaces it. See [`super::Tween`].
    pub fn set_rate_tween(&self, rate: f32, tween: Tween) -> Result<(), MixerError> {
        self.tween_rate_at(0, rate, tween)
    }

    /// Changes the rate to `rate` on exactly output frame `frame_time`,
    /// ramping over the mixer's ramp length from that frame.
    pub fn set_rate_at(&self, frame_time: u64, rate: f32) -> Result<(), MixerError> {
        let ramp = self.shared.ramp_frames;
        self.tween_rate_at(frame_time, rate, Tween::linear(ramp))
    }

    /// A rate tween that starts on exactly output frame `frame_time` (0 = now).
    pub fn tween_rate_at(
        &self,
        frame_time: u64,
        rate: f32,
        tween: Tween,
    ) -> Result<(), MixerError> {
        if !valid_rate(rate) {
            return Err(MixerError::BadParams);
        }
        self.tween_at(TweenParam::Rate, frame_time, rate, tween)
    }

    fn tween_at(
        &self,
        param: TweenParam,
        frame_time: u64,
        target: f32,
        tween: Tween,
    ) -> Result<(), MixerError> {
        let id = self.id;
        self.send(Command::Tween {
            slot: id.slot,
            generation: id.generation,
            param,
            target,
            tween,
            at: frame_time,
        })
    }

    /// The voice's position: the frame of its sound it plays next (for a
    /// streaming voice, frames of the stream consumed so far), as of the
    /// renderer's last chunk.
    pub fn position(&self) -> Result<u64, MixerError> {
        let p = self.shared.params[self.id.slot as usize]
            .position
            .load(std::sync::atomic::Ordering::Relaxed);
        self.check()?;
        Ok(p)
    }

    /// Moves the voice to frame `frame` of its sound (not for streaming
    /// voices: seek the [`crate::stream::Stream`]), at the next block.
    pub fn seek(&self, frame: u64) -> Result<(), MixerError> {
        let id = self.id;
        self.send(Command::Seek {
            slot: id.slot,
            generation: id.generation,
            frame,
        })
    }

    fn send(&self, cmd: Command) -> Result<(), MixerError> {
        self.check()?;
        if self.shared.send(cmd) {
            Ok(())
        } else {
            Err(MixerError::QueueFull)
        }
    }

    /// Stops the voice now with the mixer's default fade.
    pub fn stop(&self) -> Result<(), MixerError> {
        self.stop_with_fade(self.shared.default_fade)
    }

    /// Stops the voice now, fading out over `fade` frames (0 = cut).
    pub fn stop_with_fade(&self, fade: u32) -> Result<(), MixerError> {
        let id = self.id;
        self.send(Command::Stop {
            slot: id.slot,
            generation: id.generation,
            at: 0,
            fade,
        })
    }

    /// Stops the voice on exactly output frame `frame_time`: the fade of
    /// `fade` frames starts on that frame (0 = the voice's last sample is at
    /// `frame_time - 1`).
    pub fn stop_at(&self, frame_time: u64, fade: u32) -> Result<(), MixerError> {
        let id = self.id;
        self.send(Command::Stop {
            slot: id.slot,
            generation: id.generation,
            at: frame_time,
            fade,
        })
    }

    /// Fades out over the default fade and pauses (position kept). A voice
    /// still waiting for its start time pauses at once and, once resumed,
    /// starts immediately.
    pub fn pause(&self) -> Result<(), MixerError> {
        let id = self.id;
        self.send(Command::Pause {
            slot: id.slot,
            generation: id.generation,
            fade: self.shared.default_fade,
        })
    }

    /// Resumes a paused voice, fading in over the ramp length.
    pub fn resume(&self) -> Result<(), MixerError> {
        let id = self.id;
        self.send(Command::Resume {
            slot: id.slot,
            generation: id.generation,
            fade: self.shared.ramp_frames,
        })
    }
}
