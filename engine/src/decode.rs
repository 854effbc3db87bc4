//! Decoding audio files (WAV, FLAC, Ogg Vorbis, MP3) with symphonia into
//! interleaved `f32`, piece by piece, with bounds on everything a file
//! claims.
//!
//! [`FileDecoder`] is the one decoder used by [`crate::sound::Sound::load`]
//! (whole file into memory) and by the streaming loader
//! ([`crate::stream`]). It never panics on a corrupt file: every error is a
//! [`SoundError`] naming the file and the problem, and a panic inside the
//! decoding crate is caught and reported the same way. What a file claims
//! is checked before anything is allocated for it: 1 to 8 channels, a
//! rate of 1 Hz to 768 kHz, and packets of at most 2^17 frames.
//!
//! Samples are converted to `f32` by symphonia: integer PCM becomes
//! `code / 2^(bits - 1)`, so 16- and 24-bit files come out exact.

use std::fs::File;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

use crate::sound_error::SoundError;

/// Most channels a file may have (7.1).
pub(crate) const MAX_FILE_CHANNELS: u16 = 8;
/// Highest sample rate accepted from a file.
pub(crate) const MAX_FILE_RATE: u32 = 768_000;
/// Largest decoded packet accepted, in frames (FLAC's largest block is 65,535).
pub(crate) const MAX_PACKET_FRAMES: u64 = 1 << 17;
/// Corrupt packets skipped in a row before decoding gives up.
const MAX_BAD_PACKETS: u32 = 16;

/// A file being decoded: its format, and interleaved `f32` frames on demand.
pub struct FileDecoder {
    name: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track: u32,
    channels: u16,
    rate: u32,
    frames: Option<u64>,
    bits: Option<u32>,
    float: bool,
    buf: Option<SampleBuffer<f32>>,
    /// Decoded samples not yet handed out, and how many of them were.
    pending: Vec<f32>,
    pending_at: usize,
    done: bool,
}

impl std::fmt::Debug for FileDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDecoder")
            .field("name", &self.name)
            .field("channels", &self.channels)
            .field("rate", &self.rate)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn format_error(name: &Path, problem: impl Into<String>) -> SoundError {
    SoundError::Format {
        path: name.to_path_buf(),
        problem: problem.into(),
    }
}

fn unsupported(name: &Path, what: impl Into<String>) -> SoundError {
    SoundError::Unsupported {
        path: name.to_path_buf(),
        what: what.into(),
    }
}

/// Maps a symphonia error to ours.
fn map_error(name: &Path, e: SymError) -> SoundError {
    match e {
        SymError::IoError(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            format_error(name, format!("file is truncated ({source})"))
        }
        SymError::IoError(source) => SoundError::Io {
            path: name.to_path_buf(),
            source,
        },
        SymError::Unsupported(what) => unsupported(name, what),
        SymError::LimitError(what) => format_error(name, format!("exceeds a limit: {what}")),
        SymError::DecodeError(what) => format_error(name, format!("corrupt data: {what}")),
        SymError::SeekError(kind) => format_error(name, format!("cannot seek: {kind:?}")),
        SymError::ResetRequired => unsupported(name, "a stream whose format changes midway"),
    }
}

/// Runs `f`, turning a panic in the decoding crate into an error.
fn guarded<T>(name: &Path, f: impl FnOnce() -> Result<T, SoundError>) -> Result<T, SoundError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(format_error(name, "the decoder failed on corrupt data")))
}

