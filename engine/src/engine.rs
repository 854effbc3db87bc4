//! The engine: one realtime thread per device that renders blocks and
//! keeps the ring filled just ahead of the hardware.
//!
//! [`Engine::start`] takes a [`Device`] (full PCM, restricted BUFFER fd, or
//! the simulated device) and a [`Renderer`], and spawns the device's RT
//! thread. Each cycle the thread
//!
//! 1. waits: on the device fd (period wake-ups) or until an absolute
//!    deadline (timer wake-ups; the position between updates comes from
//!    the `PositionModel`'s interpolation);
//! 2. reads the position; a stream that is no longer running
//!    (DISCONNECTED, XRUN, SUSPENDED, SETUP) stops the engine with an error
//!    the caller reads with [`Engine::error`] or [`Engine::stop`]; a PAUSED
//!    stream is waited out; a PREPARED one is filled (and committed) but
//!    the engine cannot start it: its owner starts the stream (for a
//!    normal-mode PCM, after prefilling so it survives until the engine's
//!    first commit);
//! 3. fills the ring up to `position + margin + wake interval` in whole
//!    blocks through the `RingWriter` (underruns are counted and the
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
//! ring, the starting thread, a model without a rate fit) cannot eat into
//! the margin; that extra lead then shrinks linearly to zero over 0.5 s
//! (never faster than the play time, so the shrinking cannot underrun),
//! and the steady state keeps the margin alone. The ring's pages are
//! touched at set-up, before the position is read.
//!
//! **Fill and wake-ups** (`engine/src/engine/wake.rs`). Each fill renders
//! whole blocks until the cursor reaches its target (the last block may
//! end past it): the lead after a fill is never below `margin + wake
//! interval`, whatever the block size. The thread then sleeps until an
//! absolute deadline (`clock_nanosleep(TIMER_ABSTIME)`): the moment the
//! upper bound of the hardware position reaches `cursor - margin`, so the
//! lead at a wake-up is the margin. In timer mode the wake interval is the
//! block, or several blocks rendered back to back: enough to span
//! [`EngineConfig::min_wake_ns`], and a quarter of the margin
//! ([`EngineConfig::margin_wakes`]) when the margin is long (fewer
//! wake-ups, position reads and system calls for the same margin).
//!
//! **Xruns, defined once.** An xrun is a cycle that finds the write
//! cursor below `hw + granule` (the first frame the hardware cannot have
//! taken yet). Its size is the frames from the cursor to that point:
//! frames the hardware consumed (or holds and will consume) that the
//! engine had not written. The engine re-anchors past them and writes
//! silence up to the new anchor. The count comes from positions only, the
//! same on every device; the simulated device counts the frames its DAC
//! plays unwritten the same way ([`crate::sim`]), and a test checks the two
//! agree. [`TelemetrySnapshot::xruns`] and
//! [`TelemetrySnapshot::xrun_frames`] hold the counts; each xrun is also
//! an [`crate::events::EngineEvent::Xrun`].
//!
//! **Faults reach the application** through one event channel
//! ([`Engine::events`], [`crate::events`]): xruns, margin changes,
//! realtime demotions and re-promotions, render panics (with the message)
//! and the engine stopping (disconnect or error). Other subsystems post to
//! it through [`Engine::event_sender`].
//!
//! **RT limits never kill the process.** A `SCHED_FIFO` RT thread gets a
//! soft `RLIMIT_RTTIME` of 200 ms and a hard one of 400 ms (the values
//! rtkit hands out and requires). When a render callback (or anything)
//! keeps the thread busy past the soft limit, the kernel sends `SIGXCPU`;
//! the engine's handler ([`pcmring_rt::sched::DemotionWatch`]) demotes the
//! thread to `SCHED_OTHER` on the spot instead of letting the signal's
//! default action end the process, the engine counts it
//! ([`TelemetrySnapshot::rt_demotions`]) and posts
//! [`crate::events::EngineEvent::Demoted`], and after
//! [`EngineConfig::repromote_after`] (5 s) without another overrun it asks
//! for `SCHED_FIFO` again. The hard limit (`SIGKILL`) stays as the last
//! resort for the case where the handler cannot run (the application
//! installed its own `SIGXCPU` handler, which pcmring keeps; or blocked the
//! signal). See docs/faults.md for how this compares with rtkit, PipeWire
//! and JACK.
//!
//! Realtime rules on the RT thread after start-up: no allocation, no
//! locks, no blocking calls except the wait. The renderer's panics are
//! caught: the engine reports them in telemetry, in [`Engine::error`] and
//! as an event, and outputs silence from then on; the process lives on.
//! On stop (or drop) the thread silences the ring and exits; no thread is
//! left behind.
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

