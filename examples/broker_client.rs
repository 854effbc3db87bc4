//! A broker and a client: the broker owns the device and leases it as a
//! restricted fd; the client plays a WAV file through the lease.
//!
//! One command (the broker runs on a thread of this process, on the
//! simulated device, which records what it played; the run then checks
//! the recording against the file):
//!
//! ```text
//! cargo run --release --example broker_client [-- FILE.wav]
//! ```
//!
//! Two commands (the `pcmring-broker` binary, then this as a client):
//!
//! ```text
//! cargo run --release -p pcmring-broker -- --device sim --socket /tmp/pcmring.sock
//! cargo run --release --example broker_client -- --connect /tmp/pcmring.sock
//! ```
//!
//! The logic lives in `src/broker_demo.rs`.

fn main() -> std::process::ExitCode {
    pcmring_examples::broker_demo::main()
}
