//! The host side of the real-card VM tests: what the guest played, and the
//! bit-for-bit comparison of qemu's recording against it.
//!
//! In the guest a test plays [`signal`] (a seeded, never-silent S16 noise)
//! followed by at least 100 ms of silence, and announces it on the console
//! with a [`Played`] line (`VM-PLAYED card=... test=... seed=... ...`).
//! qemu writes everything the emulated card played into a WAV file on the
//! host (`-audiodev wav`), one stream after another. After the boot,
//! `compare-recording` ([`compare`]) finds each announced signal in that
//! file and requires every one of its frames to be there, bit-exact,
//! followed by the silence padding.
//!
//! The only tolerance is the documented stream-end artefact of qemu's
//! cards: the last frames of a stream (at most [`TAIL_ALLOWANCE`]) may be
//! missing from the file or replaced by stale ring data. They fall in the
//! padding, never in the signal, so no frame of the signal is ever
//! excused.

use std::fmt;

/// Frames at the end of a stream that qemu may lose or replace with stale
/// ring data (seen: a few hundred); only ever excused inside the padding.
pub const TAIL_ALLOWANCE: u64 = 2048;

/// Silence, in frames, a test plays after its signal at `rate` (200 ms:
/// twice the 100 ms minimum, and more than [`TAIL_ALLOWANCE`]).
pub fn padding_frames(rate: u32) -> u64 {
    u64::from(rate) / 5
}

/// The test signal: `frames` interleaved S16 frames of `channels` samples
/// from `seed`. Every sample is non-zero and within +-30000, so silence
/// never passes for signal and every sample survives an f32 round trip
/// (`v / 32768.0` converts back to `v` exactly).
pub fn signal(seed: u64, frames: usize, channels: usize) -> Vec<i16> {
    let mut x = seed ^ 0x6a09_e667_f3bc_c909;
    (0..frames * channels)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
            let v = (r % 60_000) as i32 - 30_000;
            (if v == 0 { 1 } else { v }) as i16
        })
        .collect()
}

/// One played signal, as the guest announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Played {
    /// The card (`ac97`, `es1370`, `hda`, `usb`).
    pub card: String,
    /// The test's short name.
    pub test: String,
    /// The [`signal`] seed.
    pub seed: u64,
    /// Signal frames.
    pub frames: u64,
    /// Silence frames played after the signal.
    pub pad: u64,
    /// Frames per second.
    pub rate: u32,
    /// Channels.
    pub channels: u32,
}

/// The console marker of a [`Played`] line.
pub const PLAYED_MARK: &str = "VM-PLAYED";

impl fmt::Display for Played {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PLAYED_MARK} card={} test={} seed={:#x} frames={} pad={} rate={} channels={}",
            self.card, self.test, self.seed, self.frames, self.pad, self.rate, self.channels
        )
    }
}

impl Played {
    /// Parses a `VM-PLAYED ...` line; `None` for any other line.
    pub fn parse(line: &str) -> Option<Result<Played, String>> {
        let rest = line
            .trim_end()
            .strip_prefix(PLAYED_MARK)?
            .strip_prefix(' ')?;
        let mut p = Played {
            card: String::new(),
            test: String::new(),
            seed: 0,
            frames: 0,
            pad: 0,
            rate: 0,
            channels: 0,
        };
        let mut seen = 0u32;
        for field in rest.split_whitespace() {
            let Some((k, v)) = field.split_once('=') else {
                return Some(Err(format!("bad field {field:?} in {line:?}")));
            };
            let num = |v: &str| -> Result<u64, String> {
                let r = match v.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => v.parse(),
                };
                r.map_err(|e| format!("{k}={v}: {e} in {line:?}"))
            };
            let r: Result<(), String> = (|| {
                match k {
                    "card" => p.card = v.to_owned(),
                    "test" => p.test = v.to_owned(),
                    "seed" => p.seed = num(v)?,
                    "frames" => p.frames = num(v)?,
                    "pad" => p.pad = num(v)?,
                    "rate" => p.rate = u32::try_from(num(v)?).map_err(|e| e.to_string())?,
                    "channels" => p.channels = u32::try_from(num(v)?).map_err(|e| e.to_string())?,
                    _ => return Err(format!("unknown field {k:?} in {line:?}")),
                }
                seen += 1;
                Ok(())
            })();
            if let Err(e) = r {
                return Some(Err(e));
            }
        }
        if seen != 7 || p.frames == 0 || p.channels == 0 || p.rate == 0 {
            return Some(Err(format!("incomplete played line {line:?}")));
        }
        Some(Ok(p))
    }
}

/// A recording: interleaved S16 samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Frames per second.
    pub rate: u32,
    /// Channels.
    pub channels: u32,
    /// Interleaved samples.
    pub samples: Vec<i16>,
}

impl Recording {
    /// Frames in the recording.
    pub fn frames(&self) -> u64 {
        (self.samples.len() / self.channels.max(1) as usize) as u64
    }

