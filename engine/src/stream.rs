//! Streaming sounds: a file decoded on a loader thread into a lock-free ring
//! and played by the mixer as a voice like any other
//! ([`crate::mixer::Mixer::play_stream`]).
//!
//! ```text
//!  loader thread                                        RT thread (one voice)
//!  FileDecoder -> StreamResampler -> ring ==> window of the ring
//!        ^ loop region, seek requests                     -> the mixer's kernels
//! ```
//!
//! - **The ring** holds [`StreamOptions::read_ahead`] of interleaved `f32`
//!   frames at the device rate, with the file's channels (1 to 8: a file of
//!   3 to 8 channels reaches the output through the same documented matrix
//!   as an in-memory sound, [`crate::mixer::OutputLayout::matrix`], so a
//!   5.1 file on a 5.1 device feeds all six speakers). After its end it
//!   repeats its first 4096 frames, so the voice always sees up to that many
//!   frames as one contiguous slice and mixes them with the same kernels as
//!   a [`crate::sound::Sound`]. One writer (the loader), one reader (the
//!   voice); two counters (`written`, `consumed`) with release/acquire
//!   ordering hand frames over; nothing locks, nothing allocates.
//! - **Looping and seeking** happen on the loader: at the loop end it seeks
//!   the decoder back to the loop start (the resampler runs on across the
//!   seam); [`Stream::seek`] asks it to continue from another frame, and
//!   the voice skips what was buffered before the jump.
//! - **Underrun**: when the voice needs frames the loader has not decoded
//!   yet, it plays silence for the rest of the block and does not advance
//!   (the music resumes where it stopped), counts the frames
//!   ([`Stream::underrun_frames`]) and sends one
//!   [`crate::mixer::MixerEvent::StreamUnderrun`] when a run of underruns
//!   begins. It never waits.
//! - **Rates**: a file at another rate is converted on the loader by
//!   [`crate::resample::StreamResampler`]; at the device rate frames pass
//!   through unchanged, so a stream at unit gain and rate plays its file
//!   sample for sample.

use std::cell::UnsafeCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::decode::FileDecoder;
use crate::mixer::Loop;
use crate::resample::StreamResampler;
use crate::sound_error::SoundError;

/// Frames after the ring's end that mirror its start: the longest contiguous
/// window a voice reads at once.
pub(crate) const GUARD_FRAMES: usize = 4096;

/// How to stream a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamOptions {
    /// Decoded audio kept ahead of the voice (default 1 s; at most 2^25
    /// samples, 128 MiB, whatever the channel count).
    pub read_ahead: Duration,
    /// Looping, in frames of the file (at its own rate): [`Loop::Off`],
    /// [`Loop::Whole`] or a [`Loop::Region`] (played from the start, then
    /// the region forever).
    pub looping: Loop,
    /// The file frame to start from.
    pub start: u64,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            read_ahead: Duration::from_secs(1),
            looping: Loop::Off,
            start: 0,
        }
    }
}

impl StreamOptions {
    /// One second of read-ahead, no loop, from the start.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the read-ahead.
    pub fn read_ahead(mut self, d: Duration) -> Self {
        self.read_ahead = d;
        self
    }
    /// Sets the looping (in file frames).
    pub fn looping(mut self, looping: Loop) -> Self {
        self.looping = looping;
        self
    }
    /// Starts from file frame `frame`.
    pub fn start(mut self, frame: u64) -> Self {
        self.start = frame;
        self
    }
}

/// The ring and the counters shared by the loader, the voice and the handles.
pub(crate) struct StreamShared {
    /// `(capacity + GUARD_FRAMES) * channels` samples.
    data: Box<[UnsafeCell<f32>]>,
    capacity: u64,
    pub channels: u16,
    pub rate: u32,
    /// Frames written so far (total, not modulo the capacity).
    written: AtomicU64,
    /// Frames the voice no longer needs.
    consumed: AtomicU64,
    /// The stream index from which frames follow the latest seek.
    jump: AtomicU64,
    /// The last frame is written.
    eof: AtomicBool,
    /// Seek request: file frame + 1 (0 = none).
    seek_req: AtomicU64,
    stop: AtomicBool,
    hold: AtomicBool,
    /// A voice is playing (or has played) this stream.
    pub claimed: AtomicBool,
    pub underrun_frames: AtomicU64,
    pub underruns: AtomicU64,
    pub played: AtomicU64,
    error: Mutex<Option<SoundError>>,
}

