//! The duplex engine: one RT thread for a capture and a playback device,
//! input and output blocks aligned on one frame clock.
//!
//! Every block, the [`DuplexRenderer`] gets `block` frames of input that
//! the capture hardware finished (frames `[t_in, t_in + block)` of the
//! input clock) and fills `block` frames of output that will be played at
//! `[t_out, t_out + block)` of the output clock, with `t_out - t_in` the
//! same for every block: the **offset**, reported in [`DuplexInfo`] and in
//! telemetry. Input frame `t` comes back out as output frame `t + offset`.
//!
//! At start (and after an overrun or underrun, a **realign**) the reader is
//! anchored at the newest finished input frame and the writer at
//! `output position + margin + block + input granule`: by the time a whole
//! input block has arrived the output has moved that far, so the lead at
//! each write is still the margin. Between realigns the loop never renders
//! output without input: it renders exactly as many blocks as there are
//! whole input blocks, so the offset cannot drift when the two streams run
//! on one clock (linked streams on one card; the sim's ADC and DAC). Two
//! free-running clocks slowly drift apart, and a drift the margin cannot
//! absorb ends in an underrun or overrun, i.e. a realign (counted).
//!
//! **Round trip.** The output and input hardware positions differ by the
//! `hw_skew` measured at each realign (0 for linked streams, within a
//! granule); a sound entering at input frame `t` leaves the output
//! `offset - hw_skew` frames later, plus what the converters and the
//! cable add. [`TelemetrySnapshot::offset_frames`] and
//! [`TelemetrySnapshot::hw_skew_frames`] give both.
//!
//! Same RT rules and guards as the output engine: no allocation, no locks,
//! no blocking besides the wait, callback panics caught (silence after).

use super::config::{EngineConfig, Margin, StartInfo, WakeStrategy};
use super::input::{check_block, position_error, stream_error, MAX_POSITION_ERRORS};
use super::io::{IoHandle, IoLoop, IoShared};
use super::telemetry::{Telemetry, TelemetrySnapshot};
use crate::device::Device;
use crate::error::{DeviceError, Error, Result};
use crate::layout::StreamLayout;
use crate::position::{PositionModel, StreamEvent};
use crate::reader::RingReader;
use crate::writer::{FillError, HwWindow, RingWriter};
use pcmring_rt::alloc_guard::{self, AllocGuard};
use pcmring_rt::blocking::BlockingMonitor;
use pcmring_rt::timer::{now_ns, sleep_until_ns};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where a duplex block sits on the two device clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplexInfo {
    /// Input clock frame of `input[0]`.
    pub input_time: u64,
    /// Output clock frame at which `output[0]` will be heard.
    pub output_time: u64,
    /// Frames in the block (both sides).
    pub frames: usize,
    /// Interleaved input channels.
    pub input_channels: usize,
    /// Interleaved output channels.
    pub output_channels: usize,
    /// Frames per second (both sides).
    pub rate: u32,
    /// `output_time - input_time`, the same for every block between
    /// realigns.
    pub offset: i64,
}

/// The realtime duplex callback: read `input` (interleaved f32, `frames *
/// input_channels`), fill `output` (`frames * output_channels`, zeroed
/// before the call). Runs on the RT thread: no allocation, locks or
/// blocking.
pub trait DuplexRenderer: Send + 'static {
    /// Processes one block.
    fn process(&mut self, input: &[f32], output: &mut [f32], info: &DuplexInfo);
}

impl<F: FnMut(&[f32], &mut [f32], &DuplexInfo) + Send + 'static> DuplexRenderer for F {
    fn process(&mut self, input: &[f32], output: &mut [f32], info: &DuplexInfo) {
        self(input, output, info)
    }
}

/// A running duplex engine; see the module docs.
#[derive(Debug)]
pub struct DuplexEngine {
    handle: IoHandle,
}

impl DuplexEngine {
    /// Starts duplex processing from `input` (a capture device) to
    /// `output` (a playback device), both already running (or prepared:
    /// the engine waits for them). Fails with a typed error naming the
    /// devices when their rates differ or a block does not fit either ring.
    /// `config.margin`: `Frames(n)` keeps `n` frames ahead of the output;
    /// `Auto` uses `granule + default_jitter_ns + safety_ns` (no probe).
    pub fn start<I, O, R>(
        input: I,
        output: O,
        renderer: R,
        config: EngineConfig,
    ) -> Result<DuplexEngine>
    where
        I: Device + 'static,
        O: Device + 'static,
        R: DuplexRenderer,
    {
        let cfg = config.clone();
        let handle = IoHandle::spawn(&config, move |shared: &IoShared| {
            DuplexLoop::setup(input, output, renderer, &cfg, shared)
        })?;
        Ok(DuplexEngine { handle })
    }

