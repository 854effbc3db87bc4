//! pcmring: a low-latency Linux audio engine that writes straight into the
//! ALSA DMA ring, through a full PCM it opens itself, a restricted
//! buffer-mode fd received from a broker, or a simulated device.
//!
//! # Quick start
//!
//! A device, a mixer, an engine, a sound. With no sound card this runs on
//! the simulated device; on a card, open it with [`Pcm::open`] (or lease a
//! stream from a broker with [`client::connect`]) and start the engine the
//! same way.
//!
//! ```
//! use pcmring::{
//!     Engine, EngineConfig, Format, Margin, MixerBuilder, PlayParams, SimConfig, SimDac, Sound,
//!     StreamLayout,
//! };
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layout = StreamLayout {
//!     format: Format::S16Le,
//!     channels: 2,
//!     rate: 48_000,
//!     period_size: 256,
//!     buffer_size: 4096,
//!     boundary: 4096 << 16,
//! };
//! let dac = SimDac::start(SimConfig::new(layout))?;
//! let (mixer, renderer) = MixerBuilder::new(layout.rate).build();
//! let config = EngineConfig {
//!     margin: Margin::Frames(1024),
//!     ..EngineConfig::default()
//! };
//! let engine = Engine::start(dac.device()?, renderer, config)?;
//!
//! let beep = Sound::from_samples(vec![0.25f32; 4800], 1, 48_000)?;
//! let at = engine.now_frames() + 2_400; // 50 ms from now, sample-accurate
//! let voice = mixer.play(&beep, PlayParams::new().at(at))?;
//! voice.set_gain(0.5)?; // ramps, no click
//! std::thread::sleep(Duration::from_millis(50));
//! println!("{:?}", engine.telemetry().snapshot());
//! engine.stop()?;
//! # Ok(()) }
//! ```
//!
//! # The front door
//!
//! - [`engine`]: [`Engine`] runs one realtime thread per device and calls
//!   a [`Renderer`] once per block; [`EngineConfig`], [`Telemetry`],
//!   [`EngineClock`].
//! - [`mixer`]: thousands of sample-accurate voices ([`Mixer`],
//!   [`MixerBuilder`], [`VoiceHandle`]); [`sound`]: WAV loading
//!   ([`Sound`]).
//! - Input: [`InputEngine`] hands each block of captured frames to a
//!   [`Capturer`] (a recorder); [`DuplexEngine`] calls a [`DuplexRenderer`]
//!   with each block's input and output on one frame clock, at a fixed,
//!   reported offset ([`Pcm::start_together`] links the two streams);
//!   [`SimAdc`] is the simulated device's input side.
//! - Devices, all behind the [`Device`] trait: [`pcm`] (a card opened by
//!   this process, [`Pcm`]), [`restricted`] (a buffer-mode fd,
//!   [`RestrictedPcm`]), [`sim`] (the simulated device, [`SimDac`]),
//!   [`client`] (a stream leased from a broker, [`LeasedDevice`]).
//! - Making restricted fds, for a process that owns a PCM:
//!   [`Pcm::anonymous_dup`].
//! - [`broker`]: the protocol's types a client sees; the broker itself,
//!   and what it leases, is the `pcmring-broker` crate (the server side
//!   is public here with the `server` feature).
//! - Errors: [`Error`] (with [`Step`]), the realtime path's
//!   [`DeviceError`], [`LeaseError`].
//! - Telemetry types from `pcmring-rt` ([`HistogramSnapshot`]) are
//!   re-exported here, so a program needs no second dependency. The
//!   allocation guard (`CountingAllocator`), a test tool, is
//!   `pcmring_rt::alloc_guard`.
//!
//! # Features
//!
//! - `server`: the server side of the broker protocol (`broker::source`,
//!   `broker::wire`, `broker::socket`, `broker::Listener`), for the
//!   `pcmring-broker` crate.
//! - `testing`: makes the mechanism modules (the kernel ABI mirrors, ring
//!   writer, position model, sample conversion, ...), the tuning constants
//!   and helper functions public, hidden from the docs, for this crate's
//!   own tests. Not part of the API.
//!
//! `docs/api.md` in the repository lists every public item in one line.

#![warn(missing_docs)]

/// Declares a module of the broker protocol's server side: public with the
/// `server` feature (for the `pcmring-broker` crate), crate-private
/// otherwise (public and hidden with `testing`).
macro_rules! server_mod {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[cfg(any(feature = "server", feature = "testing"))]
        #[cfg_attr(not(feature = "server"), doc(hidden))]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(any(feature = "server", feature = "testing")))]
        #[allow(dead_code, unused_imports)]
        pub(crate) mod $name;
    };
}

/// Declares a mechanism module: crate-private, public (and hidden from the
/// docs) only with the `testing` feature, for the crate's own tests.
macro_rules! mechanism_mod {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[cfg(feature = "testing")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "testing"))]
        #[allow(dead_code, unused_imports)]
        pub(crate) mod $name;
    };
}

/// Re-exports items a user does not need but the crate's own tests reach
/// (tuning constants, helper functions, mechanism types): public and
/// hidden from the docs with the `testing` feature, crate-private
/// otherwise.
macro_rules! testing_use {
    ($($path:tt)*) => {
        #[cfg(feature = "testing")]
        #[doc(hidden)]
        pub use $($path)*;
        #[cfg(not(feature = "testing"))]
        #[allow(unused_imports)]
        pub(crate) use $($path)*;
    };
}

pub mod broker;
pub mod client;
pub mod decode;
pub mod engine;
pub mod events;
pub mod mixer;
pub mod pcm;
pub mod resample;
// Device reservation (issue 17, branch `reserve`): a self-contained module.
pub mod reserve;
pub mod restricted;
pub mod sim;
pub mod sound;
pub mod stream;

mod device;
mod error;
mod layout;
mod render;
mod ring;
mod sound_error;
mod status;

mechanism_mod!(
    /// The anondup module's ABI and the dup calls (the front door is
    /// [`Pcm::anonymous_dup`]).
    anondup
);
mechanism_mod!(
    /// Conversion between f32 and the ring formats.
    convert
);
mechanism_mod!(
    /// The position model.
    position
);
mechanism_mod!(
    /// The capture ring reader (the writer's mirror).
    reader
);
mechanism_mod!(
    /// The kernel ABI mirrors and system-call wrappers.
    sys
);
mechanism_mod!(
    /// The ring writer.
    writer
);
mechanism_mod!(
    /// Widening of the kernel's wrapping pointers to 64-bit counters.
    wrap
);

pub use client::{LeaseError, LeasedDevice};
pub use device::{Device, HwPosition, PcmState, PositionSource, RingIdentity};
pub use engine::{
    BlockInfo, Engine, EngineClock, EngineConfig, Margin, Renderer, Telemetry, TelemetrySnapshot,
    WakeStrategy,
};
pub use error::{DeviceError, Error, Result, Step};
pub use layout::{Format, StreamLayout};
pub use mixer::{Mixer, MixerBuilder, MixerRenderer, PlayParams, VoiceHandle};
pub use pcm::Pcm;
pub use restricted::{DupMode, RestrictedPcm};
pub use ring::RingView;
pub use sim::{SimConfig, SimDac, SimDevice};
pub use sound::Sound;
// Input: capture devices, the input-only and duplex engines.
pub use engine::{Capturer, DuplexEngine, DuplexInfo, DuplexRenderer, InputEngine};
pub use sim::{SimAdc, SimSource, WavSource};

pub use pcmring_rt::histogram::HistogramSnapshot;

/// The README's code blocks, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
