//! The position model: where the hardware is on a 64-bit frame clock, now.
//!
//! Fed with [`HwPosition`] readings (from [`crate::Device::position`]) and
//! the CLOCK_MONOTONIC time each was taken, it keeps
//!
//! * the 64-bit frame position of the latest reading (the raw `hw_ptr`
//!   widened across `boundary` wraps) and the time it belongs to (the
//!   reading's `tstamp`, or the read time when the device does not stamp);
//! * the device granularity: the period for batch devices, otherwise the
//!   smallest step seen between two readings (it starts at one period, a
//!   safe over-estimate, and shrinks as steps are observed);
//! * a rate estimate: a least-squares fit of frames against time over the
//!   last ~1.6 s of readings, so a DAC clock that drifts from nominal is
//!   followed; discontinuities (a jump, a state change) restart the fit at
//!   the nominal rate;
//! * the interpolated position now: `frames + rate * (now - tstamp)`,
//!   clamped to `[frames, frames + granule]`, so it is never ahead of what
//!   the hardware can have consumed by more than one granule even when
//!   readings stop coming.
//!
//! States other than running are reported as a typed [`StreamEvent`].

use crate::device::{HwPosition, PcmState};
use crate::layout::StreamLayout;
use crate::wrap::Widener;

/// Something other than "running" seen in a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The kernel stopped the stream on an underrun (not free-running).
    Xrun,
    /// Power management suspended the stream.
    Suspended,
    /// The device went away (unplugged, driver unbound).
    Disconnected,
    /// The stream was stopped (SETUP or OPEN), e.g. the server dropped it.
    Stopped(PcmState),
    /// The stream is paused.
    Paused,
    /// Prepared but not started yet (a normal-mode stream before its
    /// start threshold is reached).
    NotStarted,
}

impl StreamEvent {
    /// The event for a state, `None` for running (and draining) streams.
    pub fn from_state(state: PcmState) -> Option<StreamEvent> {
        match state {
            PcmState::Running | PcmState::Draining => None,
            PcmState::Xrun => Some(StreamEvent::Xrun),
            PcmState::Suspended => Some(StreamEvent::Suspended),
            PcmState::Disconnected => Some(StreamEvent::Disconnected),
            PcmState::Open | PcmState::Setup => Some(StreamEvent::Stopped(state)),
            PcmState::Paused => Some(StreamEvent::Paused),
            PcmState::Prepared => Some(StreamEvent::NotStarted),
        }
    }

    /// Whether output cannot go on through this device without someone
    /// holding the full fd acting (restart, resume, reopen).
    pub fn is_fatal(self) -> bool {
        !matches!(self, StreamEvent::Paused | StreamEvent::NotStarted)
    }

    /// The state in words.
    pub fn describe(self) -> &'static str {
        match self {
            StreamEvent::Xrun => "stopped by an xrun (XRUN)",
            StreamEvent::Suspended => "suspended (SUSPENDED)",
            StreamEvent::Disconnected => "disconnected: the device went away (DISCONNECTED)",
            StreamEvent::Stopped(PcmState::Open) => "not configured (OPEN)",
            StreamEvent::Stopped(_) => "stopped (SETUP)",
            StreamEvent::Paused => "paused (PAUSED)",
            StreamEvent::NotStarted => "prepared, not started (PREPARED)",
        }
    }
}

impl std::fmt::Display for StreamEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Anchors kept for the rate fit.
const FIT_POINTS: usize = 32;
/// Minimum spacing of fit anchors.
const FIT_SPACING_NS: u64 = 50_000_000;
/// A fitted rate further than this from nominal is rejected (relative).
const MAX_DEVIATION: f64 = 0.05;

/// Least-squares rate fit over a fixed window of (time, frames) anchors.
#[derive(Debug, Clone)]
struct RateFit {
    t: [u64; FIT_POINTS],
    f: [u64; FIT_POINTS],
    len: usize,
    head: usize,
    nominal: f64,
    rate: f64,
}

