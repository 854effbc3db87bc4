//! Stress: 8 threads start, re-gain and stop voices at random for a few
//! seconds while another thread renders. At the end the pool accounting
//! balances (every started voice ended, every slot is free again, every
//! sound reference dropped) and no handle ever touched another voice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcmring::mixer::{Clip, Loop, MixerBuilder, MixerError, PlayParams, VoiceHandle};
use pcmring::sound::Sound;

mod mixer_support;
use mixer_support::{render_stereo_block, RATE};

const THREADS: usize = 8;
const IDS: u64 = 16_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Gains encode the voice's id in the integer part; owners only change the
/// fraction, so a gain with a foreign integer part means a handle touched
/// another voice.
fn gain_for(id: u64, k: u64) -> f32 {
    id as f32 + (k % 512) as f32 / 512.0
}

#[test]
fn eight_threads_play_and_stop_at_random() {
    let secs = std::env::var("MIXER_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let (mixer, mut renderer) = MixerBuilder::new(RATE)
        .voices(512)
        .command_capacity(256)
        .clip(Clip::Off)
        .default_fade(64)
        .build();
    let janitor = mixer.spawn_janitor(Duration::from_millis(2)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let plays = Arc::new(AtomicU64::new(0));
    let next_id = Arc::new(AtomicU64::new(0));

    let render_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut out = vec![0.0f32; 2 * 256];
            let mut t = 0u64;
            let mut ids: HashMap<(u32, u32), u64> = HashMap::new();
            let mut violations = 0u64;
            let mut blocks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                render_stereo_block(&mut renderer, &mut out, t);
                t += 256;
                blocks += 1;
                renderer.debug_voices(|id, gain| {
                    let owner = gain.floor() as u64;
                    let first = *ids.entry((id.slot, id.generation)).or_insert(owner);
                    if first != owner {
                        violations += 1;
                    }
                });
            }
            (renderer, t, violations, blocks)
        })
    };

    let workers: Vec<_> = (0..THREADS)
        .map(|w| {
            let (mixer, plays, next_id) = (mixer.clone(), plays.clone(), next_id.clone());
            std::thread::spawn(move || {
                let sound = Sound::from_samples(vec![0.001f32; 2000], 1, RATE).unwrap();
                let mut rng = Rng(0x1234_5678 + w as u64 * 0x9E37_79B9);
                // (handle, id, seen ended)
                let mut handles: Vec<(VoiceHandle, u64, bool)> = Vec::new();
                let mut errors = Vec::new();
                let mut k = 0u64;
                let deadline = Instant::now() + Duration::from_secs_f64(secs);
                while Instant::now() < deadline {
                    k += 1;
                    match rng.below(10) {
                        0..=3 => {
                            let id = next_id.fetch_add(1, Ordering::Relaxed) % IDS + 1;
                            let looping = if rng.below(2) == 0 {
                                Loop::Whole
                            } else {
                                Loop::Off
                            };
                            let p = PlayParams::new().gain(gain_for(id, 0)).looping(looping);
                            match mixer.play(&sound, p) {
                                Ok(h) => {
                                    plays.fetch_add(1, Ordering::Relaxed);
                                    handles.push((h, id, false));
                                }
                                Err(MixerError::PoolFull | MixerError::QueueFull) => {}
                                Err(e) => errors.push(format!("play: {e}")),
                            }
                        }
                        4..=6 if !handles.is_empty() => {
                            let i = rng.below(handles.len() as u64) as usize;
                            let (h, id, seen_ended) = &mut handles[i];
                            match h.set_gain(gain_for(*id, k)) {
                                Ok(()) if *seen_ended => {
                                    errors.push("set_gain succeeded after the voice ended".into())
                                }
                                Ok(()) => {}
                                Err(MixerError::Ended) => *seen_ended = true,
                                Err(e) => errors.push(format!("set_gain: {e}")),
                            }
                            if *seen_ended && h.is_active() {
                                errors.push("ended voice became active again".into());
                            }
                        }
                        7..=8 if !handles.is_empty() => {
                            let i = rng.below(handles.len() as u64) as usize;
                            let (h, _, seen_ended) = &mut handles[i];
                            match h.stop() {
                                Ok(()) if *seen_ended => {
                                    errors.push("stop succeeded after the voice ended".into())
                                }
                                Ok(()) | Err(MixerError::QueueFull) => {}
                                Err(MixerError::Ended) => *seen_ended = true,
                                Err(e) => errors.push(format!("stop: {e}")),
                            }
                        }
                        _ if !handles.is_empty() => {
                            let i = rng.below(handles.len() as u64) as usize;
                            if !handles[i].0.is_active() {
                                handles.swap_remove(i);
                            }
                        }
                        _ => {}
                    }
                }
                // Stop everything this thread still holds.
                for (h, _, _) in &handles {
                    while let Err(MixerError::QueueFull) = h.stop_with_fade(0) {
                        std::thread::yield_now();
                    }
                }
                (errors, sound)
            })
        })
        .collect();

    let mut sounds = Vec::new();
    for w in workers {
        let (errors, sound) = w.join().unwrap();
        assert!(
            errors.is_empty(),
            "worker errors: {:?}",
            &errors[..errors.len().min(10)]
        );
        sounds.push(sound);
    }
    stop.store(true, Ordering::Relaxed);
    let (mut renderer, mut t, violations, blocks) = render_thread.join().unwrap();
    assert_eq!(violations, 0, "a handle touched another voice");
    // Let every remaining voice end.
    let mut out = vec![0.0f32; 2 * 256];
    for _ in 0..10 {
        render_stereo_block(&mut renderer, &mut out, t);
        t += 256;
    }
    drop(janitor);
    mixer.collect_garbage();
    let st = mixer.stats();
    let plays = plays.load(Ordering::Relaxed);
    assert!(plays > 1000, "only {plays} plays in {blocks} blocks");
    assert_eq!(renderer.active_voices(), 0);
    assert_eq!(
        st.voices_started, plays,
        "every successful play reached the renderer"
    );
    assert_eq!(st.voices_ended, plays, "every voice ended");
    assert_eq!(
        mixer.free_voices(),
        mixer.capacity(),
        "pool accounting balances"
    );
    for s in &sounds {
        assert_eq!(
            s.ref_count(),
            1,
            "every sound reference came back and was dropped"
        );
    }
    eprintln!(
        "stress: {plays} plays, {} pool-full, {} dropped commands, {blocks} blocks",
        st.pool_full, st.dropped_commands
    );
}
