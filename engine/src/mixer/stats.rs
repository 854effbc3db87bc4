//! Lock-free observability: counters, per-bus peaks and the mix-time
//! histogram, written by the renderer and the control threads, read from
//! anywhere.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use pcmring_rt::histogram::{HistogramSnapshot, LatencyHistogram};

/// The shared counters (one instance per mixer).
pub(crate) struct StatsShared {
    pub active_voices: AtomicU32,
    pub voices_started: AtomicU64,
    pub voices_ended: AtomicU64,
    pub dropped_commands: AtomicU64,
    pub pool_full: AtomicU64,
    pub late_starts: AtomicU64,
    pub blocks: AtomicU64,
    pub frames: AtomicU64,
    pub garbage_overflow: AtomicU64,
    pub non_finite_chunks: AtomicU64,
    pub non_finite_voices: AtomicU64,
    pub dropped_events: AtomicU64,
    /// Peak absolute sample per bus since the last read, as `f32` bits
    /// (non-negative floats order like their bits, so `fetch_max` works).
    pub bus_peaks: Box<[AtomicU32]>,
    pub master_peak: AtomicU32,
    pub mix_time: LatencyHistogram,
}

impl StatsShared {
    pub fn new(buses: usize) -> Self {
        StatsShared {
            active_voices: AtomicU32::new(0),
            voices_started: AtomicU64::new(0),
            voices_ended: AtomicU64::new(0),
            dropped_commands: AtomicU64::new(0),
            pool_full: AtomicU64::new(0),
            late_starts: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            garbage_overflow: AtomicU64::new(0),
            non_finite_chunks: AtomicU64::new(0),
            non_finite_voices: AtomicU64::new(0),
            dropped_events: AtomicU64::new(0),
            bus_peaks: (0..buses).map(|_| AtomicU32::new(0)).collect(),
            master_peak: AtomicU32::new(0),
            mix_time: LatencyHistogram::new(),
        }
    }

    /// Raises a peak cell to `peak` if higher (renderer side).
    #[inline]
    pub fn raise(cell: &AtomicU32, peak: f32) {
        let bits = peak.to_bits();
        if bits > cell.load(Relaxed) {
            cell.fetch_max(bits, Relaxed);
        }
    }
}

/// A snapshot of the mixer's counters. Peaks are the highest absolute sample
/// since the previous [`super::Mixer::stats`] call (reading resets them).
#[derive(Debug, Clone)]
pub struct MixerStats {
    /// Voices the renderer is holding (playing, pending or paused) after its last block.
    pub active_voices: u32,
    /// Voices that started (Play commands the renderer accepted).
    pub voices_started: u64,
    /// Voices that ended (finished, stopped, or killed).
    pub voices_ended: u64,
    /// Commands refused because the command queue was full.
    pub dropped_commands: u64,
    /// `play` calls refused because every voice slot was in use.
    pub pool_full: u64,
    /// Voices whose scheduled start time had already passed.
    pub late_starts: u64,
    /// Blocks rendered.
    pub blocks: u64,
    /// Frames rendered.
    pub frames: u64,
    /// Mixing chunks whose output held NaN or an infinity and was replaced by silence.
    pub non_finite_chunks: u64,
    /// Voices silenced and ended because their output held NaN or an infinity.
    pub non_finite_voices: u64,
    /// Events dropped because the event queue was full (nobody polled it).
    pub dropped_events: u64,
    /// Peak absolute sample per bus (after its gain), index = [`super::BusId::index`].
    pub bus_peaks: Vec<f32>,
    /// Peak absolute sample of the master output (before the clipper).
    pub master_peak: f32,
    /// Wall time the renderer spent per block, nanoseconds.
    pub mix_time: HistogramSnapshot,
}

impl StatsShared {
    pub fn snapshot(&self) -> MixerStats {
        MixerStats {
            active_voices: self.active_voices.load(Relaxed),
            voices_started: self.voices_started.load(Relaxed),
            voices_ended: self.voices_ended.load(Relaxed),
            dropped_commands: self.dropped_commands.load(Relaxed),
            pool_full: self.pool_full.load(Relaxed),
            late_starts: self.late_starts.load(Relaxed),
            non_finite_chunks: self.non_finite_chunks.load(Relaxed),
            non_finite_voices: self.non_finite_voices.load(Relaxed),
            dropped_events: self.dropped_events.load(Relaxed),
            blocks: self.blocks.load(Relaxed),
            frames: self.frames.load(Relaxed),
            bus_peaks: self
                .bus_peaks
                .iter()
                .map(|p| f32::from_bits(p.swap(0, Relaxed)))
                .collect(),
            master_peak: f32::from_bits(self.master_peak.swap(0, Relaxed)),
            mix_time: self.mix_time.snapshot(),
        }
    }
}
