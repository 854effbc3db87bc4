//! Realtime helpers for pcmring: scheduling, memory locking, timers,
//! a no-allocation guard, lock-free latency histograms and a jitter probe.
