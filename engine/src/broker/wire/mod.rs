//! The broker's wire format: small, versioned, little-endian messages.
//!
//! Every message is a 12-byte header followed by a payload whose length the
//! header declares exactly:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `b"PCMR"` |
//! | 4 | 2 | version ([`VERSION`](crate::broker::wire::VERSION)) |
//! | 6 | 2 | kind ([`Kind`](crate::broker::wire::Kind)) |
//! | 8 | 4 | payload length in bytes |
//!
//! Client to broker: [`Hello`](crate::broker::wire::Hello). Broker to client: [`LeaseInfo`] (with the
//! fds attached by `SCM_RIGHTS`), [`Queued`](crate::broker::wire::Queued), [`Refusal`](crate::broker::wire::Refusal). The full layout
//! of each payload is in `docs/wire-format.md` and in the `encode`
//! functions below. Parsers are strict: they bound every field, reject
//! trailing bytes and non-zero reserved fields, never allocate more than
//! [`MAX_MESSAGE_LEN`](crate::broker::wire::MAX_MESSAGE_LEN) bytes and never panic.

mod encode;
mod error;
mod limits;
mod message;
mod parse;
#[cfg(test)]
mod tests;

pub use encode::Encoded;
pub use error::WireError;
pub use limits::*;
pub use message::{
    ClientMessage, ClockId, DeviceKind, Hello, Kind, LeaseInfo, LeaseKind, Queued, Refusal, RefusalCode,
    ServerMessage,
};
pub use parse::{parse_client_message, parse_server_message};
