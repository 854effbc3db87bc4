//! Constants of `<sound/asound.h>`: protocol versions, mmap offsets,
//! formats, access types, states, info flags, hw parameter indexes and
//! SYNC_PTR flags.

/// `SNDRV_PROTOCOL_VERSION(major, minor, subminor)`.
pub const fn protocol_version(major: u32, minor: u32, subminor: u32) -> u32 {
    (major << 16) | (minor << 8) | subminor
}

/// The PCM protocol version this mirror follows (`SNDRV_PCM_VERSION`, 2.0.15).
pub const SNDRV_PCM_VERSION: u32 = protocol_version(2, 0, 15);
/// The control protocol version of the header (`SNDRV_CTL_VERSION`, 2.0.8).
pub const SNDRV_CTL_VERSION: u32 = protocol_version(2, 0, 8);

/// Stream direction: playback.
pub const SNDRV_PCM_STREAM_PLAYBACK: i32 = 0;
/// Stream direction: capture.
pub const SNDRV_PCM_STREAM_CAPTURE: i32 = 1;

/// mmap offset of the data ring.
pub const SNDRV_PCM_MMAP_OFFSET_DATA: u64 = 0x0000_0000;
/// mmap offset of the status page, legacy layout.
pub const SNDRV_PCM_MMAP_OFFSET_STATUS_OLD: u64 = 0x8000_0000;
/// mmap offset of the control page, legacy layout.
pub const SNDRV_PCM_MMAP_OFFSET_CONTROL_OLD: u64 = 0x8100_0000;
/// mmap offset of the status page, time64 ("new") layout.
pub const SNDRV_PCM_MMAP_OFFSET_STATUS_NEW: u64 = 0x8200_0000;
/// mmap offset of the control page, time64 ("new") layout.
pub const SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW: u64 = 0x8300_0000;

/// Access: interleaved mmap.
pub const SNDRV_PCM_ACCESS_MMAP_INTERLEAVED: u32 = 0;
/// Access: non-interleaved mmap.
pub const SNDRV_PCM_ACCESS_MMAP_NONINTERLEAVED: u32 = 1;
/// Access: complex mmap.
pub const SNDRV_PCM_ACCESS_MMAP_COMPLEX: u32 = 2;
/// Access: readi/writei.
pub const SNDRV_PCM_ACCESS_RW_INTERLEAVED: u32 = 3;
/// Access: readn/writen.
pub const SNDRV_PCM_ACCESS_RW_NONINTERLEAVED: u32 = 4;

/// Format: signed 8-bit.
pub const SNDRV_PCM_FORMAT_S8: u32 = 0;
/// Format: unsigned 8-bit.
pub const SNDRV_PCM_FORMAT_U8: u32 = 1;
/// Format: signed 16-bit little-endian.
pub const SNDRV_PCM_FORMAT_S16_LE: u32 = 2;
/// Format: signed 24-bit in the low three bytes of 32, little-endian.
pub const SNDRV_PCM_FORMAT_S24_LE: u32 = 6;
/// Format: signed 32-bit little-endian.
pub const SNDRV_PCM_FORMAT_S32_LE: u32 = 10;
/// Format: 32-bit float little-endian.
pub const SNDRV_PCM_FORMAT_FLOAT_LE: u32 = 14;
/// Format: 64-bit float little-endian.
pub const SNDRV_PCM_FORMAT_FLOAT64_LE: u32 = 16;
/// Format: signed 24-bit packed in three bytes, little-endian.
pub const SNDRV_PCM_FORMAT_S24_3LE: u32 = 32;
/// Highest format number of the header (`SNDRV_PCM_FORMAT_LAST`, DSD_U32_BE).
pub const SNDRV_PCM_FORMAT_LAST: u32 = 52;

/// Subformat: standard.
pub const SNDRV_PCM_SUBFORMAT_STD: u32 = 0;

