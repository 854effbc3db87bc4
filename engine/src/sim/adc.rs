//! The simulated device's input side: memfds like the DAC's and an "ADC"
//! thread that captures into the ring at the nominal rate.
//!
//! Every step (a period in [`DacMode::Periods`], a few frames in
//! [`DacMode::Continuous`]) at its scheduled time the ADC fills the frames
//! `[hw_ptr, hw_ptr + step)` of the ring from its [`SimSource`] (converted
//! to the ring's format), records them if asked, and only then advances
//! `hw_ptr` and stamps it, exactly as a capture DMA engine makes frames
//! visible: everything below the published `hw_ptr` is complete, the step
//! above it is being written. It never waits for a reader: a reader that
//! falls a buffer behind is lapped (an overrun), as with a free-running
//! capture stream.
//!
//! The endpoint is the same [`SimDevice`] as for output (its ring is read
//! instead of written), so the fds travel to another process the same way.

use super::config::{SimConfig, SimFds, SimLayout};
use super::dac::{signal, SimReport, SimStats};
use super::device::SimDevice;
use super::page::StatusPage;
use super::record::Recording;
use super::setup::{step_ns, Setup};
use super::source::SimSource;
use crate::convert;
use crate::device::{HwPosition, PcmState};
use crate::error::{Error, Result, Step};
use crate::layout::StreamLayout;
use crate::ring::RingView;
use crate::sys::mmap::Mapping;
use pcmring_rt::timer::{now_ns, sleep_until_ns};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

const NAME: &str = "sim capture";

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    state: AtomicI32,
    captured: AtomicU64,
    hw: AtomicU64,
    max_late: AtomicU64,
    realtime: AtomicBool,
}

/// A running simulated capture device. Dropping it stops the ADC.
#[derive(Debug)]
pub struct SimAdc {
    layout: SimLayout,
    fds: SimFds,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Recording>>,
}

impl SimAdc {
    /// Creates the memfds, publishes RUNNING at `config.start_hw_ptr` and
    /// starts the ADC thread, which captures from `source`. `config.wav`
    /// is not used (the recording comes back from [`SimAdc::stop`]).
    pub fn start<S: SimSource>(config: SimConfig, source: S) -> Result<SimAdc> {
        let l = config.layout;
        // The ADC's page is always current: a refresh (the live position)
        // and the status page agree, whatever `config.page_updates` says.
        let setup = Setup::new(
            NAME,
            &config,
            [c"pcmring-sim-capture-ring", c"pcmring-sim-capture-status"],
        )?;
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
        let shared = Arc::new(Shared {
            state: AtomicI32::new(PcmState::Running as i32),
            hw: AtomicU64::new(start),
            ..Shared::default()
        });
        let adc = Adc {
            layout: l,
            step,
            step_ns: step_ns(step, &config),
            // SAFETY: `ring_map` is ring_bytes long, read-write, and moves
            // into the Adc together with the view.
            ring: unsafe { RingView::new(ring_map.as_non_null(), ring_bytes) },
            _ring_map: ring_map,
            page,
            wake: wake_tx,
            shared: shared.clone(),
            timestamps: config.timestamps,
            priority: config.dac_priority,
            recording: Recording::with_capacity(&l, start, config.record_frames),
            scratch: vec![0.0; step as usize * l.channels as usize],
            bytes: vec![0; step as usize * l.frame_bytes()],
            source: Box::new(source),
            start,
            t0,
        };
        let thread = std::thread::Builder::new()
            .name("pcmring-sim-adc".into())
            .spawn(move || adc.run())
            .map_err(sys)?;
        Ok(SimAdc {
            layout: SimLayout { stream: l, batch },
            fds,
            shared,
            thread: Some(thread),
        })
    }

    /// The layout to send along with [`SimAdc::share`]'s fds.
    #[doc(hidden)] // sharing plumbing; SimFds/SimLayout are public with `testing`
    pub fn layout(&self) -> SimLayout {
        self.layout
    }

    /// Duplicates the fds, e.g. to send them to another process.
    #[doc(hidden)] // sharing plumbing; SimFds/SimLayout are public with `testing`
    pub fn share(&self) -> Result<SimFds> {
        self.fds.try_clone()
    }

    /// A [`crate::Device`] endpoint for this process (read its ring).
    pub fn device(&self) -> Result<SimDevice> {
        SimDevice::attach(self.share()?, self.layout)
    }

    /// Changes the state the ADC reports; anything but RUNNING stops it.
    pub fn set_state(&self, state: PcmState) {
        self.shared.state.store(state as i32, Ordering::Release);
    }

