//! f32 → ring sample conversion with saturation, and the inverse.
//!
//! The mixer produces interleaved `f32` in nominal range `[-1.0, 1.0]`; the
//! ring holds one of the [`Format`]s. Conversion is a single pass of plain
//! stores into the ring bytes (no atomics: DMA memory can be uncached and
//! read-modify-write there is slow), written as straight-line per-sample
//! arithmetic the compiler vectorizes.
//!
//! # Scaling (the contract)
//!
//! For an integer format of `N` bits (S16: 16, S24/S24_3: 24, S32: 32):
//!
//! 1. `x` is clamped to `[-1.0, 1.0]`; NaN becomes `0`.
//! 2. `v = x * 2^(N-1)` (exact: a power-of-two scale).
//! 3. `v` is rounded to the nearest integer, halves away from zero.
//! 4. The result is clamped to `[-2^(N-1), 2^(N-1) - 1]`: so `-1.0` maps to
//!    the most negative code and `+1.0` saturates to the most positive.
//!
//! S24_LE is stored sign-extended in a 32-bit little-endian container (the
//! top byte copies bit 23); S24_3LE is the low three bytes, packed.
//!
//! F32_LE is written as the clamped value: finite values in `[-1, 1]` pass
//! bit for bit, values beyond are saturated to `±1.0`, NaN becomes `0.0`.
//!
//! [`decode`] is the inverse (`code / 2^(N-1)`); `decode(encode(x))` is
//! within half an LSB of the clamped `x`, and `encode(decode(c)) == c` for
//! every code `c`.

use crate::layout::Format;

const S16_SCALE: f32 = 32_768.0;
const S24_SCALE: f32 = 8_388_608.0;
const S32_SCALE: f32 = 2_147_483_648.0;

/// Clamps to `[-1, 1]`, NaN → 0.
#[inline(always)]
fn sat_unit(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-1.0, 1.0)
    }
}

/// Rounds `sat_unit(x) * scale` to the nearest integer, halves away from
/// zero, for `scale <= 2^23`. Exact: `v` and the truncated `t` are close,
/// so `v - t` is exact.
#[inline(always)]
fn scaled(x: f32, scale: f32) -> i32 {
    debug_assert!(scale <= S24_SCALE);
    let v = sat_unit(x) * scale;
    // SAFETY: `sat_unit` maps NaN to 0 and clamps to [-1, 1], so `v` is
    // finite with |v| <= 2^23, representable in i32. (The unchecked cast
    // is a plain truncating conversion the compiler vectorizes, unlike
    // the saturating `as`.)
    let t: i32 = unsafe { v.to_int_unchecked() };
    let frac = v - t as f32;
    t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)
}

/// The S16 code for `x`.
#[inline(always)]
pub fn to_s16(x: f32) -> i16 {
    scaled(x, S16_SCALE).min(i16::MAX as i32) as i16
}

/// The 24-bit code for `x` (in `[-2^23, 2^23 - 1]`).
#[inline(always)]
pub fn to_s24(x: f32) -> i32 {
    scaled(x, S24_SCALE).min((1 << 23) - 1)
}

/// The S32 code for `x` (computed in f64: 2^31 - 1 is exact there).
#[inline(always)]
pub fn to_s32(x: f32) -> i32 {
    let v = (f64::from(sat_unit(x)) * f64::from(S32_SCALE)).min(2_147_483_647.0);
    // SAFETY: `v` is finite and in [-2^31, 2^31 - 1] (clamped above, NaN
    // mapped to 0 by `sat_unit`), so it fits an i32.
    let t: i32 = unsafe { v.to_int_unchecked() };
    let frac = v - f64::from(t);
    // |frac| < 1 and t is at a limit only when frac is 0: no overflow.
    t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)
}

/// The F32 value written for `x` (clamped, NaN → 0).
#[inline(always)]
pub fn to_f32(x: f32) -> f32 {
    sat_unit(x)
}

