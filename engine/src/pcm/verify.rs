//! Bit-exact signal checks for loopback tests: a known non-silent test
//! pattern, and a strict search for it in a capture.

/// Why a capture does not contain the expected signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch<T> {
    /// The expected signal is empty or starts with silence (it could not be
    /// told apart from the leading silence).
    BadExpected,
    /// The capture is silent throughout.
    Silent,
    /// The signal starts at `offset` but the capture ends after `have` of
    /// its `need` samples.
    Truncated {
        /// Where the signal starts.
        offset: usize,
        /// Samples captured from there.
        have: usize,
        /// Samples expected.
        need: usize,
    },
    /// A sample differs.
    Sample {
        /// Where the signal starts in the capture.
        offset: usize,
        /// Index into the expected signal.
        index: usize,
        /// What was expected.
        expected: T,
        /// What was captured.
        found: T,
    },
}

impl<T: std::fmt::Debug> std::fmt::Display for Mismatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::BadExpected => f.write_str("the expected signal is empty or starts silent"),
            Mismatch::Silent => f.write_str("the capture is all silence"),
            Mismatch::Truncated { offset, have, need } => write!(
                f,
                "signal found at sample {offset} but only {have} of {need} samples were captured"
            ),
            Mismatch::Sample {
                offset,
                index,
                expected,
                found,
            } => write!(
                f,
                "signal found at sample {offset} but sample {index} is {found:?}, expected {expected:?}"
            ),
        }
    }
}

/// Finds `expected` in `captured` right after the leading silence
/// (samples equal to `T::default()`), and checks every sample of it.
/// Returns the sample offset where the signal starts.
///
/// Strict on purpose: anything non-silent before the signal, or a single
/// differing sample inside it, is a mismatch. What follows the signal is
/// not checked. For interleaved audio pass whole frames; the offset is in
/// samples.
pub fn find_signal<T>(captured: &[T], expected: &[T]) -> Result<usize, Mismatch<T>>
where
    T: Copy + PartialEq + Default,
{
    let silence = T::default();
    match expected.first() {
        None => return Err(Mismatch::BadExpected),
        Some(s) if *s == silence => return Err(Mismatch::BadExpected),
        Some(_) => {}
    }
    let offset = captured
        .iter()
        .position(|s| *s != silence)
        .ok_or(Mismatch::Silent)?;
    let got = &captured[offset..];
    for (index, (e, c)) in expected.iter().zip(got).enumerate() {
        if e != c {
            return Err(Mismatch::Sample {
                offset,
                index,
                expected: *e,
                found: *c,
            });
        }
    }
    if got.len() < expected.len() {
        return Err(Mismatch::Truncated {
            offset,
            have: got.len(),
            need: expected.len(),
        });
    }
    Ok(offset)
}

/// A deterministic, never-zero test signal of `samples` 16-bit samples: a
/// xorshift PRBS (seeded by `seed`), so any shift, drop, repeat or
/// corruption shows.
pub fn test_pattern_i16(samples: usize, seed: u32) -> Vec<i16> {
    xorshift32(seed)
        .take(samples)
        .map(|x| match (x >> 16) as u16 as i16 {
            0 => 1,
            s => s,
        })
        .collect()
}

/// Like [`test_pattern_i16`], 32-bit samples.
pub fn test_pattern_i32(samples: usize, seed: u32) -> Vec<i32> {
    xorshift32(seed)
        .take(samples)
        .map(|x| match x as i32 {
            0 => 1,
            s => s,
        })
        .collect()
}

/// The xorshift32 (13, 17, 5) sequence behind the test patterns, started
/// from `seed | 1` so it never sticks at zero; yields the state after each
/// step.
fn xorshift32(seed: u32) -> impl Iterator<Item = u32> {
    let mut x = seed | 1;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture_with(signal: &[i16], lead: usize, tail: usize) -> Vec<i16> {
        let mut c = vec![0i16; lead];
        c.extend_from_slice(signal);
        c.resize(c.len() + tail, 0);
        c
    }

    #[test]
    fn patterns_are_stable() {
        // Pinned: captures and recordings are checked against these.
        assert_eq!(test_pattern_i16(4, 7), [28, 7177, -6299, -18692]);
        assert_eq!(test_pattern_i16(3, 0), [4, 1032, -25140]);
        assert_eq!(
            test_pattern_i32(4, 3),
            [811107, 201886211, -1269534649, 1909268553]
        );
    }

    #[test]
    fn finds_the_signal_after_silence() {
        let sig = test_pattern_i16(4096, 7);
        assert!(sig.iter().all(|&s| s != 0));
        let cap = capture_with(&sig, 333, 50);
        assert_eq!(find_signal(&cap, &sig), Ok(333));
        assert_eq!(find_signal(&sig, &sig), Ok(0));
    }

    #[test]
    fn one_corrupted_sample_fails() {
        let sig = test_pattern_i16(4096, 7);
        for idx in [0, 1, 2047, 4095] {
            let mut cap = capture_with(&sig, 100, 10);
            cap[100 + idx] = cap[100 + idx].wrapping_add(1);
            match find_signal(&cap, &sig) {
                Err(Mismatch::Sample { offset, index, .. }) if idx > 0 => {
                    assert_eq!((offset, index), (100, idx));
                }
                // Corrupting the very first sample makes the signal appear
                // to start there: still a mismatch.
                Err(Mismatch::Sample { .. }) => {}
                other => panic!("corruption at {idx} not caught: {other:?}"),
            }
        }
    }

    #[test]
    fn one_corrupted_i32_sample_fails() {
        let sig = test_pattern_i32(1000, 3);
        let mut cap = vec![0; 10];
        cap.extend_from_slice(&sig);
        assert_eq!(find_signal(&cap, &sig), Ok(10));
        cap[500] ^= 1 << 31;
        assert!(matches!(
            find_signal(&cap, &sig),
            Err(Mismatch::Sample { index: 490, .. })
        ));
    }

    #[test]
    fn noise_before_the_signal_fails() {
        let sig = test_pattern_i16(256, 1);
        let mut cap = capture_with(&sig, 20, 0);
        cap[5] = 9;
        assert!(find_signal(&cap, &sig).is_err());
    }

    #[test]
    fn dropped_or_repeated_samples_fail() {
        let sig = test_pattern_i16(256, 1);
        let mut dropped = capture_with(&sig, 20, 5);
        dropped.remove(100);
        assert!(find_signal(&dropped, &sig).is_err());
        let mut repeated = capture_with(&sig, 20, 5);
        repeated.insert(100, repeated[100]);
        assert!(find_signal(&repeated, &sig).is_err());
    }

    #[test]
    fn silence_truncation_and_bad_expectations() {
        let sig = test_pattern_i16(256, 1);
        assert_eq!(find_signal(&[0i16; 64], &sig), Err(Mismatch::Silent));
        let cap = capture_with(&sig[..200], 3, 0);
        assert_eq!(
            find_signal(&cap, &sig),
            Err(Mismatch::Truncated {
                offset: 3,
                have: 200,
                need: 256
            })
        );
        assert_eq!(find_signal(&cap, &[]), Err(Mismatch::BadExpected));
        assert_eq!(find_signal(&cap, &[0, 1]), Err(Mismatch::BadExpected));
    }
}
