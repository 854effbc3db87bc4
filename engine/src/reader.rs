//! The capture ring reader: the mirror of [`crate::writer::RingWriter`].
//!
//! A 64-bit read cursor on the device frame clock follows the hardware
//! position from behind. In a cycle with the hardware at `hw` (the
//! **reported** position, never an interpolation: only frames below the
//! reported `hw_ptr` are known to be complete) the frames
//!
//! ```text
//!   overwritten?     readable                      being written
//!  ---------------|---------------------------|------------------->
//!               floor                         hw   hw + granule
//!    floor = hw + granule - buffer_size
//! ```
//!
//! * `[cursor, hw)` are finished and can be read;
//! * frames below `floor` may already be overwritten: the hardware is
//!   writing up to a granule past `hw`, into the ring slots of frames one
//!   buffer earlier.
//!
//! **Overrun**: a cursor below the floor means the hardware lapped the
//! reader. The cycle counts it, records the frames lost and re-anchors the
//! cursor at `max(floor, hw - keep)` (`keep`: how far behind the hardware
//! the caller wants to stay), so recovery needs nothing from the device.
//!
//! **Torn reads**: the hardware keeps moving while a block is copied. After
//! the copy, [`RingReader::intact`] checks that the hardware cannot have
//! reached the slots just read (given a bound on where it can be now, e.g.
//! [`crate::position::PositionModel::projected_frames`]); a block that
//! fails is dropped and counted as an overrun, never handed on.
//!
//! Conversion to f32 is [`crate::convert::decode`], the exact inverse of
//! the writer's encoding (see [`crate::convert`]).

use crate::convert;
use crate::layout::StreamLayout;
use crate::ring::RingView;

