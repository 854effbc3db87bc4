//! Wake-up planning for the RT loop: how many blocks one wake-up renders,
//! the extra lead at start-up, and the moment of the next wake-up, as
//! plain arithmetic (the caller passes the model, the margin and the
//! time), so it is tested on its own like [`super::margin`].
//!
//! * **An absolute deadline per fill.** After a fill the RT thread sleeps
//!   (`clock_nanosleep(TIMER_ABSTIME)`) until the moment the lead will
//!   have shrunk to what it must keep (`keep`: the margin plus the
//!   start-up lead below): the time at which the **upper bound** of the
//!   hardware position ([`upper_bound`], the same one a page-based cycle
//!   writes against) reaches `cursor - keep` ([`WakePlan::due`]). Woken on
//!   time, the lead is then at least `keep` against the real position;
//!   planning by the bound rather than the interpolation wakes early by
//!   the bound's slack (about 1 % of the sleep and 2 frames), never late.
//! * **Several blocks per wake-up.** In timer mode a wake-up renders `k`
//!   blocks back to back (the renderer's granularity stays the block): the
//!   fewest whole blocks that span `min_wake_ns`, raised to
//!   `margin / margin_wakes` when the margin is that long
//!   ([`WakePlan::interval`]). The lead at a wake-up is still the margin
//!   (the deadline is computed for it), so `k` does not make an underrun
//!   likelier; what it costs is latency: the `k`-th block is rendered
//!   `(k - 1)` blocks further ahead, on average half the interval, at most
//!   `1 / (2 margin_wakes)` of the margin. Period wake-ups keep the period
//!   as interval (the interrupt decides).
//! * **Start-up lead.** The first fill goes [`WakePlan::start_lead`]
//!   frames beyond the margin (silence up to the anchor), and that extra
//!   lead shrinks linearly to zero over the settle time after the first
//!   fill: the cold first cycles (first runs of the code, a model without
//!   a rate fit, the first refreshes) have room, and the steady state
//!   keeps only the margin. The lead never drops by more than the play
//!   time in between, so the shrinking itself cannot underrun.

use super::acquire::bound_reaches;
#[cfg(test)]
use super::acquire::upper_bound;
use crate::position::{is_moving, PositionModel};

/// How long the start-up lead takes to shrink to zero, nanoseconds.
pub(crate) const SETTLE_NS: u64 = 500_000_000;

/// The wake-up plan of one stream; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct WakePlan {
    /// Frames per render block.
    block: u64,
    /// Period wake-ups: the period (frames). `None`: timer wake-ups.
    period: Option<u64>,
    /// The fewest blocks per timer wake-up (from `min_wake_ns`).
    min_blocks: u64,
    /// Timer wake-ups spread the margin over at least this many (0: the
    /// margin does not raise the interval).
    margin_wakes: u64,
    /// Frames in the ring.
    buffer: u64,
    /// The extra lead of the first fill, frames.
    start_frames: u64,
    /// When the first fill was (CLOCK_MONOTONIC ns); `None` before it.
    started_ns: Option<u64>,
}

impl WakePlan {
    /// Timer wake-ups for blocks of `block` frames in a ring of `buffer`
    /// frames: at least `min_blocks` blocks per wake-up, the margin spread
    /// over at least `margin_wakes` wake-ups (0: off).
    pub(crate) fn timer(block: u64, min_blocks: u64, margin_wakes: u64, buffer: u64) -> WakePlan {
        WakePlan {
            block: block.max(1),
            period: None,
            min_blocks: min_blocks.max(1),
            margin_wakes,
            buffer,
            start_frames: 0,
            started_ns: None,
        }
    }

    /// Period wake-ups (one per `period` frames, at least a block).
    pub(crate) fn period(block: u64, period: u64, buffer: u64) -> WakePlan {
        WakePlan {
            period: Some(period.max(block)),
            ..WakePlan::timer(block, 1, 0, buffer)
        }
    }

