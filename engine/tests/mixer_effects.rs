//! Bus effects against reference implementations written here: the biquad
//! (RBJ cookbook, direct form I in f64), the feedback delay, the reverb
//! (the same Schroeder-Moorer topology), parameter glides, and sends.

use pcmring::mixer::{
    Biquad, Clip, Delay, FilterKind, MixerBuilder, PlayParams, Reverb, REVERB_ALLPASSES,
    REVERB_COMBS, REVERB_INPUT, REVERB_SPREAD,
};
use pcmring::sound::Sound;

mod mixer_support;
use mixer_support::{render_stereo, RATE};

/// Stereo noise (deterministic), different per channel.
fn noise(frames: usize) -> Vec<f32> {
    let mut x = 0x1234_5678u32;
    (0..2 * frames)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * 0.5
        })
        .collect()
}

fn channel(x: &[f32], c: usize) -> Vec<f32> {
    x.iter().skip(c).step_by(2).copied().collect()
}

/// RBJ low/high/band pass in f64, direct form I.
fn reference_biquad(kind: FilterKind, f0: f64, q: f64, x: &[f32]) -> Vec<f32> {
    let w = 2.0 * std::f64::consts::PI * f0 / RATE as f64;
    let (s, c) = w.sin_cos();
    let alpha = s / (2.0 * q);
    let (b0, b1, b2) = match kind {
        FilterKind::LowPass => ((1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0),
        FilterKind::HighPass => ((1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0),
        FilterKind::BandPass => (alpha, 0.0, -alpha),
    };
    let (a0, a1, a2) = (1.0 + alpha, -2.0 * c, 1.0 - alpha);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    x.iter()
        .map(|&v| {
            let v = v as f64;
            let y = (b0 * v + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
            (x2, x1, y2, y1) = (x1, v, y1, y);
            y as f32
        })
        .collect()
}

#[test]
fn biquads_match_the_reference() {
    for kind in [
        FilterKind::LowPass,
        FilterKind::HighPass,
        FilterKind::BandPass,
    ] {
        let (f, _) = Biquad::new(kind, 1_000.0, 0.707, RATE);
        let (m, mut r) = MixerBuilder::new(RATE)
            .clip(Clip::Off)
            .insert("main", f)
            .build();
        let src = noise(5_000);
        m.play(
            &Sound::from_samples(src.clone(), 2, RATE).unwrap(),
            PlayParams::new(),
        )
        .unwrap();
        let out = render_stereo(&mut r, 0, 5_000, 300);
        for c in 0..2 {
            let want = reference_biquad(kind, 1_000.0, 0.707, &channel(&src, c));
            let got = channel(&out, c);
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 2e-5, "{kind:?} channel {c}: max error {err}");
        }
    }
}

#[test]
fn a_cutoff_change_glides_to_its_target() {
    let (f, p) = Biquad::new(FilterKind::LowPass, 500.0, 0.707, RATE);
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .insert("main", f)
        .build();
    // A 4 kHz sine: strongly cut at 500 Hz, passed at 16 kHz.
    let sine: Vec<f32> = (0..2 * 96_000)
        .map(|i| (2.0 * std::f32::consts::PI * 4_000.0 * (i / 2) as f32 / RATE as f32).sin() * 0.5)
        .collect();
    m.play(
        &Sound::from_samples(sine, 2, RATE).unwrap(),
        PlayParams::new(),
    )
    .unwrap();
    let before = render_stereo(&mut r, 0, 4_800, 256);
    p.set_cutoff(16_000.0);
    let during = render_stereo(&mut r, 4_800, 48_000, 256);
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    assert!(peak(&before[4_000..]) < 0.05);
    assert!(peak(&during[during.len() - 4_000..]) > 0.45);
    // No jump: consecutive samples never differ by more than the sine can.
    let left = channel(&during, 0);
    let max_step = left
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max);
    assert!(
        max_step < 0.5 * 2.0 * std::f32::consts::PI * 4_000.0 / RATE as f32 * 1.3,
        "{max_step}"
    );
}

#[test]
fn the_delay_matches_the_reference() {
    let (d, _) = Delay::new(10_000, 1_234, 0.5, 0.7);
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .insert("main", d)
        .build();
    let src = noise(6_000);
    m.play(
        &Sound::from_samples(src.clone(), 2, RATE).unwrap(),
        PlayParams::new(),
    )
    .unwrap();
    let out = render_stereo(&mut r, 0, 8_000, 256);
    for c in 0..2 {
        let x = channel(&src, c);
        let mut line = vec![0.0f32; 20_000];
        for (i, &got) in channel(&out, c).iter().enumerate() {
            let xi = x.get(i).copied().unwrap_or(0.0);
            let d = if i >= 1_234 { line[i - 1_234] } else { 0.0 };
            line[i] = xi + 0.5 * d;
            assert_eq!(got, xi + 0.7 * d, "channel {c} frame {i}");
        }
    }
}

/// The reverb's topology, written out again.
fn reference_reverb(l: &[f32], r: &[f32], room: f32, damp: f32, wet: f32) -> (Vec<f32>, Vec<f32>) {
    let scale = |n: usize| n * RATE as usize / 44_100;
    let (fb, d) = (0.7 + 0.28 * room, 0.4 * damp);
    let mut outs = [Vec::new(), Vec::new()];
    for (ch, out) in outs.iter_mut().enumerate() {
        let extra = if ch == 0 { 0 } else { REVERB_SPREAD };
        let mut combs: Vec<(Vec<f32>, usize, f32)> = REVERB_COMBS
            .iter()
            .map(|&n| (vec![0.0; scale(n + extra)], 0, 0.0))
            .collect();
        let mut aps: Vec<(Vec<f32>, usize)> = REVERB_ALLPASSES
            .iter()
            .map(|&n| (vec![0.0; scale(n + extra)], 0))
            .collect();
        for i in 0..l.len() {
            let input = (l[i] + r[i]) * REVERB_INPUT;
            let mut acc = 0.0f32;
            for (buf, at, store) in combs.iter_mut() {
                let y = buf[*at];
                *store = y * (1.0 - d) + *store * d;
                buf[*at] = input + *store * fb;
                *at = (*at + 1) % buf.len();
                acc += y;
            }
            for (buf, at) in aps.iter_mut() {
                let b = buf[*at];
                buf[*at] = acc + b * 0.5;
                acc = b - acc;
                *at = (*at + 1) % buf.len();
            }
            out.push(acc * wet);
        }
    }
    let [a, b] = outs;
    (a, b)
}

#[test]
fn the_reverb_matches_the_reference_and_decays() {
    let (v, _) = Reverb::new(RATE, 0.6, 0.3, 0.8);
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .insert("main", v)
        .build();
    let mut src = noise(2_000);
    src.resize(2 * 48_000, 0.0);
    m.play(
        &Sound::from_samples(src.clone(), 2, RATE).unwrap(),
        PlayParams::new(),
    )
    .unwrap();
    let out = render_stereo(&mut r, 0, 48_000, 256);
    let (wl, wr) = reference_reverb(&channel(&src, 0), &channel(&src, 1), 0.6, 0.3, 0.8);
    assert_eq!(channel(&out, 0), wl);
    assert_eq!(channel(&out, 1), wr);
    let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>();
    let early = energy(&wl[2_000..12_000]);
    let late = energy(&wl[38_000..48_000]);
    assert!(early > 0.0 && late < early / 10.0, "{early} {late}");
}

#[test]
fn a_send_feeds_a_later_bus_through_its_inserts() {
    let (d, _) = Delay::new(1_000, 100, 0.0, 1.0);
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .bus("music")
        .bus("echo")
        .insert("echo", d)
        .send("music", "echo", 0.5)
        .build();
    let music = m.bus("music").unwrap();
    let echo = m.bus("echo").unwrap();
    let src = noise(1_000);
    m.play(
        &Sound::from_samples(src.clone(), 2, RATE).unwrap(),
        PlayParams::new().bus(music),
    )
    .unwrap();
    let out = render_stereo(&mut r, 0, 1_000, 256);
    for i in 0..1_000 {
        for c in 0..2 {
            let x = src[2 * i + c];
            let sent = 0.5 * x;
            // The echo bus: its input (the send) plus the delayed input.
            let delayed = if i >= 100 {
                0.5 * src[2 * (i - 100) + c]
            } else {
                0.0
            };
            let want = x + sent + delayed;
            assert!((out[2 * i + c] - want).abs() < 1e-6, "frame {i}");
        }
    }
    assert!(m.set_send_level(music, echo, 0.0));
    assert!(!m.set_send_level(echo, music, 0.3));
}

/// 5.1 output planes in ALSA order (FL FR RL RR FC LFE) and the channel
/// of a 6-channel sound (FL FR FC LFE BL BR) that reaches each at unity.
const FILE_CHANNEL_OF_PLANE: [usize; 6] = [0, 1, 4, 5, 2, 3];

/// Six channels of deterministic noise, different per channel.
fn noise6(frames: usize) -> Vec<f32> {
    let mut x = 0x9e37_79b9u32;
    (0..6 * frames)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * 0.5
        })
        .collect()
}

