//! The simulated device's status page: the kernel's time64 mmap status
//! layout at offset 0, and a small sim-only control block further on.
//!
//! ```text
//! 0x000  struct snd_pcm_mmap_status64 (crate::sys::abi::SndPcmMmapStatus64)
//!        state, hw_ptr (raw, wraps at boundary), tstamp, suspended_state,
//!        audio_tstamp: written by the DAC thread
//! 0x800  sim control block (little-endian u64 words):
//!        +0x00 magic   SIM_MAGIC once the page is initialised
//!        +0x08 seq     sequence counter, odd while the DAC updates status
//!        +0x10 appl    the writer's cursor (raw, wraps at boundary)
//!        +0x18 flags   bit 0: appl is valid (a writer has committed)
//!        +0x20 hole    first frame of the latest hole (raw)
//!        +0x28 hole_len frames in it (0: none); a hole is what the writer
//!                      skipped at an xrun: never written, though below appl
//! ```
//!
//! Readers read it the way they read the kernel's page, with the one
//! status-page reader ([`crate::status`]: re-read until two reads agree);
//! the sequence counter is there for readers that want a seqlock.
//!
//! All fields are accessed through atomics laid over the shared mapping:
//! loads and stores only, never read-modify-write from two sides.

use crate::device::HwPosition;
use crate::error::DeviceError;
use crate::status::{StatusLayout, StatusView};
use crate::sys::abi::{SndPcmMmapStatus64, Timespec64};
use crate::sys::mmap::Mapping;
use std::mem::offset_of;
use std::sync::atomic::{fence, AtomicI32, AtomicU64, Ordering};

/// Bytes in the status memfd.
pub const PAGE_BYTES: usize = 4096;
/// Offset of the sim control block.
pub const CONTROL_OFFSET: usize = 0x800;
/// Magic value of an initialised page ("pcmrSIM1").
pub const SIM_MAGIC: u64 = u64::from_le_bytes(*b"pcmrSIM1");

const STATE: usize = offset_of!(SndPcmMmapStatus64, state);
const HW_PTR: usize = offset_of!(SndPcmMmapStatus64, hw_ptr);
const TSTAMP: usize = offset_of!(SndPcmMmapStatus64, tstamp);
const AUDIO_TSTAMP: usize = offset_of!(SndPcmMmapStatus64, audio_tstamp);
const SEC: usize = offset_of!(Timespec64, tv_sec);
const NSEC: usize = offset_of!(Timespec64, tv_nsec);
const MAGIC: usize = CONTROL_OFFSET;
const SEQ: usize = CONTROL_OFFSET + 8;
const APPL: usize = CONTROL_OFFSET + 16;
const FLAGS: usize = CONTROL_OFFSET + 24;
const HOLE: usize = CONTROL_OFFSET + 32;
const HOLE_LEN: usize = CONTROL_OFFSET + 40;

const _: () = assert!(std::mem::size_of::<SndPcmMmapStatus64>() <= CONTROL_OFFSET);
const _: () = assert!(HW_PTR & 7 == 0 && TSTAMP & 7 == 0 && AUDIO_TSTAMP & 7 == 0);

/// A view of a mapped sim status page.
#[derive(Debug)]
pub struct StatusPage {
    map: Mapping,
}

impl StatusPage {
    /// Wraps a read-write mapping of at least [`PAGE_BYTES`].
    pub fn new(map: Mapping) -> Option<Self> {
        (map.len() >= PAGE_BYTES).then_some(Self { map })
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off & 7 == 0 && off + 8 <= PAGE_BYTES);
        // SAFETY: `off` is a constant 8-aligned offset inside the page
        // (checked at compile time above and by `new`'s length check); the
        // mapping is page-aligned and lives as long as `&self`; the memory
        // is only ever accessed atomically, by every party.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicU64>() }
    }

    fn i32_at(&self, off: usize) -> &AtomicI32 {
        debug_assert!(off & 3 == 0 && off + 4 <= PAGE_BYTES);
        // SAFETY: as in `u64_at`, with 4-byte alignment.
        unsafe { &*self.map.as_ptr().add(off).cast::<AtomicI32>() }
    }

    /// Whether the page was initialised by a sim DAC.
    pub fn is_initialised(&self) -> bool {
        self.u64_at(MAGIC).load(Ordering::Acquire) == SIM_MAGIC
    }

    /// Publishes a status update (DAC side).
    pub fn publish(&self, p: &HwPosition) {
        let seq = self.u64_at(SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.i32_at(STATE).store(p.state as i32, Ordering::Relaxed);
        self.u64_at(HW_PTR).store(p.hw_ptr, Ordering::Relaxed);
        store_ts(self, TSTAMP, p.tstamp_ns);
        store_ts(self, AUDIO_TSTAMP, p.audio_tstamp_ns);
        seq.store(s.wrapping_add(2), Ordering::Release);
        self.u64_at(MAGIC).store(SIM_MAGIC, Ordering::Release);
    }

    /// The status, read with the one status-page reader
    /// ([`crate::status`]) like a kernel page (reader side).
    pub fn read(&self) -> Result<HwPosition, DeviceError> {
        StatusView::new(&self.map, StatusLayout::New)
            .ok_or(DeviceError::Sys {
                step: crate::Step::Position,
                errno: libc::EFAULT,
            })?
            .position()
    }

    /// Publishes the writer's cursor (raw frames, `< boundary`).
    pub fn set_appl(&self, raw: u64) {
        self.u64_at(APPL).store(raw, Ordering::Release);
        self.u64_at(FLAGS).store(1, Ordering::Release);
    }

    /// Marks that no writer holds the device any more (a lease ended, the
    /// engine stopped): the DAC plays on without counting underruns until
    /// a writer commits again.
    pub fn release_appl(&self) {
        self.u64_at(FLAGS).store(0, Ordering::Release);
        self.u64_at(HOLE_LEN).store(0, Ordering::Release);
    }

    /// Publishes a hole of `len` frames from raw frame `start` (writer
    /// side, before the commit past it).
    pub fn set_hole(&self, start: u64, len: u64) {
        let l = self.u64_at(HOLE_LEN);
        l.store(0, Ordering::Release);
        self.u64_at(HOLE).store(start, Ordering::Release);
        l.store(len, Ordering::Release);
    }

    /// The latest hole as (raw start, frames), if there is one and it was
    /// not being rewritten while read.
    pub fn hole(&self) -> Option<(u64, u64)> {
        let len = self.u64_at(HOLE_LEN).load(Ordering::Acquire);
        let start = self.u64_at(HOLE).load(Ordering::Acquire);
        let again = self.u64_at(HOLE_LEN).load(Ordering::Acquire);
        (len != 0 && len == again).then_some((start, len))
    }

    /// The writer's cursor, if a writer has committed.
    pub fn appl(&self) -> Option<u64> {
        if self.u64_at(FLAGS).load(Ordering::Acquire) & 1 == 0 {
            return None;
        }
        Some(self.u64_at(APPL).load(Ordering::Acquire))
    }
}

fn store_ts(p: &StatusPage, base: usize, ns: u64) {
    p.u64_at(base + SEC)
        .store(ns / 1_000_000_000, Ordering::Relaxed);
    p.u64_at(base + NSEC)
        .store(ns % 1_000_000_000, Ordering::Relaxed);
}
