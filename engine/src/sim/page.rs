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
//!        +0x20 live_seq    sequence counter of the live position (odd
//!                          while the DAC updates it)
//!        +0x28 live_hw     the DAC's real hw_ptr (raw), at every step
//!        +0x30 live_tstamp its CLOCK_MONOTONIC stamp, ns
//!        +0x38 live_state  its state (SNDRV_PCM_STATE_*)
//!        +0x40 syncs       refreshes (the sim's HWSYNC) the clients made
//!        +0x48 page_mode   when the status above is published
//!                          ([`crate::sim::PageUpdates`]: 0, 1, 2)
//!        +0x50 hole    first frame of the latest hole (raw)
//!        +0x58 hole_len frames in it (0: none); a hole is what the writer
//!                      skipped at an xrun: never written, though below appl
//! ```
//!
//! The status at 0x000 is what a client reads without a system call
//! (like the kernel's page, it may be stale: see
//! [`crate::sim::PageUpdates`]); the live position is what a refresh
//! returns (like HWSYNC, which asks the driver).
//!
//! Readers read it the way they read the kernel's page, with the one
//! status-page reader ([`crate::status`]: re-read until two reads agree);
//! the sequence counter is there for readers that want a seqlock.
//!
//! All fields are accessed through atomics laid over the shared mapping:
//! loads and stores only, never read-modify-write from two sides (the
//! sync counter is only ever incremented by clients).

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
const LIVE_SEQ: usize = CONTROL_OFFSET + 0x20;
const LIVE_HW: usize = CONTROL_OFFSET + 0x28;
const LIVE_TSTAMP: usize = CONTROL_OFFSET + 0x30;
const LIVE_STATE: usize = CONTROL_OFFSET + 0x38;
const SYNCS: usize = CONTROL_OFFSET + 0x40;
const PAGE_MODE: usize = CONTROL_OFFSET + 0x48;
/// Readings of the live position a reader takes at most before it gives
/// up on a DAC that keeps updating it (`EAGAIN`).
const LIVE_READS: usize = 64;
const HOLE: usize = CONTROL_OFFSET + 0x50;
const HOLE_LEN: usize = CONTROL_OFFSET + 0x58;

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

    /// Publishes the DAC's real position (DAC side, every step).
    pub fn publish_live(&self, p: &HwPosition) {
        let seq = self.u64_at(LIVE_SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.u64_at(LIVE_HW).store(p.hw_ptr, Ordering::Relaxed);
        self.u64_at(LIVE_TSTAMP)
            .store(p.tstamp_ns, Ordering::Relaxed);
        self.u64_at(LIVE_STATE)
            .store(p.state as i32 as u32 as u64, Ordering::Relaxed);
        seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The DAC's real position (what a refresh returns), read under the
    /// live sequence counter.
    pub fn read_live(&self) -> Result<HwPosition, DeviceError> {
        let seq = self.u64_at(LIVE_SEQ);
        for _ in 0..LIVE_READS {
            let s1 = seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let hw_ptr = self.u64_at(LIVE_HW).load(Ordering::Relaxed);
            let tstamp_ns = self.u64_at(LIVE_TSTAMP).load(Ordering::Relaxed);
            let state = self.u64_at(LIVE_STATE).load(Ordering::Relaxed) as u32 as i32;
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                let state = crate::device::PcmState::from_raw(state)
                    .ok_or(DeviceError::UnknownState(state))?;
                return Ok(HwPosition {
                    state,
                    hw_ptr,
                    tstamp_ns,
                    audio_tstamp_ns: 0,
                });
            }
        }
        Err(DeviceError::Sys {
            step: crate::Step::Position,
            errno: libc::EAGAIN,
        })
    }

    /// Counts one refresh (client side; only clients write the counter).
    pub fn count_sync(&self) {
        self.u64_at(SYNCS).fetch_add(1, Ordering::Relaxed);
    }

    /// Refreshes made by the clients so far.
    pub fn syncs(&self) -> u64 {
        self.u64_at(SYNCS).load(Ordering::Relaxed)
    }

    /// Records when the status is published (DAC side, at start).
    pub fn set_page_mode(&self, mode: u64) {
        self.u64_at(PAGE_MODE).store(mode, Ordering::Release);
    }

    /// When the status is published (see [`StatusPage::set_page_mode`]).
    pub fn page_mode(&self) -> u64 {
        self.u64_at(PAGE_MODE).load(Ordering::Acquire)
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
