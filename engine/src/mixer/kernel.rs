//! The inner mixing loops.
//!
//! Every loop here is branch-free over plain slices of equal length, so the
//! compiler vectorizes it; the renderer compiles them twice (baseline SSE2
//! and AVX2, chosen at run time) by inlining them into two copies of the
//! voice loop. No fused multiply-add is used, so both copies give
//! bit-identical results.
//!
//! Gains follow one convention everywhere: in a span of `n` frames that
//! starts with gain `g0` and slope `d`, frame `i` (0-based) is mixed with
//! `g0 + (i + 1) * d` (a ramp reaches its target on its last frame).

/// Fixed-point one (positions and steps are 32.32 frames).
pub const ONE: u64 = 1 << 32;
const FRAC24: f32 = 1.0 / 16_777_216.0;

/// `l += s * gl; r += s * gr` for a mono source at unit rate, flat gains.
#[inline(always)]
pub fn mono_flat(src: &[f32], l: &mut [f32], r: &mut [f32], gl: f32, gr: f32) {
    let n = src.len().min(l.len()).min(r.len());
    let (src, l, r) = (&src[..n], &mut l[..n], &mut r[..n]);
    for i in 0..n {
        let s = src[i];
        l[i] += s * gl;
        r[i] += s * gr;
    }
}

/// Mono source at unit rate with ramping gains.
#[inline(always)]
pub fn mono_ramp(src: &[f32], l: &mut [f32], r: &mut [f32], g: [f32; 4]) {
    let [gl, gr, dl, dr] = g;
    let n = src.len().min(l.len()).min(r.len());
    let (src, l, r) = (&src[..n], &mut l[..n], &mut r[..n]);
    for i in 0..n {
        let t = (i as i32 + 1) as f32;
        let s = src[i];
        l[i] += s * (gl + t * dl);
        r[i] += s * (gr + t * dr);
    }
}

/// Interleaved stereo source at unit rate, flat gains (`gl` on the left channel, `gr` on the right).
#[inline(always)]
pub fn stereo_flat(src: &[f32], l: &mut [f32], r: &mut [f32], gl: f32, gr: f32) {
    let n = (src.len() / 2).min(l.len()).min(r.len());
    let (src, l, r) = (&src[..2 * n], &mut l[..n], &mut r[..n]);
    for ((s, l), r) in src.chunks_exact(2).zip(l.iter_mut()).zip(r.iter_mut()) {
        *l += s[0] * gl;
        *r += s[1] * gr;
    }
}

/// Interleaved stereo source at unit rate, ramping gains.
#[inline(always)]
pub fn stereo_ramp(src: &[f32], l: &mut [f32], r: &mut [f32], g: [f32; 4]) {
    let [gl, gr, dl, dr] = g;
    let n = (src.len() / 2).min(l.len()).min(r.len());
    let (src, l, r) = (&src[..2 * n], &mut l[..n], &mut r[..n]);
    for (i, ((s, l), r)) in src
        .chunks_exact(2)
        .zip(l.iter_mut())
        .zip(r.iter_mut())
        .enumerate()
    {
        let t = (i as i32 + 1) as f32;
        *l += s[0] * (gl + t * dl);
        *r += s[1] * (gr + t * dr);
    }
}

/// Where a rate ramp puts a voice after `k` frames from `pos` with `step`
/// growing by `dstep` per frame: `pos + k * step + dstep * k (k - 1) / 2`,
/// and the step then in use.
#[inline(always)]
pub fn advance(pos: u64, step: u64, dstep: i64, k: usize) -> (u64, u64) {
    let k = k as i128;
    let p = pos as i128 + k * step as i128 + dstep as i128 * k * (k - 1) / 2;
    let s = step as i128 + dstep as i128 * k;
    (p.max(0) as u64, s.max(1) as u64)
}

/// Index of the first source frame the last of `n > 0` output frames reads.
#[inline(always)]
fn last_index(pos: u64, step: u64, dstep: i64, n: usize) -> usize {
    (advance(pos, step, dstep, n - 1).0 >> 32) as usize
}

