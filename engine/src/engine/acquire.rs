//! Where the RT loop's position comes from on each wake-up: the mapped
//! status page plus the position model (no system call), or a refresh
//! ([`crate::Device::position`]: HWSYNC, SYNC_PTR or POSITION) when the
//! model needs fresh evidence. Plain arithmetic on the model and the
//! caller's clock, so it is tested without threads or devices.
//!
//! # Why a stale page is safe
//!
//! The kernel updates the status page (hw_ptr and its `tstamp`) on period
//! interrupts and on refreshes, so between them it lags the hardware. The
//! page's reading is exact for its stamp, and the hardware cannot have
//! moved further since than the time elapsed at the device's rate. The
//! policy turns that into an **upper bound** `U` of the hardware position
//! now ([`upper_bound`]): the model's latest anchor plus the elapsed time
//! at the fitted rate, plus a relative and an absolute slack for an
//! imprecise fit and stamping jitter. A page-based cycle then treats `U`
//! as the hardware position: the writer's floor (`U + granule`) is never
//! below the real one, so nothing is written where the hardware may be.
//!
//! A device whose position runs ahead of its own timestamps breaks that
//! (snd-aloop computes its position from jiffies, which under emulation lag
//! the clock and then catch up: in the TCG guest refreshes found it up to
//! ~900 frames beyond the bound). Each refresh measures the shortfall; the
//! policy adds what it saw (plus a quarter, halving at each refresh that
//! finds the bound held) to the bound, and does not trust the page at all
//! for 2 s (a refresh per wake-up, [`SyncReason::BoundFailed`]). Such a
//! jump may have carried the device past frames the writer wrote after
//! the last trusted page: when the overshoot is at least the lead the
//! writer had then, the engine counts an xrun (it cannot tell whether the
//! device got there before or after the write, so it counts the possible
//! gap rather than miss a real one).
//!
//! The policy refreshes instead ([`SyncReason`]) when that bound cannot be
//! trusted or is not good enough:
//!
//! * **start**: the first [`START_SYNCS`] cycles (the model has no rate fit
//!   and no measured granule yet), and [`RECOVER_SYNCS`] cycles after an
//!   underrun or any non-running state on the page;
//! * **page stale**: the anchor is older than a period and a half (plus
//!   1 ms): the interrupt that should have moved the page did not come,
//!   or the device has no page at all, or the page has no timestamps. This
//!   also bounds how far the model ever extrapolates;
//! * **low lead**: the write cursor is within `granule + guard` of `U`:
//!   an underrun is possible, and only the real position can tell whether
//!   it happened (a page-based cycle never declares one);
//! * **refresh**: at most [`REFRESH_NS`] (0.5 s) after the last refresh,
//!   whatever the page says: 2 system calls a second at most, against
//!   hundreds for a refresh per wake-up; it keeps the granule measurement
//!   and the rate fit fed with un-quantised readings, measures how far the
//!   bound was from the truth ([`SyncPolicy::note_sync`]), and on a leased
//!   device it is where a gone broker is noticed at the latest;
//! * **bound failed**: for 2 s after any reading found the device beyond
//!   the bound (above).

use crate::device::HwPosition;
use crate::layout::StreamLayout;
use crate::position::{is_moving, PositionModel};

/// Cycles that refresh at start, before the model is trusted.
pub(crate) const START_SYNCS: u32 = 8;
/// Cycles that refresh after an underrun or a non-running state.
pub(crate) const RECOVER_SYNCS: u32 = 4;
/// The longest time between two refreshes, nanoseconds.
pub(crate) const REFRESH_NS: u64 = 500_000_000;
/// How long the page is not trusted after a reading found the device
/// beyond its bound, nanoseconds.
pub(crate) const DISTRUST_NS: u64 = 2_000_000_000;
/// Relative slack of the upper bound over the fitted rate (1 %: a fit
/// is within tens of ppm once it has points, and the fit rejects rates
/// more than 5 % off; the extrapolation never spans more than about a
/// period and a half, so this costs under 1 % of a period).
const REL_SLACK: f64 = 0.01;
/// Absolute slack of the upper bound, frames (stamping jitter).
const ABS_SLACK: u64 = 2;

