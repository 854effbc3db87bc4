//! The render callback the engine calls once per block, and where that
//! block sits on the device clock. Shared by the engine and the mixer.

/// Where a block sits on the device's 64-bit frame clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// The device frame (widened hardware position clock) at which
    /// `out[0]` will be heard.
    pub frame_time: u64,
    /// Frames in the block.
    pub frames: usize,
    /// Interleaved channels per frame.
    pub channels: usize,
    /// Frames per second.
    pub rate: u32,
}

/// The realtime render callback: fill `out` (interleaved f32,
/// `frames * channels`, zeroed before the call) for the block described by
/// `info`. Runs on the RT thread: must not allocate, lock or block.
pub trait Renderer: Send + 'static {
    /// Renders one block.
    fn render(&mut self, out: &mut [f32], info: &BlockInfo);
}

impl<F: FnMut(&mut [f32], &BlockInfo) + Send + 'static> Renderer for F {
    fn render(&mut self, out: &mut [f32], info: &BlockInfo) {
        self(out, info)
    }
}
