//! Generation-tagged parameter words: the lock-free protocol behind
//! `VoiceHandle::set_gain` and friends.
//!
//! Each voice slot has one 64-bit word per continuous parameter (gain, pan,
//! rate). The high 32 bits hold the generation of the voice the value is for,
//! the low 32 bits the `f32` bits of the value.
//!
//! - `play` *stores* `(g, initial value)` before it publishes the voice to the
//!   renderer (the command queue push is the release point).
//! - A handle for generation `g` *compare-and-swaps*: it only replaces a word
//!   that still carries `g`. Once the slot is reused, the word carries `g + 1`
//!   (stored by the new `play`) and the stale handle's CAS fails; it then
//!   reports the voice as ended. A stale write can therefore never land in a
//!   later voice's word, and a later voice's value is never overwritten.
//! - The renderer loads the word once per block and applies the value only if
//!   the generation matches the voice it is mixing.
//!
//! The protocol is generic over the atomic type so the loom model test
//! (`engine/tests/mixer_loom.rs`) runs exactly this code on loom's atomics.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The atomic operations the protocol needs (implemented for std atomics
/// here, for loom's in the model test).
pub trait Atomic64 {
    /// `load` with the given ordering.
    fn load(&self, order: Ordering) -> u64;
    /// `store` with the given ordering.
    fn store(&self, value: u64, order: Ordering);
    /// `swap` with the given ordering.
    fn swap(&self, value: u64, order: Ordering) -> u64;
    /// `compare_exchange_weak` with the given orderings.
    fn compare_exchange_weak(
        &self,
        current: u64,
        new: u64,
        ok: Ordering,
        err: Ordering,
    ) -> Result<u64, u64>;
}

/// The 32-bit counterpart of [`Atomic64`], for slot generations.
pub trait Atomic32 {
    /// `load` with the given ordering.
    fn load(&self, order: Ordering) -> u32;
    /// `store` with the given ordering.
    fn store(&self, value: u32, order: Ordering);
}

impl Atomic64 for AtomicU64 {
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline]
    fn store(&self, value: u64, order: Ordering) {
        AtomicU64::store(self, value, order)
    }
    #[inline]
    fn swap(&self, value: u64, order: Ordering) -> u64 {
        AtomicU64::swap(self, value, order)
    }
    #[inline]
    fn compare_exchange_weak(
        &self,
        current: u64,
        new: u64,
        ok: Ordering,
        err: Ordering,
    ) -> Result<u64, u64> {
        AtomicU64::compare_exchange_weak(self, current, new, ok, err)
    }
}

impl Atomic32 for AtomicU32 {
    #[inline]
    fn load(&self, order: Ordering) -> u32 {
        AtomicU32::load(self, order)
    }
    #[inline]
    fn store(&self, value: u32, order: Ordering) {
        AtomicU32::store(self, value, order)
    }
}

/// Packs a generation and a value into one word.
#[inline]
pub fn pack(generation: u32, value: f32) -> u64 {
    ((generation as u64) << 32) | value.to_bits() as u64
}

/// Splits a word into its generation and value.
#[inline]
pub fn unpack(word: u64) -> (u32, f32) {
    ((word >> 32) as u32, f32::from_bits(word as u32))
}

/// Initialises a parameter word for a newly allocated voice (only the
/// allocating thread owns the slot at this point, but a stale handle of the
/// slot's previous voice may be racing its CAS against this write).
///
/// This is a read-modify-write (`swap`), not a plain store: a stale CAS
/// that read the old word and this write are then totally ordered, so the
/// stale CAS either lands before (and is overwritten) or fails. With a
/// plain `Relaxed` store the C++ model gives the same guarantee, but loom's
/// model does not order a store against a concurrent RMW that way and
/// reports the stale value winning; the swap costs nothing that matters
/// (`play` is not on the realtime path) and is correct in every model.
#[inline]
pub fn init<A: Atomic64>(word: &A, generation: u32, value: f32) {
    word.swap(pack(generation, value), Ordering::AcqRel);
}

/// Sets the value for voice `generation`; `false` if the word belongs to a
/// different (later) voice, in which case nothing was written.
#[inline]
pub fn set<A: Atomic64>(word: &A, generation: u32, value: f32) -> bool {
    let new = pack(generation, value);
    let mut cur = word.load(Ordering::Relaxed);
    loop {
        if (cur >> 32) as u32 != generation {
            return false;
        }
        match word.compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(actual) => cur = actual,
        }
    }
}

/// Reads the value for voice `generation`, or `None` if the word belongs to
/// another voice.
#[inline]
pub fn get<A: Atomic64>(word: &A, generation: u32) -> Option<f32> {
    let (g, v) = unpack(word.load(Ordering::Acquire));
    (g == generation).then_some(v)
}

/// Whether the slot generation still names voice `generation` (the voice has
/// not ended).
#[inline]
pub fn is_current<A: Atomic32>(slot_generation: &A, generation: u32) -> bool {
    slot_generation.load(Ordering::Acquire) == generation
}

/// Ends voice `generation` of a slot: later handles for it see it as ended.
/// Called by the renderer, the only writer of slot generations while a voice
/// is live.
#[inline]
pub fn end<A: Atomic32>(slot_generation: &A, generation: u32) {
    slot_generation.store(generation.wrapping_add(1), Ordering::Release);
}
