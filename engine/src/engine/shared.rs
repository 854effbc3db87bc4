//! What the engine handle and its RT thread share.

use super::clock::ClockShared;
use super::telemetry::Telemetry;
use crate::error::Error;
use crate::events::{EventQueue, EventSender, InlineText};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// The error that stopped an RT thread: set by the thread, read or taken
/// by its handle. A poisoned lock still hands its value over (the thread
/// that poisoned it may be the very one whose error this is).
#[derive(Debug, Default)]
pub(crate) struct ErrorSlot(Mutex<Option<Error>>);

impl ErrorSlot {
    /// Records `e` (replacing an earlier one).
    pub(crate) fn set(&self, e: Error) {
        *self.lock() = Some(e);
    }

    /// Takes the error out.
    pub(crate) fn take(&self) -> Option<Error> {
        self.lock().take()
    }

    /// The error as text, leaving it in place.
    pub(crate) fn text(&self) -> Option<String> {
        self.lock().as_ref().map(|e| e.to_string())
    }

    fn lock(&self) -> MutexGuard<'_, Option<Error>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle's and the RT thread's common state.
pub(super) struct Shared {
    /// Set by the handle to stop the RT thread.
    pub(super) stop: AtomicBool,
    /// Counters the RT thread publishes.
    pub(super) telemetry: Telemetry,
    /// The frame clock the RT thread publishes.
    pub(super) clock: Arc<ClockShared>,
    /// The error that stopped the RT thread.
    pub(super) error: ErrorSlot,
    /// The first render panic's message (set once by the RT thread).
    pub(super) panic: OnceLock<InlineText>,
    /// The application's event channel.
    pub(super) events: EventQueue,
    /// The engine's sender into it.
    pub(super) tx: EventSender,
}
