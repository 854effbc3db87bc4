//! The ring writer: a 64-bit write cursor kept just ahead of the hardware.
//!
//! Each cycle starts with [`RingWriter::begin`] at a [`HwWindow`]: the
//! device's latest reported position `hw` (64-bit, widened), the
//! interpolated position `now` (between `hw` and `hw + granule`, from
//! [`crate::position`]) and the granule:
//!
//! * the frames `[hw, hw + granule)` may be in the hardware's hands (a
//!   batch device reads the whole period after its pointer), and a frame
//!   `f` shares its ring slot with `f - buffer_size`, so this cycle may
//!   write only `[hw + granule, hw + buffer_size)`;
//! * if the cursor is below that window, the hardware has passed it (an
//!   underrun): the writer counts an xrun and re-anchors the cursor at
//!   `now + margin`, then goes on. No PREPARE is needed, so this works on a
//!   restricted BUFFER fd and on free-running streams. The frames skipped
//!   between the window's start and the new cursor are written as silence
//!   by the next [`RingWriter::fill`] (so nothing stale plays there, and a
//!   device that tracks what was written sees exactly the missed frames).
//!   The first cycle anchors the same way.
//!
//! [`RingWriter::fill`] then renders whole blocks at the cursor up to a
//! target (the engine uses `pos + margin + wake interval`), converts each
//! into the ring's format with [`crate::convert`] in one or two contiguous
//! pieces (across the ring's end), and finally calls
//! [`Device::commit`] with the cursor (a full PCM in normal mode advances
//! `appl_ptr`; free-running devices ignore it; the simulated device uses it
//! to tell written frames from underruns).

use crate::convert;
use crate::device::Device;
use crate::layout::StreamLayout;
use crate::ring::RingView;

/// A write the writer refused: a bug in the caller, not a device fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The frames fall outside the window of the current cycle.
    OutOfWindow {
        /// First frame of the write.
        start: u64,
        /// Frames in the write.
        frames: u64,
        /// First writable frame.
        floor: u64,
        /// One past the last writable frame.
        ceiling: u64,
    },
    /// The sample count is not a whole number of frames.
    PartialFrame,
    /// The mapped ring is smaller than the layout says.
    RingTooSmall,
    /// [`RingWriter::begin`] was not called first.
    NoCycle,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::OutOfWindow {
                start,
                frames,
                floor,
                ceiling,
            } => write!(
                f,
                "write of {frames} frames at {start} outside the safe window [{floor}, {ceiling})"
            ),
            WriteError::PartialFrame => f.write_str("sample count is not a whole number of frames"),
            WriteError::RingTooSmall => f.write_str("mapped ring is smaller than the layout"),
            WriteError::NoCycle => f.write_str("write outside a cycle"),
        }
    }
}

impl std::error::Error for WriteError {}

/// Where the hardware is, as the writer needs it (64-bit frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwWindow {
    /// The latest position the device reported.
    pub hw: u64,
    /// The interpolated position now (`hw ..= hw + granule`).
    pub now: u64,
    /// Frames the hardware may hold past `hw` (period for batch devices).
    pub granule: u64,
}

impl HwWindow {
    /// A window where the reported and interpolated positions agree.
    pub fn at(pos: u64, granule: u64) -> Self {
        Self {
            hw: pos,
            now: pos,
            granule,
        }
    }
}

/// What [`RingWriter::begin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// The hardware position the cycle is based on.
    pub position: u64,
    /// Frames written ahead of the position when the cycle began (negative
    /// after an underrun); the margin actually left at wake-up.
    pub lead: i64,
    /// Whether this cycle found an underrun and re-anchored.
    pub xrun: bool,
    /// Whether this is the first cycle (the cursor was anchored).
    pub first: bool,
}

/// Keeps the 64-bit write cursor; see the module docs.
#[derive(Debug, Clone)]
pub struct RingWriter {
    layout: StreamLayout,
    channels: usize,
    frame_bytes: usize,
    cursor: u64,
    anchored: bool,
    in_cycle: bool,
    floor: u64,
    ceiling: u64,
    gap: Option<(u64, u64)>,
    xruns: u64,
    frames_written: u64,
}

