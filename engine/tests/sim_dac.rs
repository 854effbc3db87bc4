//! The simulated DAC on its own: timing, steps, states, wake-ups,
//! underrun accounting, zeroing and recording.

mod sim_support;

use pcmring::position::PositionModel;
use pcmring::sim::{DacMode, SimConfig, SimDac};
use pcmring::{Device, Format, PcmState, PositionSource};
use pcmring_rt::timer::{now_ns, poll_fd, PollEvents, PollOutcome};
use sim_support::*;
use std::time::Duration;

fn l() -> pcmring::StreamLayout {
    layout(Format::S16Le, 256, 2048, 2048 << 4)
}

#[test]
fn position_moves_in_periods_or_steps_at_the_nominal_rate() {
    for (mode, step) in [
        (DacMode::Periods, 256),
        (DacMode::Continuous { step: 16 }, 16),
    ] {
        let mut sc = SimConfig::new(l());
        sc.mode = mode;
        let dac = SimDac::start(sc).expect("sim");
        let mut dev = dac.device().expect("dev");
        assert_eq!(dev.position_source(), PositionSource::Simulated);
        assert_eq!(dev.is_batch(), step == 256);
        let t0 = now_ns();
        let p0 = dev.position().expect("pos");
        std::thread::sleep(Duration::from_millis(500));
        let p1 = dev.position().expect("pos");
        let t1 = now_ns();
        assert_eq!(p1.state, PcmState::Running);
        assert_eq!(p1.hw_ptr % step, 0, "{mode:?}: moves in steps of {step}");
        // hw_ptr wraps at boundary (32768 frames, less than 1 s here).
        let moved = (p1.hw_ptr + l().boundary - p0.hw_ptr) % l().boundary;
        let want = (t1 - t0) as f64 * 48e-6;
        assert!(
            (moved as f64 - want).abs() < want * 0.1 + 2.0 * step as f64,
            "{mode:?}: {moved} vs {want}"
        );
        // Stamped with CLOCK_MONOTONIC times near now.
        assert!(
            p1.tstamp_ns <= t1 && p1.tstamp_ns + 50_000_000 > t1,
            "{p1:?} at {t1}"
        );
    }
}

#[test]
fn position_model_follows_a_drifting_dac() {
    let mut sc = SimConfig::new(layout(Format::S16Le, 256, 2048, 2048 << 20));
    sc.mode = DacMode::Continuous { step: 8 };
    sc.drift_ppm = 2000.0;
    let dac = SimDac::start(sc).expect("sim");
    let mut dev = dac.device().expect("dev");
    let mut m = PositionModel::new(&dev.layout(), dev.is_batch());
    let end = now_ns() + 2_000_000_000;
    while now_ns() < end {
        let hw = dev.position().expect("pos");
        assert_eq!(m.update(&hw, now_ns()), None);
        std::thread::sleep(Duration::from_millis(1));
    }
    let want = 48_000.0 * 1.002;
    assert!(
        (m.rate_hz() - want).abs() < 48.0 * 0.3,
        "rate {} vs {want}",
        m.rate_hz()
    );
    // The smallest step seen between readings ~1 ms apart: a multiple of
    // the DAC's 8-frame step, far below the 256-frame period.
    assert!(
        m.granule().checked_rem(8) == Some(0) && m.granule() <= 64,
        "granule {}",
        m.granule()
    );
}

#[test]
fn wake_fd_signals_each_period_and_position_acknowledges() {
    let dac = SimDac::start(SimConfig::new(l())).expect("sim");
    let mut dev = dac.device().expect("dev");
    dev.position().expect("ack");
    let fd = dev.poll_fd().expect("wake fd");
    // A playback-style poll (IN|OUT) wakes on the period only.
    let t0 = now_ns();
    let r = poll_fd(
        fd,
        PollEvents::IN | PollEvents::OUT,
        Some(Duration::from_millis(100)),
    )
    .expect("poll");
    assert!(
        matches!(r, PollOutcome::Ready(e) if e.contains(PollEvents::IN)),
        "{r:?}"
    );
    assert!(now_ns() - t0 < 50_000_000);
    dev.position().expect("ack");
    let fd = dev.poll_fd().expect("wake fd");
    let r = poll_fd(fd, PollEvents::IN | PollEvents::OUT, Some(Duration::ZERO)).expect("poll");
    assert_eq!(r, PollOutcome::Timeout, "acknowledged by position()");
}

#[test]
fn states_are_visible_and_running_resumes() {
    let dac = SimDac::start(SimConfig::new(l())).expect("sim");
    let mut dev = dac.device().expect("dev");
    dac.set_state(PcmState::Suspended);
    std::thread::sleep(Duration::from_millis(30));
    let a = dev.position().expect("pos");
    assert_eq!(a.state, PcmState::Suspended);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(dev.position().expect("pos").hw_ptr, a.hw_ptr, "stopped");
    dac.set_state(PcmState::Running);
    std::thread::sleep(Duration::from_millis(30));
    let b = dev.position().expect("pos");
    assert_eq!(b.state, PcmState::Running);
    assert_ne!(b.hw_ptr, a.hw_ptr, "moving again");
    dac.disconnect();
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(dev.position().expect("pos").state, PcmState::Disconnected);
}