impl RateFit {
    fn new(nominal_per_ns: f64) -> Self {
        Self {
            t: [0; FIT_POINTS],
            f: [0; FIT_POINTS],
            len: 0,
            head: 0,
            nominal: nominal_per_ns,
            rate: nominal_per_ns,
        }
    }

    fn reset(&mut self) {
        self.len = 0;
        self.head = 0;
        self.rate = self.nominal;
    }

    fn newest(&self) -> Option<(u64, u64)> {
        if self.len == 0 {
            return None;
        }
        let i = (self.head + FIT_POINTS - 1) % FIT_POINTS;
        Some((self.t[i], self.f[i]))
    }

    fn add(&mut self, t: u64, f: u64) {
        if let Some((t0, _)) = self.newest() {
            if t < t0.saturating_add(FIT_SPACING_NS) {
                return;
            }
        }
        self.t[self.head] = t;
        self.f[self.head] = f;
        self.head = (self.head + 1) % FIT_POINTS;
        self.len = (self.len + 1).min(FIT_POINTS);
        self.refit();
    }

    fn refit(&mut self) {
        if self.len < 3 {
            return;
        }
        let first = (self.head + FIT_POINTS - self.len) % FIT_POINTS;
        let (t0, f0) = (self.t[first], self.f[first]);
        let n = self.len as f64;
        let (mut st, mut sf, mut stt, mut stf) = (0.0, 0.0, 0.0, 0.0);
        for k in 0..self.len {
            let i = (first + k) % FIT_POINTS;
            let x = (self.t[i] - t0) as f64;
            let y = (self.f[i] - f0) as f64;
            st += x;
            sf += y;
            stt += x * x;
            stf += x * y;
        }
        let den = n * stt - st * st;
        if den <= 0.0 {
            return;
        }
        let slope = (n * stf - st * sf) / den;
        if (slope / self.nominal - 1.0).abs() <= MAX_DEVIATION {
            self.rate = slope;
        } else {
            // Not a clock: a jump the discontinuity check did not catch.
            self.reset();
        }
    }
}

/// One widened reading: a frame position and the time it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// 64-bit frame position (hw_ptr widened across boundary wraps).
    pub frames: u64,
    /// CLOCK_MONOTONIC nanoseconds at which the position was `frames`.
    pub tstamp_ns: u64,
}

/// Whether the hardware position moves in `state` (running or draining);
/// in any other state interpolation stays at the reading.
pub(crate) fn is_moving(state: PcmState) -> bool {
    matches!(state, PcmState::Running | PcmState::Draining)
}

/// The position at `now_ns` interpolated from the reading `a` at
/// `rate_per_ns`: never behind the reading, never more than one `granule`
/// ahead of it, and exactly the reading when the stream is not `moving`.
/// The one interpolation: [`PositionModel::now_frames`] and the engine's
/// clock both use it.
pub(crate) fn interpolate(
    a: Anchor,
    moving: bool,
    rate_per_ns: f64,
    granule: u64,
    now_ns: u64,
) -> u64 {
    if !moving {
        return a.frames;
    }
    let dt = now_ns.saturating_sub(a.tstamp_ns) as f64;
    let adv = (dt * rate_per_ns) as u64;
    a.frames + adv.min(granule)
}

/// Follows the hardware position; see the module docs.
#[derive(Debug, Clone)]
pub struct PositionModel {
    boundary: u64,
    widener: Option<Widener>,
    period: u64,
    batch: bool,
    granule: u64,
    granule_fixed: bool,
    buffer_ns: u64,
    last: Option<Anchor>,
    state: PcmState,
    fit: RateFit,
}

