//! The broker: owns a stream and leases it, one client at a time, as
//! restricted fds over a Unix socket.
//!
//! - `wire`: the versioned message format and its strict parsers;
//! - `socket`: seqpacket sockets, peer credentials, fd passing;
//! - [`source`]: what is leased (a full PCM or the simulated device);
//! - [`server`]: the poll loop.
//!
//! The client side is [`crate::client`]. A broker on the simulated device:
//!
//! ```no_run
//! use pcmring::broker::source::SimSource;
//! use pcmring::broker::{install_signal_handlers, Broker, BrokerConfig, Listener, SocketAddr};
//! use pcmring::sim::{SimConfig, SimDac};
//! use pcmring::{Format, StreamLayout};
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

pub mod server;
pub mod source;
mechanism_mod!(
    /// Seqpacket sockets, peer credentials, fd passing.
    socket
);
mechanism_mod!(
    /// The versioned message format and its strict parsers.
    wire
);

pub use server::{
    install_signal_handlers, AccessPolicy, Broker, BrokerConfig, BrokerStats, LogLevel, StopHandle,
};
pub use socket::{Listener, SocketAddr};
pub use source::LeaseSource;
pub use wire::{ClockId, DeviceKind, LeaseInfo, RefusalCode, WireError};