mod acquire;
mod clock;
mod config;
mod duplex;
mod input;
mod io;
mod margin;
mod rt;
mod shared;
mod telemetry;
mod wake;

pub use crate::render::{BlockInfo, Renderer};
testing_use!(acquire::SyncReason);
pub use clock::EngineClock;
pub use config::{EngineConfig, Margin, StartInfo, WakeStrategy};
pub use duplex::{DuplexEngine, DuplexInfo, DuplexRenderer};
pub use input::{Capturer, InputEngine};
pub use telemetry::{EngineState, Telemetry, TelemetrySnapshot};

use crate::device::{Device, RingIdentity};
use crate::error::{Error, Result, Step};
use crate::events::{EventQueue, EventSender, Events, DEFAULT_EVENT_CAPACITY};
use clock::ClockShared;
use shared::{ErrorSlot, Shared};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running output engine for one device; see the module docs.
pub struct Engine {
    /// Held while the engine exists: no second engine on the same ring.
    _claim: RingClaim,
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
        let claim = RingClaim::take(device.ring_identity(), &config.name)?;
        let events = config
            .events
            .clone()
            .unwrap_or_else(|| EventQueue::new(DEFAULT_EVENT_CAPACITY));
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            telemetry: Telemetry::new(),
            clock: Arc::new(ClockShared::default()),
            error: ErrorSlot::default(),
            panic: OnceLock::new(),
            tx: events.sender(),
            events,
        });
        let (tx, rx) = mpsc::channel();
        let sh = shared.clone();
        let name = config.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pcmring-rt-{}", config.name))
            .spawn(move || rt::rt_main(device, renderer, config, sh, tx))
            .map_err(|e| Error::sys(&name, Step::Start, e))?;
        match rx.recv() {
            Ok(Ok(info)) => Ok(Engine {
                _claim: claim,
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

    /// The error that stopped the engine, or the render panic that
    /// silenced it, as text, if either happened.
    pub fn error(&self) -> Option<String> {
        self.shared.error.text().or_else(|| {
            self.shared
                .panic
                .get()
                .map(|m| format!("the render callback panicked ({m}); the engine outputs silence"))
        })
    }

    /// The application's end of the event channel (xruns, margin changes,
    /// demotions, render panics, the engine stopping, notices from other
    /// subsystems); see [`crate::events`].
    pub fn events(&self) -> Events {
        self.shared.events.receiver()
    }

    /// A sender into this engine's event channel, for other subsystems
    /// (e.g. device reservation) to post to.
    pub fn event_sender(&self) -> EventSender {
        self.shared.tx.clone()
    }

    /// Stops the RT thread (it silences the ring first) and joins it.
    /// Returns the error that had stopped the engine, if any.
    pub fn stop(mut self) -> Result<()> {
        self.halt();
        self.shared.error.take().map_or(Ok(()), Err)
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

/// The rings engines of this process drive.
static CLAIMED: Mutex<Vec<RingIdentity>> = Mutex::new(Vec::new());

/// One engine's claim on its device's ring (see
/// [`Device::ring_identity`]); released when dropped.
struct RingClaim(Option<RingIdentity>);

impl RingClaim {
    fn take(id: Option<RingIdentity>, name: &str) -> Result<RingClaim> {
        let Some(id) = id else {
            return Ok(RingClaim(None));
        };
        let mut held = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains(&id) {
            return Err(Error::EngineRunning {
                device: name.to_owned(),
            });
        }
        held.push(id);
        Ok(RingClaim(Some(id)))
    }
}

impl Drop for RingClaim {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            let mut held = CLAIMED.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = held.iter().position(|h| *h == id) {
                held.swap_remove(i);
            }
        }
    }
}
