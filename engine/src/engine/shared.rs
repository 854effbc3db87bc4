//! What the engine handle and its RT thread share.

use super::clock::ClockShared;
use super::telemetry::Telemetry;
use crate::error::Error;
use crate::events::{EventQueue, EventSender, InlineText};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

/// The handle's and the RT thread's common state.
pub(super) struct Shared {
    /// Set by the handle to stop the RT thread.
    pub(super) stop: AtomicBool,
    /// Counters the RT thread publishes.
    pub(super) telemetry: Telemetry,
    /// The frame clock the RT thread publishes.
    pub(super) clock: Arc<ClockShared>,
    /// The error that stopped the RT thread.
    pub(super) error: Mutex<Option<Error>>,
    /// The first render panic's message (set once by the RT thread).
    pub(super) panic: OnceLock<InlineText>,
    /// The application's event channel.
    pub(super) events: EventQueue,
    /// The engine's sender into it.
    pub(super) tx: EventSender,
}
