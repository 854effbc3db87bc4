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

/// The instruction set the kernels use, picked once at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// Baseline x86_64 (SSE2) or another architecture: plain loops.
    Portable,
    /// AVX2: gathers for ramping interpolation.
    Avx2,
    /// AVX-512F: sixteen-frame interpolation ([`wide`]).
    Avx512,
}

impl Simd {
    /// The widest set this CPU has.
    pub fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Simd::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Portable
    }

    /// The set for vectors of at most `bits` (128, 256 or 512) on this CPU.
    pub fn up_to(bits: u32) -> Simd {
        let widest = match bits {
            0..=255 => Simd::Portable,
            256..=511 => Simd::Avx2,
            _ => Simd::Avx512,
        };
        widest.min(Simd::detect())
    }
}

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
/// and the step then in use, `step + k * dstep`. Wrapping arithmetic, exact
/// because positions and steps are never negative and fit in a u64.
#[inline(always)]
pub fn advance(pos: u64, step: u64, dstep: i64, k: usize) -> (u64, u64) {
    let k = k as u64;
    let tri = k.wrapping_mul(k.saturating_sub(1)) / 2;
    let d = dstep as u64;
    let p = pos
        .wrapping_add(step.wrapping_mul(k))
        .wrapping_add(d.wrapping_mul(tri));
    (p, step.wrapping_add(d.wrapping_mul(k)))
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
    simd: Simd,
) -> (u64, u64) {
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(last + 1 < src.len(), "interpolation past the source");
    let ramp = dstep != 0 || g[2] != 0.0 || g[3] != 0.0;
    let (l, r) = (&mut l[..n], &mut r[..n]);
    // The vector kernels index with 32-bit lanes.
    #[cfg(target_arch = "x86_64")]
    if src.len() < 1 << 31 {
        match simd {
            Simd::Avx512 if ramp => {
                // SAFETY: `simd` is at most what `Simd::detect` found on this
                // CPU; the index bound is checked above, the length just now.
                return unsafe {
                    wide::mono_lerp::<true>(src, pos, step, dstep, l, r, g[0], g[1], g[2], g[3])
                };
            }
            Simd::Avx512 => {
                // SAFETY: as above.
                return unsafe {
                    wide::mono_lerp::<false>(src, pos, step, dstep, l, r, g[0], g[1], g[2], g[3])
                };
            }
            Simd::Avx2 if ramp => {
                // SAFETY: as above.
                return unsafe { gather::lerp::<1>(src, pos, step, dstep, l, r, g) };
            }
            _ => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (simd, ramp);
    // SAFETY: the step stays positive and the position only grows, so every
    // index read below is at most `last + 1 < src.len()`.
    unsafe { mono_lerp_unchecked(src, pos, step, dstep, l, r, g) }
}

/// What follows a ramp in [`mono_lerp_then`]: `frames` more frames at the
/// steady step `step` with the flat gains `gl`, `gr` (where the rate and
/// gain ramps land).
#[derive(Debug, Clone, Copy)]
pub struct Then {
    pub frames: usize,
    pub step: u64,
    pub gl: f32,
    pub gr: f32,
}

/// [`mono_lerp`] over the first `l.len() - then.frames` frames, then the
/// steady, flat phase `then` over the rest: the same result as two calls,
/// in one (on AVX-512 one kernel entry, without the voice loop's second
/// span).
///
/// # Panics
///
/// If `then.frames > l.len()`, or as [`mono_lerp`] does for either phase.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn mono_lerp_then(
    src: &[f32],
    pos: u64,
    step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
    then: Then,
    simd: Simd,
) -> (u64, u64) {
    let n = l.len().min(r.len());
    let k = n - then.frames;
    // (The wide path when `mono_lerp` would take its ramping kernel first.)
    let ramp = dstep != 0 || g[2] != 0.0 || g[3] != 0.0;
    #[cfg(target_arch = "x86_64")]
    if simd == Simd::Avx512 && ramp && k > 0 && then.frames > 0 && src.len() < 1 << 31 {
        let mid = advance(pos, step, dstep, k).0;
        // Positions only grow: the last frame of the steady phase reads the
        // furthest.
        let last = last_index(mid, then.step, 0, then.frames);
        assert!(last + 1 < src.len(), "interpolation past the source");
        let (l, r) = (l[..n].split_at_mut(k), r[..n].split_at_mut(k));
        let [gl, gr, dl, dr] = g;
        let (s1, gl1, gr1) = (then.step, then.gl, then.gr);
        // SAFETY: `simd` is at most what `Simd::detect` found on this CPU;
        // every index of both phases is at most `last`, checked above, and
        // the length just now.
        return unsafe {
            wide::mono_lerp_then(src, pos, step, dstep, l, r, gl, gr, dl, dr, s1, gl1, gr1)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ramp;
    let (l0, l1) = l[..n].split_at_mut(k);
    let (r0, r1) = r[..n].split_at_mut(k);
    let (mid, _) = mono_lerp(src, pos, step, dstep, l0, r0, g, simd);
    let flat = [then.gl, then.gr, 0.0, 0.0];
    mono_lerp(src, mid, then.step, 0, l1, r1, flat, simd)
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
    simd: Simd,
) -> (u64, u64) {
    let [gl, gr, dl, dr] = g;
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(2 * last + 3 < src.len(), "interpolation past the source");
    #[cfg(target_arch = "x86_64")]
    if simd >= Simd::Avx2 && (dstep != 0 || g[2] != 0.0 || g[3] != 0.0) && src.len() < 1 << 31 {
        // SAFETY: as in `mono_lerp`; the stereo bound is checked above.
        return unsafe { gather::lerp::<2>(src, pos, step, dstep, &mut l[..n], &mut r[..n], g) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = simd;
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
        let (mut pos, mut step) = advance(pos, step, dstep, done);
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
        use super::super::{mono_lerp, stereo_lerp, Simd};

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
                // Above 1.9 frames per step (gathers in the AVX-512 kernel),
                // steady and ramping across it.
                (9_000_000_000u64, 0, true),
                (7_900_000_000u64, 40_000_000, true),
            ] {
                // The whole source, and only as much as the last frame needs
                // (the window loads then fall back near the end).
                for (n, short) in [1usize, 7, 8, 9, 64, 255, 256]
                    .into_iter()
                    .flat_map(|n| [(n, false), (n, true)])
                {
                    let g = if ramp {
                        [0.3, 0.7, 0.001, -0.002]
                    } else {
                        [0.3, 0.7, 0.0, 0.0]
                    };
                    let pos = 123u64 << 32 | 0x89AB_CDEF;
                    let need = super::super::last_index(pos, step, dstep, n) + 2;
                    // Stereo reads two samples per frame.
                    let (mono, stereo) = if short {
                        (&src[..need], &src[..2 * need])
                    } else {
                        (&src[..], &src[..])
                    };
                    let mut out = [
                        vec![0.1f32; n],
                        vec![0.2f32; n],
                        vec![0.1f32; n],
                        vec![0.2f32; n],
                    ];
                    let [a, b, c, d] = &mut out;
                    for simd in [Simd::Avx2, Simd::Avx512] {
                        if simd > Simd::detect() {
                            continue;
                        }
                        let (mut a, mut b) = (a.clone(), b.clone());
                        let (mut c, mut d) = (a.clone(), b.clone());
                        let x =
                            mono_lerp(mono, pos, step, dstep, &mut a, &mut b, g, Simd::Portable);
                        let y = mono_lerp(mono, pos, step, dstep, &mut c, &mut d, g, simd);
                        assert_eq!(x, y);
                        assert_eq!((a, b), (c, d), "mono {simd:?} {step} {dstep} {n} {short}");
                    }
                    let x = stereo_lerp(stereo, pos, step, dstep, a, b, g, Simd::Portable);
                    let y = stereo_lerp(stereo, pos, step, dstep, c, d, g, Simd::Avx2);
                    assert_eq!(x, y);
                    assert_eq!(
                        (a.clone(), b.clone()),
                        (c.clone(), d.clone()),
                        "stereo {step} {dstep} {n} {short}"
                    );
                }
            }
        }
    }
}

/// The interpolating mono kernel with AVX-512: sixteen output frames per
/// iteration. The sixteen positions are 64-bit lanes (two registers) that
/// advance by the exact sums of the steps, as in [`gather`]. When the
/// steps are below about 1.9 frames, a group's frames and their partners
/// lie within 32 samples of its first frame: two loads and two
/// two-register permutes fetch them; otherwise (and near the end of the
/// source) a masked gather does. The last group is masked, so there is no
/// scalar tail. Same operations in the same order as the scalar loop,
/// without fused multiply-add: bit-identical results (tested with the
/// AVX2 kernels, in [`gather`]).
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{advance, FRAC24};
    use std::arch::x86_64::*;

    /// Same contract and result as [`super::mono_lerp`]'s scalar loops;
    /// `RAMP` is false only for steady rate and flat gains (`dstep == 0`,
    /// `g[2] == g[3] == 0`).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `r.len() >= l.len()`; the last frame's index
    /// `last` has `last + 1 < src.len()` (checked by the caller);
    /// `src.len() < 2^31`.
    ///
    /// (The gains come as four scalars, in registers: as an array they
    /// went through the stack, and the kernel's first load of them waited
    /// on a failed store forward.)
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mono_lerp<const RAMP: bool>(
        src: &[f32],
        pos: u64,
        step: u64,
        dstep: i64,
        l: &mut [f32],
        r: &mut [f32],
        gl: f32,
        gr: f32,
        dl: f32,
        dr: f32,
    ) -> (u64, u64) {
        let n = l.len();
        let ptr = src.as_ptr();
        let len = src.len();
        // Lane k starts at frame k: pos + k step + k (k - 1) / 2 dstep; its
        // next 16 steps sum to 16 step + 120 dstep + 16 k dstep. Wrapping
        // arithmetic is exact here: every true value fits in a u64.
        let dstep_u = dstep as u64;
        let sum16 = step
            .wrapping_mul(16)
            .wrapping_add(dstep_u.wrapping_mul(120));
        // The largest step of the call (a ramp is monotonic): whether every
        // group's frames and partners fit 32 samples from its first frame.
        let last_step = (step as i128 + dstep as i128 * n as i128).max(1) as u64;
        let windowed = 15 * (step.max(last_step) as u128) <= 29u128 << 32;
        // SAFETY: register arithmetic, and per group: masked loads and stores of the group's
        // frames of `l` and `r` (the mask covers only frames `< n`); window
        // loads of `src[first..first + 32]` only when that is inside `src`;
        // otherwise a gather masked to the group's frames, whose indices are
        // frame indices of this call and so within `src` by the contract.
        unsafe {
            let k0 = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
            let k1 = _mm512_setr_epi64(8, 9, 10, 11, 12, 13, 14, 15);
            let tri0 = _mm512_setr_epi64(0, 0, 1, 3, 6, 10, 15, 21);
            let tri1 = _mm512_setr_epi64(28, 36, 45, 55, 66, 78, 91, 105);
            let at = |k: __m512i, tri: __m512i| {
                let p = _mm512_add_epi64(_mm512_set1_epi64(pos as i64), times(step, k));
                _mm512_add_epi64(p, times(dstep_u, tri))
            };
            let ahead = |k: __m512i| {
                let d = times(dstep_u, _mm512_slli_epi64::<4>(k));
                _mm512_add_epi64(_mm512_set1_epi64(sum16 as i64), d)
            };
            let (mut p0, mut p1) = (at(k0, tri0), at(k1, tri1));
            let (mut d0, mut d1) = (ahead(k0), ahead(k1));
            let dd = _mm512_set1_epi64(dstep.wrapping_mul(256));
            // The high and low 32-bit halves of 16 positions, in frame order.
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let zero = _mm512_setzero_si512();
            let one = _mm512_set1_epi32(1);
            let scale = _mm512_set1_ps(FRAC24);
            let (vgl, vgr, vdl, vdr) = (
                _mm512_set1_ps(gl),
                _mm512_set1_ps(gr),
                _mm512_set1_ps(dl),
                _mm512_set1_ps(dr),
            );
            let mut t = _mm512_setr_ps(
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
                16.0,
            );
            let sixteen = _mm512_set1_ps(16.0);
            let mut done = 0;
            while done < n {
                let left = n - done;
                let mask: __mmask16 = if left >= 16 { 0xFFFF } else { (1 << left) - 1 };
                let hi = _mm512_permutex2var_epi32(p0, odd, p1);
                let lo = _mm512_permutex2var_epi32(p0, even, p1);
                let fr = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<8>(lo)), scale);
                let first = _mm_cvtsi128_si32(_mm512_castsi512_si128(hi)) as usize;
                let (a, b) = if windowed && first + 32 <= len {
                    let w0 = _mm512_loadu_ps(ptr.add(first));
                    let w1 = _mm512_loadu_ps(ptr.add(first + 16));
                    let off = _mm512_sub_epi32(hi, _mm512_permutexvar_epi32(zero, hi));
                    (
                        _mm512_permutex2var_ps(w0, off, w1),
                        _mm512_permutex2var_ps(w0, _mm512_add_epi32(off, one), w1),
                    )
                } else {
                    let z = _mm512_setzero_ps();
                    (
                        _mm512_mask_i32gather_ps::<4>(z, mask, hi, ptr),
                        _mm512_mask_i32gather_ps::<4>(z, mask, hi, ptr.add(1)),
                    )
                };
                let s = _mm512_add_ps(a, _mm512_mul_ps(_mm512_sub_ps(b, a), fr));
                let (g_l, g_r) = if RAMP {
                    (
                        _mm512_add_ps(vgl, _mm512_mul_ps(t, vdl)),
                        _mm512_add_ps(vgr, _mm512_mul_ps(t, vdr)),
                    )
                } else {
                    (vgl, vgr)
                };
                let lp = l.as_mut_ptr().add(done);
                let rp = r.as_mut_ptr().add(done);
                let ol = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, lp), _mm512_mul_ps(s, g_l));
                let or = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, rp), _mm512_mul_ps(s, g_r));
                _mm512_mask_storeu_ps(lp, mask, ol);
                _mm512_mask_storeu_ps(rp, mask, or);
                p0 = _mm512_add_epi64(p0, d0);
                p1 = _mm512_add_epi64(p1, d1);
                d0 = _mm512_add_epi64(d0, dd);
                d1 = _mm512_add_epi64(d1, dd);
                t = _mm512_add_ps(t, sixteen);
                done += 16;
            }
        }
        advance(pos, step, dstep, n)
    }

    /// [`super::mono_lerp_then`]: the ramping kernel into `l0`, `r0`, then
    /// the steady, flat one (step `then_step`, gains `then_gl`, `then_gr`)
    /// into `l1`, `r1`. Everything comes as scalars and slices, in
    /// registers, as for [`mono_lerp`].
    ///
    /// # Safety
    /// As [`mono_lerp`], for both phases (`r0`, `r1` at least as long as
    /// `l0`, `l1`).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mono_lerp_then(
        src: &[f32],
        pos: u64,
        step: u64,
        dstep: i64,
        (l0, l1): (&mut [f32], &mut [f32]),
        (r0, r1): (&mut [f32], &mut [f32]),
        gl: f32,
        gr: f32,
        dl: f32,
        dr: f32,
        then_step: u64,
        then_gl: f32,
        then_gr: f32,
    ) -> (u64, u64) {
        // SAFETY: the caller's contract covers both phases' frames.
        unsafe {
            let (mid, _) = mono_lerp::<true>(src, pos, step, dstep, l0, r0, gl, gr, dl, dr);
            mono_lerp::<false>(src, mid, then_step, 0, l1, r1, then_gl, then_gr, 0.0, 0.0)
        }
    }

    /// `x * k` per 64-bit lane, wrapping, for lanes `k < 2^32`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn times(x: u64, k: __m512i) -> __m512i {
        let x = _mm512_set1_epi64(x as i64);
        let lo = _mm512_mul_epu32(x, k);
        let hi = _mm512_mul_epu32(_mm512_srli_epi64::<32>(x), k);
        _mm512_add_epi64(lo, _mm512_slli_epi64::<32>(hi))
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
