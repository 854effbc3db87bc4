//! The margin policy: how many frames the engine keeps written ahead of
//! the hardware position, as plain arithmetic (no threads, no clocks: the
//! caller passes the time), so it is tested on its own.
//!
//! margin = granule + allowance + excess, where the allowance (the probe's
//! jitter tail plus the safety term) is the **floor**, and the excess is
//! what underruns added: each underrun grows it by its shortfall plus a
//! quarter, and every quiet `decay` period (no underrun) halves it. A
//! fixed margin ignores both. The result always fits the ring: at most
//! `buffer - (interval + granule)`, at least one granule.

use std::time::Duration;

/// The margin's state; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct MarginPolicy {
    /// A fixed margin in frames (`None`: automatic).
    fixed: Option<u64>,
    /// The probe-based jitter allowance + safety (the floor's part).
    allowance_frames: u64,
    /// Allowance added by underruns on top of the floor; decays.
    excess_frames: u64,
    /// When the excess halves next (CLOCK_MONOTONIC ns).
    next_decay_ns: u64,
    /// The quiet period, ns (`u64::MAX`: never decays).
    decay_ns: u64,
    /// Frames in the ring.
    buffer: u64,
}

/// The margin to keep, and its floor, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MarginFrames {
    /// What to keep written ahead now.
    pub(crate) margin: u64,
    /// What the margin decays back to.
    pub(crate) floor: u64,
}

impl MarginPolicy {
    /// An automatic margin with `allowance_frames` (`fixed: None`) or a
    /// fixed one, for a ring of `buffer` frames; `decay` zero never
    /// shrinks the excess back.
    pub(crate) fn new(
        fixed: Option<u64>,
        allowance_frames: u64,
        decay: Duration,
        buffer: u64,
    ) -> MarginPolicy {
        MarginPolicy {
            fixed,
            allowance_frames,
            excess_frames: 0,
            next_decay_ns: u64::MAX,
            // Zero means never: u64::MAX never comes.
            decay_ns: match u64::try_from(decay.as_nanos()) {
                Ok(0) | Err(_) => u64::MAX,
                Ok(ns) => ns,
            },
            buffer,
        }
    }

    /// The margin for the device's `granule` and the frames between
    /// wake-ups (`interval`), kept inside what the ring can hold.
    pub(crate) fn frames(&self, granule: u64, interval: u64) -> MarginFrames {
        let (floor, want) = match self.fixed {
            Some(f) => (f.max(granule), f.max(granule)),
            None => {
                let floor = granule + self.allowance_frames;
                (floor, floor + self.excess_frames)
            }
        };
        let room = self.buffer.saturating_sub(interval + granule);
        let fit = |m: u64| m.min(room).max(granule);
        MarginFrames {
            margin: fit(want),
            floor: fit(floor),
        }
    }

    /// After an underrun `short` frames deep at time `now_ns`: grows the
    /// excess by the shortfall (+25%, within the ring) and restarts the
    /// quiet period. A fixed margin does not grow.
    pub(crate) fn grow(&mut self, short: u64, now_ns: u64) {
        if self.fixed.is_some() {
            return;
        }
        self.excess_frames = (self.excess_frames + short + short / 4).min(self.buffer);
        self.next_decay_ns = now_ns.saturating_add(self.decay_ns);
    }

    /// Halves the excess once per quiet period; returns whether it did.
    pub(crate) fn decay(&mut self, now_ns: u64) -> bool {
        if self.excess_frames == 0 || self.decay_ns == u64::MAX || now_ns < self.next_decay_ns {
            return false;
        }
        self.excess_frames /= 2;
        self.next_decay_ns = now_ns.saturating_add(self.decay_ns);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn auto(allowance: u64) -> MarginPolicy {
        MarginPolicy::new(None, allowance, Duration::from_secs(4), 48_000)
    }

    #[test]
    fn automatic_floor_is_granule_plus_allowance() {
        let p = auto(300);
        let m = p.frames(64, 128);
        assert_eq!(
            m,
            MarginFrames {
                margin: 364,
                floor: 364
            }
        );
    }

    #[test]
    fn fixed_margin_is_at_least_a_granule_and_never_grows() {
        let mut p = MarginPolicy::new(Some(10), 0, Duration::from_secs(1), 4096);
        assert_eq!(p.frames(240, 128).margin, 240);
        p.grow(1000, 0);
        assert_eq!(
            p.frames(64, 128),
            MarginFrames {
                margin: 64,
                floor: 64
            }
        );
        assert!(!p.decay(10 * S));
    }

    #[test]
    fn underrun_grows_by_shortfall_and_a_quarter() {
        let mut p = auto(300);
        p.grow(400, 0);
        let m = p.frames(64, 128);
        assert_eq!(m.floor, 364);
        assert_eq!(m.margin, 364 + 500);
    }

    #[test]
    fn excess_halves_per_quiet_period_down_to_the_floor() {
        let mut p = auto(300);
        p.grow(3200, 0); // excess 4000
        assert!(!p.decay(3 * S), "not quiet long enough");
        assert!(p.decay(4 * S));
        assert_eq!(p.frames(64, 128).margin, 364 + 2000);
        assert!(!p.decay(5 * S), "one halving per period");
        let mut t = 8 * S;
        while p.decay(t) {
            t += 4 * S;
        }
        assert_eq!(p.frames(64, 128).margin, 364, "back at the floor");
        assert!(t <= 60 * S);
    }

    #[test]
    fn a_new_underrun_restarts_the_quiet_period() {
        let mut p = auto(0);
        p.grow(800, 0);
        p.grow(0, 3 * S);
        assert!(!p.decay(4 * S));
        assert!(p.decay(7 * S));
    }

    #[test]
    fn zero_decay_never_shrinks() {
        let mut p = MarginPolicy::new(None, 0, Duration::ZERO, 48_000);
        p.grow(800, 0);
        assert!(!p.decay(u64::MAX - 1));
        assert_eq!(p.frames(64, 128).margin, 64 + 1000);
    }

    #[test]
    fn margin_fits_the_ring() {
        let mut p = MarginPolicy::new(None, 100, Duration::from_secs(4), 1024);
        p.grow(100_000, 0);
        let m = p.frames(64, 256);
        assert_eq!(m.margin, 1024 - 256 - 64);
        // A ring too small for anything still gets a granule.
        let tiny = MarginPolicy::new(Some(500), 0, Duration::ZERO, 100);
        assert_eq!(tiny.frames(64, 256).margin, 64);
    }
}
