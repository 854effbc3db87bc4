//! Bit-exact comparison that tolerates gaps, for a busy machine: every
//! frame that was played must be the input's next frame, bit for bit; a
//! place where the played stream departs from the input (a gap of silence
//! or stale frames, and possibly input frames that never played) is a
//! *discontinuity*, which the caller then checks against the xruns the
//! engine counted (and the loader's starvation). On an idle machine there
//! are none and this is a plain `==` of the whole input.

use std::collections::HashMap;

/// What [`compare_with_gaps`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GapCheck {
    /// Input frames found, in order and bit-exact, in the played stream.
    pub matched_frames: usize,
    /// Places where the played stream departs from the input.
    pub discontinuities: u64,
    /// Input frames that never played (skipped at a discontinuity).
    pub skipped_frames: usize,
    /// Played frames at discontinuities that are not input (silence or
    /// stale frames).
    pub gap_frames: usize,
}

/// How far (played frames) a gap may reach before the input resumes.
pub const MAX_GAP_FRAMES: usize = 10 * 48_000;
/// How many input frames one discontinuity may skip.
pub const MAX_SKIP_FRAMES: usize = 48_000;
/// Frames that must agree for the input to count as resumed.
const RESYNC_FRAMES: usize = 16;

/// Compares `played` (interleaved, `channels` per frame, starting where
/// the input's first frame should be) with `input`. Within the input's
/// trailing silence the comparison ends; after the input everything
/// played must be silence. Errors name the first frame that is neither
/// the input continuing nor explainable as a gap.
pub fn compare_with_gaps(
    played: &[i32],
    input: &[i32],
    channels: usize,
) -> Result<GapCheck, String> {
    let ch = channels.max(1);
    let got: Vec<&[i32]> = played.chunks_exact(ch).collect();
    let want: Vec<&[i32]> = input.chunks_exact(ch).collect();
    let silent = |f: &[i32]| f.iter().all(|&v| v == 0);
    // Where each non-silent input frame value occurs (ascending).
    let mut index: HashMap<&[i32], Vec<usize>> = HashMap::new();
    for (j, f) in want.iter().enumerate() {
        if !silent(f) {
            index.entry(f).or_default().push(j);
        }
    }
    let mut r = GapCheck::default();
    let (mut i, mut j) = (0usize, 0usize);
    while j < want.len() {
        if i < got.len() && got[i] == want[j] {
            i += 1;
            j += 1;
            r.matched_frames += 1;
            continue;
        }
        if want[j..].iter().all(|f| silent(f)) {
            break; // only the input's trailing silence is left
        }
        // Find where the input resumes: the first played frame at or
        // after `i` that starts a run of RESYNC_FRAMES input frames at or
        // after `j`.
        let resumed = (i..got.len().min(i + MAX_GAP_FRAMES)).find_map(|i2| {
            let cands = index.get(got[i2])?;
            let from = cands.partition_point(|&c| c < j);
            cands[from..]
                .iter()
                .take_while(|&&j2| j2 <= j + MAX_SKIP_FRAMES)
                .find(|&&j2| {
                    let n = RESYNC_FRAMES.min(want.len() - j2).min(got.len() - i2);
                    n > 0 && (0..n).all(|k| got[i2 + k] == want[j2 + k])
                })
                .map(|&j2| (i2, j2))
        });
        let Some((i2, j2)) = resumed else {
            return Err(format!(
                "played frame {i} is neither input frame {j} nor a gap after which the \
                 input resumes (within {MAX_GAP_FRAMES} played / {MAX_SKIP_FRAMES} input frames)"
            ));
        };
        r.discontinuities += 1;
        r.gap_frames += i2 - i;
        r.skipped_frames += j2 - j;
        i = i2;
        j = j2;
    }
    if let Some(k) = got[i.min(got.len())..].iter().position(|f| !silent(f)) {
        return Err(format!(
            "sound after the end of the input, at played frame {}",
            i + k
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: usize) -> Vec<i32> {
        // Stereo, distinct non-zero frames.
        (0..n)
            .flat_map(|i| [i as i32 + 1, -(i as i32) - 1])
            .collect()
    }

    #[test]
    fn identical_streams_have_no_discontinuity() {
        let inp = input(1000);
        let mut played = inp.clone();
        played.extend([0; 200]);
        let r = compare_with_gaps(&played, &inp, 2).unwrap();
        assert_eq!(r.discontinuities, 0);
        assert_eq!(r.matched_frames, 1000);
    }

    #[test]
    fn a_silent_gap_and_a_skip_count_as_one_discontinuity_each() {
        let inp = input(1000);
        let mut played = inp[..600].to_vec(); // frames 0..300
        played.extend([0; 2 * 50]); // 50 frames of silence
        played.extend(&inp[2 * 300..2 * 400]); // resumes where it stopped
        played.extend([7; 2 * 20]); // 20 stale frames
        played.extend(&inp[2 * 464..]); // 64 input frames never played
        let r = compare_with_gaps(&played, &inp, 2).unwrap();
        assert_eq!(r.discontinuities, 2, "{r:?}");
        assert_eq!(r.gap_frames, 70);
        assert_eq!(r.skipped_frames, 64);
        assert_eq!(r.matched_frames, 1000 - 64);
    }

    #[test]
    fn a_wrong_frame_that_never_resyncs_is_an_error() {
        let inp = input(1000);
        let mut played = inp.clone();
        played[2 * 500] += 1; // one corrupted sample, then the input goes on
        played.truncate(2 * 501); // and nothing after: it cannot resume
        assert!(compare_with_gaps(&played, &inp, 2).is_err());
        // Sound after the end.
        let mut played = inp.clone();
        played.extend([3, 3]);
        assert!(compare_with_gaps(&played, &inp, 2).is_err());
    }
}
