//! [`EngineConfig`] and what start-up reports back ([`StartInfo`]).

use crate::events::EventQueue;
use crate::layout::StreamLayout;
use pcmring_rt::alloc_guard::Mode;
use std::time::Duration;

/// How the RT thread wakes up: asked for in [`EngineConfig::wake`],
/// reported (never `Auto`: the strategy in force) in [`StartInfo::wake`]
/// and [`TelemetrySnapshot::wake_mode`](super::TelemetrySnapshot::wake_mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeStrategy {
    /// Timer when the block is shorter than a period or the device has no
    /// poll fd, period wake-ups otherwise.
    Auto,
    /// Poll on [`Device::poll_fd`](crate::Device::poll_fd) (falls back to the timer if an fd that is
    /// always ready would make the thread spin).
    Period,
    /// Absolute-deadline sleeps with position interpolation.
    Timer,
}

/// How the margin (frames kept written ahead of the position) is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Margin {
    /// `granule + jitter + safety`, jitter from a wake-up probe of this
    /// duration on the RT thread at start (zero duration: no probe, use
    /// [`EngineConfig::default_jitter_ns`]).
    Auto {
        /// How long the start-up jitter probe runs.
        probe: Duration,
    },
    /// A fixed number of frames (raised to at least one granule).
    Frames(u64),
}

/// Settings for [`Engine::start`](super::Engine::start).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Device name used in errors.
    pub name: String,
    /// Frames per render block.
    pub block_frames: usize,
    /// Wake strategy.
    pub wake: WakeStrategy,
    /// Margin choice.
    pub margin: Margin,
    /// Safety term added to the margin, nanoseconds.
    pub safety_ns: u64,
    /// Jitter allowance when no probe runs, nanoseconds.
    pub default_jitter_ns: u64,
    /// SCHED_FIFO priority to try for the RT thread (`None`: stay normal).
    pub fifo_priority: Option<i32>,
    /// Pin the RT thread to these CPUs (empty: no pinning).
    pub cpus: Vec<usize>,
    /// `mlockall` the process at start (failure is reported, not fatal).
    pub lock_memory: bool,
    /// Arm the no-allocation guard on the RT thread after start-up; counts
    /// appear in telemetry (needs `CountingAllocator` installed as the
    /// global allocator to see anything). `Mode::Abort` aborts the process
    /// on the first allocation. Also turns on the blocking monitor
    /// (`TelemetrySnapshot::unexpected_blocks`), which costs three
    /// `getrusage` calls per cycle and is off otherwise.
    pub alloc_guard: Option<Mode>,
    /// Automatic margin: after this long without an underrun, the
    /// allowance grown by underruns loses half its excess over the probe's
    /// floor (and again after each further such period). Zero: never
    /// shrinks back.
    pub margin_decay: Duration,
    /// Extra lead, nanoseconds, the first cycle writes beyond the margin
    /// (silence up to the anchor) so that the cold first cycles cannot
    /// underrun; it shrinks linearly to zero over the first 0.5 s.
    pub start_headroom_ns: u64,
    /// Timer wake-ups: the shortest interval between wake-ups; a block
    /// shorter than this is rendered several at a time (the lead at a
    /// wake-up stays `margin`; after a fill it is up to a wake interval
    /// more). Zero: one block per wake-up.
    pub min_wake_ns: u64,
    /// Timer wake-ups: spread the margin over at least this many
    /// wake-ups. When the margin is longer than this many blocks, one
    /// wake-up renders `margin / margin_wakes` frames of whole blocks back
    /// to back (the lead at a wake-up stays the margin; a block's latency
    /// grows by half that on average). Zero: only
    /// [`EngineConfig::min_wake_ns`] decides.
    pub margin_wakes: u32,
    /// Refresh the position ([`crate::Device::position`]: HWSYNC, SYNC_PTR
    /// or POSITION, a system call) on every wake-up instead of reading the
    /// status page and the model and refreshing only when the model needs
    /// it (the default, `false`). For comparison (the `steady` bench) and
    /// for a device whose page cannot be trusted.
    pub refresh_every_wake: bool,
    /// After a `SIGXCPU` demotion (the RT thread overran its
    /// `RLIMIT_RTTIME` soft limit), how long the thread must run without
    /// another one before it gets `SCHED_FIFO` back.
    pub repromote_after: Duration,
    /// The queue the engine posts its events to (`None`: a queue of
    /// 256 events of its own). Pass a
    /// queue shared with other subsystems to read everything in one place.
    pub events: Option<EventQueue>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            name: "pcm".to_owned(),
            block_frames: 128,
            wake: WakeStrategy::Auto,
            margin: Margin::Auto {
                probe: Duration::from_millis(200),
            },
            safety_ns: 500_000,
            default_jitter_ns: 2_000_000,
            fifo_priority: Some(80),
            cpus: Vec::new(),
            lock_memory: false,
            alloc_guard: None,
            margin_decay: Duration::from_secs(4),
            start_headroom_ns: 10_000_000,
            min_wake_ns: 1_000_000,
            margin_wakes: 4,
            refresh_every_wake: false,
            repromote_after: Duration::from_secs(5),
            events: None,
        }
    }
}

/// What an engine's start-up found, reported once its RT thread runs: one
/// type for the output ([`Engine::start_info`](super::Engine::start_info)),
/// input ([`InputEngine::start_info`](super::InputEngine::start_info)) and
/// duplex ([`DuplexEngine::start_info`](super::DuplexEngine::start_info))
/// engines. What a kind of engine does not have is `None` (or 0 where a
/// field says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInfo {
    /// The playback stream's layout (output and duplex engines).
    pub output: Option<StreamLayout>,
    /// The capture stream's layout (input and duplex engines).
    pub input: Option<StreamLayout>,
    /// The capture-device frame the first input block starts at (input
    /// and duplex engines).
    pub first_frame: Option<u64>,
    /// The wake strategy in force: [`WakeStrategy::Period`] or
    /// [`WakeStrategy::Timer`], never `Auto` (start-up resolves it).
    pub wake: WakeStrategy,
    /// Frames kept written ahead of the output position at start (0 for
    /// an input engine: it writes nothing).
    pub margin_frames: u64,
    /// The wake-up jitter allowance in the margin, nanoseconds (0 for an
    /// input engine).
    pub jitter_ns: u64,
    /// Whether SCHED_FIFO was granted; if not, why.
    pub realtime: std::result::Result<i32, String>,
    /// Whether memory was locked (output engine, when asked); if not, why.
    pub memory_locked: Option<std::result::Result<(), String>>,
    /// Whether a `SIGXCPU` overrun demotes the RT thread instead of
    /// killing the process; if not, why (output engine, only tried when
    /// realtime).
    pub demotion_watch: Option<std::result::Result<(), String>>,
    /// Duplex: the block offset at start (see
    /// [`DuplexInfo::offset`](super::DuplexInfo::offset)).
    pub offset_frames: Option<i64>,
    /// Duplex: output minus input hardware position at start.
    pub hw_skew_frames: Option<i64>,
}

impl StartInfo {
    /// Duplex: the round trip at start, in frames: `offset - hw_skew`.
    pub fn round_trip_frames(&self) -> Option<i64> {
        Some(self.offset_frames? - self.hw_skew_frames?)
    }
}
