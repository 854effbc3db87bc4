//! pcmring: a low-latency Linux audio engine that writes straight into the
//! ALSA DMA ring, through a full PCM it opens itself, a restricted
//! buffer-mode fd received from a broker, or a simulated device.

pub mod anondup;
pub mod broker;
pub mod client;
pub mod convert;
pub mod device;
pub mod engine;
pub mod error;
pub mod events;
pub mod layout;
pub mod mixer;
pub mod pcm;
pub mod position;
pub mod render;
pub mod resample;
pub mod restricted;
pub mod ring;
pub mod sim;
pub mod sound;
mod status;
pub mod sys;
pub mod wrap;
pub mod writer;

pub use device::{Device, HwPosition, PcmState, PositionSource};
pub use error::{DeviceError, Error, Result, Step};
pub use layout::{Format, StreamLayout};
pub use pcm::Pcm;
pub use ring::RingView;

/// The README's code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
