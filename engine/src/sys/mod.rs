//! The kernel ABI by hand: `repr(C)` mirrors of `<sound/asound.h>`, ioctl
//! numbers, mmap offsets and constants, plus thin syscall wrappers.

pub mod abi;
pub mod ioctl;
pub mod mmap;
pub(crate) mod socket;
