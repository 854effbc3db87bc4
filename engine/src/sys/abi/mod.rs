//! The ALSA PCM kernel ABI of `<sound/asound.h>` (Linux 6.1 uapi), by hand:
//! structures in the legacy and time64 layouts, ioctl numbers, mmap offsets
//! and constants.
//!
//! Sizes and offsets are asserted at compile time for x86_64 and checked
//! against the real header by `engine/tests/abi_layout.rs`, which compiles a
//! C program from [`layout_table`].

mod consts;
mod ioctl;
mod layout;
mod structs;

pub use consts::*;
pub use ioctl::*;
pub use layout::{layout_table, CheckMode, LayoutEntry};
pub use structs::*;
