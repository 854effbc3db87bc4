//! Streaming an audio file from disk straight into the engine (the play
//! example's renderer: one file, no mixer, the device's channel count).
//!
//! ```text
//!  loader thread                                  RT thread
//!  FileDecoder -> StreamResampler -> channels     StreamRenderer::render
//!        |                                              ^      |
//!        v                                              |      v
//!   free chunk --fill--> filled queue (SPSC) -----------+   free queue
//! ```
//!
//! Decoding (WAV, FLAC, Ogg Vorbis, MP3) is the library's
//! [`pcmring::decode::FileDecoder`] and rate conversion its
//! [`pcmring::resample::StreamResampler`]; for playing a stream as a mixer
//! voice (gain, pan, loops, seeks) see [`pcmring::stream`]. A fixed set of
//! chunks (allocated up front) circulates between two lock-free queues: the
//! loader takes a free chunk, fills it with device-format frames (f32,
//! device rate, device channels) and pushes it on the filled queue; the
//! renderer copies frames out of filled chunks and hands emptied ones back.
//! The renderer never allocates, frees, locks or blocks. If the loader falls
//! behind, the renderer outputs silence and counts the starved frames.
//!
//! Integer samples become `code / 2^(bits-1)`, so a 16-bit file played on
//! an S16 ring (or an F32 ring) comes out bit for bit when no rate or
//! channel conversion is needed; 24-bit likewise on S24/F32 rings.

