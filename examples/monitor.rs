//! Input -> a simple effect -> output at a small block through the duplex
//! engine, printing the round trip.
//!
//! ```text
//! cargo run --release --example monitor
//! cargo run --release --example monitor -- --input hw:1,0 --output hw:1,0 --block 32
//! cargo run --release --example monitor -- --help
//! ```
//!
//! The logic lives in `src/monitor.rs` (shared with `tests/monitor_example.rs`).

fn main() -> std::process::ExitCode {
    pcmring_examples::monitor::main()
}
