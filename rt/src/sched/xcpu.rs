//! Surviving `RLIMIT_RTTIME`: a `SIGXCPU` handler that demotes the
//! runaway realtime thread instead of letting the signal kill the process.
//!
//! The kernel sends `SIGXCPU` when a `SCHED_FIFO`/`SCHED_RR` thread has
//! run for the soft `RLIMIT_RTTIME` without blocking, and `SIGKILL` at the
//! hard limit. The default action of `SIGXCPU` ends the whole process: in
//! a game or a DAW that is the worst reaction to one stalled audio
//! callback. [`DemotionWatch::register`] installs (once per process) a
//! handler that
//!
//! 1. demotes the thread that overran to `SCHED_OTHER` (the handler runs
//!    on the thread the kernel picked, normally the spinning one; if that
//!    thread is not realtime, it demotes every registered thread that
//!    still is), using only async-signal-safe system calls
//!    (`gettid`, `sched_getscheduler`, `sched_setscheduler`) and atomics;
//! 2. counts the demotion in the registered thread's slot, where its owner
//!    picks it up with [`DemotionWatch::take_demotions`] (off the signal
//!    handler: report it, and re-promote after a quiet period).
//!
//! Once the thread runs `SCHED_OTHER`, the kernel stops charging realtime
//! time to it, so the hard limit is never reached and stays what it is
//! meant to be: the last resort if the handler could not run (signal
//! blocked, or replaced by the application).
//!
//! The handler is only installed when `SIGXCPU` still has its default
//! disposition: an application that installed its own keeps it.

use crate::sys;
use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// How many threads can be registered at once.
pub const MAX_WATCHED_THREADS: usize = 64;

struct Slot {
    tid: AtomicI32,
    demotions: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to build SLOTS
const EMPTY: Slot = Slot {
    tid: AtomicI32::new(0),
    demotions: AtomicU64::new(0),
};
static SLOTS: [Slot; MAX_WATCHED_THREADS] = [EMPTY; MAX_WATCHED_THREADS];
/// Demotions of threads that were not registered (e.g. another realtime
/// thread of the application), and signals that found nothing to demote.
static UNWATCHED: AtomicU64 = AtomicU64::new(0);
/// Every `SIGXCPU` the handler saw.
static SIGNALS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The calling thread's id (the `gettid` system call: async-signal-safe).
fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// Whether `tid` (0: the caller) runs `SCHED_FIFO` or `SCHED_RR`.
/// Async-signal-safe.
fn is_realtime(tid: i32) -> bool {
    sys::sched_getscheduler(tid).is_ok_and(|p| {
        matches!(
            p & !libc::SCHED_RESET_ON_FORK,
            libc::SCHED_FIFO | libc::SCHED_RR
        )
    })
}

/// Puts `tid` (0: the caller) on `SCHED_OTHER`, keeping reset-on-fork.
/// Async-signal-safe.
fn demote_tid(tid: i32) -> bool {
    sys::sched_setscheduler(tid, libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK, 0).is_ok()
}

fn count_for(tid: i32) {
    for s in &SLOTS {
        if s.tid.load(Ordering::Acquire) == tid {
            s.demotions.fetch_add(1, Ordering::AcqRel);
            return;
        }
    }
    UNWATCHED.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn on_sigxcpu(_sig: libc::c_int) {
    // Only atomics and async-signal-safe system calls in here; errno is
    // saved and restored so the interrupted code sees its own.
    let errno = Errno::last_raw();
    SIGNALS.fetch_add(1, Ordering::Relaxed);
    let me = gettid();
    if is_realtime(0) {
        if demote_tid(0) {
            count_for(me);
        }
    } else {
        // The signal is process-directed: it may land on another thread.
        // Demote every registered thread that is still realtime.
        let mut any = false;
        for s in &SLOTS {
            let tid = s.tid.load(Ordering::Acquire);
            if tid != 0 && is_realtime(tid) && demote_tid(tid) {
                s.demotions.fetch_add(1, Ordering::AcqRel);
                any = true;
            }
        }
        if !any {
            UNWATCHED.fetch_add(1, Ordering::Relaxed);
        }
    }
    Errno::set_raw(errno);
}

/// Installs the `SIGXCPU` handler if `SIGXCPU` has its default action.
/// Returns whether the handler is in place (`false`: the application
/// installed its own, which is kept).
pub fn install_sigxcpu_handler() -> io::Result<bool> {
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(true);
    }
    let _g = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(true);
    }
    if !sys::has_default_action(Signal::SIGXCPU)? {
        return Ok(false);
    }
    let act = SigAction::new(
        SigHandler::Handler(on_sigxcpu),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only uses atomics, errno save/restore and
    // async-signal-safe system calls (gettid, sched_getscheduler,
    // sched_setscheduler); it allocates nothing and takes no lock.
    unsafe { sigaction(Signal::SIGXCPU, &act) }?;
    INSTALLED.store(true, Ordering::Release);
    Ok(true)
}

/// Every `SIGXCPU` the handler has seen in this process.
pub fn sigxcpu_signals() -> u64 {
    SIGNALS.load(Ordering::Relaxed)
}

/// Demotions (or signals with nothing to demote) that concerned threads
/// no [`DemotionWatch`] was registered for.
pub fn unwatched_demotions() -> u64 {
    UNWATCHED.load(Ordering::Relaxed)
}

/// Why [`DemotionWatch::register`] failed.
#[derive(Debug)]
pub enum WatchError {
    /// All [`MAX_WATCHED_THREADS`] slots are taken.
    Full,
    /// The application has its own `SIGXCPU` handler; pcmring keeps it and
    /// does not watch (the application decides what a stall does).
    ForeignHandler,
    /// `sigaction` failed.
    Os(io::Error),
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchError::Full => write!(
                f,
                "cannot watch more than {MAX_WATCHED_THREADS} realtime threads for SIGXCPU"
            ),
            WatchError::ForeignHandler => f.write_str(
                "SIGXCPU already has a handler installed by the application; pcmring \
                 leaves it alone, so a realtime stall is handled (or not) by that handler",
            ),
            WatchError::Os(e) => write!(f, "installing the SIGXCPU handler failed: {e}"),
        }
    }
}

impl std::error::Error for WatchError {}

/// The calling thread's registration with the `SIGXCPU` handler (see the
/// module docs). Not `Send`: it belongs to the thread that registered.
/// Dropping it unregisters the thread.
#[derive(Debug)]
pub struct DemotionWatch {
    slot: usize,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl DemotionWatch {
    /// Installs the handler if needed and registers the calling thread.
    pub fn register() -> Result<DemotionWatch, WatchError> {
        if !install_sigxcpu_handler().map_err(WatchError::Os)? {
            return Err(WatchError::ForeignHandler);
        }
        let me = gettid();
        for (i, s) in SLOTS.iter().enumerate() {
            if s.tid
                .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                s.demotions.store(0, Ordering::Release);
                return Ok(DemotionWatch {
                    slot: i,
                    _not_send: std::marker::PhantomData,
                });
            }
        }
        Err(WatchError::Full)
    }

    /// Demotions of this thread since the last call (lock-free, no
    /// system call: safe on the realtime path).
    pub fn take_demotions(&self) -> u64 {
        SLOTS[self.slot].demotions.swap(0, Ordering::AcqRel)
    }
}

impl Drop for DemotionWatch {
    fn drop(&mut self) {
        SLOTS[self.slot].tid.store(0, Ordering::Release);
    }
}
