//! Exactness of the mixer: known outputs, sums, sample-accurate starts and
//! stops across block boundaries, loops, rates, buses.

use pcmring::mixer::{
    pan_gains, BlockInfo, Clip, Loop, Mixer, MixerBuilder, MixerError, MixerRenderer, PlayParams,
};
use pcmring::sound::Sound;
use std::f32::consts::FRAC_1_SQRT_2;

mod mixer_support;
use mixer_support::{render_stereo, RATE};

fn mixer() -> (Mixer, MixerRenderer) {
    MixerBuilder::new(RATE).voices(64).clip(Clip::Off).build()
}

/// A mono sound whose sample i is (i + 1) / 1024: exact in f32, never zero.
fn ramp_sound(frames: usize) -> Sound {
    Sound::from_samples(
        (0..frames)
            .map(|i| (i + 1) as f32 / 1024.0)
            .collect::<Vec<_>>(),
        1,
        RATE,
    )
    .unwrap()
}

#[test]
fn one_voice_unity_centre_is_source_times_pan_law() {
    let (m, mut r) = mixer();
    let s = ramp_sound(300);
    m.play(&s, PlayParams::new()).unwrap();
    let out = render_stereo(&mut r, 0, 400, 128);
    let (gl, gr) = pan_gains(0.0, 1);
    assert_eq!((gl, gr), (FRAC_1_SQRT_2, FRAC_1_SQRT_2));
    for i in 0..300 {
        assert_eq!(out[2 * i], s.samples()[i] * gl, "left {i}");
        assert_eq!(out[2 * i + 1], s.samples()[i] * gr, "right {i}");
    }
    assert!(
        out[600..].iter().all(|&x| x == 0.0),
        "silence after a one-shot ends"
    );
}

#[test]
fn hard_pans_and_stereo_balance() {
    let (m, mut r) = mixer();
    let s = ramp_sound(64);
    m.play(&s, PlayParams::new().pan(-1.0)).unwrap();
    let out = render_stereo(&mut r, 0, 64, 64);
    for i in 0..64 {
        assert_eq!(out[2 * i], s.samples()[i]);
        assert!(out[2 * i + 1].abs() < 1e-7 * s.samples()[i]);
    }
    let st: Vec<f32> = (0..64)
        .flat_map(|i| [i as f32 / 64.0, -(i as f32) / 128.0])
        .collect();
    let st = Sound::from_samples(st, 2, RATE).unwrap();
    m.play(&st, PlayParams::new()).unwrap();
    let out = render_stereo(&mut r, 64, 64, 64);
    assert_eq!(
        &out[..],
        st.samples(),
        "stereo at centre passes both channels at unity"
    );
}

#[test]
fn identical_voices_sum() {
    let (m, mut r) = mixer();
    let s = ramp_sound(256);
    for _ in 0..8 {
        m.play(&s, PlayParams::new().pan(-1.0)).unwrap();
    }
    for _ in 0..5 {
        m.play(&s, PlayParams::new()).unwrap();
    }
    let out = render_stereo(&mut r, 0, 256, 256);
    for i in 0..256 {
        let x = s.samples()[i];
        let centre = x * FRAC_1_SQRT_2;
        // Left: 8 exact copies (sums of k/1024 are exact) plus 5 centre copies.
        let want_l = 8.0 * x + 5.0 * centre;
        assert!(
            (out[2 * i] - want_l).abs() <= 4.0 * f32::EPSILON * want_l,
            "left {i}: {} vs {want_l}",
            out[2 * i]
        );
        let want_r = 5.0 * centre;
        assert!(
            (out[2 * i + 1] - want_r).abs() <= 4.0 * f32::EPSILON * want_r,
            "right {i}"
        );
    }
}

