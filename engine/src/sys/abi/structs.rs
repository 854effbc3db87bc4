//! `repr(C)` mirrors of the PCM structures of `<sound/asound.h>`.
//!
//! Two layouts exist for the structures that carry timestamps or the mmap
//! pages: the legacy one (native `time_t` timespecs, the status page at
//! offset 0x80000000) and the time64 ("new", `__SND_STRUCT_TIME64`) one
//! (64-bit timespecs and 64-bit slots for frame counters, status page at
//! 0x82000000). On 64-bit targets both have the same size; the engine uses
//! the time64 layout. Field names follow the C header.

use libc::{c_long, c_ulong, c_void, time_t};
use std::mem::size_of;

/// Frame counter as the kernel stores it (`snd_pcm_uframes_t`).
pub type Uframes = c_ulong;
/// Signed frame count (`snd_pcm_sframes_t`).
pub type Sframes = c_long;

/// Types for which the all-zero bit pattern is a valid value.
///
/// # Safety
/// Implement only for `repr(C)` plain-old-data types made of integers,
/// arrays of them and unions of such types.
pub unsafe trait Zeroed: Sized {
    /// The all-zero value, as C's `memset(&x, 0, sizeof x)` gives.
    fn zeroed() -> Self {
        // SAFETY: the trait's contract: all-zero bytes form a valid value.
        unsafe { std::mem::zeroed() }
    }
}

/// A native `struct timespec` (legacy layout).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds.
    pub tv_sec: time_t,
    /// Nanoseconds.
    pub tv_nsec: c_long,
}

/// `struct __snd_timespec64`: a timespec with 64-bit fields (time64 layout).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timespec64 {
    /// Seconds.
    pub tv_sec: i64,
    /// Nanoseconds.
    pub tv_nsec: i64,
}

/// Padding that widens a `snd_pcm_uframes_t` to a 64-bit slot
/// (`__pad_after_uframe` on little-endian targets; empty on 64-bit).
pub type UframePad = [u8; size_of::<u64>() - size_of::<Uframes>()];

/// `struct snd_pcm_info`: what the INFO ioctl reports about a substream.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndPcmInfo {
    /// Device number.
    pub device: u32,
    /// Subdevice number.
    pub subdevice: u32,
    /// Stream direction (`SNDRV_PCM_STREAM_*`).
    pub stream: i32,
    /// Card number.
    pub card: i32,
    /// ID (NUL-terminated).
    pub id: [u8; 64],
    /// Device name (NUL-terminated).
    pub name: [u8; 80],
    /// Subdevice name (NUL-terminated).
    pub subname: [u8; 32],
    /// `SNDRV_PCM_CLASS_*`.
    pub dev_class: i32,
    /// `SNDRV_PCM_SUBCLASS_*`.
    pub dev_subclass: i32,
    /// Number of subdevices.
    pub subdevices_count: u32,
    /// Subdevices not in use.
    pub subdevices_avail: u32,
    /// Hardware synchronization ID (`union snd_pcm_sync_id`, 16 bytes).
    pub sync: [u32; 4],
    /// Reserved.
    pub reserved: [u8; 64],
}

/// `struct snd_interval`: a range of a hw parameter.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SndInterval {
    /// Lower bound.
    pub min: u32,
    /// Upper bound.
    pub max: u32,
    /// The C bitfields: [`SndInterval::OPENMIN`], [`SndInterval::OPENMAX`],
    /// [`SndInterval::INTEGER`], [`SndInterval::EMPTY`].
    pub flags: u32,
}

impl SndInterval {
    /// Bitfield `openmin`: the lower bound is excluded.
    pub const OPENMIN: u32 = 1 << 0;
    /// Bitfield `openmax`: the upper bound is excluded.
    pub const OPENMAX: u32 = 1 << 1;
    /// Bitfield `integer`: only integers.
    pub const INTEGER: u32 = 1 << 2;
    /// Bitfield `empty`: no value left.
    pub const EMPTY: u32 = 1 << 3;
}

/// `struct snd_mask`: a 256-bit set of choices (access, format, subformat).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SndMask {
    /// The bits, bit `n` in `bits[n / 32]` at `1 << (n % 32)`.
    pub bits: [u32; 8],
}

/// `struct snd_pcm_hw_params`: the HW_REFINE / HW_PARAMS argument.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndPcmHwParams {
    /// `SNDRV_PCM_HW_PARAMS_*` flags.
    pub flags: u32,
    /// Access, format, subformat masks.
    pub masks: [SndMask; 3],
    /// Reserved masks.
    pub mres: [SndMask; 5],
    /// Intervals SAMPLE_BITS..=TICK_TIME.
    pub intervals: [SndInterval; 12],
    /// Reserved intervals.
    pub ires: [SndInterval; 9],
    /// Parameters to refine (bit per parameter index).
    pub rmask: u32,
    /// Parameters the kernel changed.
    pub cmask: u32,
    /// Info flags of the configuration (`SNDRV_PCM_INFO_*`).
    pub info: u32,
    /// Significant bits of a sample.
    pub msbits: u32,
    /// Exact rate numerator.
    pub rate_num: u32,
    /// Exact rate denominator.
    pub rate_den: u32,
    /// Chip FIFO size in frames.
    pub fifo_size: Uframes,
    /// Reserved.
    pub reserved: [u8; 64],
}

