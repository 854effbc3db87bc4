//! The engine: one realtime thread per device that renders blocks and
//! keeps the ring filled just ahead of the hardware.
//!
//! [`Engine::start`] takes a [`Device`] (full PCM, restricted BUFFER fd, or
//! the simulated device) and a [`Renderer`], and spawns the device's RT
//! thread. Each cycle the thread
//!
//! 1. waits: on the device fd (period wake-ups) or until an absolute
//!    deadline (timer wake-ups; the position between updates comes from
//!    the [`PositionModel`]'s interpolation);
//! 2. reads the position; a stream that is no longer running
//!    (DISCONNECTED, XRUN, SUSPENDED, SETUP) stops the engine with an error
//!    the caller reads with [`Engine::error`] or [`Engine::stop`]; a PAUSED
//!    stream is waited out; a PREPARED one is filled (and committed) but
//!    the engine cannot start it: its owner starts the stream (for a
//!    normal-mode PCM, after prefilling so it survives until the engine's
//!    first commit);
//! 3. fills the ring up to `position + margin + wake interval` in whole
//!    blocks through the [`RingWriter`] (underruns are counted and the
//!    cursor re-anchored), calling the renderer once per block.
//!
//! The margin is `granule + jitter allowance + safety`, where the jitter
//! allowance comes from a short wake-up jitter probe run on the RT thread
//! at start ([`Margin::Auto`]), so it follows the machine, not a constant.
//! That probe-based value is the margin's **floor**. An underrun shows the
//! probe missed a tail, and grows the allowance by the shortfall (plus a
//! quarter), up to what the ring can hold; the growth is an *excess* over
//! the floor that decays: after each [`EngineConfig::margin_decay`] without
//! an underrun, the excess halves (never below the floor), so one stall
//! does not cost latency for the rest of the run. A 50 ms stall (an excess
//! of about 3000 frames at 48 kHz) is back within 100 frames of the floor
//! after 5 quiet half-lives (20 s with the default 4 s), and at the floor
//! after 12. Telemetry shows the current margin and the floor.
//!
//! **Start-up.** The first cycle anchors the write cursor
//! [`EngineConfig::start_headroom_ns`] beyond the margin (the frames in
//! between are silence) and renders its first blocks right away, so the
//! first, cold cycles (code run for the first time, first touches of the
//! ring, the starting thread) cannot eat into the margin; the headroom
//! drains in that much play time, as the engine waits for the lead to come
//! down to the margin before it renders again. The ring's pages are touched
//! at set-up, before the position is read.
//!
//! **Fill.** Each fill renders whole blocks until the cursor reaches its
//! target (the last block may end past it): the lead after a fill is
//! never below `margin + wake interval`, whatever the block size. In timer
//! mode the wake interval is the block, or several blocks when the block is
//! shorter than [`EngineConfig::min_wake_ns`] (fewer wake-ups, position
//! reads and system calls for tiny blocks).
//!
//! Realtime rules on the RT thread after start-up: no allocation, no
//! locks, no blocking calls except the wait. The renderer's panics are
//! caught: the engine reports them in telemetry and outputs silence from
//! then on, the process lives on. On stop (or drop) the thread silences
//! the ring and exits; no thread is left behind.
//!
//! ```
//! use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin};
//! use pcmring::sim::{SimConfig, SimDac};
//! use pcmring::{Format, StreamLayout};
//! use std::time::Duration;
//!
//! let layout = StreamLayout {
//!     format: Format::S16Le,
//!     channels: 2,
//!     rate: 48_000,
//!     period_size: 256,
//!     buffer_size: 4096,
//!     boundary: 4096 << 16,
//! };
//! let dac = SimDac::start(SimConfig::new(layout))?;
//! let mut phase = 0.0f32;
//! let tone = move |out: &mut [f32], info: &BlockInfo| {
//!     for frame in out.chunks_exact_mut(info.channels) {
//!         let v = (phase * std::f32::consts::TAU).sin() * 0.2;
//!         frame.fill(v);
//!         phase = (phase + 440.0 / info.rate as f32).fract();
//!     }
//! };
//! let config = EngineConfig {
//!     block_frames: 64,
//!     margin: Margin::Frames(1024),
//!     ..EngineConfig::default()
//! };
//! let engine = Engine::start(dac.device()?, tone, config)?;
//! std::thread::sleep(Duration::from_millis(100));
//! let clock = engine.clock(); // cheap, lock-free, from any thread
//! assert!(clock.write_cursor() > clock.now_frames());
//! println!("{:?}", engine.telemetry().snapshot());
//! engine.stop()?;
//! # Ok::<(), pcmring::Error>(())
//! ```

