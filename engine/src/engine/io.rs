//! What the input-only ([`super::InputEngine`]) and duplex
//! ([`super::DuplexEngine`]) engines share: their telemetry and the handle
//! on their RT thread (start-up hand-shake, stop, the error that ended it).

use super::config::{EngineConfig, StartInfo};
use super::telemetry::EngineState;
use crate::error::{Error, Result, Step};
use pcmring_rt::alloc_guard::AllocGuard;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Live counters of an input or duplex engine, written by its RT thread
/// only, read lock-free from anywhere ([`IoTelemetry::snapshot`]).
#[derive(Debug, Default)]
pub struct IoTelemetry {
    pub(crate) state: AtomicU8,
    pub(crate) cycles: AtomicU64,
    pub(crate) frames_read: AtomicU64,
    pub(crate) frames_written: AtomicU64,
    pub(crate) overruns: AtomicU64,
    pub(crate) frames_lost: AtomicU64,
    pub(crate) xruns: AtomicU64,
    pub(crate) realigns: AtomicU64,
    pub(crate) offset_frames: AtomicI64,
    pub(crate) hw_skew_frames: AtomicI64,
    pub(crate) input_frames: AtomicU64,
    pub(crate) output_frames: AtomicU64,
    pub(crate) render_panics: AtomicU64,
    pub(crate) realtime: AtomicBool,
    pub(crate) rt_allocs: AtomicU64,
    pub(crate) rt_frees: AtomicU64,
    pub(crate) rt_reallocs: AtomicU64,
    pub(crate) unexpected_blocks: AtomicU64,
}

/// A copy of [`IoTelemetry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoSnapshot {
    /// Where the engine is in its life.
    pub state: EngineState,
    /// RT cycles so far.
    pub cycles: u64,
    /// Input frames handed to the callback.
    pub frames_read: u64,
    /// Output frames written (duplex only).
    pub frames_written: u64,
    /// Input overruns: the hardware lapped the reader (or reached a block
    /// while it was copied); each one re-anchors the reader.
    pub overruns: u64,
    /// Input frames lost to overruns.
    pub frames_lost: u64,
    /// Output underruns (duplex only).
    pub xruns: u64,
    /// Times the duplex loop re-aligned input and output after an xrun or
    /// overrun (each sets a new [`IoSnapshot::offset_frames`]).
    pub realigns: u64,
    /// Duplex: output frame time minus input frame time of every block
    /// (fixed between realigns), 0 for input-only engines.
    pub offset_frames: i64,
    /// Duplex: output minus input hardware position measured at start-up
    /// (0 for linked streams, within a granule); the round trip in frames
    /// is `offset_frames - hw_skew_frames`.
    pub hw_skew_frames: i64,
    /// The input device's position (widened frames) at the last cycle.
    pub input_frames: u64,
    /// The output device's position (widened frames) at the last cycle.
    pub output_frames: u64,
    /// Callback panics caught (the engine goes silent after one).
    pub render_panics: u64,
    /// Whether the RT thread got SCHED_FIFO.
    pub realtime: bool,
    /// Allocations on the RT thread after start-up (with the guard).
    pub rt_allocs: u64,
    /// Frees on the RT thread after start-up (with the guard).
    pub rt_frees: u64,
    /// Reallocations on the RT thread after start-up (with the guard).
    pub rt_reallocs: u64,
    /// Times the RT thread slept outside its wait (with the guard).
    pub unexpected_blocks: u64,
}

impl IoTelemetry {
    pub(crate) fn set_state(&self, s: EngineState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// The engine's state.
    pub fn state(&self) -> EngineState {
        match self.state.load(Ordering::Acquire) {
            0 => EngineState::Starting,
            1 => EngineState::Running,
            2 => EngineState::Stopped,
            _ => EngineState::Failed,
        }
    }

    /// Every counter, each read atomically.
    pub fn snapshot(&self) -> IoSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IoSnapshot {
            state: self.state(),
            cycles: l(&self.cycles),
            frames_read: l(&self.frames_read),
            frames_written: l(&self.frames_written),
            overruns: l(&self.overruns),
            frames_lost: l(&self.frames_lost),
            xruns: l(&self.xruns),
            realigns: l(&self.realigns),
            offset_frames: self.offset_frames.load(Ordering::Relaxed),
            hw_skew_frames: self.hw_skew_frames.load(Ordering::Relaxed),
            input_frames: l(&self.input_frames),
            output_frames: l(&self.output_frames),
            render_panics: l(&self.render_panics),
            realtime: self.realtime.load(Ordering::Relaxed),
            rt_allocs: l(&self.rt_allocs),
            rt_frees: l(&self.rt_frees),
            rt_reallocs: l(&self.rt_reallocs),
            unexpected_blocks: l(&self.unexpected_blocks),
        }
    }

