//! 64-bit widening of the kernel's frame pointers.
//!
//! ALSA keeps `hw_ptr` and `appl_ptr` in `0..boundary` (boundary is a large
//! multiple of the buffer size, returned by SW_PARAMS) and wraps them to 0
//! there. The engine wants monotonic 64-bit frame counters; a [`Widener`]
//! turns successive raw readings into one.
//!
//! Rules (also the contract the property tests check):
//! - a reading that moved forward by at most `boundary / 2` frames (modulo
//!   `boundary`) advances the 64-bit value by exactly that distance, across
//!   any number of wraps over the widener's life;
//! - a reading that moved *backward* (more than `boundary / 2` forward,
//!   modulo `boundary`) is ignored: the 64-bit value holds until the raw
//!   pointer passes the last accepted reading again. So `update` is
//!   monotonic. Callers must therefore read at least every `boundary / 2`
//!   frames (with ALSA's boundary of about 2^62 frames that is never a
//!   concern; tiny boundaries in tests are);
//! - a PREPARE or RESET that really rewinds the stream must be followed by
//!   [`Widener::reset`];
//! - a boundary of 0 means "no wrap": the raw value already is 64-bit
//!   (wraps at 2^64).

/// Turns raw pointers that wrap at `boundary` into a monotonic 64-bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Widener {
    boundary: u64,
    last_raw: u64,
    base: u64,
}

impl Widener {
    /// A widener for pointers wrapping at `boundary`, starting at raw 0 =
    /// 64-bit 0. A `boundary` of 0 means no wrap below 2^64.
    pub const fn new(boundary: u64) -> Self {
        Self {
            boundary,
            last_raw: 0,
            base: 0,
        }
    }

    /// A widener whose first accepted reading is `raw`, as 64-bit `raw`.
    pub const fn starting_at(boundary: u64, raw: u64) -> Self {
        let mut w = Self::new(boundary);
        w.last_raw = reduce(raw, boundary);
        w
    }

    /// The wrap point.
    pub const fn boundary(&self) -> u64 {
        self.boundary
    }

    /// The last accepted raw reading.
    pub const fn last_raw(&self) -> u64 {
        self.last_raw
    }

    /// The current 64-bit value (the last accepted reading, widened).
    pub const fn value(&self) -> u64 {
        self.base.wrapping_add(self.last_raw)
    }

    /// Re-anchors after a stream reset: the 64-bit value becomes `raw`.
    pub fn reset(&mut self, raw: u64) {
        *self = Self::starting_at(self.boundary, raw);
    }

    /// Feeds a raw reading and returns the widened, monotonic value.
    /// Readings `>= boundary` are taken modulo `boundary`.
    pub fn update(&mut self, raw: u64) -> u64 {
        let raw = reduce(raw, self.boundary);
        let fwd = forward_distance(self.last_raw, raw, self.boundary);
        if fwd <= half(self.boundary) {
            if raw < self.last_raw {
                // Crossed the wrap point.
                self.base = self.base.wrapping_add(self.boundary);
            }
            self.last_raw = raw;
        }
        self.value()
    }

    /// The raw pointer (what the kernel expects in `appl_ptr`) for a 64-bit
    /// frame count.
    pub const fn to_raw(&self, wide: u64) -> u64 {
        to_raw(wide, self.boundary)
    }
}

/// `wide` reduced to a raw pointer in `0..boundary` (boundary 0: no wrap).
pub(crate) const fn to_raw(wide: u64, boundary: u64) -> u64 {
    reduce(wide, boundary)
}

/// The 64-bit value congruent to `raw` (mod `boundary`) that is closest to
/// `near`; ties go to the later value. Use it to widen a pointer read once
/// (e.g. `appl_ptr` from SYNC_PTR) next to a 64-bit value known to be close.
#[cfg_attr(not(test), allow(dead_code))] // only its own tests use it today
pub(crate) const fn widen_near(raw: u64, near: u64, boundary: u64) -> u64 {
    let raw = reduce(raw, boundary);
    let near_raw = reduce(near, boundary);
    let fwd = forward_distance(near_raw, raw, boundary);
    let back = forward_distance(raw, near_raw, boundary);
    if fwd <= back || back > near {
        near.wrapping_add(fwd)
    } else {
        near.wrapping_sub(back)
    }
}

const fn reduce(v: u64, boundary: u64) -> u64 {
    if boundary == 0 {
        v
    } else {
        v % boundary
    }
}

const fn half(boundary: u64) -> u64 {
    if boundary == 0 {
        u64::MAX / 2 + 1
    } else {
        boundary / 2
    }
}

