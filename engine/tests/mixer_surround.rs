//! Output layouts beyond stereo: which channels a device's channel count
//! fills, the constant-power pan over each layout's speakers (against an f64
//! reference here), voices and 3D emitters rendered onto quad, 5.1 and 7.1.

use pcmring::mixer::{
    Attenuation, BlockInfo, BusId, Clip, Emitter, Listener, MixerBuilder, MixerRenderer,
    OutputLayout, PlayParams, Position, MAX_OUTPUT_CHANNELS,
};
use pcmring::sound::Sound;

mod mixer_support;
use mixer_support::RATE;

/// ALSA channel indices.
const FL: usize = 0;
const FR: usize = 1;
const RL: usize = 2;
const RR: usize = 3;
const FC: usize = 4;
const LFE: usize = 5;
const SL: usize = 6;
const SR: usize = 7;

/// The speakers each layout pans over, with the azimuths the docs promise.
fn ring(layout: OutputLayout) -> Vec<(usize, f64)> {
    match layout {
        OutputLayout::Quad => vec![(RL, -135.0), (FL, -45.0), (FR, 45.0), (RR, 135.0)],
        OutputLayout::Surround51 => vec![
            (RL, -110.0),
            (FL, -30.0),
            (FC, 0.0),
            (FR, 30.0),
            (RR, 110.0),
        ],
        OutputLayout::Surround71 => vec![
            (RL, -150.0),
            (SL, -90.0),
            (FL, -30.0),
            (FC, 0.0),
            (FR, 30.0),
            (SR, 90.0),
            (RR, 150.0),
        ],
        _ => vec![],
    }
}

/// The reference: constant power between the adjacent speakers, in f64.
fn reference_gains(layout: OutputLayout, az: f64) -> [f64; 8] {
    let ring = ring(layout);
    let n = ring.len();
    let mut g = [0.0; 8];
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let mut span = b.1 - a.1;
        let mut off = az - a.1;
        if span <= 0.0 {
            span += 360.0;
        }
        if off < 0.0 {
            off += 360.0;
        }
        if off < span {
            let t = off / span * std::f64::consts::FRAC_PI_2;
            g[a.0] = t.cos();
            g[b.0] = t.sin();
            return g;
        }
    }
    unreachable!("every direction lies between two speakers")
}

const SURROUND: [OutputLayout; 3] = [
    OutputLayout::Quad,
    OutputLayout::Surround51,
    OutputLayout::Surround71,
];

#[test]
fn channel_count_picks_the_layout() {
    use OutputLayout::*;
    let expect = [
        (1, Mono),
        (2, Stereo),
        (3, Stereo),
        (4, Quad),
        (5, Quad),
        (6, Surround51),
        (7, Surround51),
        (8, Surround71),
        (12, Surround71),
    ];
    for (ch, layout) in expect {
        assert_eq!(OutputLayout::from_channels(ch), layout, "{ch} channels");
    }
    assert_eq!(Surround51.channels(), 6);
    assert_eq!(Mono.planes(), 2);
}

#[test]
fn pan_over_each_layout_is_constant_power_between_adjacent_speakers() {
    for layout in SURROUND {
        for tenth in -1800..1800 {
            let az = tenth as f64 / 10.0;
            let g = layout.gains(Position::Azimuth(az as f32), 1);
            let want = reference_gains(layout, az);
            let energy: f64 = g.iter().map(|&x| (x as f64) * (x as f64)).sum();
            assert!(
                (energy - 1.0).abs() < 2e-6,
                "{layout:?} at {az}: energy {energy}"
            );
            for c in 0..MAX_OUTPUT_CHANNELS {
                assert!(
                    (g[c] as f64 - want[c]).abs() < 1e-6,
                    "{layout:?} at {az}: channel {c} is {} want {}",
                    g[c],
                    want[c]
                );
            }
            assert_eq!(g[LFE], 0.0, "no panned signal on the LFE");
            assert!(g.iter().filter(|&&x| x != 0.0).count() <= 2);
        }
        // On a speaker: that speaker alone, at exactly unity.
        for (c, az) in ring(layout) {
            let g = layout.gains(Position::Azimuth(az as f32), 1);
            let mut want = [0.0f32; 8];
            want[c] = 1.0;
            assert_eq!(g, want, "{layout:?} speaker {c} at {az}");
        }
    }
}

