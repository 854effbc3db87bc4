//! Click-free parameter changes: a gain, pan or rate step, a stop fade and a
//! pause never make the output jump by more than the documented bound:
//! `|Δgain| * max|source| / ramp_frames` (plus the source's own step).

use pcmring::mixer::{Clip, Loop, MixerBuilder, PlayParams};
use pcmring::sound::Sound;

mod mixer_support;
use mixer_support::{render_stereo, RATE};

const RAMP: u32 = 240;

fn max_jump(out: &[f32], ch: usize) -> f32 {
    out.iter()
        .skip(ch)
        .step_by(2)
        .zip(out.iter().skip(ch + 2).step_by(2))
        .map(|(a, b)| (b - a).abs())
        .fold(0.0, f32::max)
}

fn dc() -> Sound {
    Sound::from_samples(vec![1.0; 10_000], 1, RATE).unwrap()
}

#[test]
fn gain_step_is_ramped_within_bound() {
    for &(from, to) in &[(0.0f32, 1.0f32), (1.0, 0.0), (0.2, 0.9), (1.0, 4.0)] {
        for &block in &[1usize, 64, 256, 333] {
            let (m, mut r) = MixerBuilder::new(RATE)
                .ramp_frames(RAMP)
                .clip(Clip::Off)
                .build();
            let v = m
                .play(
                    &dc(),
                    PlayParams::new().gain(from).pan(-1.0).looping(Loop::Whole),
                )
                .unwrap();
            let mut out = render_stereo(&mut r, 0, 300, block);
            v.set_gain(to).unwrap();
            out.extend(render_stereo(&mut r, 300, 900, block));
            let bound = (to - from).abs() / RAMP as f32 * 1.0001 + 1e-6;
            let jump = max_jump(&out, 0);
            assert!(
                jump <= bound,
                "{from}->{to} block {block}: jump {jump} > {bound}"
            );
            // And it arrives: the ramp ends at the target.
            assert_eq!(*out.iter().step_by(2).next_back().unwrap(), to);
            // Without the ramp the jump would have been the whole step (the test can fail).
            assert!(jump > 0.0 || from == to);
        }
    }
}

#[test]
fn pan_sweep_is_ramped() {
    let (m, mut r) = MixerBuilder::new(RATE)
        .ramp_frames(RAMP)
        .clip(Clip::Off)
        .build();
    let v = m
        .play(&dc(), PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    let mut out = render_stereo(&mut r, 0, 256, 256);
    v.set_pan(1.0).unwrap();
    out.extend(render_stereo(&mut r, 256, 768, 256));
    for ch in 0..2 {
        let jump = max_jump(&out, ch);
        assert!(jump <= 1.0 / RAMP as f32 * 1.0001, "channel {ch}: {jump}");
    }
    assert!(out[out.len() - 2].abs() < 1e-6 && (out[out.len() - 1] - 1.0).abs() < 1e-6);
}

#[test]
fn stop_and_pause_fade_within_bound() {
    let fade = 480u32;
    let (m, mut r) = MixerBuilder::new(RATE)
        .default_fade(fade)
        .clip(Clip::Off)
        .build();
    let v = m
        .play(&dc(), PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    let w = m
        .play(&dc(), PlayParams::new().pan(1.0).looping(Loop::Whole))
        .unwrap();
    let mut out = render_stereo(&mut r, 0, 100, 100);
    v.stop().unwrap();
    w.pause().unwrap();
    out.extend(render_stereo(&mut r, 100, 1000, 100));
    for ch in 0..2 {
        let jump = max_jump(&out, ch);
        assert!(jump <= 1.0 / fade as f32 * 1.0001, "channel {ch}: {jump}");
    }
    assert!(!v.is_active());
    assert!(w.is_active());
    w.resume().unwrap();
    let out = render_stereo(&mut r, 1100, 1000, 100);
    assert!(max_jump(&out, 1) <= 1.0 / r_ramp() * 1.0001);
}

fn r_ramp() -> f32 {
    (RATE / 200) as f32 // the builder's default ramp: 5 ms
}

#[test]
fn fade_in_is_ramped() {
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    m.play(&dc(), PlayParams::new().pan(-1.0).fade_in(1000).at(10))
        .unwrap();
    let out = render_stereo(&mut r, 0, 2000, 128);
    assert!(max_jump(&out, 0) <= 1.0 / 1000.0 * 1.0001);
    assert_eq!(out[2 * 1500], 1.0);
}

#[test]
fn rate_change_is_smooth_on_a_smooth_source() {
    // A slow sine: its own step is tiny, so a jump would show a click.
    let s: Vec<f32> = (0..48_000)
        .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 100.0 / 48_000.0).sin())
        .collect();
    let s = Sound::from_samples(s, 1, RATE).unwrap();
    let (m, mut r) = MixerBuilder::new(RATE)
        .ramp_frames(RAMP)
        .clip(Clip::Off)
        .build();
    let v = m
        .play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    let mut out = render_stereo(&mut r, 0, 1000, 256);
    v.set_rate(3.0).unwrap();
    out.extend(render_stereo(&mut r, 1000, 3000, 256));
    // At 100 Hz * 3 the largest natural step is 2π·300/48000 ≈ 0.039.
    let jump = max_jump(&out, 0);
    assert!(jump < 0.045, "jump {jump}");
}