/// Why a cycle refreshed the position instead of using the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SyncReason {
    /// Start-up, or the first cycles after an underrun or a state change.
    Start = 0,
    /// The page did not move for longer than a period interrupt takes, or
    /// the device has no usable page (no mapping, no timestamps).
    PageStale = 1,
    /// The write cursor is too close to the bound of the hardware
    /// position to rule out an underrun without the real position.
    LowLead = 2,
    /// The bounded-rate refresh (at most every 0.5 s).
    Refresh = 3,
    /// The page shows a state other than running, or could not be read.
    PageState = 4,
    /// A reading found the device beyond the bound: the page is not
    /// trusted for [`DISTRUST_NS`] (a refresh per wake-up).
    BoundFailed = 5,
}

impl SyncReason {
    /// Every reason, in the order of their values.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))] // the tests'
    pub const ALL: [SyncReason; 6] = [
        SyncReason::Start,
        SyncReason::PageStale,
        SyncReason::LowLead,
        SyncReason::Refresh,
        SyncReason::PageState,
        SyncReason::BoundFailed,
    ];
}

/// What the page says this cycle ([`SyncPolicy::classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// A fresh running reading with a timestamp: feed it to the model.
    Fed,
    /// Nothing to feed (no page, no timestamp, or a page older than the
    /// staleness limit): the model alone, on its latest anchor.
    Absent,
    /// Unusable: not running, unreadable, or without a timestamp.
    Unusable,
}

/// The highest frame position the hardware can have reached at `now_ns`
/// according to `model` (see the module docs); `None` before the first
/// reading.
pub(crate) fn upper_bound(model: &PositionModel, now_ns: u64) -> Option<u64> {
    let a = model.anchor()?;
    if !is_moving(model.state()) {
        return Some(a.frames);
    }
    let dt = now_ns.saturating_sub(a.tstamp_ns) as f64;
    let adv = (dt * model.rate_per_ns() * (1.0 + REL_SLACK)).ceil() as u64;
    Some(a.frames + adv + ABS_SLACK)
}

/// The first CLOCK_MONOTONIC time, not before `now_ns`, at which
/// [`upper_bound`] reaches `frame` for a running stream (rounded down:
/// early rather than late); `now_ns` if it already has or there is no
/// reading.
pub(crate) fn bound_reaches(model: &PositionModel, frame: u64, now_ns: u64) -> u64 {
    let Some(a) = model.anchor() else {
        return now_ns;
    };
    let base = a.frames + ABS_SLACK;
    let per_ns = model.rate_per_ns() * (1.0 + REL_SLACK);
    if frame <= base || per_ns <= 0.0 {
        return now_ns;
    }
    let dt = ((frame - base) as f64 / per_ns).floor() as u64;
    a.tstamp_ns.saturating_add(dt).max(now_ns)
}

/// Decides, cycle by cycle, between the page and a refresh; see the
/// module docs.
#[derive(Debug, Clone)]
pub(crate) struct SyncPolicy {
    /// Anchor age beyond which the page is stale, ns.
    stale_after_ns: u64,
    /// Cycles that still refresh unconditionally.
    forced: u32,
    /// When the last refresh was, ns (CLOCK_MONOTONIC).
    last_sync_ns: u64,
    /// The largest amount a refresh found the hardware beyond the bound
    /// the page gave just before (frames; 0 if never).
    worst_overshoot: u64,
    /// Refresh on every cycle (`EngineConfig::refresh_every_wake`).
    always: bool,
    /// What refreshes found beyond the bound lately (frames): added to the
    /// bound, so a device whose position jumps ahead of its clock (snd-aloop
    /// counts jiffies, which lag and catch up under emulation) makes the
    /// page path more careful, down to a refresh per wake-up. Halves at
    /// every refresh that finds the bound held.
    learned: u64,
    /// Until when the page is not trusted (a bound failed), ns.
    distrust_until_ns: u64,
}

impl SyncPolicy {
    /// A policy for a stream with `layout`.
    pub(crate) fn new(layout: &StreamLayout) -> SyncPolicy {
        let rate = u64::from(layout.rate.max(1));
        let period_ns = layout.period_size.saturating_mul(1_000_000_000) / rate;
        SyncPolicy {
            stale_after_ns: period_ns + period_ns / 2 + 1_000_000,
            forced: START_SYNCS,
            last_sync_ns: 0,
            worst_overshoot: 0,
            always: false,
            learned: 0,
            distrust_until_ns: 0,
        }
    }

    /// A policy that refreshes on every cycle (never trusts the page).
    pub(crate) fn always_refresh(mut self) -> SyncPolicy {
        self.always = true;
        self
    }