    /// Simulates the device going away (state DISCONNECTED).
    pub fn disconnect(&self) {
        self.set_state(PcmState::Disconnected);
    }

    /// Current counters.
    pub fn stats(&self) -> SimStats {
        let s = &self.shared;
        SimStats {
            frames: s.captured.load(Ordering::Acquire),
            hw_frames: s.hw.load(Ordering::Acquire),
            max_late_ns: s.max_late.load(Ordering::Acquire),
            realtime: s.realtime.load(Ordering::Acquire),
            ..SimStats::default()
        }
    }

    /// Stops the ADC thread; returns the counters and the recording.
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
            state: "ADC thread panicked".to_owned(),
        })?;
        Ok(SimReport {
            stats: self.stats(),
            recording,
        })
    }
}

impl Drop for SimAdc {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

/// The ADC thread's state.
struct Adc {
    layout: StreamLayout,
    step: u64,
    step_ns: f64,
    ring: RingView,
    _ring_map: Mapping,
    page: StatusPage,
    wake: Option<OwnedFd>,
    shared: Arc<Shared>,
    timestamps: bool,
    priority: Option<i32>,
    recording: Recording,
    scratch: Vec<f32>,
    bytes: Vec<u8>,
    source: Box<dyn SimSource>,
    start: u64,
    t0: u64,
}

impl Adc {
    fn run(mut self) -> Recording {
        if let Some(p) = self.priority {
            if pcmring_rt::sched::promote_fifo(p).is_ok() {
                self.shared.realtime.store(true, Ordering::Release);
            }
        }
        let l = self.layout;
        let mut hw = self.start;
        let mut base_t = self.t0;
        let mut k = 0u64;
        let mut state = PcmState::Running;
        while !self.shared.stop.load(Ordering::Acquire) {
            let deadline = base_t + ((k + 1) as f64 * self.step_ns) as u64;
            sleep_until_ns(deadline);
            let want = PcmState::from_raw(self.shared.state.load(Ordering::Acquire))
                .unwrap_or(PcmState::Running);
            if want != state {
                state = want;
                base_t = now_ns();
                k = 0;
                self.publish(hw, state, base_t);
                signal(&self.wake);
                continue;
            }
            if state != PcmState::Running {
                k += 1;
                continue;
            }
            let late = now_ns().saturating_sub(deadline);
            self.shared.max_late.fetch_max(late, Ordering::AcqRel);
            self.capture(hw);
            hw += self.step;
            k += 1;
            self.publish(hw, state, deadline);
            if hw / l.period_size != (hw - self.step) / l.period_size {
                signal(&self.wake);
            }
        }
        self.recording
    }

    /// Publishes the position, as the live one (what a refresh returns)
    /// and on the status page: the ADC's page is never stale.
    fn publish(&self, hw: u64, state: PcmState, t: u64) {
        let rate = f64::from(self.layout.rate);
        let p = HwPosition {
            state,
            hw_ptr: hw % self.layout.boundary,
            tstamp_ns: if self.timestamps { t } else { 0 },
            audio_tstamp_ns: ((hw - self.start) as f64 * 1e9 / rate) as u64,
        };
        self.page.publish_live(&p);
        self.page.publish(&p);
        self.shared.hw.store(hw, Ordering::Release);
    }

    /// Captures `[hw, hw + step)` into the ring (before `hw` moves past it).
    fn capture(&mut self, hw: u64) {
        let l = self.layout;
        let channels = l.channels as usize;
        self.source
            .fill(hw - self.start, channels, &mut self.scratch);
        convert::encode(l.format, &self.scratch, &mut self.bytes);
        self.recording.push(&self.bytes);
        let fb = l.frame_bytes();
        let slot = hw % l.buffer_size;
        let first = self.step.min(l.buffer_size - slot);
        let mut done = 0usize;
        for (off, n) in [(slot, first), (0, self.step - first)] {
            if n == 0 {
                continue;
            }
            let len = n as usize * fb;
            // SAFETY: in bounds (off + n <= buffer_size, the mapping is
            // ring_bytes long). These frames are at or above the published
            // hw_ptr, which no protocol-abiding reader reads; a reader that
            // breaks the protocol only gets torn audio.
            let dst = unsafe { self.ring.slice_mut(off as usize * fb, len) };
            dst.copy_from_slice(&self.bytes[done..done + len]);
            done += len;
        }
        self.shared.captured.fetch_add(self.step, Ordering::AcqRel);
    }
}