    /// With `frames` of extra lead at start ([`WakePlan::start_lead`]).
    pub(crate) fn with_start_lead(mut self, frames: u64) -> WakePlan {
        self.start_frames = frames;
        self
    }

    /// The shortest interval the plan uses (whatever the margin): what
    /// the margin's fit in the ring must leave room for.
    pub(crate) fn min_interval(&self) -> u64 {
        match self.period {
            Some(p) => p,
            None => self.block * self.min_blocks.min(self.max_blocks()),
        }
    }

    /// Timer wake-ups render at most a quarter of the ring at once.
    fn max_blocks(&self) -> u64 {
        (self.buffer / 4 / self.block).max(1)
    }

    /// Frames between planned wake-ups (whole blocks in timer mode) with
    /// `margin` frames kept, for a device that holds `granule` frames:
    /// never more than the ring holds beside the margin and the granule,
    /// never less than a block.
    pub(crate) fn interval(&self, margin: u64, granule: u64) -> u64 {
        if let Some(p) = self.period {
            return p;
        }
        let by_margin = margin
            .checked_div(self.margin_wakes)
            .map_or(0, |f| f / self.block);
        let room = self.buffer.saturating_sub(margin + granule) / self.block;
        let k = self
            .min_blocks
            .max(by_margin)
            .min(self.max_blocks())
            .min(room)
            .max(1);
        k * self.block
    }

    /// Records the first fill at `now_ns` (the start-up lead starts
    /// shrinking); later calls do nothing.
    pub(crate) fn started(&mut self, now_ns: u64) {
        self.started_ns.get_or_insert(now_ns);
    }

    /// The extra lead to keep beyond the margin at `now_ns`: all of it
    /// until the first fill, then shrinking linearly to zero over
    /// [`SETTLE_NS`].
    pub(crate) fn start_lead(&self, now_ns: u64) -> u64 {
        let Some(t0) = self.started_ns else {
            return self.start_frames;
        };
        let left = SETTLE_NS.saturating_sub(now_ns.saturating_sub(t0));
        (u128::from(self.start_frames) * u128::from(left) / u128::from(SETTLE_NS)) as u64
    }