    /// How old the model's anchor may get before the page counts as
    /// stale, ns.
    #[cfg(test)]
    pub(crate) fn stale_after_ns(&self) -> u64 {
        self.stale_after_ns
    }

    /// Whether this cycle must refresh before even looking at the page.
    pub(crate) fn must_sync(&self) -> bool {
        self.forced > 0 || self.always
    }

    /// What to do with a page reading at `now_ns`: feed it to the model
    /// ([`Page::Fed`], the caller does), ignore it ([`Page::Absent`]: no
    /// timestamp, or older than the staleness limit; the model's anchor
    /// decides), or refresh ([`Page::Unusable`]: not running, or stamped
    /// in the future).
    pub(crate) fn classify(&self, hw: &HwPosition, now_ns: u64) -> Page {
        if !is_moving(hw.state) || hw.tstamp_ns > now_ns.saturating_add(1_000_000) {
            Page::Unusable
        } else if hw.tstamp_ns == 0 || now_ns.saturating_sub(hw.tstamp_ns) > self.stale_after_ns {
            Page::Absent
        } else {
            Page::Fed
        }
    }

    /// The decision for a cycle at `now_ns`, after the page (if any) was
    /// fed to `model`: `Ok(bound)` to go on with the upper bound of the
    /// hardware position, `Err(reason)` to refresh. `cursor` is the
    /// writer's cursor once anchored, `granule` the frames the hardware
    /// may hold past its position.
    pub(crate) fn decide(
        &self,
        now_ns: u64,
        model: &PositionModel,
        page: Page,
        cursor: Option<u64>,
        granule: u64,
    ) -> Result<u64, SyncReason> {
        if self.forced > 0 {
            return Err(SyncReason::Start);
        }
        if page == Page::Unusable {
            return Err(SyncReason::PageState);
        }
        if now_ns < self.distrust_until_ns {
            return Err(SyncReason::BoundFailed);
        }
        let (Some(a), Some(bound)) = (model.anchor(), upper_bound(model, now_ns)) else {
            return Err(SyncReason::Start);
        };
        if !is_moving(model.state()) {
            return Err(SyncReason::PageState);
        }
        if now_ns.saturating_sub(a.tstamp_ns) > self.stale_after_ns {
            return Err(SyncReason::PageStale);
        }
        if now_ns.saturating_sub(self.last_sync_ns) >= REFRESH_NS {
            return Err(SyncReason::Refresh);
        }
        let Some(cursor) = cursor else {
            return Err(SyncReason::Start);
        };
        let guard = (granule / 4).max(4);
        let bound = bound + self.learned;
        if cursor < bound + granule + guard {
            return Err(SyncReason::LowLead);
        }
        Ok(bound)
    }

    /// Records a refresh at `now_ns` whose reading (fed to the model) was
    /// `real` frames, where the page's bound just before was `bound`
    /// (`None` if none was computed). Returns how far the hardware was
    /// beyond the bound (0 when the bound held).
    pub(crate) fn note_sync(&mut self, now_ns: u64, real: u64, bound: Option<u64>) -> u64 {
        self.last_sync_ns = now_ns;
        self.forced = self.forced.saturating_sub(1);
        let over = bound.map_or(0, |b| real.saturating_sub(b));
        self.worst_overshoot = self.worst_overshoot.max(over);
        if bound.is_some() {
            self.learned = if over > 0 {
                // The shortfall, with a quarter more.
                self.learned.max(over + over / 4)
            } else {
                self.learned / 2
            };
        }
        over
    }

    /// A reading at `now_ns` found the device `over` frames beyond the
    /// bound the model gave for its stamp: widen the bound (as
    /// [`SyncPolicy::note_sync`] does) and refresh on every cycle for
    /// [`DISTRUST_NS`]. Returns whether the device may have passed the
    /// cursor unseen: `over` is at least `lead`, the distance between the
    /// cursor and the bound at the last cycle that trusted the page.
    pub(crate) fn bound_failed(&mut self, now_ns: u64, over: u64, lead: Option<u64>) -> bool {
        if over == 0 {
            return false;
        }
        self.worst_overshoot = self.worst_overshoot.max(over);
        self.learned = self.learned.max(over + over / 4);
        self.distrust_until_ns = now_ns.saturating_add(DISTRUST_NS);
        lead.is_some_and(|l| over >= l)
    }

    /// After an underrun or a non-running state: refresh for the next
    /// [`RECOVER_SYNCS`] cycles.
    pub(crate) fn recover(&mut self) {
        self.forced = self.forced.max(RECOVER_SYNCS);
    }

