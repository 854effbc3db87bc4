//! The pcmring broker: owns a playback stream and leases it, one client
//! at a time, as restricted buffer-mode fds over a Unix socket.
//!
//! - [`Broker`]: the poll loop (access policy, queue, leases, a client
//!   that dies or misbehaves);
//! - [`daemon`]: what the `pcmring-broker` binary needs around it:
//!   systemd socket activation (`LISTEN_FDS`), socket permissions, user
//!   and group names;
//! - what is leased comes from the engine crate: [`PcmSource`] (a card
//!   the broker opened) or [`SimSource`] (the simulated device).
//!
//! The client side is `pcmring::client`; the message format,
//! `pcmring::broker::wire`, is shared by both. Install the daemon with
//! `cargo install --path broker`; its systemd units are in
//! `broker/systemd/` (docs/broker.md). A broker on the simulated device:
//!
//! ```no_run
//! use pcmring::sim::{SimConfig, SimDac};
//! use pcmring::{Format, StreamLayout};
//! use pcmring_broker::{install_signal_handlers, Broker, BrokerConfig, Listener, SimSource, SocketAddr};
//!
//! let layout = StreamLayout {
//!     format: Format::S16Le,
//!     channels: 2,
//!     rate: 48_000,
//!     period_size: 256,
//!     buffer_size: 1024,
//!     boundary: 1024 << 20,
//! };
//! let source = SimSource::new(SimDac::start(SimConfig::new(layout))?)?;
//! let listener = Listener::bind(&SocketAddr::parse("@pcmring-demo"), 16)?;
//! let mut broker = Broker::new(listener, source, BrokerConfig::default())?;
//! install_signal_handlers(&broker.stop_handle())?;
//! broker.run()?; // until SIGINT/SIGTERM
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod daemon;
mod server;
mod sys;

pub use pcmring::broker::source::{LeaseSource, PcmSource, SimSource};
pub use pcmring::broker::{Listener, SocketAddr};
pub use server::{
    install_signal_handlers, AccessPolicy, Broker, BrokerConfig, BrokerStats, LogLevel, LogSink,
    StopHandle,
};
