//! Control: per-change tweens follow their curves (checked on the frames
//! where the renderer is exactly on the curve), scheduled gain changes land
//! on their frame, whole buses stop and pause, positions, and the beat clock.

use pcmring::mixer::{
    pan_gains, BeatClock, Clip, Curve, Loop, MixerBuilder, PlayParams, Tween, TWEEN_SEGMENT,
};
use pcmring::sound::Sound;

mod mixer_support;
use mixer_support::{render_stereo, RATE};

/// Stereo DC at 1.0: at centre pan the output is the gain itself.
fn dc() -> Sound {
    Sound::from_samples(vec![1.0f32; 2 * 100_000], 2, RATE).unwrap()
}

fn left(out: &[f32], frame: usize) -> f32 {
    out[2 * frame]
}

#[test]
fn tweens_follow_their_curves() {
    for curve in [Curve::Linear, Curve::ExponentialDb, Curve::SCurve] {
        for &(from, to) in &[(1.0f32, 0.25f32), (0.1, 0.8), (0.5, 0.0)] {
            let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
            let v = m.play(&dc(), PlayParams::new().gain(from)).unwrap();
            let _ = render_stereo(&mut r, 0, 512, 128);
            let frames = 1000u32;
            v.set_gain_tween(to, Tween { frames, curve }).unwrap();
            let out = render_stereo(&mut r, 512, 2048, 100);
            // Starts from `from` at once (the first block after the call).
            assert!((left(&out, 0) - from).abs() <= (from - to).abs() / 10.0);
            let mut k = TWEEN_SEGMENT;
            while k < frames {
                let want = curve.at(from, to, k as f32 / frames as f32);
                let got = left(&out, k as usize - 1);
                assert!(
                    (got - want).abs() < 1e-5,
                    "{curve:?} {from}->{to} frame {k}: {got} vs {want}"
                );
                k += TWEEN_SEGMENT;
            }
            assert_eq!(left(&out, frames as usize - 1), to);
            assert!(out[2 * frames as usize..].iter().all(|&x| x == to));
            // Between the exact points the gain moves monotonically.
            let seg: Vec<f32> = (0..frames as usize).map(|i| left(&out, i)).collect();
            let rising = to > from;
            assert!(seg
                .windows(2)
                .all(|w| if rising { w[1] >= w[0] } else { w[1] <= w[0] }));
        }
    }
}

#[test]
fn curves_have_their_shapes() {
    // dB-linear: the midpoint of 1 -> 0.01 is 0.1 (-20 dB), not 0.505.
    assert!((Curve::ExponentialDb.at(1.0, 0.01, 0.5) - 0.1).abs() < 1e-6);
    // S-curve: flat at the ends, steepest in the middle.
    let s = |x| Curve::SCurve.at(0.0, 1.0, x);
    assert!(s(0.05) < 0.05 * 0.5 && s(0.95) > 1.0 - 0.05 * 0.5);
    assert_eq!(s(0.5), 0.5);
    assert!((Curve::Linear.at(0.2, 0.6, 0.5) - 0.4).abs() < 1e-7);
    for c in [Curve::Linear, Curve::ExponentialDb, Curve::SCurve] {
        assert_eq!(c.at(0.3, 0.7, 1.0), 0.7);
        assert_eq!(c.at(0.3, 0.7, 0.0), 0.3);
    }
}

#[test]
fn scheduled_gain_changes_land_on_their_frame() {
    for block in [64usize, 100, 256, 333] {
        let (m, mut r) = MixerBuilder::new(RATE)
            .clip(Clip::Off)
            .ramp_frames(48)
            .build();
        let v = m.play(&dc(), PlayParams::new().gain(0.5)).unwrap();
        let at = 1_234u64;
        v.set_gain_at(at, 0.75).unwrap();
        let jump = 3_000u64;
        v.tween_gain_at(jump, 0.2, Tween::linear(0))
            .unwrap_err_or_ok();
        let out = render_stereo(&mut r, 0, 4_000, block);
        for f in 0..at as usize {
            assert_eq!(left(&out, f), 0.5, "block {block} frame {f}");
        }
        assert!(left(&out, at as usize) > 0.5);
        assert!((left(&out, at as usize + 47) - 0.75).abs() < 1e-6);
        assert_eq!(left(&out, at as usize + 48), 0.75);
        assert_eq!(left(&out, jump as usize - 1), 0.75);
        assert_eq!(left(&out, jump as usize), 0.2, "block {block}");
    }
}

