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

/// Mono source at rate `step` (32.32) with linear interpolation, from
/// position `pos` (32.32, relative to `src[0]`), gains per the module
/// convention. Mixes `l.len()` frames and returns the position after them.
///
/// # Panics
///
/// If the last frame's interpolation partner is outside `src`, i.e. unless
/// `((pos + (n - 1) * step) >> 32) + 1 < src.len()` for `n = l.len() > 0`.
#[inline(always)]
pub fn mono_lerp(
    src: &[f32],
    pos: u64,
    step: u64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
) -> u64 {
    let n = l.len().min(r.len());
    if n == 0 {
        return pos;
    }
    let last = ((pos + (n as u64 - 1) * step) >> 32) as usize;
    assert!(last + 1 < src.len(), "interpolation past the source");
    // SAFETY: positions only grow (step > 0 is not needed: step is unsigned),
    // so every index read below is at most `last + 1 < src.len()`.
    unsafe { mono_lerp_unchecked(src, pos, step, &mut l[..n], &mut r[..n], g) }
}

/// # Safety
/// `((pos + (l.len() - 1) * step) >> 32) + 1 < src.len()` and `r.len() >= l.len()`.
#[inline(always)]
unsafe fn mono_lerp_unchecked(
    src: &[f32],
    mut pos: u64,
    step: u64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
) -> u64 {
    let [gl, gr, dl, dr] = g;
    let p = src.as_ptr();
    let n = l.len();
    let r = &mut r[..n];
    if dl == 0.0 && dr == 0.0 {
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
        }
    }
    pos
}

/// Interleaved stereo source at rate `step` with linear interpolation; same
/// contract as [`mono_lerp`] in frames.
#[inline(always)]
pub fn stereo_lerp(
    src: &[f32],
    mut pos: u64,
    step: u64,
    l: &mut [f32],
    r: &mut [f32],
    g: [f32; 4],
) -> u64 {
    let [gl, gr, dl, dr] = g;
    let n = l.len().min(r.len());
    if n == 0 {
        return pos;
    }
    let last = ((pos + (n as u64 - 1) * step) >> 32) as usize;
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
    }
    pos
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