impl PositionModel {
    /// A model for a stream with `layout`; `batch` devices move in whole
    /// periods (their granule is the period).
    pub fn new(layout: &StreamLayout, batch: bool) -> Self {
        let rate = f64::from(layout.rate.max(1));
        let period = layout.period_size.max(1);
        Self {
            boundary: layout.boundary,
            widener: None,
            period,
            batch,
            granule: period,
            granule_fixed: batch,
            buffer_ns: (layout.buffer_size as f64 * 1e9 / rate) as u64,
            last: None,
            state: PcmState::Open,
            fit: RateFit::new(rate / 1e9),
        }
    }

    /// Fixes the granule (frames) instead of measuring it.
    pub fn set_granule(&mut self, frames: u64) {
        self.granule = frames.max(1);
        self.granule_fixed = true;
    }

    /// Takes a reading made at `read_ns` (CLOCK_MONOTONIC). Returns the
    /// event if the stream is not running; the position is recorded
    /// either way.
    pub fn update(&mut self, hw: &HwPosition, read_ns: u64) -> Option<StreamEvent> {
        let event = StreamEvent::from_state(hw.state);
        if hw.state != self.state {
            self.fit.reset();
            self.state = hw.state;
        }
        let frames = match &mut self.widener {
            Some(w) => w.update(hw.hw_ptr),
            None => {
                let w = Widener::starting_at(self.boundary, hw.hw_ptr);
                let v = w.value();
                self.widener = Some(w);
                v
            }
        };
        let tstamp = self.plausible_tstamp(hw.tstamp_ns, read_ns);
        let anchor = Anchor {
            frames,
            tstamp_ns: tstamp,
        };
        if let Some(prev) = self.last {
            if frames == prev.frames {
                // No movement: keep the older stamp (the time the pointer
                // actually reached this value), unless the device stamps
                // nothing and time went backwards in our view.
                return event;
            }
            let step = frames - prev.frames;
            if !self.granule_fixed && step < self.granule {
                self.granule = step;
            }
            // Discontinuity: far from the prediction of the current fit.
            let dt = tstamp.saturating_sub(prev.tstamp_ns) as f64;
            let predicted = dt * self.fit.rate;
            let tolerance =
                (2 * self.period).max((self.buffer_ns as f64 * self.fit.rate) as u64 / 4);
            if (step as f64 - predicted).abs() > tolerance as f64 || tstamp < prev.tstamp_ns {
                self.fit.reset();
            }
        }
        if event.is_none() {
            self.fit.add(tstamp, frames);
        }
        self.last = Some(anchor);
        event
    }

    /// Uses the device stamp when it looks like CLOCK_MONOTONIC near the
    /// read time, the read time otherwise.
    fn plausible_tstamp(&self, tstamp: u64, read_ns: u64) -> u64 {
        if tstamp == 0 || tstamp > read_ns.saturating_add(1_000_000) {
            return read_ns;
        }
        if read_ns - tstamp.min(read_ns) > self.buffer_ns.saturating_mul(2) + 100_000_000 {
            return read_ns;
        }
        tstamp
    }

    /// The latest reading, widened; `None` before the first.
    pub fn anchor(&self) -> Option<Anchor> {
        self.last
    }

    /// The 64-bit position of the latest reading (0 before the first).
    pub fn frames(&self) -> u64 {
        self.last.map_or(0, |a| a.frames)
    }

    /// The state of the latest reading.
    pub fn state(&self) -> PcmState {
        self.state
    }

    /// Frames the position moves at a time (see the module docs).
    pub fn granule(&self) -> u64 {
        self.granule
    }

    /// Whether the device is batch (granule = period).
    pub fn is_batch(&self) -> bool {
        self.batch
    }

    /// Estimated frames per second.
    pub fn rate_hz(&self) -> f64 {
        self.fit.rate * 1e9
    }

    /// Estimated frames per nanosecond.
    pub fn rate_per_ns(&self) -> f64 {
        self.fit.rate
    }

