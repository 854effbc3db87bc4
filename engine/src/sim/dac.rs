//! The owner side of the simulated device: memfds and the DAC thread.

use super::config::{PageUpdates, SimConfig, SimFds, SimLayout};
use super::device::SimDevice;
use super::page::StatusPage;
use super::record::Recording;
use super::setup::{status_page, step_ns, Setup};
use crate::device::{HwPosition, PcmState};
use crate::error::{Error, Result, Step};
use crate::layout::StreamLayout;
use crate::ring::RingView;
use crate::sys::mmap::Mapping;
use pcmring_rt::timer::{now_ns, sleep_until_ns};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

const NAME: &str = "sim";

/// Counters of a running simulated DAC ([`SimDac::stats`]) or ADC
/// ([`SimAdc::stats`](super::SimAdc::stats)), readable any time; the
/// DAC-only counters stay zero for an ADC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Frames the DAC consumed (played), or the ADC captured into the
    /// ring, since it started.
    pub frames: u64,
    /// DAC: frames it played that the writer had not written (see
    /// [`super`]).
    pub underrun_frames: u64,
    /// DAC: runs of consecutive underrun frames (one per underrun
    /// episode).
    pub underrun_events: u64,
    /// The device's 64-bit hardware position (frames, widened).
    pub hw_frames: u64,
    /// Worst lateness of a step against its schedule, nanoseconds.
    pub max_late_ns: u64,
    /// Whether the DAC (or ADC) thread runs SCHED_FIFO.
    pub realtime: bool,
    /// DAC: position refreshes (the sim's HWSYNC,
    /// [`crate::Device::position`]) clients made; reading the status page
    /// is not one.
    pub syncs: u64,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    state: AtomicI32,
    consumed: AtomicU64,
    underrun_frames: AtomicU64,
    underrun_events: AtomicU64,
    hw: AtomicU64,
    max_late: AtomicU64,
    realtime: AtomicBool,
    /// Set by [`SimDac::release_writer`], applied by the DAC thread.
    release: AtomicBool,
}

/// What [`SimDac::stop`] and [`SimAdc::stop`](super::SimAdc::stop) hand
/// back.
#[derive(Debug)]
pub struct SimReport {
    /// Final counters.
    pub stats: SimStats,
    /// What the DAC played, or what the ADC put into the ring, in order
    /// (empty unless [`super::SimConfig::record_frames`] was set): frame
    /// `i` is device frame `recording.start_frame() + i`.
    pub recording: Recording,
}

/// A running simulated device: the memfds and the DAC thread. Dropping it
/// stops the DAC.
#[derive(Debug)]
pub struct SimDac {
    layout: SimLayout,
    fds: SimFds,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Recording>>,
    wav: Option<std::path::PathBuf>,
    /// The owner's own view of the status page (the refresh counter).
    page: StatusPage,
}

pub(super) fn signal(fd: &Option<OwnedFd>) {
    if let Some(fd) = fd {
        // A full pipe (EAGAIN) only means wake-ups are already pending.
        let _ = nix::unistd::write(fd, &[1u8]);
    }
}

impl SimDac {
    /// Creates the memfds, publishes the initial status (RUNNING at
    /// `config.start_hw_ptr`) and starts the DAC thread.
    pub fn start(config: SimConfig) -> Result<SimDac> {
        let l = config.layout;
        let setup = Setup::new(NAME, &config, [c"pcmring-sim-ring", c"pcmring-sim-status"])?;
        let sys = |e| Error::sys(NAME, Step::Simulate, e);
        let Setup {
            step,
            batch,
            ring_bytes,
            fds,
            wake_tx,
            ring_map,
            page,
            start,
            t0,
        } = setup;
        page.set_page_mode(config.page_updates.code());
        let shared = Arc::new(Shared {
            state: AtomicI32::new(PcmState::Running as i32),
            hw: AtomicU64::new(start),
            ..Shared::default()
        });
        let recording = Recording::with_capacity(&l, start, config.record_frames);
        let dac = Dac {
            layout: l,
            step,
            step_ns: step_ns(step, &config),
            // SAFETY: `ring_map` is ring_bytes long, read-write, and moves
            // into the Dac together with the view.
            ring: unsafe { RingView::new(ring_map.as_non_null(), ring_bytes) },
            _ring_map: ring_map,
            page,
            wake: wake_tx,
            shared: shared.clone(),
            timestamps: config.timestamps,
            page_updates: config.page_updates,
            priority: config.dac_priority,
            recording,
            start,
            t0,
        };
        let own_page = status_page(NAME, &fds.status)?;
        let thread = std::thread::Builder::new()
            .name("pcmring-sim-dac".into())
            .spawn(move || dac.run())
            .map_err(sys)?;
        Ok(SimDac {
            layout: SimLayout { stream: l, batch },
            fds,
            shared,
            thread: Some(thread),
            wav: config.wav,
            page: own_page,
        })
    }