    pub(crate) fn publish_allocs(&self, g: &AllocGuard) {
        let c = g.counts();
        self.rt_allocs.store(c.allocs, Ordering::Relaxed);
        self.rt_frees.store(c.frees, Ordering::Relaxed);
        self.rt_reallocs.store(c.reallocs, Ordering::Relaxed);
    }
}

/// State shared by an engine handle and its RT thread.
#[derive(Debug, Default)]
pub(crate) struct IoShared {
    pub(crate) stop: AtomicBool,
    pub(crate) telemetry: IoTelemetry,
    pub(crate) error: Mutex<Option<Error>>,
}

/// The RT thread's body: set up (reporting the outcome), then run until
/// stopped or failed.
pub(crate) trait IoLoop: Sized {
    /// Runs the loop; `guard` is armed when the config asks for it.
    fn run(&mut self, shared: &IoShared, guard: Option<&AllocGuard>) -> Result<()>;
    /// Leaves the devices quiet after the loop ends.
    fn finish(&mut self) {}
}

/// The handle on an input or duplex RT thread.
#[derive(Debug)]
pub(crate) struct IoHandle {
    pub(crate) shared: Arc<IoShared>,
    thread: Option<JoinHandle<()>>,
    pub(crate) info: StartInfo,
}

impl IoHandle {
    /// Spawns the RT thread, which builds its loop with `setup` (on the RT
    /// thread, after promotion), and waits for the outcome; the start-up
    /// report gets the promotion's outcome as [`StartInfo::realtime`].
    pub(crate) fn spawn<L, S>(cfg: &EngineConfig, setup: S) -> Result<IoHandle>
    where
        L: IoLoop,
        S: FnOnce(&IoShared) -> Result<(L, StartInfo)> + Send + 'static,
    {
        let shared = Arc::new(IoShared::default());
        let (tx, rx) = mpsc::channel::<Result<StartInfo>>();
        let sh = shared.clone();
        let name = cfg.name.clone();
        let priority = cfg.fifo_priority;
        let guard_mode = cfg.alloc_guard;
        let thread = std::thread::Builder::new()
            .name(format!("pcmring-io-{name}"))
            .spawn(move || {
                let tel = &sh.telemetry;
                let realtime = match priority {
                    Some(p) => {
                        let r = pcmring_rt::sched::promote_fifo(p)
                            .map(|r| r.priority())
                            .map_err(|e| e.to_string());
                        tel.realtime.store(r.is_ok(), Ordering::Relaxed);
                        r
                    }
                    None => Err("not requested".to_owned()),
                };
                pcmring_rt::sched::prefault_stack(128 * 1024);
                let mut lp = match setup(&sh) {
                    Ok((lp, info)) => {
                        tel.set_state(EngineState::Running);
                        let _ = tx.send(Ok(StartInfo { realtime, ..info }));
                        lp
                    }
                    Err(e) => {
                        tel.set_state(EngineState::Failed);
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                drop(tx);
                let outcome = {
                    let guard = guard_mode.map(AllocGuard::enter);
                    let r = lp.run(&sh, guard.as_ref());
                    if let Some(g) = &guard {
                        tel.publish_allocs(g);
                    }
                    r
                };
                lp.finish();
                match outcome {
                    Ok(()) => tel.set_state(EngineState::Stopped),
                    Err(e) => {
                        if let Ok(mut g) = sh.error.lock() {
                            *g = Some(e);
                        }
                        tel.set_state(EngineState::Failed);
                    }
                }
                let _ = pcmring_rt::sched::demote();
            })
            .map_err(|e| Error::sys(&cfg.name, Step::Start, e))?;
        match rx.recv() {
            Ok(Ok(info)) => Ok(IoHandle {
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
                    device: cfg.name.clone(),
                    state: "engine thread died during start-up".to_owned(),
                })
            }
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub(crate) fn wait_finished(&self, timeout: Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while self.is_running() {
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    pub(crate) fn error(&self) -> Option<String> {
        match self.shared.error.lock() {
            Ok(g) => g.as_ref().map(|e| e.to_string()),
            Err(p) => p.into_inner().as_ref().map(|e| e.to_string()),
        }
    }

    pub(crate) fn stop(&mut self) -> Result<()> {
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

impl Drop for IoHandle {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