#[test]
fn stage_pan_spans_the_front_and_stereo_sources_stay_on_the_front_pair() {
    for layout in SURROUND {
        let left = layout.gains(Position::Pan(-1.0), 1);
        let right = layout.gains(Position::Pan(1.0), 1);
        assert_eq!((left[FL], right[FR]), (1.0, 1.0), "{layout:?}");
        assert_eq!(left.iter().sum::<f32>(), 1.0);
        let centre = layout.gains(Position::Pan(0.0), 1);
        if layout == OutputLayout::Quad {
            let h = std::f32::consts::FRAC_1_SQRT_2;
            assert_eq!((centre[FL], centre[FR]), (h, h));
        } else {
            let mut want = [0.0f32; 8];
            want[FC] = 1.0;
            assert_eq!(centre, want, "{layout:?}: centre pan is the centre speaker");
        }
        let stereo = layout.gains(Position::Pan(0.0), 2);
        let mut want = [0.0f32; 8];
        want[FL] = 1.0;
        want[FR] = 1.0;
        assert_eq!(stereo, want, "{layout:?}: stereo on FL/FR at unity");
    }
}

fn render(r: &mut MixerRenderer, channels: usize, frames: usize, t0: u64) -> Vec<f32> {
    let mut out = vec![f32::NAN; frames * channels];
    r.render(
        &mut out,
        &BlockInfo {
            frame_time: t0,
            frames,
            channels,
            rate: RATE,
        },
    );
    out
}

fn channel(out: &[f32], channels: usize, c: usize) -> Vec<f32> {
    out.chunks_exact(channels).map(|f| f[c]).collect()
}

fn ramp_sound(frames: usize, channels: u16) -> Sound {
    let s: Vec<f32> = (0..frames * channels as usize)
        .map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5)
        .collect();
    Sound::from_samples(s, channels, RATE).unwrap()
}

#[test]
fn a_six_channel_device_gets_the_centre_and_the_rears() {
    let (mixer, mut r) = MixerBuilder::new(RATE).ramp_frames(1).build();
    let snd = ramp_sound(2000, 1);
    let centre = mixer.play(&snd, PlayParams::new()).unwrap();
    let out = render(&mut r, 6, 512, 0);
    for (i, f) in out.chunks_exact(6).enumerate() {
        let s = snd.samples()[i];
        assert_eq!(f, [0.0, 0.0, 0.0, 0.0, s, 0.0], "frame {i}");
    }
    // Behind on the left: the left surround alone; then straight behind: both rears.
    centre.set_azimuth(-110.0).unwrap();
    let out = render(&mut r, 6, 256, 512);
    for (i, f) in out.chunks_exact(6).enumerate().skip(1) {
        let s = snd.samples()[512 + i];
        assert_eq!(f, [0.0, 0.0, s, 0.0, 0.0, 0.0], "frame {i}");
    }
    centre.set_azimuth(180.0).unwrap();
    let out = render(&mut r, 6, 256, 768);
    let h = std::f32::consts::FRAC_1_SQRT_2;
    for (i, f) in out.chunks_exact(6).enumerate().skip(1) {
        let s = snd.samples()[768 + i] * h;
        assert_eq!(f, [0.0, 0.0, s, s, 0.0, 0.0], "frame {i}");
    }
}