mod clock;
mod telemetry;

pub use clock::EngineClock;
pub use telemetry::{EngineState, Telemetry, TelemetrySnapshot, WakeMode};

use crate::device::{Device, PcmState};
use crate::error::{Error, Result, Step};
use crate::position::{PositionModel, StreamEvent};
use crate::writer::{FillError, HwWindow, RingWriter};
use clock::ClockShared;
use pcmring_rt::alloc_guard::{self, AllocGuard, Mode};
use pcmring_rt::blocking::BlockingMonitor;
use pcmring_rt::timer::{now_ns, poll_fd_until, sleep_until_ns, PollEvents, PollOutcome};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where a block sits on the device's 64-bit frame clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// The device frame (widened hardware position clock) at which
    /// `out[0]` will be heard.
    pub frame_time: u64,
    /// Frames in the block.
    pub frames: usize,
    /// Interleaved channels per frame.
    pub channels: usize,
    /// Frames per second.
    pub rate: u32,
}

/// The realtime render callback: fill `out` (interleaved f32,
/// `frames * channels`, zeroed before the call) for the block described by
/// `info`. Runs on the RT thread: must not allocate, lock or block.
pub trait Renderer: Send + 'static {
    /// Renders one block.
    fn render(&mut self, out: &mut [f32], info: &BlockInfo);
}

impl<F: FnMut(&mut [f32], &BlockInfo) + Send + 'static> Renderer for F {
    fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        self(out, info)
    }
}

/// How the RT thread wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeStrategy {
    /// Timer when the block is shorter than a period or the device has no
    /// poll fd, period wake-ups otherwise.
    Auto,
    /// Poll on [`Device::poll_fd`] (falls back to the timer if an fd that is
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

/// Settings for [`Engine::start`].
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
    /// underrun; it drains in that much play time.
    pub start_headroom_ns: u64,
    /// Timer wake-ups: the shortest interval between wake-ups; a block
    /// shorter than this is rendered several at a time (the lead at a
    /// wake-up stays `margin`; after a fill it is up to a wake interval
    /// more). Zero: one block per wake-up.
    pub min_wake_ns: u64,
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
        }
    }
}

/// What start-up found, reported once the RT thread runs.
#[derive(Debug, Clone)]
pub struct StartInfo {
    /// The wake strategy chosen.
    pub wake: WakeMode,
    /// The margin in frames at start.
    pub margin_frames: u64,
    /// The jitter allowance in the margin, nanoseconds.
    pub jitter_ns: u64,
    /// Whether SCHED_FIFO was granted; if not, why.
    pub realtime: std::result::Result<i32, String>,
    /// Whether memory was locked (when asked); if not, why.
    pub memory_locked: Option<std::result::Result<(), String>>,
}

struct Shared {
    stop: AtomicBool,
    telemetry: Telemetry,
    clock: Arc<ClockShared>,
    error: Mutex<Option<Error>>,
}

/// A running output engine for one device; see the module docs.
pub struct Engine {
    shared: Arc<Shared>,
    clock: EngineClock,
    thread: Option<JoinHandle<()>>,
    info: StartInfo,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state", &self.shared.telemetry.state())
            .field("info", &self.info)
            .finish()
    }
}