/// `tween_gain_at` returns a Result; this keeps the test readable.
trait Ignore {
    fn unwrap_err_or_ok(self);
}
impl<E: std::fmt::Debug> Ignore for Result<(), E> {
    fn unwrap_err_or_ok(self) {
        self.unwrap();
    }
}

#[test]
fn a_plain_set_gain_replaces_a_tween() {
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .ramp_frames(10)
        .build();
    let v = m.play(&dc(), PlayParams::new().gain(1.0)).unwrap();
    v.set_gain_tween(0.0, Tween::linear(10_000)).unwrap();
    let _ = render_stereo(&mut r, 0, 256, 256);
    v.set_gain(0.3).unwrap();
    let out = render_stereo(&mut r, 256, 1024, 256);
    assert!(out[40..].iter().all(|&x| x == 0.3));
}

#[test]
fn a_whole_bus_stops_pauses_and_resumes() {
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .bus("music")
        .default_fade(0)
        .build();
    let music = m.bus("music").unwrap();
    let a = m
        .play(&dc(), PlayParams::new().gain(0.25).bus(music))
        .unwrap();
    let b = m
        .play(&dc(), PlayParams::new().gain(0.25).bus(music))
        .unwrap();
    let c = m.play(&dc(), PlayParams::new().gain(0.125)).unwrap();
    let _ = render_stereo(&mut r, 0, 256, 256);
    m.pause_bus(music).unwrap();
    let out = render_stereo(&mut r, 256, 256, 256);
    assert!(out.iter().all(|&x| x == 0.125));
    let (pa, pb) = (a.position().unwrap(), b.position().unwrap());
    m.resume_bus(music).unwrap();
    let _ = render_stereo(&mut r, 512, 256, 256);
    assert!(a.position().unwrap() > pa && b.position().unwrap() > pb);
    m.stop_bus(music).unwrap();
    let out = render_stereo(&mut r, 768, 256, 256);
    assert!(out.iter().all(|&x| x == 0.125));
    assert!(!a.is_active() && !b.is_active() && c.is_active());
}

#[test]
fn position_and_seek() {
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let src: Vec<f32> = (0..20_000).map(|i| i as f32 / 20_000.0).collect();
    let s = Sound::from_samples(src.clone(), 1, RATE).unwrap();
    let v = m
        .play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    let _ = render_stereo(&mut r, 0, 1000, 250);
    assert_eq!(v.position().unwrap(), 1000);
    v.seek(15_000).unwrap();
    let out = render_stereo(&mut r, 1000, 10, 10);
    assert_eq!(left(&out, 0), src[15_000]);
    assert_eq!(v.position().unwrap(), 15_010);
}

#[test]
fn voices_scheduled_on_beats_start_on_their_frames() {
    let mut clock = BeatClock::new(RATE, 150.0, 100);
    assert_eq!(clock.frame_of_beat(1.0), 100 + 19_200);
    assert_eq!(clock.beat_at(100 + 9_600), 0.5);
    assert_eq!(clock.next_beat(100 + 9_601, 4), 0.75);
    clock.set_tempo_at(2.0, 100.0);
    assert_eq!(clock.frame_of_beat(2.0), 100 + 38_400);
    assert_eq!(clock.frame_of_beat(3.0), 100 + 38_400 + 28_800);
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let click = Sound::from_samples(vec![0.5f32; 20], 1, RATE).unwrap();
    let beats = [2.0, 2.25, 2.5, 3.0];
    for b in beats {
        m.play(
            &click,
            PlayParams::new().pan(-1.0).at(clock.frame_of_beat(b)),
        )
        .unwrap();
    }
    let out = render_stereo(&mut r, 0, 80_000, 512);
    let onsets: Vec<u64> = (1..80_000)
        .filter(|&f| left(&out, f) != 0.0 && left(&out, f - 1) == 0.0)
        .map(|f| f as u64)
        .collect();
    let want: Vec<u64> = beats.iter().map(|&b| clock.frame_of_beat(b)).collect();
    assert_eq!(onsets, want);
}

/// Mono DC at 1.0: the output sides are the pan law's gains.
fn mono_dc() -> Sound {
    Sound::from_samples(vec![1.0f32; 100_000], 1, RATE).unwrap()
}

