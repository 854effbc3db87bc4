//! The realtime loop: wait, read the position, fill the ring, plan the
//! next wake-up (see the [`super`] module docs).

use super::acquire::{upper_bound, Page, SyncPolicy, SyncReason};
use super::config::{EngineConfig, Margin, StartInfo, WakeStrategy};
use super::margin::MarginPolicy;
use super::shared::Shared;
use super::telemetry::{EngineState, Telemetry};
use super::wake::WakePlan;
use crate::device::{Device, PcmState};
use crate::error::{DeviceError, Error, Result, Step};
use crate::events::{EngineEvent, InlineText, StopReason};
use crate::position::{is_moving, PositionModel, StreamEvent};
use crate::render::{BlockInfo, Renderer};
use crate::writer::{FillError, HwWindow, RingWriter};
use pcmring_rt::alloc_guard::{self, AllocGuard};
use pcmring_rt::blocking::BlockingMonitor;
use pcmring_rt::sched::{DemotionWatch, RtConfig};
use pcmring_rt::timer::{now_ns, poll_fd_until, sleep_until_ns, PollEvents, PollOutcome};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

/// The shortest wait of a cycle: the RT thread blocks every cycle.
const MIN_SLEEP_NS: u64 = 20_000;

type StartReply = std::result::Result<StartInfo, Error>;

pub(super) fn rt_main<D: Device, R: Renderer>(
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
            tel.publish_allocs(g);
        }
        r
    };
    rt.silence();
    match outcome {
        Ok(()) => tel.set_state(EngineState::Stopped),
        Err((e, reason)) => {
            shared.error.set(e);
            tel.set_state(EngineState::Failed);
            shared.tx.post(EngineEvent::Stopped { reason });
        }
    }
    let _ = pcmring_rt::sched::demote();
}

/// Why the loop ended with an error, built off the hot path.
enum Failure {
    Stream(StreamEvent),
    Position(DeviceError),
    Fill(FillError),
    Wait(std::io::Error),
}

/// Where this cycle's position came from, and what it is.
struct Located {
    /// A state other than running, seen on a refresh.
    event: Option<StreamEvent>,
    /// The state of the latest reading.
    state: PcmState,
    /// The hardware as the writer must see it.
    window: HwWindow,
}

/// How often the RT thread reads its own CPU clock (one system call).
const CPU_SAMPLE_NS: u64 = 1_000_000_000;

struct RtLoop<D, R> {
    dev: D,
    /// `None` after a render panic: the renderer was dropped (a mixer's
    /// handles then report the engine gone) and the engine plays silence.
    renderer: Option<R>,
    /// The frame time of a block rendered into the scratch but not written
    /// (it was too late); offered again by the next fill.
    held_block: Option<u64>,
    model: PositionModel,
    sync: SyncPolicy,
    /// Cursor minus the page's bound at the last cycle that trusted the
    /// page (`None` after a refresh).
    page_lead: Option<u64>,
    writer: RingWriter,
    scratch: Vec<f32>,
    block: usize,
    channels: usize,
    rate: u32,
    period: u64,
    buffer: u64,
    /// The strategy in force: `Period` or `Timer`, never `Auto`.
    mode: WakeStrategy,
    /// Blocks per wake-up, the start-up lead and the deadlines.
    plan: WakePlan,
    /// Frames between planned wake-ups now ([`WakePlan::interval`]).
    interval: u64,
    policy: MarginPolicy,
    monitor_blocking: bool,
    margin: u64,
    name: String,
    shared: Arc<Shared>,
    rt_limit: RtLimit,
}