impl FileDecoder {
    /// Opens a file; the format is recognised from its contents (the
    /// extension is only a hint).
    pub fn open(path: impl AsRef<Path>) -> Result<FileDecoder, SoundError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| SoundError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        FileDecoder::from_source(Box::new(file), path, ext.as_deref())
    }

    /// Decodes from any reader (not seekable: [`FileDecoder::seek`] fails);
    /// `name` is used in error messages.
    pub fn from_reader<R: Read + Send + Sync + 'static>(
        reader: R,
        name: &Path,
    ) -> Result<FileDecoder, SoundError> {
        let ext = name.extension().and_then(|e| e.to_str()).map(str::to_owned);
        FileDecoder::from_source(Box::new(ReadOnlySource::new(reader)), name, ext.as_deref())
    }

    /// Decodes from in-memory bytes (seekable); `name` is used in error messages.
    pub fn from_bytes(bytes: Vec<u8>, name: &Path) -> Result<FileDecoder, SoundError> {
        let ext = name.extension().and_then(|e| e.to_str()).map(str::to_owned);
        FileDecoder::from_source(Box::new(std::io::Cursor::new(bytes)), name, ext.as_deref())
    }

    fn from_source(
        source: Box<dyn MediaSource>,
        name: &Path,
        ext: Option<&str>,
    ) -> Result<FileDecoder, SoundError> {
        guarded(name, || {
            let mss = MediaSourceStream::new(source, Default::default());
            let mut hint = Hint::new();
            if let Some(ext) = ext {
                hint.with_extension(ext);
            }
            let probed = symphonia::default::get_probe()
                .format(
                    &hint,
                    mss,
                    &FormatOptions::default(),
                    &MetadataOptions::default(),
                )
                .map_err(|e| match e {
                    SymError::Unsupported(_) => format_error(
                        name,
                        "unrecognised or truncated header: not a WAV, FLAC, Ogg Vorbis or MP3 file",
                    ),
                    other => map_error(name, other),
                })?;
            let format = probed.format;
            let track = format
                .tracks()
                .iter()
                .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
                .ok_or_else(|| format_error(name, "no audio track"))?;
            let params = &track.codec_params;
            let channels = params
                .channels
                .map(|c| c.count())
                .ok_or_else(|| format_error(name, "the channel count is missing"))?;
            if channels == 0 || channels > MAX_FILE_CHANNELS as usize {
                return Err(unsupported(
                    name,
                    format!("{channels} channels (1..={MAX_FILE_CHANNELS} supported)"),
                ));
            }
            let rate = params
                .sample_rate
                .ok_or_else(|| format_error(name, "the sample rate is missing"))?;
            if rate == 0 || rate > MAX_FILE_RATE {
                return Err(unsupported(name, format!("sample rate {rate} Hz")));
            }
            if params
                .max_frames_per_packet
                .is_some_and(|m| m > MAX_PACKET_FRAMES)
            {
                return Err(format_error(name, "packets claim an absurd size"));
            }
            let decoder = symphonia::default::get_codecs()
                .make(params, &DecoderOptions::default())
                .map_err(|e| map_error(name, e))?;
            Ok(FileDecoder {
                name: name.to_path_buf(),
                track: track.id,
                channels: channels as u16,
                rate,
                frames: params.n_frames,
                bits: params.bits_per_sample,
                float: matches!(
                    params.codec,
                    symphonia::core::codecs::CODEC_TYPE_PCM_F32LE
                        | symphonia::core::codecs::CODEC_TYPE_PCM_F32BE
                        | symphonia::core::codecs::CODEC_TYPE_PCM_F64LE
                        | symphonia::core::codecs::CODEC_TYPE_PCM_F64BE
                ),
                format,
                decoder,
                buf: None,
                pending: Vec::new(),
                pending_at: 0,
                done: false,
            })
        })
    }

    /// Channels per frame in the file.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The file's sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Frames the file's header claims (not trusted for allocation).
    pub fn frames_hint(&self) -> Option<u64> {
        self.frames
    }

    /// Bits per sample the codec declares (PCM and FLAC; `None` for lossy codecs).
    pub fn bits_per_sample(&self) -> Option<u32> {
        self.bits
    }

    /// Whether the file holds floating-point PCM.
    pub fn is_float(&self) -> bool {
        self.float
    }

    /// The name used in error messages.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// Decodes the next packet into `pending`; `false` at the end.
    fn decode_packet(&mut self) -> Result<bool, SoundError> {
        let name = self.name.clone();
        let mut bad = 0;
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                // The normal end of a stream (and of a file cut short between packets).
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(e) => return Err(map_error(&name, e)),
            };
            if packet.track_id() != self.track {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(audio) => {
                    let spec = *audio.spec();
                    if spec.channels.count() != self.channels as usize {
                        return Err(unsupported(&name, "a stream whose channel count changes"));
                    }
                    let frames = audio.frames() as u64;
                    if frames > MAX_PACKET_FRAMES {
                        return Err(format_error(&name, "a packet of absurd size"));
                    }
                    let cap = audio.capacity() as u64;
                    let need = self
                        .buf
                        .as_ref()
                        .is_none_or(|b| (b.capacity() as u64) < cap);
                    if need {
                        self.buf = Some(SampleBuffer::new(cap.min(MAX_PACKET_FRAMES), spec));
                    }
                    let Some(buf) = self.buf.as_mut() else {
                        unreachable!("set just above")
                    };
                    buf.copy_interleaved_ref(audio);
                    self.pending.clear();
                    self.pending.extend_from_slice(buf.samples());
                    self.pending_at = 0;
                    return Ok(true);
                }
                Err(SymError::DecodeError(_)) if bad < MAX_BAD_PACKETS => bad += 1,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(e) => return Err(map_error(&name, e)),
            }
        }
    }

    /// Appends up to `max_frames` decoded frames (interleaved, the file's
    /// channel count) to `out` and returns how many; 0 at the end of the file.
    pub fn read(&mut self, out: &mut Vec<f32>, max_frames: usize) -> Result<usize, SoundError> {
        let ch = self.channels as usize;
        let mut got = 0;
        while got < max_frames && !self.done {
            if self.pending_at >= self.pending.len() {
                let name = self.name.clone();
                let more = guarded(&name, || self.decode_packet())?;
                if !more {
                    self.done = true;
                    break;
                }
                continue;
            }
            let avail = (self.pending.len() - self.pending_at) / ch;
            let k = avail.min(max_frames - got);
            out.extend_from_slice(&self.pending[self.pending_at..self.pending_at + k * ch]);
            self.pending_at += k * ch;
            got += k;
            if k == 0 {
                // A partial frame left in a packet: drop it.
                self.pending_at = self.pending.len();
            }
        }
        Ok(got)
    }

    /// Moves to frame `frame` of the file (for looping and seeking streams).
    /// Decoding continues from the frame the container could reach at or
    /// before it, then skips to it exactly.
    pub fn seek(&mut self, frame: u64) -> Result<(), SoundError> {
        let name = self.name.clone();
        let rate = self.rate;
        let track = self.track;
        guarded(&name, || {
            let to = SeekTo::Time {
                time: Time::new(
                    frame / rate as u64,
                    (frame % rate as u64) as f64 / rate as f64,
                ),
                track_id: Some(track),
            };
            let seeked = self
                .format
                .seek(SeekMode::Accurate, to)
                .map_err(|e| map_error(&name, e))?;
            self.decoder.reset();
            self.pending.clear();
            self.pending_at = 0;
            self.done = false;
            // Skip from where the container landed to the exact frame.
            let mut skip = frame.saturating_sub(seeked.actual_ts);
            let ch = self.channels as usize;
            while skip > 0 {
                if self.pending_at >= self.pending.len() && !self.decode_packet()? {
                    self.done = true;
                    break;
                }
                let avail = ((self.pending.len() - self.pending_at) / ch) as u64;
                let k = avail.min(skip);
                self.pending_at += k as usize * ch;
                skip -= k;
            }
            Ok(())
        })
    }

    /// Decodes a whole file into interleaved samples, at the file's own rate
    /// (at most 2^27 samples, 512 MiB of `f32`: longer files should be
    /// streamed, see [`crate::stream::Stream`]).
    pub fn decode_all(&mut self) -> Result<Vec<f32>, SoundError> {
        let ch = self.channels() as usize;
        let claimed = self.frames_hint().unwrap_or(0) as usize;
        let mut out = Vec::with_capacity(claimed.saturating_mul(ch).min(1 << 22));
        loop {
            let got = self.read(&mut out, 1 << 16)?;
            if got == 0 {
                break;
            }
            if out.len() > MAX_DECODED_SAMPLES {
                return Err(format_error(
                    self.name(),
                    format!(
                        "longer than {} samples: stream it instead of loading it",
                        MAX_DECODED_SAMPLES
                    ),
                ));
            }
        }
        Ok(out)
    }
}

/// The largest whole-file decode [`FileDecoder::decode_all`] accepts, in
/// samples (512 MiB of `f32`); longer files should be streamed.
pub(crate) const MAX_DECODED_SAMPLES: usize = 1 << 27;