/// Info flag: hardware supports mmap.
pub const SNDRV_PCM_INFO_MMAP: u32 = 0x0000_0001;
/// Info flag: period data are valid during transfer.
pub const SNDRV_PCM_INFO_MMAP_VALID: u32 = 0x0000_0002;
/// Info flag: double buffering needed for start/stop.
pub const SNDRV_PCM_INFO_DOUBLE: u32 = 0x0000_0004;
/// Info flag: the position moves in blocks (periods), not per frame.
pub const SNDRV_PCM_INFO_BATCH: u32 = 0x0000_0010;
/// Info flag: the driver needs an explicit sync of each appl_ptr update.
pub const SNDRV_PCM_INFO_SYNC_APPLPTR: u32 = 0x0000_0020;
/// Info flag: interleaved channels.
pub const SNDRV_PCM_INFO_INTERLEAVED: u32 = 0x0000_0100;
/// Info flag: non-interleaved channels.
pub const SNDRV_PCM_INFO_NONINTERLEAVED: u32 = 0x0000_0200;
/// Info flag: complex frame organization.
pub const SNDRV_PCM_INFO_COMPLEX: u32 = 0x0000_0400;
/// Info flag: hardware transfers blocks of samples.
pub const SNDRV_PCM_INFO_BLOCK_TRANSFER: u32 = 0x0001_0000;
/// Info flag: capture overrange detection.
pub const SNDRV_PCM_INFO_OVERRANGE: u32 = 0x0002_0000;
/// Info flag: resume after suspend supported.
pub const SNDRV_PCM_INFO_RESUME: u32 = 0x0004_0000;
/// Info flag: the PAUSE ioctl is supported.
pub const SNDRV_PCM_INFO_PAUSE: u32 = 0x0008_0000;
/// Info flag: half duplex only.
pub const SNDRV_PCM_INFO_HALF_DUPLEX: u32 = 0x0010_0000;
/// Info flag: playback and capture are correlated.
pub const SNDRV_PCM_INFO_JOINT_DUPLEX: u32 = 0x0020_0000;
/// Info flag: synchronized start supported.
pub const SNDRV_PCM_INFO_SYNC_START: u32 = 0x0040_0000;
/// Info flag: period wake-ups can be disabled.
pub const SNDRV_PCM_INFO_NO_PERIOD_WAKEUP: u32 = 0x0080_0000;
/// Info flag: link audio time, reset on start.
pub const SNDRV_PCM_INFO_HAS_LINK_ATIME: u32 = 0x0100_0000;
/// Info flag: absolute link audio time.
pub const SNDRV_PCM_INFO_HAS_LINK_ABSOLUTE_ATIME: u32 = 0x0200_0000;
/// Info flag: estimated link audio time.
pub const SNDRV_PCM_INFO_HAS_LINK_ESTIMATED_ATIME: u32 = 0x0400_0000;
/// Info flag: synchronized audio/system time.
pub const SNDRV_PCM_INFO_HAS_LINK_SYNCHRONIZED_ATIME: u32 = 0x0800_0000;
/// Info flag: pointers and data need an explicit sync (no status/control mmap).
pub const SNDRV_PCM_INFO_EXPLICIT_SYNC: u32 = 0x1000_0000;
/// Info flag: appl_ptr may only move forward.
pub const SNDRV_PCM_INFO_NO_REWINDS: u32 = 0x2000_0000;

/// State: open, not configured.
pub const SNDRV_PCM_STATE_OPEN: i32 = 0;
/// State: configured.
pub const SNDRV_PCM_STATE_SETUP: i32 = 1;
/// State: prepared.
pub const SNDRV_PCM_STATE_PREPARED: i32 = 2;
/// State: running.
pub const SNDRV_PCM_STATE_RUNNING: i32 = 3;
/// State: xrun.
pub const SNDRV_PCM_STATE_XRUN: i32 = 4;
/// State: draining.
pub const SNDRV_PCM_STATE_DRAINING: i32 = 5;
/// State: paused.
pub const SNDRV_PCM_STATE_PAUSED: i32 = 6;
/// State: suspended.
pub const SNDRV_PCM_STATE_SUSPENDED: i32 = 7;
/// State: disconnected.
pub const SNDRV_PCM_STATE_DISCONNECTED: i32 = 8;

