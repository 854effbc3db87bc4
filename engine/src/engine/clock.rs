//! A cheap, lock-free handle on an engine's device frame clock.

use pcmring_rt::timer::now_ns;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

/// The RT thread's latest position anchor, published with a seqlock.
#[derive(Debug, Default)]
pub(crate) struct ClockShared {
    seq: AtomicU64,
    frames: AtomicU64,
    tstamp_ns: AtomicU64,
    rate_bits: AtomicU64,
    granule: AtomicU64,
    cursor: AtomicU64,
}

impl ClockShared {
    /// Publishes an anchor (RT thread only: one writer).
    pub(crate) fn publish(
        &self,
        frames: u64,
        tstamp_ns: u64,
        rate_per_ns: f64,
        granule: u64,
        cursor: u64,
    ) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.frames.store(frames, Ordering::Relaxed);
        self.tstamp_ns.store(tstamp_ns, Ordering::Relaxed);
        self.rate_bits
            .store(rate_per_ns.to_bits(), Ordering::Relaxed);
        self.granule.store(granule, Ordering::Relaxed);
        self.cursor.store(cursor, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> (u64, u64, f64, u64, u64) {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let v = (
                self.frames.load(Ordering::Relaxed),
                self.tstamp_ns.load(Ordering::Relaxed),
                f64::from_bits(self.rate_bits.load(Ordering::Relaxed)),
                self.granule.load(Ordering::Relaxed),
                self.cursor.load(Ordering::Relaxed),
            );
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return v;
            }
        }
    }
}

/// Reads the device frame clock of a running engine from any thread.
/// Cloning is cheap (an `Arc`); reading never blocks the RT thread.
#[derive(Debug, Clone)]
pub struct EngineClock {
    pub(crate) shared: Arc<ClockShared>,
}

impl EngineClock {
    /// The device frame being played now (interpolated from the latest
    /// reading the RT thread published, the same way the engine does);
    /// 0 before the first reading.
    pub fn now_frames(&self) -> u64 {
        self.frames_at(now_ns())
    }

    /// The device frame at CLOCK_MONOTONIC time `t_ns`, at most one
    /// granule past the latest reading.
    pub fn frames_at(&self, t_ns: u64) -> u64 {
        let (frames, tstamp, rate, granule, _) = self.shared.read();
        if tstamp == 0 {
            return frames;
        }
        let adv = (t_ns.saturating_sub(tstamp) as f64 * rate) as u64;
        frames + adv.min(granule)
    }

    /// The frames the device has reported consumed at the latest reading
    /// (not interpolated): every frame before it has left the ring. Wait
    /// for this, not [`EngineClock::now_frames`], before closing a stream
    /// whose last frames must be heard.
    pub fn reported_frames(&self) -> u64 {
        self.shared.read().0
    }

    /// The first frame not written yet: events scheduled at or after it
    /// are rendered sample-accurately.
    pub fn write_cursor(&self) -> u64 {
        self.shared.read().4
    }

    /// The latest reading: (frames, CLOCK_MONOTONIC ns, frames per second).
    pub fn anchor(&self) -> (u64, u64, f64) {
        let (f, t, r, _, _) = self.shared.read();
        (f, t, r * 1e9)
    }
}