impl RingWriter {
    /// A writer for a ring with `layout`; the cursor is anchored by the
    /// first [`RingWriter::begin`].
    pub fn new(layout: &StreamLayout) -> Self {
        Self {
            layout: *layout,
            channels: layout.channels as usize,
            frame_bytes: layout.frame_bytes(),
            cursor: 0,
            anchored: false,
            in_cycle: false,
            floor: 0,
            ceiling: 0,
            gap: None,
            xruns: 0,
            frames_written: 0,
        }
    }

    /// The next frame to be written (64-bit device frame clock).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Whether the cursor has been anchored (by a first
    /// [`RingWriter::begin`]).
    pub fn is_anchored(&self) -> bool {
        self.anchored
    }

    /// Underruns seen so far.
    pub fn xruns(&self) -> u64 {
        self.xruns
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames_written
    }

    /// Starts a cycle with the hardware at `at`, keeping `margin` frames
    /// written ahead of `at.now` (see the module docs).
    pub fn begin(&mut self, at: HwWindow, margin: u64) -> Cycle {
        let granule = at.granule.clamp(1, self.layout.buffer_size);
        let margin = margin.max(granule);
        let now = at.now.max(at.hw);
        let lead = self.cursor as i64 - now as i64;
        let first = !self.anchored;
        let mut xrun = false;
        self.floor = at.hw + granule;
        self.ceiling = at.hw + self.layout.buffer_size;
        if first || self.cursor < self.floor {
            if !first {
                self.xruns += 1;
                xrun = true;
            }
            self.anchored = true;
            let anchor = (now + margin).max(self.floor);
            self.gap = (anchor > self.floor).then_some((self.floor, anchor));
            self.cursor = anchor;
        }
        self.in_cycle = true;
        Cycle {
            position: now,
            lead,
            xrun,
            first,
        }
    }

    /// Frames that can still be written this cycle to reach `target`.
    pub fn room(&self, target: u64) -> u64 {
        if !self.in_cycle {
            return 0;
        }
        target.min(self.ceiling).saturating_sub(self.cursor)
    }

    fn check(&self, ring: &RingView, frames: u64) -> Result<(), WriteError> {
        if !self.in_cycle {
            return Err(WriteError::NoCycle);
        }
        if ring.len() < self.layout.ring_bytes() {
            return Err(WriteError::RingTooSmall);
        }
        if self.cursor < self.floor || self.cursor + frames > self.ceiling {
            return Err(WriteError::OutOfWindow {
                start: self.cursor,
                frames,
                floor: self.floor,
                ceiling: self.ceiling,
            });
        }
        Ok(())
    }

    /// The ring's byte pieces for `frames` frames at the cursor: one, or
    /// two when the range crosses the ring's end.
    fn pieces(&self, frames: u64) -> [(usize, usize); 2] {
        crate::ring::pieces(self.cursor, frames, self.layout.buffer_size, self.frame_bytes)
    }

    /// Converts interleaved `samples` (whole frames) into the ring at the
    /// cursor and advances it.
    pub fn write(&mut self, ring: &RingView, samples: &[f32]) -> Result<(), WriteError> {
        if samples.len().checked_rem(self.channels) != Some(0) {
            return Err(WriteError::PartialFrame);
        }
        let frames = (samples.len() / self.channels) as u64;
        self.check(ring, frames)?;
        let mut done = 0usize;
        for (offset, n) in self.pieces(frames) {
            if n == 0 {
                continue;
            }
            let src = &samples[done * self.channels..(done + n) * self.channels];
            // SAFETY: `check` put the range inside the ring (ring_bytes <=
            // len, and `pieces` stays within one buffer) and inside the
            // window the hardware cannot be reading this cycle; the writer
            // is the ring's only writer, so nobody else touches these bytes.
            let dst = unsafe { ring.slice_mut(offset, n * self.frame_bytes) };
            convert::encode(self.layout.format, src, dst);
            done += n;
        }
        self.cursor += frames;
        self.frames_written += frames;
        Ok(())
    }