#[test]
fn pan_tweens_follow_their_curves() {
    for curve in [Curve::Linear, Curve::ExponentialDb, Curve::SCurve] {
        for &(from, to) in &[(-1.0f32, 1.0f32), (0.3, -0.6)] {
            let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
            let v = m.play(&mono_dc(), PlayParams::new().pan(from)).unwrap();
            let _ = render_stereo(&mut r, 0, 512, 128);
            let frames = 1000u32;
            v.set_pan_tween(to, Tween { frames, curve }).unwrap();
            let out = render_stereo(&mut r, 512, 2048, 100);
            // A pan has no decibels: its dB curve is linear.
            let shape = if curve == Curve::ExponentialDb {
                Curve::Linear
            } else {
                curve
            };
            let mut k = TWEEN_SEGMENT;
            while k < frames {
                let (wl, wr) = pan_gains(shape.at(from, to, k as f32 / frames as f32), 1);
                let f = k as usize - 1;
                let (gl, gr) = (out[2 * f], out[2 * f + 1]);
                assert!(
                    (gl - wl).abs() < 1e-5 && (gr - wr).abs() < 1e-5,
                    "{curve:?} {from}->{to} frame {k}: ({gl}, {gr}) vs ({wl}, {wr})"
                );
                k += TWEEN_SEGMENT;
            }
            let (wl, wr) = pan_gains(to, 1);
            let last = frames as usize - 1;
            assert!((out[2 * last] - wl).abs() < 1e-6 && (out[2 * last + 1] - wr).abs() < 1e-6);
            // Exactly the target from the next frame on.
            assert!(out[2 * frames as usize..]
                .chunks_exact(2)
                .all(|f| f == [wl, wr]));
        }
    }
}

/// Stereo frames whose value is their index: after linear interpolation the
/// output is the voice's position (to within f32 rounding).
fn index_ramp(frames: usize) -> Sound {
    Sound::from_samples(
        (0..frames)
            .flat_map(|i| [i as f32, i as f32])
            .collect::<Vec<f32>>(),
        2,
        RATE,
    )
    .unwrap()
}

#[test]
fn rate_tweens_follow_their_curves() {
    let seg = TWEEN_SEGMENT as usize;
    for curve in [Curve::Linear, Curve::ExponentialDb, Curve::SCurve] {
        for &(from, to) in &[(1.0f32, 2.0f32), (1.5, 0.5)] {
            let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
            let v = m
                .play(&index_ramp(20_000), PlayParams::new().rate(from))
                .unwrap();
            let start = 512usize;
            let before = render_stereo(&mut r, 0, start, 128);
            let frames = 1024u32;
            v.set_rate_tween(to, Tween { frames, curve }).unwrap();
            let out = render_stereo(&mut r, start as u64, 2048, 100);
            let pos = |i: usize| out[2 * i] as f64;
            // Before the tween: the steady rate.
            let p0 = before[2 * (start - 1)] as f64;
            assert!((pos(0) - p0 - from as f64).abs() < 2e-3);
            // The step after frame `k * SEGMENT` of the tween is on the curve.
            let value = |x: f64| curve.at(from, to, x as f32) as f64;
            for k in 1..(frames as usize / seg) {
                let f = k * seg;
                let got = pos(f + 1) - pos(f);
                let want = value(f as f64 / frames as f64);
                assert!(
                    (got - want).abs() < 2e-3,
                    "{curve:?} {from}->{to} frame {f}: rate {got} vs {want}"
                );
            }
            // The whole path: the position integrates the piecewise-linear
            // step between the curve points, frame by frame.
            let mut want = pos(0);
            for i in 0..(frames as usize + 500) {
                let rate = if i >= frames as usize {
                    to as f64
                } else {
                    let k = i / seg;
                    let (a, b) = (value((k * seg) as f64 / frames as f64), {
                        let e = ((k + 1) * seg).min(frames as usize);
                        value(e as f64 / frames as f64)
                    });
                    let a = if k == 0 { from as f64 } else { a };
                    a + (b - a) * (i - k * seg) as f64 / seg as f64
                };
                want += rate;
                assert!(
                    (pos(i + 1) - want).abs() < 0.01,
                    "{curve:?} {from}->{to} frame {}: position {} vs {want}",
                    i + 1,
                    pos(i + 1)
                );
            }
        }
    }
}