#[test]
fn scheduled_start_is_sample_accurate_for_any_block_size() {
    for &block in &[1usize, 7, 64, 256] {
        for &f in &[0u64, 1, 6, 7, 63, 64, 65, 255, 256, 257, 1000] {
            let (m, mut r) = mixer();
            let s = ramp_sound(50);
            m.play(&s, PlayParams::new().pan(-1.0).at(10_000 + f))
                .unwrap();
            let out = render_stereo(&mut r, 10_000, 1400, block);
            let first = out.iter().step_by(2).position(|&x| x != 0.0);
            assert_eq!(first, Some(f as usize), "block {block}, start {f}");
            for k in 0..50 {
                assert_eq!(
                    out[2 * (f as usize + k)],
                    s.samples()[k],
                    "block {block}, start {f}, frame {k}"
                );
            }
            assert_eq!(out[2 * (f as usize + 50)], 0.0);
        }
    }
}

#[test]
fn scheduled_stop_is_sample_accurate() {
    for &block in &[1usize, 7, 64, 256] {
        for &f in &[3u64, 64, 200, 511] {
            let (m, mut r) = mixer();
            let s = Sound::from_samples(vec![0.5; 1000], 1, RATE).unwrap();
            let v = m
                .play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
                .unwrap();
            v.stop_at(f, 0).unwrap();
            let out = render_stereo(&mut r, 0, 600, block);
            let last = out.iter().step_by(2).rposition(|&x| x != 0.0);
            assert_eq!(last, Some(f as usize - 1), "block {block}, stop {f}");
            assert!(!v.is_active());
            assert_eq!(v.set_gain(0.1), Err(MixerError::Ended));
        }
    }
}

#[test]
fn late_start_plays_at_once_and_is_counted() {
    let (m, mut r) = mixer();
    let s = ramp_sound(10);
    m.play(&s, PlayParams::new().pan(-1.0).at(5)).unwrap();
    let out = render_stereo(&mut r, 100, 16, 16);
    assert_eq!(out[0], s.samples()[0]);
    assert_eq!(m.stats().late_starts, 1);
}

#[test]
fn loop_region_wraps_exactly() {
    let (m, mut r) = mixer();
    let s = ramp_sound(20);
    m.play(
        &s,
        PlayParams::new()
            .pan(-1.0)
            .looping(Loop::Region { start: 5, end: 12 }),
    )
    .unwrap();
    let out = render_stereo(&mut r, 0, 100, 7);
    let mut want = Vec::new();
    let mut i = 0usize;
    while want.len() < 100 {
        want.push(s.samples()[i]);
        i += 1;
        if i == 12 {
            i = 5;
        }
    }
    let got: Vec<f32> = out.iter().step_by(2).copied().collect();
    assert_eq!(got, want);
}

#[test]
fn whole_loop_wraps_and_one_shot_ends() {
    let (m, mut r) = mixer();
    let s = ramp_sound(10);
    let looped = m
        .play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    let once = m.play(&s, PlayParams::new().pan(1.0)).unwrap();
    let out = render_stereo(&mut r, 0, 35, 8);
    for k in 0..35 {
        assert_eq!(out[2 * k], s.samples()[k % 10], "loop frame {k}");
        let want = if k < 10 { s.samples()[k] } else { 0.0 };
        assert!((out[2 * k + 1] - want).abs() < 1e-7, "one-shot frame {k}");
    }
    assert!(looped.is_active());
    assert!(!once.is_active());
    assert_eq!(once.stop(), Err(MixerError::Ended));
    assert_eq!(m.stats().voices_ended, 1);
}

#[test]
fn rate_two_skips_and_rate_half_interpolates() {
    let (m, mut r) = mixer();
    let s = ramp_sound(400);
    m.play(&s, PlayParams::new().pan(-1.0).rate(2.0)).unwrap();
    let out = render_stereo(&mut r, 0, 256, 64);
    for k in 0..150 {
        assert_eq!(out[2 * k], s.samples()[2 * k], "rate 2 frame {k}");
    }
    let (m, mut r) = mixer();
    m.play(&s, PlayParams::new().pan(-1.0).rate(0.5)).unwrap();
    let out = render_stereo(&mut r, 0, 256, 64);
    for k in 0..256 {
        let want = (s.samples()[k / 2] + s.samples()[k / 2 + 1]) * 0.5;
        let want = if k % 2 == 0 { s.samples()[k / 2] } else { want };
        assert!(
            (out[2 * k] - want).abs() < 1e-6,
            "rate 0.5 frame {k}: {} vs {want}",
            out[2 * k]
        );
    }
}

