//! A wake-up jitter probe, like `cyclictest`: how late does this machine
//! wake a thread that sleeps to absolute deadlines?
//!
//! The probe sleeps to deadlines `start + i * period` on `CLOCK_MONOTONIC`
//! (absolute, so lateness does not accumulate) and records each wake-up's
//! lateness (actual wake − deadline) in a [`LatencyHistogram`]. The engine
//! runs it at start to size its safety margin: the writer must stay ahead
//! of the hardware by at least the wake-up lateness it will meet.
//!
//! ```
//! use pcmring_rt::jitter;
//! use std::time::Duration;
//!
//! let report = jitter::probe(1_000_000, Duration::from_millis(20));
//! assert_eq!(report.iterations(), 20);
//! println!("p99 lateness {} ns, margin {} ns", report.p99(), report.suggested_margin_ns());
//! ```

use crate::histogram::{HistogramSnapshot, LatencyHistogram};
use crate::sched;
use crate::timer::{now_ns, sleep_until_ns};
use std::time::Duration;

/// Extra margin added on top of the p99.9 lateness, at least this much
/// (100 µs), by [`JitterReport::suggested_margin_ns`].
pub const MIN_SAFETY_NS: u64 = 100_000;

/// Settings for [`probe_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Time between deadlines, in nanoseconds (at least 1).
    pub period_ns: u64,
    /// How long to probe; the number of wake-ups is `duration / period`
    /// (at least 1).
    pub duration: Duration,
    /// Run the probe on a new thread promoted to this `SCHED_FIFO`
    /// priority, if permitted (the report says whether it was). `None`:
    /// run on the calling thread at its current priority.
    pub fifo_priority: Option<i32>,
}

impl ProbeConfig {
    /// A probe on the calling thread, no promotion.
    pub const fn new(period_ns: u64, duration: Duration) -> ProbeConfig {
        ProbeConfig {
            period_ns,
            duration,
            fifo_priority: None,
        }
    }
}

/// The result of a jitter probe. Lateness values are nanoseconds.
#[derive(Clone, Debug)]
pub struct JitterReport {
    period_ns: u64,
    lateness: HistogramSnapshot,
    elapsed: Duration,
    fifo: Option<Result<i32, String>>,
}

impl JitterReport {
    /// The period between deadlines.
    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// Number of wake-ups measured.
    pub fn iterations(&self) -> u64 {
        self.lateness.count()
    }

    /// The full lateness histogram.
    pub fn lateness(&self) -> &HistogramSnapshot {
        &self.lateness
    }

    /// Median lateness.
    pub fn p50(&self) -> u64 {
        self.lateness.percentile(50.0)
    }

    /// 99th percentile lateness.
    pub fn p99(&self) -> u64 {
        self.lateness.percentile(99.0)
    }

    /// 99.9th percentile lateness.
    pub fn p99_9(&self) -> u64 {
        self.lateness.percentile(99.9)
    }

    /// Worst lateness seen.
    pub fn max(&self) -> u64 {
        self.lateness.max()
    }

    /// Wall time the probe took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// `None` if no promotion was asked for; `Some(Ok(priority))` if the
    /// probe ran at `SCHED_FIFO`; `Some(Err(message))` if it was refused
    /// (the message explains how to grant it) and the probe ran at normal
    /// priority.
    pub fn fifo(&self) -> Option<&Result<i32, String>> {
        self.fifo.as_ref()
    }

    /// A margin that covers the measured wake-up lateness: the p99.9
    /// lateness plus a safety term of half of it, and at least
    /// [`MIN_SAFETY_NS`]: `p99.9 + max(p99.9 / 2, 100 µs)`.
    ///
    /// Short probes see few tail events, so the safety term is generous;
    /// the engine adds the device granularity (period) on top of this.
    pub fn suggested_margin_ns(&self) -> u64 {
        let p = self.p99_9();
        p.saturating_add((p / 2).max(MIN_SAFETY_NS))
    }
}

/// Probes wake-up lateness on the calling thread, at its current priority:
/// `duration / period_ns` wake-ups (at least one), `period_ns` apart.
///
/// Bounded in time: it returns after about `duration` plus the worst
/// single lateness (a deadline that has already passed returns at once, so
/// a stalled probe catches up instead of running long). Allocates only the
/// returned report (not during the measurement).
pub fn probe(period_ns: u64, duration: Duration) -> JitterReport {
    probe_with(&ProbeConfig::new(period_ns, duration))
}

