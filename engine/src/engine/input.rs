//! The input-only engine (a recorder): one RT thread that follows a capture
//! device and hands each block of finished input frames to a [`Capturer`].
//!
//! Each cycle the thread reads the device position (the reported
//! `hw_ptr`: the model's interpolation is only used to plan the wake-up and
//! to bound where the hardware can be after a copy), lets the
//! [`RingReader`] find overruns (counted, re-anchored), converts every
//! whole block of finished frames to f32 and calls the capturer with the
//! block's frame time, then sleeps until the next block should be
//! complete. Timer wake-ups only: a restricted capture fd cannot move
//! `appl_ptr`, so its poll would always be ready.
//!
//! Same rules as the output engine on the RT thread: no allocation, no
//! locks, no blocking besides the wait (the alloc and blocking guards of
//! [`EngineConfig::alloc_guard`] cover this loop); capturer panics are
//! caught and counted, the engine goes on reading and drops the input.

use super::config::{EngineConfig, StartInfo, WakeStrategy};
use super::io::{IoHandle, IoLoop, IoShared};
use super::telemetry::{Telemetry, TelemetrySnapshot};
use crate::device::Device;
use crate::error::{DeviceError, Error, Result};
use crate::layout::StreamLayout;
use crate::position::{PositionModel, StreamEvent};
use crate::reader::RingReader;
use crate::render::BlockInfo;
use pcmring_rt::alloc_guard::{self, AllocGuard};
use pcmring_rt::blocking::BlockingMonitor;
use pcmring_rt::timer::{now_ns, sleep_until_ns};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The realtime input callback: gets each block of captured frames
/// (interleaved f32, `info.frames * info.channels`) with the frame time of
/// its first frame on the capture device's clock. Runs on the RT thread:
/// must not allocate, lock or block.
pub trait Capturer: Send + 'static {
    /// Takes one block.
    fn capture(&mut self, input: &[f32], info: &BlockInfo);
}

impl<F: FnMut(&[f32], &BlockInfo) + Send + 'static> Capturer for F {
    fn capture(&mut self, input: &[f32], info: &BlockInfo) {
        self(input, info)
    }
}

/// A running input engine; see the module docs.
#[derive(Debug)]
pub struct InputEngine {
    handle: IoHandle,
}

impl InputEngine {
    /// Starts reading `device` (a capture [`crate::Pcm`], a read-only
    /// [`crate::restricted::RestrictedPcm`], or a [`crate::sim::SimAdc`]
    /// endpoint) in blocks of `config.block_frames`, handing them to
    /// `capturer`. Returns once the RT thread runs. Only the name, block,
    /// priority, CPU pinning and guard settings of `config` apply.
    pub fn start<D: Device + 'static, C: Capturer>(
        device: D,
        capturer: C,
        config: EngineConfig,
    ) -> Result<InputEngine> {
        let cfg = config.clone();
        let handle = IoHandle::spawn(&config, move |shared: &IoShared| {
            InputLoop::setup(device, capturer, &cfg, shared)
        })?;
        Ok(InputEngine { handle })
    }

    /// Leases the capture stream of the pcmring broker at `addr` (a socket
    /// path, or `@name` for an abstract socket), validates the read-only
    /// BUFFER fd it sends and starts reading it. `make_capturer` sees the
    /// layout first. The broker must speak wire version 2; an older one
    /// refuses with a version mismatch ([`crate::Error::Lease`]).
    pub fn connect<C: Capturer>(
        addr: &str,
        config: EngineConfig,
        make_capturer: impl FnOnce(&StreamLayout) -> C,
    ) -> Result<InputEngine> {
        let opts = crate::client::ConnectOptions {
            kind: crate::broker::LeaseKind::Capture,
            ..Default::default()
        };
        let addr = crate::broker::SocketAddr::parse(addr);
        let device = crate::client::connect_with(&addr, &opts)?.into_device()?;
        let capturer = make_capturer(&device.layout());
        InputEngine::start(device, capturer, config)
    }

    /// What start-up found: the capture layout
    /// ([`StartInfo::input`]), the first block's frame
    /// ([`StartInfo::first_frame`]) and the realtime status.
    pub fn start_info(&self) -> &StartInfo {
        &self.handle.info
    }

    /// Live telemetry.
    pub fn telemetry(&self) -> &Telemetry {
        &self.handle.shared.telemetry
    }

    /// A copy of the telemetry.
    pub fn snapshot(&self) -> TelemetrySnapshot {
        self.telemetry().snapshot()
    }

    /// Whether the RT thread still runs.
    pub fn is_running(&self) -> bool {
        self.handle.is_running()
    }

    /// Waits up to `timeout` for the RT thread to end on its own.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        self.handle.wait_finished(timeout)
    }

    /// The error that stopped the engine, as text, if one did.
    pub fn error(&self) -> Option<String> {
        self.handle.error()
    }

    /// Stops and joins the RT thread; returns the error that had stopped
    /// it, if any.
    pub fn stop(mut self) -> Result<()> {
        self.handle.stop()
    }

    /// Stops like [`InputEngine::stop`] and also returns the final
    /// telemetry (what a recorder reports at the end).
    pub fn stop_with_report(mut self) -> (TelemetrySnapshot, Result<()>) {
        let r = self.handle.stop();
        (self.snapshot(), r)
    }
}

