//! Ctrl-C finishes the recording cleanly: SIGINT (raised from a helper
//! thread, through the example's own handler) stops `record` with no
//! limit set, and the WAV file it leaves is complete and readable. A
//! separate test binary: the handler's flag is process-wide.

use clap::Parser;
use pcmring_examples::record::{run, RecordArgs};
use std::time::Duration;

#[test]
fn ctrl_c_finishes_the_file_cleanly() {
    pcmring_examples::signal::install().expect("handler");
    let out = std::env::temp_dir().join(format!("pcmring-rec-int-{}.wav", std::process::id()));
    let mut args = RecordArgs::try_parse_from(["record", "--device", "sim", "--quiet", "x.wav"])
        .expect("arguments");
    args.out = out.clone();
    let t = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(400));
        // SAFETY: raise has no memory-safety preconditions; the handler
        // only sets an atomic flag.
        unsafe { libc::raise(libc::SIGINT) };
    });
    let s = run(&args).expect("record");
    t.join().expect("signal thread");
    assert!(s.interrupted, "{s:?}");
    assert!(s.frames > 4_800, "{s:?}");
    let r = hound::WavReader::open(&out).expect("a complete WAV file");
    assert_eq!(u64::from(r.duration()), s.frames, "header matches the data");
    assert_eq!(r.len() as u64, s.frames * 2);
    let _ = std::fs::remove_file(out);
}
