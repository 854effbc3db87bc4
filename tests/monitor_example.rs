//! The monitor example's logic (`pcmring_examples::monitor::run`) on the
//! simulated pair with no effect: what the simulated output played is the
//! simulated input's tone, sample for sample, exactly the reported offset
//! later (when no realign happened; a loaded host may force one, which
//! the summary counts).

use clap::Parser;
use pcmring_examples::monitor::{run, MonitorArgs};

#[test]
fn monitor_passes_the_input_through_at_the_reported_round_trip() {
    let out = std::env::temp_dir().join(format!("pcmring-monitor-{}.wav", std::process::id()));
    let mut args = MonitorArgs::try_parse_from([
        "monitor",
        "--effect",
        "none",
        "--seconds",
        "0.8",
        "--quiet",
        "--margin",
        "1024",
    ])
    .expect("arguments");
    args.out = Some(out.clone());
    let s = run(&args).expect("monitor on the simulated pair");
    assert!(s.frames > 24_000, "{s:?}");
    assert!(s.round_trip_frames > 1024, "at least the margin: {s:?}");
    let mut r = hound::WavReader::open(&out).expect("the simulated output's recording");
    let got: Vec<i16> = r
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("samples");
    let _ = std::fs::remove_file(&out);
    if s.realigns > 0 {
        eprintln!("a realign happened on this host ({s:?}); exactness not checked");
        return;
    }
    let tone = |n: i64| -> i16 {
        let t = n as f64 / 48_000.0;
        let v = ((t * 220.0 * std::f64::consts::TAU).sin() * 0.3) as f32;
        (f64::from(v) * 32_768.0).round() as i16
    };
    let mut checked = 0;
    for (p, frame) in got.chunks_exact(2).enumerate() {
        if frame == [0, 0] {
            continue;
        }
        let n = p as i64 - s.offset_frames;
        assert!(
            n >= 0,
            "sound before the input could reach the output: frame {p}"
        );
        assert_eq!(
            frame,
            [tone(n), tone(n)],
            "output frame {p} = input frame {n}: {s:?}"
        );
        checked += 1;
    }
    assert!(checked > 20_000, "checked {checked} frames: {s:?}");
}