    /// When the next wake-up is due (CLOCK_MONOTONIC ns) for a write
    /// cursor at `cursor` that must keep `keep` frames of lead: the moment
    /// the upper bound of the hardware position reaches `cursor - keep`
    /// (`now_ns` if it already has). A stream that does not run has no
    /// such moment: the model's interpolation decides (the caller bounds
    /// the sleep).
    pub(crate) fn due(model: &PositionModel, cursor: u64, keep: u64, now_ns: u64) -> u64 {
        let frame = cursor.saturating_sub(keep);
        if !is_moving(model.state()) {
            return model.time_of(frame, now_ns);
        }
        bound_reaches(model, frame, now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{HwPosition, PcmState};
    use crate::layout::{Format, StreamLayout};

    const MS: u64 = 1_000_000;

    fn layout() -> StreamLayout {
        StreamLayout {
            format: Format::S16Le,
            channels: 2,
            rate: 48_000,
            period_size: 256,
            buffer_size: 8192,
            boundary: 8192 << 20,
        }
    }

    fn model_at(hw_ptr: u64, t: u64, batch: bool) -> PositionModel {
        let mut m = PositionModel::new(&layout(), batch);
        let hw = HwPosition {
            state: PcmState::Running,
            hw_ptr,
            tstamp_ns: t,
            audio_tstamp_ns: 0,
        };
        m.update(&hw, t);
        m
    }

    #[test]
    fn one_block_per_wake_when_the_margin_is_short() {
        let p = WakePlan::timer(64, 1, 4, 8192);
        assert_eq!(p.interval(200, 16), 64);
        assert_eq!(p.min_interval(), 64);
    }

    #[test]
    fn min_wake_renders_several_short_blocks() {
        let p = WakePlan::timer(16, 3, 4, 8192);
        assert_eq!(p.interval(0, 16), 48);
        assert_eq!(p.min_interval(), 48);
    }

    #[test]
    fn a_long_margin_is_spread_over_margin_wakes_wake_ups() {
        let p = WakePlan::timer(128, 1, 4, 16384);
        // 4900 / 4 = 1225 frames: 9 whole blocks.
        assert_eq!(p.interval(4900, 192), 9 * 128);
        // Off: the margin does not matter.
        let off = WakePlan::timer(128, 1, 0, 16384);
        assert_eq!(off.interval(4900, 192), 128);
    }

    #[test]
    fn the_interval_fits_the_ring_beside_the_margin() {
        let p = WakePlan::timer(128, 1, 1, 4096);
        // A quarter of the ring at most.
        assert_eq!(p.interval(3000, 64), 1024);
        // And what the ring holds beside margin + granule, at least a block.
        assert_eq!(p.interval(3800, 64), 128);
        assert_eq!(p.interval(4090, 64), 128);
    }

    #[test]
    fn period_wake_ups_keep_the_period() {
        let p = WakePlan::period(128, 256, 4096);
        assert_eq!(p.interval(3000, 256), 256);
        assert_eq!(p.min_interval(), 256);
        let big = WakePlan::period(512, 256, 4096);
        assert_eq!(big.interval(0, 256), 512);
    }

    #[test]
    fn start_lead_holds_until_the_first_fill_then_shrinks_to_zero() {
        let mut p = WakePlan::timer(64, 1, 4, 8192).with_start_lead(480);
        assert_eq!(p.start_lead(5 * MS), 480);
        p.started(10 * MS);
        p.started(99 * MS); // only the first counts
        assert_eq!(p.start_lead(10 * MS), 480);
        assert_eq!(p.start_lead(10 * MS + SETTLE_NS / 2), 240);
        assert_eq!(p.start_lead(10 * MS + SETTLE_NS), 0);
        assert_eq!(p.start_lead(u64::MAX), 0);
        // Never faster than play time: 480 frames over 0.5 s is 960/s,
        // against 48000/s played.
        let mut last = p.start_lead(10 * MS);
        for i in 1..=100 {
            let now = 10 * MS + i * SETTLE_NS / 100;
            let l = p.start_lead(now);
            assert!(l <= last && last - l <= 5, "{last} -> {l}");
            last = l;
        }
    }

    /// The deadline is when the upper bound reaches `cursor - keep`: at it
    /// the bound is within a frame of it (early, never late), and any
    /// real position the bound covers leaves at least `keep - 1` frames.
    #[test]
    fn due_is_when_the_bound_reaches_cursor_minus_keep() {
        for batch in [false, true] {
            let t0 = 100 * MS;
            let m = model_at(48_000, t0, batch);
            for (cursor, keep) in [(48_000 + 1000, 300), (48_000 + 5000, 1536), (50_000, 64)] {
                for now in [t0, t0 + MS / 2, t0 + 2 * MS] {
                    let due = WakePlan::due(&m, cursor, keep, now);
                    assert!(due >= now);
                    let b = upper_bound(&m, due).unwrap_or(0);
                    if due > now {
                        assert!(b <= cursor - keep + 1, "late: bound {b}");
                        let b1 = upper_bound(&m, due + 30_000).unwrap_or(0);
                        assert!(b1 + 1 >= cursor - keep, "too early: {b1}");
                    }
                    // The interpolated position is never past the bound.
                    assert!(m.now_frames(due) <= b.max(m.frames()));
                }
            }
            // Already there: now.
            assert_eq!(WakePlan::due(&m, 48_100, 200, t0 + 5 * MS), t0 + 5 * MS);
        }
    }

    #[test]
    fn due_of_a_stream_that_does_not_run_is_the_interpolation() {
        let mut m = PositionModel::new(&layout(), false);
        let hw = HwPosition {
            state: PcmState::Paused,
            hw_ptr: 1000,
            tstamp_ns: 10 * MS,
            audio_tstamp_ns: 0,
        };
        m.update(&hw, 10 * MS);
        assert_eq!(
            WakePlan::due(&m, 3000, 500, 10 * MS),
            m.time_of(2500, 10 * MS)
        );
    }
}