/// `struct snd_pcm_sw_params`: the SW_PARAMS argument.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndPcmSwParams {
    /// `SNDRV_PCM_TSTAMP_*`.
    pub tstamp_mode: i32,
    /// Period step.
    pub period_step: u32,
    /// Obsolete.
    pub sleep_min: u32,
    /// Minimum available frames for a wake-up.
    pub avail_min: Uframes,
    /// Obsolete.
    pub xfer_align: Uframes,
    /// Filled frames at which the stream starts by itself.
    pub start_threshold: Uframes,
    /// Available frames at which the stream stops (xrun).
    pub stop_threshold: Uframes,
    /// Silence filling threshold.
    pub silence_threshold: Uframes,
    /// Silence block size.
    pub silence_size: Uframes,
    /// Where hw_ptr and appl_ptr wrap (read-only: set by the kernel).
    pub boundary: Uframes,
    /// Protocol version.
    pub proto: u32,
    /// `SNDRV_PCM_TSTAMP_TYPE_*` (proto >= 2.0.12).
    pub tstamp_type: u32,
    /// Reserved.
    pub reserved: [u8; 56],
}

/// `struct snd_pcm_channel_info`: where a channel lives in the ring.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SndPcmChannelInfo {
    /// Channel number (in).
    pub channel: u32,
    /// mmap offset (`__kernel_off_t`).
    pub offset: c_long,
    /// Offset to the first sample, in bits.
    pub first: u32,
    /// Distance between samples, in bits.
    pub step: u32,
}

/// `struct snd_pcm_status`, legacy layout (native timespecs).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndPcmStatus {
    /// Stream state.
    pub state: i32,
    /// `__time_pad`.
    pub pad1: [u8; size_of::<time_t>() - size_of::<i32>()],
    /// When the stream was started/stopped/paused.
    pub trigger_tstamp: Timespec,
    /// Reference timestamp.
    pub tstamp: Timespec,
    /// Application pointer.
    pub appl_ptr: Uframes,
    /// Hardware pointer.
    pub hw_ptr: Uframes,
    /// Current delay in frames.
    pub delay: Sframes,
    /// Available frames.
    pub avail: Uframes,
    /// Max available since the last status.
    pub avail_max: Uframes,
    /// Capture overrange count.
    pub overrange: Uframes,
    /// State before suspension.
    pub suspended_state: i32,
    /// Audio timestamp configuration/report.
    pub audio_tstamp_data: u32,
    /// Audio timestamp.
    pub audio_tstamp: Timespec,
    /// Driver timestamp.
    pub driver_tstamp: Timespec,
    /// Audio timestamp accuracy in ns.
    pub audio_tstamp_accuracy: u32,
    /// Reserved.
    pub reserved: [u8; 52 - 2 * size_of::<Timespec>()],
}

/// `struct snd_pcm_status64` (the kernel's time64 status layout).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndPcmStatus64 {
    /// Stream state.
    pub state: i32,
    /// Reserved.
    pub rsvd: [u8; 4],
    /// Trigger timestamp, seconds.
    pub trigger_tstamp_sec: i64,
    /// Trigger timestamp, nanoseconds.
    pub trigger_tstamp_nsec: i64,
    /// Reference timestamp, seconds.
    pub tstamp_sec: i64,
    /// Reference timestamp, nanoseconds.
    pub tstamp_nsec: i64,
    /// Application pointer.
    pub appl_ptr: Uframes,
    /// Hardware pointer.
    pub hw_ptr: Uframes,
    /// Current delay in frames.
    pub delay: Sframes,
    /// Available frames.
    pub avail: Uframes,
    /// Max available since the last status.
    pub avail_max: Uframes,
    /// Capture overrange count.
    pub overrange: Uframes,
    /// State before suspension.
    pub suspended_state: i32,
    /// Audio timestamp configuration/report.
    pub audio_tstamp_data: u32,
    /// Audio timestamp, seconds.
    pub audio_tstamp_sec: i64,
    /// Audio timestamp, nanoseconds.
    pub audio_tstamp_nsec: i64,
    /// Driver timestamp, seconds.
    pub driver_tstamp_sec: i64,
    /// Driver timestamp, nanoseconds.
    pub driver_tstamp_nsec: i64,
    /// Audio timestamp accuracy in ns.
    pub audio_tstamp_accuracy: u32,
    /// Reserved.
    pub reserved: [u8; 52 - 4 * size_of::<i64>()],
}

/// `struct snd_pcm_mmap_status`, legacy layout (offset 0x80000000).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SndPcmMmapStatus {
    /// Stream state.
    pub state: i32,
    /// Alignment padding.
    pub pad1: i32,
    /// Hardware pointer, 0..boundary.
    pub hw_ptr: Uframes,
    /// Timestamp of the last hw_ptr update.
    pub tstamp: Timespec,
    /// State before suspension.
    pub suspended_state: i32,
    /// Audio timestamp.
    pub audio_tstamp: Timespec,
}

