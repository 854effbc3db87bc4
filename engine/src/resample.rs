//! Load-time sample-rate conversion with a windowed-sinc interpolator.
//!
//! Sounds are converted to the device rate once, when they are loaded, so the
//! realtime mix never resamples for rate conversion (only for pitch, see the
//! mixer). Quality matters more than speed here:
//!
//! - The kernel is a sinc low-pass windowed by a Blackman-Harris window,
//!   `HALF_TAPS` zero crossings each side of the centre.
//! - Its cutoff is `CUTOFF` of the lower of the two Nyquist frequencies, so
//!   downsampling removes what would alias (stop band about -90 dB).
//! - The kernel is tabulated at `TABLE_STEPS` points per zero crossing and
//!   linearly interpolated between table points, which keeps the table error
//!   far below the window's stop band.
//!
//! Equal rates copy the input unchanged.
//!
//! Streams (decoded piece by piece on a loader thread, [`crate::stream`])
//! use [`StreamResampler`], a 4-point cubic (Catmull-Rom) interpolator at
//! exact rational positions whose output does not depend on how the input
//! is split: good for playback, not mastering quality.

use std::f64::consts::PI;
use std::sync::OnceLock;

/// Zero crossings of the sinc on each side of the centre tap.
pub(crate) const HALF_TAPS: usize = 24;
/// Table points per zero crossing.
pub(crate) const TABLE_STEPS: usize = 512;
/// Passband edge as a fraction of the lower Nyquist frequency.
pub(crate) const CUTOFF: f64 = 0.94;

/// The windowed-sinc kernel sampled on `0..=HALF_TAPS` zero crossings.
fn kernel_table() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = HALF_TAPS * TABLE_STEPS;
        (0..=n + 1)
            .map(|i| {
                let x = i as f64 / TABLE_STEPS as f64; // in zero crossings
                if x >= HALF_TAPS as f64 {
                    return 0.0;
                }
                let sinc = if i == 0 {
                    1.0
                } else {
                    (PI * x).sin() / (PI * x)
                };
                // Blackman-Harris window over [-HALF_TAPS, HALF_TAPS], evaluated at x.
                let t = 0.5 + x / (2.0 * HALF_TAPS as f64); // 0.5..1 across the right half
                let w = 0.35875 - 0.48829 * (2.0 * PI * t).cos() + 0.14128 * (4.0 * PI * t).cos()
                    - 0.01168 * (6.0 * PI * t).cos();
                sinc * w
            })
            .collect()
    })
}

/// Kernel value at `x` zero crossings from the centre (linear table lookup).
#[inline]
fn kernel(table: &[f64], x: f64) -> f64 {
    let pos = x.abs() * TABLE_STEPS as f64;
    let i = pos as usize;
    if i + 1 >= table.len() {
        return 0.0;
    }
    let frac = pos - i as f64;
    table[i] + (table[i + 1] - table[i]) * frac
}

/// Number of output frames for `in_frames` input frames converted from
/// `from_rate` to `to_rate` (rounded to nearest).
pub(crate) fn output_frames(in_frames: usize, from_rate: u32, to_rate: u32) -> usize {
    let num = in_frames as u128 * to_rate as u128;
    ((num + from_rate as u128 / 2) / from_rate as u128) as usize
}

/// The whole-buffer conversion behind [`StreamResampler::resample_all`].
pub(crate) fn resample(input: &[f32], channels: usize, from_rate: u32, to_rate: u32) -> Vec<f32> {
    if from_rate == to_rate || from_rate == 0 || to_rate == 0 || channels == 0 {
        return input.to_vec();
    }
    let in_frames = input.len() / channels;
    let out_frames = output_frames(in_frames, from_rate, to_rate);
    let table = kernel_table();
    // Input frames advanced per output frame.
    let step = from_rate as f64 / to_rate as f64;
    // Cutoff relative to the input Nyquist; below 1 when downsampling.
    let scale = CUTOFF * (to_rate as f64 / from_rate as f64).min(1.0);
    // Kernel half-width in input frames.
    let half = HALF_TAPS as f64 / scale;
    let mut out = vec![0.0f32; out_frames * channels];
    let mut acc = vec![0.0f64; channels];
    for (n, frame) in out.chunks_exact_mut(channels).enumerate() {
        let centre = n as f64 * step;
        let first = (centre - half).ceil().max(0.0) as usize;
        let last = ((centre + half).floor() as usize).min(in_frames.saturating_sub(1));
        acc.iter_mut().for_each(|a| *a = 0.0);
        if in_frames > 0 {
            for k in first..=last {
                let w = kernel(table, (k as f64 - centre) * scale) * scale;
                let src = &input[k * channels..k * channels + channels];
                for (a, &s) in acc.iter_mut().zip(src) {
                    *a += w * s as f64;
                }
            }
        }
        for (o, a) in frame.iter_mut().zip(&acc) {
            *o = *a as f32;
        }
    }
    out
}