#[test]
fn a_pair_change_crossfades_with_power_bounded() {
    // 5.1: from FL to RR over a ramp: the old pair fades out while the new
    // one fades in, linearly; every frame's gains stay within [0, 1].
    let ramp = 64;
    let (mixer, mut r) = MixerBuilder::new(RATE).ramp_frames(ramp).build();
    let snd = Sound::from_samples(vec![0.5f32; 4000], 1, RATE).unwrap();
    let v = mixer.play(&snd, PlayParams::new().pan(-1.0)).unwrap();
    let _ = render(&mut r, 6, 128, 0);
    v.set_azimuth(110.0).unwrap();
    let out = render(&mut r, 6, 128, 128);
    for (i, f) in out.chunks_exact(6).enumerate() {
        let k = ((i + 1).min(ramp as usize)) as f32 / ramp as f32;
        assert!((f[FL] - 0.5 * (1.0 - k)).abs() < 1e-6, "frame {i}: {f:?}");
        assert!((f[RR] - 0.5 * k).abs() < 1e-6, "frame {i}: {f:?}");
        assert_eq!((f[FR], f[RL], f[FC], f[LFE]), (0.0, 0.0, 0.0, 0.0));
    }
}

#[test]
fn the_centre_fades_back_in_from_silence_after_a_stereo_spell() {
    // A voice panned between FL and FC on 5.1; the device turns stereo and
    // the voice is paused there; the device is 5.1 again, then the voice
    // resumes: FL and FC fade in from silence over the ramp, never jumping
    // back to the levels they had before the stereo spell (on stereo only
    // the front pair's gains are kept up to date).
    let ramp = 64;
    let (mixer, mut r) = MixerBuilder::new(RATE)
        .ramp_frames(ramp)
        .default_fade(ramp)
        .build();
    let snd = Sound::from_samples(vec![0.5f32; 8000], 1, RATE).unwrap();
    let v = mixer.play(&snd, PlayParams::new().pan(-0.5)).unwrap();
    let _ = render(&mut r, 6, 128, 0);
    let out = render(&mut r, 6, 128, 128);
    let (fl, fc) = (out[FL], out[FC]);
    assert!(fl > 0.1 && fc > 0.1, "{:?}", &out[..6]);
    assert!(out
        .chunks_exact(6)
        .all(|f| f == [fl, 0.0, 0.0, 0.0, fc, 0.0]));
    let _ = render(&mut r, 2, 128, 256);
    v.pause().unwrap();
    let out = render(&mut r, 2, 128, 384);
    assert!(out[2 * ramp as usize..].iter().all(|&x| x == 0.0), "paused");
    let out = render(&mut r, 6, 128, 512);
    assert!(out.iter().all(|&x| x == 0.0), "paused on 5.1");
    v.resume().unwrap();
    let out = render(&mut r, 6, 128, 640);
    for (i, f) in out.chunks_exact(6).enumerate() {
        let k = ((i + 1).min(ramp as usize)) as f32 / ramp as f32;
        assert!((f[FL] - fl * k).abs() < 1e-6, "frame {i}: {f:?}");
        assert!((f[FC] - fc * k).abs() < 1e-6, "frame {i}: {f:?}");
        assert_eq!((f[FR], f[RL], f[RR], f[LFE]), (0.0, 0.0, 0.0, 0.0));
    }
}

#[test]
fn resampled_voice_on_a_side_speaker_equals_the_stereo_right_channel() {
    // Rate 1.3 takes the interpolating kernel: a 7.1 voice on SR (the right
    // lane of the last plane pair) must equal the same voice hard right on stereo.
    let snd = ramp_sound(3000, 1);
    let play = |channels: usize, set: &dyn Fn(&pcmring::mixer::VoiceHandle)| {
        let (mixer, mut r) = MixerBuilder::new(RATE).ramp_frames(1).build();
        let v = mixer.play(&snd, PlayParams::new().rate(1.3)).unwrap();
        set(&v);
        let mut out = Vec::new();
        for b in 0..8 {
            out.extend(render(&mut r, channels, 200, b * 200));
        }
        out
    };
    let wide = play(8, &|v| v.set_azimuth(90.0).unwrap());
    let stereo = play(2, &|v| v.set_pan(1.0).unwrap());
    assert_eq!(channel(&wide, 8, SR), channel(&stereo, 2, 1));
    for c in [FL, FR, RL, RR, FC, LFE, SL] {
        assert!(
            channel(&wide, 8, c).iter().all(|&x| x == 0.0),
            "channel {c}"
        );
    }
}