#[test]
fn underruns_count_frames_played_past_the_published_cursor() {
    let mut sc = SimConfig::new(l());
    sc.record_frames = 48_000;
    let dac = SimDac::start(sc).expect("sim");
    let mut dev = dac.device().expect("dev");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(dac.stats().underrun_frames, 0, "idle before any commit");
    // Publish a cursor 1024 frames ahead and then write nothing more.
    let hw = dac.stats().hw_frames;
    dev.commit(hw + 1024).expect("commit");
    std::thread::sleep(Duration::from_millis(200));
    let s = dac.stats();
    let played_since = s.hw_frames - hw;
    assert!(played_since > 4000, "{s:?}");
    // Everything played past the cursor counts (give or take a DAC step
    // for the reads racing the DAC).
    let want = played_since - 1024;
    assert!(
        s.underrun_frames + 512 >= want && s.underrun_frames <= want + 256,
        "{} vs {want}: {s:?}",
        s.underrun_frames
    );
    assert_eq!(s.underrun_events, 1);
    // Catch up: commit well ahead again; the episode ends, no new frames.
    let hw2 = dac.stats().hw_frames;
    dev.commit(hw2 + 1800).expect("commit");
    std::thread::sleep(Duration::from_millis(20));
    let s2 = dac.stats();
    assert!(
        s2.underrun_frames - s.underrun_frames <= hw2 - s.hw_frames + 256,
        "{s2:?}"
    );
    // While the DAC is behind the cursor nothing more counts; on a busy
    // machine the sleep may overshoot past the cursor, and then exactly
    // the frames played past it count (give or take a DAC step).
    let u = s2.underrun_frames;
    std::thread::sleep(Duration::from_millis(10));
    let s3 = dac.stats();
    let past_cursor = s3.hw_frames.saturating_sub(hw2 + 1800);
    assert!(
        s3.underrun_frames - u <= past_cursor + 256,
        "no underrun while ahead: {s3:?}, {past_cursor} frames played past the cursor"
    );
}

#[test]
fn consumed_frames_are_recorded_then_zeroed() {
    let mut sc = SimConfig::new(l());
    sc.record_frames = 48_000;
    let dac = SimDac::start(sc).expect("sim");
    let mut dev = dac.device().expect("dev");
    // Fill the slots of a whole buffer ahead with 0x11 (test-only direct
    // write far from the DAC: one period past its position).
    let hw = dac.stats().hw_frames;
    let first = hw + 512;
    let n = 1024u64;
    let fb = dev.layout().frame_bytes();
    for f in first..first + n {
        let slot = (f % 2048) as usize * fb;
        // SAFETY: these frames are 512+ frames ahead of the DAC, which
        // advances 256 frames per 5.3 ms; nobody else writes the ring.
        unsafe { dev.ring().slice_mut(slot, fb) }.fill(0x11);
    }
    dev.commit(first + n).expect("commit");
    std::thread::sleep(Duration::from_millis(100));
    let rec = dac.stop().expect("stop").recording;
    let at = (first - rec.start_frame()) as usize;
    for i in 0..n as usize {
        assert_eq!(rec.frame(at + i), Some(&[0x11u8; 4][..]), "frame {i}");
    }
    assert_eq!(rec.frame(at + n as usize), Some(&[0u8; 4][..]));
    // The DAC zeroed what it played.
    for f in first..first + n {
        let slot = (f % 2048) as usize * fb;
        // SAFETY: the DAC has stopped; nobody else touches the ring.
        assert!(unsafe { dev.ring().slice(slot, fb) }
            .iter()
            .all(|&b| b == 0));
    }
}

#[test]
fn wav_holds_the_ring_samples_in_every_format() {
    for format in [
        Format::S16Le,
        Format::S24Le,
        Format::S24_3Le,
        Format::S32Le,
        Format::F32Le,
    ] {
        let path = std::env::temp_dir().join(format!(
            "pcmring-simdac-{}-{format}.wav",
            std::process::id()
        ));
        let mut sc = SimConfig::new(layout(format, 256, 2048, 2048 << 4));
        sc.record_frames = 4800;
        sc.wav = Some(path.clone());
        let dac = SimDac::start(sc).expect("sim");
        let mut dev = dac.device().expect("dev");
        let hw = dac.stats().hw_frames;
        let first = hw + 512;
        let bytes = expected_bytes(format, 2, 0, 256);
        let fb = dev.layout().frame_bytes();
        let slot = (first % 2048) as usize * fb;
        // SAFETY: 512 frames ahead of the DAC (see above); in bounds.
        unsafe { dev.ring().slice_mut(slot, 256 * fb) }.copy_from_slice(&bytes);
        dev.commit(first + 256).expect("commit");
        std::thread::sleep(Duration::from_millis(60));
        let rec = dac.stop().expect("stop").recording;
        let mut r = hound::WavReader::open(&path).expect("wav");
        let spec = r.spec();
        assert_eq!((spec.channels, spec.sample_rate), (2, 48_000));
        let at = ((first - rec.start_frame()) * 2) as usize;
        let want = rec.to_f32();
        match format {
            Format::F32Le => {
                let got: Vec<f32> = r.samples::<f32>().map(|s| s.expect("sample")).collect();
                assert_eq!(got.len(), want.len());
                assert_eq!(got[at..at + 512], want[at..at + 512]);
            }
            _ => {
                let scale = match format {
                    Format::S16Le => 32768.0,
                    Format::S32Le => 2_147_483_648.0,
                    _ => 8_388_608.0,
                };
                let got: Vec<f32> = r
                    .samples::<i32>()
                    .map(|s| s.expect("sample") as f32 / scale)
                    .collect();
                assert_eq!(got.len(), want.len(), "{format}");
                assert_eq!(got[at..at + 512], want[at..at + 512], "{format}");
                assert!(got[at..at + 512].iter().all(|&x| x != 0.0));
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}
