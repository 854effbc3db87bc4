//! Hygiene of the hot loop: rate ramps through the same kernel as a steady
//! rate (checked against a reference written here), denormals flushed while
//! rendering, NaN and infinities kept out of the mix, seeking at start, and
//! end-of-voice events.

use pcmring::mixer::{EndReason, MixerBuilder, MixerEvent, PlayParams};
use pcmring::sound::{Sound, SoundError};

mod mixer_support;
use mixer_support::{render_stereo, RATE};

/// A smooth stereo source whose two channels differ.
fn stereo_source(frames: usize) -> Vec<f32> {
    (0..frames)
        .flat_map(|i| {
            let x = i as f32;
            [(x * 0.013).sin() * 0.5, (x * 0.007).cos() * 0.25]
        })
        .collect()
}

/// The reference: linear interpolation on a 32.32 position whose step moves
/// from `from` to `to` by a constant increment over `ramp` frames starting on
/// output frame `change`, then snaps to `to`.
fn reference_rate_ramp(
    src: &[f32],
    frames: usize,
    from: f32,
    to: f32,
    change: usize,
    ramp: u32,
) -> Vec<f32> {
    let one = (1u64 << 32) as f64;
    let s0 = (from as f64 * one).round() as u64;
    let s1 = (to as f64 * one).round() as u64;
    let delta = (s1 as i64 - s0 as i64) / ramp as i64;
    let (mut pos, mut step, mut left) = (0u64, s0, 0u32);
    let mut out = Vec::with_capacity(frames * 2);
    for f in 0..frames {
        if f == change {
            left = ramp;
        }
        let idx = (pos >> 32) as usize;
        let frac = ((pos as u32) >> 8) as i32 as f32 * (1.0 / 16_777_216.0);
        for c in 0..2 {
            let (a, b) = (src[2 * idx + c], src[2 * idx + 2 + c]);
            out.push(a + (b - a) * frac);
        }
        pos += step;
        if left > 0 {
            left -= 1;
            step = if left == 0 {
                s1
            } else {
                (step as i64 + delta) as u64
            };
        }
    }
    out
}

#[test]
fn rate_changes_every_block_match_the_reference_exactly() {
    let ramp = 240;
    let (m, mut r) = MixerBuilder::new(RATE).ramp_frames(ramp).build();
    let src = stereo_source(20_000);
    let s = Sound::from_samples(src.clone(), 2, RATE).unwrap();
    let v = m.play(&s, PlayParams::new().rate(1.3)).unwrap();
    // Rate 1.3 for 1000 frames (block 250 is not a multiple of the chunk),
    // then 0.7 requested; the ramp starts with the next block.
    let mut out = render_stereo(&mut r, 0, 1000, 250);
    v.set_rate(0.7).unwrap();
    out.extend(render_stereo(&mut r, 1000, 3000, 250));
    let want = reference_rate_ramp(&src, 4000, 1.3, 0.7, 1000, ramp);
    for (i, (a, b)) in out.iter().zip(&want).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "sample {i}: {a} vs {b}");
    }
}

#[test]
fn rate_ramps_never_read_past_the_source_end() {
    // Ramping up steeply next to the end of a one-shot: the voice ends,
    // nothing panics, and every sample stays within the source's range.
    let (m, mut r) = MixerBuilder::new(RATE).ramp_frames(480).build();
    let s = Sound::from_samples(stereo_source(700), 2, RATE).unwrap();
    let v = m.play(&s, PlayParams::new().rate(0.5)).unwrap();
    let _ = render_stereo(&mut r, 0, 256, 256);
    v.set_rate(16.0).unwrap();
    let out = render_stereo(&mut r, 256, 2048, 128);
    assert!(out.iter().all(|x| x.abs() <= 0.5));
    assert!(!v.is_active());
}

#[test]
fn denormals_are_flushed_while_rendering_only() {
    let (m, mut r) = MixerBuilder::new(RATE).build();
    let tiny = 1e-39f32;
    assert!(tiny != 0.0 && !tiny.is_normal());
    let s = Sound::from_samples(vec![tiny; 512], 2, RATE).unwrap();
    m.play(&s, PlayParams::new()).unwrap();
    let out = render_stereo(&mut r, 0, 256, 256);
    #[cfg(target_arch = "x86_64")]
    assert!(
        out.iter().all(|&x| x == 0.0),
        "denormals reached the output"
    );
    #[cfg(not(target_arch = "x86_64"))]
    let _ = out;
    // The thread's mode is restored afterwards.
    assert_eq!(std::hint::black_box(tiny) * 1.0, tiny);
}

