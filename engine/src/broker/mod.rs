//! The broker protocol: what a broker leases and what travels between a
//! broker and its clients. The broker itself (the poll loop, access policy,
//! the daemon) is the `pcmring-broker` crate; the client side is
//! [`crate::client`].
//!
//! - `source`: what is leased (a full PCM or the simulated device);
//! - `wire`: the versioned message format and its strict parsers;
//! - `socket`: seqpacket sockets, peer credentials, fd passing.
//!
//! The server side (these three modules, `Listener`, `LeaseSource`, and
//! the wire types `wire::ClockId` and `wire::WireError`) is public with
//! the `server` feature, for the `pcmring-broker` crate; without it this
//! module holds what a client sees of a lease (a client reads the clock
//! with [`LeaseInfo::clock_name`], and a malformed message as the text
//! of [`crate::client::LeaseError::Protocol`]).

server_mod!(
    /// What a broker leases: a full PCM or the simulated device.
    source
);
server_mod!(
    /// Seqpacket sockets, peer credentials, fd passing.
    socket
);
server_mod!(
    /// The versioned message format and its strict parsers.
    wire
);

pub use socket::SocketAddr;
pub use wire::{DeviceKind, LeaseInfo, LeaseKind, RefusalCode};
#[cfg(any(feature = "server", feature = "testing"))]
#[cfg_attr(not(feature = "server"), doc(hidden))]
pub use {socket::Listener, source::LeaseSource};