// SAFETY: the `UnsafeCell` samples are shared by exactly one writer (the
// loader) and one reader (the voice). The writer only writes frames at
// stream indices in `[written, consumed + capacity)`, the reader only reads
// indices in `[consumed, written)`; the two ranges never share a ring slot
// (nor a mirror slot, which belongs to the same index as its primary), and
// `written` (release by the writer, acquire by the reader) and `consumed`
// (release by the reader, acquire by the writer) order the accesses.
unsafe impl Sync for StreamShared {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for StreamShared {}

impl StreamShared {
    fn new(capacity: usize, channels: u16, rate: u32) -> StreamShared {
        let n = (capacity + GUARD_FRAMES) * channels as usize;
        StreamShared {
            data: (0..n).map(|_| UnsafeCell::new(0.0)).collect(),
            capacity: capacity as u64,
            channels,
            rate,
            written: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            jump: AtomicU64::new(0),
            eof: AtomicBool::new(false),
            seek_req: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            underrun_frames: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            played: AtomicU64::new(0),
            error: Mutex::new(None),
        }
    }

    /// Loader side: free frames in the ring.
    fn space(&self) -> u64 {
        let w = self.written.load(Ordering::Relaxed);
        let c = self.consumed.load(Ordering::Acquire);
        self.capacity - (w - c).min(self.capacity)
    }

    /// Loader side: appends whole frames (at most [`StreamShared::space`]).
    fn write(&self, frames: &[f32]) {
        let ch = self.channels as usize;
        let w = self.written.load(Ordering::Relaxed);
        let n = (frames.len() / ch) as u64;
        debug_assert!(n <= self.space());
        let cap = self.capacity as usize;
        for (k, frame) in frames.chunks_exact(ch).enumerate() {
            let slot = ((w + k as u64) % self.capacity) as usize;
            for (c, &v) in frame.iter().enumerate() {
                // SAFETY: index `w + k` is in `[written, consumed + capacity)`,
                // which the reader does not touch (see the `Sync` impl).
                unsafe { *self.data[slot * ch + c].get() = v };
                if slot < GUARD_FRAMES {
                    // SAFETY: the mirror slot of the same index, as above.
                    unsafe { *self.data[(cap + slot) * ch + c].get() = v };
                }
            }
        }
        self.written.store(w + n, Ordering::Release);
    }

    /// Reader side: frames written so far.
    #[inline]
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Reader side: whether the last frame has been written (check before
    /// [`StreamShared::written`] to see the final count).
    #[inline]
    pub fn finished(&self) -> bool {
        self.eof.load(Ordering::Acquire)
    }

    /// Reader side: the stream index the latest seek continues from.
    #[inline]
    pub fn jump(&self) -> u64 {
        self.jump.load(Ordering::Acquire)
    }

    /// Reader side: releases every frame before `index`.
    #[inline]
    pub fn consume(&self, index: u64) {
        self.consumed.store(index, Ordering::Release);
    }

    /// Reader side: frames `[index, index + frames)` as one slice.
    ///
    /// # Panics
    /// If `frames > GUARD_FRAMES`.
    #[inline]
    pub fn window(&self, index: u64, frames: usize) -> &[f32] {
        assert!(frames <= GUARD_FRAMES);
        let ch = self.channels as usize;
        let slot = (index % self.capacity) as usize;
        let cells = &self.data[slot * ch..(slot + frames) * ch];
        // SAFETY: `UnsafeCell<f32>` has the layout of `f32`. The caller (the
        // one voice) reads only written, unconsumed frames, which the loader
        // does not write while they are in that range (see the `Sync` impl);
        // `slot + frames <= capacity + GUARD_FRAMES` keeps it in bounds.
        unsafe { std::slice::from_raw_parts(cells.as_ptr() as *const f32, cells.len()) }
    }
}

/// A file being streamed: the loader thread and the ring it fills. Play it
/// with [`crate::mixer::Mixer::play_stream`] (once: one voice per stream).
/// Dropping the handle stops the loader: a voice still playing it plays
/// what was decoded, then ends.
pub struct Stream {
    pub(crate) shared: Arc<StreamShared>,
    loader: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("channels", &self.shared.channels)
            .field("rate", &self.shared.rate)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Opens `path` (WAV, FLAC, Ogg Vorbis or MP3) and starts decoding it at
    /// `device_rate` on a loader thread. Errors in the header come back
    /// here; errors later end the stream early ([`Stream::error`]).
    pub fn open(
        path: impl AsRef<Path>,
        device_rate: u32,
        options: StreamOptions,
    ) -> Result<Stream, SoundError> {
        let dec = FileDecoder::open(path)?;
        Stream::from_decoder(dec, device_rate, options)
    }

