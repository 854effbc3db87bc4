//! A clock in beats: tempo and an origin on the device's frame clock, so
//! voices can be scheduled on beats with [`super::PlayParams::at`] and
//! [`super::VoiceHandle::set_gain_at`] (sample-accurate, no drift: every
//! beat's frame is computed from the origin, never accumulated).

/// Beats at a tempo from an origin frame; tempo changes keep the beat count
/// continuous.
///
/// ```
/// use pcmring::mixer::BeatClock;
/// let mut c = BeatClock::new(48_000, 120.0, 1_000);
/// assert_eq!(c.frame_of_beat(2.0), 1_000 + 48_000);
/// assert_eq!(c.next_beat(1_001, 4), 0.25);
/// c.set_tempo_at(4.0, 60.0);
/// assert_eq!(c.frame_of_beat(5.0), 1_000 + 96_000 + 48_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeatClock {
    rate: u32,
    /// The current tempo segment starts at beat `beat0`, on frame `origin`.
    origin: f64,
    beat0: f64,
    bpm: f64,
}

impl BeatClock {
    /// Beat 0 on device frame `origin`, at `bpm` beats per minute, for a
    /// device at `rate` frames per second.
    pub fn new(rate: u32, bpm: f64, origin: u64) -> BeatClock {
        BeatClock {
            rate,
            origin: origin as f64,
            beat0: 0.0,
            bpm: bpm.max(1e-3),
        }
    }

    /// Frames per beat at the current tempo.
    pub fn frames_per_beat(&self) -> f64 {
        self.rate as f64 * 60.0 / self.bpm
    }

    /// The tempo (beats per minute).
    pub fn bpm(&self) -> f64 {
        self.bpm
    }

    /// The device frame of `beat` (rounded to the nearest frame), for beats
    /// at or after the last tempo change.
    pub fn frame_of_beat(&self, beat: f64) -> u64 {
        (self.origin + (beat - self.beat0) * self.frames_per_beat())
            .round()
            .max(0.0) as u64
    }

    /// The beat (fractional) at device frame `frame`.
    pub fn beat_at(&self, frame: u64) -> f64 {
        self.beat0 + (frame as f64 - self.origin) / self.frames_per_beat()
    }

    /// The first beat subdivision (`1 / division` of a beat) whose frame is
    /// at or after `frame`.
    pub fn next_beat(&self, frame: u64, division: u32) -> f64 {
        let d = division.max(1) as f64;
        let mut b = (self.beat_at(frame) * d).ceil() / d;
        while self.frame_of_beat(b) < frame {
            b += 1.0 / d;
        }
        while b - 1.0 / d >= self.beat0 && self.frame_of_beat(b - 1.0 / d) >= frame {
            b -= 1.0 / d;
        }
        b
    }

    /// Changes the tempo to `bpm` from `beat` on (beats before it keep
    /// their frames as long as they are not asked for again).
    pub fn set_tempo_at(&mut self, beat: f64, bpm: f64) {
        self.origin += (beat - self.beat0) * self.frames_per_beat();
        self.beat0 = beat;
        self.bpm = bpm.max(1e-3);
    }
}