/// Mono source with linear interpolation from position `pos` (32.32,
/// relative to `src[0]`) at rate `step` (32.32) that changes by `dstep` after
/// every frame (0 for a steady rate; a rate ramp costs the same as a steady
/// rate), gains per the module convention. Mixes `l.len()` frames and
/// returns the position and the step after them.
///
/// # Panics
///
/// If the last frame's interpolation partner is outside `src`, i.e. unless
/// `last + 1 < src.len()` for the last frame's index `last`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn mono_lerp(
    src: &[f32],
    pos: u64,
    step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
    gather: bool,
) -> (u64, u64) {
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(last + 1 < src.len(), "interpolation past the source");
    #[cfg(target_arch = "x86_64")]
    if gather && (dstep != 0 || g[2] != 0.0 || g[3] != 0.0) {
        // SAFETY: `gather` is only set where AVX2 was detected at run time
        // (the renderer's `avx2` flag); the index bound is checked above.
        return unsafe { gather::lerp::<1>(src, pos, step, dstep, &mut l[..n], &mut r[..n], g) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = gather;
    // SAFETY: the step stays positive and the position only grows, so every
    // index read below is at most `last + 1 < src.len()`.
    unsafe { mono_lerp_unchecked(src, pos, step, dstep, &mut l[..n], &mut r[..n], g) }
}

/// # Safety
/// The last frame's index `last` (see [`last_index`]) has `last + 1 < src.len()`,
/// `r.len() >= l.len()`, and `step + k * dstep >= 1` for every `k < l.len()`.
#[inline(always)]
unsafe fn mono_lerp_unchecked(
    src: &[f32],
    mut pos: u64,
    mut step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
) -> (u64, u64) {
    let [gl, gr, dl, dr] = g;
    let p = src.as_ptr();
    let n = l.len();
    let r = &mut r[..n];
    if dl == 0.0 && dr == 0.0 && dstep == 0 {
        for i in 0..n {
            let idx = (pos >> 32) as usize;
            let frac = ((pos as u32) >> 8) as i32 as f32 * FRAC24;
            // SAFETY: idx + 1 < src.len() by the caller's contract.
            let (a, b) = unsafe { (*p.add(idx), *p.add(idx + 1)) };
            let s = a + (b - a) * frac;
            l[i] += s * gl;
            r[i] += s * gr;
            pos += step;
        }
    } else {
        for i in 0..n {
            let idx = (pos >> 32) as usize;
            let frac = ((pos as u32) >> 8) as i32 as f32 * FRAC24;
            // SAFETY: as above.
            let (a, b) = unsafe { (*p.add(idx), *p.add(idx + 1)) };
            let s = a + (b - a) * frac;
            let t = (i as i32 + 1) as f32;
            l[i] += s * (gl + t * dl);
            r[i] += s * (gr + t * dr);
            pos += step;
            step = step.wrapping_add_signed(dstep);
        }
    }
    (pos, step)
}

/// Interleaved stereo source with linear interpolation; same contract as
/// [`mono_lerp`] in frames.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn stereo_lerp(
    src: &[f32],
    mut pos: u64,
    mut step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
    gather: bool,
) -> (u64, u64) {
    let [gl, gr, dl, dr] = g;
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(2 * last + 3 < src.len(), "interpolation past the source");
    #[cfg(target_arch = "x86_64")]
    if gather && (dstep != 0 || g[2] != 0.0 || g[3] != 0.0) {
        // SAFETY: as in `mono_lerp`; the stereo bound is checked above.
        return unsafe { gather::lerp::<2>(src, pos, step, dstep, &mut l[..n], &mut r[..n], g) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = gather;
    let (l, r) = (&mut l[..n], &mut r[..n]);
    let p = src.as_ptr();
    for i in 0..n {
        let idx = (pos >> 32) as usize * 2;
        let frac = ((pos as u32) >> 8) as i32 as f32 * FRAC24;
        // SAFETY: idx / 2 <= last, so idx + 3 <= 2 * last + 3 < src.len().
        let (a0, a1, b0, b1) = unsafe {
            (
                *p.add(idx),
                *p.add(idx + 1),
                *p.add(idx + 2),
                *p.add(idx + 3),
            )
        };
        let t = (i as i32 + 1) as f32;
        l[i] += (a0 + (b0 - a0) * frac) * (gl + t * dl);
        r[i] += (a1 + (b1 - a1) * frac) * (gr + t * dr);
        pos += step;
        step = step.wrapping_add_signed(dstep);
    }
    (pos, step)
}

/// `dst += src * (g0 + (i + 1) * d)` (bus summing with a ramping gain).
#[inline(always)]
pub fn add_scaled(dst: &mut [f32], src: &[f32], g0: f32, d: f32) {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    if d == 0.0 {
        for i in 0..n {
            dst[i] += src[i] * g0;
        }
    } else {
        for i in 0..n {
            dst[i] += src[i] * (g0 + (i as i32 + 1) as f32 * d);
        }
    }
}

/// Largest absolute value in `x` (0 for empty).
#[inline(always)]
pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Whether every value in `x` is finite (no NaN, no infinity). Branch-free
/// integer reduction, so it vectorizes.
#[inline(always)]
pub fn all_finite(x: &[f32]) -> bool {
    let m = x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    m < 0x7f80_0000
}

/// The interpolating kernels with AVX2 gathers: eight output frames per
/// iteration, the eight positions kept as 64-bit lanes that advance by the
/// exact sums of the (possibly ramping) steps. Every lane does the scalar
/// loop's operations in the same order without fused multiply-add, so the
/// results are bit-identical to [`mono_lerp`] and [`stereo_lerp`]'s scalar
/// loops (tested below).
#[cfg(target_arch = "x86_64")]
mod gather {
    use super::{advance, FRAC24};
    use std::arch::x86_64::*;

    /// `CH` = 1 (mono) or 2 (interleaved stereo); same contract and result
    /// as the scalar kernels.
    ///
    /// # Safety
    /// The CPU has AVX2; `r.len() >= l.len()`; every frame's index `idx`
    /// has `(idx + 1) * CH + CH - 1 < src.len()` (checked by the callers);
    /// `src.len() < 2^31`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn lerp<const CH: usize>(
        src: &[f32],
        pos: u64,
        step: u64,
        dstep: i64,
        l: &mut [f32],
        r: &mut [f32],
        g: [f32; 4],
    ) -> (u64, u64) {
        let [gl, gr, dl, dr] = g;
        let n = l.len();
        let blocks = n / 8;
        let ptr = src.as_ptr();
        if blocks > 0 {
            let mut lanes = [0u64; 8];
            let mut deltas = [0u64; 8];
            for k in 0..8 {
                lanes[k] = advance(pos, step, dstep, k).0;
                // The next 8 steps of lane k: 8 (step + k dstep) + 28 dstep.
                let s_k = step as i128 + k as i128 * dstep as i128;
                deltas[k] = (8 * s_k + 28 * dstep as i128) as u64;
            }
            // SAFETY: plain AVX2 arithmetic on registers; the
            // loads and stores below stay inside `lanes`, `deltas`, `l` and
            // `r` (`8 * b + 8 <= n`), and every gathered index is a frame
            // index of this call, within `src` by the caller's contract.
            unsafe {
                let mut p0 = _mm256_loadu_si256(lanes.as_ptr() as *const __m256i);
                let mut p1 = _mm256_loadu_si256(lanes.as_ptr().add(4) as *const __m256i);
                let mut d0 = _mm256_loadu_si256(deltas.as_ptr() as *const __m256i);
                let mut d1 = _mm256_loadu_si256(deltas.as_ptr().add(4) as *const __m256i);
                let dd = _mm256_set1_epi64x(dstep.wrapping_mul(64));
                let scale = _mm256_set1_ps(FRAC24);
                let (vgl, vgr, vdl, vdr) = (
                    _mm256_set1_ps(gl),
                    _mm256_set1_ps(gr),
                    _mm256_set1_ps(dl),
                    _mm256_set1_ps(dr),
                );
                let mut t = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8);
                let eight = _mm256_set1_epi32(8);
                for b in 0..blocks {
                    let (a, c) = (_mm256_castsi256_ps(p0), _mm256_castsi256_ps(p1));
                    // High and low 32-bit halves of the 8 positions, in frame order.
                    let hi = _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(a, c));
                    let hi = _mm256_permute4x64_epi64::<0b11_01_10_00>(hi);
                    let lo = _mm256_castps_si256(_mm256_shuffle_ps::<0b10_00_10_00>(a, c));
                    let lo = _mm256_permute4x64_epi64::<0b11_01_10_00>(lo);
                    let fr = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32::<8>(lo)), scale);
                    let tf = _mm256_cvtepi32_ps(t);
                    let g_l = _mm256_add_ps(vgl, _mm256_mul_ps(tf, vdl));
                    let g_r = _mm256_add_ps(vgr, _mm256_mul_ps(tf, vdr));
                    let lp = l.as_mut_ptr().add(8 * b);
                    let rp = r.as_mut_ptr().add(8 * b);
                    let lerp = |x: __m256, y: __m256| {
                        _mm256_add_ps(x, _mm256_mul_ps(_mm256_sub_ps(y, x), fr))
                    };
                    if CH == 1 {
                        // The 8 frames and their partners usually lie within
                        // 16 samples of the first (rates up to about 2): two
                        // loads and in-register permutes, much cheaper than
                        // gathers; otherwise gather.
                        let first = _mm256_cvtsi256_si32(hi);
                        let off = _mm256_sub_epi32(hi, _mm256_set1_epi32(first));
                        let span = _mm256_extract_epi32::<7>(off);
                        let (a, bb) = if span <= 14 && first as usize + 16 <= src.len() {
                            let w0 = _mm256_loadu_ps(ptr.add(first as usize));
                            let w1 = _mm256_loadu_ps(ptr.add(first as usize + 8));
                            let seven = _mm256_set1_epi32(7);
                            let pick = |o: __m256i| {
                                let hi_half = _mm256_castsi256_ps(_mm256_cmpgt_epi32(o, seven));
                                _mm256_blendv_ps(
                                    _mm256_permutevar8x32_ps(w0, o),
                                    _mm256_permutevar8x32_ps(w1, o),
                                    hi_half,
                                )
                            };
                            (pick(off), pick(_mm256_add_epi32(off, _mm256_set1_epi32(1))))
                        } else {
                            (
                                _mm256_i32gather_ps::<4>(ptr, hi),
                                _mm256_i32gather_ps::<4>(ptr.add(1), hi),
                            )
                        };
                        let s = lerp(a, bb);
                        _mm256_storeu_ps(
                            lp,
                            _mm256_add_ps(_mm256_loadu_ps(lp), _mm256_mul_ps(s, g_l)),
                        );
                        _mm256_storeu_ps(
                            rp,
                            _mm256_add_ps(_mm256_loadu_ps(rp), _mm256_mul_ps(s, g_r)),
                        );
                    } else {
                        let i2 = _mm256_add_epi32(hi, hi);
                        let a0 = _mm256_i32gather_ps::<4>(ptr, i2);
                        let a1 = _mm256_i32gather_ps::<4>(ptr.add(1), i2);
                        let b0 = _mm256_i32gather_ps::<4>(ptr.add(2), i2);
                        let b1 = _mm256_i32gather_ps::<4>(ptr.add(3), i2);
                        let sl = lerp(a0, b0);
                        let sr = lerp(a1, b1);
                        _mm256_storeu_ps(
                            lp,
                            _mm256_add_ps(_mm256_loadu_ps(lp), _mm256_mul_ps(sl, g_l)),
                        );
                        _mm256_storeu_ps(
                            rp,
                            _mm256_add_ps(_mm256_loadu_ps(rp), _mm256_mul_ps(sr, g_r)),
                        );
                    }
                    p0 = _mm256_add_epi64(p0, d0);
                    p1 = _mm256_add_epi64(p1, d1);
                    d0 = _mm256_add_epi64(d0, dd);
                    d1 = _mm256_add_epi64(d1, dd);
                    t = _mm256_add_epi32(t, eight);
                }
            }
        }
        // The last frames one by one, the scalar loop's way.
        let done = blocks * 8;
        let (mut pos, mut step) = if done > 0 {
            let (p, _) = advance(pos, step, dstep, done);
            (p, step.wrapping_add_signed(dstep.wrapping_mul(done as i64)))
        } else {
            (pos, step)
        };
        for i in done..n {
            let idx = (pos >> 32) as usize * CH;
            let frac = ((pos as u32) >> 8) as i32 as f32 * FRAC24;
            let t = (i as i32 + 1) as f32;
            // SAFETY: in bounds by the caller's contract.
            let (a0, b0) = unsafe { (*ptr.add(idx), *ptr.add(idx + CH)) };
            let (a1, b1) = if CH == 2 {
                // SAFETY: as above (the right channel of the same frames).
                unsafe { (*ptr.add(idx + 1), *ptr.add(idx + 3)) }
            } else {
                (a0, b0)
            };
            l[i] += (a0 + (b0 - a0) * frac) * (gl + t * dl);
            r[i] += (a1 + (b1 - a1) * frac) * (gr + t * dr);
            pos += step;
            step = step.wrapping_add_signed(dstep);
        }
        (pos, step)
    }

    #[cfg(test)]
    mod tests {
        use super::super::{mono_lerp, stereo_lerp};

        #[test]
        fn gathers_match_the_scalar_loops_bit_for_bit() {
            if !std::is_x86_feature_detected!("avx2") {
                return;
            }
            let src: Vec<f32> = (0..20_000)
                .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5)
                .collect();
            for &(step, dstep, ramp) in &[
                (1u64 << 32, 0i64, false),
                (5_583_457_484u64, 0, false),
                (4_080_218_931u64, 0, true),
                (5_583_457_484u64, -1_234_567, true),
                (3_000_000_000u64, 2_345_678, false),
            ] {
                for n in [1usize, 7, 8, 9, 64, 255, 256] {
                    let g = if ramp {
                        [0.3, 0.7, 0.001, -0.002]
                    } else {
                        [0.3, 0.7, 0.0, 0.0]
                    };
                    let pos = 123u64 << 32 | 0x89AB_CDEF;
                    let mut out = [
                        vec![0.1f32; n],
                        vec![0.2f32; n],
                        vec![0.1f32; n],
                        vec![0.2f32; n],
                    ];
                    let [a, b, c, d] = &mut out;
                    let x = mono_lerp(&src, pos, step, dstep, a, b, g, false);
                    let y = mono_lerp(&src, pos, step, dstep, c, d, g, true);
                    assert_eq!(x, y);
                    assert_eq!(
                        (a.clone(), b.clone()),
                        (c.clone(), d.clone()),
                        "mono {step} {dstep} {n}"
                    );
                    let x = stereo_lerp(&src, pos, step, dstep, a, b, g, false);
                    let y = stereo_lerp(&src, pos, step, dstep, c, d, g, true);
                    assert_eq!(x, y);
                    assert_eq!(
                        (a.clone(), b.clone()),
                        (c.clone(), d.clone()),
                        "stereo {step} {dstep} {n}"
                    );
                }
            }
        }
    }
}

