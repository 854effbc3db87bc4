//! Writes the demo sound (`assets/demo.wav`, or the path given): two
//! seconds of a plucked arpeggio, 48 kHz stereo 16-bit.
//!
//! ```text
//! cargo run --example make_demo [-- PATH]
//! ```

use pcmring_examples::demo;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let path = match (args.next(), args.next()) {
        (Some(a), None) if a == "--help" || a == "-h" => {
            println!(
                "usage: make_demo [PATH]\n\nWrites the demo sound (2 s, 48 kHz stereo 16-bit) to \
                 PATH (default: assets/demo.wav in the source tree)."
            );
            return ExitCode::SUCCESS;
        }
        (Some(a), None) => PathBuf::from(a),
        (None, _) => demo::asset_path().to_path_buf(),
        (Some(_), Some(_)) => {
            eprintln!("make_demo: one PATH at most (see --help)");
            return ExitCode::from(2);
        }
    };
    match demo::write(&path) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_demo: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
