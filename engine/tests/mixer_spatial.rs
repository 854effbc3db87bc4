//! 3D emitters on stereo: distance models, the pan from the direction
//! (and through the pan law to the output), and Doppler.

use pcmring::mixer::{
    pan_gains, Attenuation, Clip, Emitter, Listener, MixerBuilder, PlayParams, SPEED_OF_SOUND,
};
use pcmring::sound::Sound;

mod mixer_support;
use mixer_support::{render_stereo, RATE};

const INVERSE: Attenuation = Attenuation::Inverse {
    reference: 1.0,
    max: 50.0,
    rolloff: 1.0,
};

fn at(p: [f32; 3]) -> Emitter {
    Emitter {
        position: p,
        ..Default::default()
    }
}

#[test]
fn distance_models() {
    let l = Listener::default();
    for (d, g) in [
        (0.5, 1.0),
        (1.0, 1.0),
        (2.0, 0.5),
        (4.0, 0.25),
        (100.0, 1.0 / 50.0),
    ] {
        let s = l.hear(&at([0.0, 0.0, -d]), INVERSE, 0.0);
        assert!((s.gain - g).abs() < 1e-6, "inverse at {d}: {}", s.gain);
    }
    let lin = Attenuation::Linear {
        reference: 2.0,
        max: 12.0,
        rolloff: 1.0,
    };
    for (d, g) in [(1.0, 1.0), (7.0, 0.5), (12.0, 0.0), (30.0, 0.0)] {
        assert!((lin.gain(d) - g).abs() < 1e-6, "linear at {d}");
    }
}

#[test]
fn direction_gives_the_pan_and_the_pan_law_the_output() {
    let l = Listener::default(); // facing -z, right is +x
    let cases = [
        ([0.0, 0.0, -3.0], 0.0),
        ([3.0, 0.0, 0.0], 1.0),
        ([-3.0, 0.0, 0.0], -1.0),
        ([3.0, 0.0, -3.0], std::f32::consts::FRAC_1_SQRT_2),
        ([0.0, 0.0, 3.0], 0.0),
    ];
    for (p, pan) in cases {
        let s = l.hear(&at(p), INVERSE, 0.0);
        assert!((s.pan - pan).abs() < 1e-6, "{p:?}: {}", s.pan);
        // Through the mixer: a mono DC voice with the emitter's gain and pan.
        let (m, mut r) = MixerBuilder::new(RATE)
            .clip(Clip::Off)
            .ramp_frames(1)
            .build();
        let dc = Sound::from_samples(vec![1.0f32; 1000], 1, RATE).unwrap();
        m.play(&dc, PlayParams::new().gain(s.gain).pan(s.pan))
            .unwrap();
        let out = render_stereo(&mut r, 0, 100, 100);
        let (gl, gr) = pan_gains(s.pan, 1);
        assert!((out[100] - s.gain * gl).abs() < 1e-6 && (out[101] - s.gain * gr).abs() < 1e-6);
        // Constant power: left² + right² is the distance gain².
        assert!(((out[100].powi(2) + out[101].powi(2)).sqrt() - s.gain).abs() < 1e-5);
    }
}

#[test]
fn doppler_raises_approaching_sources_and_lowers_receding_ones() {
    let l = Listener::default();
    let v = 34.3; // a tenth of the speed of sound
    let toward = Emitter {
        position: [0.0, 0.0, -10.0],
        velocity: [0.0, 0.0, v],
    };
    let away = Emitter {
        position: [0.0, 0.0, -10.0],
        velocity: [0.0, 0.0, -v],
    };
    let s = l.hear(&toward, INVERSE, 1.0);
    assert!((s.doppler - SPEED_OF_SOUND / (SPEED_OF_SOUND - v)).abs() < 1e-5);
    let s = l.hear(&away, INVERSE, 1.0);
    assert!((s.doppler - SPEED_OF_SOUND / (SPEED_OF_SOUND + v)).abs() < 1e-5);
    assert_eq!(l.hear(&away, INVERSE, 0.0).doppler, 1.0);
    let half = l.hear(&away, INVERSE, 0.5).doppler;
    assert!((half - (1.0 + (SPEED_OF_SOUND / (SPEED_OF_SOUND + v) - 1.0) * 0.5)).abs() < 1e-6);
}