/// Renders `frames` of 5.1 in blocks of `block`, calling `between(t)` before each block.
fn render_51(
    r: &mut pcmring::mixer::MixerRenderer,
    frames: usize,
    block: usize,
    mut between: impl FnMut(usize),
) -> Vec<f32> {
    let mut out = vec![0.0f32; 6 * frames];
    let mut done = 0;
    while done < frames {
        between(done);
        let n = block.min(frames - done);
        r.render(
            &mut out[6 * done..6 * (done + n)],
            &pcmring::mixer::BlockInfo {
                frame_time: done as u64,
                frames: n,
                channels: 6,
                rate: RATE,
            },
        );
        done += n;
    }
    out
}

fn plane(x: &[f32], channels: usize, c: usize) -> Vec<f32> {
    x.iter().skip(c).step_by(channels).copied().collect()
}

/// Plays six channels of noise on a 5.1 mixer whose main bus has `fx`;
/// returns the input per output plane and the output.
fn through_51(
    fx: impl pcmring::mixer::Effect + 'static,
    frames: usize,
    between: impl FnMut(usize),
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let (m, mut r) = MixerBuilder::new(RATE)
        .clip(Clip::Off)
        .insert("main", fx)
        .build();
    let src = noise6(frames);
    m.play(
        &Sound::from_samples(src.clone(), 6, RATE).unwrap(),
        PlayParams::new(),
    )
    .unwrap();
    let out = render_51(&mut r, frames, 256, between);
    let inputs = FILE_CHANNEL_OF_PLANE
        .iter()
        .map(|&c| plane(&src, 6, c))
        .collect();
    (inputs, out)
}

