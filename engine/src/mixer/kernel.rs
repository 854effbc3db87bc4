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
        let t = (i + 1) as f32;
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
        let t = (i + 1) as f32;
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
pub fn mono_lerp(
    src: &[f32],
    pos: u64,
    step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
) -> (u64, u64) {
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(last + 1 < src.len(), "interpolation past the source");
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
            let t = (i + 1) as f32;
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
pub fn stereo_lerp(
    src: &[f32],
    mut pos: u64,
    mut step: u64,
    dstep: i64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
) -> (u64, u64) {
    let [gl, gr, dl, dr] = g;
    let n = l.len().min(r.len());
    if n == 0 {
        return (pos, step);
    }
    let last = last_index(pos, step, dstep, n);
    assert!(2 * last + 3 < src.len(), "interpolation past the source");
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
        let t = (i + 1) as f32;
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
            dst[i] += src[i] * (g0 + (i + 1) as f32 * d);
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