#[test]
fn rate_with_loop_wraps_interpolating_across_the_loop_point() {
    let (m, mut r) = mixer();
    let s = ramp_sound(8);
    m.play(
        &s,
        PlayParams::new().pan(-1.0).rate(0.5).looping(Loop::Whole),
    )
    .unwrap();
    let out = render_stereo(&mut r, 0, 40, 5);
    for k in 0..40 {
        let i = (k / 2) % 8;
        let want = if k % 2 == 0 {
            s.samples()[i]
        } else {
            (s.samples()[i] + s.samples()[(i + 1) % 8]) * 0.5
        };
        assert!(
            (out[2 * k] - want).abs() < 1e-6,
            "frame {k}: {} vs {want}",
            out[2 * k]
        );
    }
}

#[test]
fn buses_and_master_gain_scale() {
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .ramp_frames(1)
        .bus("music")
        .bus("effects")
        .build();
    let music = m.bus("music").unwrap();
    let fx = m.bus("effects").unwrap();
    assert!(m.bus("nope").is_none());
    let s = Sound::from_samples(vec![0.25; 2000], 1, RATE).unwrap();
    m.play(
        &s,
        PlayParams::new().pan(-1.0).bus(music).looping(Loop::Whole),
    )
    .unwrap();
    m.play(&s, PlayParams::new().pan(1.0).bus(fx).looping(Loop::Whole))
        .unwrap();
    assert!(m.set_bus_gain(music, 0.5));
    assert!(m.set_master_gain(2.0));
    let out = render_stereo(&mut r, 0, 64, 64);
    // One-frame ramps: from frame 1 on, the gains have arrived.
    assert_eq!(out[2 * 10], 0.25 * 0.5 * 2.0);
    assert!((out[2 * 10 + 1] - 0.25 * 2.0).abs() < 1e-7);
    let st = m.stats();
    assert_eq!(st.bus_peaks.len(), 3);
    assert!((st.bus_peaks[music.index()] - 0.125).abs() < 1e-6);
    assert!((st.bus_peaks[fx.index()] - 0.25).abs() < 1e-6);
    assert_eq!(st.bus_peaks[0], 0.0);
}

#[test]
fn pause_resume_and_stop_with_fade() {
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .default_fade(32)
        .ramp_frames(32)
        .build();
    let s = Sound::from_samples(vec![0.5; 4000], 1, RATE).unwrap();
    let v = m
        .play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    render_stereo(&mut r, 0, 64, 64);
    v.pause().unwrap();
    let out = render_stereo(&mut r, 64, 128, 64);
    assert!(out[0] > 0.0 && out[0] < 0.5, "fading");
    assert!(
        out[2 * 40..].iter().all(|&x| x == 0.0),
        "silent after the fade"
    );
    assert!(v.is_active(), "paused, not ended");
    v.resume().unwrap();
    let out = render_stereo(&mut r, 192, 64, 64);
    assert!(out[0] > 0.0 && out[0] < 0.1, "fading in");
    assert_eq!(out[2 * 40], 0.5);
    v.stop().unwrap();
    let out = render_stereo(&mut r, 256, 64, 64);
    // A 32-frame fade reaches zero on its 32nd frame (index 31).
    assert!(out[2 * 30] > 0.0 && out[2 * 31] == 0.0, "32-frame fade");
    assert!(!v.is_active());
}

#[test]
fn mono_and_multichannel_outputs() {
    let (m, mut r) = mixer();
    let s = Sound::from_samples(vec![0.5; 100], 1, RATE).unwrap();
    m.play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
        .unwrap();
    let mut out = vec![1.0f32; 16];
    r.render(
        &mut out,
        &BlockInfo {
            frame_time: 0,
            frames: 16,
            channels: 1,
            rate: RATE,
        },
    );
    assert!(
        out.iter().all(|&x| (x - 0.25).abs() < 1e-7),
        "mono = (L + R) / 2"
    );
    let mut out = vec![1.0f32; 64];
    r.render(
        &mut out,
        &BlockInfo {
            frame_time: 16,
            frames: 16,
            channels: 4,
            rate: RATE,
        },
    );
    for f in out.chunks(4) {
        assert_eq!(f[0], 0.5);
        assert_eq!(&f[2..], &[0.0, 0.0]);
    }
}

