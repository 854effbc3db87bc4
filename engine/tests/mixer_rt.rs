//! The render path does no heap operation: the rt crate's counting allocator
//! is this binary's global allocator, and a guard is armed around every
//! `render` call while voices start, ramp, loop, resample, pause, stop, end
//! and go to the garbage queue (mono, stereo and 5.1 sounds), on stereo, 5.1, 7.1, quad and mono outputs
//! (voices panned over the speakers by azimuth; gain, pan and rate
//! tweens; stereo and 5.1 streams; inserts on every channel).

use pcmring::mixer::{
    Biquad, BlockInfo, Clip, Delay, FilterKind, Loop, MixerBuilder, PlayParams, Reverb, Tween,
};
use pcmring::sound::Sound;
use pcmring::stream::{Stream, StreamOptions};
use pcmring_rt::alloc_guard::{self, AllocGuard, CountingAllocator, Mode};

mod mixer_support;

#[global_allocator]
static A: CountingAllocator = CountingAllocator::new();

#[test]
fn render_never_touches_the_heap() {
    assert!(alloc_guard::is_installed());
    let (lp, lp_params) = Biquad::new(FilterKind::LowPass, 2_000.0, 0.7, 48_000);
    let (echo, echo_params) = Delay::new(20_000, 4_800, 0.4, 0.5);
    let (verb, verb_params) = Reverb::new(48_000, 0.7, 0.4, 0.6);
    let (m, mut r) = MixerBuilder::new(48_000)
        .voices(2048)
        .bus("music")
        .bus("effects")
        .bus("reverb")
        .insert("music", lp)
        .insert("effects", echo)
        .insert("reverb", verb)
        .send("music", "reverb", 0.3)
        .send("effects", "reverb", 0.5)
        .clip(Clip::Soft)
        .build();
    let mono = Sound::from_samples(
        (0..3000)
            .map(|i| (i as f32 * 0.01).sin())
            .collect::<Vec<_>>(),
        1,
        48_000,
    )
    .unwrap();
    let stereo = Sound::from_samples(
        (0..4000)
            .map(|i| (i as f32 * 0.02).cos())
            .collect::<Vec<_>>(),
        2,
        48_000,
    )
    .unwrap();
    let six = Sound::from_samples(
        (0..6 * 2500)
            .map(|i| (i as f32 * 0.003).sin())
            .collect::<Vec<_>>(),
        6,
        48_000,
    )
    .unwrap();
    let music = m.bus("music").unwrap();
    let hot = Sound::from_samples(vec![3e38f32; 512], 1, 48_000).unwrap();
    // Streaming voices: a looping one that plays throughout (seeked and
    // starved now and then), and one-shots that end while rendering.
    let wav = std::env::temp_dir().join(format!("pcmring-mixer-rt-{}.wav", std::process::id()));
    {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).unwrap();
        for i in 0..20_000i32 {
            w.write_sample(((i * 37) % 20_000 - 10_000) as i16).unwrap();
            w.write_sample(((i * 11) % 20_000 - 10_000) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    // A 5.1 file for the streamed one-shots: six channels through the matrix.
    let wav6 = std::env::temp_dir().join(format!("pcmring-mixer-rt6-{}.wav", std::process::id()));
    {
        let spec = hound::WavSpec {
            channels: 6,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav6, spec).unwrap();
        for i in 0..6 * 8_000i32 {
            w.write_sample(((i * 13) % 20_000 - 10_000) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    let opts = StreamOptions::new()
        .read_ahead(std::time::Duration::from_millis(100))
        .looping(Loop::Region {
            start: 1000,
            end: 15_000,
        });
    let song = Stream::open(&wav, 48_000, opts).unwrap();
    m.play_stream(&song, PlayParams::new().gain(0.2).rate(1.1))
        .unwrap();
    let mut one_shots = Vec::new();
    let mut out = vec![0.0f32; 8 * 256];
    let mut handles = Vec::new();
    let mut t = 0u64;
    let mut total = alloc_guard::AllocCounts::default();
    for block in 0..400u64 {
        // Control-side work between blocks (allowed to allocate).
        for k in 0..8u64 {
            // A fresh sound per voice, dropped here right after `play`: the voice
            // holds the only reference, so freeing it on the render thread
            // would show up as a heap free under the guard.
            let base = match k {
                3 | 6 => &six,
                _ if k % 2 == 0 => &mono,
                _ => &stereo,
            };
            let s = &Sound::from_samples(base.samples().to_vec(), base.channels(), 48_000).unwrap();
            let p = PlayParams::new()
                .gain(0.1)
                .pan((k as f32 / 4.0) - 1.0)
                .rate(if k % 3 == 0 {
                    1.0
                } else {
                    0.5 + k as f32 * 0.2
                })
                .looping(if k % 4 == 0 {
                    Loop::Region {
                        start: 100,
                        end: 1500,
                    }
                } else {
                    Loop::Off
                })
                .bus(if k % 2 == 0 {
                    music
                } else {
                    Default::default()
                })
                .at(t + k * 37)
                .offset(k * 11)
                .fade_in(if k == 5 { 300 } else { 0 });
            if let Ok(h) = m.play(s, p) {
                handles.push(h);
            }
        }
        for (i, h) in handles.iter().enumerate() {
            let _ = match (block + i as u64) % 11 {
                1 if block % 4 == 1 => h.tween_pan_at(t + 40, -0.5, Tween::linear(200)),
                2 if block % 3 == 0 => h.set_rate_tween(1.3, Tween::exponential_db(300)),
                7 if block % 3 == 0 => h.tween_rate_at(t + 80, 0.8, Tween::s_curve(100)),
                9 if block % 3 == 0 => h.set_pan_tween(0.7, Tween::s_curve(150)),
                0 => h.set_gain(0.05),
                1 if block % 2 == 0 => h.set_pan(0.3),
                1 => h.set_azimuth(block as f32 * 7.0 - 180.0),
                2 | 7 | 9 => h.set_rate(0.6 + (block % 7) as f32 * 0.2),
                3 => h.pause(),
                4 => h.resume(),
                5 => h.stop_at(t + 100, 64),
                6 => h.set_gain_tween(0.3, Tween::exponential_db(500)),
                8 => h.set_gain_at(t + 300, 0.2),
                10 => h.tween_gain_at(t + 50, 0.05, Tween::s_curve(200)),
                _ => Ok(()),
            };
        }
        handles.retain(|h| h.is_active());
        if block % 50 == 10 {
            // A voice whose output overflows to infinity: the renderer
            // silences the chunk, then finds and ends the voice.
            let _ = m.play(&hot, PlayParams::new().gain(4.0).looping(Loop::Whole));
        }
        while m.poll_event().is_some() {}
        match block % 40 {
            5 => song.seek(block * 10),
            12 => {
                // Held, then seeked: the loader takes up the seek but writes
                // nothing, so the voice surely starves until block 20.
                song.hold_loader(true);
                song.seek(block * 10);
                let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while !song.seek_done() {
                    assert!(
                        std::time::Instant::now() < end,
                        "the loader never took the seek"
                    );
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
            }
            15 => m.pause_bus(music).unwrap(),
            17 => m.resume_bus(music).unwrap(),
            35 => m.stop_bus(music).unwrap(),
            2 | 22 => {
                lp_params.set_cutoff(300.0 + (block % 13) as f32 * 700.0);
                echo_params.set_frames((block % 9 + 1) as u32 * 1_000);
                verb_params.set_room((block % 5) as f32 / 5.0);
                let reverb = m.bus("reverb").unwrap();
                m.set_send_level(music, reverb, (block % 3) as f32 / 3.0);
            }
            20 => song.hold_loader(false),
            30 => {
                let s = Stream::open(&wav6, 48_000, StreamOptions::new()).unwrap();
                let _ = m.play_stream(&s, PlayParams::new().gain(0.1).rate(0.9));
                one_shots.push(s); // dropped after the loop, off the render thread
            }
            _ => {}
        }
        m.set_bus_gain(music, if block % 2 == 0 { 0.5 } else { 1.0 });
        m.set_master_gain(0.9);
        // The realtime part.
        let guard = AllocGuard::enter(Mode::Count);
        let channels = [2, 6, 8, 4, 1][(block / 80) as usize % 5];
        r.render(
            &mut out[..channels * 256],
            &BlockInfo {
                frame_time: t,
                frames: 256,
                channels,
                rate: 48_000,
            },
        );
        let c = guard.counts();
        drop(guard);
        total.allocs += c.allocs;
        total.frees += c.frees;
        total.reallocs += c.reallocs;
        t += 256;
        if block % 16 == 0 {
            m.collect_garbage();
        }
    }
    assert!(
        song.underrun_frames() > 0,
        "the held loader starved the voice"
    );
    assert!(song.played_frames() > 50_000);
    drop(one_shots);
    let st = m.stats();
    assert!(
        st.voices_ended > 500,
        "voices ended during render: {}",
        st.voices_ended
    );
    assert!(st.voices_started > 1000);
    assert!(st.non_finite_voices >= 8, "{st:?}");
    assert_eq!(st.mix_time.count(), 400);
    assert!(total.is_zero(), "heap operations during render: {total:?}");
}