/// Consecutive failed position reads before the engine gives up.
pub(crate) const MAX_POSITION_ERRORS: u32 = 8;

struct InputLoop<D, C> {
    dev: D,
    capturer: C,
    poisoned: bool,
    model: PositionModel,
    reader: RingReader,
    scratch: Vec<f32>,
    block: usize,
    channels: usize,
    rate: u32,
    name: String,
    monitor_blocking: bool,
}

impl<D: Device, C: Capturer> InputLoop<D, C> {
    fn setup(
        mut dev: D,
        capturer: C,
        cfg: &EngineConfig,
        shared: &IoShared,
    ) -> Result<(Self, StartInfo)> {
        let layout = dev.layout();
        check_block(&cfg.name, cfg.block_frames, &layout)?;
        if dev.ring().len() < layout.ring_bytes() {
            return Err(Error::Unsupported {
                device: cfg.name.clone(),
                what: "mapped ring smaller than the layout".to_owned(),
            });
        }
        if !cfg.cpus.is_empty() {
            let _ = pcmring_rt::sched::set_affinity(&cfg.cpus);
        }
        let mut model = PositionModel::new(&layout, dev.is_batch());
        let hw = dev
            .position()
            .map_err(|e| position_error(&cfg.name, "capture", e))?;
        if let Some(ev) = model.update(&hw, now_ns()) {
            if ev.is_fatal() {
                return Err(stream_error(&cfg.name, "capture", ev));
            }
        }
        let mut reader = RingReader::new(&layout);
        reader.begin(model.frames(), model.granule(), 0);
        shared
            .telemetry
            .input_frames
            .store(model.frames(), Ordering::Relaxed);
        let info = StartInfo {
            output: None,
            input: Some(layout),
            first_frame: Some(reader.cursor()),
            wake: WakeStrategy::Timer,
            margin_frames: 0,
            jitter_ns: 0,
            // Filled in by `IoHandle::spawn`, which promoted the thread.
            realtime: Err("not requested".to_owned()),
            memory_locked: None,
            demotion_watch: None,
            offset_frames: None,
            hw_skew_frames: None,
        };
        Ok((
            InputLoop {
                dev,
                capturer,
                poisoned: false,
                model,
                reader,
                scratch: vec![0.0; cfg.block_frames * layout.channels as usize],
                block: cfg.block_frames,
                channels: layout.channels as usize,
                rate: layout.rate,
                name: cfg.name.clone(),
                monitor_blocking: cfg.alloc_guard.is_some(),
            },
            info,
        ))
    }

