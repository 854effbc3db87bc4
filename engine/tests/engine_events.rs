//! The application's view of faults: one event channel, typed errors from
//! the mixer once its engine is gone, and `Engine::error` after a render
//! panic (simulated device).

mod sim_support;

use pcmring::engine::{Engine, EngineConfig, EngineState, Margin, WakeStrategy};
use pcmring::events::{EngineEvent, EventQueue, StopReason};
use pcmring::mixer::{Loop, MixerBuilder, MixerError, PlayParams};
use pcmring::sim::{SimConfig, SimDac};
use pcmring::sound::Sound;
use pcmring::Format;
use sim_support::*;
use std::time::Duration;

fn sim() -> SimDac {
    SimDac::start(SimConfig::new(layout(Format::S16Le, 256, 8192, 8192 << 10))).expect("sim")
}

fn config(margin: u64) -> EngineConfig {
    EngineConfig {
        name: "sim".into(),
        block_frames: 64,
        wake: WakeStrategy::Timer,
        margin: Margin::Frames(margin),
        ..EngineConfig::default()
    }
}

#[test]
fn render_panic_reaches_error_and_events_with_its_message() {
    let dac = sim();
    let (mut r, _seen) = SignalRenderer::new();
    r.hook = Some(Box::new(|block| {
        if block == 50 {
            panic!("synth voice table corrupt at block 50");
        }
    }));
    let engine = Engine::start(dac.device().expect("dev"), r, config(4800)).expect("engine");
    let events = engine.events();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(engine.telemetry().render_panics(), 1);
    let msg = engine
        .error()
        .expect("Engine::error reports the render panic");
    assert!(msg.contains("synth voice table corrupt"), "{msg}");
    assert!(msg.contains("panicked"), "{msg}");
    let got = events.drain();
    assert!(
        got.iter()
            .any(|e| matches!(e, EngineEvent::RenderPanic { message }
            if message.as_str().contains("synth voice table corrupt at block 50"))),
        "{got:?}"
    );
    // A panic silences the engine but is not a device error.
    assert_eq!(engine.telemetry().state(), EngineState::Running);
    engine
        .stop()
        .expect("a render panic does not stop the engine");
}

#[test]
fn mixer_and_voices_report_the_engine_gone_after_a_disconnect() {
    let dac = sim();
    let (mixer, renderer) = MixerBuilder::new(48_000).build();
    let queue = EventQueue::new(64);
    let cfg = EngineConfig {
        events: Some(queue.clone()),
        ..config(2400)
    };
    let engine = Engine::start(dac.device().expect("dev"), renderer, cfg).expect("engine");
    let sound = Sound::from_samples(vec![0.25; 48_000], 1, 48_000).expect("sound");
    let voice = mixer
        .play(&sound, PlayParams::default().looping(Loop::Whole))
        .expect("plays while the engine runs");
    // Another subsystem posts into the same channel.
    assert!(queue
        .sender()
        .notice("reserve", "card taken by a higher-priority requester"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(voice.is_active());
    dac.disconnect();
    assert!(engine.wait_finished(Duration::from_secs(5)));
    assert_eq!(
        mixer.play(&sound, PlayParams::default()).err(),
        Some(MixerError::EngineGone)
    );
    assert_eq!(voice.set_gain(0.5), Err(MixerError::EngineGone));
    assert!(
        !voice.is_active(),
        "a voice of a stopped engine is not active"
    );
    let got = queue.receiver().drain();
    assert!(
        got.iter().any(|e| matches!(
            e,
            EngineEvent::Notice {
                source: "reserve",
                ..
            }
        )),
        "{got:?}"
    );
    assert_eq!(
        got.last(),
        Some(&EngineEvent::Stopped {
            reason: StopReason::Disconnected
        }),
        "{got:?}"
    );
    assert!(engine.stop().is_err());
}

#[test]
fn xruns_and_margin_changes_arrive_as_events() {
    let dac = sim();
    let (mut r, _seen) = SignalRenderer::new();
    r.hook = Some(Box::new(|block| {
        if block == 300 {
            std::thread::sleep(Duration::from_millis(60));
        }
    }));
    let cfg = EngineConfig {
        margin: Margin::Auto {
            probe: Duration::ZERO,
        },
        default_jitter_ns: 1_000_000,
        ..config(0)
    };
    let engine = Engine::start(dac.device().expect("dev"), r, cfg).expect("engine");
    let events = engine.events();
    std::thread::sleep(Duration::from_millis(1200));
    let tel = engine.telemetry().snapshot();
    engine.stop().expect("xruns are not errors");
    let got = events.drain();
    let xruns: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Xrun { frames, .. } => Some(*frames),
            _ => None,
        })
        .collect();
    assert!(tel.xruns >= 1, "{tel:?}");
    assert_eq!(xruns.len() as u64, tel.xruns, "{got:?}");
    assert_eq!(xruns.iter().sum::<u64>(), tel.xrun_frames, "{got:?}");
    assert!(
        got.iter()
            .any(|e| matches!(e, EngineEvent::MarginChanged { .. })),
        "an xrun grows the automatic margin: {got:?}"
    );
    assert_eq!(events.dropped(), 0);
}
