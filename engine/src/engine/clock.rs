//! A cheap, lock-free handle on an engine's device frame clock.

use crate::position::{interpolate, is_moving, Anchor, PositionModel};
use pcmring_rt::timer::now_ns;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
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
    moving: AtomicBool,
}

/// One published reading.
#[derive(Debug, Clone, Copy)]
struct Reading {
    anchor: Anchor,
    rate_per_ns: f64,
    granule: u64,
    cursor: u64,
    moving: bool,
}

impl ClockShared {
    /// Publishes the model's latest reading and the write cursor (RT
    /// thread only: one writer).
    pub(crate) fn publish(&self, model: &PositionModel, cursor: u64) {
        let a = model.anchor().unwrap_or(Anchor {
            frames: 0,
            tstamp_ns: 0,
        });
        let (frames, tstamp_ns) = (a.frames, a.tstamp_ns);
        let rate_per_ns = model.rate_per_ns();
        let granule = model.granule();
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.frames.store(frames, Ordering::Relaxed);
        self.tstamp_ns.store(tstamp_ns, Ordering::Relaxed);
        self.rate_bits
            .store(rate_per_ns.to_bits(), Ordering::Relaxed);
        self.granule.store(granule, Ordering::Relaxed);
        self.cursor.store(cursor, Ordering::Relaxed);
        self.moving
            .store(is_moving(model.state()), Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> Reading {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let v = Reading {
                anchor: Anchor {
                    frames: self.frames.load(Ordering::Relaxed),
                    tstamp_ns: self.tstamp_ns.load(Ordering::Relaxed),
                },
                rate_per_ns: f64::from_bits(self.rate_bits.load(Ordering::Relaxed)),
                granule: self.granule.load(Ordering::Relaxed),
                cursor: self.cursor.load(Ordering::Relaxed),
                moving: self.moving.load(Ordering::Relaxed),
            };
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
    /// granule past the latest reading (the position model's
    /// interpolation: a stream that is not running stays at the reading).
    pub fn frames_at(&self, t_ns: u64) -> u64 {
        let r = self.shared.read();
        if r.anchor.tstamp_ns == 0 {
            return r.anchor.frames;
        }
        interpolate(r.anchor, r.moving, r.rate_per_ns, r.granule, t_ns)
    }

    /// The frames the device has reported consumed at the latest reading
    /// (not interpolated): every frame before it has left the ring. Wait
    /// for this, not [`EngineClock::now_frames`], before closing a stream
    /// whose last frames must be heard.
    pub fn reported_frames(&self) -> u64 {
        self.shared.read().anchor.frames
    }

    /// The first frame not written yet: events scheduled at or after it
    /// are rendered sample-accurately.
    pub fn write_cursor(&self) -> u64 {
        self.shared.read().cursor
    }

    /// The latest reading: (frames, CLOCK_MONOTONIC ns, frames per second).
    pub fn anchor(&self) -> (u64, u64, f64) {
        let r = self.shared.read();
        (r.anchor.frames, r.anchor.tstamp_ns, r.rate_per_ns * 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{HwPosition, PcmState};
    use crate::layout::{Format, StreamLayout};

    fn model(state: PcmState) -> PositionModel {
        let layout = StreamLayout {
            format: Format::S16Le,
            channels: 2,
            rate: 48_000,
            period_size: 480,
            buffer_size: 1920,
            boundary: 1920 << 10,
        };
        let mut m = PositionModel::new(&layout, true);
        let hw = HwPosition {
            state,
            hw_ptr: 960,
            tstamp_ns: 1_000_000_000,
            audio_tstamp_ns: 0,
        };
        m.update(&hw, 1_000_000_000);
        m
    }

    #[test]
    fn clock_interpolates_like_the_model_while_running() {
        let m = model(PcmState::Running);
        let shared = Arc::new(ClockShared::default());
        shared.publish(&m, 5000);
        let clock = EngineClock { shared };
        for dt in [0, 1_000_000, 5_000_000, 50_000_000] {
            let t = 1_000_000_000 + dt;
            assert_eq!(clock.frames_at(t), m.now_frames(t), "at +{dt} ns");
        }
        // A batch device: at most one period past the reading.
        assert_eq!(clock.frames_at(2_000_000_000), 960 + 480);
        assert_eq!(clock.write_cursor(), 5000);
    }

    #[test]
    fn clock_stands_still_when_the_stream_does_not_run() {
        for state in [PcmState::Paused, PcmState::Prepared, PcmState::Xrun] {
            let m = model(state);
            let shared = Arc::new(ClockShared::default());
            shared.publish(&m, 0);
            let clock = EngineClock { shared };
            assert_eq!(clock.frames_at(1_010_000_000), 960, "{state:?}");
            assert_eq!(clock.frames_at(1_010_000_000), m.now_frames(1_010_000_000));
        }
    }
}