/// Converts interleaved `src` into `dst` in `format`.
///
/// # Panics
/// If `dst.len() != src.len() * format.sample_bytes()`.
pub fn encode(format: Format, src: &[f32], dst: &mut [u8]) {
    assert_eq!(
        dst.len(),
        src.len() * format.sample_bytes(),
        "encode: destination size does not match"
    );
    match format {
        Format::S16Le => {
            for (d, &x) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&to_s16(x).to_le_bytes());
            }
        }
        Format::S24Le => {
            for (d, &x) in dst.chunks_exact_mut(4).zip(src) {
                // to_s24 is already sign-extended to 32 bits.
                d.copy_from_slice(&to_s24(x).to_le_bytes());
            }
        }
        Format::S24_3Le => {
            for (d, &x) in dst.chunks_exact_mut(3).zip(src) {
                let b = to_s24(x).to_le_bytes();
                d.copy_from_slice(&b[..3]);
            }
        }
        Format::S32Le => {
            for (d, &x) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&to_s32(x).to_le_bytes());
            }
        }
        Format::F32Le => {
            for (d, &x) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&to_f32(x).to_le_bytes());
            }
        }
    }
}

/// Converts ring bytes in `format` back to f32 (`code / 2^(N-1)`).
///
/// # Panics
/// If `src.len() != dst.len() * format.sample_bytes()`.
pub fn decode(format: Format, src: &[u8], dst: &mut [f32]) {
    assert_eq!(
        src.len(),
        dst.len() * format.sample_bytes(),
        "decode: source size does not match"
    );
    match format {
        Format::S16Le => {
            for (s, d) in src.chunks_exact(2).zip(dst) {
                *d = f32::from(i16::from_le_bytes([s[0], s[1]])) / S16_SCALE;
            }
        }
        Format::S24Le => {
            for (s, d) in src.chunks_exact(4).zip(dst) {
                // Only the low 24 bits count; sign-extend from bit 23.
                let v = (i32::from_le_bytes([s[0], s[1], s[2], s[3]]) << 8) >> 8;
                *d = v as f32 / S24_SCALE;
            }
        }
        Format::S24_3Le => {
            for (s, d) in src.chunks_exact(3).zip(dst) {
                let v = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8;
                *d = v as f32 / S24_SCALE;
            }
        }
        Format::S32Le => {
            for (s, d) in src.chunks_exact(4).zip(dst) {
                *d = i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / S32_SCALE;
            }
        }
        Format::F32Le => {
            for (s, d) in src.chunks_exact(4).zip(dst) {
                *d = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            }
        }
    }
}