    /// Parses a 16-bit PCM WAV file as qemu's wav audiodev writes it. The
    /// data chunk runs to the end of the file when its declared size is
    /// missing or too large (qemu only fixes the header at exit).
    pub fn from_wav(bytes: &[u8]) -> Result<Recording, String> {
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err("not a RIFF/WAVE file".into());
        }
        let mut pos = 12;
        let mut fmt: Option<(u16, u32, u16, u16)> = None;
        while pos + 8 <= bytes.len() {
            let id = &bytes[pos..pos + 4];
            let size = u32::from_le_bytes([
                bytes[pos + 4],
                bytes[pos + 5],
                bytes[pos + 6],
                bytes[pos + 7],
            ]) as usize;
            let body = pos + 8;
            if id == b"fmt " {
                if size < 16 || body + 16 > bytes.len() {
                    return Err("short fmt chunk".into());
                }
                let b = &bytes[body..body + 16];
                let tag = u16::from_le_bytes([b[0], b[1]]);
                let channels = u16::from_le_bytes([b[2], b[3]]);
                let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                let bits = u16::from_le_bytes([b[14], b[15]]);
                fmt = Some((tag, rate, channels, bits));
            } else if id == b"data" {
                let (tag, rate, channels, bits) = fmt.ok_or("data chunk before fmt chunk")?;
                if tag != 1 || bits != 16 || channels == 0 {
                    return Err(format!(
                        "want 16-bit PCM, got format tag {tag}, {bits} bits, {channels} channels"
                    ));
                }
                let end = if size == 0 || body + size > bytes.len() {
                    bytes.len()
                } else {
                    body + size
                };
                let frame = 2 * usize::from(channels);
                let end = body + (end - body) / frame * frame;
                let samples = bytes[body..end]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                return Ok(Recording {
                    rate,
                    channels: u32::from(channels),
                    samples,
                });
            }
            pos = body + size + (size & 1);
        }
        Err("no data chunk".into())
    }

    fn frame(&self, i: u64) -> &[i16] {
        let c = self.channels as usize;
        let at = i as usize * c;
        &self.samples[at..at + c]
    }
}

/// What the comparison found for one played signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Recording frame where the signal starts.
    pub at: u64,
    /// Signal frames compared (all of them).
    pub frames: u64,
    /// Silent frames that follow the signal before anything else (or the
    /// end of the file).
    pub silent_after: u64,
    /// The stream-end artefact seen in the padding, if any.
    pub artefact: Option<String>,
}

/// Frames compared to locate a signal's start.
const ANCHOR_FRAMES: u64 = 32;

