//! Shared helpers for the mixer integration tests: the test rate and
//! rendering stereo output through a `MixerRenderer`.

#![allow(dead_code)]

use pcmring::mixer::{BlockInfo, MixerRenderer};

/// The device rate every mixer test runs at.
pub const RATE: u32 = 48_000;

/// Renders one stereo block at device frame `frame_time` into `out`, whose
/// length sets the block (`out.len() / 2` frames). Does not allocate.
pub fn render_stereo_block(r: &mut MixerRenderer, out: &mut [f32], frame_time: u64) {
    let frames = out.len() / 2;
    r.render(
        out,
        &BlockInfo {
            frame_time,
            frames,
            channels: 2,
            rate: RATE,
        },
    );
}

/// Renders `frames` frames of stereo starting at `t0` in blocks of `block`.
pub fn render_stereo(r: &mut MixerRenderer, t0: u64, frames: usize, block: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; frames * 2];
    let mut done = 0;
    while done < frames {
        let n = block.min(frames - done);
        render_stereo_block(r, &mut out[done * 2..(done + n) * 2], t0 + done as u64);
        done += n;
    }
    out
}