    /// Streams from a decoder already opened.
    pub fn from_decoder(
        mut dec: FileDecoder,
        device_rate: u32,
        options: StreamOptions,
    ) -> Result<Stream, SoundError> {
        if device_rate == 0 {
            return Err(SoundError::BadRate);
        }
        if let Loop::Region { start, end } = options.looping {
            if start >= end {
                return Err(SoundError::Format {
                    path: dec.name().to_path_buf(),
                    problem: format!("empty loop region {start}..{end}"),
                });
            }
        }
        if options.start > 0 {
            dec.seek(options.start)?;
        }
        let channels = dec.channels();
        let frames = (options.read_ahead.as_secs_f64() * device_rate as f64) as usize;
        // At most 2^25 samples (128 MiB) whatever the channel count.
        let capacity = frames.clamp(2 * GUARD_FRAMES, (1 << 25) / channels.max(1) as usize);
        let shared = Arc::new(StreamShared::new(capacity, channels, device_rate));
        let sh = shared.clone();
        let loader = std::thread::Builder::new()
            .name("pcmring-stream".into())
            .spawn(move || {
                let mut loader = Loader::new(dec, options, sh.clone());
                if let Err(e) = loader.run() {
                    if let Ok(mut g) = sh.error.lock() {
                        *g = Some(e);
                    }
                }
                sh.eof.store(true, Ordering::Release);
            })
            .map_err(|source| SoundError::Io {
                path: "pcmring-stream thread".into(),
                source,
            })?;
        Ok(Stream {
            shared,
            loader: Some(loader),
        })
    }

    /// Channels of the decoded frames: the file's (1 to 8).
    pub fn channels(&self) -> u16 {
        self.shared.channels
    }

    /// The device rate the stream is decoded to.
    pub fn rate(&self) -> u32 {
        self.shared.rate
    }

    /// Continues from file frame `frame` (at the file's rate): frames the
    /// voice had buffered are skipped; until the new ones arrive the voice
    /// underruns (silence).
    pub fn seek(&self, frame: u64) {
        self.shared.seek_req.store(frame + 1, Ordering::Release);
    }

    /// Frames decoded and ready for the voice.
    pub fn buffered_frames(&self) -> u64 {
        let s = &self.shared;
        s.written() - s.consumed.load(Ordering::Acquire).min(s.written())
    }

    /// Whether the read-ahead is full or the file is fully decoded.
    pub fn is_ready(&self) -> bool {
        self.shared.finished() || self.shared.space() == 0
    }

    /// Waits (sleeping, not on a realtime thread) until [`Stream::is_ready`]
    /// or `timeout`; returns whether it is ready.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while !self.is_ready() {
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Frames the voice has played.
    pub fn played_frames(&self) -> u64 {
        self.shared.played.load(Ordering::Relaxed)
    }

    /// Frames heard as silence because the loader was behind.
    pub fn underrun_frames(&self) -> u64 {
        self.shared.underrun_frames.load(Ordering::Relaxed)
    }

    /// Runs of underrun (each began with a [`crate::mixer::MixerEvent::StreamUnderrun`]).
    pub fn underruns(&self) -> u64 {
        self.shared.underruns.load(Ordering::Relaxed)
    }

    /// Whether the loader has decoded the whole file (never, when looping).
    pub fn is_finished(&self) -> bool {
        self.shared.finished()
    }

    /// The error that ended decoding early, if any (its text).
    pub fn error(&self) -> Option<String> {
        match self.shared.error.lock() {
            Ok(g) => g.as_ref().map(|e| e.to_string()),
            Err(p) => p.into_inner().as_ref().map(|e| e.to_string()),
        }
    }

    /// Whether the last [`Stream::seek`] has been taken up by the loader
    /// (frames after it are on their way).
    pub fn seek_done(&self) -> bool {
        self.shared.seek_req.load(Ordering::Acquire) == 0
    }

