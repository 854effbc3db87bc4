//! Per-change tweens: how a gain, pan or rate change travels to its target
//! (duration and curve), and when it starts (a device frame, for
//! `set_gain_at`, `set_pan_at`, `set_rate_at` and the `tween_*_at` methods
//! of [`super::VoiceHandle`]).
//!
//! The renderer follows a curve in straight segments of [`TWEEN_SEGMENT`]
//! frames, so a tween costs what a plain ramp costs (no per-frame path):
//!
//! - **Gain and pan**: the value is on the curve (to within float
//!   rounding) at the last frame of every segment (`curve(k * SEGMENT /
//!   frames)` for the k-th) and at the tween's last frame (the target,
//!   exactly from the next frame on); the per-speaker gains move linearly
//!   in between. A pan tween moves the stage pan ([`super::VoiceHandle::set_pan`]);
//!   a voice placed by azimuth starts it from the stage pan `sin(azimuth)`.
//!   Gain and pan tweens that start on the same frame are both exact at
//!   their common segment ends; started apart, the speaker gains follow
//!   both to within a segment.
//! - **Rate**: the playback step moves linearly within a segment (the
//!   kernels' rate ramp) and is exactly `curve(k * SEGMENT / frames)` (in
//!   32.32 fixed point) for the advance from frame `start + k * SEGMENT` to
//!   the next; the target is the step from frame `start + frames` on.
//! - **Curves**: [`Curve::ExponentialDb`] is straight in decibels for the
//!   gain, a constant ratio per frame for the rate (straight in semitones),
//!   and linear for the pan.
//! - **Scheduling**: a tween that starts on frame `F` has its first
//!   segment start on `F` (a zero-length tween jumps on `F`: the gain and
//!   pan of frame `F`, and the step from `F` to `F + 1`, are the new ones).
//!
//! A voice holds one running tween per parameter and up to four scheduled
//! ones in all; a tween that starts replaces the running one of its
//! parameter, and a plain `set_gain`, `set_pan`/`set_azimuth` or
//! `set_rate` cancels that parameter's tweens, running and waiting.

/// Frames per straight piece of a curved tween.
pub const TWEEN_SEGMENT: u32 = 64;

/// The shape of a tween.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Curve {
    /// Straight from start to target.
    #[default]
    Linear,
    /// Straight in decibels (a constant dB rate: what sounds even for fades);
    /// zero gain is taken as −100 dB at the ends, reached exactly. For the
    /// rate, a constant ratio per frame; for the pan, the same as `Linear`.
    ExponentialDb,
    /// Smoothstep (`3x² − 2x³`) from start to target: slow at both ends.
    SCurve,
}

/// Floor of the dB curve (−100 dB).
const DB_FLOOR: f32 = 1e-5;

impl Curve {
    /// The value at fraction `x` (0..=1) of a tween from `from` to `to`
    /// (for a gain or a rate; a pan tween takes `ExponentialDb` as `Linear`).
    ///
    /// ```
    /// use pcmring::mixer::Curve;
    /// assert_eq!(Curve::Linear.at(0.0, 1.0, 0.25), 0.25);
    /// assert!((Curve::ExponentialDb.at(1.0, 0.01, 0.5) - 0.1).abs() < 1e-6);
    /// assert_eq!(Curve::SCurve.at(0.0, 1.0, 0.5), 0.5);
    /// ```
    pub fn at(self, from: f32, to: f32, x: f32) -> f32 {
        let x = x.clamp(0.0, 1.0);
        if x >= 1.0 {
            return to;
        }
        match self {
            Curve::Linear => from + (to - from) * x,
            Curve::SCurve => from + (to - from) * (x * x * (3.0 - 2.0 * x)),
            Curve::ExponentialDb => {
                let (a, b) = (from.max(DB_FLOOR).ln(), to.max(DB_FLOOR).ln());
                if x <= 0.0 {
                    from
                } else {
                    (a + (b - a) * x).exp()
                }
            }
        }
    }
}

/// A tween: its length in frames and its curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tween {
    /// Length in frames (0 = jump on the frame).
    pub frames: u32,
    /// Shape.
    pub curve: Curve,
}

impl Tween {
    /// A linear tween of `frames`.
    pub fn linear(frames: u32) -> Tween {
        Tween {
            frames,
            curve: Curve::Linear,
        }
    }
    /// A tween straight in dB over `frames`.
    pub fn exponential_db(frames: u32) -> Tween {
        Tween {
            frames,
            curve: Curve::ExponentialDb,
        }
    }
    /// An S-curve tween over `frames`.
    pub fn s_curve(frames: u32) -> Tween {
        Tween {
            frames,
            curve: Curve::SCurve,
        }
    }
}

/// The voice parameter a tween moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TweenParam {
    Gain = 0,
    Pan = 1,
    Rate = 2,
}

/// A tween (gain, pan or rate) waiting or in progress on the renderer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamTween {
    pub param: TweenParam,
    pub from: f32,
    pub to: f32,
    pub frames: u32,
    pub done: u32,
    pub curve: Curve,
    /// Device frame it starts on (0 = at once).
    pub at: u64,
}

impl ParamTween {
    /// The value at fraction `x` of the tween. A pan has no decibels: its
    /// [`Curve::ExponentialDb`] is linear. For the rate (always positive)
    /// it is a constant ratio per frame (even steps in semitones).
    pub fn value_at(&self, x: f32) -> f32 {
        let curve = match (self.param, self.curve) {
            (TweenParam::Pan, Curve::ExponentialDb) => Curve::Linear,
            (_, c) => c,
        };
        curve.at(self.from, self.to, x)
    }

    /// The next segment: its length and the value at its last frame.
    pub fn next_segment(&self) -> (u32, f32) {
        let left = self.frames - self.done;
        let len = left.min(TWEEN_SEGMENT);
        let end = self.done + len;
        let v = if end >= self.frames {
            self.to
        } else {
            self.value_at(end as f32 / self.frames as f32)
        };
        (len, v)
    }
}
