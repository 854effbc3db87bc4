//! Records a capture device into a WAV file, with a live progress line.
//!
//! ```text
//! cargo run --release --example record -- take.wav
//! cargo run --release --example record -- --device hw:1,0 --seconds 10 take.wav
//! cargo run --release --example record -- --help
//! ```
//!
//! Ctrl-C finishes the file cleanly; an existing file is only overwritten
//! with `--force`. The logic lives in `src/record.rs` (shared with
//! `tests/record_example.rs`).

fn main() -> std::process::ExitCode {
    pcmring_examples::record::main()
}
