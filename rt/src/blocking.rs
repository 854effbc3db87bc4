//! Detecting unexpected blocking on the realtime thread.
//!
//! A realtime thread may block in exactly one place: its wait for the next
//! wake-up. Everything else that puts it to sleep (a contended mutex, a
//! condition variable, a page fault that waits for I/O, a blocking read or
//! write) is a bug. The kernel counts every time a thread gives up the CPU
//! voluntarily (`ru_nvcsw` of `getrusage(RUSAGE_THREAD)`). A
//! [`BlockingMonitor`] reads that counter at the start and around each
//! intentional wait; voluntary switches *outside* the waits are unexpected
//! blocks.
//!
//! ```
//! use pcmring_rt::blocking::BlockingMonitor;
//! use pcmring_rt::timer::{now_ns, sleep_until_ns};
//!
//! let mut mon = BlockingMonitor::start();
//! let mut deadline = now_ns();
//! for _ in 0..5 {
//!     deadline += 1_000_000;
//!     mon.wait(|| sleep_until_ns(deadline)); // the one allowed wait
//!     // ... render a block: nothing here may block ...
//! }
//! let r = mon.report();
//! assert_eq!(r.waits, 5);
//! assert_eq!(r.unexpected(), 0);
//! ```
//!
//! **What is and isn't caught.** Caught: anything that *sleeps* the thread
//! outside a bracketed wait, including a `Mutex`/`RwLock` that was held by
//! another thread (the futex wait), channel receives that wait, `join`,
//! blocking I/O, major page faults. Not caught: locks taken without
//! contention (a single atomic, no sleep; they are still a priority
//! inversion risk, so the engine keeps them out of the RT path by design),
//! spinning, and preemption by a higher-priority thread (that is counted
//! separately as [`BlockingReport::involuntary`], and is not the thread's
//! fault). Reading the counters costs one `getrusage` system call (no
//! allocation, no blocking) at `start`, `report` and twice per `wait`.

use nix::sys::resource::{getrusage, UsageWho};
use std::marker::PhantomData;

/// The calling thread's (voluntary, involuntary) context switch counts.
fn switches() -> (u64, u64) {
    // RUSAGE_THREAD is supported since Linux 2.6.26 and the out-pointer
    // is nix's own, so the call cannot fail (checked in debug).
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(ru) => (
            ru.voluntary_context_switches() as u64,
            ru.involuntary_context_switches() as u64,
        ),
        Err(e) => {
            debug_assert!(false, "getrusage(RUSAGE_THREAD) failed: {e}");
            (0, 0)
        }
    }
}

/// Counts the calling thread's voluntary context switches, separating the
/// intentional waits (run through [`wait`](Self::wait)) from everything
/// else. Must be used on one thread (not `Send`).
#[derive(Debug)]
pub struct BlockingMonitor {
    start_voluntary: u64,
    start_involuntary: u64,
    in_waits: u64,
    waits: u64,
    _not_send: PhantomData<*const ()>,
}

/// What a [`BlockingMonitor`] saw since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockingReport {
    /// All voluntary context switches (the thread went to sleep).
    pub voluntary: u64,
    /// Of those, switches inside intentional waits.
    pub in_waits: u64,
    /// Number of intentional waits.
    pub waits: u64,
    /// Involuntary switches (preempted while runnable); informational.
    pub involuntary: u64,
}

impl BlockingReport {
    /// Voluntary switches outside the intentional waits: each is a time the
    /// thread blocked on something it should not have.
    pub fn unexpected(&self) -> u64 {
        self.voluntary.saturating_sub(self.in_waits)
    }
}

impl BlockingMonitor {
    /// Starts monitoring the calling thread.
    pub fn start() -> BlockingMonitor {
        let (v, i) = switches();
        BlockingMonitor {
            start_voluntary: v,
            start_involuntary: i,
            in_waits: 0,
            waits: 0,
            _not_send: PhantomData,
        }
    }

    /// Runs `f`, the thread's intentional wait (sleep until the deadline,
    /// poll the PCM fd), and attributes its context switches to waiting.
    #[inline]
    pub fn wait<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let (before, _) = switches();
        let r = f();
        let (after, _) = switches();
        self.in_waits += after.saturating_sub(before);
        self.waits += 1;
        r
    }

    /// The counts so far.
    pub fn report(&self) -> BlockingReport {
        let (v, i) = switches();
        BlockingReport {
            voluntary: v.saturating_sub(self.start_voluntary),
            in_waits: self.in_waits,
            waits: self.waits,
            involuntary: i.saturating_sub(self.start_involuntary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::Duration;

    /// Up to three attempts: code that blocks outside its waits does so on
    /// every attempt, while a busy host can put the thread to sleep once
    /// in a while (direct reclaim, a page fault waiting for I/O) through
    /// no fault of the code under test.
    #[test]
    fn intentional_waits_are_not_unexpected() {
        let attempt = || {
            std::thread::spawn(|| {
                let mut mon = BlockingMonitor::start();
                for _ in 0..5 {
                    mon.wait(|| std::thread::sleep(Duration::from_millis(1)));
                }
                mon.report()
            })
            .join()
            .unwrap()
        };
        let reports: Vec<BlockingReport> = (0..3).map(|_| attempt()).collect();
        for r in &reports {
            assert_eq!(r.waits, 5);
            assert!(r.in_waits >= 5, "{r:?}");
        }
        assert!(
            reports.iter().any(|r| r.unexpected() == 0),
            "blocked outside the waits in every attempt: {reports:?}"
        );
    }

    #[test]
    fn sleeping_outside_a_wait_is_unexpected() {
        std::thread::spawn(|| {
            let mon = BlockingMonitor::start();
            std::thread::sleep(Duration::from_millis(1));
            assert!(mon.report().unexpected() >= 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn contended_mutex_is_unexpected() {
        let m = Arc::new(Mutex::new(0u32));
        let barrier = Arc::new(Barrier::new(2));
        let holder = {
            let (m, barrier) = (m.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut g = m.lock().unwrap();
                barrier.wait();
                std::thread::sleep(Duration::from_millis(50));
                *g += 1;
            })
        };
        barrier.wait();
        let r = std::thread::scope(|s| {
            s.spawn(|| {
                let mon = BlockingMonitor::start();
                *m.lock().unwrap() += 1; // waits ~50 ms for the holder
                mon.report()
            })
            .join()
            .unwrap()
        });
        holder.join().unwrap();
        assert!(r.unexpected() >= 1, "{r:?}");
        assert_eq!(*m.lock().unwrap(), 2);
    }
}