#[test]
fn non_finite_samples_are_refused_at_load() {
    let mut v = vec![0.0f32; 10];
    v[7] = f32::NAN;
    assert!(matches!(
        Sound::from_samples(v, 1, RATE),
        Err(SoundError::NonFinite { index: 7 })
    ));
    assert!(matches!(
        Sound::pack(&[(4, 1)], RATE, |_, s| s[2] = f32::INFINITY),
        Err(SoundError::NonFinite { index: 2 })
    ));
}

#[test]
fn an_overflowing_voice_is_silenced_ended_and_reported() {
    let (m, mut r) = MixerBuilder::new(RATE).build();
    let good = Sound::from_samples(vec![0.25f32; 4096], 2, RATE).unwrap();
    let hot = Sound::from_samples(vec![3e38f32; 4096], 1, RATE).unwrap();
    let g = m.play(&good, PlayParams::new()).unwrap();
    let h = m.play(&hot, PlayParams::new().gain(4.0)).unwrap();
    let out = render_stereo(&mut r, 0, 1024, 256);
    assert!(out.iter().all(|x| x.is_finite()));
    // The first chunk is silenced, the next one finds the voice: from then
    // on only the good voice plays.
    assert!(out[..512].iter().all(|&x| x == 0.0));
    assert!(
        out[512..].iter().all(|&x| x == 0.25),
        "{:?}",
        &out[512..520]
    );
    assert!(!h.is_active());
    assert!(g.is_active());
    let st = m.stats();
    assert_eq!(st.non_finite_chunks, 1);
    assert_eq!(st.non_finite_voices, 1);
    let events: Vec<MixerEvent> = std::iter::from_fn(|| m.poll_event()).collect();
    assert_eq!(
        events,
        vec![
            MixerEvent::NonFiniteSilenced { at: 0, frames: 256 },
            MixerEvent::VoiceEnded {
                id: h.id(),
                reason: EndReason::NonFinite,
                at: 256
            }
        ]
    );
}

#[test]
fn offset_starts_inside_the_sound() {
    let (m, mut r) = MixerBuilder::new(RATE).build();
    let src = stereo_source(1000);
    let s = Sound::from_samples(src.clone(), 2, RATE).unwrap();
    m.play(&s, PlayParams::new().offset(300)).unwrap();
    let out = render_stereo(&mut r, 0, 800, 256);
    assert_eq!(&out[..1400], &src[600..]);
    assert!(out[1400..].iter().all(|&x| x == 0.0));
    assert!(m.play(&s, PlayParams::new().offset(1000)).is_err());
}

#[test]
fn end_events_say_why() {
    let (m, mut r) = MixerBuilder::new(RATE).build();
    let s = Sound::from_samples(vec![0.1f32; 300], 1, RATE).unwrap();
    let a = m.play(&s, PlayParams::new()).unwrap();
    let b = m.play(&s, PlayParams::new().at(10_000)).unwrap();
    b.stop().unwrap();
    let _ = render_stereo(&mut r, 0, 512, 256);
    let mut events: Vec<MixerEvent> = std::iter::from_fn(|| m.poll_event()).collect();
    events.sort_by_key(|e| match e {
        MixerEvent::VoiceEnded { id, .. } => id.slot,
        _ => u32::MAX,
    });
    let reasons: Vec<(pcmring::mixer::VoiceId, EndReason)> = events
        .iter()
        .filter_map(|e| match *e {
            MixerEvent::VoiceEnded { id, reason, .. } => Some((id, reason)),
            _ => None,
        })
        .collect();
    let mut want = vec![(a.id(), EndReason::Finished), (b.id(), EndReason::Stopped)];
    want.sort_by_key(|(id, _)| id.slot);
    assert_eq!(reasons, want);
}

#[test]
fn tabulated_pan_law_follows_the_formula() {
    for k in 0..=20_000 {
        let pan = k as f32 / 10_000.0 - 1.0;
        let theta = (pan as f64 + 1.0) * std::f64::consts::FRAC_PI_4;
        let (l, r) = pcmring::mixer::pan_gains(pan, 1);
        assert!((l as f64 - theta.cos()).abs() < 1e-6, "pan {pan}");
        assert!((r as f64 - theta.sin()).abs() < 1e-6, "pan {pan}");
        let (l2, r2) = pcmring::mixer::pan_gains(pan, 2);
        let s = std::f64::consts::SQRT_2;
        assert!((l2 as f64 - (theta.cos() * s).min(1.0)).abs() < 1e-6);
        assert!((r2 as f64 - (theta.sin() * s).min(1.0)).abs() < 1e-6);
    }
    assert_eq!(pcmring::mixer::pan_gains(-1.0, 1), (1.0, 0.0));
    assert_eq!(pcmring::mixer::pan_gains(1.0, 1), (0.0, 1.0));
}