/// `Σ_c f[c] m[c]` over the frame's channels, summed in channel order.
#[inline(always)]
fn dot_row(f: &[f32], m: &[f32; 8]) -> f32 {
    let mut x = 0.0f32;
    for (s, g) in f.iter().zip(m) {
        x += s * g;
    }
    x
}

/// Interleaved source of `ch` channels (3 to 8) at unit rate into planes
/// `l` and `r` through the matrix rows `ma` and `mb` (gain per source
/// channel, [`super::OutputLayout::matrix`]): frame `i` adds
/// `(Σ_c s_c ma[c]) (g0 + (i + 1) d0)` to `l` and the same with `mb`, `g1`,
/// `d1` to `r` (gains `g = [g0, g1, d0, d1]`).
#[inline(always)]
pub fn matrix_unit(
    src: &[f32],
    ch: usize,
    l: &mut [f32],
    r: &mut [f32],
    ma: &[f32; 8],
    mb: &[f32; 8],
    g: [f32; 4],
) {
    let [g0, g1, d0, d1] = g;
    let n = (src.len() / ch).min(l.len()).min(r.len());
    let (l, r) = (&mut l[..n], &mut r[..n]);
    for (i, ((f, l), r)) in src
        .chunks_exact(ch)
        .zip(l.iter_mut())
        .zip(r.iter_mut())
        .enumerate()
    {
        let t = (i as i32 + 1) as f32;
        *l += dot_row(f, ma) * (g0 + t * d0);
        *r += dot_row(f, mb) * (g1 + t * d1);
    }
}