#[test]
fn soft_and_hard_clip() {
    for (clip, check) in [(Clip::Hard, 1.0f32), (Clip::Soft, 1.0)] {
        let (m, mut r) = MixerBuilder::new(RATE).clip(clip).build();
        let s = Sound::from_samples(vec![0.9; 100], 1, RATE).unwrap();
        for _ in 0..4 {
            m.play(&s, PlayParams::new().pan(-1.0)).unwrap();
        }
        let out = render_stereo(&mut r, 0, 50, 50);
        assert!(out.iter().all(|x| x.abs() <= check), "{clip:?}");
        assert!(out[0] > 0.95, "{clip:?}: {}", out[0]);
    }
    // Below the knee the soft clipper is the identity.
    let (m, mut r) = MixerBuilder::new(RATE).clip(Clip::Soft).build();
    let s = Sound::from_samples(vec![0.7; 100], 1, RATE).unwrap();
    m.play(&s, PlayParams::new().pan(-1.0)).unwrap();
    assert_eq!(render_stereo(&mut r, 0, 10, 10)[0], 0.7);
}

#[test]
fn play_rejects_bad_requests() {
    use pcmring::mixer::BusId;
    let (m, _r) = MixerBuilder::new(RATE).voices(1).build();
    let s = ramp_sound(10);
    let other = Sound::from_samples(vec![0.0; 10], 1, 44_100).unwrap();
    assert_eq!(
        m.play(&other, PlayParams::new()).unwrap_err(),
        MixerError::WrongRate {
            sound: 44_100,
            mixer: RATE
        }
    );
    assert_eq!(
        m.play(&s, PlayParams::new().bus(BusId::default()).gain(-1.0))
            .unwrap_err(),
        MixerError::BadParams
    );
    assert_eq!(
        m.play(&s, PlayParams::new().rate(0.0)).unwrap_err(),
        MixerError::BadParams
    );
    assert_eq!(
        m.play(
            &s,
            PlayParams::new().looping(Loop::Region { start: 5, end: 11 })
        )
        .unwrap_err(),
        MixerError::BadParams
    );
    let _v = m.play(&s, PlayParams::new()).unwrap();
    assert_eq!(
        m.play(&s, PlayParams::new()).unwrap_err(),
        MixerError::PoolFull
    );
    assert_eq!(m.stats().pool_full, 1);
}

#[test]
fn packed_sounds_play_their_own_part() {
    let bank = Sound::pack(&[(10, 1), (20, 1), (5, 2)], RATE, |i, s| {
        for (k, x) in s.iter_mut().enumerate() {
            *x = (i * 100 + k + 1) as f32 / 1024.0;
        }
    })
    .unwrap();
    let (m, mut r) = mixer();
    m.play(&bank[1], PlayParams::new().pan(-1.0)).unwrap();
    m.play(&bank[2], PlayParams::new().at(40)).unwrap();
    let out = render_stereo(&mut r, 0, 64, 16);
    for k in 0..20 {
        assert_eq!(out[2 * k], bank[1].samples()[k]);
    }
    assert_eq!(out[2 * 20], 0.0);
    for k in 0..5 {
        assert_eq!(
            &out[2 * (40 + k)..2 * (40 + k) + 2],
            &bank[2].samples()[2 * k..2 * k + 2]
        );
    }
}

#[test]
fn a_hundred_thousand_voices() {
    let n = 100_000;
    let (m, mut r) = MixerBuilder::new(RATE)
        .voices(n)
        .command_capacity(n)
        .clip(Clip::Off)
        .build();
    let s = Sound::from_samples(vec![1.0 / 1024.0; 64], 1, RATE).unwrap();
    for _ in 0..n {
        m.play(&s, PlayParams::new().pan(-1.0).looping(Loop::Whole))
            .unwrap();
    }
    assert_eq!(
        m.play(&s, PlayParams::new()).unwrap_err(),
        MixerError::PoolFull
    );
    let out = render_stereo(&mut r, 0, 32, 32);
    assert_eq!(r.active_voices(), n);
    assert_eq!(out[0], n as f32 / 1024.0);
    assert_eq!(m.stats().active_voices, n as u32);
}