/// Finds `played`'s signal in `rec` at or after frame `from` and checks it
/// bit for bit; see the module docs for the one tolerance.
pub fn compare(rec: &Recording, played: &Played, from: u64) -> Result<Verdict, String> {
    if rec.rate != played.rate || rec.channels != played.channels {
        return Err(format!(
            "the recording is {} Hz {} ch, the guest played {} Hz {} ch (qemu would resample)",
            rec.rate, rec.channels, played.rate, played.channels
        ));
    }
    let c = played.channels as usize;
    let want = signal(played.seed, played.frames as usize, c);
    let total = rec.frames();
    let anchor = ANCHOR_FRAMES.min(played.frames);
    let first = &want[..c];
    let at = (from..total.saturating_sub(anchor - 1))
        .find(|&i| {
            rec.frame(i) == first && {
                let a = i as usize * c;
                rec.samples[a..a + anchor as usize * c] == want[..anchor as usize * c]
            }
        })
        .ok_or_else(|| {
            format!(
                "the signal's first {anchor} frames are nowhere in the recording \
                 ({total} frames, searched from frame {from})"
            )
        })?;
    for i in 0..played.frames {
        let r = at + i;
        if r >= total {
            return Err(format!(
                "the recording ends after {i} of {} signal frames (signal at frame {at})",
                played.frames
            ));
        }
        let w = &want[i as usize * c..(i as usize + 1) * c];
        if rec.frame(r) != w {
            return Err(format!(
                "signal frame {i} (recording frame {r}) is {:?}, played {:?}",
                rec.frame(r),
                w
            ));
        }
    }
    let end = at + played.frames;
    let silent_after = (end..total)
        .take_while(|&i| rec.frame(i).iter().all(|&s| s == 0))
        .count() as u64;
    let must = played.pad.saturating_sub(TAIL_ALLOWANCE);
    let artefact = if silent_after >= played.pad {
        None
    } else if end + silent_after == total {
        Some(format!(
            "last {} frames of padding missing (file ends)",
            played.pad - silent_after
        ))
    } else {
        Some(format!(
            "non-silent data {silent_after} frames after the signal \
             (stale ring data or the next stream; {} padding frames unheard)",
            played.pad - silent_after
        ))
    };
    if silent_after < must {
        return Err(format!(
            "only {silent_after} silent frames follow the signal, the guest played {} \
             (at most {TAIL_ALLOWANCE} may be lost at a stream's end): {}",
            played.pad,
            artefact.unwrap_or_default()
        ));
    }
    Ok(Verdict {
        at,
        frames: played.frames,
        silent_after,
        artefact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn played(seed: u64, frames: u64, pad: u64) -> Played {
        Played {
            card: "ac97".into(),
            test: "t".into(),
            seed,
            frames,
            pad,
            rate: 48_000,
            channels: 2,
        }
    }

    /// `lead` silent frames, the signal, `pad` silent frames.
    fn recording(p: &Played, lead: usize, pad: usize) -> Recording {
        let mut samples = vec![0i16; lead * 2];
        samples.extend(signal(p.seed, p.frames as usize, 2));
        samples.extend(vec![0i16; pad * 2]);
        Recording {
            rate: 48_000,
            channels: 2,
            samples,
        }
    }

    #[test]
    fn signal_is_never_silent_and_seeded() {
        let a = signal(1, 1000, 2);
        assert!(a.iter().all(|&v| v != 0 && v.abs() <= 30_000));
        assert_eq!(a, signal(1, 1000, 2));
        assert_ne!(a, signal(2, 1000, 2));
        for &v in &a {
            // v / 32768 is exact in f32, so the engine's S16 conversion
            // (x * 32768, rounded) gives v back.
            assert_eq!((f32::from(v) / 32768.0 * 32768.0).round() as i16, v);
        }
    }

    #[test]
    fn exact_recording_passes() {
        let p = played(7, 4800, 9600);
        let v = compare(&recording(&p, 1234, 9600), &p, 0).expect("bit-exact");
        assert_eq!(v.at, 1234);
        assert_eq!(v.frames, 4800);
        assert_eq!(v.artefact, None);
    }

    #[test]
    fn one_flipped_sample_fails() {
        let p = played(7, 4800, 9600);
        for (frame, ch, bit) in [(0usize, 0usize, 0u32), (2400, 1, 15), (4799, 1, 3)] {
            let mut rec = recording(&p, 100, 9600);
            rec.samples[(100 + frame) * 2 + ch] ^= 1 << bit;
            let e = compare(&rec, &p, 0).expect_err("a flipped sample must fail");
            assert!(
                e.contains("nowhere") || e.contains(&format!("signal frame {frame}")),
                "{e}"
            );
        }
    }

    #[test]
    fn lost_tail_only_in_the_padding() {
        let p = played(9, 4800, 9600);
        // The last 2000 frames of the padding never reached the file.
        let v = compare(&recording(&p, 0, 7600), &p, 0).expect("tolerated");
        assert!(v.artefact.expect("artefact").contains("missing"));
        // Stale ring data replayed after 8000 silent frames.
        let mut rec = recording(&p, 0, 8000);
        rec.samples.extend(signal(9, 500, 2));
        let v = compare(&rec, &p, 0).expect("tolerated");
        assert!(v.artefact.expect("artefact").contains("stale"));
        // More than the allowance missing: fail.
        assert!(compare(&recording(&p, 0, 5000), &p, 0).is_err());
        // A signal cut short: fail, whatever the padding.
        let mut rec = recording(&p, 0, 0);
        rec.samples.truncate(4000 * 2);
        assert!(compare(&rec, &p, 0).is_err());
    }

    #[test]
    fn a_dropped_frame_fails() {
        let p = played(3, 4800, 9600);
        let mut rec = recording(&p, 10, 9600);
        rec.samples.drain(2000 * 2..2001 * 2);
        assert!(compare(&rec, &p, 0).is_err());
    }

    #[test]
    fn wrong_rate_fails() {
        let mut p = played(3, 480, 9600);
        let rec = recording(&p, 0, 9600);
        p.rate = 44_100;
        assert!(compare(&rec, &p, 0).unwrap_err().contains("resample"));
    }

    #[test]
    fn played_line_round_trip() {
        let p = played(0xdead_beef, 48_000, 9600);
        let line = p.to_string();
        assert_eq!(Played::parse(&line), Some(Ok(p)));
        assert_eq!(Played::parse("VM-PLAYEDX a=b"), None);
        assert!(matches!(
            Played::parse("VM-PLAYED card=x test=y seed=zz frames=1 pad=1 rate=1 channels=1"),
            Some(Err(_))
        ));
        assert!(matches!(Played::parse("VM-PLAYED card=x"), Some(Err(_))));
    }

    #[test]
    fn wav_parsing() {
        let p = played(5, 100, 100);
        let rec = recording(&p, 3, 100);
        let mut bytes = Vec::new();
        let data: Vec<u8> = rec.samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        bytes.extend(b"RIFF");
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(b"WAVEfmt ");
        bytes.extend(16u32.to_le_bytes());
        bytes.extend(1u16.to_le_bytes());
        bytes.extend(2u16.to_le_bytes());
        bytes.extend(48_000u32.to_le_bytes());
        bytes.extend((48_000u32 * 4).to_le_bytes());
        bytes.extend(4u16.to_le_bytes());
        bytes.extend(16u16.to_le_bytes());
        bytes.extend(b"data");
        bytes.extend(0u32.to_le_bytes()); // qemu never fixed the header
        bytes.extend(&data);
        assert_eq!(Recording::from_wav(&bytes), Ok(rec));
        assert!(Recording::from_wav(b"RIFX").is_err());
    }
}