#[test]
fn energy_is_preserved_between_speakers_and_buses_carry_every_plane() {
    let (mixer, mut r) = MixerBuilder::new(RATE).ramp_frames(1).bus("fx").build();
    let fx = mixer.bus("fx").unwrap();
    mixer.set_bus_gain(fx, 0.5);
    let snd = Sound::from_samples(vec![0.5f32; 4000], 1, RATE).unwrap();
    let v = mixer.play(&snd, PlayParams::new().bus(fx)).unwrap();
    v.set_azimuth(70.0).unwrap(); // between FR (30) and RR (110) on 5.1
    let _ = render(&mut r, 6, 256, 0);
    let out = render(&mut r, 6, 256, 256);
    for f in out.chunks_exact(6) {
        let e: f32 = f.iter().map(|x| x * x).sum();
        assert!((e - 0.0625).abs() < 1e-6, "energy {e} of {f:?}");
        assert!(f[FR] > 0.0 && f[RR] > 0.0);
        assert_eq!((f[FL], f[RL], f[FC], f[LFE]), (0.0, 0.0, 0.0, 0.0));
    }
    let _ = BusId::MAIN;
}

#[test]
fn odd_channel_counts_leave_the_extra_channels_silent() {
    for (channels, used) in [(3, 2), (5, 4), (7, 6)] {
        let (mixer, mut r) = MixerBuilder::new(RATE).ramp_frames(1).build();
        let snd = Sound::from_samples(vec![0.5f32; 1000], 1, RATE).unwrap();
        let v = mixer.play(&snd, PlayParams::new()).unwrap();
        v.set_azimuth(-179.0).unwrap();
        let _ = render(&mut r, channels, 64, 0);
        let out = render(&mut r, channels, 64, 64);
        for f in out.chunks_exact(channels) {
            assert!(f[used..].iter().all(|&x| x == 0.0), "{channels}: {f:?}");
            assert!(f.iter().any(|&x| x != 0.0), "{channels}: {f:?}");
        }
    }
}

#[test]
fn emitters_pan_over_the_layout() {
    let listener = Listener::default(); // facing -z, right is +x
    let model = Attenuation::Inverse {
        reference: 1.0,
        max: 100.0,
        rolloff: 1.0,
    };
    let at = |p: [f32; 3]| Emitter {
        position: p,
        ..Default::default()
    };
    let cases = [
        ([0.0, 0.0, -2.0], 0.0),
        ([2.0, 0.0, 0.0], 90.0),
        ([-2.0, 0.0, 0.0], -90.0),
        ([2.0, 0.0, -2.0], 45.0),
        ([-2.0, 0.0, 2.0], -135.0),
    ];
    for (p, az) in cases {
        let s = listener.hear(&at(p), model, 0.0);
        assert!((s.azimuth - az).abs() < 1e-3, "{p:?}: {}", s.azimuth);
    }
    let behind = listener.hear(&at([0.0, 0.0, 2.0]), model, 0.0);
    assert!((behind.azimuth.abs() - 180.0).abs() < 1e-3);
    // A turned listener: facing +x, so +x is ahead and -z is to the left.
    let turned = Listener {
        forward: [1.0, 0.0, 0.0],
        ..Listener::default()
    };
    let s = turned.hear(&at([0.0, 0.0, -3.0]), model, 0.0);
    assert!((s.azimuth + 90.0).abs() < 1e-3, "{}", s.azimuth);

    // Rendered on 7.1: an emitter behind-left at 2 m (gain 0.5) lands
    // between SL (-90) and RL (-150).
    let (mixer, mut r) = MixerBuilder::new(RATE).ramp_frames(1).build();
    let snd = Sound::from_samples(vec![0.5f32; 4000], 1, RATE).unwrap();
    let v = mixer.play(&snd, PlayParams::new()).unwrap();
    let e = at([-2.0f32.sqrt(), 0.0, 2.0f32.sqrt()]);
    let s = listener.hear(&e, model, 0.0);
    v.set_gain(s.gain).unwrap();
    v.set_azimuth(s.azimuth).unwrap();
    let _ = render(&mut r, 8, 64, 0);
    let out = render(&mut r, 8, 64, 64);
    let want = reference_gains(OutputLayout::Surround71, s.azimuth as f64);
    for f in out.chunks_exact(8) {
        for c in 0..8 {
            assert!(
                (f[c] as f64 - 0.25 * want[c]).abs() < 1e-6,
                "channel {c}: {f:?}"
            );
        }
        assert!(f[SL] > 0.0 && f[RL] > 0.0);
    }
}