/// Probes as configured; see [`ProbeConfig`]. With `fifo_priority` set,
/// the probe runs on a short-lived thread promoted to `SCHED_FIFO` (the
/// calling thread is never changed); if promotion is refused it runs there
/// at normal priority and the report carries the reason.
pub fn probe_with(cfg: &ProbeConfig) -> JitterReport {
    let period_ns = cfg.period_ns.max(1);
    let iterations = u64::try_from(cfg.duration.as_nanos() / u128::from(period_ns))
        .unwrap_or(u64::MAX)
        .max(1);
    let Some(priority) = cfg.fifo_priority else {
        return run(period_ns, iterations, None);
    };
    let spawned = std::thread::Builder::new()
        .name("pcmring-jitter".into())
        .spawn(move || {
            let promoted = sched::promote_fifo(priority);
            let fifo = match &promoted {
                Ok(p) => Ok(p.priority()),
                Err(e) => Err(e.to_string()),
            };
            run(period_ns, iterations, Some(fifo))
        });
    match spawned.map(|h| h.join()) {
        Ok(Ok(report)) => report,
        // Could not start the thread (or it panicked): measure here
        // instead, saying why there was no promotion.
        Ok(Err(_)) => run(
            period_ns,
            iterations,
            Some(Err("probe thread panicked".into())),
        ),
        Err(e) => run(
            period_ns,
            iterations,
            Some(Err(format!("could not start the probe thread: {e}"))),
        ),
    }
}

/// The measurement loop.
fn run(period_ns: u64, iterations: u64, fifo: Option<Result<i32, String>>) -> JitterReport {
    let hist = LatencyHistogram::new();
    sched::prefault_stack(64 * 1024);
    let begin = now_ns();
    let start = begin.saturating_add(period_ns);
    for i in 0..iterations {
        let deadline = start.saturating_add(i.saturating_mul(period_ns));
        sleep_until_ns(deadline);
        let woke = now_ns();
        hist.record(woke.saturating_sub(deadline));
    }
    let elapsed = Duration::from_nanos(now_ns().saturating_sub(begin));
    JitterReport {
        period_ns,
        lateness: hist.snapshot(),
        elapsed,
        fifo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_counts_iterations_and_reports_sane_stats() {
        let r = probe(2_000_000, Duration::from_millis(100));
        assert_eq!(r.iterations(), 50);
        assert_eq!(r.period_ns(), 2_000_000);
        assert!(r.fifo().is_none());
        // Lateness is non-negative by construction and ordered.
        assert!(r.p50() <= r.p99() && r.p99() <= r.p99_9() && r.p99_9() <= r.max());
        assert!(r.lateness().min() <= r.p50());
        // 50 deadlines, the last at 51 periods after start.
        assert!(
            r.elapsed() >= Duration::from_millis(100),
            "{:?}",
            r.elapsed()
        );
        let m = r.suggested_margin_ns();
        assert!(m >= r.p99_9() + MIN_SAFETY_NS);
    }

    #[test]
    fn tiny_duration_still_probes_once() {
        let r = probe(1_000_000, Duration::ZERO);
        assert_eq!(r.iterations(), 1);
        let r = probe(0, Duration::from_nanos(10));
        assert_eq!(r.period_ns(), 1);
        assert_eq!(r.iterations(), 10);
    }

    #[test]
    fn probe_with_fifo_reports_the_promotion_outcome() {
        let mut cfg = ProbeConfig::new(1_000_000, Duration::from_millis(30));
        cfg.fifo_priority = Some(10);
        let r = probe_with(&cfg);
        assert_eq!(r.iterations(), 30);
        match r.fifo() {
            Some(Ok(p)) => assert_eq!(*p, 10),
            Some(Err(msg)) => assert!(msg.contains("not permitted"), "{msg}"),
            None => panic!("promotion outcome missing"),
        }
        // The calling thread was not promoted.
        assert_eq!(
            sched::current_scheduling().unwrap().policy,
            sched::Policy::Other
        );
    }

    #[test]
    fn suggested_margin_formula() {
        let h = LatencyHistogram::new();
        for _ in 0..1000 {
            h.record(400_000);
        }
        let r = JitterReport {
            period_ns: 1,
            lateness: h.snapshot(),
            elapsed: Duration::ZERO,
            fifo: None,
        };
        let p = r.p99_9();
        assert!((400_000..=425_000).contains(&p));
        assert_eq!(r.suggested_margin_ns(), p + p / 2);
        let h = LatencyHistogram::new();
        h.record(10_000);
        let r = JitterReport {
            lateness: h.snapshot(),
            ..r
        };
        assert_eq!(r.suggested_margin_ns(), r.p99_9() + MIN_SAFETY_NS);
    }
}