    /// The layout to send along with [`SimDac::share`]'s fds.
    #[doc(hidden)] // sharing plumbing; SimFds/SimLayout are public with `testing`
    pub fn layout(&self) -> SimLayout {
        self.layout
    }

    /// Duplicates the fds, e.g. to send them to another process.
    #[doc(hidden)] // sharing plumbing; SimFds/SimLayout are public with `testing`
    pub fn share(&self) -> Result<SimFds> {
        self.fds.try_clone()
    }

    /// A [`crate::Device`] endpoint for this process.
    pub fn device(&self) -> Result<SimDevice> {
        SimDevice::attach(self.share()?, self.layout)
    }

    /// Changes the state the DAC reports; anything but RUNNING stops the
    /// position (the DAC resumes on RUNNING).
    pub fn set_state(&self, state: PcmState) {
        self.shared.state.store(state as i32, Ordering::Release);
    }

    /// Forgets the writer (a lease ended): frames played from now until a
    /// writer commits again are idle, not underruns. A writer that stops
    /// cleanly does this itself (dropping its [`SimDevice`]); this covers
    /// one that died or hung up.
    pub fn release_writer(&self) {
        self.shared.release.store(true, Ordering::Release);
    }

    /// Simulates the device going away (state DISCONNECTED).
    pub fn disconnect(&self) {
        self.set_state(PcmState::Disconnected);
    }

    /// Current counters.
    pub fn stats(&self) -> SimStats {
        let s = &self.shared;
        let hw = s.hw.load(Ordering::Acquire);
        SimStats {
            frames: s.consumed.load(Ordering::Acquire),
            underrun_frames: s.underrun_frames.load(Ordering::Acquire),
            underrun_events: s.underrun_events.load(Ordering::Acquire),
            hw_frames: hw,
            max_late_ns: s.max_late.load(Ordering::Acquire),
            realtime: s.realtime.load(Ordering::Acquire),
            syncs: self.syncs(),
        }
    }

    /// Refreshes the clients made so far (read from the shared page).
    fn syncs(&self) -> u64 {
        self.page.syncs()
    }

    /// Stops the DAC thread and returns the counters and the recording;
    /// writes the WAV file if one was configured.
    pub fn stop(mut self) -> Result<SimReport> {
        self.finish()
    }

    fn finish(&mut self) -> Result<SimReport> {
        self.shared.stop.store(true, Ordering::Release);
        let Some(t) = self.thread.take() else {
            return Err(Error::BadState {
                device: NAME.to_owned(),
                state: "already stopped".to_owned(),
            });
        };
        let recording = t.join().map_err(|_| Error::BadState {
            device: NAME.to_owned(),
            state: "DAC thread panicked".to_owned(),
        })?;
        if let Some(path) = &self.wav {
            recording
                .write_wav(path)
                .map_err(|e| Error::sys(NAME, Step::Simulate, io::Error::other(e)))?;
        }
        Ok(SimReport {
            stats: self.stats(),
            recording,
        })
    }
}

