//! Finds clicks in captured frames and checks the pilot's continuity.

use latency_signal::{CLICK_THRESHOLD, PILOT_PERIOD};

/// How many gaps [`Scanner::gap_log`] keeps.
pub const GAP_LOG: usize = 32;

/// A click found in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The click's id (channel 1 of the click frame).
    pub id: u16,
    /// Capture frame (64-bit, from the start of the capture).
    pub frame: u64,
    /// CLOCK_MONOTONIC ns of the first status reading that showed the
    /// frame captured.
    pub t_first_ns: u64,
}

/// Streaming scanner over captured S16 stereo frames.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Clicks found so far.
    pub found: Vec<Found>,
    /// Pilot discontinuities: places where the pilot did not continue
    /// from the previous pilot frame (a gap, a repeat or silence inside
    /// the stream: what an underrun sounds like).
    pub gaps: u64,
    /// Frames with neither click nor pilot after the first pilot frame
    /// (silence inside or after the stream).
    pub silent_frames: u64,
    /// Frames that carried the pilot.
    pub pilot_frames: u64,
    /// The first few gaps: (frame, expected pilot, pilot found, silent
    /// frames before it).
    pub gap_log: Vec<(u64, u64, u64, u64)>,
    silent_run: u64,
    last_pilot: Option<(u64, u64)>,
    pending_silence: bool,
}

impl Scanner {
    /// Feeds frame `frame` (`ch0`, `ch1`), read at a status reading
    /// stamped `t_ns`.
    pub fn feed(&mut self, frame: u64, ch0: i16, ch1: i16, t_ns: u64) {
        if ch0 >= CLICK_THRESHOLD {
            if let Ok(id) = u16::try_from(ch1) {
                self.found.push(Found {
                    id,
                    frame,
                    t_first_ns: t_ns,
                });
            }
            return;
        }
        if ch1 <= 0 || ch0 != 0 {
            if self.last_pilot.is_some() {
                self.silent_frames += 1;
                self.silent_run += 1;
                self.pending_silence = true;
            }
            return;
        }
        let v = ch1 as u64;
        if let Some((pf, pv)) = self.last_pilot {
            let expected = ((pv - 1 + (frame - pf)) % PILOT_PERIOD) + 1;
            if v != expected || self.pending_silence {
                self.gaps += 1;
                if self.gap_log.len() < GAP_LOG {
                    self.gap_log.push((frame, expected, v, self.silent_run));
                }
            }
        }
        self.pending_silence = false;
        self.silent_run = 0;
        self.pilot_frames += 1;
        self.last_pilot = Some((frame, v));
    }
}

/// Lower envelope of the capture clock: for frame `frame`, the earliest
/// `t - f * 1e9 / rate` over the readings `(f, t)` within one second,
/// plus `frame * 1e9 / rate`. Readings are late by the reader's delay and
/// the device's step, never early, so the minimum is the best estimate of
/// when an ideal, steadily running converter passed the frame.
pub fn ideal_time(readings: &[(u64, u64)], frame: u64, rate: u32) -> Option<u64> {
    let ns = |f: u64| (u128::from(f) * 1_000_000_000 / u128::from(rate)) as i128;
    let window = u64::from(rate);
    readings
        .iter()
        .filter(|(f, _)| f.abs_diff(frame) <= window)
        .map(|&(f, t)| i128::from(t) - ns(f))
        .min()
        .and_then(|off| u64::try_from(off + ns(frame)).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use latency_signal::pilot;

    #[test]
    fn finds_clicks_and_counts_gaps() {
        let mut s = Scanner::default();
        let mut k = 0u64; // player frame
        let mut f = 0u64; // capture frame
                          // leading silence
        for _ in 0..10 {
            s.feed(f, 0, 0, 1);
            f += 1;
        }
        for _ in 0..100 {
            s.feed(f, 0, pilot(k), 2);
            f += 1;
            k += 1;
        }
        s.feed(f, i16::MAX, 7, 3); // click frame
        f += 1;
        k += 1;
        for _ in 0..100 {
            s.feed(f, 0, pilot(k), 4);
            f += 1;
            k += 1;
        }
        assert_eq!(s.gaps, 0);
        assert_eq!(
            s.found,
            vec![Found {
                id: 7,
                frame: 110,
                t_first_ns: 3
            }]
        );
        // an underrun: 5 silent frames, then the pilot resumes where the
        // player left off
        for _ in 0..5 {
            s.feed(f, 0, 0, 5);
            f += 1;
        }
        for _ in 0..10 {
            s.feed(f, 0, pilot(k), 6);
            f += 1;
            k += 1;
        }
        assert_eq!(s.gaps, 1);
        assert_eq!(s.silent_frames, 5);
        // expected: the pilot as if the 5 silent frames had carried it
        assert_eq!(s.gap_log, vec![(216, 207, 202, 5)]);
        // a skip without silence
        k += 3;
        s.feed(f, 0, pilot(k), 7);
        assert_eq!(s.gaps, 2);
    }

    #[test]
    fn ideal_time_takes_the_earliest_reading() {
        // 48 frames per ms; readings late by 3, 1 and 2 ms.
        let r = [(480, 13_000_000), (960, 21_000_000), (1440, 32_000_000)];
        assert_eq!(ideal_time(&r, 960, 48_000), Some(21_000_000));
        assert_eq!(ideal_time(&r, 48, 48_000), Some(2_000_000));
        assert_eq!(ideal_time(&[], 48, 48_000), None);
    }
}