/// Hw param (mask): access type.
pub const SNDRV_PCM_HW_PARAM_ACCESS: usize = 0;
/// Hw param (mask): sample format.
pub const SNDRV_PCM_HW_PARAM_FORMAT: usize = 1;
/// Hw param (mask): subformat.
pub const SNDRV_PCM_HW_PARAM_SUBFORMAT: usize = 2;
/// First mask parameter.
pub const SNDRV_PCM_HW_PARAM_FIRST_MASK: usize = SNDRV_PCM_HW_PARAM_ACCESS;
/// Last mask parameter.
pub const SNDRV_PCM_HW_PARAM_LAST_MASK: usize = SNDRV_PCM_HW_PARAM_SUBFORMAT;
/// Hw param (interval): bits per sample.
pub const SNDRV_PCM_HW_PARAM_SAMPLE_BITS: usize = 8;
/// Hw param (interval): bits per frame.
pub const SNDRV_PCM_HW_PARAM_FRAME_BITS: usize = 9;
/// Hw param (interval): channels.
pub const SNDRV_PCM_HW_PARAM_CHANNELS: usize = 10;
/// Hw param (interval): rate.
pub const SNDRV_PCM_HW_PARAM_RATE: usize = 11;
/// Hw param (interval): period time in µs.
pub const SNDRV_PCM_HW_PARAM_PERIOD_TIME: usize = 12;
/// Hw param (interval): period size in frames.
pub const SNDRV_PCM_HW_PARAM_PERIOD_SIZE: usize = 13;
/// Hw param (interval): period size in bytes.
pub const SNDRV_PCM_HW_PARAM_PERIOD_BYTES: usize = 14;
/// Hw param (interval): periods per buffer.
pub const SNDRV_PCM_HW_PARAM_PERIODS: usize = 15;
/// Hw param (interval): buffer time in µs.
pub const SNDRV_PCM_HW_PARAM_BUFFER_TIME: usize = 16;
/// Hw param (interval): buffer size in frames.
pub const SNDRV_PCM_HW_PARAM_BUFFER_SIZE: usize = 17;
/// Hw param (interval): buffer size in bytes.
pub const SNDRV_PCM_HW_PARAM_BUFFER_BYTES: usize = 18;
/// Hw param (interval): tick time in µs.
pub const SNDRV_PCM_HW_PARAM_TICK_TIME: usize = 19;
/// First interval parameter.
pub const SNDRV_PCM_HW_PARAM_FIRST_INTERVAL: usize = SNDRV_PCM_HW_PARAM_SAMPLE_BITS;
/// Last interval parameter.
pub const SNDRV_PCM_HW_PARAM_LAST_INTERVAL: usize = SNDRV_PCM_HW_PARAM_TICK_TIME;

/// Hw params flag: avoid rate resampling.
pub const SNDRV_PCM_HW_PARAMS_NORESAMPLE: u32 = 1 << 0;
/// Hw params flag: export buffer.
pub const SNDRV_PCM_HW_PARAMS_EXPORT_BUFFER: u32 = 1 << 1;
/// Hw params flag: disable period wake-ups.
pub const SNDRV_PCM_HW_PARAMS_NO_PERIOD_WAKEUP: u32 = 1 << 2;

/// Bits in a [`super::SndMask`] (`SNDRV_MASK_MAX`).
pub const SNDRV_MASK_MAX: usize = 256;

/// sw_params tstamp_mode: no timestamps.
pub const SNDRV_PCM_TSTAMP_NONE: i32 = 0;
/// sw_params tstamp_mode: timestamp every pointer update.
pub const SNDRV_PCM_TSTAMP_ENABLE: i32 = 1;

/// Timestamp clock: gettimeofday (CLOCK_REALTIME).
pub const SNDRV_PCM_TSTAMP_TYPE_GETTIMEOFDAY: u32 = 0;
/// Timestamp clock: CLOCK_MONOTONIC.
pub const SNDRV_PCM_TSTAMP_TYPE_MONOTONIC: u32 = 1;
/// Timestamp clock: CLOCK_MONOTONIC_RAW.
pub const SNDRV_PCM_TSTAMP_TYPE_MONOTONIC_RAW: u32 = 2;

/// SYNC_PTR flag: run a hwsync first.
pub const SNDRV_PCM_SYNC_PTR_HWSYNC: u32 = 1 << 0;
/// SYNC_PTR flag: read appl_ptr from the kernel instead of writing it.
pub const SNDRV_PCM_SYNC_PTR_APPL: u32 = 1 << 1;
/// SYNC_PTR flag: read avail_min from the kernel instead of writing it.
pub const SNDRV_PCM_SYNC_PTR_AVAIL_MIN: u32 = 1 << 2;

/// Audio timestamp type: compat.
pub const SNDRV_PCM_AUDIO_TSTAMP_TYPE_COMPAT: u32 = 0;
/// Audio timestamp type: DMA time per hw_ptr.
pub const SNDRV_PCM_AUDIO_TSTAMP_TYPE_DEFAULT: u32 = 1;