    /// Leases the playback and capture streams of the pcmring broker at
    /// `addr` (a socket path, or `@name`) as one duplex pair (the broker
    /// started them with one linked START, so the hardware skew is 0) and
    /// starts duplex processing on them. `make_renderer` sees the capture
    /// and the playback layout first. The broker must speak wire version 2
    /// and have a capture stream at the playback rate; otherwise the
    /// refusal comes back as [`crate::Error::Lease`].
    pub fn connect<R: DuplexRenderer>(
        addr: &str,
        config: EngineConfig,
        make_renderer: impl FnOnce(&StreamLayout, &StreamLayout) -> R,
    ) -> Result<DuplexEngine> {
        let opts = crate::client::ConnectOptions {
            kind: crate::broker::LeaseKind::Duplex,
            ..Default::default()
        };
        let addr = crate::broker::SocketAddr::parse(addr);
        let (input, output) = crate::client::connect_with(&addr, &opts)?.into_duplex()?;
        let renderer = make_renderer(&input.layout(), &output.layout());
        DuplexEngine::start(input, output, renderer, config)
    }

    /// What start-up found: both layouts, the margin, the offset and
    /// skew ([`StartInfo::round_trip_frames`]), the realtime status.
    pub fn start_info(&self) -> &StartInfo {
        &self.handle.info
    }

    /// Live telemetry (offset, realigns, overruns, underruns...).
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

    /// Stops the RT thread (it silences the output ring) and joins it.
    pub fn stop(mut self) -> Result<()> {
        self.handle.stop()
    }

    /// Stops and returns the final telemetry too.
    pub fn stop_with_report(mut self) -> (TelemetrySnapshot, Result<()>) {
        let r = self.handle.stop();
        (self.snapshot(), r)
    }
}