impl Drop for SimDac {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

/// The DAC thread's state.
struct Dac {
    layout: StreamLayout,
    step: u64,
    step_ns: f64,
    ring: RingView,
    _ring_map: Mapping,
    page: StatusPage,
    wake: Option<OwnedFd>,
    shared: Arc<Shared>,
    timestamps: bool,
    page_updates: PageUpdates,
    priority: Option<i32>,
    recording: Recording,
    start: u64,
    t0: u64,
}

impl Dac {
    fn run(mut self) -> Recording {
        if let Some(p) = self.priority {
            if pcmring_rt::sched::promote_fifo(p).is_ok() {
                self.shared.realtime.store(true, Ordering::Release);
            }
        }
        let l = self.layout;
        let mut hw = self.start; // 64-bit DAC position
        let mut base_t = self.t0; // time at which `base_hw` was reached
        let mut base_hw = hw;
        let mut k = 0u64; // steps since base
        let mut in_underrun = false;
        let mut state = PcmState::Running;
        while !self.shared.stop.load(Ordering::Acquire) {
            let deadline = base_t + ((k + 1) as f64 * self.step_ns) as u64;
            sleep_until_ns(deadline);
            if self.shared.release.swap(false, Ordering::AcqRel) {
                self.page.release_appl();
            }
            let want = PcmState::from_raw(self.shared.state.load(Ordering::Acquire))
                .unwrap_or(PcmState::Running);
            if want != state {
                state = want;
                // Resuming restarts the schedule from now.
                base_t = now_ns();
                base_hw = hw;
                k = 0;
                self.publish(hw, state, base_t, true);
                signal(&self.wake);
                continue;
            }
            if state != PcmState::Running {
                k += 1;
                continue;
            }
            let late = now_ns().saturating_sub(deadline);
            self.shared.max_late.fetch_max(late, Ordering::AcqRel);
            in_underrun = self.consume(hw, in_underrun);
            hw += self.step;
            k += 1;
            debug_assert_eq!(hw, base_hw + k * self.step);
            let period_crossed = hw / l.period_size != (hw - self.step) / l.period_size;
            let to_page = match self.page_updates {
                PageUpdates::EveryStep => true,
                PageUpdates::PerPeriod => period_crossed,
                PageUpdates::OnSync => false,
            };
            self.publish(hw, state, deadline, to_page);
            if period_crossed {
                signal(&self.wake);
            }
        }
        self.recording
    }

    /// Frames of `[hw, hw + n)` inside the writer's latest hole (frames it
    /// skipped at an xrun: below its cursor, yet never written).
    fn in_hole(&self, hw: u64, n: u64) -> u64 {
        let l = self.layout;
        let Some((raw, len)) = self.page.hole() else {
            return 0;
        };
        // Widen the raw start: the hole lies within a buffer of `hw`.
        let d = (raw + l.boundary - hw % l.boundary) % l.boundary;
        let start = if d <= l.buffer_size {
            hw + d
        } else {
            hw.saturating_sub(l.boundary - d)
        };
        let end = start + len;
        end.min(hw + n).saturating_sub(start.max(hw))
    }

    /// Publishes the position: always as the live one (what a refresh
    /// returns), and on the status page when `to_page`.
    fn publish(&self, hw: u64, state: PcmState, t: u64, to_page: bool) {
        let rate = f64::from(self.layout.rate);
        let p = HwPosition {
            state,
            hw_ptr: hw % self.layout.boundary,
            tstamp_ns: if self.timestamps { t } else { 0 },
            audio_tstamp_ns: ((hw - self.start) as f64 * 1e9 / rate) as u64,
        };
        // The real position first: a page never shows a position a
        // refresh could not return.
        self.shared.hw.store(hw, Ordering::Release);
        self.page.publish_live(&p);
        if to_page {
            self.page.publish(&p);
        }
    }

    /// Plays `[hw, hw + step)`: counts what was never written, records,
    /// zeroes. Returns whether the step ended in an underrun.
    fn consume(&mut self, hw: u64, mut in_underrun: bool) -> bool {
        let l = self.layout;
        let step = self.step;
        // Frames [hw, hw + written) were written: the published cursor is
        // at most a buffer ahead of them (ring slots alias beyond that).
        let missing = match self.page.appl() {
            None => 0, // no writer (yet, or any more): idle, not an underrun
            Some(appl) => {
                let d = (appl + l.boundary - hw % l.boundary) % l.boundary;
                let written = if d <= l.buffer_size { d.min(step) } else { 0 };
                step - written + self.in_hole(hw, written)
            }
        };
        if missing > 0 {
            self.shared
                .underrun_frames
                .fetch_add(missing, Ordering::AcqRel);
            if !in_underrun {
                self.shared.underrun_events.fetch_add(1, Ordering::AcqRel);
            }
            in_underrun = true;
        } else {
            in_underrun = false;
        }
        let fb = l.frame_bytes();
        let slot = hw % l.buffer_size;
        let first = step.min(l.buffer_size - slot);
        for (off, n) in [(slot, first), (0, step - first)] {
            if n == 0 {
                continue;
            }
            // SAFETY: in bounds (slot + n <= buffer_size, the mapping is
            // ring_bytes long). By protocol these frames belong to the DAC:
            // the writer never writes within a granule (>= one DAC step) of
            // the published hw_ptr, which still says `hw`. A writer that
            // breaks the protocol can only make the bytes garbage audio.
            let bytes = unsafe { self.ring.slice_mut(off as usize * fb, n as usize * fb) };
            self.recording.push(bytes);
            bytes.fill(0);
        }
        self.shared.consumed.fetch_add(step, Ordering::AcqRel);
        in_underrun
    }
}
