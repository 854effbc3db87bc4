//! What the reservation's D-Bus side and the application share: whether
//! another program asked for the card, and whether the device is closed.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Shared {
    release_requested: AtomicBool,
    requester_priority: AtomicI32,
    closed: Mutex<bool>,
    closed_cv: Condvar,
}

/// A handle the application polls (or the hook is wired to): tells it
/// when another program with a higher priority asked for the card and
/// pcmring agreed to give it up, so the engine must stop. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ReservationWatch {
    shared: Arc<Shared>,
}

impl ReservationWatch {
    /// A new watch: nothing requested, device open.
    pub fn new() -> ReservationWatch {
        ReservationWatch::default()
    }

    /// The requester's priority, once pcmring agreed to release the
    /// card: stop the engine now (the requester waits for it).
    pub fn release_requested(&self) -> Option<i32> {
        self.shared
            .release_requested
            .load(Ordering::Acquire)
            .then(|| self.shared.requester_priority.load(Ordering::Relaxed))
    }

    #[cfg_attr(not(feature = "reserve"), allow(dead_code))]
    pub(crate) fn request_release(&self, priority: i32) {
        self.shared
            .requester_priority
            .store(priority, Ordering::Relaxed);
        self.shared.release_requested.store(true, Ordering::Release);
    }

    /// Marks the device closed (the reserved device does it when it is
    /// dropped, before the name is released).
    pub(crate) fn mark_closed(&self) {
        let mut closed = self
            .shared
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *closed = true;
        self.shared.closed_cv.notify_all();
    }

    /// Whether the device is closed.
    pub fn is_closed(&self) -> bool {
        *self
            .shared
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits at most `timeout` for the device to be closed.
    #[cfg_attr(not(feature = "reserve"), allow(dead_code))]
    pub(crate) fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut closed = self
            .shared
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while !*closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            closed = self
                .shared
                .closed_cv
                .wait_timeout(closed, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_wakes_a_waiter() {
        let w = ReservationWatch::new();
        assert!(!w.wait_closed(Duration::from_millis(1)));
        let w2 = w.clone();
        let t = std::thread::spawn(move || w2.wait_closed(Duration::from_secs(30)));
        w.mark_closed();
        assert!(t.join().unwrap());
        assert!(w.is_closed());
        assert_eq!(w.release_requested(), None);
        w.request_release(7);
        assert_eq!(w.release_requested(), Some(7));
    }
}
