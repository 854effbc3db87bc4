//! A voice's view of a bus's planar scratch: one plane of `stride` samples
//! per output channel, and a frame range inside them.

/// Output planes (`stride` samples each, back to back) and the frames
/// `[start, start + len)` a voice mixes into.
pub(crate) struct Planes<'a> {
    buf: &'a mut [f32],
    stride: usize,
    start: usize,
    len: usize,
}

impl<'a> Planes<'a> {
    /// Frames `[start, start + len)` of the planes in `buf`.
    pub fn new(buf: &'a mut [f32], stride: usize, start: usize, len: usize) -> Planes<'a> {
        Planes {
            buf,
            stride,
            start,
            len,
        }
    }

    /// Frames in the range.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Frames `[a, b)` of this range.
    #[inline(always)]
    pub fn sub(&mut self, a: usize, b: usize) -> Planes<'_> {
        Planes {
            buf: &mut *self.buf,
            stride: self.stride,
            start: self.start + a,
            len: b - a,
        }
    }

    /// Frames `[a, b)` of this range in planes `2p` and `2p + 1`.
    #[inline(always)]
    pub fn pair(&mut self, p: usize, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
        let st = self.stride;
        let (x, y) = self.buf[2 * p * st..(2 * p + 2) * st].split_at_mut(st);
        let (a, b) = (self.start + a, self.start + b);
        (&mut x[a..b], &mut y[a..b])
    }
}