    /// Pauses (`true`) or resumes the loader: for tests of underrun.
    #[doc(hidden)]
    pub fn hold_loader(&self, hold: bool) {
        self.shared.hold.store(hold, Ordering::Release);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.loader.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The loader thread's state.
struct Loader {
    dec: FileDecoder,
    sh: Arc<StreamShared>,
    looping: Loop,
    /// File frame the decoder is at.
    file_pos: u64,
    /// Frames decoded since the last loop seek (a loop that yields none ends).
    since_seek: u64,
    resampler: Option<StreamResampler>,
    raw: Vec<f32>,
    rated: Vec<f32>,
    pending: Vec<f32>,
    pending_at: usize,
}

impl Loader {
    fn new(dec: FileDecoder, options: StreamOptions, sh: Arc<StreamShared>) -> Loader {
        let out_ch = sh.channels as usize;
        let resampler =
            (dec.rate() != sh.rate).then(|| StreamResampler::new(out_ch, dec.rate(), sh.rate));
        Loader {
            dec,
            looping: options.looping,
            file_pos: options.start,
            since_seek: 1,
            resampler,
            raw: Vec::new(),
            rated: Vec::new(),
            pending: Vec::new(),
            pending_at: 0,
            sh,
        }
    }

    /// Decodes the next piece into `pending`; `false` at the (non-looping) end.
    fn decode_more(&mut self) -> Result<bool, SoundError> {
        const PIECE: u64 = 2048;
        let limit = match self.looping {
            Loop::Region { end, .. } => end.saturating_sub(self.file_pos),
            _ => PIECE,
        }
        .min(PIECE);
        self.raw.clear();
        let got = if limit == 0 {
            0
        } else {
            self.dec.read(&mut self.raw, limit as usize)?
        };
        self.file_pos += got as u64;
        self.since_seek += got as u64;
        let at_end = got == 0;
        if at_end && self.since_seek > 0 {
            self.since_seek = 0;
            match self.looping {
                Loop::Off => {}
                Loop::Whole => {
                    self.dec.seek(0)?;
                    self.file_pos = 0;
                    return Ok(true);
                }
                Loop::Region { start, .. } => {
                    self.dec.seek(start)?;
                    self.file_pos = start;
                    return Ok(true);
                }
            }
        }
        let converted: &[f32] = match &mut self.resampler {
            Some(r) => {
                r.push(&self.raw);
                self.rated.clear();
                r.produce(&mut self.rated, at_end);
                &self.rated
            }
            None => &self.raw,
        };
        if self.pending_at > 0 {
            self.pending.drain(..self.pending_at);
            self.pending_at = 0;
        }
        self.pending.extend_from_slice(converted);
        Ok(!at_end)
    }

    fn run(&mut self) -> Result<(), SoundError> {
        let ch = self.sh.channels as usize;
        let mut more = true;
        loop {
            if self.sh.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let req = self.sh.seek_req.load(Ordering::Acquire);
            if req > 0 {
                self.dec.seek(req - 1)?;
                self.file_pos = req - 1;
                if let Some(r) = &mut self.resampler {
                    r.reset();
                }
                self.pending.clear();
                self.pending_at = 0;
                more = true;
                self.sh
                    .jump
                    .store(self.sh.written.load(Ordering::Relaxed), Ordering::Release);
                // Taken up only now, so `seek_done` implies the jump is
                // visible to the voice; a newer request stays pending.
                let _ =
                    self.sh
                        .seek_req
                        .compare_exchange(req, 0, Ordering::AcqRel, Ordering::Acquire);
            }
            if self.pending.len() - self.pending_at < ch * 1024 && more {
                more = self.decode_more()?;
                continue;
            }
            let avail = (self.pending.len() - self.pending_at) / ch;
            if avail == 0 && !more {
                return Ok(()); // the end: `eof` is set by the thread body
            }
            let space = self.sh.space() as usize;
            if space == 0 || self.sh.hold.load(Ordering::Acquire) {
                std::thread::park_timeout(Duration::from_millis(2));
                continue;
            }
            let n = avail.min(space);
            self.sh
                .write(&self.pending[self.pending_at..self.pending_at + n * ch]);
            self.pending_at += n * ch;
        }
    }
}