enum Failure {
    Stream(&'static str, StreamEvent),
    Position(&'static str, DeviceError),
    Fill(FillError),
}

struct DuplexLoop<I, O, R> {
    input: I,
    output: O,
    renderer: R,
    poisoned: bool,
    model_in: PositionModel,
    model_out: PositionModel,
    reader: RingReader,
    writer: RingWriter,
    out_layout: StreamLayout,
    scratch_in: Vec<f32>,
    scratch_out: Vec<f32>,
    block: usize,
    in_channels: usize,
    out_channels: usize,
    rate: u32,
    margin: u64,
    offset: i64,
    aligned: bool,
    name: String,
    monitor_blocking: bool,
}

fn ns_to_frames(ns: u64, rate: u32) -> u64 {
    (ns as u128 * u128::from(rate)).div_ceil(1_000_000_000) as u64
}

impl<I: Device, O: Device, R: DuplexRenderer> DuplexLoop<I, O, R> {
    fn setup(
        mut input: I,
        mut output: O,
        renderer: R,
        cfg: &EngineConfig,
        shared: &IoShared,
    ) -> Result<(Self, StartInfo)> {
        let name = cfg.name.clone();
        let li = input.layout();
        let lo = output.layout();
        if li.rate != lo.rate {
            return Err(Error::Unsupported {
                device: format!("{name} (input {} Hz, output {} Hz)", li.rate, lo.rate),
                what: "duplex between streams at different rates: open both at one rate \
                       (or resample one side before the engine)"
                    .to_owned(),
            });
        }
        check_block(&format!("{name} (input)"), cfg.block_frames, &li)?;
        check_block(&format!("{name} (output)"), cfg.block_frames, &lo)?;
        for (side, l, len) in [
            ("input", li, input.ring().len()),
            ("output", lo, output.ring().len()),
        ] {
            if len < l.ring_bytes() {
                return Err(Error::Unsupported {
                    device: format!("{name} ({side})"),
                    what: "mapped ring smaller than the layout".to_owned(),
                });
            }
        }
        if !cfg.cpus.is_empty() {
            let _ = pcmring_rt::sched::set_affinity(&cfg.cpus);
        }
        let mut model_in = PositionModel::new(&li, input.is_batch());
        let mut model_out = PositionModel::new(&lo, output.is_batch());
        for (side, model, pos) in [
            ("input", &mut model_in, input.position()),
            ("output", &mut model_out, output.position()),
        ] {
            let pos = pos.map_err(|e| position_error(&name, side, e))?;
            if let Some(ev) = model.update(&pos, now_ns()) {
                if ev.is_fatal() {
                    return Err(stream_error(&name, side, ev));
                }
            }
        }
        let block = cfg.block_frames;
        let g_out = model_out.granule();
        let margin = match cfg.margin {
            Margin::Frames(f) => f.max(g_out),
            Margin::Auto { .. } => {
                g_out + ns_to_frames(cfg.default_jitter_ns + cfg.safety_ns, lo.rate)
            }
        };
        let lag = block as u64 + model_in.granule();
        if margin + lag + block as u64 + g_out > lo.buffer_size {
            return Err(Error::Unsupported {
                device: format!("{name} (output)"),
                what: format!(
                    "margin {margin} + input lag {lag} + block {block} + granule {g_out} frames \
                     exceed the {}-frame output buffer: use a smaller block or margin, or a \
                     larger buffer",
                    lo.buffer_size
                ),
            });
        }
        let mut lp = DuplexLoop {
            input,
            output,
            renderer,
            poisoned: false,
            model_in,
            model_out,
            reader: RingReader::new(&li),
            writer: RingWriter::new(&lo),
            out_layout: lo,
            scratch_in: vec![0.0; block * li.channels as usize],
            scratch_out: vec![0.0; block * lo.channels as usize],
            block,
            in_channels: li.channels as usize,
            out_channels: lo.channels as usize,
            rate: lo.rate,
            margin,
            offset: 0,
            aligned: false,
            name,
            monitor_blocking: cfg.alloc_guard.is_some(),
        };
        let (offset, skew) = lp.align(now_ns());
        let tel = &shared.telemetry;
        tel.offset_frames.store(offset, Ordering::Relaxed);
        tel.hw_skew_frames.store(skew, Ordering::Relaxed);
        let info = StartInfo {
            output: Some(lo),
            input: Some(li),
            first_frame: Some(lp.reader.cursor()),
            wake: WakeStrategy::Timer,
            margin_frames: margin,
            jitter_ns: cfg.default_jitter_ns,
            // Filled in by `IoHandle::spawn`, which promoted the thread.
            realtime: Err("not requested".to_owned()),
            memory_locked: None,
            demotion_watch: None,
            offset_frames: Some(offset),
            hw_skew_frames: Some(skew),
        };
        Ok((lp, info))
    }

    /// Anchors reader and writer afresh (start, realign); returns the new
    /// offset and the hardware skew.
    fn align(&mut self, now: u64) -> (i64, i64) {
        let hw_in = self.model_in.frames();
        let g_in = self.model_in.granule();
        self.reader.reanchor();
        self.reader.begin(hw_in, g_in, 0);
        self.writer = RingWriter::new(&self.out_layout);
        let lag = self.block as u64 + g_in;
        let at = HwWindow {
            hw: self.model_out.frames(),
            now: self.model_out.now_frames(now),
            granule: self.model_out.granule(),
        };
        self.writer.begin(at, self.margin + lag);
        // Silence over the frames the anchor skipped, now, while the
        // window is the one just computed (no block: the target is the
        // cursor).
        let cursor = self.writer.cursor();
        let _ = self.writer.fill(
            &mut self.output,
            &mut self.scratch_out,
            self.block,
            cursor,
            |_, _| false,
        );
        self.offset = self.writer.cursor() as i64 - self.reader.cursor() as i64;
        self.aligned = true;
        let skew = self.measure_skew();
        (self.offset, skew)
    }

    /// Output minus input hardware position: reported positions read
    /// input, output, input, until the two input readings agree (nothing
    /// moved on the input side while the output was read: a device whose
    /// position moves in timer ticks, like snd-aloop, then gives the exact
    /// difference); else the output against the middle of the two input
    /// readings. Interpolation would add each model's own error. Falls back
    /// to the models' latest readings if a position cannot be read.
    fn measure_skew(&mut self) -> i64 {
        let mut skew = self.model_out.frames() as i64 - self.model_in.frames() as i64;
        for _ in 0..4 {
            let (Ok(a), Ok(o), Ok(b)) = (
                self.input.position(),
                self.output.position(),
                self.input.position(),
            ) else {
                break;
            };
            let now = now_ns();
            self.model_in.update(&a, now);
            let in1 = self.model_in.frames();
            self.model_out.update(&o, now);
            let out = self.model_out.frames();
            self.model_in.update(&b, now);
            let in2 = self.model_in.frames();
            skew = out as i64 - ((in1 + in2) / 2) as i64;
            if in1 == in2 {
                break;
            }
        }
        skew
    }

    fn cycle_loop(
        &mut self,
        tel: &Telemetry,
        stop: &AtomicBool,
        guard: Option<&AllocGuard>,
    ) -> std::result::Result<(), Failure> {
        let mut mon = BlockingMonitor::start();
        let block = self.block as u64;
        let min_sleep_ns = (block * 250_000_000 / u64::from(self.rate)).max(50_000);
        let mut deadline = now_ns();
        let mut errors = 0u32;
        while !stop.load(Ordering::Acquire) {
            if self.monitor_blocking {
                mon.wait(|| sleep_until_ns(deadline));
            } else {
                sleep_until_ns(deadline);
            }
            let woke = now_ns();
            // Both positions back to back.
            let pos_in = self.input.position();
            let pos_out = self.output.position();
            let (pos_in, pos_out) = match (pos_in, pos_out) {
                (Ok(a), Ok(b)) => {
                    errors = 0;
                    (a, b)
                }
                (Err(e), _) | (_, Err(e)) => {
                    errors += 1;
                    if errors >= MAX_POSITION_ERRORS {
                        let side = if self.input.position().is_err() {
                            "input"
                        } else {
                            "output"
                        };
                        return Err(Failure::Position(side, e));
                    }
                    deadline = woke + min_sleep_ns;
                    continue;
                }
            };
            let ev_in = self.model_in.update(&pos_in, woke);
            let ev_out = self.model_out.update(&pos_out, woke);
            for (side, ev) in [("input", ev_in), ("output", ev_out)] {
                if let Some(ev) = ev.filter(|e| e.is_fatal()) {
                    return Err(Failure::Stream(side, ev));
                }
            }
            let waiting = ev_in.is_some() || ev_out.is_some();
            if !waiting {
                self.cycle(tel)?;
            }
            tel.input_frames
                .store(self.model_in.frames(), Ordering::Relaxed);
            tel.output_frames
                .store(self.model_out.frames(), Ordering::Relaxed);
            tel.cycles.fetch_add(1, Ordering::Relaxed);
            if self.monitor_blocking {
                tel.unexpected_blocks
                    .store(mon.report().unexpected(), Ordering::Relaxed);
            }
            if let Some(g) = guard {
                tel.publish_allocs(g);
            }
            // Next: when the next input block is complete, and no later
            // than when the output lead is down to the margin.
            let now = now_ns();
            let mut want = self.reader.cursor() + block;
            if self.model_in.is_batch() {
                want = want.max(self.model_in.frames() + self.model_in.granule());
            }
            let in_due = self.model_in.time_of(want, now);
            let out_due = self
                .model_out
                .time_of(self.writer.cursor().saturating_sub(self.margin), now);
            deadline = in_due.min(out_due).max(now + min_sleep_ns / 4).min(
                now + self
                    .model_in
                    .frames_to_ns(block.max(self.model_in.granule())),
            );
            if waiting {
                deadline = now + min_sleep_ns;
            }
        }
        Ok(())
    }

    /// One cycle with both streams running: detect xruns, realign if
    /// needed, then process every whole input block.
    fn cycle(&mut self, tel: &Telemetry) -> std::result::Result<(), Failure> {
        let now = now_ns();
        let c_in = self
            .reader
            .begin(self.model_in.frames(), self.model_in.granule(), 0);
        let at = HwWindow {
            hw: self.model_out.frames(),
            now: self.model_out.now_frames(now),
            granule: self.model_out.granule(),
        };
        let c_out = self.writer.begin(at, self.margin);
        if c_in.overrun {
            tel.overruns.fetch_add(1, Ordering::Relaxed);
            tel.frames_lost.fetch_add(c_in.lost, Ordering::Relaxed);
        }
        if c_out.xrun {
            tel.xruns.fetch_add(1, Ordering::Relaxed);
        }
        if c_in.overrun || c_out.xrun || !self.aligned {
            let (offset, skew) = self.align(now);
            tel.realigns.fetch_add(1, Ordering::Relaxed);
            tel.offset_frames.store(offset, Ordering::Relaxed);
            tel.hw_skew_frames.store(skew, Ordering::Relaxed);
        }
        let block = self.block as u64;
        let blocks = self.reader.available() / block;
        let target = self.writer.cursor() + blocks * block;
        let mut torn = 0u64;
        let mut read = 0u64;
        let mut broke = false;
        let info_base = DuplexInfo {
            input_time: 0,
            output_time: 0,
            frames: self.block,
            input_channels: self.in_channels,
            output_channels: self.out_channels,
            rate: self.rate,
            offset: self.offset,
        };
        {
            let reader = &mut self.reader;
            let input = &mut self.input;
            let renderer = &mut self.renderer;
            let poisoned = &mut self.poisoned;
            let scratch_in = &mut self.scratch_in;
            let model_in = &mut self.model_in;
            let model_out = &self.model_out;
            let offset = self.offset;
            let written = self
                .writer
                .fill(
                    &mut self.output,
                    &mut self.scratch_out,
                    self.block,
                    target,
                    |t_out, out| {
                        out.fill(0.0);
                        if reader.available() < block
                            || t_out as i64 - reader.cursor() as i64 != offset
                        {
                            broke = true;
                            return false;
                        }
                        let Ok(t_in) = reader.read(input.ring(), scratch_in) else {
                            broke = true;
                            return false;
                        };
                        if !input_intact(reader, input, model_in, t_in) {
                            reader.torn(block);
                            torn += 1;
                            broke = true;
                            return false;
                        }
                        read += block;
                        if !*poisoned {
                            let info = DuplexInfo {
                                input_time: t_in,
                                output_time: t_out,
                                ..info_base
                            };
                            let input = &scratch_in[..];
                            let r = catch_unwind(AssertUnwindSafe(|| {
                                renderer.process(input, out, &info)
                            }));
                            if let Err(payload) = r {
                                let _s = alloc_guard::suspend();
                                drop(payload);
                                *poisoned = true;
                                tel.render_panics.fetch_add(1, Ordering::Relaxed);
                                out.fill(0.0);
                            }
                        }
                        // Too late for the output: drop it (the next cycle
                        // finds the underrun and realigns).
                        if model_out.projected_frames(now_ns()) + model_out.granule() > t_out {
                            broke = true;
                            return false;
                        }
                        true
                    },
                )
                .map_err(Failure::Fill)?;
            tel.frames_written.fetch_add(written, Ordering::Relaxed);
        }
        tel.frames_read.fetch_add(read, Ordering::Relaxed);
        if torn > 0 {
            tel.overruns.fetch_add(torn, Ordering::Relaxed);
            tel.frames_lost.fetch_add(torn * block, Ordering::Relaxed);
        }
        if broke {
            // Input and output are out of step: realign next cycle.
            self.aligned = false;
        }
        let _ = self.input.commit(self.reader.cursor());
        Ok(())
    }

    /// Silences what the output could still play after stopping.
    fn silence(&mut self) {
        let _s = alloc_guard::suspend();
        if let Ok(hw) = self.output.position() {
            self.model_out.update(&hw, now_ns());
        }
        let hw = self.model_out.frames();
        if let Ok(end) = self
            .writer
            .silence_ahead(self.output.ring(), hw, self.model_out.granule())
        {
            let _ = self.output.commit(end);
        }
    }
}

/// Whether the input block just read from `t` on is intact: against the
/// model's projection, and near the floor against a fresh position.
fn input_intact<I: Device>(
    reader: &RingReader,
    input: &mut I,
    model: &mut PositionModel,
    t: u64,
) -> bool {
    let now = now_ns();
    let bound = model.projected_frames(now);
    if !reader.intact(t, bound) {
        return false;
    }
    if !reader.near_floor(t, bound) {
        return true;
    }
    match input.position() {
        Ok(p) => {
            model.update(&p, now);
            reader.intact(t, model.frames().max(bound))
        }
        Err(_) => false,
    }
}

impl<I: Device, O: Device, R: DuplexRenderer> IoLoop for DuplexLoop<I, O, R> {
    fn run(&mut self, shared: &IoShared, guard: Option<&AllocGuard>) -> Result<()> {
        let r = self.cycle_loop(&shared.telemetry, &shared.stop, guard);
        r.map_err(|f| {
            let _s = alloc_guard::suspend();
            match f {
                Failure::Stream(side, ev) => stream_error(&self.name, side, ev),
                Failure::Position(side, e) => position_error(&self.name, side, e),
                Failure::Fill(FillError::Commit(e)) => position_error(&self.name, "output", e),
                Failure::Fill(FillError::Write(w)) => Error::BadState {
                    device: format!("{} (output)", self.name),
                    state: format!("writer refused a write: {w}"),
                },
            }
        })
    }

    fn finish(&mut self) {
        self.silence();
    }
}
