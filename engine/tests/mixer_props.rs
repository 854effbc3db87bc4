//! Property tests for the voice pool and handle generations, against a model.

use std::collections::{HashMap, HashSet};

use pcmring::mixer::{BlockInfo, Loop, MixerBuilder, MixerError, PlayParams, VoiceHandle};
use pcmring::sound::Sound;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Play,
    Stop(usize),
    SetGain(usize, u8),
    Render,
    Collect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Play),
        2 => any::<usize>().prop_map(Op::Stop),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, g)| Op::SetGain(i, g)),
        2 => Just(Op::Render),
        1 => Just(Op::Collect),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Live,
    Stopping,
    Ended,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pool_and_generations_follow_the_model(cap in 1usize..6, ops in proptest::collection::vec(op(), 1..120)) {
        let (m, mut r) = MixerBuilder::new(48_000).voices(cap).build();
        let s = Sound::from_samples(vec![0.1f32; 64], 1, 48_000).unwrap();
        let mut hs: Vec<(VoiceHandle, St, f32)> = Vec::new();
        let mut ids = HashSet::new();
        let mut t = 0u64;
        let mut out = vec![0.0f32; 64];
        for op in ops {
            let occupied = hs.iter().filter(|h| h.1 != St::Ended).count();
            match op {
                Op::Play => match m.play(&s, PlayParams::new().looping(Loop::Whole)) {
                    Ok(h) => {
                        prop_assert!(occupied < cap);
                        prop_assert!(ids.insert(h.id()), "a (slot, generation) pair repeated");
                        hs.push((h, St::Live, 1.0));
                    }
                    Err(e) => {
                        prop_assert_eq!(e, MixerError::PoolFull);
                        prop_assert_eq!(occupied, cap);
                    }
                },
                Op::Stop(i) if !hs.is_empty() => {
                    let i = i % hs.len();
                    let res = hs[i].0.stop_with_fade(0);
                    match hs[i].1 {
                        St::Ended => prop_assert_eq!(res, Err(MixerError::Ended)),
                        _ => {
                            prop_assert_eq!(res, Ok(()));
                            hs[i].1 = St::Stopping;
                        }
                    }
                }
                Op::SetGain(i, g) if !hs.is_empty() => {
                    let i = i % hs.len();
                    let g = g as f32 / 64.0;
                    let res = hs[i].0.set_gain(g);
                    if hs[i].1 == St::Ended {
                        prop_assert_eq!(res, Err(MixerError::Ended));
                    } else {
                        prop_assert_eq!(res, Ok(()));
                        hs[i].2 = g;
                    }
                }
                Op::Render => {
                    r.render(&mut out, &BlockInfo { frame_time: t, frames: 32, channels: 2, rate: 48_000 });
                    t += 32;
                    for h in hs.iter_mut().filter(|h| h.1 == St::Stopping) {
                        h.1 = St::Ended;
                    }
                    // The renderer holds exactly the live voices, each with the gain its own handle set.
                    let mut seen = HashMap::new();
                    r.debug_voices(|id, gain| { seen.insert(id, gain); });
                    let live: Vec<_> = hs.iter().filter(|h| h.1 == St::Live).collect();
                    prop_assert_eq!(seen.len(), live.len());
                    for h in live {
                        prop_assert_eq!(seen.get(&h.0.id()).copied(), Some(h.2));
                    }
                }
                Op::Collect => {
                    m.collect_garbage();
                    prop_assert_eq!(m.free_voices(), cap - occupied);
                }
                _ => {}
            }
            for h in &hs {
                prop_assert_eq!(h.0.is_active(), h.1 != St::Ended, "handle {:?} in state {:?}", h.0.id(), h.1);
            }
        }
    }
}