use crossbeam_queue::ArrayQueue;
use pcmring::decode::FileDecoder;
use pcmring::engine::{BlockInfo, Renderer};
use pcmring::resample::StreamResampler as Resampler;
use std::io::Read;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An audio file read frame block by frame block, as interleaved f32 (the
/// name is historical: any format [`FileDecoder`] reads). `R` names the
/// reader type the caller opened it with.
pub struct WavSource<R> {
    dec: FileDecoder,
    spec: hound::WavSpec,
    frames: u64,
    _reader: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for WavSource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSource")
            .field("spec", &self.spec)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl WavSource<std::io::BufReader<std::fs::File>> {
    /// Opens an audio file; fails with a readable message on anything it
    /// cannot play.
    pub fn open(path: &std::path::Path) -> Result<Self, String> {
        let dec = FileDecoder::open(path).map_err(|e| match e {
            pcmring::sound::SoundError::Io { source, .. } => {
                format!("cannot open {}: {source}", path.display())
            }
            pcmring::sound::SoundError::Format { problem, .. } => format!(
                "{}: not a WAV file (nor FLAC, Ogg Vorbis or MP3) pcmring can read ({problem})",
                path.display()
            ),
            other => other.to_string(),
        })?;
        WavSource::from_decoder(dec)
    }
}

impl<R: Read + Send + Sync + 'static> WavSource<R> {
    /// Decodes from a reader; `name` is used in messages (its extension
    /// as a format hint).
    pub fn from_reader(reader: R, name: &std::path::Path) -> Result<Self, String> {
        let dec = FileDecoder::from_reader(reader, name).map_err(|e| e.to_string())?;
        WavSource::from_decoder(dec)
    }
}

impl<R> WavSource<R> {
    /// Wraps an opened decoder; checks the format is one we can play.
    pub fn from_decoder(dec: FileDecoder) -> Result<Self, String> {
        let rate = dec.rate();
        if !(1000..=768_000).contains(&rate) {
            return Err(format!(
                "{}: unsupported sample rate {rate} Hz",
                dec.name().display()
            ));
        }
        let spec = hound::WavSpec {
            channels: dec.channels(),
            sample_rate: rate,
            bits_per_sample: dec.bits_per_sample().unwrap_or(32) as u16,
            sample_format: if dec.is_float() || dec.bits_per_sample().is_none() {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let frames = dec.frames_hint().unwrap_or(0);
        Ok(WavSource {
            dec,
            spec,
            frames,
            _reader: PhantomData,
        })
    }

    /// The file's format (compressed files report 32-bit float, or the
    /// bit depth their codec declares).
    pub fn spec(&self) -> hound::WavSpec {
        self.spec
    }

    /// Frames in the file (from its header; 0 when it does not say).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Seconds of audio in the file.
    pub fn duration_secs(&self) -> f64 {
        self.frames as f64 / f64::from(self.spec.sample_rate)
    }

    /// Appends up to `max_frames` frames to `out`; returns the frames
    /// read (0 at the end of the file).
    pub fn read(&mut self, out: &mut Vec<f32>, max_frames: usize) -> Result<usize, String> {
        self.dec
            .read(out, max_frames)
            .map_err(|e| format!("reading the file: {e}"))
    }
}

/// Converts interleaved frames from `src_ch` to `dst_ch` channels,
/// appending to `out`: equal counts copy; a mono source goes to every
/// output channel; to mono, the channels are averaged; otherwise channel
/// `i` goes to channel `i` and extra output channels are silent.
pub fn map_channels(input: &[f32], src_ch: usize, dst_ch: usize, out: &mut Vec<f32>) {
    if src_ch == dst_ch {
        out.extend_from_slice(input);
        return;
    }
    for frame in input.chunks_exact(src_ch) {
        if src_ch == 1 {
            for _ in 0..dst_ch {
                out.push(frame[0]);
            }
        } else if dst_ch == 1 {
            out.push(frame.iter().sum::<f32>() / src_ch as f32);
        } else {
            for c in 0..dst_ch {
                out.push(frame.get(c).copied().unwrap_or(0.0));
            }
        }
    }
}

/// A block of device-format frames travelling between the threads.
#[derive(Debug)]
struct Chunk {
    data: Box<[f32]>,
    len: usize,
}

/// State shared by the loader, the renderer and the main thread.
#[derive(Debug)]
pub struct StreamShared {
    filled: ArrayQueue<Chunk>,
    free: ArrayQueue<Chunk>,
    eof: AtomicBool,
    stop: AtomicBool,
    first_frame_plus1: AtomicU64,
    end_frame_plus1: AtomicU64,
    played: AtomicU64,
    starved_frames: AtomicU64,
    starved_events: AtomicU64,
    loaded: AtomicU64,
    total: u64,
    error: Mutex<Option<String>>,
}

impl StreamShared {
    /// Device frame at which the file's first frame plays (once started).
    pub fn first_frame(&self) -> Option<u64> {
        self.first_frame_plus1
            .load(Ordering::Acquire)
            .checked_sub(1)
    }

    /// Device frame just after the file's last frame (once the renderer
    /// has rendered it).
    pub fn end_frame(&self) -> Option<u64> {
        self.end_frame_plus1.load(Ordering::Acquire).checked_sub(1)
    }

    /// File frames (at the device rate) handed to the engine so far.
    pub fn played_frames(&self) -> u64 {
        self.played.load(Ordering::Relaxed)
    }

    /// Frames of silence output because the loader was behind.
    pub fn starved_frames(&self) -> u64 {
        self.starved_frames.load(Ordering::Relaxed)
    }

    /// Times the loader fell behind.
    pub fn starved_events(&self) -> u64 {
        self.starved_events.load(Ordering::Relaxed)
    }

    /// Frames (at the device rate) the loader has queued so far.
    pub fn loaded_frames(&self) -> u64 {
        self.loaded.load(Ordering::Relaxed)
    }

    /// Frames (at the device rate) the whole file converts to.
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Whether the loader has queued the whole file (or stopped).
    pub fn loader_done(&self) -> bool {
        self.eof.load(Ordering::Acquire)
    }

    /// Chunks queued between the loader and the renderer.
    pub fn queued_chunks(&self) -> usize {
        self.filled.len()
    }

    /// The loader's error, if it stopped on one (the file then ends early).
    pub fn error(&self) -> Option<String> {
        match self.error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// How to stream: the device's format and the queue's size.
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    /// Device channels.
    pub channels: usize,
    /// Device frames per second.
    pub rate: u32,
    /// Frames per chunk.
    pub chunk_frames: usize,
    /// Chunks in circulation (the read-ahead is `chunks * chunk_frames`).
    pub chunks: usize,
}

impl StreamPlan {
    /// About `read_ahead` of audio in chunks of about 10 ms (at least 4
    /// chunks).
    pub fn new(channels: usize, rate: u32, read_ahead: Duration) -> StreamPlan {
        let chunk_frames = (rate as usize / 100).max(64);
        let total = (read_ahead.as_secs_f64() * f64::from(rate)) as usize;
        StreamPlan {
            channels,
            rate,
            chunk_frames,
            chunks: total.div_ceil(chunk_frames).max(4),
        }
    }
}

/// The loader thread's handle.
#[derive(Debug)]
pub struct Loader {
    shared: Arc<StreamShared>,
    thread: Option<JoinHandle<()>>,
}

impl Loader {
    /// Waits until the read-ahead is full or the file is fully loaded.
    /// Returns false on timeout.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let s = &self.shared;
            if s.filled.is_full() || s.eof.load(Ordering::Acquire) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the loader and joins it; returns its error, if any.
    pub fn finish(mut self) -> Result<(), String> {
        self.halt();
        self.shared.error().map_or(Ok(()), Err)
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                if let Ok(mut g) = self.shared.error.lock() {
                    *g = Some("the loader thread panicked".into());
                }
            }
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts streaming `source` converted to `plan`'s format. Returns the
/// renderer (for the engine), the loader handle and the shared state.
pub fn start<R: 'static>(
    source: WavSource<R>,
    plan: StreamPlan,
) -> Result<(StreamRenderer, Loader, Arc<StreamShared>), String> {
    if plan.channels == 0 || plan.chunks == 0 || plan.chunk_frames == 0 {
        return Err("bad stream plan".into());
    }
    let src_rate = source.spec().sample_rate;
    let shared = Arc::new(StreamShared {
        filled: ArrayQueue::new(plan.chunks),
        free: ArrayQueue::new(plan.chunks),
        eof: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        first_frame_plus1: AtomicU64::new(0),
        end_frame_plus1: AtomicU64::new(0),
        played: AtomicU64::new(0),
        starved_frames: AtomicU64::new(0),
        starved_events: AtomicU64::new(0),
        loaded: AtomicU64::new(0),
        total: Resampler::output_frames(source.frames(), src_rate, plan.rate),
        error: Mutex::new(None),
    });
    for _ in 0..plan.chunks {
        let chunk = Chunk {
            data: vec![0.0; plan.chunk_frames * plan.channels].into_boxed_slice(),
            len: 0,
        };
        if shared.free.push(chunk).is_err() {
            return Err("chunk queue too small".into());
        }
    }
    let sh = shared.clone();
    let thread = std::thread::Builder::new()
        .name("pcmring-loader".into())
        .spawn(move || {
            if let Err(e) = load(source, plan, &sh) {
                if let Ok(mut g) = sh.error.lock() {
                    *g = Some(e);
                }
            }
            sh.eof.store(true, Ordering::Release);
        })
        .map_err(|e| format!("cannot start the loader thread: {e}"))?;
    let renderer = StreamRenderer {
        shared: shared.clone(),
        current: None,
        read: 0,
        channels: plan.channels,
        finished: false,
        starving: false,
    };
    let loader = Loader {
        shared: shared.clone(),
        thread: Some(thread),
    };
    Ok((renderer, loader, shared))
}

/// The loader thread's body: read, convert, fill chunks until the end of
/// the file or a stop request.
fn load<R>(mut source: WavSource<R>, plan: StreamPlan, sh: &StreamShared) -> Result<(), String> {
    let src_ch = usize::from(source.spec().channels);
    let src_rate = source.spec().sample_rate;
    let mut resampler =
        (src_rate != plan.rate).then(|| Resampler::new(src_ch, src_rate, plan.rate));
    let read_frames = 1024;
    let mut raw = Vec::with_capacity(read_frames * src_ch);
    let mut rated = Vec::new();
    let mut pending: Vec<f32> = Vec::new();
    let mut pending_at = 0;
    let mut source_done = false;
    let chunk_samples = plan.chunk_frames * plan.channels;
    loop {
        // Convert until a chunk's worth is pending (or the file ends).
        while pending.len() - pending_at < chunk_samples && !source_done {
            raw.clear();
            let got = source.read(&mut raw, read_frames)?;
            source_done = got == 0;
            let converted: &[f32] = match &mut resampler {
                Some(r) => {
                    r.push(&raw);
                    rated.clear();
                    r.produce(&mut rated, source_done);
                    &rated
                }
                None => &raw,
            };
            if pending_at > 0 {
                pending.drain(..pending_at);
                pending_at = 0;
            }
            map_channels(converted, src_ch, plan.channels, &mut pending);
        }
        if pending_at == pending.len() && source_done {
            return Ok(());
        }
        // Wait for a free chunk.
        let mut chunk = loop {
            if sh.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            match sh.free.pop() {
                Some(c) => break c,
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let n = (pending.len() - pending_at).min(chunk_samples);
        chunk.data[..n].copy_from_slice(&pending[pending_at..pending_at + n]);
        chunk.len = n;
        pending_at += n;
        sh.loaded
            .fetch_add((n / plan.channels) as u64, Ordering::Relaxed);
        if sh.filled.push(chunk).is_err() {
            return Err("internal: filled queue overflow".into());
        }
    }
}

/// The engine-side half: copies queued frames into the engine's blocks.
/// Realtime-safe: no allocation, no locks, no system calls.
#[derive(Debug)]
pub struct StreamRenderer {
    shared: Arc<StreamShared>,
    current: Option<Chunk>,
    read: usize,
    channels: usize,
    finished: bool,
    starving: bool,
}

impl StreamRenderer {
    /// The shared state (progress, counters).
    pub fn shared(&self) -> &Arc<StreamShared> {
        &self.shared
    }

    /// Makes `current` a chunk with frames left, recycling the emptied
    /// one; false when nothing is queued.
    fn next_chunk(&mut self) -> bool {
        let exhausted = self.current.as_ref().is_some_and(|c| self.read >= c.len);
        if exhausted {
            if let Some(done) = self.current.take() {
                // Cannot fail: the free queue holds every chunk there is.
                let _ = self.shared.free.push(done);
            }
        }
        if self.current.is_none() {
            self.current = self.shared.filled.pop();
            self.read = 0;
        }
        self.current.is_some()
    }
}

impl Renderer for StreamRenderer {
    fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        if self.finished || info.channels != self.channels {
            return;
        }
        let ch = self.channels;
        let mut at = 0; // samples written into `out`
        while at < out.len() {
            if !self.next_chunk() {
                // Nothing queued: the end, or the loader is behind. The
                // loader pushes its last chunk before setting eof, so
                // check the queue once more after seeing eof.
                let sh = &self.shared;
                let eof = sh.eof.load(Ordering::Acquire);
                if eof && !sh.filled.is_empty() {
                    continue;
                }
                if eof {
                    let end = info.frame_time + (at / ch) as u64;
                    if sh.first_frame_plus1.load(Ordering::Relaxed) == 0 {
                        sh.first_frame_plus1.store(end + 1, Ordering::Release);
                    }
                    sh.end_frame_plus1.store(end + 1, Ordering::Release);
                    self.finished = true;
                } else if sh.first_frame_plus1.load(Ordering::Relaxed) != 0 {
                    let missing = ((out.len() - at) / ch) as u64;
                    sh.starved_frames.fetch_add(missing, Ordering::Relaxed);
                    if !self.starving {
                        sh.starved_events.fetch_add(1, Ordering::Relaxed);
                    }
                    self.starving = true;
                }
                return;
            }
            let Some(chunk) = self.current.as_ref() else {
                return;
            };
            let read = self.read;
            let n = (chunk.len - read).min(out.len() - at);
            out[at..at + n].copy_from_slice(&chunk.data[read..read + n]);
            self.read = read + n;
            if self.shared.first_frame_plus1.load(Ordering::Relaxed) == 0 {
                let first = info.frame_time + (at / ch) as u64;
                self.shared
                    .first_frame_plus1
                    .store(first + 1, Ordering::Release);
            }
            self.shared
                .played
                .fetch_add((n / ch) as u64, Ordering::Relaxed);
            self.starving = false;
            at += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(spec: hound::WavSpec, samples: &[i32]) -> Vec<u8> {
        let mut cur = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).expect("writer");
        for &s in samples {
            w.write_sample(s).expect("sample");
        }
        w.finalize().expect("finalize");
        cur.into_inner()
    }

    fn spec(channels: u16, rate: u32, bits: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    fn source(bytes: Vec<u8>) -> WavSource<std::io::Cursor<Vec<u8>>> {
        WavSource::from_reader(std::io::Cursor::new(bytes), std::path::Path::new("t.wav"))
            .expect("source")
    }

    #[test]
    fn sixteen_bit_samples_scale_exactly() {
        let samples = [0, 1, -1, 32767, -32768, 12345];
        let mut s = source(wav_bytes(spec(2, 48_000, 16), &samples));
        let mut out = Vec::new();
        assert_eq!(s.read(&mut out, 100).expect("read"), 3);
        let back: Vec<i32> = out.iter().map(|v| (v * 32768.0) as i32).collect();
        assert_eq!(back, samples);
        assert_eq!(s.read(&mut out, 100).expect("read"), 0);
    }

    #[test]
    fn rejects_what_it_cannot_play() {
        let r = hound::WavReader::new(std::io::Cursor::new(b"RIFF....WAVEjunk".to_vec()));
        assert!(r.is_err());
        let e = WavSource::open(std::path::Path::new("/nonexistent/x.wav")).unwrap_err();
        assert!(e.contains("cannot open"), "{e}");
    }

    #[test]
    fn channel_mapping() {
        let mut out = Vec::new();
        map_channels(&[0.5, -0.5], 1, 2, &mut out);
        assert_eq!(out, [0.5, 0.5, -0.5, -0.5]);
        out.clear();
        map_channels(&[0.2, 0.4], 2, 1, &mut out);
        assert!((out[0] - 0.3).abs() < 1e-7);
        out.clear();
        map_channels(&[1.0, 2.0, 3.0], 3, 2, &mut out);
        assert_eq!(out, [1.0, 2.0]);
        out.clear();
        map_channels(&[1.0, 2.0], 2, 4, &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 0.0]);
    }

    fn block(t: u64, frames: usize) -> BlockInfo {
        BlockInfo {
            frame_time: t,
            frames,
            channels: 2,
            rate: 48_000,
        }
    }

    #[test]
    fn renderer_streams_everything_in_order_then_reports_the_end() {
        let n = 5000usize;
        let samples: Vec<i32> = (0..2 * n as i32).map(|i| i % 30_000 - 15_000).collect();
        let src = source(wav_bytes(spec(2, 48_000, 16), &samples));
        let plan = StreamPlan {
            channels: 2,
            rate: 48_000,
            chunk_frames: 300,
            chunks: 4,
        };
        let (mut r, loader, shared) = start(src, plan).expect("start");
        assert!(loader.wait_ready(Duration::from_secs(5)));
        let mut got = Vec::new();
        let mut t = 1000;
        let mut out = vec![0.0; 2 * 128];
        let deadline = Instant::now() + Duration::from_secs(10);
        while shared.end_frame().is_none() {
            assert!(Instant::now() < deadline, "never finished");
            out.fill(0.0);
            r.render(&mut out, &block(t, 128));
            got.extend_from_slice(&out);
            t += 128;
            // Let the loader keep up (it can fill all but the chunk the
            // renderer holds): this test is about order, not speed.
            while shared.queued_chunks() < plan.chunks - 1 && !shared.loader_done() {
                assert!(Instant::now() < deadline, "loader stuck");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        loader.finish().expect("loader");
        assert_eq!(shared.first_frame(), Some(1000));
        assert_eq!(shared.end_frame(), Some(1000 + n as u64));
        assert_eq!(shared.played_frames(), n as u64);
        assert_eq!(shared.starved_frames(), 0);
        let back: Vec<i32> = got.iter().map(|v| (v * 32768.0) as i32).collect();
        assert_eq!(&back[..2 * n], &samples[..]);
        assert!(back[2 * n..].iter().all(|&v| v == 0));
    }

    #[test]
    fn renderer_counts_starvation_and_outputs_silence() {
        let samples = vec![1000i32; 2 * 48_000];
        let src = source(wav_bytes(spec(2, 48_000, 16), &samples));
        let plan = StreamPlan {
            channels: 2,
            rate: 48_000,
            chunk_frames: 100,
            chunks: 2,
        };
        let (mut r, loader, shared) = start(src, plan).expect("start");
        assert!(loader.wait_ready(Duration::from_secs(5)));
        // Drain far faster than the loader may refill: render until a
        // block comes out short.
        let mut out = vec![0.0; 2 * 512];
        let mut t = 0;
        let mut saw_silence = false;
        for _ in 0..10_000 {
            out.fill(0.0);
            r.render(&mut out, &block(t, 512));
            t += 512;
            if shared.starved_frames() > 0 {
                saw_silence = out[out.len() - 1] == 0.0;
                break;
            }
        }
        // The loader polls every 2 ms: 200-frame read-ahead drains at once.
        assert!(shared.starved_frames() > 0, "no starvation seen");
        assert!(saw_silence);
        assert!(shared.starved_events() >= 1);
        loader.finish().expect("loader");
    }
}