/// A streaming sample-rate converter: 4-point cubic (Catmull-Rom)
/// interpolation at exact rational positions (output frame `j` sits at
/// input frame `j * from / to`), so the result does not depend on how the
/// input is split into pieces. The signal before the start and after the
/// end is taken as silence.
#[derive(Debug)]
pub struct StreamResampler {
    channels: usize,
    from: u64,
    to: u64,
    /// Buffered input, interleaved; frame 0 is input frame `base`.
    buf: Vec<f32>,
    base: u64,
    /// Input frames pushed so far.
    pushed: u64,
    /// Next output frame.
    next: u64,
}

impl StreamResampler {
    /// Converts a whole interleaved buffer `input` with `channels` channels
    /// from `from_rate` to `to_rate` at once, returning interleaved samples
    /// at the new rate: the windowed-sinc load-time converter that sounds
    /// use (the module's first half), not the streaming cubic one.
    ///
    /// The signal outside the input is taken as silence. `from_rate` and
    /// `to_rate` must be non-zero (zero returns the input unchanged).
    ///
    /// ```
    /// use pcmring::resample::StreamResampler;
    ///
    /// let tone: Vec<f32> = (0..4410).map(|i| (i as f32 * 0.05).sin()).collect();
    /// let out = StreamResampler::resample_all(&tone, 1, 44_100, 48_000);
    /// assert_eq!(out.len(), 4800);
    /// ```
    pub fn resample_all(input: &[f32], channels: usize, from_rate: u32, to_rate: u32) -> Vec<f32> {
        resample(input, channels, from_rate, to_rate)
    }

    /// Frames out of a streaming conversion of `in_frames` from `from` to
    /// `to` Hz (rounded to nearest, like the load-time
    /// [`StreamResampler::resample_all`]).
    pub fn output_frames(in_frames: u64, from: u32, to: u32) -> u64 {
        if from == to || from == 0 {
            return in_frames;
        }
        ((u128::from(in_frames) * u128::from(to) + u128::from(from / 2)) / u128::from(from)) as u64
    }

    /// A converter for `channels` interleaved channels from `from` to `to` Hz.
    pub fn new(channels: usize, from: u32, to: u32) -> StreamResampler {
        StreamResampler {
            channels: channels.max(1),
            from: u64::from(from.max(1)),
            to: u64::from(to.max(1)),
            buf: Vec::new(),
            base: 0,
            pushed: 0,
            next: 0,
        }
    }

