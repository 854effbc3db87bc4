//! Shared helpers for the pcmring examples (`examples/`) and their tests:
//!
//! - [`play`]: the WAV player behind `cargo run --example play`;
//! - [`record`]: the recorder behind `cargo run --example record`;
//! - [`monitor`]: input -> effect -> output (`cargo run --example monitor`),
//!   on a pair opened by [`duplex`];
//! - [`broker_demo`]: a broker and a client in one process
//!   (`cargo run --example broker_client`);
//! - [`stream`]: streaming a WAV file from disk into the engine (loader
//!   thread, lock-free chunk queue, realtime renderer);
//! - [`output`]: picking the output (sound card, simulated device with a
//!   WAV recording, or a broker's stream);
//! - [`session`]: output options, set-up lines and shutdown shared by the
//!   game, DAW and broker examples;
//! - [`status`]: the live status line; [`signal`]: Ctrl-C;
//! - [`demo`]: the demo sound (`assets/demo.wav`); [`rng`]: a tiny PRNG;
//! - [`recording`]: the real-card VM tests' signal and the bit-exact
//!   comparison of qemu's recording (`compare-recording`).

#![warn(missing_docs)]

pub mod broker_demo;
pub mod demo;
pub mod duplex;
pub mod gaps;
pub mod monitor;
pub mod output;
pub mod play;
pub mod record;
pub mod recording;
pub mod rng;
pub mod session;
pub mod signal;
pub mod status;
pub mod stream;
