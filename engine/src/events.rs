//! One event channel from the engine (and other subsystems) to the
//! application: xruns, margin changes, realtime demotions, render panics,
//! the engine stopping, and whatever another subsystem posts (e.g. device
//! reservation: "card taken by a higher-priority requester").
//!
//! The channel is a bounded, preallocated, lock-free queue
//! ([`crossbeam_queue::ArrayQueue`]): posting never allocates or blocks,
//! so the RT thread posts directly. When the queue is full the new event
//! is dropped and counted ([`Events::dropped`]); the counters in
//! telemetry stay exact either way. The application drains it from any
//! thread with [`Events::try_next`] (or [`Events::drain`]), typically once
//! per frame or UI tick.
//!
//! ```
//! use pcmring::events::{EngineEvent, EventQueue};
//! let q = EventQueue::new(4);
//! let tx = q.sender();
//! tx.post(EngineEvent::Xrun { at_frame: 4800, frames: 32 });
//! assert_eq!(
//!     q.receiver().try_next(),
//!     Some(EngineEvent::Xrun { at_frame: 4800, frames: 32 })
//! );
//! ```

use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Default capacity of an engine's event queue.
pub(crate) const DEFAULT_EVENT_CAPACITY: usize = 256;

/// A short text carried inline (no allocation): a render panic's message,
/// or a subsystem's reason, cut at [`InlineText::CAPACITY`] bytes on a
/// character boundary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineText {
    len: u8,
    bytes: [u8; InlineText::CAPACITY],
}

impl InlineText {
    /// Bytes kept.
    pub const CAPACITY: usize = 160;

    /// Copies `s`, cut to at most [`InlineText::CAPACITY`] bytes.
    pub fn new(s: &str) -> Self {
        let mut n = s.len().min(Self::CAPACITY);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        let mut bytes = [0; Self::CAPACITY];
        bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        Self {
            len: n as u8,
            bytes,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // The bytes were copied from a `&str`, cut on a char boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl std::fmt::Debug for InlineText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for InlineText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the engine stopped on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The device went away (unplugged, driver gone, lease revoked).
    Disconnected,
    /// Any other error; [`crate::engine::Engine::error`] has the text.
    Error,
}

/// Something the application should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineEvent {
    /// The hardware consumed `frames` frames the engine had not written
    /// (see the xrun definition in [`crate::engine`]), the first of them
    /// at device frame `at_frame`.
    Xrun {
        /// Device frame where the loss starts.
        at_frame: u64,
        /// Frames lost.
        frames: u64,
    },
    /// The margin the engine keeps ahead of the hardware changed.
    MarginChanged {
        /// The new margin, frames.
        frames: u64,
    },
    /// The RT thread overran its `RLIMIT_RTTIME` soft limit and was
    /// demoted to normal scheduling instead of being killed.
    Demoted {
        /// Demotions so far.
        total: u64,
    },
    /// The RT thread got `SCHED_FIFO` back after a quiet period.
    Repromoted {
        /// The priority it runs at again.
        priority: i32,
    },
    /// The render callback panicked; the engine outputs silence from then
    /// on (the process lives on).
    RenderPanic {
        /// The panic message (cut to fit).
        message: InlineText,
    },
    /// The engine's RT thread ended because of an error.
    Stopped {
        /// Why.
        reason: StopReason,
    },
    /// Posted by another subsystem through an [`EventSender`].
    Notice {
        /// Who posted it, e.g. `"reserve"`.
        source: &'static str,
        /// What happened.
        message: InlineText,
    },
}

struct Inner {
    queue: ArrayQueue<EngineEvent>,
    dropped: AtomicU64,
}

/// The queue; make one, hand [`EventQueue::sender`]s to whoever posts and
/// [`EventQueue::receiver`] to whoever reads.
#[derive(Clone)]
pub struct EventQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("len", &self.inner.queue.len())
            .field("dropped", &self.inner.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl EventQueue {
    /// A queue holding up to `capacity` (at least 1) undelivered events,
    /// allocated now.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                queue: ArrayQueue::new(capacity.max(1)),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// A posting handle (cheap to clone, `Send + Sync`).
    pub fn sender(&self) -> EventSender {
        EventSender {
            inner: self.inner.clone(),
        }
    }

    /// A reading handle.
    pub fn receiver(&self) -> Events {
        Events {
            inner: self.inner.clone(),
        }
    }
}

/// Posts events; lock-free and allocation-free, usable on the RT thread.
#[derive(Clone)]
pub struct EventSender {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSender")
    }
}

impl EventSender {
    /// Posts `ev`; returns `false` (and counts it) if the queue was full.
    pub fn post(&self, ev: EngineEvent) -> bool {
        if self.inner.queue.push(ev).is_err() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Posts a [`EngineEvent::Notice`] from subsystem `source`.
    pub fn notice(&self, source: &'static str, message: &str) -> bool {
        self.post(EngineEvent::Notice {
            source,
            message: InlineText::new(message),
        })
    }
}

/// Reads events; any thread, lock-free.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("pending", &self.inner.queue.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Events {
    /// The oldest undelivered event, if any.
    pub fn try_next(&self) -> Option<EngineEvent> {
        self.inner.queue.pop()
    }

    /// Every undelivered event, oldest first.
    pub fn drain(&self) -> Vec<EngineEvent> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Events lost because the queue was full (the application did not
    /// drain it in time).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_text_cuts_on_a_char_boundary() {
        let long = "é".repeat(200);
        let t = InlineText::new(&long);
        assert!(t.as_str().len() <= InlineText::CAPACITY);
        assert!(t.as_str().chars().all(|c| c == 'é'));
        assert_eq!(InlineText::new("boom").as_str(), "boom");
    }

    #[test]
    fn overflow_is_counted_not_blocking() {
        let q = EventQueue::new(2);
        let tx = q.sender();
        assert!(tx.post(EngineEvent::MarginChanged { frames: 1 }));
        assert!(tx.post(EngineEvent::MarginChanged { frames: 2 }));
        assert!(!tx.post(EngineEvent::MarginChanged { frames: 3 }));
        let rx = q.receiver();
        assert_eq!(rx.dropped(), 1);
        assert_eq!(
            rx.drain(),
            vec![
                EngineEvent::MarginChanged { frames: 1 },
                EngineEvent::MarginChanged { frames: 2 }
            ]
        );
        assert!(tx.notice("reserve", "card taken by a higher-priority requester"));
        match rx.try_next() {
            Some(EngineEvent::Notice { source, message }) => {
                assert_eq!(source, "reserve");
                assert!(message.as_str().contains("higher-priority"));
            }
            other => panic!("{other:?}"),
        }
    }
}