#[test]
fn scheduled_pan_and_rate_changes_land_on_their_frame() {
    for block in [64usize, 100, 256, 333] {
        let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
        let panned = m.play(&mono_dc(), PlayParams::new().pan(-0.5)).unwrap();
        let (m2, mut r2) = MixerBuilder::new(RATE).clip(Clip::Off).build();
        let pitched = m2
            .play(&index_ramp(20_000), PlayParams::new().rate(1.25))
            .unwrap();
        let at = 1_234u64;
        panned.tween_pan_at(at, 0.75, Tween::linear(0)).unwrap();
        pitched.tween_rate_at(at, 0.5, Tween::linear(0)).unwrap();
        let out = render_stereo(&mut r, 0, 4_000, block);
        let (l0, r0) = pan_gains(-0.5, 1);
        let (l1, r1) = pan_gains(0.75, 1);
        for f in 0..4_000usize {
            let want = if f < at as usize { [l0, r0] } else { [l1, r1] };
            assert_eq!(out[2 * f..2 * f + 2], want, "block {block} frame {f}");
        }
        let out = render_stereo(&mut r2, 0, 4_000, block);
        let pos = |i: usize| out[2 * i] as f64;
        let a = at as usize;
        // The step into frame `at` is the old rate, the step out of it the new one.
        assert!((pos(a) - pos(a - 1) - 1.25).abs() < 2e-3, "block {block}");
        assert!((pos(a + 1) - pos(a) - 0.5).abs() < 2e-3, "block {block}");
        assert!((pos(a) - 1.25 * a as f64).abs() < 2e-3, "block {block}");
        assert!((pos(3_000) - (1.25 * a as f64 + 0.5 * (3_000 - a) as f64)).abs() < 2e-3);
    }
}

#[test]
fn a_plain_change_replaces_only_its_own_parameters_tween() {
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .ramp_frames(10)
        .build();
    let v = m.play(&mono_dc(), PlayParams::new().pan(-1.0)).unwrap();
    v.set_pan_tween(1.0, Tween::linear(512)).unwrap();
    let _ = render_stereo(&mut r, 0, 256, 256);
    // A gain change leaves the pan tween running.
    v.set_gain(0.5).unwrap();
    let out = render_stereo(&mut r, 256, 512, 256);
    let (wl, wr) = pan_gains(1.0, 1);
    let f = 511 - 256;
    assert_eq!((out[2 * f], out[2 * f + 1]), (0.5 * wl, 0.5 * wr));
    // A plain pan change cancels a pan tween.
    v.set_pan_tween(-1.0, Tween::linear(10_000)).unwrap();
    let _ = render_stereo(&mut r, 768, 256, 256);
    v.set_pan(0.0).unwrap();
    let out = render_stereo(&mut r, 1024, 256, 256);
    let (cl, cr) = pan_gains(0.0, 1);
    assert_eq!((out[2 * 100], out[2 * 100 + 1]), (0.5 * cl, 0.5 * cr));
}

#[test]
fn gain_and_pan_tweens_started_together_are_both_on_their_curves() {
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    let v = m.play(&mono_dc(), PlayParams::new().pan(-1.0)).unwrap();
    let _ = render_stereo(&mut r, 0, 256, 256);
    let frames = 640u32;
    let at = 300u64;
    v.tween_gain_at(at, 0.2, Tween::exponential_db(frames))
        .unwrap();
    v.tween_pan_at(at, 1.0, Tween::s_curve(frames)).unwrap();
    let out = render_stereo(&mut r, 256, 1_024, 100);
    for k in 1..=(frames / TWEEN_SEGMENT) as usize {
        let x = (k as u32 * TWEEN_SEGMENT) as f32 / frames as f32;
        let g = Curve::ExponentialDb.at(1.0, 0.2, x);
        let (wl, wr) = pan_gains(Curve::SCurve.at(-1.0, 1.0, x), 1);
        let f = (at - 256) as usize + k * TWEEN_SEGMENT as usize - 1;
        let (gl, gr) = (out[2 * f], out[2 * f + 1]);
        assert!(
            (gl - g * wl).abs() < 1e-5 && (gr - g * wr).abs() < 1e-5,
            "segment {k}: ({gl}, {gr}) vs ({}, {})",
            g * wl,
            g * wr
        );
    }
}
