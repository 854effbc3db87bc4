//! ioctl request numbers, computed like the kernel's `_IO*` macros
//! (asm-generic encoding: x86, ARM, RISC-V...).

use super::structs::{
    Sframes, SndCtlCardInfo, SndPcmChannelInfo, SndPcmHwParams, SndPcmInfo, SndPcmStatus,
    SndPcmStatus64, SndPcmSwParams, SndPcmSyncPtr, SndPcmSyncPtr64, SndXferi, Uframes,
};
use std::mem::size_of;

/// No data transfer.
pub const IOC_NONE: u32 = 0;
/// User space writes, the kernel reads.
pub const IOC_WRITE: u32 = 1;
/// The kernel writes, user space reads.
pub const IOC_READ: u32 = 2;

const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_SIZEMASK: usize = (1 << 14) - 1;

/// `_IOC(dir, type, nr, size)`. Panics (at compile time, in const use)
/// if `size` does not fit the 14-bit size field.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(size <= IOC_SIZEMASK, "ioctl argument too large");
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
}

/// `_IO(type, nr)`.
pub const fn io(ty: u8, nr: u8) -> u32 {
    ioc(IOC_NONE, ty, nr, 0)
}

/// `_IOR(type, nr, T)`.
pub const fn ior<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_READ, ty, nr, size_of::<T>())
}

/// `_IOW(type, nr, T)`.
pub const fn iow<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_WRITE, ty, nr, size_of::<T>())
}

/// `_IOWR(type, nr, T)`.
pub const fn iowr<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size_of::<T>())
}

const A: u8 = b'A';
const U: u8 = b'U';

/// Kernel PCM protocol version (out: int).
pub const SNDRV_PCM_IOCTL_PVERSION: u32 = ior::<i32>(A, 0x00);
/// Substream information.
pub const SNDRV_PCM_IOCTL_INFO: u32 = ior::<SndPcmInfo>(A, 0x01);
/// Obsolete timestamp mode.
pub const SNDRV_PCM_IOCTL_TSTAMP: u32 = iow::<i32>(A, 0x02);
/// Timestamp clock type (in: int, `SNDRV_PCM_TSTAMP_TYPE_*`).
pub const SNDRV_PCM_IOCTL_TTSTAMP: u32 = iow::<i32>(A, 0x03);
/// Tell the kernel the protocol version user space speaks (in: int).
pub const SNDRV_PCM_IOCTL_USER_PVERSION: u32 = iow::<i32>(A, 0x04);
/// Refine a hw parameter space.
pub const SNDRV_PCM_IOCTL_HW_REFINE: u32 = iowr::<SndPcmHwParams>(A, 0x10);
/// Install hw parameters.
pub const SNDRV_PCM_IOCTL_HW_PARAMS: u32 = iowr::<SndPcmHwParams>(A, 0x11);
/// Release hw parameters.
pub const SNDRV_PCM_IOCTL_HW_FREE: u32 = io(A, 0x12);
/// Install sw parameters.
pub const SNDRV_PCM_IOCTL_SW_PARAMS: u32 = iowr::<SndPcmSwParams>(A, 0x13);
/// Full status, legacy layout.
pub const SNDRV_PCM_IOCTL_STATUS: u32 = ior::<SndPcmStatus>(A, 0x20);
/// Full status, time64 layout.
pub const SNDRV_PCM_IOCTL_STATUS64: u32 = ior::<SndPcmStatus64>(A, 0x20);
/// Current delay (out: sframes).
pub const SNDRV_PCM_IOCTL_DELAY: u32 = ior::<Sframes>(A, 0x21);
/// Refresh the hardware pointer.
pub const SNDRV_PCM_IOCTL_HWSYNC: u32 = io(A, 0x22);
/// Exchange pointers, legacy layout.
pub const SNDRV_PCM_IOCTL_SYNC_PTR: u32 = iowr::<SndPcmSyncPtr>(A, 0x23);
/// Exchange pointers, time64 layout.
pub const SNDRV_PCM_IOCTL_SYNC_PTR64: u32 = iowr::<SndPcmSyncPtr64>(A, 0x23);
/// Extended status, legacy layout.
pub const SNDRV_PCM_IOCTL_STATUS_EXT: u32 = iowr::<SndPcmStatus>(A, 0x24);
/// Extended status, time64 layout.
pub const SNDRV_PCM_IOCTL_STATUS_EXT64: u32 = iowr::<SndPcmStatus64>(A, 0x24);
/// Channel placement in the ring.
pub const SNDRV_PCM_IOCTL_CHANNEL_INFO: u32 = ior::<SndPcmChannelInfo>(A, 0x32);
/// Prepare the stream.
pub const SNDRV_PCM_IOCTL_PREPARE: u32 = io(A, 0x40);
/// Reset pointers.
pub const SNDRV_PCM_IOCTL_RESET: u32 = io(A, 0x41);
/// Start the stream.
pub const SNDRV_PCM_IOCTL_START: u32 = io(A, 0x42);
/// Stop the stream, dropping pending frames.
pub const SNDRV_PCM_IOCTL_DROP: u32 = io(A, 0x43);
/// Stop the stream after playing pending frames.
pub const SNDRV_PCM_IOCTL_DRAIN: u32 = io(A, 0x44);
/// Pause (1) or resume (0).
pub const SNDRV_PCM_IOCTL_PAUSE: u32 = iow::<i32>(A, 0x45);
/// Move appl_ptr back.
pub const SNDRV_PCM_IOCTL_REWIND: u32 = iow::<Uframes>(A, 0x46);
/// Resume after suspend.
pub const SNDRV_PCM_IOCTL_RESUME: u32 = io(A, 0x47);
/// Force an xrun.
pub const SNDRV_PCM_IOCTL_XRUN: u32 = io(A, 0x48);
/// Move appl_ptr forward.
pub const SNDRV_PCM_IOCTL_FORWARD: u32 = iow::<Uframes>(A, 0x49);
/// Write interleaved frames.
pub const SNDRV_PCM_IOCTL_WRITEI_FRAMES: u32 = iow::<SndXferi>(A, 0x50);
/// Read interleaved frames.
pub const SNDRV_PCM_IOCTL_READI_FRAMES: u32 = ior::<SndXferi>(A, 0x51);
/// Link two streams.
pub const SNDRV_PCM_IOCTL_LINK: u32 = iow::<i32>(A, 0x60);
/// Unlink a stream.
pub const SNDRV_PCM_IOCTL_UNLINK: u32 = io(A, 0x61);

/// Control protocol version (out: int).
pub const SNDRV_CTL_IOCTL_PVERSION: u32 = ior::<i32>(U, 0x00);
/// Card information.
pub const SNDRV_CTL_IOCTL_CARD_INFO: u32 = ior::<SndCtlCardInfo>(U, 0x01);
/// Next PCM device number (in/out: int, -1 starts and ends).
pub const SNDRV_CTL_IOCTL_PCM_NEXT_DEVICE: u32 = ior::<i32>(U, 0x30);
/// PCM information by device/subdevice/stream.
pub const SNDRV_CTL_IOCTL_PCM_INFO: u32 = iowr::<SndPcmInfo>(U, 0x31);
/// Subdevice the next PCM open of this process should get (in: int).
pub const SNDRV_CTL_IOCTL_PCM_PREFER_SUBDEVICE: u32 = iow::<i32>(U, 0x32);
