//! Engine telemetry: atomics and histograms the RT thread writes and any
//! thread reads, lock-free.

use super::acquire::SyncReason;
use super::config::WakeStrategy;
use pcmring_rt::alloc_guard::AllocGuard;
use pcmring_rt::histogram::{HistogramSnapshot, LatencyHistogram};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};

/// Where the engine is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EngineState {
    /// The RT thread is setting up.
    Starting = 0,
    /// Output is running.
    Running = 1,
    /// Stopped on request.
    Stopped = 2,
    /// Stopped by an error ([`crate::engine::Engine::error`] says which).
    Failed = 3,
}

impl EngineState {
    fn from_u8(v: u8) -> EngineState {
        match v {
            0 => EngineState::Starting,
            1 => EngineState::Running,
            2 => EngineState::Stopped,
            _ => EngineState::Failed,
        }
    }
}

/// Live counters of one engine (output, input or duplex: one set, the
/// counters a kind of engine does not use stay zero). All fields are
/// written by its RT thread only; read them with [`Telemetry::snapshot`]
/// from anywhere.
#[derive(Debug)]
pub struct Telemetry {
    pub(crate) state: AtomicU8,
    pub(crate) wake_mode: AtomicU8,
    pub(crate) xruns: AtomicU64,
    pub(crate) xrun_frames: AtomicU64,
    pub(crate) rt_demotions: AtomicU64,
    pub(crate) rt_repromotions: AtomicU64,
    pub(crate) margin: AtomicU64,
    pub(crate) margin_floor: AtomicU64,
    pub(crate) margin_decays: AtomicU64,
    pub(crate) lead: AtomicI64,
    pub(crate) min_lead: AtomicI64,
    pub(crate) granule: AtomicU64,
    pub(crate) wake_interval: AtomicU64,
    pub(crate) jitter_ns: AtomicU64,
    pub(crate) frames_written: AtomicU64,
    pub(crate) cycles: AtomicU64,
    pub(crate) render_panics: AtomicU64,
    pub(crate) device_state: AtomicI32,
    pub(crate) rate_mhz: AtomicU64,
    pub(crate) realtime: AtomicBool,
    pub(crate) rt_allocs: AtomicU64,
    pub(crate) rt_frees: AtomicU64,
    pub(crate) rt_reallocs: AtomicU64,
    pub(crate) unexpected_blocks: AtomicU64,
    pub(crate) render_ns: LatencyHistogram,
    pub(crate) wake_late_ns: LatencyHistogram,
    pub(crate) position_syncs: AtomicU64,
    pub(crate) page_reads: AtomicU64,
    pub(crate) sync_reasons: [AtomicU64; 6],
    pub(crate) rt_syscalls: AtomicU64,
    pub(crate) rt_cpu_ns: AtomicU64,
    pub(crate) bound_overshoot_max: AtomicU64,
    pub(crate) suspected_underruns: AtomicU64,
    pub(crate) rate: AtomicU64,
    pub(crate) frames_read: AtomicU64,
    pub(crate) overruns: AtomicU64,
    pub(crate) frames_lost: AtomicU64,
    pub(crate) realigns: AtomicU64,
    pub(crate) offset_frames: AtomicI64,
    pub(crate) hw_skew_frames: AtomicI64,
    pub(crate) input_frames: AtomicU64,
    pub(crate) output_frames: AtomicU64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(EngineState::Starting as u8),
            wake_mode: AtomicU8::new(0),
            xruns: AtomicU64::new(0),
            xrun_frames: AtomicU64::new(0),
            rt_demotions: AtomicU64::new(0),
            rt_repromotions: AtomicU64::new(0),
            margin: AtomicU64::new(0),
            margin_floor: AtomicU64::new(0),
            margin_decays: AtomicU64::new(0),
            lead: AtomicI64::new(0),
            min_lead: AtomicI64::new(i64::MAX),
            granule: AtomicU64::new(0),
            wake_interval: AtomicU64::new(0),
            jitter_ns: AtomicU64::new(0),
            frames_written: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            render_panics: AtomicU64::new(0),
            device_state: AtomicI32::new(0),
            rate_mhz: AtomicU64::new(0),
            realtime: AtomicBool::new(false),
            rt_allocs: AtomicU64::new(0),
            rt_frees: AtomicU64::new(0),
            rt_reallocs: AtomicU64::new(0),
            unexpected_blocks: AtomicU64::new(0),
            render_ns: LatencyHistogram::new(),
            wake_late_ns: LatencyHistogram::new(),
            position_syncs: AtomicU64::new(0),
            page_reads: AtomicU64::new(0),
            sync_reasons: Default::default(),
            rt_syscalls: AtomicU64::new(0),
            rt_cpu_ns: AtomicU64::new(0),
            bound_overshoot_max: AtomicU64::new(0),
            suspected_underruns: AtomicU64::new(0),
            rate: AtomicU64::new(0),
            frames_read: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            frames_lost: AtomicU64::new(0),
            realigns: AtomicU64::new(0),
            offset_frames: AtomicI64::new(0),
            hw_skew_frames: AtomicI64::new(0),
            input_frames: AtomicU64::new(0),
            output_frames: AtomicU64::new(0),
        }
    }

    /// Publishes the wake strategy in force (`Period` or `Timer`).
    pub(crate) fn set_wake(&self, w: WakeStrategy) {
        let v = match w {
            WakeStrategy::Auto => 0,
            WakeStrategy::Period => 1,
            WakeStrategy::Timer => 2,
        };
        self.wake_mode.store(v, Ordering::Relaxed);
    }

    /// Publishes the allocation guard's counts.
    pub(crate) fn publish_allocs(&self, g: &AllocGuard) {
        let c = g.counts();
        self.rt_allocs.store(c.allocs, Ordering::Relaxed);
        self.rt_frees.store(c.frees, Ordering::Relaxed);
        self.rt_reallocs.store(c.reallocs, Ordering::Relaxed);
    }

    pub(crate) fn set_state(&self, s: EngineState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// The engine's state.
    pub fn state(&self) -> EngineState {
        EngineState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Underruns so far.
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Ordering::Relaxed)
    }

    /// Frames the hardware consumed that the engine had not written.
    pub fn xrun_frames(&self) -> u64 {
        self.xrun_frames.load(Ordering::Relaxed)
    }

    /// Times the RT thread was demoted after overrunning `RLIMIT_RTTIME`.
    pub fn rt_demotions(&self) -> u64 {
        self.rt_demotions.load(Ordering::Relaxed)
    }

    /// Render panics caught so far.
    pub fn render_panics(&self) -> u64 {
        self.render_panics.load(Ordering::Relaxed)
    }

    /// Frames written into the ring so far.
    pub fn frames_written(&self) -> u64 {
        self.frames_written.load(Ordering::Relaxed)
    }

    /// A consistent-enough copy of everything (each value is read
    /// atomically; values are not mutually synchronised).
    pub fn snapshot(&self) -> TelemetrySnapshot {
        let min_lead = self.min_lead.load(Ordering::Relaxed);
        let sync = |r: SyncReason| self.sync_reasons[r as usize].load(Ordering::Relaxed);
        TelemetrySnapshot {
            state: self.state(),
            wake_mode: match self.wake_mode.load(Ordering::Relaxed) {
                1 => Some(WakeStrategy::Period),
                2 => Some(WakeStrategy::Timer),
                _ => None,
            },
            xruns: self.xruns(),
            xrun_frames: self.xrun_frames(),
            rt_demotions: self.rt_demotions(),
            rt_repromotions: self.rt_repromotions.load(Ordering::Relaxed),
            margin_frames: self.margin.load(Ordering::Relaxed),
            margin_floor_frames: self.margin_floor.load(Ordering::Relaxed),
            margin_decays: self.margin_decays.load(Ordering::Relaxed),
            lead_frames: self.lead.load(Ordering::Relaxed),
            min_lead_frames: (min_lead != i64::MAX).then_some(min_lead),
            granule_frames: self.granule.load(Ordering::Relaxed),
            wake_interval_frames: self.wake_interval.load(Ordering::Relaxed),
            jitter_allowance_ns: self.jitter_ns.load(Ordering::Relaxed),
            frames_written: self.frames_written(),
            cycles: self.cycles.load(Ordering::Relaxed),
            render_panics: self.render_panics(),
            device_state: crate::PcmState::from_raw(self.device_state.load(Ordering::Relaxed)),
            rate_hz: self.rate_mhz.load(Ordering::Relaxed) as f64 / 1000.0,
            realtime: self.realtime.load(Ordering::Relaxed),
            rt_allocs: self.rt_allocs.load(Ordering::Relaxed),
            rt_frees: self.rt_frees.load(Ordering::Relaxed),
            rt_reallocs: self.rt_reallocs.load(Ordering::Relaxed),
            unexpected_blocks: self.unexpected_blocks.load(Ordering::Relaxed),
            render_ns: self.render_ns.snapshot(),
            wake_late_ns: self.wake_late_ns.snapshot(),
            position_syncs: self.position_syncs.load(Ordering::Relaxed),
            page_reads: self.page_reads.load(Ordering::Relaxed),
            syncs_start: sync(SyncReason::Start),
            syncs_page_stale: sync(SyncReason::PageStale),
            syncs_low_lead: sync(SyncReason::LowLead),
            syncs_refresh: sync(SyncReason::Refresh),
            syncs_page_state: sync(SyncReason::PageState),
            syncs_bound_failed: sync(SyncReason::BoundFailed),
            rt_syscalls: self.rt_syscalls.load(Ordering::Relaxed),
            rt_cpu_ns: self.rt_cpu_ns.load(Ordering::Relaxed),
            bound_overshoot_max_frames: self.bound_overshoot_max.load(Ordering::Relaxed),
            suspected_underruns: self.suspected_underruns.load(Ordering::Relaxed),
            nominal_rate: self.rate.load(Ordering::Relaxed),
            frames_read: self.frames_read.load(Ordering::Relaxed),
            overruns: self.overruns.load(Ordering::Relaxed),
            frames_lost: self.frames_lost.load(Ordering::Relaxed),
            realigns: self.realigns.load(Ordering::Relaxed),
            offset_frames: self.offset_frames.load(Ordering::Relaxed),
            hw_skew_frames: self.hw_skew_frames.load(Ordering::Relaxed),
            input_frames: self.input_frames.load(Ordering::Relaxed),
            output_frames: self.output_frames.load(Ordering::Relaxed),
        }
    }
}

