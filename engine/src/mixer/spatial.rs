//! 3D sound: a [`Listener`], [`Emitter`]s, and what an emitter should sound
//! like from the listener ([`Listener::hear`]): a gain from a distance model, a
//! direction (an azimuth for any output layout, and a stereo pan), and
//! (optionally) a Doppler playback-rate factor. Apply the result to a voice
//! with [`super::VoiceHandle::set_gain`], `set_azimuth` (panned over the
//! output's speakers, see [`super::OutputLayout`]) and `set_rate` (each
//! ramps), for example once per game frame. Pure functions: no allocation,
//! no state.
//!
//! Coordinates are right-handed, in metres: the listener looks along
//! `forward`, `up` points up, and the listener's right is `forward × up`.

/// A 3-vector.
pub type Vec3 = [f32; 3];

fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: Vec3, b: Vec3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn norm(a: Vec3) -> f32 {
    dot(a, a).sqrt()
}

/// Who hears.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Listener {
    /// Position.
    pub position: Vec3,
    /// Direction the listener faces (need not be unit length).
    pub forward: Vec3,
    /// Up (need not be unit length).
    pub up: Vec3,
    /// Velocity in metres per second (for Doppler).
    pub velocity: Vec3,
}

impl Listener {
    /// Where `emitter` is heard from this listener with distance model
    /// `model`; `doppler` scales the Doppler effect (0 = off, 1 = physical).
    ///
    /// ```
    /// use pcmring::mixer::{Attenuation, Emitter, Listener};
    /// let model = Attenuation::Inverse { reference: 1.0, max: 100.0, rolloff: 1.0 };
    /// let right = Emitter { position: [2.0, 0.0, 0.0], ..Default::default() };
    /// let s = Listener::default().hear(&right, model, 0.0);
    /// assert_eq!((s.gain, s.pan, s.doppler), (0.5, 1.0, 1.0));
    /// assert!((s.azimuth - 90.0).abs() < 1e-4);
    /// ```
    pub fn hear(&self, emitter: &Emitter, model: Attenuation, doppler: f32) -> Spatial {
        let listener = self;
        let to = sub(emitter.position, listener.position);
        let d = norm(to);
        let gain = model.gain(d);
        if d <= 1e-6 {
            return Spatial {
                gain,
                pan: 0.0,
                azimuth: 0.0,
                doppler: 1.0,
            };
        }
        let dir = [to[0] / d, to[1] / d, to[2] / d];
        let right = cross(listener.forward, listener.up);
        let rn = norm(right);
        let pan = if rn > 0.0 {
            (dot(dir, right) / rn).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        // Azimuth from the components along the listener's right and forward.
        let fwd_n = norm(listener.forward);
        let ahead = if fwd_n > 0.0 {
            dot(dir, listener.forward) / fwd_n
        } else {
            1.0
        };
        let side = if rn > 0.0 { dot(dir, right) / rn } else { 0.0 };
        let azimuth = if side == 0.0 && ahead == 0.0 {
            0.0
        } else {
            side.atan2(ahead).to_degrees()
        };
        // f' = f (c + v_listener toward source) / (c + v_source away from listener).
        let c = SPEED_OF_SOUND;
        let vl = dot(listener.velocity, dir);
        let vs = dot(emitter.velocity, dir);
        let factor = ((c + vl) / (c + vs).max(1.0)).clamp(0.25, 4.0);
        Spatial {
            gain,
            pan,
            azimuth,
            doppler: 1.0 + (factor - 1.0) * doppler,
        }
    }
}

impl Default for Listener {
    /// At the origin, facing −z, y up, still.
    fn default() -> Self {
        Listener {
            position: [0.0; 3],
            forward: [0.0, 0.0, -1.0],
            up: [0.0, 1.0, 0.0],
            velocity: [0.0; 3],
        }
    }
}

/// A sound source.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Emitter {
    /// Position.
    pub position: Vec3,
    /// Velocity in metres per second (for Doppler).
    pub velocity: Vec3,
}

/// How loudness falls with distance `d` (the gain is 1 up to `reference`,
/// and stays constant beyond `max`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attenuation {
    /// `reference / (reference + rolloff (d − reference))` (the OpenAL
    /// default, −6 dB per doubling at rolloff 1).
    Inverse {
        /// Distance of unity gain.
        reference: f32,
        /// Distance beyond which the gain stops falling.
        max: f32,
        /// Steepness.
        rolloff: f32,
    },
    /// `1 − rolloff (d − reference) / (max − reference)`, floored at 0.
    Linear {
        /// Distance of unity gain.
        reference: f32,
        /// Distance of the floor.
        max: f32,
        /// Steepness (1 reaches 0 at `max`).
        rolloff: f32,
    },
}

impl Attenuation {
    /// The gain at distance `d`.
    pub fn gain(self, d: f32) -> f32 {
        match self {
            Attenuation::Inverse {
                reference,
                max,
                rolloff,
            } => {
                let d = d.clamp(reference, max.max(reference));
                reference / (reference + rolloff * (d - reference))
            }
            Attenuation::Linear {
                reference,
                max,
                rolloff,
            } => {
                let d = d.clamp(reference, max.max(reference));
                let span = (max - reference).max(f32::MIN_POSITIVE);
                (1.0 - rolloff * (d - reference) / span).max(0.0)
            }
        }
    }
}

/// Speed of sound in air, metres per second.
pub const SPEED_OF_SOUND: f32 = 343.0;

/// What an emitter sounds like from a listener.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spatial {
    /// Gain from the distance model.
    pub gain: f32,
    /// Pan (−1 left .. 1 right): the sine of the angle off the listener's
    /// forward axis in the horizontal plane (a source behind is panned like
    /// its mirror image in front).
    pub pan: f32,
    /// Direction in the horizontal plane in degrees: 0 ahead, positive to
    /// the listener's right, ±180 behind (0 for a source straight above or
    /// at the listener). For [`super::VoiceHandle::set_azimuth`].
    pub azimuth: f32,
    /// Doppler factor for the playback rate (1 = none), clamped to 0.25..4.
    pub doppler: f32,
}