/// Interleaved source of `ch` channels (3 to 8) with linear interpolation
/// (each channel `a + (b − a) frac`, as in [`mono_lerp`]), then through the
/// matrix rows as in [`matrix_unit`]. Same position contract as
/// [`mono_lerp`] in frames.
///
/// # Panics
///
/// If the last frame's interpolation partner is outside `src`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn matrix_lerp(
    src: &[f32],
    ch: usize,
    mut pos: u64,
    mut step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    ma: &[f32; 8],
    mb: &[f32; 8],
    g: [f32; 4],
) -> (u64, u64) {
    let [g0, g1, d0, d1] = g;
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(
        (last + 2) * ch <= src.len(),
        "interpolation past the source"
    );
    let (l, r) = (&mut l[..n], &mut r[..n]);
    let mut v = [0.0f32; 8];
    for i in 0..n {
        let idx = (pos >> 32) as usize * ch;
        let frac = ((pos as u32) >> 8) as i32 as f32 * FRAC24;
        let (a, b) = (&src[idx..idx + ch], &src[idx + ch..idx + 2 * ch]);
        for ((v, a), b) in v.iter_mut().zip(a).zip(b) {
            *v = a + (b - a) * frac;
        }
        let t = (i as i32 + 1) as f32;
        l[i] += dot_row(&v[..ch], ma) * (g0 + t * d0);
        r[i] += dot_row(&v[..ch], mb) * (g1 + t * d1);
        pos += step;
        step = step.wrapping_add_signed(dstep);
    }
    (pos, step)
}