/// Writes silence (zero in every supported format).
pub fn silence(dst: &mut [u8]) {
    dst.fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(format: Format, x: f32) -> Vec<u8> {
        let mut d = vec![0xAA; format.sample_bytes()];
        encode(format, &[x], &mut d);
        d
    }

    #[test]
    fn known_values_s16() {
        assert_eq!(to_s16(0.0), 0);
        assert_eq!(to_s16(-0.0), 0);
        assert_eq!(to_s16(0.5), 16384);
        assert_eq!(to_s16(-0.5), -16384);
        assert_eq!(to_s16(-1.0), -32768);
        assert_eq!(to_s16(1.0), 32767);
        assert_eq!(to_s16(1.0 / 32768.0), 1);
        // Half an LSB rounds away from zero, just under half rounds down.
        assert_eq!(to_s16(0.5 / 32768.0), 1);
        assert_eq!(to_s16(-0.5 / 32768.0), -1);
        assert_eq!(to_s16(0.499 / 32768.0), 0);
        assert_eq!(to_s16(1.5 / 32768.0), 2);
        assert_eq!(enc(Format::S16Le, 0.5), vec![0x00, 0x40]);
        assert_eq!(enc(Format::S16Le, -1.0), vec![0x00, 0x80]);
    }

    #[test]
    fn saturation_and_nan() {
        for x in [1.0f32, 1.0001, 2.0, 1e30, f32::INFINITY, f32::MAX] {
            assert_eq!(to_s16(x), i16::MAX, "{x}");
            assert_eq!(to_s24(x), (1 << 23) - 1, "{x}");
            assert_eq!(to_s32(x), i32::MAX, "{x}");
            assert_eq!(to_f32(x), 1.0, "{x}");
            assert_eq!(to_s16(-x), i16::MIN, "{x}");
            assert_eq!(to_s24(-x), -(1 << 23), "{x}");
            assert_eq!(to_s32(-x), i32::MIN, "{x}");
            assert_eq!(to_f32(-x), -1.0, "{x}");
        }
        for x in [f32::NAN, -f32::NAN] {
            assert_eq!(to_s16(x), 0);
            assert_eq!(to_s24(x), 0);
            assert_eq!(to_s32(x), 0);
            assert_eq!(to_f32(x), 0.0);
        }
    }

    #[test]
    fn s24_containers() {
        assert_eq!(enc(Format::S24Le, -1.0), vec![0x00, 0x00, 0x80, 0xFF]);
        assert_eq!(enc(Format::S24Le, 1.0), vec![0xFF, 0xFF, 0x7F, 0x00]);
        assert_eq!(enc(Format::S24Le, -1.0 / 8_388_608.0), vec![0xFF; 4]);
        assert_eq!(enc(Format::S24_3Le, -1.0), vec![0x00, 0x00, 0x80]);
        assert_eq!(enc(Format::S24_3Le, 0.5), vec![0x00, 0x00, 0x40]);
        assert_eq!(enc(Format::S24_3Le, -1.0 / 8_388_608.0), vec![0xFF; 3]);
    }

    #[test]
    fn s32_and_f32_known() {
        assert_eq!(to_s32(0.5), 1 << 30);
        assert_eq!(to_s32(-1.0), i32::MIN);
        assert_eq!(to_s32(0.25 / 2_147_483_648.0), 0);
        assert_eq!(enc(Format::F32Le, 0.25), 0.25f32.to_le_bytes().to_vec());
        assert_eq!(to_f32(-0.75), -0.75);
    }

    /// Every S16 code, and a dense sweep of S24 codes, survive decode→encode.
    #[test]
    fn every_code_round_trips() {
        let mut f = [0.0f32; 1];
        for c in i16::MIN..=i16::MAX {
            decode(Format::S16Le, &c.to_le_bytes(), &mut f);
            assert_eq!(to_s16(f[0]), c);
        }
        let mut c = -(1i32 << 23);
        while c < (1 << 23) {
            for fmt in [Format::S24Le, Format::S24_3Le] {
                let mut b = vec![0u8; fmt.sample_bytes()];
                b.copy_from_slice(&c.to_le_bytes()[..fmt.sample_bytes()]);
                decode(fmt, &b, &mut f);
                assert_eq!(to_s24(f[0]), c, "{fmt} {c}");
            }
            c += 97;
        }
    }

    /// Round trip of arbitrary inputs is within half an LSB of the clamped input.
    #[test]
    fn round_trip_within_half_lsb() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut src = Vec::new();
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let u = (seed >> 40) as f32 / (1u64 << 24) as f32; // [0,1)
            src.push(u * 2.4 - 1.2);
        }
        src.extend([0.0, 1.0, -1.0, 1e-9, -1e-9]);
        for fmt in Format::ALL {
            let mut bytes = vec![0u8; src.len() * fmt.sample_bytes()];
            encode(fmt, &src, &mut bytes);
            let mut back = vec![0.0f32; src.len()];
            decode(fmt, &bytes, &mut back);
            let lsb = match fmt {
                Format::S16Le => 1.0 / 32768.0,
                Format::S24Le | Format::S24_3Le => 1.0 / 8_388_608.0,
                // S32: f32 cannot resolve an S32 LSB; the bound is f32 precision.
                Format::S32Le => 2.0f64.powi(-24),
                Format::F32Le => 0.0,
            };
            for (&x, &y) in src.iter().zip(&back) {
                let want = f64::from(x.clamp(-1.0, 1.0));
                // +1.0 saturates one LSB short of 1.0.
                let tol = if want >= 1.0 { lsb } else { lsb / 2.0 };
                assert!(
                    (f64::from(y) - want).abs() <= tol + 1e-12,
                    "{fmt}: {x} -> {y}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "destination size")]
    fn size_mismatch_panics() {
        let mut d = [0u8; 3];
        encode(Format::S16Le, &[0.0, 0.0], &mut d);
    }
}