// ---- Sounds of 3 to 8 channels: the matrices and exact rendering ----

const H: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The test's own statement of the documented matrix: where each source
/// speaker (by name) goes on each layout, as (output channel, gain).
fn route(speaker: &str, layout: OutputLayout) -> Vec<(usize, f32)> {
    use OutputLayout::*;
    let surround = matches!(layout, Surround51 | Surround71);
    let rears = surround || layout == Quad;
    match (speaker, layout) {
        ("FL", _) => vec![(FL, 1.0)],
        ("FR", _) => vec![(FR, 1.0)],
        ("FC", _) if surround => vec![(FC, 1.0)],
        ("FC", _) => vec![(FL, H), (FR, H)],
        ("LFE", _) if surround => vec![(LFE, 1.0)],
        ("LFE", _) => vec![],
        ("BL", _) if rears => vec![(RL, 1.0)],
        ("BL", _) => vec![(FL, H)],
        ("BR", _) if rears => vec![(RR, 1.0)],
        ("BR", _) => vec![(FR, H)],
        ("SL", Surround71) => vec![(SL, 1.0)],
        ("SL", _) if rears => vec![(RL, 1.0)],
        ("SL", _) => vec![(FL, H)],
        ("SR", Surround71) => vec![(SR, 1.0)],
        ("SR", _) if rears => vec![(RR, 1.0)],
        ("SR", _) => vec![(FR, H)],
        ("BC", _) if rears => vec![(RL, H), (RR, H)],
        ("BC", _) => vec![(FL, 0.5), (FR, 0.5)],
        _ => unreachable!("{speaker}"),
    }
}

fn file_order(channels: u16) -> &'static [&'static str] {
    match channels {
        3 => &["FL", "FR", "FC"],
        4 => &["FL", "FR", "BL", "BR"],
        5 => &["FL", "FR", "FC", "BL", "BR"],
        6 => &["FL", "FR", "FC", "LFE", "BL", "BR"],
        7 => &["FL", "FR", "FC", "LFE", "BC", "SL", "SR"],
        8 => &["FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"],
        _ => unreachable!(),
    }
}

fn reference_matrix(channels: u16, layout: OutputLayout) -> [[f32; 8]; 8] {
    let mut m = [[0.0; 8]; 8];
    for (c, sp) in file_order(channels).iter().enumerate() {
        for (o, g) in route(sp, layout) {
            m[o][c] += g;
        }
    }
    m
}

const ALL: [OutputLayout; 5] = [
    OutputLayout::Mono,
    OutputLayout::Stereo,
    OutputLayout::Quad,
    OutputLayout::Surround51,
    OutputLayout::Surround71,
];

