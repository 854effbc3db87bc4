//! Realtime helpers for pcmring: scheduling, memory locking, timers,
//! a no-allocation guard, lock-free latency histograms and a jitter probe.
//!
//! The pieces a realtime audio thread needs, each in its own module:
//!
//! - [`sched`]: `SCHED_FIFO` promotion with an `RLIMIT_RTTIME` safety net
//!   (and a clear error when not permitted), CPU affinity, `mlockall`,
//!   stack prefaulting.
//! - [`timer`]: `CLOCK_MONOTONIC` nanoseconds, absolute-deadline sleep,
//!   a typed `poll` on one fd.
//! - [`alloc_guard`]: a counting global allocator and a per-thread scope
//!   that counts or aborts on heap operations.
//! - [`blocking`]: detects the thread blocking outside its intended waits
//!   (contended locks, blocking I/O).
//! - [`histogram`]: a lock-free, log-scaled latency histogram.
//! - [`jitter`]: a cyclictest-like wake-up lateness probe, to size margins.
//!
//! Linux only. Nothing here allocates on the realtime path: `now_ns`,
//! `sleep_until_ns`, `poll_fd`, `LatencyHistogram::record`, guard
//! enter/drop and `BlockingMonitor::wait` are allocation-free.
//!
//! A realtime loop in miniature:
//!
//! ```
//! use pcmring_rt::{histogram::LatencyHistogram, sched, timer};
//! use std::sync::Arc;
//!
//! let lateness = Arc::new(LatencyHistogram::new());
//! let stats = lateness.clone();
//! let rt = std::thread::spawn(move || {
//!     if let Err(e) = sched::promote_fifo(70) {
//!         eprintln!("warning: {e}"); // keeps running at normal priority
//!     }
//!     sched::prefault_stack(128 * 1024);
//!     let period = 1_000_000; // 1 ms
//!     let mut deadline = timer::now_ns() + period;
//!     for _ in 0..10 {
//!         timer::sleep_until_ns(deadline);
//!         stats.record(timer::now_ns() - deadline);
//!         // ... render one block ...
//!         deadline += period;
//!     }
//! });
//! rt.join().unwrap();
//! let s = lateness.snapshot(); // readable from any thread, any time
//! assert_eq!(s.count(), 10);
//! println!("wake-up lateness p99 {} ns, max {} ns", s.percentile(99.0), s.max());
//! ```

#![cfg(target_os = "linux")]
#![warn(missing_docs)]

pub mod alloc_guard;
pub mod blocking;
pub mod histogram;
pub mod jitter;
pub mod sched;
mod sys;
pub mod timer;