impl Engine {
    /// Starts output on `device` with `renderer`. Returns once the RT
    /// thread has set up (jitter probe included) and is running, or with
    /// the error that stopped it.
    pub fn start<D: Device + 'static, R: Renderer>(
        device: D,
        renderer: R,
        config: EngineConfig,
    ) -> Result<Engine> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            telemetry: Telemetry::new(),
            clock: Arc::new(ClockShared::default()),
            error: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let sh = shared.clone();
        let name = config.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pcmring-rt-{}", config.name))
            .spawn(move || rt_main(device, renderer, config, sh, tx))
            .map_err(|e| Error::sys(&name, Step::Start, e))?;
        match rx.recv() {
            Ok(Ok(info)) => Ok(Engine {
                clock: EngineClock {
                    shared: shared.clock.clone(),
                },
                shared,
                thread: Some(thread),
                info,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::BadState {
                    device: name,
                    state: "engine thread died during start-up".to_owned(),
                })
            }
        }
    }

    /// Connects to a pcmring broker at `addr` (a socket path, or `@name`
    /// for an abstract socket), validates the lease it sends, and starts
    /// output on the leased device. `make_renderer` sees the stream layout
    /// first, so a mixer can be built at the device's rate.
    ///
    /// Lease failures (refused, queued too long, malformed message, wrong
    /// fd type) come back as [`Error::Lease`] with a message a user can
    /// act on.
    pub fn connect<R: Renderer>(
        addr: &str,
        config: EngineConfig,
        make_renderer: impl FnOnce(&crate::StreamLayout) -> R,
    ) -> Result<Engine> {
        let device = crate::client::connect(addr)?.into_device()?;
        let renderer = make_renderer(&device.layout());
        Engine::start(device, renderer, config)
    }

    /// What start-up found (wake mode, margin, realtime status).
    pub fn start_info(&self) -> &StartInfo {
        &self.info
    }

    /// Live telemetry (lock-free reads).
    pub fn telemetry(&self) -> &Telemetry {
        &self.shared.telemetry
    }

    /// A cheap handle on the device frame clock.
    pub fn clock(&self) -> EngineClock {
        self.clock.clone()
    }

    /// The device frame being played now.
    pub fn now_frames(&self) -> u64 {
        self.clock.now_frames()
    }

    /// Whether the RT thread still runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Waits up to `timeout` for the RT thread to end on its own (after a
    /// device error); returns whether it has.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while self.is_running() {
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// The error that stopped the engine, as text, if one did.
    pub fn error(&self) -> Option<String> {
        match self.shared.error.lock() {
            Ok(g) => g.as_ref().map(|e| e.to_string()),
            Err(p) => p.into_inner().as_ref().map(|e| e.to_string()),
        }
    }

    /// Stops the RT thread (it silences the ring first) and joins it.
    /// Returns the error that had stopped the engine, if any.
    pub fn stop(mut self) -> Result<()> {
        self.halt();
        let e = match self.shared.error.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        e.map_or(Ok(()), Err)
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The shortest wait of a cycle: the RT thread blocks every cycle.
const MIN_SLEEP_NS: u64 = 20_000;

type StartReply = std::result::Result<StartInfo, Error>;

fn rt_main<D: Device, R: Renderer>(
    dev: D,
    renderer: R,
    cfg: EngineConfig,
    shared: Arc<Shared>,
    reply: mpsc::Sender<StartReply>,
) {
    let tel = &shared.telemetry;
    let mut rt = match RtLoop::setup(dev, renderer, &cfg, &shared) {
        Ok((rt, info)) => {
            tel.set_state(EngineState::Running);
            let _ = reply.send(Ok(info));
            rt
        }
        Err(e) => {
            tel.set_state(EngineState::Failed);
            let _ = reply.send(Err(e));
            return;
        }
    };
    drop(reply);
    let outcome = {
        let guard = cfg.alloc_guard.map(AllocGuard::enter);
        let r = rt.run(guard.as_ref());
        if let Some(g) = &guard {
            publish_allocs(tel, g);
        }
        r
    };
    rt.silence();
    match outcome {
        Ok(()) => tel.set_state(EngineState::Stopped),
        Err(e) => {
            if let Ok(mut g) = shared.error.lock() {
                *g = Some(e);
            }
            tel.set_state(EngineState::Failed);
        }
    }
    let _ = pcmring_rt::sched::demote();
}

fn publish_allocs(tel: &Telemetry, g: &AllocGuard) {
    let c = g.counts();
    tel.rt_allocs.store(c.allocs, Ordering::Relaxed);
    tel.rt_frees.store(c.frees, Ordering::Relaxed);
    tel.rt_reallocs.store(c.reallocs, Ordering::Relaxed);
}

/// Why the loop ended with an error, built off the hot path.
enum Failure {
    Stream(StreamEvent),
    Position(Error),
    Fill(FillError),
    Wait(std::io::Error),
}

struct RtLoop<D, R> {
    dev: D,
    renderer: R,
    poisoned: bool,
    model: PositionModel,
    writer: RingWriter,
    scratch: Vec<f32>,
    block: usize,
    channels: usize,
    rate: u32,
    period: u64,
    buffer: u64,
    mode: WakeMode,
    /// Frames between timer wake-ups (whole blocks).
    timer_interval: u64,
    fixed_margin: Option<u64>,
    /// The probe-based jitter allowance + safety (the floor's part).
    allowance_frames: u64,
    /// Allowance added by underruns on top of the floor; decays.
    excess_frames: u64,
    /// When the excess halves next (CLOCK_MONOTONIC ns).
    next_decay_ns: u64,
    decay_ns: u64,
    headroom_frames: u64,
    monitor_blocking: bool,
    margin: u64,
    name: String,
    shared: Arc<Shared>,
}

impl<D: Device, R: Renderer> RtLoop<D, R> {
    fn setup(
        mut dev: D,
        renderer: R,
        cfg: &EngineConfig,
        shared: &Arc<Shared>,
    ) -> Result<(Self, StartInfo)> {
        let name = cfg.name.clone();
        let layout = dev.layout();
        let bad = |what: String| Error::Unsupported {
            device: name.clone(),
            what,
        };
        if cfg.block_frames == 0 || cfg.block_frames as u64 * 2 > layout.buffer_size {
            return Err(bad(format!(
                "block of {} frames: must be 1..={} (half the buffer)",
                cfg.block_frames,
                layout.buffer_size / 2
            )));
        }
        if dev.ring().len() < layout.ring_bytes() {
            return Err(bad("mapped ring smaller than the layout".to_owned()));
        }
        let realtime = match cfg.fifo_priority {
            Some(p) => pcmring_rt::sched::promote_fifo(p)
                .map(|r| r.priority())
                .map_err(|e| e.to_string()),
            None => Err("not requested".to_owned()),
        };
        shared
            .telemetry
            .realtime
            .store(realtime.is_ok(), Ordering::Relaxed);
        if !cfg.cpus.is_empty() {
            let _ = pcmring_rt::sched::set_affinity(&cfg.cpus);
        }
        let memory_locked = cfg
            .lock_memory
            .then(|| pcmring_rt::sched::lock_memory().map_err(|e| e.to_string()));
        pcmring_rt::sched::prefault_stack(128 * 1024);

        let rate = layout.rate;
        let block = cfg.block_frames;
        let has_fd = dev.poll_fd().is_some();
        let mode = match cfg.wake {
            WakeStrategy::Timer => WakeMode::Timer,
            WakeStrategy::Period if has_fd => WakeMode::Period,
            WakeStrategy::Period => {
                return Err(bad("period wake-ups need a device poll fd".to_owned()))
            }
            WakeStrategy::Auto if has_fd && block as u64 >= layout.period_size => WakeMode::Period,
            WakeStrategy::Auto => WakeMode::Timer,
        };
        let block_ns = block as u64 * 1_000_000_000 / u64::from(rate);
        // Touch every page of the ring now (reads: the hardware may be
        // playing it), so the first cycle takes no page faults.
        prefault(dev.ring(), layout.ring_bytes());
        let jitter_ns = match cfg.margin {
            Margin::Auto { probe } if !probe.is_zero() => {
                let period_ns = if mode == WakeMode::Timer {
                    block_ns
                } else {
                    layout.period_size * 1_000_000_000 / u64::from(rate)
                };
                pcmring_rt::jitter::probe(period_ns.max(50_000), probe).suggested_margin_ns()
            }
            _ => cfg.default_jitter_ns,
        };
        let ns_to_frames = |ns: u64| (ns as u128 * u128::from(rate)).div_ceil(1_000_000_000) as u64;
        let allowance_frames = ns_to_frames(jitter_ns + cfg.safety_ns);
        let blocks_per_wake = ns_to_frames(cfg.min_wake_ns)
            .div_ceil(block as u64)
            .clamp(1, (layout.buffer_size / 4 / block as u64).max(1));
        let fixed_margin = match cfg.margin {
            Margin::Frames(f) => Some(f),
            Margin::Auto { .. } => None,
        };

        let mut model = PositionModel::new(&layout, dev.is_batch());
        let hw = dev.position().map_err(|e| position_error(&name, e))?;
        if let Some(ev) = model.update(&hw, now_ns()) {
            if ev.is_fatal() {
                return Err(stream_error(&name, ev));
            }
        }
        let tel = &shared.telemetry;
        tel.wake_mode.store(mode as u8, Ordering::Relaxed);
        tel.jitter_ns.store(jitter_ns, Ordering::Relaxed);
        let mut rt = RtLoop {
            dev,
            renderer,
            poisoned: false,
            model,
            writer: RingWriter::new(&layout),
            scratch: vec![0.0; block * layout.channels as usize],
            block,
            channels: layout.channels as usize,
            rate,
            period: layout.period_size,
            buffer: layout.buffer_size,
            mode,
            timer_interval: blocks_per_wake * block as u64,
            fixed_margin,
            allowance_frames,
            excess_frames: 0,
            next_decay_ns: u64::MAX,
            // Zero means never: u64::MAX never comes.
            decay_ns: match u64::try_from(cfg.margin_decay.as_nanos()) {
                Ok(0) | Err(_) => u64::MAX,
                Ok(ns) => ns,
            },
            headroom_frames: ns_to_frames(cfg.start_headroom_ns),
            monitor_blocking: cfg.alloc_guard.is_some(),
            margin: 0,
            name,
            shared: shared.clone(),
        };
        rt.update_margin();
        let interval = rt.interval();
        if rt.margin + interval + rt.model.granule() > rt.buffer {
            return Err(Error::Unsupported {
                device: rt.name.clone(),
                what: format!(
                    "margin {} + wake interval {} + granule {} frames exceed the {}-frame buffer",
                    rt.margin,
                    interval,
                    rt.model.granule(),
                    rt.buffer
                ),
            });
        }
        let info = StartInfo {
            wake: mode,
            margin_frames: rt.margin,
            jitter_ns,
            realtime,
            memory_locked,
        };
        Ok((rt, info))
    }

    /// Frames between planned wake-ups.
    fn interval(&self) -> u64 {
        match self.mode {
            WakeMode::Timer => self.timer_interval,
            WakeMode::Period => self.period.max(self.block as u64),
        }
    }

    /// margin = granule + jitter allowance + safety + decaying excess (or
    /// the fixed value), kept inside what the ring can hold.
    fn update_margin(&mut self) {
        let granule = self.model.granule();
        let (floor, want) = match self.fixed_margin {
            Some(f) => (f.max(granule), f.max(granule)),
            None => {
                let floor = granule + self.allowance_frames;
                (floor, floor + self.excess_frames)
            }
        };
        let room = self.buffer.saturating_sub(self.interval() + granule);
        let fit = |m: u64| m.min(room).max(granule);
        self.margin = fit(want);
        let tel = &self.shared.telemetry;
        tel.margin.store(self.margin, Ordering::Relaxed);
        tel.margin_floor.store(fit(floor), Ordering::Relaxed);
        tel.granule.store(granule, Ordering::Relaxed);
    }

    /// After an underrun with the automatic margin: grow the excess by the
    /// shortfall (+25%), and restart the quiet period before it decays.
    fn grow_margin(&mut self, short: u64, now: u64) {
        if self.fixed_margin.is_some() {
            return;
        }
        self.excess_frames = (self.excess_frames + short + short / 4).min(self.buffer);
        self.next_decay_ns = now.saturating_add(self.decay_ns);
        self.update_margin();
    }

    /// Halves the excess once per quiet `margin_decay` (no underrun).
    fn decay_margin(&mut self, now: u64) {
        if self.excess_frames == 0 || self.decay_ns == u64::MAX || now < self.next_decay_ns {
            return;
        }
        self.excess_frames /= 2;
        self.next_decay_ns = now.saturating_add(self.decay_ns);
        self.shared
            .telemetry
            .margin_decays
            .fetch_add(1, Ordering::Relaxed);
    }

    fn run(&mut self, guard: Option<&AllocGuard>) -> std::result::Result<(), Error> {
        let r = self.cycle_loop(guard);
        r.map_err(|f| {
            // Leaving the RT path: building the error may allocate.
            let _s = alloc_guard::suspend();
            match f {
                Failure::Stream(ev) => stream_error(&self.name, ev),
                Failure::Position(e) => position_error(&self.name, e),
                Failure::Fill(FillError::Commit(e)) => e,
                Failure::Fill(FillError::Write(w)) => Error::BadState {
                    device: self.name.clone(),
                    state: format!("writer refused a write: {w}"),
                },
                Failure::Wait(e) => Error::sys(&self.name, Step::Wait, e),
            }
        })
    }

    fn cycle_loop(&mut self, guard: Option<&AllocGuard>) -> std::result::Result<(), Failure> {
        let mut mon = BlockingMonitor::start();
        let min_sleep_ns = (self.block as u64 * 250_000_000 / u64::from(self.rate)).max(50_000);
        let mut deadline = now_ns();
        let mut idle = false; // the last cycle wrote nothing
        let mut position_errors = 0u32;
        let tel_ptr = self.shared.clone();
        let tel = &tel_ptr.telemetry;
        let events = PollEvents::IN | PollEvents::OUT;
        while !self.shared.stop.load(Ordering::Acquire) {
            // 1. Wait.
            let use_poll = self.mode == WakeMode::Period && !idle;
            // When the wake-up is due: the deadline, or for a poll the
            // expected time of the next period boundary.
            let planned = if use_poll {
                let next = (self.model.frames() / self.period + 1) * self.period;
                self.model.time_of(next, now_ns())
            } else {
                deadline
            };
            if use_poll {
                // Never wait past the deadline, when the lead is down to
                // the margin (a period wake-up that does not come must not
                // starve the ring; waiting a period longer would spend a
                // period of the margin).
                let fallback = deadline;
                let fd = self.dev.poll_fd();
                let out = match fd {
                    Some(fd) if self.monitor_blocking => {
                        mon.wait(|| poll_fd_until(fd, events, fallback))
                    }
                    Some(fd) => poll_fd_until(fd, events, fallback),
                    None => Ok(PollOutcome::Timeout),
                };
                match out {
                    Ok(o) if o.is_error() => {
                        return Err(Failure::Wait(std::io::Error::from_raw_os_error(libc::EIO)))
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Failure::Wait(e)),
                }
            } else if self.monitor_blocking {
                mon.wait(|| sleep_until_ns(deadline));
            } else {
                sleep_until_ns(deadline);
            }
            let woke = now_ns();

            // 2. Position.
            let hw = match self.dev.position() {
                Ok(hw) => {
                    position_errors = 0;
                    hw
                }
                Err(e) => {
                    position_errors += 1;
                    if position_errors >= 8 {
                        return Err(Failure::Position(e));
                    }
                    deadline = woke + min_sleep_ns;
                    continue;
                }
            };
            let event = self.model.update(&hw, woke);
            tel.device_state.store(hw.state as i32, Ordering::Relaxed);
            if let Some(ev) = event {
                if ev.is_fatal() {
                    return Err(Failure::Stream(ev));
                }
            }
            tel.wake_late_ns.record(woke.saturating_sub(planned));
            self.decay_margin(woke);
            self.update_margin();

            // 3. Fill.
            let paused = matches!(event, Some(StreamEvent::Paused));
            let mut written = 0;
            if !paused {
                let pos = self.model.now_frames(now_ns());
                let granule = self.model.granule();
                let at = HwWindow {
                    hw: self.model.frames(),
                    now: pos,
                    granule,
                };
                // The first cycle anchors (and fills) beyond the margin by
                // the start-up headroom, within what the ring holds.
                let headroom = if self.writer.is_anchored() {
                    0
                } else {
                    let room = self
                        .buffer
                        .saturating_sub(self.margin + self.interval() + granule);
                    self.headroom_frames.min(room)
                };
                let c = self.writer.begin(at, self.margin + headroom);
                if c.xrun {
                    tel.xruns.fetch_add(1, Ordering::Relaxed);
                    // The probe missed a tail this long: grow the
                    // allowance by the shortfall (+25%), within the ring.
                    let short = (granule as i64 - c.lead).max(0) as u64;
                    self.grow_margin(short, woke);
                }
                if !c.first {
                    tel.lead.store(c.lead, Ordering::Relaxed);
                    tel.min_lead.fetch_min(c.lead, Ordering::Relaxed);
                }
                let target = pos + self.margin + headroom + self.interval();
                written = self.fill(target).map_err(Failure::Fill)?;
                tel.frames_written.fetch_add(written, Ordering::Relaxed);
            }
            let a = self.model.anchor().unwrap_or(crate::position::Anchor {
                frames: 0,
                tstamp_ns: 0,
            });
            self.shared.clock.publish(
                a.frames,
                a.tstamp_ns,
                self.model.rate_per_ns(),
                self.model.granule(),
                self.writer.cursor(),
            );
            tel.rate_mhz
                .store((self.model.rate_hz() * 1000.0) as u64, Ordering::Relaxed);
            tel.cycles.fetch_add(1, Ordering::Relaxed);
            if self.monitor_blocking {
                tel.unexpected_blocks
                    .store(mon.report().unexpected(), Ordering::Relaxed);
            }
            if let Some(g) = guard {
                publish_allocs(tel, g);
            }

            // 4. Plan the next wake: when the lead drops to the margin.
            let now = now_ns();
            let due = self
                .model
                .time_of(self.writer.cursor().saturating_sub(self.margin), now);
            // A cycle that wrote nothing waits on the timer next: a poll fd
            // that is always ready (a playback PCM whose avail_min is below
            // what the engine keeps free) must not make the thread spin.
            idle = written == 0;
            // Always really sleep (at least MIN_SLEEP_NS): a thread that
            // cannot keep up must still block now and then, or the kernel
            // kills it for exceeding RLIMIT_RTTIME.
            deadline = if written == 0 || paused {
                due.max(now + min_sleep_ns)
            } else {
                due.max(now + MIN_SLEEP_NS)
            };
        }
        Ok(())
    }

    /// Renders and writes whole blocks up to `target`. A block whose
    /// render ended after the hardware got within a granule of it is
    /// dropped (writing it would race the hardware); the next cycle then
    /// finds the underrun and re-anchors.
    fn fill(&mut self, target: u64) -> std::result::Result<u64, FillError> {
        let info_base = BlockInfo {
            frame_time: 0,
            frames: self.block,
            channels: self.channels,
            rate: self.rate,
        };
        let renderer = &mut self.renderer;
        let poisoned = &mut self.poisoned;
        let model = &self.model;
        let tel = &self.shared.telemetry;
        self.writer.fill(
            &mut self.dev,
            &mut self.scratch,
            self.block,
            target,
            |t, out| {
                out.fill(0.0);
                if *poisoned {
                    return true;
                }
                let info = BlockInfo {
                    frame_time: t,
                    ..info_base
                };
                let t0 = now_ns();
                let r = catch_unwind(AssertUnwindSafe(|| renderer.render(out, &info)));
                let t1 = now_ns();
                tel.render_ns.record(t1.saturating_sub(t0));
                if let Err(payload) = r {
                    // Rare slow path: dropping the payload frees.
                    let _s = alloc_guard::suspend();
                    drop(payload);
                    *poisoned = true;
                    tel.render_panics.fetch_add(1, Ordering::Relaxed);
                    out.fill(0.0);
                }
                model.projected_frames(t1) + model.granule() <= t
            },
        )
    }

    /// Silences what the hardware could still play after stopping.
    fn silence(&mut self) {
        let _s = alloc_guard::suspend();
        if let Ok(hw) = self.dev.position() {
            self.model.update(&hw, now_ns());
        }
        // Past what is already queued (it plays out, at most the margin),
        // up to one buffer past the device's reported pointer.
        let hw = self.model.frames();
        if let Ok(end) = self
            .writer
            .silence_ahead(self.dev.ring(), hw, self.model.granule())
        {
            let _ = self.dev.commit(end);
        }
    }
}

/// Reads one byte of every page of the first `len` bytes of `ring`, so
/// that its pages are mapped before the realtime loop writes there.
fn prefault(ring: &crate::ring::RingView, len: usize) {
    const PAGE: usize = 4096;
    let len = len.min(ring.len());
    let base = ring.as_ptr();
    let mut off = 0;
    while off < len {
        // SAFETY: `off < len <= ring.len()`, so the byte is inside the
        // mapping; a volatile read of a `u8` has no alignment requirement
        // and does not race in a way that matters (the value is discarded,
        // and the hardware only ever reads the ring).
        unsafe { std::ptr::read_volatile(base.add(off)) };
        off += PAGE;
    }
}

fn stream_error(name: &str, ev: StreamEvent) -> Error {
    Error::BadState {
        device: name.to_owned(),
        state: ev.describe().to_owned(),
    }
}

fn position_error(name: &str, e: Error) -> Error {
    match e {
        Error::Sys { .. } | Error::BadState { .. } => e,
        other => Error::BadState {
            device: name.to_owned(),
            state: format!("position unreadable: {other}"),
        },
    }
}

/// Whether a device state lets output run.
pub fn state_is_playable(s: PcmState) -> bool {
    match StreamEvent::from_state(s) {
        None => true,
        Some(e) => !e.is_fatal(),
    }
}
