//! Thread scheduling for the realtime thread: `SCHED_FIFO` promotion with a
//! CPU-time safety limit, CPU affinity, memory locking and stack prefaulting.
//!
//! Everything here acts on the **calling thread** (Linux scheduling
//! attributes and affinity are per thread), except the resource limits and
//! `mlockall`, which are per process.
//!
//! Typical start of a realtime thread:
//!
//! ```
//! use pcmring_rt::sched;
//!
//! std::thread::spawn(|| {
//!     match sched::promote_fifo(70) {
//!         Ok(p) => println!("running SCHED_FIFO {}", p.priority()),
//!         // Not fatal: log how to grant it and continue at normal priority.
//!         Err(e) => eprintln!("warning: {e}"),
//!     }
//!     sched::prefault_stack(256 * 1024);
//!     // ... the realtime loop ...
//!     let _ = sched::demote();
//! })
//! .join()
//! .unwrap();
//! ```

mod affinity;
mod error;
mod memory;
mod xcpu;

pub use affinity::{affinity, set_affinity};
pub use error::RtError;
pub use memory::{lock_memory, prefault_stack, unlock_memory};
pub use xcpu::{
    install_sigxcpu_handler, sigxcpu_signals, unwatched_demotions, DemotionWatch, WatchError,
    MAX_WATCHED_THREADS,
};

use crate::sys;
use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use std::io;
use std::time::Duration;

/// Default soft `RLIMIT_RTTIME`: a realtime thread that runs this long
/// without blocking gets `SIGXCPU` (which kills the process unless handled:
/// see [`DemotionWatch`], which demotes the thread instead).
pub const DEFAULT_RTTIME_SOFT: Duration = Duration::from_millis(200);
/// Default hard `RLIMIT_RTTIME`: past this the kernel sends `SIGKILL`.
pub const DEFAULT_RTTIME_HARD: Duration = Duration::from_millis(400);

/// Parameters for [`promote_fifo_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtConfig {
    /// `SCHED_FIFO` priority, 1 (lowest) ..= 99. Audio servers commonly
    /// use 70..=88; stay below the kernel's threaded IRQ handlers (50 on
    /// PREEMPT_RT) only if you know the sound card's IRQ thread is higher.
    pub priority: i32,
    /// Soft `RLIMIT_RTTIME` (CPU time without blocking before `SIGXCPU`).
    pub rttime_soft: Duration,
    /// Hard `RLIMIT_RTTIME` (CPU time without blocking before `SIGKILL`).
    pub rttime_hard: Duration,
    /// Set `SCHED_RESET_ON_FORK`, so threads and processes created by the
    /// realtime thread start at normal priority.
    pub reset_on_fork: bool,
}

impl RtConfig {
    /// The defaults for `priority`: 200 ms soft / 400 ms hard
    /// `RLIMIT_RTTIME`, reset-on-fork on.
    pub const fn new(priority: i32) -> RtConfig {
        RtConfig {
            priority,
            rttime_soft: DEFAULT_RTTIME_SOFT,
            rttime_hard: DEFAULT_RTTIME_HARD,
            reset_on_fork: true,
        }
    }
}

/// A scheduling policy as reported by `sched_getscheduler`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_OTHER` (normal time sharing).
    Other,
    /// `SCHED_FIFO`.
    Fifo,
    /// `SCHED_RR`.
    RoundRobin,
    /// `SCHED_BATCH`.
    Batch,
    /// `SCHED_IDLE`.
    Idle,
    /// `SCHED_DEADLINE` (value 6).
    Deadline,
    /// Any other value.
    Unknown(i32),
}

impl Policy {
    fn from_raw(p: i32) -> Policy {
        match p {
            libc::SCHED_OTHER => Policy::Other,
            libc::SCHED_FIFO => Policy::Fifo,
            libc::SCHED_RR => Policy::RoundRobin,
            libc::SCHED_BATCH => Policy::Batch,
            libc::SCHED_IDLE => Policy::Idle,
            6 => Policy::Deadline,
            other => Policy::Unknown(other),
        }
    }
}

/// The calling thread's scheduling policy and priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduling {
    /// The policy.
    pub policy: Policy,
    /// The static priority (0 for non-realtime policies).
    pub priority: i32,
    /// Whether `SCHED_RESET_ON_FORK` is set.
    pub reset_on_fork: bool,
}