    /// Writes `frames` frames of silence at the cursor and advances it.
    pub fn write_silence(&mut self, ring: &RingView, frames: u64) -> Result<(), WriteError> {
        self.check(ring, frames)?;
        for (offset, n) in self.pieces(frames) {
            if n == 0 {
                continue;
            }
            // SAFETY: as in `write`: checked bounds, the cycle's window.
            convert::silence(unsafe { ring.slice_mut(offset, n * self.frame_bytes) });
        }
        self.cursor += frames;
        self.frames_written += frames;
        Ok(())
    }

    /// Renders and writes whole blocks of `block` frames until the cursor
    /// reaches `target` (the last block may end up to `block - 1` frames
    /// past it; rounding down instead would leave the lead short of the
    /// target by as much) or the window's end, then commits the cursor to
    /// the device. `produce(frame_time, samples)` fills one block of
    /// interleaved f32 for the frames starting at `frame_time` and returns
    /// whether to write it: `false` drops the block and ends the fill (the
    /// caller found it too late, e.g. the render took so long that the
    /// hardware reached the cursor). `scratch` holds at least
    /// `block * channels` samples. Returns the frames written.
    pub fn fill<D, P>(
        &mut self,
        dev: &mut D,
        scratch: &mut [f32],
        block: usize,
        target: u64,
        mut produce: P,
    ) -> crate::Result<u64, FillError>
    where
        D: Device + ?Sized,
        P: FnMut(u64, &mut [f32]) -> bool,
    {
        let samples = block * self.channels;
        let Some(buf) = scratch.get_mut(..samples) else {
            return Err(FillError::Write(WriteError::PartialFrame));
        };
        let mut written = 0u64;
        let mut padded = false;
        if let Some((from, to)) = self.gap.take() {
            // Silence over the frames skipped by the last re-anchor (not
            // counted as written frames: nothing was rendered there).
            let cursor = self.cursor;
            self.cursor = from;
            let r = self.write_silence(dev.ring(), to - from);
            self.cursor = cursor;
            r.map_err(FillError::Write)?;
            self.frames_written -= to - from;
            padded = true;
        }
        // Whole blocks until the cursor reaches the target (the last one
        // may end past it: the lead after a fill is never short of the
        // target), as far as the window allows.
        while block > 0 && self.cursor < target && self.room(u64::MAX) >= block as u64 {
            if !produce(self.cursor, buf) {
                break;
            }
            self.write(dev.ring(), buf).map_err(FillError::Write)?;
            written += block as u64;
            if dev.commit_each_block() {
                dev.commit(self.cursor).map_err(FillError::Commit)?;
            }
        }
        if written > 0 || padded {
            dev.commit(self.cursor).map_err(FillError::Commit)?;
        }
        Ok(written)
    }

    /// Silences the ring past what was already written, for a stop:
    /// `[max(cursor, hw + granule), hw + buffer_size)`, where `hw` is the
    /// device's reported position. Frames before the cursor hold audio
    /// already queued; they are left to play out (at most the margin), so
    /// this never overwrites a frame the hardware may be copying, even when
    /// its next step is longer than the granule. What lies past the cursor
    /// is stale audio from one buffer ago, which would otherwise be played
    /// again. Returns the end of the silenced range, for a final
    /// [`Device::commit`].
    pub fn silence_ahead(
        &mut self,
        ring: &RingView,
        hw: u64,
        granule: u64,
    ) -> Result<u64, WriteError> {
        if ring.len() < self.layout.ring_bytes() {
            return Err(WriteError::RingTooSmall);
        }
        let granule = granule.clamp(1, self.layout.buffer_size);
        let end = hw + self.layout.buffer_size;
        let start = self.cursor.max(hw + granule).min(end);
        self.cursor = start;
        for (offset, n) in self.pieces(end - start) {
            if n == 0 {
                continue;
            }
            // SAFETY: in bounds (pieces stays within one buffer, the ring
            // is at least ring_bytes); the range starts at or past both the
            // cursor and the granule, which the hardware cannot be reading,
            // and ends one buffer past the hardware; the writer is the only
            // writer.
            convert::silence(unsafe { ring.slice_mut(offset, n * self.frame_bytes) });
        }
        self.cursor = end;
        self.in_cycle = false;
        Ok(end)
    }
}