/// A copy of an engine's [`Telemetry`].
#[derive(Debug, Clone)]
pub struct TelemetrySnapshot {
    /// Engine state.
    pub state: EngineState,
    /// The wake strategy in force, `Period` or `Timer` (never `Auto`;
    /// `None` before start-up finished).
    pub wake_mode: Option<WakeStrategy>,
    /// Xruns so far: cycles that found frames the hardware consumed (or
    /// was about to consume) that the engine had not written.
    pub xruns: u64,
    /// Frames lost in those xruns (see the definition in [`crate::engine`]).
    pub xrun_frames: u64,
    /// Times the RT thread overran its `RLIMIT_RTTIME` soft limit and was
    /// demoted to `SCHED_OTHER` (instead of the process being killed).
    pub rt_demotions: u64,
    /// Times it got `SCHED_FIFO` back after a quiet period.
    pub rt_repromotions: u64,
    /// The margin the writer keeps ahead of the position, in frames:
    /// granule + wake-up jitter allowance + safety, plus what underruns
    /// added (decaying back to the floor).
    pub margin_frames: u64,
    /// The margin's floor: granule + the probe-based allowance + safety,
    /// without what underruns added (equal to the margin when fixed).
    pub margin_floor_frames: u64,
    /// Times the underrun-grown excess of the margin was halved after a
    /// quiet period.
    pub margin_decays: u64,
    /// Frames that were still queued at the latest wake-up.
    pub lead_frames: i64,
    /// The smallest lead seen at a wake-up (the margin actually used);
    /// `None` before the second cycle.
    pub min_lead_frames: Option<i64>,
    /// The device granularity the position model uses.
    pub granule_frames: u64,
    /// Frames between planned wake-ups: the period, or in timer mode the
    /// whole blocks one wake-up renders back to back (see
    /// [`EngineConfig::margin_wakes`](super::EngineConfig::margin_wakes)).
    pub wake_interval_frames: u64,
    /// The wake-up jitter allowance in the margin (probe or default).
    pub jitter_allowance_ns: u64,
    /// Frames written into the ring.
    pub frames_written: u64,
    /// Cycles run.
    pub cycles: u64,
    /// Render panics caught (output is silence after the first).
    pub render_panics: u64,
    /// The device state of the latest reading.
    pub device_state: Option<crate::PcmState>,
    /// The estimated device rate (frames per second).
    pub rate_hz: f64,
    /// Whether the RT thread runs SCHED_FIFO.
    pub realtime: bool,
    /// Heap allocations on the RT thread after start-up (when the engine
    /// was started with an allocation guard; see `EngineConfig::alloc_guard`).
    pub rt_allocs: u64,
    /// Heap frees on the RT thread after start-up (same condition).
    pub rt_frees: u64,
    /// Reallocations on the RT thread after start-up (same condition).
    pub rt_reallocs: u64,
    /// Times the RT thread went to sleep outside its wake-up wait (a lock
    /// or blocking call on the realtime path); measured only when the
    /// allocation guard is armed (`EngineConfig::alloc_guard`).
    pub unexpected_blocks: u64,
    /// Time spent in the renderer per block, nanoseconds.
    pub render_ns: HistogramSnapshot,
    /// Wake-up lateness against the planned wake time, nanoseconds.
    pub wake_late_ns: HistogramSnapshot,
    /// Position refreshes ([`crate::Device::position`]: HWSYNC, SYNC_PTR
    /// or POSITION, one system call each) the RT thread made.
    pub position_syncs: u64,
    /// Cycles that read the mapped status page (no system call).
    pub page_reads: u64,
    /// Refreshes at start-up and in the cycles after an underrun or a
    /// state change (the `syncs_*` fields split
    /// [`TelemetrySnapshot::position_syncs`] by why the engine re-read the
    /// position instead of trusting its model).
    pub syncs_start: u64,
    /// Refreshes because the page had not moved for longer than a period
    /// interrupt takes (or the device has no usable page).
    pub syncs_page_stale: u64,
    /// Refreshes because the write cursor was too close to the bound of
    /// the position.
    pub syncs_low_lead: u64,
    /// The bounded-rate refreshes.
    pub syncs_refresh: u64,
    /// Refreshes because the page showed a state other than running, or
    /// was unreadable.
    pub syncs_page_state: u64,
    /// Refreshes after a reading found the device beyond the page's bound
    /// (the page is then not trusted for 2 s).
    pub syncs_bound_failed: u64,
    /// System calls the RT thread made itself: its waits (one per cycle),
    /// position refreshes and CPU clock reads. Not counted: what a device
    /// does inside `peek_position`/`commit` (the simulated device drains
    /// its wake-up pipe there; a full PCM without a control page commits
    /// with SYNC_PTR).
    pub rt_syscalls: u64,
    /// CPU time of the RT thread so far (sampled once a second and at
    /// the end), nanoseconds.
    pub rt_cpu_ns: u64,
    /// The largest amount a refresh found the hardware beyond the upper
    /// bound the page and the model gave (frames; 0 means the bound always
    /// held).
    pub bound_overshoot_max_frames: u64,
    /// Xruns counted (in [`TelemetrySnapshot::xruns`] too) because a
    /// reading found the device so far beyond the page's bound that it may
    /// have passed the write cursor unseen.
    pub suspected_underruns: u64,
    /// The device's nominal rate (frames per second).
    pub nominal_rate: u64,
    /// Input and duplex engines: input frames handed to the callback.
    pub frames_read: u64,
    /// Input and duplex engines: input overruns, the hardware lapped the
    /// reader (or reached a block while it was copied); each one
    /// re-anchors the reader.
    pub overruns: u64,
    /// Input and duplex engines: input frames lost to overruns.
    pub frames_lost: u64,
    /// Duplex: times the loop re-aligned input and output after an xrun
    /// or overrun (each sets a new [`TelemetrySnapshot::offset_frames`]).
    pub realigns: u64,
    /// Duplex: output frame time minus input frame time of every block
    /// (fixed between realigns).
    pub offset_frames: i64,
    /// Duplex: output minus input hardware position measured at start-up
    /// (0 for linked streams, within a granule); the round trip in frames
    /// is `offset_frames - hw_skew_frames`.
    pub hw_skew_frames: i64,
    /// Input and duplex engines: the input device's position (widened
    /// frames) at the last cycle.
    pub input_frames: u64,
    /// Duplex: the output device's position (widened frames) at the last
    /// cycle.
    pub output_frames: u64,
}

impl TelemetrySnapshot {
    /// Seconds of audio written so far (frames written / nominal rate).
    pub fn audio_seconds(&self) -> f64 {
        if self.nominal_rate == 0 {
            return 0.0;
        }
        self.frames_written as f64 / self.nominal_rate as f64
    }

    /// RT-thread system calls per second of audio written.
    pub fn syscalls_per_audio_second(&self) -> f64 {
        let s = self.audio_seconds();
        if s > 0.0 {
            self.rt_syscalls as f64 / s
        } else {
            0.0
        }
    }

    /// RT-thread CPU time per second of audio written (0.01 = 1 %).
    pub fn cpu_per_audio_second(&self) -> f64 {
        let s = self.audio_seconds();
        if s > 0.0 {
            self.rt_cpu_ns as f64 / 1e9 / s
        } else {
            0.0
        }
    }
}
