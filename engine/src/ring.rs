//! A raw view of a mapped ring shared with another party (the DMA engine,
//! the kernel, or the simulated DAC thread).
//!
//! The other party reads and writes parts of the ring concurrently, so the
//! view never hands out a reference to the whole ring: callers copy in and
//! out of byte ranges they own by protocol (the writer only touches frames
//! the hardware cannot be reading).

use std::ptr::NonNull;

/// A pointer and length of a mapped ring; it does not own the mapping.
#[derive(Debug)]
pub struct RingView {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: RingView is a plain address range; all accesses go through
// `unsafe` methods whose callers guarantee exclusive use of the bytes they
// touch, so sending or sharing the view across threads is sound.
unsafe impl Send for RingView {}
// SAFETY: see `Send` above; `&RingView` only offers the same unsafe methods.
unsafe impl Sync for RingView {}

impl RingView {
    /// Wraps `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay mapped and writable for the life of the view.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize) -> Self {
        Self { ptr, len }
    }

    /// Bytes in the ring.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring is empty (never, for a configured stream).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The start of the ring.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// A mutable slice over `offset..offset+len`.
    ///
    /// # Safety
    /// The range must be in bounds, and nobody else (hardware included)
    /// may read or write those bytes while the slice lives.
    // The view is shared memory, not a Rust object: handing out `&mut` from
    // `&self` is the point, and exclusivity is the caller's contract.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        debug_assert!(offset.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: bounds and exclusivity are the caller's contract above.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(offset), len) }
    }

    /// A shared slice over `offset..offset+len`.
    ///
    /// # Safety
    /// The range must be in bounds and nobody may write it while the slice lives.
    pub unsafe fn slice(&self, offset: usize, len: usize) -> &[u8] {
        debug_assert!(offset.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: bounds and the absence of writers are the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }
    }
}

/// The ring's byte pieces for `frames` frames from the 64-bit frame
/// `cursor`, in a ring of `buffer` frames of `frame_bytes` bytes each:
/// (byte offset, frames), one piece, or two when the range crosses the
/// ring's end (the second then starts at offset 0). `frames` must not
/// exceed `buffer`.
pub(crate) fn pieces(
    cursor: u64,
    frames: u64,
    buffer: u64,
    frame_bytes: usize,
) -> [(usize, usize); 2] {
    let slot = cursor % buffer;
    let first = frames.min(buffer - slot);
    [
        (slot as usize * frame_bytes, first as usize),
        (0, (frames - first) as usize),
    ]
}