#[test]
fn ramps_that_end_inside_a_block_mix_as_if_the_block_ended_there() {
    // Gain, pan (or azimuth on 5.1) and rate change every 256 frames and
    // ramp over 240: one 256-frame block (the ramp's end and the steady
    // rest in one kernel call per plane pair) must equal blocks of 240 and
    // 16, bit for bit, at every vector width, through rates up to 2.5, loop
    // wraps, and on 5.1 plane pairs that fall silent or come alive.
    let run = |bits: u32, channels: usize, split: bool| {
        let (m, mut r) = MixerBuilder::new(RATE)
            .voices(64)
            .clip(Clip::Off)
            .ramp_frames(240)
            .build();
        r.limit_simd(bits);
        let mono = ramp_sound(1500);
        let voices: Vec<_> = (0..9)
            .map(|k| {
                let p = PlayParams::new()
                    .rate(0.6 + 0.2 * k as f32)
                    .offset(k * 37)
                    .looping(Loop::Region {
                        start: 5,
                        end: 1200 + k,
                    });
                m.play(&mono, p).unwrap()
            })
            .collect();
        let mut out = Vec::new();
        let mut render = |t0: u64, frames: usize| {
            let mut block = vec![0.0f32; frames * channels];
            let info = BlockInfo {
                frame_time: t0,
                frames,
                channels,
                rate: RATE,
            };
            r.render(&mut block, &info);
            out.extend(block);
        };
        for round in 0..12u64 {
            for (k, v) in voices.iter().enumerate() {
                let x = (round * 7 + k as u64 * 3) % 11;
                v.set_rate(0.5 + 0.2 * x as f32).unwrap();
                v.set_gain(0.2 + 0.07 * x as f32).unwrap();
                if channels == 2 {
                    v.set_pan(x as f32 / 5.0 - 1.0).unwrap();
                } else {
                    v.set_azimuth(x as f32 * 33.0 - 180.0).unwrap();
                }
            }
            let t0 = round * 256;
            if split {
                render(t0, 240);
                render(t0 + 240, 16);
            } else {
                render(t0, 256);
            }
        }
        out
    };
    for channels in [2, 6] {
        let reference = run(128, channels, true);
        assert!(reference.iter().any(|&x| x != 0.0));
        for bits in [128, 256, 512] {
            let merged = run(bits, channels, false);
            let same = reference
                .iter()
                .zip(&merged)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "{channels} channels, {bits} bits: one block differs from two"
            );
        }
    }
}

#[test]
fn simd_and_portable_loops_agree_bit_for_bit() {
    // 128: the portable loops; 256: AVX2; 512: AVX-512 (each capped at what
    // this CPU has, so on a CPU without them the runs repeat a narrower one).
    let run = |bits: u32| {
        let (m, mut r) = mixer();
        r.limit_simd(bits);
        let mono = ramp_sound(777);
        let st = Sound::from_samples(
            (0..1000)
                .map(|i| (i as f32 * 0.37).sin())
                .collect::<Vec<_>>(),
            2,
            RATE,
        )
        .unwrap();
        for k in 0..12 {
            let s = if k % 3 == 0 { &st } else { &mono };
            let v = m
                .play(
                    s,
                    PlayParams::new()
                        .gain(0.1 + k as f32 * 0.07)
                        .pan(k as f32 / 6.0 - 1.0)
                        .rate(if k % 4 == 1 { 0.77 } else { 1.0 })
                        .looping(Loop::Region {
                            start: 3,
                            end: 300 + k,
                        })
                        .fade_in(k as u32 * 10)
                        .at(k * 13),
                )
                .unwrap();
            if k % 5 == 0 {
                v.set_gain(0.9).unwrap();
            }
        }
        render_stereo(&mut r, 0, 3000, 100)
    };
    let portable = run(128);
    assert!(portable.iter().any(|&x| x != 0.0));
    for bits in [256, 512] {
        let wide = run(bits);
        assert!(
            portable
                .iter()
                .zip(&wide)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "the {bits}-bit and portable outputs differ"
        );
    }
}