#[test]
fn matrices_are_the_documented_ones() {
    for ch in 3..=8u16 {
        for layout in ALL {
            assert_eq!(
                layout.matrix(ch),
                &reference_matrix(ch, layout),
                "{ch} channels on {layout:?}"
            );
        }
    }
    // Spot checks written out: 5.1 onto stereo is BS.775's
    // L = FL + 0.7071 FC + 0.7071 BL; 7.1 onto 5.1 folds the sides into the rears.
    let m = OutputLayout::Stereo.matrix(6);
    assert_eq!(m[FL][..6], [1.0, 0.0, H, 0.0, H, 0.0]);
    assert_eq!(m[FR][..6], [0.0, 1.0, H, 0.0, 0.0, H]);
    let m = OutputLayout::Surround51.matrix(8);
    assert_eq!(m[RL][..8], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    assert_eq!(m[LFE][..8], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
}

/// Reference renderer: one voice of `snd` at gain 1 from frame 0 at a
/// steady `rate` (32.32 step), the matrix applied per frame, summed in
/// source-channel order, folded for mono.
fn reference_render(snd: &Sound, layout: OutputLayout, step: u64, frames: usize) -> Vec<f32> {
    let ch = snd.channels() as usize;
    let s = snd.samples();
    let m = reference_matrix(snd.channels(), layout);
    let out_ch = layout.channels();
    let mut out = vec![0.0f32; frames * out_ch];
    let mut pos = 0u64;
    for f in 0..frames {
        let idx = (pos >> 32) as usize;
        let frac = ((pos as u32) >> 8) as i32 as f32 * (1.0 / 16_777_216.0);
        let mut v = [0.0f32; 8];
        for (c, v) in v.iter_mut().enumerate().take(ch) {
            let a = s[idx * ch + c];
            *v = if step == 1 << 32 {
                a
            } else {
                a + (s[(idx + 1) * ch + c] - a) * frac
            };
        }
        let mut planes = [0.0f32; 8];
        for (o, p) in planes.iter_mut().enumerate() {
            let mut x = 0.0f32;
            for c in 0..ch {
                x += v[c] * m[o][c];
            }
            *p = x * 1.0;
        }
        if out_ch == 1 {
            out[f] = (planes[0] + planes[1]) * 0.5;
        } else {
            out[f * out_ch..(f + 1) * out_ch].copy_from_slice(&planes[..out_ch]);
        }
        pos += step;
    }
    out
}

#[test]
fn multichannel_sounds_render_sample_exact_on_every_layout() {
    for ch in 3..=8u16 {
        let snd = ramp_sound(4000, ch);
        for layout in ALL {
            for (rate, step) in [
                (1.0f32, 1u64 << 32),
                (1.3, (1.3f32 as f64 * 4294967296.0).round() as u64),
            ] {
                let (mixer, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
                mixer.play(&snd, PlayParams::new().rate(rate)).unwrap();
                let out_ch = layout.channels();
                let mut got = Vec::new();
                for b in 0..6 {
                    got.extend(render(&mut r, out_ch, 300, b * 300));
                }
                let want = reference_render(&snd, layout, step, 1800);
                if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                    panic!(
                        "{ch} channels on {layout:?} at rate {rate}: sample {i} is {} want {}",
                        got[i], want[i]
                    );
                }
            }
        }
    }
}

#[test]
fn a_5_1_wav_plays_channel_exact_on_a_5_1_device() {
    // FL FR FC LFE BL BR in the file, FL FR RL RR FC LFE on the device.
    let path = std::env::temp_dir().join(format!("pcmring-51-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 6,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let frames = 3000;
    let value = |f: usize, c: usize| ((f * 7 + c * 1013) % 2001) as f32 / 1000.0 - 1.0;
    {
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for f in 0..frames {
            for c in 0..6 {
                w.write_sample(value(f, c)).unwrap();
            }
        }
        w.finalize().unwrap();
    }
    let snd = Sound::load(&path, RATE).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!((snd.channels(), snd.frames()), (6, frames));
    let (mixer, mut r) = MixerBuilder::new(RATE).clip(Clip::Off).build();
    mixer.play(&snd, PlayParams::new()).unwrap();
    let mut out = Vec::new();
    for b in 0..12 {
        out.extend(render(&mut r, 6, 256, b * 256));
    }
    let file_to_device = [FL, FR, FC, LFE, RL, RR];
    for f in 0..frames {
        for (c, &d) in file_to_device.iter().enumerate() {
            assert_eq!(out[f * 6 + d], value(f, c), "frame {f} file channel {c}");
        }
    }
    assert!(
        out[frames * 6..].iter().all(|&x| x == 0.0),
        "silence after the end"
    );
}