    /// The interpolated position at `now_ns`: never behind the latest
    /// reading, never more than one granule ahead of it.
    pub fn now_frames(&self, now_ns: u64) -> u64 {
        let Some(a) = self.last else { return 0 };
        interpolate(
            a,
            is_moving(self.state),
            self.fit.rate,
            self.granule,
            now_ns,
        )
    }

    /// The position extrapolated to `now_ns` at the estimated rate, with no
    /// clamp: where a running device should be by now if it kept going.
    /// For deciding that a planned write is already too late (after a long
    /// stall), not for where to write.
    pub fn projected_frames(&self, now_ns: u64) -> u64 {
        let Some(a) = self.last else { return 0 };
        let dt = now_ns.saturating_sub(a.tstamp_ns) as f64;
        a.frames + (dt * self.fit.rate) as u64
    }

    /// Nanoseconds of `frames` at the estimated rate.
    pub fn frames_to_ns(&self, frames: u64) -> u64 {
        (frames as f64 / self.fit.rate) as u64
    }

    /// The CLOCK_MONOTONIC time at which the interpolated position is
    /// expected to reach `frame` (`now_ns` if it already has).
    pub fn time_of(&self, frame: u64, now_ns: u64) -> u64 {
        let Some(a) = self.last else { return now_ns };
        if frame <= a.frames {
            return now_ns;
        }
        a.tstamp_ns
            .saturating_add(self.frames_to_ns(frame - a.frames))
            .max(now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Format;

    fn layout(boundary: u64) -> StreamLayout {
        StreamLayout {
            format: Format::S16Le,
            channels: 2,
            rate: 48_000,
            period_size: 256,
            buffer_size: 1024,
            boundary,
        }
    }

    fn reading(hw_ptr: u64, tstamp_ns: u64) -> HwPosition {
        HwPosition {
            state: PcmState::Running,
            hw_ptr,
            tstamp_ns,
            audio_tstamp_ns: 0,
        }
    }

    /// A DAC running `ppm` fast, read every `every_ns` with position
    /// quantized to `step` frames and stamped at the step time.
    fn feed(
        m: &mut PositionModel,
        boundary: u64,
        start: u64,
        ppm: f64,
        every_ns: u64,
        step: u64,
        secs: f64,
    ) {
        let rate = 48_000.0 * (1.0 + ppm * 1e-6) / 1e9;
        let t0 = 1_000_000_000u64;
        let mut t = t0;
        while ((t - t0) as f64) < secs * 1e9 {
            let played = ((t - t0) as f64 * rate) as u64 / step * step;
            let stamp = t0 + (played as f64 / rate).ceil() as u64;
            let raw = (start + played) % boundary;
            assert_eq!(m.update(&reading(raw, stamp), t), None);
            t += every_ns;
        }
    }

    #[test]
    fn follows_a_drifting_clock() {
        for ppm in [-300.0, 0.0, 150.0, 1000.0] {
            let mut m = PositionModel::new(&layout(1024 << 10), false);
            feed(&mut m, 1024 << 10, 0, ppm, 250_000, 16, 3.0);
            let want = 48_000.0 * (1.0 + ppm * 1e-6);
            let got = m.rate_hz();
            assert!(
                (got / want - 1.0).abs() < 20e-6,
                "ppm {ppm}: {got} vs {want}"
            );
            assert_eq!(m.granule(), 16, "measured step");
        }
    }

    #[test]
    fn batch_granule_is_the_period_and_interpolation_is_clamped() {
        let mut m = PositionModel::new(&layout(1 << 20), true);
        m.update(&reading(512, 10_000_000), 10_100_000);
        assert_eq!(m.granule(), 256);
        // Half a period (128 frames = 2.666 ms) after the stamp.
        let half = 10_000_000 + 2_666_667;
        assert_eq!(m.now_frames(half), 512 + 128);
        // Long after: clamped to one granule ahead.
        assert_eq!(m.now_frames(10_000_000 + 1_000_000_000), 512 + 256);
        assert_eq!(m.projected_frames(10_000_000 + 1_000_000_000), 512 + 48_000);
        // Never behind the reading, even for a time before the stamp.
        assert_eq!(m.now_frames(5_000_000), 512);
        // Steps smaller than a period do not shrink a batch granule.
        m.update(&reading(520, 10_200_000), 10_200_000);
        assert_eq!(m.granule(), 256);
    }

    #[test]
    fn widens_across_boundary() {
        let boundary = 1024 * 16;
        let mut m = PositionModel::new(&layout(boundary), false);
        let start = boundary - 300;
        feed(&mut m, boundary, start, 0.0, 1_000_000, 1, 1.0);
        // 1 s at 48 kHz from boundary - 300: ~47700 frames past boundary,
        // wrapped twice more; the 64-bit position keeps counting.
        let f = m.frames();
        assert!(
            f > boundary && f >= start + 47_900 && f <= start + 48_000,
            "{f}"
        );
        assert!((m.rate_hz() - 48_000.0).abs() < 1.0);
    }

    #[test]
    fn non_running_states_are_events() {
        let mut m = PositionModel::new(&layout(1 << 20), false);
        let mut r = reading(100, 1_000);
        assert_eq!(m.update(&r, 2_000), None);
        r.state = PcmState::Disconnected;
        let e = m.update(&r, 3_000);
        assert_eq!(e, Some(StreamEvent::Disconnected));
        assert!(e.is_some_and(|e| e.is_fatal()));
        r.state = PcmState::Setup;
        assert_eq!(
            m.update(&r, 4_000),
            Some(StreamEvent::Stopped(PcmState::Setup))
        );
        r.state = PcmState::Xrun;
        assert_eq!(m.update(&r, 4_000), Some(StreamEvent::Xrun));
        r.state = PcmState::Suspended;
        assert_eq!(m.update(&r, 4_000), Some(StreamEvent::Suspended));
        r.state = PcmState::Prepared;
        let e = m.update(&r, 4_000);
        assert_eq!(e, Some(StreamEvent::NotStarted));
        assert!(!e.is_some_and(|e| e.is_fatal()));
        // A stopped stream does not interpolate.
        assert_eq!(m.now_frames(1_000_000_000), 100);
    }

    #[test]
    fn jump_restarts_the_fit() {
        let mut m = PositionModel::new(&layout(1 << 30), false);
        feed(&mut m, 1 << 30, 0, 500.0, 1_000_000, 1, 2.0);
        assert!((m.rate_hz() - 48_024.0).abs() < 2.0);
        // The pointer jumps a second ahead (e.g. a restart elsewhere).
        let a = m.anchor().unwrap_or(Anchor {
            frames: 0,
            tstamp_ns: 0,
        });
        m.update(
            &reading(a.frames + 48_000, a.tstamp_ns + 1_000_000),
            a.tstamp_ns + 1_000_000,
        );
        assert_eq!(m.rate_hz(), 48_000.0, "back to nominal after a jump");
    }

    #[test]
    fn unstamped_devices_use_the_read_time() {
        let mut m = PositionModel::new(&layout(1 << 20), false);
        m.update(&reading(1000, 0), 5_000_000);
        assert_eq!(
            m.anchor(),
            Some(Anchor {
                frames: 1000,
                tstamp_ns: 5_000_000
            })
        );
        // A stamp from another clock (far in the future) is ignored too.
        m.update(&reading(1048, 99_000_000_000), 6_000_000);
        assert_eq!(
            m.anchor(),
            Some(Anchor {
                frames: 1048,
                tstamp_ns: 6_000_000
            })
        );
    }

    #[test]
    fn time_of_inverts_now_frames() {
        let mut m = PositionModel::new(&layout(1 << 20), false);
        m.update(&reading(4800, 100_000_000), 100_000_000);
        let t = m.time_of(4800 + 48, 100_000_000);
        assert_eq!(t, 101_000_000);
        assert_eq!(m.time_of(10, 123), 123);
    }
}