/// Why [`RingWriter::fill`] stopped.
#[derive(Debug)]
pub enum FillError {
    /// The writer refused a write (a bug).
    Write(WriteError),
    /// [`Device::commit`] failed.
    Commit(crate::error::DeviceError),
}

impl std::fmt::Display for FillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FillError::Write(e) => write!(f, "ring write refused: {e}"),
            FillError::Commit(e) => write!(f, "commit failed: {e}"),
        }
    }
}

impl std::error::Error for FillError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{HwPosition, PcmState, PositionSource};
    use crate::layout::Format;
    use std::os::fd::BorrowedFd;
    use std::ptr::NonNull;

    /// An in-memory device: a heap ring, a settable pointer, recorded commits.
    struct Fake {
        layout: StreamLayout,
        _mem: Vec<u8>,
        ring: RingView,
        hw_ptr: u64,
        commits: Vec<u64>,
    }

    impl Fake {
        fn new(format: Format, buffer: u64, boundary: u64) -> Self {
            let layout = StreamLayout {
                format,
                channels: 2,
                rate: 48_000,
                period_size: buffer / 4,
                buffer_size: buffer,
                boundary,
            };
            let mut mem = vec![0xEEu8; layout.ring_bytes()];
            let ptr = NonNull::new(mem.as_mut_ptr()).expect("vec pointer");
            // SAFETY: the Vec's heap buffer lives as long as Fake (which
            // owns both) and does not move when Fake moves; the Vec is never
            // touched again except through the view.
            let ring = unsafe { RingView::new(ptr, mem.len()) };
            Self {
                layout,
                _mem: mem,
                ring,
                hw_ptr: 0,
                commits: Vec::new(),
            }
        }

        fn frame(&self, slot: u64) -> Vec<u8> {
            let fb = self.layout.frame_bytes();
            // SAFETY: single-threaded test; slot < buffer_size.
            unsafe { self.ring.slice(slot as usize * fb, fb) }.to_vec()
        }
    }

    impl Device for Fake {
        fn layout(&self) -> StreamLayout {
            self.layout
        }
        fn ring(&self) -> &RingView {
            &self.ring
        }
        fn position(&mut self) -> Result<HwPosition, crate::error::DeviceError> {
            Ok(HwPosition {
                state: PcmState::Running,
                hw_ptr: self.hw_ptr % self.layout.boundary,
                tstamp_ns: 0,
                audio_tstamp_ns: 0,
            })
        }
        fn position_source(&self) -> PositionSource {
            PositionSource::Simulated
        }
        fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
            None
        }
        fn commit(&mut self, appl: u64) -> Result<(), crate::error::DeviceError> {
            self.commits.push(appl);
            Ok(())
        }
    }

    /// A signal whose value names the frame: frame f, channel c → code
    /// (f * 2 + c) mod 30000, in S16 units.
    fn produce(t: u64, out: &mut [f32]) -> bool {
        for (i, s) in out.iter_mut().enumerate() {
            let f = t + (i / 2) as u64;
            let code = ((f * 2 + (i % 2) as u64) % 30_000) as f32;
            *s = code / 32768.0;
        }
        true
    }

    fn expect(f: u64) -> Vec<u8> {
        let a = ((f * 2) % 30_000) as i16;
        let b = ((f * 2 + 1) % 30_000) as i16;
        [a.to_le_bytes(), b.to_le_bytes()].concat()
    }

    #[test]
    fn fills_to_target_in_blocks_and_commits() {
        let mut d = Fake::new(Format::S16Le, 1024, 1024 * 64);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 64 * 2];
        let c = w.begin(HwWindow::at(0, 16), 100);
        assert!(c.first && !c.xrun);
        assert_eq!(w.cursor(), 100);
        let n = w.fill(&mut d, &mut scratch, 64, 100 + 64 * 3, produce);
        assert_eq!(n.ok(), Some(192));
        assert_eq!(w.cursor(), 292);
        assert_eq!(d.commits, vec![292]);
        for f in 100..292 {
            assert_eq!(d.frame(f), expect(f), "frame {f}");
        }
        // Silence from the window's start to the anchor, nothing in the
        // granule or after the cursor.
        for f in 16..100 {
            assert_eq!(d.frame(f), vec![0; 4], "frame {f}");
        }
        assert_eq!(d.frame(15), vec![0xEE; 4]);
        assert_eq!(d.frame(292), vec![0xEE; 4]);
        // At the target: nothing written, no commit.
        let n = w.fill(&mut d, &mut scratch, 64, 292, produce);
        assert_eq!(n.ok(), Some(0));
        assert_eq!(d.commits.len(), 1);
        // Less than a block short of the target: one whole block, ending
        // past it (the lead never falls short of the target).
        let n = w.fill(&mut d, &mut scratch, 64, 292 + 1, produce);
        assert_eq!(n.ok(), Some(64));
        assert_eq!(w.cursor(), 356);
        assert_eq!(d.commits, vec![292, 356]);
    }

    /// A batch device: the pointer reports period starts; interpolation
    /// runs ahead within the period. The window follows the reported
    /// pointer, so a cursor inside the next period is not an underrun.
    #[test]
    fn batch_window_follows_the_reported_pointer() {
        let mut d = Fake::new(Format::S16Le, 1024, 1 << 20);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 32 * 2];
        w.begin(HwWindow::at(0, 256), 300);
        assert!(w
            .fill(&mut d, &mut scratch, 32, 300 + 32 * 8, produce)
            .is_ok());
        assert_eq!(w.cursor(), 556);
        // Reported 256, interpolated 500: lead 56 frames, yet frame 556 is
        // past the period in flight ([256, 512)): no underrun.
        let at = HwWindow {
            hw: 256,
            now: 500,
            granule: 256,
        };
        let c = w.begin(at, 300);
        assert!(!c.xrun);
        assert_eq!(c.lead, 56);
        // Filling to now + margin + block writes on from the cursor.
        assert!(w
            .fill(&mut d, &mut scratch, 32, 500 + 300 + 32, produce)
            .is_ok());
        assert_eq!(w.cursor(), 844);
        // Reported 768 (the period [768, 1024) in flight): 844 < 1024 is.
        let c = w.begin(
            HwWindow {
                hw: 768,
                now: 800,
                granule: 256,
            },
            300,
        );
        assert!(c.xrun);
        assert_eq!(w.cursor(), 1100);
    }

    #[test]
    fn a_dropped_block_ends_the_fill() {
        let mut d = Fake::new(Format::S16Le, 1024, 1024 * 64);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 32 * 2];
        w.begin(HwWindow::at(0, 8), 64);
        let mut calls = 0;
        let n = w.fill(&mut d, &mut scratch, 32, 64 + 32 * 4, |t, out| {
            calls += 1;
            produce(t, out) && calls < 3
        });
        assert_eq!(n.ok(), Some(64), "two blocks written, the third dropped");
        assert_eq!(calls, 3);
        assert_eq!(w.cursor(), 128);
        assert_eq!(d.commits, vec![128]);
        assert_eq!(d.frame(128), vec![0xEE; 4]);
    }

    #[test]
    fn wraps_the_ring_end_in_two_pieces() {
        let mut d = Fake::new(Format::S24_3Le, 1000, 1000 * 8);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 300 * 2];
        w.begin(HwWindow::at(700, 50), 200); // cursor 900, 100 frames before the end
        let n = w.fill(&mut d, &mut scratch, 300, 1200, produce);
        assert_eq!(n.ok(), Some(300));
        let fb = d.layout.frame_bytes();
        let mut want = vec![0u8; 300 * fb];
        let mut src = vec![0.0; 600];
        produce(900, &mut src);
        convert::encode(Format::S24_3Le, &src, &mut want);
        // SAFETY: single-threaded test, in bounds.
        let tail = unsafe { d.ring.slice(900 * fb, 100 * fb) }.to_vec();
        // SAFETY: as above.
        let head = unsafe { d.ring.slice(0, 200 * fb) }.to_vec();
        assert_eq!(tail, want[..100 * fb]);
        assert_eq!(head, want[100 * fb..]);
        assert_eq!(d.frame(200), vec![0xEE; fb], "nothing past the piece");
    }

    #[test]
    fn positions_across_boundary_map_to_the_same_slots() {
        let boundary = 1024 * 4;
        let mut d = Fake::new(Format::S16Le, 1024, boundary);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 32 * 2];
        // Widened position just below the boundary; the cursor goes past it.
        let pos = boundary - 40;
        w.begin(HwWindow::at(pos, 8), 20);
        let n = w.fill(&mut d, &mut scratch, 32, pos + 20 + 96, produce);
        assert_eq!(n.ok(), Some(96));
        assert_eq!(w.cursor(), boundary + 76);
        assert_eq!(d.commits, vec![boundary + 76]);
        for f in pos + 20..boundary + 76 {
            assert_eq!(d.frame(f % 1024), expect(f), "frame {f}");
        }
    }

    #[test]
    fn underrun_counts_and_reanchors() {
        let mut d = Fake::new(Format::S16Le, 1024, 1 << 20);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 32 * 2];
        w.begin(HwWindow::at(0, 8), 64);
        assert!(w.fill(&mut d, &mut scratch, 32, 64 + 32, produce).is_ok());
        assert_eq!(w.cursor(), 96);
        // The hardware got to 90: only 6 frames left, less than a granule.
        let c = w.begin(HwWindow::at(90, 8), 64);
        assert!(c.xrun);
        assert_eq!(c.lead, 6);
        assert_eq!(w.xruns(), 1);
        assert_eq!(w.cursor(), 154);
        // Way past the cursor: negative lead, one more xrun.
        let c = w.begin(HwWindow::at(500, 8), 64);
        assert!(c.xrun && c.lead < 0);
        assert_eq!(w.cursor(), 564);
        // Enough lead: no xrun.
        let c = w.begin(HwWindow::at(520, 8), 64);
        assert!(!c.xrun);
        assert_eq!(c.lead, 44);
        assert_eq!(w.xruns(), 2);
    }

    #[test]
    fn never_writes_where_the_hardware_may_read() {
        let mut d = Fake::new(Format::S16Le, 256, 256 * 16);
        let mut w = RingWriter::new(&d.layout);
        let mut scratch = vec![0.0; 16 * 2];
        let mut pos = 0u64;
        let granule = 24;
        for _ in 0..200 {
            // Mark the granule the hardware is reading with a sentinel.
            let c = w.begin(HwWindow::at(pos, granule), 48);
            let _ = c;
            for f in pos..pos + granule {
                let fb = d.layout.frame_bytes();
                // SAFETY: single-threaded test, in bounds.
                unsafe { d.ring.slice_mut((f % 256) as usize * fb, fb) }.fill(0x5A);
            }
            assert!(w
                .fill(&mut d, &mut scratch, 16, pos + 48 + 16 * 3, produce)
                .is_ok());
            for f in pos..pos + granule {
                assert_eq!(
                    d.frame(f % 256),
                    vec![0x5A; 4],
                    "wrote frame {f} in the granule"
                );
            }
            // Nothing was written a ring or more ahead of the reader.
            assert!(w.cursor() <= pos + 256);
            pos += 37;
        }
        // Direct writes outside the window are refused.
        let mut w = RingWriter::new(&d.layout);
        assert_eq!(w.write(&d.ring, &[0.0; 2]), Err(WriteError::NoCycle));
        w.begin(HwWindow::at(1000, 24), 24);
        let big = vec![0.0f32; 2 * 256];
        assert!(matches!(
            w.write(&d.ring, &big),
            Err(WriteError::OutOfWindow { .. })
        ));
        assert_eq!(w.write(&d.ring, &[0.0; 3]), Err(WriteError::PartialFrame));
    }

    #[test]
    fn silence_ahead_spares_the_granule() {
        let d = Fake::new(Format::S16Le, 256, 256 * 16);
        let mut w = RingWriter::new(&d.layout);
        let pos = 300;
        assert_eq!(w.silence_ahead(&d.ring, pos, 16), Ok(300 + 256));
        // The granule the hardware may be reading is untouched.
        for f in pos..pos + 16 {
            assert_eq!(d.frame(f % 256), vec![0xEE; 4], "frame {f}");
        }
        for f in pos + 16..pos + 256 {
            assert_eq!(d.frame(f % 256), vec![0; 4], "frame {f}");
        }
    }

    #[test]
    fn silence_ahead_leaves_queued_audio_to_play_out() {
        let d = Fake::new(Format::S16Le, 256, 256 * 16);
        let mut w = RingWriter::new(&d.layout);
        // Anchor at 300 + margin 100 = 400 and queue 64 frames there.
        let win = HwWindow {
            hw: 300,
            now: 300,
            granule: 16,
        };
        let _ = w.begin(win, 100);
        assert_eq!(w.cursor(), 400);
        w.write(&d.ring, &[0.5f32; 2 * 64]).expect("queue audio");
        let queued: Vec<_> = (400..464).map(|f| d.frame(f % 256)).collect();
        assert!(queued.iter().all(|f| f != &vec![0; 4]), "audio queued");
        // A stop with the hardware at 302: the queued frames stay (they
        // play out), the rest of the ring up to one buffer past the
        // hardware is silenced, nothing before the cursor is touched.
        assert_eq!(w.silence_ahead(&d.ring, 302, 16), Ok(302 + 256));
        let after: Vec<_> = (400..464).map(|f| d.frame(f % 256)).collect();
        assert_eq!(queued, after, "queued audio untouched");
        for f in 318..400 {
            assert_eq!(d.frame(f % 256), vec![0xEE; 4], "frame {f} untouched");
        }
        for f in 464..302 + 256 {
            assert_eq!(d.frame(f % 256), vec![0; 4], "frame {f} silenced");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever the hardware does (steady, stalled, jumping, near
            /// the boundary, batch or fine-grained), the writer never
            /// touches the granule the hardware may be reading, never
            /// writes a ring or more ahead of it, and every frame from the
            /// anchor to the cursor holds either the signal or silence.
            #[test]
            fn writes_stay_in_the_window(
                start in 0u64..4096,
                near_boundary in any::<bool>(),
                granule in prop::sample::select(vec![1u64, 16, 64, 256]),
                margin in 64u64..400,
                block in prop::sample::select(vec![16usize, 32, 64]),
                steps in prop::collection::vec(0u64..700, 1..60),
            ) {
                let boundary = 1024 * 8;
                let mut d = Fake::new(Format::S16Le, 1024, boundary);
                let mut w = RingWriter::new(&d.layout);
                let mut scratch = vec![0.0; block * 2];
                let mut hw = if near_boundary { boundary - 300 + start % 200 } else { start };
                let mut xruns = 0;
                for step in steps {
                    // Batch devices move in whole granules.
                    hw += step / granule * granule;
                    let now = hw + (step % granule);
                    // Sentinel over the frames the hardware may hold.
                    let fb = d.layout.frame_bytes();
                    for f in hw..hw + granule {
                        // SAFETY: single-threaded test, in bounds.
                        unsafe { d.ring.slice_mut((f % 1024) as usize * fb, fb) }.fill(0x5A);
                    }
                    let before = w.cursor();
                    let c = w.begin(HwWindow { hw, now, granule }, margin);
                    if c.xrun {
                        xruns += 1;
                        prop_assert!(before < hw + granule);
                    } else if !c.first {
                        prop_assert!(before >= hw + granule);
                    }
                    let target = now + margin.max(granule) + block as u64;
                    prop_assert!(w.fill(&mut d, &mut scratch, block, target, produce).is_ok());
                    for f in hw..hw + granule {
                        prop_assert_eq!(d.frame(f % 1024), vec![0x5A; 4], "granule frame {} written", f);
                    }
                    prop_assert!(w.cursor() <= hw + 1024);
                    prop_assert!(w.cursor() >= hw + granule);
                    // Frames between the window start and the cursor: the
                    // signal for that frame, or silence (re-anchor gap).
                    for f in (hw + granule).max(w.cursor().saturating_sub(1024 - granule))..w.cursor() {
                        let got = d.frame(f % 1024);
                        prop_assert!(got == expect(f) || got == vec![0; 4], "frame {} holds {:?}", f, got);
                    }
                }
                prop_assert_eq!(w.xruns(), xruns);
            }
        }
    }
}
