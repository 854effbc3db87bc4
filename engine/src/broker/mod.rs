//! The broker protocol: what a broker leases and what travels between a
//! broker and its clients. The broker itself (the poll loop, access policy,
//! the daemon) is the `pcmring-broker` crate; the client side is
//! [`crate::client`].
//!
//! - [`source`]: what is leased (a full PCM or the simulated device);
//! - `wire`: the versioned message format and its strict parsers;
//! - `socket`: seqpacket sockets, peer credentials, fd passing.
//!
//! `wire` and `socket` are public with the `server` feature.

pub mod source;
server_mod!(
    /// Seqpacket sockets, peer credentials, fd passing.
    socket
);
server_mod!(
    /// The versioned message format and its strict parsers.
    wire
);

pub use socket::{Listener, SocketAddr};
pub use source::LeaseSource;
pub use wire::{ClockId, DeviceKind, LeaseInfo, RefusalCode, WireError};