    /// Forgets all input and output so far (after a seek): the next input
    /// starts a new signal.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.base = 0;
        self.pushed = 0;
        self.next = 0;
    }

    /// Adds input frames (interleaved).
    pub fn push(&mut self, input: &[f32]) {
        self.buf.extend_from_slice(input);
        self.pushed += (input.len() / self.channels) as u64;
    }

    fn sample(&self, frame: i128, c: usize) -> f32 {
        if frame < i128::from(self.base) || frame >= i128::from(self.pushed) {
            return 0.0;
        }
        let i = (frame - i128::from(self.base)) as usize;
        self.buf[i * self.channels + c]
    }

    /// Appends every output frame the input so far determines; with
    /// `end`, the input is complete and the output is finished too (to
    /// [`StreamResampler::output_frames`] frames in all).
    pub fn produce(&mut self, out: &mut Vec<f32>, end: bool) {
        let total = StreamResampler::output_frames(self.pushed, self.from as u32, self.to as u32);
        loop {
            let num = u128::from(self.next) * u128::from(self.from);
            let i = (num / u128::from(self.to)) as u64;
            if end {
                if self.next >= total {
                    break;
                }
            } else if i + 2 >= self.pushed {
                break;
            }
            let f = ((num % u128::from(self.to)) as f64 / self.to as f64) as f32;
            let i = i128::from(i);
            for c in 0..self.channels {
                let p0 = self.sample(i - 1, c);
                let p1 = self.sample(i, c);
                let p2 = self.sample(i + 1, c);
                let p3 = self.sample(i + 2, c);
                let y = p1
                    + 0.5
                        * f
                        * (p2 - p0
                            + f * (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3
                                + f * (3.0 * (p1 - p2) + p3 - p0)));
                out.push(y);
            }
            self.next += 1;
        }
        // Keep from one frame before the next output's position.
        let i = (u128::from(self.next) * u128::from(self.from) / u128::from(self.to)) as u64;
        let keep_from = i.saturating_sub(1).max(self.base);
        let drop_frames = (keep_from - self.base).min(self.pushed - self.base) as usize;
        self.buf.drain(..drop_frames * self.channels);
        self.base += drop_frames as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (2.0 * PI * freq * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    /// Amplitude of `freq` in `x` (single-bin DFT over the middle, Hann windowed).
    fn amplitude(x: &[f32], freq: f64, rate: u32) -> f64 {
        let skip = x.len() / 8;
        let y = &x[skip..x.len() - skip];
        let n = y.len() as f64;
        let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
        for (i, &s) in y.iter().enumerate() {
            let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos();
            let ph = 2.0 * PI * freq * i as f64 / rate as f64;
            re += w * s as f64 * ph.cos();
            im += w * s as f64 * ph.sin();
            wsum += w;
        }
        2.0 * (re * re + im * im).sqrt() / wsum
    }

    #[test]
    fn equal_rates_copy() {
        let x = sine(1000.0, 48_000, 100);
        assert_eq!(resample(&x, 1, 48_000, 48_000), x);
    }

    #[test]
    fn upsampled_sine_keeps_amplitude_and_frequency() {
        for &f in &[100.0, 1000.0, 8000.0, 18_000.0] {
            let x = sine(f, 44_100, 44_100 / 2);
            let y = resample(&x, 1, 44_100, 48_000);
            assert_eq!(y.len(), 24_000);
            let a = amplitude(&y, f, 48_000);
            assert!((a - 1.0).abs() < 0.01, "{f} Hz: amplitude {a}");
            // Nothing else of note: the residual after removing the fitted sine is small.
            let other = amplitude(&y, f * 1.37, 48_000);
            assert!(other < 1e-3, "{f} Hz: leakage {other}");
        }
    }

    #[test]
    fn downsampling_removes_what_would_alias() {
        // 30 kHz at 96 kHz is above the 24 kHz Nyquist of 48 kHz: it must vanish,
        // not fold down to 18 kHz.
        let x = sine(30_000.0, 96_000, 48_000);
        let y = resample(&x, 1, 96_000, 48_000);
        assert_eq!(y.len(), 24_000);
        let alias = amplitude(&y, 18_000.0, 48_000);
        assert!(alias < 1e-3, "alias at 18 kHz: {alias}");
        let rms = (y[4000..20_000]
            .iter()
            .map(|s| (*s as f64).powi(2))
            .sum::<f64>()
            / 16_000.0)
            .sqrt();
        assert!(rms < 1e-3, "rms {rms}");
        // A passband tone survives downsampling.
        let x = sine(5_000.0, 96_000, 48_000);
        let y = resample(&x, 1, 96_000, 48_000);
        let a = amplitude(&y, 5_000.0, 48_000);
        assert!((a - 1.0).abs() < 0.01, "amplitude {a}");
    }

    #[test]
    fn stereo_channels_stay_separate() {
        let l = sine(440.0, 22_050, 11_025);
        let r = sine(3000.0, 22_050, 11_025);
        let inter: Vec<f32> = l.iter().zip(&r).flat_map(|(a, b)| [*a, *b * 0.5]).collect();
        let y = resample(&inter, 2, 22_050, 48_000);
        let yl: Vec<f32> = y.iter().step_by(2).copied().collect();
        let yr: Vec<f32> = y.iter().skip(1).step_by(2).copied().collect();
        assert!((amplitude(&yl, 440.0, 48_000) - 1.0).abs() < 0.01);
        assert!(amplitude(&yl, 3000.0, 48_000) < 1e-3);
        assert!((amplitude(&yr, 3000.0, 48_000) - 0.5).abs() < 0.01);
        assert!(amplitude(&yr, 440.0, 48_000) < 1e-3);
    }

    #[test]
    fn output_length_rounds() {
        assert_eq!(output_frames(44_100, 44_100, 48_000), 48_000);
        assert_eq!(output_frames(1, 44_100, 48_000), 1);
        assert_eq!(output_frames(0, 44_100, 48_000), 0);
    }

    fn resample_in_pieces(input: &[f32], ch: usize, from: u32, to: u32, piece: usize) -> Vec<f32> {
        let mut r = StreamResampler::new(ch, from, to);
        let mut out = Vec::new();
        for p in input.chunks(piece * ch) {
            r.push(p);
            r.produce(&mut out, false);
        }
        r.produce(&mut out, true);
        out
    }

    #[test]
    fn resampler_is_independent_of_the_split_and_has_the_right_length() {
        let input: Vec<f32> = (0..2 * 1000)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect();
        let whole = resample_in_pieces(&input, 2, 44_100, 48_000, 1000);
        for piece in [1, 7, 64, 333] {
            assert_eq!(resample_in_pieces(&input, 2, 44_100, 48_000, piece), whole);
        }
        assert_eq!(
            whole.len() as u64,
            2 * StreamResampler::output_frames(1000, 44_100, 48_000)
        );
        let down = resample_in_pieces(&input, 2, 48_000, 32_000, 13);
        assert_eq!(
            down.len() as u64,
            2 * StreamResampler::output_frames(1000, 48_000, 32_000)
        );
    }

    #[test]
    fn resampler_follows_a_sine() {
        let (from, to) = (44_100u32, 48_000u32);
        let hz = 440.0f64;
        let input: Vec<f32> = (0..4410)
            .map(|i| (std::f64::consts::TAU * hz * i as f64 / f64::from(from)).sin() as f32)
            .collect();
        let out = resample_in_pieces(&input, 1, from, to, 100);
        for (j, &y) in out.iter().enumerate().skip(10).take(4000) {
            let want = (std::f64::consts::TAU * hz * j as f64 / f64::from(to)).sin();
            assert!(
                (f64::from(y) - want).abs() < 2e-3,
                "frame {j}: {y} vs {want}"
            );
        }
    }
}