/// Why a read was refused (a caller bug, not a device condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// No cycle begun.
    NoCycle,
    /// The buffer is not a whole number of frames.
    PartialFrame,
    /// The ring mapping is smaller than the layout says.
    RingTooSmall,
    /// The frames asked for are not (all) finished and intact.
    OutOfWindow {
        /// First frame asked for.
        start: u64,
        /// Frames asked for.
        frames: u64,
        /// Oldest intact frame.
        floor: u64,
        /// The hardware position (first unfinished frame).
        hw: u64,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NoCycle => f.write_str("read outside a cycle"),
            ReadError::PartialFrame => f.write_str("buffer is not a whole number of frames"),
            ReadError::RingTooSmall => f.write_str("ring mapping smaller than the layout"),
            ReadError::OutOfWindow {
                start,
                frames,
                floor,
                hw,
            } => write!(
                f,
                "frames {start}..{} are outside the readable window {floor}..{hw}",
                start + frames
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// What [`RingReader::begin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCycle {
    /// The hardware position the cycle is based on.
    pub hw: u64,
    /// Finished frames waiting to be read (after any re-anchor).
    pub available: u64,
    /// Whether the hardware had lapped the reader (an overrun).
    pub overrun: bool,
    /// Frames skipped by the re-anchor (lost to the overrun).
    pub lost: u64,
    /// Whether this cycle anchored the cursor for the first time.
    pub first: bool,
}

/// Keeps the 64-bit read cursor; see the module docs.
#[derive(Debug, Clone)]
pub struct RingReader {
    layout: StreamLayout,
    channels: usize,
    frame_bytes: usize,
    cursor: u64,
    anchored: bool,
    in_cycle: bool,
    hw: u64,
    granule: u64,
    overruns: u64,
    frames_lost: u64,
    frames_read: u64,
}

impl RingReader {
    /// A reader for a ring with `layout`; anchored by the first
    /// [`RingReader::begin`].
    pub fn new(layout: &StreamLayout) -> Self {
        Self {
            layout: *layout,
            channels: layout.channels as usize,
            frame_bytes: layout.frame_bytes(),
            cursor: 0,
            anchored: false,
            in_cycle: false,
            hw: 0,
            granule: 1,
            overruns: 0,
            frames_lost: 0,
            frames_read: 0,
        }
    }

    /// The next frame to be read (64-bit device frame clock).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Whether the cursor has been anchored.
    pub fn is_anchored(&self) -> bool {
        self.anchored
    }

    /// Overruns seen so far (laps and torn blocks).
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Frames lost to overruns so far.
    pub fn frames_lost(&self) -> u64 {
        self.frames_lost
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// The oldest frame that cannot have been overwritten with the
    /// hardware at `hw` moving `granule` frames at a time.
    fn floor_at(&self, hw: u64, granule: u64) -> u64 {
        (hw + granule).saturating_sub(self.layout.buffer_size)
    }

    /// Starts a cycle with the hardware's reported position at `hw`, moving
    /// `granule` frames at a time. The first cycle anchors the cursor at
    /// `hw - keep` (within the intact window); a cursor the hardware has
    /// lapped is counted as an overrun and re-anchored the same way.
    pub fn begin(&mut self, hw: u64, granule: u64, keep: u64) -> ReadCycle {
        let granule = granule.clamp(1, self.layout.buffer_size);
        let floor = self.floor_at(hw, granule);
        let first = !self.anchored;
        let mut overrun = false;
        let mut lost = 0;
        if first || self.cursor < floor {
            let anchor = hw.saturating_sub(keep).max(floor);
            if !first {
                overrun = true;
                self.overruns += 1;
                lost = anchor - self.cursor;
                self.frames_lost += lost;
            }
            self.cursor = anchor;
            self.anchored = true;
        }
        self.hw = hw.max(self.cursor);
        self.granule = granule;
        self.in_cycle = true;
        ReadCycle {
            hw,
            available: self.hw - self.cursor,
            overrun,
            lost,
            first,
        }
    }

    /// Finished frames not yet read in this cycle.
    pub fn available(&self) -> u64 {
        if !self.in_cycle {
            return 0;
        }
        self.hw - self.cursor
    }

    fn check(&self, ring: &RingView, frames: u64) -> Result<(), ReadError> {
        if !self.in_cycle {
            return Err(ReadError::NoCycle);
        }
        if ring.len() < self.layout.ring_bytes() {
            return Err(ReadError::RingTooSmall);
        }
        let floor = self.floor_at(self.hw, self.granule);
        if self.cursor < floor || self.cursor + frames > self.hw {
            return Err(ReadError::OutOfWindow {
                start: self.cursor,
                frames,
                floor,
                hw: self.hw,
            });
        }
        Ok(())
    }

    fn pieces(&self, frames: u64) -> [(usize, usize); 2] {
        crate::ring::pieces(self.cursor, frames, self.layout.buffer_size, self.frame_bytes)
    }

    /// Copies whole frames at the cursor into `out` in the ring's format
    /// and advances the cursor. Returns the frame time of `out[0]`.
    pub fn read_raw(&mut self, ring: &RingView, out: &mut [u8]) -> Result<u64, ReadError> {
        if out.len().checked_rem(self.frame_bytes) != Some(0) {
            return Err(ReadError::PartialFrame);
        }
        let frames = (out.len() / self.frame_bytes) as u64;
        self.check(ring, frames)?;
        let mut done = 0usize;
        for (offset, n) in self.pieces(frames) {
            if n == 0 {
                continue;
            }
            let len = n * self.frame_bytes;
            // SAFETY: `check` keeps the range inside the ring and inside
            // the finished window (below the reported hw_ptr, above the
            // floor), which the hardware does not write this cycle; the
            // slice lives only for this copy.
            let src = unsafe { ring.slice(offset, len) };
            out[done..done + len].copy_from_slice(src);
            done += len;
        }
        let at = self.cursor;
        self.cursor += frames;
        self.frames_read += frames;
        Ok(at)
    }

    /// Converts whole frames at the cursor into interleaved f32 in `out`
    /// and advances the cursor. Returns the frame time of `out[0]`.
    pub fn read(&mut self, ring: &RingView, out: &mut [f32]) -> Result<u64, ReadError> {
        if out.len().checked_rem(self.channels) != Some(0) {
            return Err(ReadError::PartialFrame);
        }
        let frames = (out.len() / self.channels) as u64;
        self.check(ring, frames)?;
        let mut done = 0usize;
        for (offset, n) in self.pieces(frames) {
            if n == 0 {
                continue;
            }
            // SAFETY: as in `read_raw`.
            let src = unsafe { ring.slice(offset, n * self.frame_bytes) };
            let dst = &mut out[done * self.channels..(done + n) * self.channels];
            convert::decode(self.layout.format, src, dst);
            done += n;
        }
        let at = self.cursor;
        self.cursor += frames;
        self.frames_read += frames;
        Ok(at)
    }

    /// Whether frames from `start` on are still intact with the hardware
    /// possibly as far as `hw_bound` now (a bound taken after the copy):
    /// the hardware, writing up to a granule past its position, has not
    /// reached their ring slots again. Call after a read with the read's
    /// frame time; on `false` drop what was read and call
    /// [`RingReader::torn`].
    pub fn intact(&self, start: u64, hw_bound: u64) -> bool {
        hw_bound + self.granule <= start + self.layout.buffer_size
    }

    /// Whether frames from `start` on are close enough to being lapped
    /// (within a quarter buffer of it, with the hardware possibly at
    /// `hw_bound`) that a model-based bound is not evidence enough: the
    /// caller should read the device position afresh and check
    /// [`RingReader::intact`] against it. A device whose position jumps
    /// (a late timer catching up, as snd-aloop under load) can be further
    /// along than any projection.
    pub fn near_floor(&self, start: u64, hw_bound: u64) -> bool {
        hw_bound + self.granule + self.layout.buffer_size / 4 > start + self.layout.buffer_size
    }

    /// Counts a block that [`RingReader::intact`] rejected as an overrun of
    /// `frames` frames; the next [`RingReader::begin`] re-anchors if the
    /// cursor is behind the floor by then.
    pub fn torn(&mut self, frames: u64) {
        self.overruns += 1;
        self.frames_lost += frames;
        self.frames_read -= frames.min(self.frames_read);
        self.in_cycle = false;
    }

    /// Ends the cycle's reads (a duplex loop re-anchors on an output
    /// underrun): the next [`RingReader::begin`] anchors afresh at
    /// `hw - keep` and does not count an overrun.
    pub fn reanchor(&mut self) {
        self.anchored = false;
        self.in_cycle = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Format;
    use std::ptr::NonNull;

    fn layout(format: Format) -> StreamLayout {
        StreamLayout {
            format,
            channels: 2,
            rate: 48_000,
            period_size: 64,
            buffer_size: 256,
            boundary: 256 << 10,
        }
    }

    struct Ring(Vec<u8>, RingView);
    fn ring(l: &StreamLayout) -> Ring {
        let mut v = vec![0u8; l.ring_bytes()];
        let p = NonNull::new(v.as_mut_ptr()).unwrap();
        // SAFETY: the Vec lives beside the view in `Ring` and is never resized.
        let view = unsafe { RingView::new(p, v.len()) };
        Ring(v, view)
    }

    /// The "hardware": writes frame n's counter values into its slot.
    fn capture(l: &StreamLayout, r: &Ring, from: u64, to: u64) {
        let mut s = [0.0f32; 2];
        let mut b = vec![0u8; l.frame_bytes()];
        for n in from..to {
            s[0] = crate::sim::FrameCounter::sample(n, 0);
            s[1] = crate::sim::FrameCounter::sample(n, 1);
            convert::encode(l.format, &s, &mut b);
            let off = (n % l.buffer_size) as usize * l.frame_bytes();
            // SAFETY: in bounds; the test is single-threaded.
            unsafe { r.1.slice_mut(off, b.len()) }.copy_from_slice(&b);
        }
        let _ = &r.0;
    }

    #[test]
    fn reads_only_finished_frames_across_the_wrap_in_every_format() {
        for fmt in Format::ALL {
            let l = layout(fmt);
            let r = ring(&l);
            let mut rd = RingReader::new(&l);
            capture(&l, &r, 0, 100);
            let c = rd.begin(100, 16, 100);
            assert!(c.first && !c.overrun);
            assert_eq!((rd.cursor(), c.available), (0, 100));
            let mut hw = 100;
            let mut next = 0u64;
            let mut out = vec![0.0f32; 2 * 32];
            for _ in 0..40 {
                while rd.available() >= 32 {
                    let t = rd.read(&r.1, &mut out).unwrap();
                    assert_eq!(t, next);
                    assert!(rd.intact(t, hw));
                    for (i, f) in out.chunks_exact(2).enumerate() {
                        assert_eq!(crate::sim::FrameCounter::index_of(f), Some(t + i as u64));
                    }
                    next += 32;
                }
                // Asking for more than is finished is refused.
                assert!(matches!(
                    rd.read(&r.1, &mut vec![0.0; 2 * 64]),
                    Err(ReadError::OutOfWindow { .. })
                ));
                capture(&l, &r, hw, hw + 48);
                hw += 48;
                let c = rd.begin(hw, 16, 0);
                assert!(!c.overrun, "{fmt}");
            }
            assert_eq!(rd.overruns(), 0);
            assert!(next > 3 * l.buffer_size, "went round the ring");
        }
    }

    #[test]
    fn an_overrun_is_counted_and_reanchored() {
        let l = layout(Format::S16Le);
        let r = ring(&l);
        let mut rd = RingReader::new(&l);
        rd.begin(0, 16, 0);
        capture(&l, &r, 0, 1000);
        // The hardware went 1000 frames on: all but the last
        // buffer - granule frames are gone.
        let c = rd.begin(1000, 16, 64);
        assert!(c.overrun);
        assert_eq!(rd.cursor(), 936);
        assert_eq!(c.lost, 936);
        assert_eq!((rd.overruns(), rd.frames_lost()), (1, 936));
        let mut out = vec![0.0f32; 2 * 64];
        let t = rd.read(&r.1, &mut out).unwrap();
        assert_eq!(t, 936);
        assert_eq!(
            crate::sim::FrameCounter::index_of(&out[..2]),
            Some(936),
            "re-anchored data is the right data"
        );
        // The cursor (1000) exactly at the floor: nothing lost yet.
        let c = rd.begin(1000 + 256 - 16, 16, 0);
        assert!(!c.overrun && c.available == 240);
        // One frame further: the hardware may be overwriting frame 1000.
        let c = rd.begin(1000 + 256 - 16 + 1, 16, 0);
        assert!(c.overrun);
        assert_eq!((rd.cursor(), c.lost), (1241, 241));
    }

    /// What the writer encodes, the reader decodes to the same f32, and
    /// encoding that again gives the same ring bytes: every S16 code in
    /// every format; S24 codes in both 24-bit containers; S32 and F32 for
    /// arbitrary writer input (S32 codes are exact where f32 holds them:
    /// the writer's own output from f32 always re-encodes to itself).
    #[test]
    fn the_writers_conversion_reads_back_exactly() {
        let mut src: Vec<f32> = (i16::MIN..=i16::MAX)
            .map(|c| f32::from(c) / 32_768.0)
            .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            src.push(((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0);
        }
        let s16_codes = 65_536;
        for fmt in Format::ALL {
            let mut ring = vec![0u8; src.len() * fmt.sample_bytes()];
            convert::encode(fmt, &src, &mut ring);
            let mut back = vec![0.0f32; src.len()];
            convert::decode(fmt, &ring, &mut back);
            let mut again = vec![0u8; ring.len()];
            convert::encode(fmt, &back, &mut again);
            assert!(
                ring == again,
                "{fmt}: re-encoding what was read changed the bytes"
            );
            // Values on the S16 grid come back as the very same f32.
            assert_eq!(&back[..s16_codes], &src[..s16_codes], "{fmt}");
            if fmt == Format::F32Le {
                assert_eq!(back, src, "F32 passes bit for bit");
            }
        }
        let mut f = [0.0f32];
        let mut c = -(1i32 << 23);
        while c < 1 << 23 {
            for fmt in [Format::S24Le, Format::S24_3Le] {
                let b = c.to_le_bytes();
                convert::decode(fmt, &b[..fmt.sample_bytes()], &mut f);
                assert_eq!(convert::to_s24(f[0]), c, "{fmt}");
            }
            c += 31;
        }
    }

    #[test]
    fn a_block_the_hardware_reached_during_the_copy_is_torn() {
        let l = layout(Format::S16Le);
        let r = ring(&l);
        let mut rd = RingReader::new(&l);
        capture(&l, &r, 0, 200);
        rd.begin(200, 16, 200);
        let mut out = vec![0.0f32; 2 * 32];
        let t = rd.read(&r.1, &mut out).unwrap();
        assert!(rd.intact(t, 240));
        assert!(
            !rd.intact(t, 241),
            "hw + granule reached the slot of frame 0"
        );
        rd.torn(32);
        assert_eq!((rd.overruns(), rd.frames_read()), (1, 0));
        assert_eq!(rd.read(&r.1, &mut out), Err(ReadError::NoCycle));
    }
}