    /// The largest overshoot [`SyncPolicy::note_sync`] saw.
    #[cfg(test)]
    pub(crate) fn worst_overshoot(&self) -> u64 {
        self.worst_overshoot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PcmState;
    use crate::layout::Format;

    const RATE: f64 = 48_000.0;

    fn layout() -> StreamLayout {
        StreamLayout {
            format: Format::S16Le,
            channels: 2,
            rate: 48_000,
            period_size: 256,
            buffer_size: 1024,
            boundary: 1024 << 20,
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

    /// A policy past its start-up refreshes, with a model fed a page
    /// reading at `t` (period 256 = 5.33 ms).
    fn settled(t: u64, frames: u64) -> (SyncPolicy, PositionModel) {
        let mut p = SyncPolicy::new(&layout());
        let mut m = PositionModel::new(&layout(), false);
        m.update(&reading(frames, t), t);
        while p.must_sync() {
            p.note_sync(t, frames, None);
        }
        (p, m)
    }

    #[test]
    fn the_bound_is_never_below_a_clock_running_up_to_one_percent_fast() {
        // The real DAC runs `ppm` fast; the model still assumes nominal
        // (the worst case: no fit yet). Page read at 0, bound asked at dt.
        for ppm in [0.0, 500.0, 5_000.0, 9_000.0] {
            let mut m = PositionModel::new(&layout(), false);
            m.update(&reading(1000, 1_000_000_000), 1_000_000_000);
            for dt in [0u64, 100_000, 1_000_000, 5_000_000, 9_000_000] {
                let real = 1000 + (dt as f64 * RATE * (1.0 + ppm * 1e-6) / 1e9) as u64;
                let b = upper_bound(&m, 1_000_000_000 + dt).unwrap_or(0);
                assert!(b >= real, "ppm {ppm} dt {dt}: bound {b} < real {real}");
                // ... and not wastefully high: within 1% + 3 frames.
                assert!(b <= real + (real - 1000) / 100 + 3, "{b} vs {real}");
            }
        }
    }

    #[test]
    fn start_forces_refreshes_then_the_page_is_enough() {
        let t = 10_000_000_000;
        let mut p = SyncPolicy::new(&layout());
        let mut m = PositionModel::new(&layout(), false);
        m.update(&reading(0, t), t);
        for _ in 0..START_SYNCS {
            assert_eq!(
                p.decide(t, &m, Page::Fed, Some(900), 256),
                Err(SyncReason::Start)
            );
            p.note_sync(t, 0, None);
        }
        // Cursor far ahead, fresh page: no refresh; the bound is the
        // anchor plus slack.
        assert_eq!(p.decide(t, &m, Page::Fed, Some(900), 256), Ok(2));
        // 2 ms later (96 frames): the bound moved with the clock.
        let b = p.decide(t + 2_000_000, &m, Page::Fed, Some(900), 256);
        assert_eq!(b, Ok(96 + 1 + 2));
    }

    #[test]
    fn a_page_that_stops_moving_falls_back_to_a_refresh() {
        let t = 10_000_000_000;
        let (p, m) = settled(t, 5000);
        let stale = p.stale_after_ns();
        assert_eq!(stale, 5_333_333 + 2_666_666 + 1_000_000);
        assert!(p
            .decide(t + stale, &m, Page::Fed, Some(99_999), 256)
            .is_ok());
        assert_eq!(
            p.decide(t + stale + 1, &m, Page::Fed, Some(99_999), 256),
            Err(SyncReason::PageStale)
        );
        // A device without a page: the same rule, on the last refresh.
        assert_eq!(
            p.decide(t + stale + 1, &m, Page::Absent, Some(99_999), 256),
            Err(SyncReason::PageStale)
        );
    }

    #[test]
    fn a_low_lead_refreshes_instead_of_guessing() {
        let t = 10_000_000_000;
        let (p, m) = settled(t, 5000);
        // Bound at t: 5002; granule 256, guard 64: cursor must be >= 5322.
        assert_eq!(p.decide(t, &m, Page::Fed, Some(5322), 256), Ok(5002));
        assert_eq!(
            p.decide(t, &m, Page::Fed, Some(5321), 256),
            Err(SyncReason::LowLead)
        );
        // The writer is not anchored yet: refresh.
        assert_eq!(
            p.decide(t, &m, Page::Fed, None, 256),
            Err(SyncReason::Start)
        );
    }

    #[test]
    fn refreshes_at_a_bounded_rate_and_after_trouble() {
        let t = 10_000_000_000;
        let (mut p, mut m) = settled(t, 5000);
        // Pages keep coming (fresh), the cursor is far: a refresh only
        // every REFRESH_NS.
        let mut syncs = 0;
        let mut now = t;
        while now <= t + 2_000_000_000 {
            let frames = 5000 + ((now - t) as f64 * RATE / 1e9) as u64;
            m.update(&reading(frames, now), now);
            if let Err(r) = p.decide(now, &m, Page::Fed, Some(frames + 900), 256) {
                assert_eq!(r, SyncReason::Refresh);
                syncs += 1;
                p.note_sync(now, frames, None);
            }
            now += 1_000_000;
        }
        assert_eq!(syncs, 4, "2 s at one refresh per 0.5 s");
        p.recover();
        for _ in 0..RECOVER_SYNCS {
            assert_eq!(
                p.decide(now, &m, Page::Fed, Some(u64::MAX / 2), 256),
                Err(SyncReason::Start)
            );
            p.note_sync(now, 0, None);
        }
        assert_eq!(
            p.decide(now, &m, Page::Unusable, Some(u64::MAX / 2), 256),
            Err(SyncReason::PageState)
        );
    }

    #[test]
    fn a_bound_found_short_is_widened_then_trusted_again() {
        let t = 10_000_000_000;
        let (mut p, m) = settled(t, 5000);
        assert_eq!(p.decide(t, &m, Page::Fed, Some(5400), 256), Ok(5002));
        // A refresh finds the device 100 frames beyond the bound.
        assert_eq!(p.note_sync(t, 5102, Some(5002)), 100);
        // The bound grows by 125: the same cursor is now too close.
        assert_eq!(
            p.decide(t, &m, Page::Fed, Some(5400), 256),
            Err(SyncReason::LowLead)
        );
        assert_eq!(p.decide(t, &m, Page::Fed, Some(5500), 256), Ok(5127));
        // Refreshes that find the bound held halve the widening.
        p.note_sync(t, 5000, Some(5002));
        assert_eq!(p.decide(t, &m, Page::Fed, Some(5500), 256), Ok(5064));
        for _ in 0..8 {
            p.note_sync(t, 5000, Some(5002));
        }
        assert_eq!(p.decide(t, &m, Page::Fed, Some(5400), 256), Ok(5002));
    }

    #[test]
    fn a_failed_bound_distrusts_the_page_and_flags_a_possible_underrun() {
        let t = 10_000_000_000;
        let (mut p, m) = settled(t, 5000);
        assert!(!p.bound_failed(t, 0, Some(100)), "no overshoot");
        assert!(p.decide(t, &m, Page::Fed, Some(9000), 256).is_ok());
        assert!(!p.bound_failed(t, 50, Some(400)), "within the lead");
        assert_eq!(
            p.decide(t + 1, &m, Page::Fed, Some(9000), 256),
            Err(SyncReason::BoundFailed)
        );
        assert!(p.bound_failed(t, 400, Some(400)), "as far as the cursor");
        assert!(!p.bound_failed(t, 400, None), "no page-based write since");
        assert_eq!(p.worst_overshoot(), 400);
    }

    #[test]
    fn note_sync_measures_how_far_the_bound_was_off() {
        let mut p = SyncPolicy::new(&layout());
        assert_eq!(p.note_sync(1, 1000, Some(990)), 10);
        assert_eq!(p.note_sync(2, 1000, Some(1005)), 0);
        assert_eq!(p.note_sync(3, 1000, None), 0);
        assert_eq!(p.worst_overshoot(), 10);
    }

    #[test]
    fn page_readings_are_fed_ignored_or_refused() {
        let p = SyncPolicy::new(&layout());
        let now = 10_000_000_000;
        assert_eq!(p.classify(&reading(1, now - 1_000_000), now), Page::Fed);
        assert_eq!(p.classify(&reading(1, 0), now), Page::Absent, "no stamp");
        assert_eq!(
            p.classify(&reading(1, now - 50_000_000), now),
            Page::Absent,
            "stale"
        );
        assert_eq!(
            p.classify(&reading(1, now + 5_000_000), now),
            Page::Unusable,
            "future"
        );
        let mut paused = reading(1, now);
        paused.state = PcmState::Paused;
        assert_eq!(p.classify(&paused, now), Page::Unusable);
    }
}
