//! What the input-only ([`super::InputEngine`]) and duplex
//! ([`super::DuplexEngine`]) engines share: the handle on their RT thread
//! (start-up hand-shake, stop, the error that ended it). Their counters
//! are the output engine's [`Telemetry`], with the input-side fields.

use super::config::{EngineConfig, StartInfo};
use super::shared::ErrorSlot;
use super::telemetry::{EngineState, Telemetry};
use crate::error::{Error, Result, Step};
use pcmring_rt::alloc_guard::AllocGuard;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// State shared by an engine handle and its RT thread.
#[derive(Debug, Default)]
pub(crate) struct IoShared {
    pub(crate) stop: AtomicBool,
    pub(crate) telemetry: Telemetry,
    pub(crate) error: ErrorSlot,
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
                        sh.error.set(e);
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
        self.shared.error.text()
    }

    pub(crate) fn stop(&mut self) -> Result<()> {
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

impl Drop for IoHandle {
    fn drop(&mut self) {
        self.halt();
    }
}