/// `struct snd_pcm_mmap_control`, legacy layout (offset 0x81000000).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SndPcmMmapControl {
    /// Application pointer, 0..boundary.
    pub appl_ptr: Uframes,
    /// Minimum available frames for a wake-up.
    pub avail_min: Uframes,
}

/// `struct __snd_pcm_mmap_status64`, time64 layout (offset 0x82000000).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SndPcmMmapStatus64 {
    /// Stream state.
    pub state: i32,
    /// Alignment padding.
    pub pad1: u32,
    /// Hardware pointer, 0..boundary.
    pub hw_ptr: Uframes,
    /// Widens `hw_ptr` to 64 bits on 32-bit targets.
    pub pad2: UframePad,
    /// Timestamp of the last hw_ptr update.
    pub tstamp: Timespec64,
    /// State before suspension.
    pub suspended_state: i32,
    /// Alignment padding.
    pub pad3: u32,
    /// Audio timestamp.
    pub audio_tstamp: Timespec64,
}

/// `struct __snd_pcm_mmap_control64`, time64 layout (offset 0x83000000).
///
/// Mirrors the 6.1 header as written for little-endian targets (its
/// `__pad2` is `__pad_before_uframe`, empty on little-endian).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SndPcmMmapControl64 {
    /// Application pointer, 0..boundary.
    pub appl_ptr: Uframes,
    /// Minimum available frames for a wake-up.
    pub avail_min: Uframes,
    /// Widens `avail_min` to 64 bits on 32-bit targets.
    pub pad4: UframePad,
}

/// The status half of [`SndPcmSyncPtr`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union SyncPtrStatus {
    /// The status.
    pub status: SndPcmMmapStatus,
    /// Reserved space.
    pub reserved: [u8; 64],
}

/// The control half of [`SndPcmSyncPtr`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union SyncPtrControl {
    /// The control.
    pub control: SndPcmMmapControl,
    /// Reserved space.
    pub reserved: [u8; 64],
}

/// `struct snd_pcm_sync_ptr`, legacy layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SndPcmSyncPtr {
    /// `SNDRV_PCM_SYNC_PTR_*`.
    pub flags: u32,
    /// Status (out).
    pub s: SyncPtrStatus,
    /// Control (in, or out for the fields named in `flags`).
    pub c: SyncPtrControl,
}

/// The status half of [`SndPcmSyncPtr64`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union SyncPtrStatus64 {
    /// The status.
    pub status: SndPcmMmapStatus64,
    /// Reserved space.
    pub reserved: [u8; 64],
}

/// The control half of [`SndPcmSyncPtr64`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union SyncPtrControl64 {
    /// The control.
    pub control: SndPcmMmapControl64,
    /// Reserved space.
    pub reserved: [u8; 64],
}

/// `struct __snd_pcm_sync_ptr64`, time64 layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SndPcmSyncPtr64 {
    /// `SNDRV_PCM_SYNC_PTR_*`.
    pub flags: u32,
    /// Alignment padding.
    pub pad1: u32,
    /// Status (out).
    pub s: SyncPtrStatus64,
    /// Control (in, or out for the fields named in `flags`).
    pub c: SyncPtrControl64,
}

/// `struct snd_xferi`: argument of READI/WRITEI_FRAMES.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndXferi {
    /// Frames transferred, or a negative errno.
    pub result: Sframes,
    /// The interleaved buffer.
    pub buf: *mut c_void,
    /// Frames to transfer.
    pub frames: Uframes,
}

/// `struct snd_ctl_card_info`: CARD_INFO on the control device.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SndCtlCardInfo {
    /// Card number.
    pub card: i32,
    /// Reserved.
    pub pad: i32,
    /// Card ID (NUL-terminated), e.g. `Loopback`.
    pub id: [u8; 16],
    /// Driver name.
    pub driver: [u8; 16],
    /// Short name.
    pub name: [u8; 32],
    /// Long name.
    pub longname: [u8; 80],
    /// Reserved.
    pub reserved_: [u8; 16],
    /// Mixer identification.
    pub mixername: [u8; 80],
    /// Card components.
    pub components: [u8; 128],
}

// All the impls below: each type is repr(C) and made only of integers,
// integer arrays, raw pointers (null is valid) and unions of those, so the
// all-zero bit pattern is a valid value.
// SAFETY: see above.
unsafe impl Zeroed for SndPcmInfo {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmHwParams {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmSwParams {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmChannelInfo {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmStatus {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmStatus64 {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmMmapStatus {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmMmapStatus64 {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmMmapControl {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmMmapControl64 {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmSyncPtr {}
// SAFETY: see above.
unsafe impl Zeroed for SndPcmSyncPtr64 {}
// SAFETY: see above.
unsafe impl Zeroed for SndXferi {}
// SAFETY: see above.
unsafe impl Zeroed for SndCtlCardInfo {}

/// Reads a NUL-terminated C string from a fixed array (lossy UTF-8).
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Widens a kernel frame counter to `u64` (identity on 64-bit targets).
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub const fn uframes(v: Uframes) -> u64 {
    v as u64
}