/// Frames from `from` forward to `to`, both in `0..boundary`.
const fn forward_distance(from: u64, to: u64, boundary: u64) -> u64 {
    if to >= from {
        to - from
    } else if boundary == 0 {
        to.wrapping_sub(from)
    } else {
        boundary - (from - to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_across_a_wrap() {
        let mut w = Widener::new(1000);
        assert_eq!(
            w.update(900),
            0,
            "900 frames forward is more than half: backward"
        );
        assert_eq!(w.update(400), 400);
        assert_eq!(w.update(900), 900);
        assert_eq!(w.update(999), 999);
        assert_eq!(w.update(10), 1010);
        assert_eq!(w.update(400), 1400);
        assert_eq!(w.update(100), 1400, "backward step holds");
        assert_eq!(w.update(500), 1500);
        assert_eq!(w.to_raw(1500), 500);
    }

    #[test]
    fn exactly_half_forward_counts_as_forward() {
        let mut w = Widener::new(1000);
        assert_eq!(w.update(500), 500);
        assert_eq!(w.update(0), 1000);
    }

    #[test]
    fn backward_across_the_wrap_holds() {
        let mut w = Widener::starting_at(1000, 5);
        assert_eq!(w.value(), 5);
        assert_eq!(w.update(995), 5, "995 is 10 frames before 5");
        assert_eq!(w.update(6), 6);
    }

    #[test]
    fn reset_reanchors() {
        let mut w = Widener::new(1000);
        w.update(400);
        w.update(900);
        w.update(300);
        assert_eq!(w.value(), 1300);
        w.reset(0);
        assert_eq!(w.value(), 0);
        assert_eq!(w.update(10), 10);
    }

    #[test]
    fn zero_boundary_means_64_bit() {
        let mut w = Widener::starting_at(0, u64::MAX - 10);
        assert_eq!(w.update(u64::MAX - 1), u64::MAX - 1);
        assert_eq!(w.update(3), 3, "wrapped at 2^64");
        assert_eq!(w.to_raw(12345), 12345);
    }

    #[test]
    fn out_of_range_raw_is_reduced() {
        let mut w = Widener::new(1000);
        assert_eq!(w.update(1200), 200);
    }

    #[test]
    fn widen_near_picks_the_closest() {
        assert_eq!(widen_near(10, 2990, 1000), 3010);
        assert_eq!(widen_near(990, 3010, 1000), 2990);
        assert_eq!(widen_near(500, 3000, 1000), 3500, "tie goes later");
        assert_eq!(widen_near(0, 0, 1000), 0);
    }

    /// The ALSA boundary for a 64-bit long: the largest buffer_size * 2^k
    /// that is at most LONG_MAX - buffer_size (see snd_pcm_hw_params).
    fn alsa_boundary(buffer: u64) -> u64 {
        let mut b = buffer;
        while b * 2 <= (i64::MAX as u64) - buffer {
            b *= 2;
        }
        b
    }

    proptest! {
        /// Steps of at most boundary/2 accumulate exactly, through wraps.
        #[test]
        fn forward_steps_accumulate(
            boundary in 2u64..=u64::MAX / 4,
            start_frac in 0.0f64..1.0,
            steps in proptest::collection::vec(0u64..=1 << 40, 1..64),
        ) {
            let start = ((boundary as f64) * start_frac) as u64 % boundary;
            let mut w = Widener::starting_at(boundary, start);
            let mut wide = start;
            for s in steps {
                let s = s % (boundary / 2 + 1);
                wide += s;
                let got = w.update(to_raw(wide, boundary));
                prop_assert_eq!(got, wide);
                prop_assert_eq!(w.to_raw(got), to_raw(wide, boundary));
            }
        }

        /// Through several wraps of a real ALSA boundary, landing on and
        /// around each wrap point.
        #[test]
        fn alsa_boundaries_wrap(
            buffer in 1u64..=1 << 20,
            wraps in 1u64..4,
            near in 0u64..10_000,
            after in 0u64..10_000,
        ) {
            let boundary = alsa_boundary(buffer);
            let d = near.min(boundary - 1) + 1;
            let start = boundary - d;
            let mut w = Widener::starting_at(boundary, start);
            let mut wide = start;
            for _ in 0..wraps {
                // Just across the wrap point...
                wide += d + after;
                prop_assert_eq!(w.update(to_raw(wide, boundary)), wide);
                // ...then on to `d` frames before the next one.
                let target = (wide / boundary + 1) * boundary - d;
                while wide < target {
                    wide += (target - wide).min(boundary / 2);
                    prop_assert_eq!(w.update(to_raw(wide, boundary)), wide);
                }
                // Exactly on the wrap point.
                wide += d;
                prop_assert_eq!(w.update(0), wide);
                prop_assert_eq!(wide % boundary, 0);
                wide -= d;
                w.reset(to_raw(wide, boundary));
                wide = to_raw(wide, boundary);
            }
        }

        /// Whatever the readings, the value never decreases.
        #[test]
        fn monotonic(
            boundary in 1u64..5000,
            raws in proptest::collection::vec(0u64..10_000, 1..200),
        ) {
            let mut w = Widener::new(boundary);
            let mut last = 0;
            for r in raws {
                let v = w.update(r);
                prop_assert!(v >= last);
                last = v;
            }
        }

        /// A backward step is ignored, and forward motion resumes exactly
        /// once the pointer passes the last accepted reading.
        #[test]
        fn backward_then_forward(
            boundary in 4u64..1 << 40,
            start in 0u64..1 << 40,
            back in 1u64..1 << 20,
            fwd in 0u64..1 << 20,
        ) {
            let back = 1 + back % (boundary / 2 - 1);
            let start = start % boundary;
            let mut w = Widener::starting_at(boundary, start);
            let raw_back = (start + boundary - back) % boundary;
            prop_assert_eq!(w.update(raw_back), start);
            let fwd = fwd % (boundary / 2);
            prop_assert_eq!(w.update((start + fwd) % boundary), start + fwd);
        }

        /// widen_near inverts to_raw for values within boundary/2.
        #[test]
        fn widen_near_inverts(
            boundary in 2u64..1 << 62,
            wide in 0u64..1 << 62,
            off in 0u64..1 << 62,
            neg in any::<bool>(),
        ) {
            let off = off % (boundary / 2);
            let near = if neg { wide.saturating_sub(off) } else { wide + off };
            prop_assert_eq!(widen_near(to_raw(wide, boundary), near, boundary), wide);
        }
    }
}