/// Reads the calling thread's scheduling policy and priority.
pub fn current_scheduling() -> Result<Scheduling, RtError> {
    let raw = sys::sched_getscheduler(0).map_err(|e| os_error("sched_getscheduler", e))?;
    let priority = sys::sched_priority(0).map_err(|e| os_error("sched_getparam", e))?;
    Ok(Scheduling {
        policy: Policy::from_raw(raw & !libc::SCHED_RESET_ON_FORK),
        priority,
        reset_on_fork: raw & libc::SCHED_RESET_ON_FORK != 0,
    })
}

/// A process resource limit pair; `None` means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit (what the kernel enforces).
    pub soft: Option<u64>,
    /// The hard limit (ceiling for the soft one).
    pub hard: Option<u64>,
}

fn from_rlim(v: libc::rlim_t) -> Option<u64> {
    if v == RLIM_INFINITY {
        None
    } else {
        Some(v)
    }
}

fn to_rlim(v: Option<u64>) -> libc::rlim_t {
    v.unwrap_or(RLIM_INFINITY)
}

fn min_limit(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

pub(crate) fn get_rlimit(resource: Resource) -> io::Result<Rlimit> {
    let (soft, hard) = getrlimit(resource)?;
    Ok(Rlimit {
        soft: from_rlim(soft),
        hard: from_rlim(hard),
    })
}

fn set_rlimit(resource: Resource, lim: Rlimit) -> io::Result<()> {
    Ok(setrlimit(resource, to_rlim(lim.soft), to_rlim(lim.hard))?)
}

/// The process's `RLIMIT_RTPRIO` (highest `SCHED_FIFO` priority allowed
/// without `CAP_SYS_NICE`).
pub fn rtprio_limit() -> Result<Rlimit, RtError> {
    get_rlimit(Resource::RLIMIT_RTPRIO).map_err(|e| RtError::Os {
        op: "getrlimit(RLIMIT_RTPRIO)",
        source: e,
    })
}

/// The process's `RLIMIT_RTTIME`, in microseconds of CPU time a realtime
/// thread may use without blocking.
pub fn rttime_limit() -> Result<Rlimit, RtError> {
    get_rlimit(Resource::RLIMIT_RTTIME).map_err(|e| RtError::Os {
        op: "getrlimit(RLIMIT_RTTIME)",
        source: e,
    })
}

/// Tightens `RLIMIT_RTTIME` to at most `soft`/`hard`; never loosens an
/// existing limit (raising a hard limit needs `CAP_SYS_RESOURCE`, and a
/// stricter limit set by the user is kept). Returns the limit in force.
fn tighten_rttime(soft: Duration, hard: Duration) -> Result<Rlimit, RtError> {
    let as_us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let cur = rttime_limit()?;
    let hard = min_limit(cur.hard, Some(as_us(hard).max(1)));
    let soft = min_limit(min_limit(cur.soft, Some(as_us(soft).max(1))), hard);
    let new = Rlimit { soft, hard };
    if new != cur {
        set_rlimit(Resource::RLIMIT_RTTIME, new).map_err(|e| RtError::Os {
            op: "setrlimit(RLIMIT_RTTIME)",
            source: e,
        })?;
    }
    Ok(new)
}

/// What [`promote_fifo`] did: the new priority, the scheduling it
/// replaced and the `RLIMIT_RTTIME` now in force.
///
/// Not a guard: dropping it changes nothing. Call [`demote`] to go back to
/// normal priority (a realtime thread that simply exits needs no demote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the promotion report says which RLIMIT_RTTIME is in force"]
pub struct RtPromotion {
    priority: i32,
    previous: Scheduling,
    rttime: Rlimit,
}

impl RtPromotion {
    /// The `SCHED_FIFO` priority the thread now runs at.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// The scheduling the thread had before.
    pub fn previous(&self) -> Scheduling {
        self.previous
    }

    /// The `RLIMIT_RTTIME` in force, in microseconds (`None`: unlimited).
    pub fn rttime_us(&self) -> Rlimit {
        self.rttime
    }
}

/// Promotes the calling thread to `SCHED_FIFO` at `priority` (1..=99) with
/// the default [`RtConfig`] (200 ms / 400 ms `RLIMIT_RTTIME`,
/// reset-on-fork).
///
/// On [`RtError::FifoNotPermitted`] the thread is unchanged: log the error
/// (its message explains how to grant realtime rights) and continue at
/// normal priority.
pub fn promote_fifo(priority: i32) -> Result<RtPromotion, RtError> {
    promote_fifo_with(&RtConfig::new(priority))
}

/// How long [`promote_fifo_with`] sleeps as SCHED_FIFO before tightening
/// `RLIMIT_RTTIME`: long enough that the sleep blocks (a timer that has
/// already expired returns without scheduling) so the wake-up resets the
/// kernel's realtime-time count.
const COUNTER_RESET_SLEEP: Duration = Duration::from_micros(50);

/// Promotes the calling thread to `SCHED_FIFO` as configured.
///
/// Order: checks the priority range, calls `sched_setscheduler`, sleeps
/// 50 µs as `SCHED_FIFO` (the wake-up resets the kernel's realtime-time
/// count, which a thread demoted by `SIGXCPU` still carries), then
/// tightens the process's `RLIMIT_RTTIME` (soft and hard; an existing
/// stricter limit is kept and the hard limit is never raised). If the
/// limit cannot be set, the thread is demoted again and the error
/// returned.
pub fn promote_fifo_with(cfg: &RtConfig) -> Result<RtPromotion, RtError> {
    let (min, max) = sys::fifo_priority_range();
    if cfg.priority < min || cfg.priority > max {
        return Err(RtError::InvalidPriority {
            priority: cfg.priority,
            min,
            max,
        });
    }
    let previous = current_scheduling()?;
    let mut policy = libc::SCHED_FIFO;
    // Keep the flag if it is already set: only CAP_SYS_NICE may clear it.
    if cfg.reset_on_fork || previous.reset_on_fork {
        policy |= libc::SCHED_RESET_ON_FORK;
    }
    if let Err(errno) = sys::sched_setscheduler(0, policy, cfg.priority) {
        let limit = rtprio_limit().ok().and_then(|l| l.soft);
        return Err(RtError::from_fifo_errno(errno as i32, cfg.priority, limit));
    }
    // The kernel's RLIMIT_RTTIME counter (`rt.timeout`) is reset only when
    // the thread wakes up as a realtime task. A thread promoted again after
    // a SIGXCPU demotion still carries the count that tripped the limit
    // (it slept as SCHED_OTHER since), so the first tick before its next
    // sleep would send SIGXCPU again as soon as the limit is tightened.
    // Sleep once as SCHED_FIFO first (long enough to really block), then
    // tighten: the count starts from zero under the new limit.
    std::thread::sleep(COUNTER_RESET_SLEEP);
    let rttime = match tighten_rttime(cfg.rttime_soft, cfg.rttime_hard) {
        Ok(r) => r,
        Err(e) => {
            let _ = demote();
            return Err(e);
        }
    };
    Ok(RtPromotion {
        priority: cfg.priority,
        previous,
        rttime,
    })
}

/// Returns the calling thread to `SCHED_OTHER` (priority 0). Always
/// permitted; keeps `SCHED_RESET_ON_FORK` if set (clearing it needs
/// `CAP_SYS_NICE`). The nice value is left as it is.
pub fn demote() -> Result<(), RtError> {
    let cur = current_scheduling()?;
    let mut policy = libc::SCHED_OTHER;
    if cur.reset_on_fork {
        policy |= libc::SCHED_RESET_ON_FORK;
    }
    sys::sched_setscheduler(0, policy, 0)
        .map_err(|e| os_error("sched_setscheduler(SCHED_OTHER)", e))
}

fn os_error(op: &'static str, errno: Errno) -> RtError {
    RtError::Os {
        op,
        source: errno.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_limit_treats_none_as_unlimited() {
        assert_eq!(min_limit(None, None), None);
        assert_eq!(min_limit(Some(3), None), Some(3));
        assert_eq!(min_limit(None, Some(4)), Some(4));
        assert_eq!(min_limit(Some(5), Some(4)), Some(4));
    }

    #[test]
    fn out_of_range_priority_is_rejected_before_any_change() {
        for p in [0, -1, 100, 1000] {
            match promote_fifo(p) {
                Err(RtError::InvalidPriority { priority, min, max }) => {
                    assert_eq!((priority, min, max), (p, 1, 99));
                }
                other => panic!("priority {p}: {other:?}"),
            }
        }
        assert_eq!(current_scheduling().unwrap().policy, Policy::Other);
    }

    #[test]
    fn current_scheduling_of_a_normal_thread() {
        let s = std::thread::spawn(current_scheduling)
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(s.policy, Policy::Other);
        assert_eq!(s.priority, 0);
    }
}