/// The RT thread's answer to `RLIMIT_RTTIME` (see [`RtLoop::watch_rt_limit`]).
struct RtLimit {
    /// Registered with the `SIGXCPU` handler (only when realtime).
    watch: Option<DemotionWatch>,
    /// The priority to get back after a demotion.
    priority: i32,
    /// When the latest demotion was noticed (`None`: running as promoted).
    demoted_at: Option<u64>,
    /// Quiet time before re-promotion, nanoseconds.
    repromote_ns: u64,
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
        let watch = match (&realtime, cfg.fifo_priority) {
            (Ok(_), Some(_)) => Some(DemotionWatch::register().map_err(|e| e.to_string())),
            _ => None,
        };
        let demotion_watch = watch
            .as_ref()
            .map(|w| w.as_ref().map(|_| ()).map_err(Clone::clone));
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
            WakeStrategy::Timer => WakeStrategy::Timer,
            WakeStrategy::Period if has_fd => WakeStrategy::Period,
            WakeStrategy::Period => {
                return Err(bad("period wake-ups need a device poll fd".to_owned()))
            }
            WakeStrategy::Auto if has_fd && block as u64 >= layout.period_size => {
                WakeStrategy::Period
            }
            WakeStrategy::Auto => WakeStrategy::Timer,
        };
        let block_ns = block as u64 * 1_000_000_000 / u64::from(rate);
        // Touch every page of the ring now (reads: the hardware may be
        // playing it), so the first cycle takes no page faults.
        prefault(dev.ring(), layout.ring_bytes());
        let jitter_ns = match cfg.margin {
            Margin::Auto { probe } if !probe.is_zero() => {
                let period_ns = if mode == WakeStrategy::Timer {
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
        let plan = match mode {
            WakeStrategy::Timer | WakeStrategy::Auto => WakePlan::timer(
                block as u64,
                ns_to_frames(cfg.min_wake_ns).div_ceil(block as u64),
                u64::from(cfg.margin_wakes),
                layout.buffer_size,
            ),
            WakeStrategy::Period => {
                WakePlan::period(block as u64, layout.period_size, layout.buffer_size)
            }
        }
        .with_start_lead(ns_to_frames(cfg.start_headroom_ns));
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
        tel.set_wake(mode);
        tel.rate.store(u64::from(rate), Ordering::Relaxed);
        tel.jitter_ns.store(jitter_ns, Ordering::Relaxed);
        let mut rt = RtLoop {
            dev,
            renderer: Some(renderer),
            held_block: None,
            model,
            page_lead: None,
            sync: if cfg.refresh_every_wake {
                SyncPolicy::new(&layout).always_refresh()
            } else {
                SyncPolicy::new(&layout)
            },
            writer: RingWriter::new(&layout),
            scratch: vec![0.0; block * layout.channels as usize],
            block,
            channels: layout.channels as usize,
            rate,
            period: layout.period_size,
            buffer: layout.buffer_size,
            mode,
            plan,
            interval: 0,
            policy: MarginPolicy::new(
                fixed_margin,
                allowance_frames,
                cfg.margin_decay,
                layout.buffer_size,
            ),
            monitor_blocking: cfg.alloc_guard.is_some(),
            margin: 0,
            name,
            shared: shared.clone(),
            rt_limit: RtLimit {
                watch: watch.and_then(|w| w.ok()),
                priority: cfg.fifo_priority.unwrap_or(0),
                demoted_at: None,
                repromote_ns: u64::try_from(cfg.repromote_after.as_nanos()).unwrap_or(u64::MAX),
            },
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
            output: Some(layout),
            input: None,
            first_frame: None,
            wake: mode,
            margin_frames: rt.margin,
            jitter_ns,
            realtime,
            memory_locked,
            demotion_watch,
            offset_frames: None,
            hw_skew_frames: None,
        };
        Ok((rt, info))
    }

    /// Frames between planned wake-ups.
    fn interval(&self) -> u64 {
        self.interval
    }

    /// Recomputes the margin ([`MarginPolicy::frames`], fitted beside the
    /// plan's shortest interval) and the wake interval for it
    /// ([`WakePlan::interval`]), and publishes both.
    fn update_margin(&mut self) {
        let granule = self.model.granule();
        let m = self.policy.frames(granule, self.plan.min_interval());
        self.interval = self.plan.interval(m.margin, granule);
        if m.margin != self.margin && self.margin != 0 {
            self.shared
                .tx
                .post(EngineEvent::MarginChanged { frames: m.margin });
        }
        self.margin = m.margin;
        let tel = &self.shared.telemetry;
        tel.margin.store(m.margin, Ordering::Relaxed);
        tel.margin_floor.store(m.floor, Ordering::Relaxed);
        tel.granule.store(granule, Ordering::Relaxed);
        tel.wake_interval.store(self.interval, Ordering::Relaxed);
    }

    /// After an underrun: grows the margin ([`MarginPolicy::grow`]).
    fn grow_margin(&mut self, short: u64, now: u64) {
        self.policy.grow(short, now);
        self.update_margin();
    }

    /// Halves the excess once per quiet `margin_decay` (no underrun).
    fn decay_margin(&mut self, now: u64) {
        if self.policy.decay(now) {
            self.shared
                .telemetry
                .margin_decays
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn run(&mut self, guard: Option<&AllocGuard>) -> std::result::Result<(), (Error, StopReason)> {
        let r = self.cycle_loop(guard);
        r.map_err(|f| {
            // Leaving the RT path: building the error may allocate.
            let _s = alloc_guard::suspend();
            let reason = match f {
                Failure::Stream(StreamEvent::Disconnected) => StopReason::Disconnected,
                _ => StopReason::Error,
            };
            let e = match f {
                Failure::Stream(ev) => stream_error(&self.name, ev),
                Failure::Position(e) => position_error(&self.name, e),
                Failure::Fill(FillError::Commit(e)) => e.into_error(&self.name),
                Failure::Fill(FillError::Write(w)) => Error::BadState {
                    device: self.name.clone(),
                    state: format!("writer refused a write: {w}"),
                },
                Failure::Wait(e) => Error::sys(&self.name, Step::Wait, e),
            };
            (e, reason)
        })
    }

    /// Picks up `SIGXCPU` demotions of this thread (the signal handler
    /// already moved it to `SCHED_OTHER`): counts them, reports them, and
    /// after [`EngineConfig::repromote_after`] without another one asks
    /// for `SCHED_FIFO` again (with the `RLIMIT_RTTIME` soft limit
    /// re-tightened: the kernel raises it by a second on each `SIGXCPU`).
    /// No allocation, no lock: atomics, and on re-promotion only a few
    /// system calls and one 50 µs sleep.
    fn watch_rt_limit(&mut self, now: u64) {
        let Some(watch) = &self.rt_limit.watch else {
            return;
        };
        let tel = &self.shared.telemetry;
        let n = watch.take_demotions();
        if n > 0 {
            let total = tel.rt_demotions.fetch_add(n, Ordering::Relaxed) + n;
            tel.realtime.store(false, Ordering::Relaxed);
            self.rt_limit.demoted_at = Some(now);
            self.shared.tx.post(EngineEvent::Demoted { total });
            return;
        }
        let Some(at) = self.rt_limit.demoted_at else {
            return;
        };
        if now.saturating_sub(at) < self.rt_limit.repromote_ns {
            return;
        }
        let priority = self.rt_limit.priority;
        // Rare path: an error value may allocate its text.
        let _s = alloc_guard::suspend();
        match pcmring_rt::sched::promote_fifo_with(&RtConfig::new(priority)) {
            Ok(_) => {
                self.rt_limit.demoted_at = None;
                tel.realtime.store(true, Ordering::Relaxed);
                tel.rt_repromotions.fetch_add(1, Ordering::Relaxed);
                self.shared.tx.post(EngineEvent::Repromoted { priority });
            }
            // Try again after another quiet period.
            Err(_) => self.rt_limit.demoted_at = Some(now),
        }
    }

    fn cycle_loop(&mut self, guard: Option<&AllocGuard>) -> std::result::Result<(), Failure> {
        let mut mon = BlockingMonitor::start();
        let min_sleep_ns = (self.block as u64 * 250_000_000 / u64::from(self.rate)).max(50_000);
        let mut deadline = now_ns();
        let mut idle = false; // the last cycle wrote nothing
        let mut position_errors = 0u32;
        let mut next_cpu_sample = 0u64;
        let tel_ptr = self.shared.clone();
        let tel = &tel_ptr.telemetry;
        let events = PollEvents::IN | PollEvents::OUT;
        while !self.shared.stop.load(Ordering::Acquire) {
            // 1. Wait.
            let use_poll = self.mode == WakeStrategy::Period && !idle;
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
            if self.monitor_blocking && self.rt_limit.demoted_at.is_some() {
                // Demoted: a re-promotion sleeps once on purpose (see
                // `pcmring_rt::sched::promote_fifo_with`), not a stray block.
                mon.wait(|| self.watch_rt_limit(woke));
            } else {
                self.watch_rt_limit(woke);
            }

            tel.rt_syscalls.fetch_add(1, Ordering::Relaxed); // the wait
            if woke >= next_cpu_sample {
                next_cpu_sample = woke + CPU_SAMPLE_NS;
                sample_cpu(tel);
            }

            // 2. Position: the page and the model, or a refresh.
            let located = match self.locate(woke) {
                Ok(l) => {
                    position_errors = 0;
                    l
                }
                Err(e) => {
                    position_errors += 1;
                    if position_errors >= 8 {
                        return Err(Failure::Position(e));
                    }
                    self.sync.recover();
                    deadline = woke + min_sleep_ns;
                    continue;
                }
            };
            let event = located.event;
            tel.device_state
                .store(located.state as i32, Ordering::Relaxed);
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
                let at = located.window;
                let (pos, granule) = (at.now, at.granule);
                // The first cycles keep the start-up lead beyond the
                // margin (shrinking to zero), within what the ring holds.
                let headroom = self.start_lead(woke, granule);
                let before = self.writer.cursor();
                let c = self.writer.begin(at, self.margin + headroom);
                if c.xrun {
                    self.report_xrun(before, at);
                    self.sync.recover();
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
                self.plan.started(woke);
                tel.frames_written.fetch_add(written, Ordering::Relaxed);
            }
            self.shared.clock.publish(&self.model, self.writer.cursor());
            tel.rate_mhz
                .store((self.model.rate_hz() * 1000.0) as u64, Ordering::Relaxed);
            tel.cycles.fetch_add(1, Ordering::Relaxed);
            if self.monitor_blocking {
                tel.unexpected_blocks
                    .store(mon.report().unexpected(), Ordering::Relaxed);
            }
            if let Some(g) = guard {
                tel.publish_allocs(g);
            }

            // 4. Plan the next wake: when the lead (against the bound of
            // the position) drops to the margin plus the start-up lead.
            let now = now_ns();
            let keep = self.margin + self.start_lead(now, self.model.granule());
            let due = WakePlan::due(&self.model, self.writer.cursor(), keep, now);
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
        sample_cpu(tel);
        Ok(())
    }

    /// The start-up lead at `now` ([`WakePlan::start_lead`]), within what
    /// the ring holds beside the margin, a wake interval and `granule`.
    fn start_lead(&self, now: u64, granule: u64) -> u64 {
        let room = self
            .buffer
            .saturating_sub(self.margin + self.interval() + granule);
        self.plan.start_lead(now).min(room)
    }

    /// This cycle's position ([`super::acquire`]): the status page fed to
    /// the model and its upper bound when the policy trusts them, else a
    /// refresh through [`Device::position`]. Counts both in telemetry.
    fn locate(&mut self, woke: u64) -> std::result::Result<Located, DeviceError> {
        let shared = self.shared.clone();
        let tel = &shared.telemetry;
        let granule = self.model.granule();
        let cursor = self.writer.is_anchored().then_some(self.writer.cursor());
        let reason = if self.sync.must_sync() {
            SyncReason::Start
        } else {
            let page = match self.dev.peek_position() {
                None => Page::Absent,
                Some(Ok(hw)) => {
                    tel.page_reads.fetch_add(1, Ordering::Relaxed);
                    match self.sync.classify(&hw, woke) {
                        Page::Fed => {
                            // Where the model said the device could be at
                            // the page's stamp, before taking it.
                            let prior = upper_bound(&self.model, hw.tstamp_ns);
                            match self.model.update(&hw, woke) {
                                None => {
                                    let over =
                                        prior.map_or(0, |b| self.model.frames().saturating_sub(b));
                                    self.check_bound(over, woke);
                                    Page::Fed
                                }
                                Some(_) => Page::Unusable,
                            }
                        }
                        other => other,
                    }
                }
                Some(Err(_)) => Page::Unusable,
            };
            match self.sync.decide(woke, &self.model, page, cursor, granule) {
                Ok(bound) => {
                    self.page_lead = cursor.map(|c| c.saturating_sub(bound));
                    return Ok(Located {
                        event: None,
                        state: self.model.state(),
                        window: HwWindow {
                            hw: bound,
                            now: bound,
                            granule,
                        },
                    });
                }
                Err(reason) => reason,
            }
        };
        tel.sync_reasons[reason as usize].fetch_add(1, Ordering::Relaxed);
        tel.position_syncs.fetch_add(1, Ordering::Relaxed);
        tel.rt_syscalls.fetch_add(1, Ordering::Relaxed);
        let hw = self.dev.position()?;
        // How far the hardware got beyond what the page and the model
        // allowed, at the refresh's own stamp (only when they were
        // trusted: not at start or right after trouble).
        let bound = match reason {
            SyncReason::Start | SyncReason::PageState => None,
            _ => upper_bound(
                &self.model,
                if hw.tstamp_ns != 0 {
                    hw.tstamp_ns
                } else {
                    woke
                },
            ),
        };
        let event = self.model.update(&hw, woke);
        let over = self.sync.note_sync(woke, self.model.frames(), bound);
        self.check_bound(over, woke);
        self.page_lead = None;
        // A stamp the model cannot take (older than the staleness limit:
        // a late interrupt or DAC; or from the future) leaves its anchor
        // on the read time, off the device's timeline: the page's bound
        // would not hold. Refresh until readings are plausible again.
        let stamped_off = hw.tstamp_ns != 0 && self.sync.classify(&hw, now_ns()) != Page::Fed;
        if event.is_some() || !is_moving(hw.state) || stamped_off {
            self.sync.recover();
        }
        Ok(Located {
            event,
            state: hw.state,
            window: HwWindow {
                hw: self.model.frames(),
                now: self.model.now_frames(now_ns()),
                granule: self.model.granule(),
            },
        })
    }

    /// A reading found the device `over` frames beyond the page's bound
    /// (0: it held): distrust the page for a while, and when the device
    /// may have passed the cursor unseen since the last page-based cycle,
    /// count an xrun (a possible gap) and grow the margin by the jump.
    fn check_bound(&mut self, over: u64, now: u64) {
        if over == 0 {
            return;
        }
        let shared = self.shared.clone();
        let tel = &shared.telemetry;
        tel.bound_overshoot_max.fetch_max(over, Ordering::Relaxed);
        if self.sync.bound_failed(now, over, self.page_lead) {
            tel.suspected_underruns.fetch_add(1, Ordering::Relaxed);
            tel.xruns.fetch_add(1, Ordering::Relaxed);
            self.sync.recover();
            self.grow_margin(over, now);
        }
        self.page_lead = None;
    }

    /// Counts an xrun the writer found at `at` with its cursor at `cursor`
    /// before re-anchoring: the frames from the cursor to the first frame
    /// the hardware cannot have taken yet (`hw + granule`) are lost (see
    /// the definition in [`crate::engine`]).
    /// The part the hardware has not taken yet is told to the device
    /// ([`Device::mark_unwritten`]) before the cursor is committed past it.
    fn report_xrun(&mut self, cursor: u64, at: HwWindow) {
        let floor = at.hw + at.granule.clamp(1, self.buffer);
        let frames = floor.saturating_sub(cursor);
        self.dev.mark_unwritten(cursor.max(at.hw), floor);
        let tel = &self.shared.telemetry;
        tel.xruns.fetch_add(1, Ordering::Relaxed);
        tel.xrun_frames.fetch_add(frames, Ordering::Relaxed);
        self.shared.tx.post(EngineEvent::Xrun {
            at_frame: cursor,
            frames,
        });
    }

    /// Renders and writes whole blocks up to `target`. A block whose
    /// render ended after the hardware got within a granule of it is not
    /// written (writing it would race the hardware) but held: the next
    /// fill writes it if the cursor has not moved and it is in time, so
    /// no rendered content is lost without an xrun; otherwise the next
    /// cycle finds the underrun, counts it and re-anchors.
    fn fill(&mut self, target: u64) -> std::result::Result<u64, FillError> {
        let info_base = BlockInfo {
            frame_time: 0,
            frames: self.block,
            channels: self.channels,
            rate: self.rate,
        };
        let slot = &mut self.renderer;
        let held = &mut self.held_block;
        let model = &self.model;
        let tel = &self.shared.telemetry;
        let shared = &self.shared;
        self.writer.fill(
            &mut self.dev,
            &mut self.scratch,
            self.block,
            target,
            |t, out| {
                // A block rendered for `t` that was too late to write last
                // time is still in `out` (the scratch): offer it again
                // rather than render the next frames there, so a late
                // block that turns out to be writable costs no content.
                // If the cursor moved (an xrun re-anchored it), it is
                // dropped: the xrun counted that loss.
                if held.take() == Some(t) {
                    let ok = model.projected_frames(now_ns()) + model.granule() <= t;
                    if !ok {
                        *held = Some(t);
                    }
                    return ok;
                }
                out.fill(0.0);
                let Some(renderer) = slot.as_mut() else {
                    return true;
                };
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
                    report_panic(shared, payload.as_ref());
                    drop(payload);
                    // Its state is suspect: drop it (a drop that panics
                    // too is caught) so nothing renders it again.
                    let dead = slot.take();
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(dead)));
                    tel.render_panics.fetch_add(1, Ordering::Relaxed);
                    out.fill(0.0);
                }
                let ok = model.projected_frames(t1) + model.granule() <= t;
                if !ok {
                    *held = Some(t);
                }
                ok
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

/// Publishes the RT thread's CPU time (one `clock_gettime` of the thread
/// CPU clock, counted as a system call: the vDSO does not serve it).
fn sample_cpu(tel: &Telemetry) {
    tel.rt_syscalls.fetch_add(1, Ordering::Relaxed);
    if let Some(ns) = pcmring_rt::timer::thread_cpu_ns() {
        tel.rt_cpu_ns.store(ns, Ordering::Relaxed);
    }
}

/// Keeps the first render panic's message for [`super::Engine::error`]
/// and posts it as an event (copied inline: no allocation).
fn report_panic(shared: &Shared, payload: &(dyn std::any::Any + Send)) {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not text)");
    let message = InlineText::new(text);
    let _ = shared.panic.set(message);
    shared.tx.post(EngineEvent::RenderPanic { message });
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

fn position_error(name: &str, e: DeviceError) -> Error {
    match e.into_error(name) {
        e @ (Error::Sys { .. } | Error::BadState { .. }) => e,
        other => Error::BadState {
            device: name.to_owned(),
            state: format!("position unreadable: {other}"),
        },
    }
}
