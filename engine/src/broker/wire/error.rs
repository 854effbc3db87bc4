//! [`WireError`]: why a message was rejected.

use super::limits::{HEADER_LEN, VERSION};
use super::message::Kind;
use std::fmt;

/// Why a message did not parse. Every variant says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than a header.
    ShortHeader {
        /// Bytes received.
        got: usize,
    },
    /// The first four bytes are not `PCMR`.
    BadMagic {
        /// The bytes found.
        got: [u8; 4],
    },
    /// Another wire version.
    UnsupportedVersion {
        /// Version in the message.
        got: u16,
    },
    /// A kind number this version does not know.
    UnknownKind {
        /// The number.
        got: u16,
    },
    /// A known kind that this side never receives.
    UnexpectedKind {
        /// The kind.
        got: Kind,
    },
    /// The declared payload length does not match what arrived.
    LengthMismatch {
        /// Length in the header.
        declared: u32,
        /// Payload bytes actually received.
        got: usize,
    },
    /// The payload length is wrong for the kind.
    BadPayloadLength {
        /// The kind.
        kind: Kind,
        /// The length.
        len: usize,
    },
    /// A field is out of range.
    BadField {
        /// Field name.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A reserved field or flag bit is not zero.
    Reserved {
        /// Field name.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A text field is not valid printable UTF-8.
    BadText {
        /// Field name.
        field: &'static str,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::ShortHeader { got } => write!(
                f,
                "message too short: {got} bytes, a header needs {HEADER_LEN} \
                 (the peer is not a pcmring broker/client or the message was cut)"
            ),
            WireError::BadMagic { got } => write!(
                f,
                "bad magic {got:02x?}: the peer does not speak the pcmring protocol \
                 (wrong socket path?)"
            ),
            WireError::UnsupportedVersion { got } => write!(
                f,
                "peer speaks pcmring wire version {got}, this build speaks {VERSION}: \
                 use matching pcmring releases on both sides"
            ),
            WireError::UnknownKind { got } => write!(f, "unknown message kind {got}"),
            WireError::UnexpectedKind { got } => {
                write!(f, "unexpected {} message from the peer", got.name())
            }
            WireError::LengthMismatch { declared, got } => write!(
                f,
                "header declares a {declared}-byte payload but {got} bytes arrived \
                 (truncated message or trailing garbage)"
            ),
            WireError::BadPayloadLength { kind, len } => {
                write!(f, "a {} payload cannot be {len} bytes", kind.name())
            }
            WireError::BadField { field, value, rule } => {
                write!(f, "field {field} = {value} is invalid: {rule}")
            }
            WireError::Reserved { field, value } => write!(
                f,
                "reserved field {field} is {value:#x}, must be 0 (newer peer?)"
            ),
            WireError::BadText { field } => {
                write!(f, "field {field} is not printable UTF-8")
            }
        }
    }
}

impl std::error::Error for WireError {}
