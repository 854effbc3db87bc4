//! The wire format's sizes, bounds and flags.

/// The four bytes every message starts with.
pub const MAGIC: [u8; 4] = *b"PCMR";
/// The newest wire version this build speaks. It also understands every
/// version from [`MIN_VERSION`] on and answers a peer in the peer's version.
pub const VERSION: u16 = 2;
/// The oldest wire version this build still understands (version 1:
/// playback leases only).
pub const MIN_VERSION: u16 = 1;
/// Bytes in the header.
pub const HEADER_LEN: usize = 12;
/// Upper bound on any message in this version, header included. Receive
/// buffers are this size plus one, so a longer datagram is detected.
pub const MAX_MESSAGE_LEN: usize = 256;
/// Longest client name in a [`Hello`](crate::broker::wire::Hello), in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest detail text in a [`Refusal`](crate::broker::wire::Refusal), in bytes.
pub const MAX_DETAIL_LEN: usize = 192;
/// Bytes in a version-1 lease payload, and in each stream block of a
/// version-2 lease.
pub const LEASE_PAYLOAD_LEN: usize = 64;
/// Bytes before the stream blocks of a version-2 lease payload.
pub const LEASE_V2_FIXED_LEN: usize = 16;
/// Version-2 lease flag: the two streams of a duplex lease were started
/// by one linked START.
pub const LEASE_FLAG_LINKED: u32 = 1;
/// Bytes in a queued payload.
pub const QUEUED_PAYLOAD_LEN: usize = 8;
/// Fixed part of a hello payload (before the name).
pub const HELLO_FIXED_LEN: usize = 8;
/// Fixed part of a refusal payload (before the detail text).
pub const REFUSAL_FIXED_LEN: usize = 4;

/// Most channels a lease may advertise.
pub const MAX_CHANNELS: u32 = 64;
/// Lowest rate a lease may advertise.
pub const MIN_RATE: u32 = 1_000;
/// Highest rate a lease may advertise.
pub const MAX_RATE: u32 = 768_000;
/// Most frames a ring may hold.
pub const MAX_BUFFER_FRAMES: u64 = 1 << 24;
/// Most bytes a ring may span.
pub const MAX_RING_BYTES: u64 = 512 << 20;
/// Highest boundary a lease may advertise (ALSA's is below `LONG_MAX`).
pub const MAX_BOUNDARY: u64 = 1 << 62;

/// Lease flag: the status page of the fd can be mapped.
pub const FLAG_STATUS_MAPPABLE: u32 = 1;
/// Lease flag (simulated device only): a third fd follows, the read end of
/// a pipe that becomes readable at each period boundary.
pub const FLAG_WAKE_FD: u32 = 2;
/// Lease flag: the position moves in whole periods (batch device).
pub const FLAG_BATCH: u32 = 4;
/// Every flag this version knows.
pub const KNOWN_FLAGS: u32 = FLAG_STATUS_MAPPABLE | FLAG_WAKE_FD | FLAG_BATCH;