    fn cycle_loop(
        &mut self,
        tel: &Telemetry,
        stop: &std::sync::atomic::AtomicBool,
        guard: Option<&AllocGuard>,
    ) -> std::result::Result<(), Failure> {
        let mut mon = BlockingMonitor::start();
        let block = self.block as u64;
        let min_sleep_ns = (block * 250_000_000 / u64::from(self.rate)).max(50_000);
        let mut deadline = now_ns();
        let mut position_errors = 0u32;
        while !stop.load(Ordering::Acquire) {
            if self.monitor_blocking {
                mon.wait(|| sleep_until_ns(deadline));
            } else {
                sleep_until_ns(deadline);
            }
            let woke = now_ns();
            let hw = match self.dev.position() {
                Ok(hw) => {
                    position_errors = 0;
                    hw
                }
                Err(e) => {
                    position_errors += 1;
                    if position_errors >= MAX_POSITION_ERRORS {
                        return Err(Failure::Position(e));
                    }
                    deadline = woke + min_sleep_ns;
                    continue;
                }
            };
            if let Some(ev) = self.model.update(&hw, woke) {
                if ev.is_fatal() {
                    return Err(Failure::Stream(ev));
                }
            }
            let c = self
                .reader
                .begin(self.model.frames(), self.model.granule(), 0);
            if c.overrun {
                tel.overruns.fetch_add(1, Ordering::Relaxed);
                tel.frames_lost.fetch_add(c.lost, Ordering::Relaxed);
            }
            while self.reader.available() >= block {
                let Ok(t) = self.reader.read(self.dev.ring(), &mut self.scratch) else {
                    break;
                };
                if !self.block_intact(t) {
                    self.reader.torn(block);
                    tel.overruns.fetch_add(1, Ordering::Relaxed);
                    tel.frames_lost.fetch_add(block, Ordering::Relaxed);
                    break;
                }
                self.deliver(t, tel);
                tel.frames_read.fetch_add(block, Ordering::Relaxed);
            }
            // A full fd keeps appl_ptr with the reader (poll and avail stay
            // meaningful); restricted and simulated devices ignore it.
            let _ = self.dev.commit(self.reader.cursor());
            tel.input_frames
                .store(self.model.frames(), Ordering::Relaxed);
            tel.cycles.fetch_add(1, Ordering::Relaxed);
            if self.monitor_blocking {
                tel.unexpected_blocks
                    .store(mon.report().unexpected(), Ordering::Relaxed);
            }
            if let Some(g) = guard {
                tel.publish_allocs(g);
            }
            // Next: when the next whole block is finished (a batch device
            // only shows it at its next period step).
            let mut want = self.reader.cursor() + block;
            if self.model.is_batch() {
                let g = self.model.granule();
                want = want.max(self.model.frames() + g);
            }
            let now = now_ns();
            deadline = self
                .model
                .time_of(want, now)
                .max(now + min_sleep_ns / 4)
                .min(now + self.model.frames_to_ns(block.max(self.model.granule())));
        }
        Ok(())
    }

    /// Whether the block just read from `t` on is intact: against the
    /// model's projection, and near the floor against a fresh position.
    fn block_intact(&mut self, t: u64) -> bool {
        let now = now_ns();
        let bound = self.model.projected_frames(now);
        if !self.reader.intact(t, bound) {
            return false;
        }
        if !self.reader.near_floor(t, bound) {
            return true;
        }
        match self.dev.position() {
            Ok(p) => {
                self.model.update(&p, now);
                self.reader.intact(t, self.model.frames().max(bound))
            }
            Err(_) => false,
        }
    }

    fn deliver(&mut self, t: u64, tel: &Telemetry) {
        if self.poisoned {
            return;
        }
        let info = BlockInfo {
            frame_time: t,
            frames: self.block,
            channels: self.channels,
            rate: self.rate,
        };
        let capturer = &mut self.capturer;
        let input = &self.scratch;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| capturer.capture(input, &info))) {
            let _s = alloc_guard::suspend();
            drop(payload);
            self.poisoned = true;
            tel.render_panics.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Why a loop ended with an error, built off the hot path.
pub(crate) enum Failure {
    Stream(StreamEvent),
    Position(DeviceError),
}

impl<D: Device, C: Capturer> IoLoop for InputLoop<D, C> {
    fn run(&mut self, shared: &IoShared, guard: Option<&AllocGuard>) -> Result<()> {
        let r = self.cycle_loop(&shared.telemetry, &shared.stop, guard);
        r.map_err(|f| {
            let _s = alloc_guard::suspend();
            match f {
                Failure::Stream(ev) => stream_error(&self.name, "capture", ev),
                Failure::Position(e) => position_error(&self.name, "capture", e),
            }
        })
    }
}

/// The block must be 1..=half the buffer.
pub(crate) fn check_block(name: &str, block: usize, layout: &StreamLayout) -> Result<()> {
    if block == 0 || block as u64 * 2 > layout.buffer_size {
        return Err(Error::Unsupported {
            device: name.to_owned(),
            what: format!(
                "block of {block} frames: must be 1..={} (half the buffer)",
                layout.buffer_size / 2
            ),
        });
    }
    Ok(())
}

/// The engine's error for a stream that stopped running.
pub(crate) fn stream_error(name: &str, side: &str, ev: StreamEvent) -> Error {
    Error::BadState {
        device: format!("{name} ({side})"),
        state: format!(
            "{}; restart the stream (whoever holds the full fd) and the engine",
            ev.describe()
        ),
    }
}

/// The engine's error for a position that could not be read.
pub(crate) fn position_error(name: &str, side: &str, e: DeviceError) -> Error {
    let device = format!("{name} ({side})");
    match e.into_error(&device) {
        e @ (Error::Sys { .. } | Error::BadState { .. }) => e,
        other => Error::BadState {
            device,
            state: format!("position unreadable: {other}"),
        },
    }
}