#[test]
fn a_filter_on_a_5_1_bus_filters_all_six_channels() {
    let (f, _) = Biquad::new(FilterKind::HighPass, 2_000.0, 0.9, RATE);
    let (inputs, out) = through_51(f, 4_000, |_| {});
    for (p, x) in inputs.iter().enumerate() {
        let want = reference_biquad(FilterKind::HighPass, 2_000.0, 0.9, x);
        let got = plane(&out, 6, p);
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 2e-5, "plane {p}: max error {err}");
        // Filtered, not passed dry.
        let dry = got
            .iter()
            .zip(x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(dry > 0.01, "plane {p} was not filtered");
    }
}

#[test]
fn a_delay_on_a_5_1_bus_delays_every_channel_with_ramped_parameters() {
    const CHUNK: usize = pcmring::mixer::CHUNK;
    let (d, params) = Delay::new(2_000, 700, 0.4, 0.6);
    // Wet and feedback change before the block at frame 1024 (a chunk boundary).
    let (inputs, out) = through_51(d, 3_000, |t| {
        if t == 1_024 {
            params.set_wet(0.1);
            params.set_feedback(0.8);
        }
    });
    for (p, x) in inputs.iter().enumerate() {
        let mut line = vec![0.0f32; 4_000];
        let (mut fb, mut wet) = (0.4f32, 0.6f32);
        let (mut dfb, mut dwet) = (0.0f32, 0.0f32);
        let (mut fb0, mut wet0) = (fb, wet);
        for (i, &got) in plane(&out, 6, p).iter().enumerate() {
            if i % CHUNK == 0 {
                // The chunk ramps from the last chunk's values to the new ones.
                let (tf, tw) = if i >= 1_024 { (0.8, 0.1) } else { (0.4, 0.6) };
                (fb0, wet0) = (fb, wet);
                (dfb, dwet) = ((tf - fb) / CHUNK as f32, (tw - wet) / CHUNK as f32);
                (fb, wet) = (tf, tw);
            }
            let k = (i % CHUNK + 1) as f32;
            let d = if i >= 700 { line[i - 700] } else { 0.0 };
            line[i] = x[i] + (fb0 + dfb * k) * d;
            assert_eq!(got, x[i] + (wet0 + dwet * k) * d, "plane {p} frame {i}");
        }
    }
}

#[test]
fn a_reverb_on_a_5_1_bus_fills_every_channel_with_its_own_bank() {
    let frames = 6_000;
    let (v, _) = Reverb::new(RATE, 0.5, 0.5, 1.0);
    let (inputs, out) = through_51(v, frames, |_| {});
    let scale = |n: usize| n * RATE as usize / 44_100;
    let (fb, damp) = (0.7 + 0.28 * 0.5f32, 0.4 * 0.5f32);
    for p in 0..6 {
        let extra = p * REVERB_SPREAD;
        let mut combs: Vec<(Vec<f32>, usize, f32)> = REVERB_COMBS
            .iter()
            .map(|&n| (vec![0.0; scale(n + extra)], 0, 0.0))
            .collect();
        let mut aps: Vec<(Vec<f32>, usize)> = REVERB_ALLPASSES
            .iter()
            .map(|&n| (vec![0.0; scale(n + extra)], 0))
            .collect();
        let got = plane(&out, 6, p);
        for i in 0..frames {
            let mut sum = 0.0f32;
            for x in &inputs {
                sum += x[i];
            }
            let input = sum * REVERB_INPUT;
            let mut acc = 0.0f32;
            for (buf, at, store) in combs.iter_mut() {
                let y = buf[*at];
                *store = y * (1.0 - damp) + *store * damp;
                buf[*at] = input + *store * fb;
                *at = (*at + 1) % buf.len();
                acc += y;
            }
            for (buf, at) in aps.iter_mut() {
                let b = buf[*at];
                buf[*at] = acc + b * 0.5;
                acc = b - acc;
                *at = (*at + 1) % buf.len();
            }
            assert_eq!(got[i], acc, "plane {p} frame {i}");
        }
        assert!(got.iter().any(|&x| x != 0.0), "plane {p} is silent");
    }
}
