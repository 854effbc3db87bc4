//! Plays a WAV file with the lowest latency the device sustains.
//!
//! ```text
//! cargo run --release --example play -- assets/demo.wav
//! cargo run --release --example play -- --help
//! ```
//!
//! Uses the first sound card if it is there and free, else the simulated
//! device, which writes what it played to `target/pcmring-play.wav`. The
//! logic lives in `src/play.rs` (shared with `tests/play_example.rs`).

fn main() -> std::process::ExitCode {
    pcmring_examples::play::main()
}
