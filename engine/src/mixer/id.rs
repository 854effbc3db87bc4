//! A voice's identity.

/// A voice's identity: its slot and generation. `Copy`, comparable; two ids
/// are equal only for the same voice (slots are reused under a new generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VoiceId {
    /// The pool slot.
    pub slot: u32,
    /// The slot's generation when this voice was started.
    pub generation: u32,
}
