//! Compile-time layout assertions and the table the C cross-check uses.

use super::consts::*;
use super::ioctl::*;
use super::structs::*;
use std::mem::{offset_of, size_of};

// x86_64 sizes and offsets of the Linux 6.1 uapi (see the C cross-check).
#[cfg(target_arch = "x86_64")]
const _: () = {
    assert!(size_of::<SndPcmMmapStatus>() == 56);
    assert!(size_of::<SndPcmMmapStatus64>() == 56);
    assert!(size_of::<SndPcmMmapControl>() == 16);
    assert!(size_of::<SndPcmMmapControl64>() == 16);
    assert!(size_of::<SndPcmSyncPtr>() == 136);
    assert!(size_of::<SndPcmSyncPtr64>() == 136);
    assert!(size_of::<SndPcmHwParams>() == 608);
    assert!(size_of::<SndPcmSwParams>() == 136);
    assert!(size_of::<SndPcmInfo>() == 288);
    assert!(size_of::<SndPcmChannelInfo>() == 24);
    assert!(size_of::<SndPcmStatus>() == 152);
    assert!(size_of::<SndPcmStatus64>() == 152);
    assert!(size_of::<SndXferi>() == 24);
    assert!(size_of::<SndCtlCardInfo>() == 376);
    assert!(size_of::<SndInterval>() == 12);
    assert!(size_of::<SndMask>() == 32);

    assert!(offset_of!(SndPcmMmapStatus64, hw_ptr) == 8);
    assert!(offset_of!(SndPcmMmapStatus64, tstamp) == 16);
    assert!(offset_of!(SndPcmMmapStatus64, suspended_state) == 32);
    assert!(offset_of!(SndPcmMmapStatus64, audio_tstamp) == 40);
    assert!(offset_of!(SndPcmMmapStatus, audio_tstamp) == 40);
    assert!(offset_of!(SndPcmMmapControl64, avail_min) == 8);
    assert!(offset_of!(SndPcmSyncPtr, s) == 8);
    assert!(offset_of!(SndPcmSyncPtr, c) == 72);
    assert!(offset_of!(SndPcmSyncPtr64, s) == 8);
    assert!(offset_of!(SndPcmSyncPtr64, c) == 72);
    assert!(offset_of!(SndPcmHwParams, intervals) == 260);
    assert!(offset_of!(SndPcmHwParams, rmask) == 512);
    assert!(offset_of!(SndPcmHwParams, info) == 520);
    assert!(offset_of!(SndPcmHwParams, fifo_size) == 536);
    assert!(offset_of!(SndPcmSwParams, avail_min) == 16);
    assert!(offset_of!(SndPcmSwParams, boundary) == 64);
    assert!(offset_of!(SndPcmSwParams, tstamp_type) == 76);
    assert!(offset_of!(SndPcmInfo, sync) == 208);
    assert!(offset_of!(SndPcmStatus, appl_ptr) == 40);
    assert!(offset_of!(SndPcmStatus64, audio_tstamp_sec) == 96);

    assert!(SNDRV_PCM_IOCTL_HW_PARAMS == 0xc260_4111);
    assert!(SNDRV_PCM_IOCTL_SYNC_PTR == 0xc088_4123);
    assert!(SNDRV_PCM_IOCTL_SW_PARAMS == 0xc088_4113);
    assert!(SNDRV_PCM_IOCTL_START == 0x0000_4142);
};

/// Which compilation of the C cross-check an entry applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Both compilations.
    Both,
    /// The header as a 64-bit program sees it by default (legacy names).
    Legacy,
    /// The header compiled with `-D__SND_STRUCT_TIME64` (the time64
    /// layouts take the plain names).
    Time64,
}

/// One fact of the ABI: a C expression and the value the Rust mirror has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutEntry {
    /// A C expression over `<sound/asound.h>` (e.g. `sizeof(struct snd_pcm_info)`).
    pub c_expr: &'static str,
    /// The Rust value for it.
    pub value: u64,
    /// Which compilation of the C side evaluates it.
    pub mode: CheckMode,
}

macro_rules! e {
    ($mode:ident, $c:expr, $v:expr) => {
        LayoutEntry {
            c_expr: $c,
            value: $v as u64,
            mode: CheckMode::$mode,
        }
    };
}

macro_rules! size {
    ($mode:ident, $c:literal, $t:ty) => {
        e!($mode, concat!("sizeof(", $c, ")"), size_of::<$t>())
    };
}

macro_rules! off {
    ($mode:ident, $c:literal, $t:ty, $f:ident) => {
        e!(
            $mode,
            concat!("offsetof(", $c, ", ", stringify!($f), ")"),
            offset_of!($t, $f)
        )
    };
    ($mode:ident, $c:literal, $t:ty, $f:ident => $cf:literal) => {
        e!(
            $mode,
            concat!("offsetof(", $c, ", ", $cf, ")"),
            offset_of!($t, $f)
        )
    };
}

macro_rules! konst {
    ($mode:ident, $name:ident) => {
        e!($mode, stringify!($name), $name)
    };
    ($mode:ident, $name:ident => $c:literal) => {
        e!($mode, $c, $name)
    };
}

/// A C statement expression that sets one bitfield of a zeroed
/// `snd_interval` and returns its third word.
macro_rules! bitfield {
    ($field:literal, $v:expr) => {
        e!(
            Both,
            concat!(
                "({ struct snd_interval i_; unsigned int w_; memset(&i_, 0, sizeof i_); i_.",
                $field,
                " = 1; memcpy(&w_, (char *)&i_ + 8, 4); w_; })"
            ),
            $v
        )
    };
}

/// Every size, offset, ioctl number and constant the Rust mirror claims,
/// as C expressions to evaluate against the real header.
pub fn layout_table() -> Vec<LayoutEntry> {
    let mut t = vec![
        // snd_pcm_info
        size!(Both, "struct snd_pcm_info", SndPcmInfo),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, device),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, subdevice),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, stream),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, card),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, id),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, name),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, subname),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, dev_class),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, dev_subclass),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, subdevices_count),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, subdevices_avail),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, sync),
        off!(Both, "struct snd_pcm_info", SndPcmInfo, reserved),
        e!(
            Both,
            "_Alignof(struct snd_pcm_info)",
            std::mem::align_of::<SndPcmInfo>()
        ),
        // snd_interval / snd_mask
        size!(Both, "struct snd_interval", SndInterval),
        off!(Both, "struct snd_interval", SndInterval, min),
        off!(Both, "struct snd_interval", SndInterval, max),
        bitfield!("openmin", SndInterval::OPENMIN),
        bitfield!("openmax", SndInterval::OPENMAX),
        bitfield!("integer", SndInterval::INTEGER),
        bitfield!("empty", SndInterval::EMPTY),
        size!(Both, "struct snd_mask", SndMask),
        off!(Both, "struct snd_mask", SndMask, bits),
        // snd_pcm_hw_params
        size!(Both, "struct snd_pcm_hw_params", SndPcmHwParams),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, flags),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, masks),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, mres),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, intervals),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, ires),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, rmask),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, cmask),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, info),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, msbits),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, rate_num),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, rate_den),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, fifo_size),
        off!(Both, "struct snd_pcm_hw_params", SndPcmHwParams, reserved),
        // snd_pcm_sw_params
        size!(Both, "struct snd_pcm_sw_params", SndPcmSwParams),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            tstamp_mode
        ),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            period_step
        ),
        off!(Both, "struct snd_pcm_sw_params", SndPcmSwParams, sleep_min),
        off!(Both, "struct snd_pcm_sw_params", SndPcmSwParams, avail_min),
        off!(Both, "struct snd_pcm_sw_params", SndPcmSwParams, xfer_align),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            start_threshold
        ),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            stop_threshold
        ),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            silence_threshold
        ),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            silence_size
        ),
        off!(Both, "struct snd_pcm_sw_params", SndPcmSwParams, boundary),
        off!(Both, "struct snd_pcm_sw_params", SndPcmSwParams, proto),
        off!(
            Both,
            "struct snd_pcm_sw_params",
            SndPcmSwParams,
            tstamp_type
        ),
        off!(Both, "struct snd_pcm_sw_params", SndPcmSwParams, reserved),
        // snd_pcm_channel_info
        size!(Both, "struct snd_pcm_channel_info", SndPcmChannelInfo),
        off!(
            Both,
            "struct snd_pcm_channel_info",
            SndPcmChannelInfo,
            channel
        ),
        off!(
            Both,
            "struct snd_pcm_channel_info",
            SndPcmChannelInfo,
            offset
        ),
        off!(
            Both,
            "struct snd_pcm_channel_info",
            SndPcmChannelInfo,
            first
        ),
        off!(Both, "struct snd_pcm_channel_info", SndPcmChannelInfo, step),
        // snd_pcm_status (legacy: native timespec)
        size!(Legacy, "struct snd_pcm_status", SndPcmStatus),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, state),
        off!(
            Legacy,
            "struct snd_pcm_status",
            SndPcmStatus,
            trigger_tstamp
        ),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, tstamp),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, appl_ptr),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, hw_ptr),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, delay),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, avail),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, avail_max),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, overrange),
        off!(
            Legacy,
            "struct snd_pcm_status",
            SndPcmStatus,
            suspended_state
        ),
        off!(
            Legacy,
            "struct snd_pcm_status",
            SndPcmStatus,
            audio_tstamp_data
        ),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, audio_tstamp),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, driver_tstamp),
        off!(
            Legacy,
            "struct snd_pcm_status",
            SndPcmStatus,
            audio_tstamp_accuracy
        ),
        off!(Legacy, "struct snd_pcm_status", SndPcmStatus, reserved),
        // mmap status/control, legacy names
        size!(Legacy, "struct snd_pcm_mmap_status", SndPcmMmapStatus),
        off!(
            Legacy,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus,
            state
        ),
        off!(Legacy, "struct snd_pcm_mmap_status", SndPcmMmapStatus, pad1),
        off!(
            Legacy,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus,
            hw_ptr
        ),
        off!(
            Legacy,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus,
            tstamp
        ),
        off!(
            Legacy,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus,
            suspended_state
        ),
        off!(
            Legacy,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus,
            audio_tstamp
        ),
        size!(Legacy, "struct snd_pcm_mmap_control", SndPcmMmapControl),
        off!(
            Legacy,
            "struct snd_pcm_mmap_control",
            SndPcmMmapControl,
            appl_ptr
        ),
        off!(
            Legacy,
            "struct snd_pcm_mmap_control",
            SndPcmMmapControl,
            avail_min
        ),
        size!(Legacy, "struct snd_pcm_sync_ptr", SndPcmSyncPtr),
        off!(Legacy, "struct snd_pcm_sync_ptr", SndPcmSyncPtr, flags),
        off!(Legacy, "struct snd_pcm_sync_ptr", SndPcmSyncPtr, s),
        off!(Legacy, "struct snd_pcm_sync_ptr", SndPcmSyncPtr, c),
        size!(Legacy, "struct timespec", Timespec),
        // time64 layouts by their explicit names (default compilation)
        size!(Legacy, "struct __snd_pcm_mmap_status64", SndPcmMmapStatus64),
        size!(
            Legacy,
            "struct __snd_pcm_mmap_control64",
            SndPcmMmapControl64
        ),
        size!(Legacy, "struct __snd_pcm_sync_ptr64", SndPcmSyncPtr64),
        size!(Legacy, "struct __snd_timespec64", Timespec64),
        // time64 layouts under their plain names (-D__SND_STRUCT_TIME64)
        size!(Time64, "struct snd_pcm_mmap_status", SndPcmMmapStatus64),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            state
        ),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            pad1
        ),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            hw_ptr
        ),
        off!(Time64, "struct snd_pcm_mmap_status", SndPcmMmapStatus64, pad2 => "__pad2"),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            tstamp
        ),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            suspended_state
        ),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            pad3
        ),
        off!(
            Time64,
            "struct snd_pcm_mmap_status",
            SndPcmMmapStatus64,
            audio_tstamp
        ),
        size!(Time64, "struct snd_pcm_mmap_control", SndPcmMmapControl64),
        off!(
            Time64,
            "struct snd_pcm_mmap_control",
            SndPcmMmapControl64,
            appl_ptr
        ),
        off!(
            Time64,
            "struct snd_pcm_mmap_control",
            SndPcmMmapControl64,
            avail_min
        ),
        off!(Time64, "struct snd_pcm_mmap_control", SndPcmMmapControl64, pad4 => "__pad4"),
        size!(Time64, "struct snd_pcm_sync_ptr", SndPcmSyncPtr64),
        off!(Time64, "struct snd_pcm_sync_ptr", SndPcmSyncPtr64, flags),
        off!(Time64, "struct snd_pcm_sync_ptr", SndPcmSyncPtr64, pad1),
        off!(Time64, "struct snd_pcm_sync_ptr", SndPcmSyncPtr64, s),
        off!(Time64, "struct snd_pcm_sync_ptr", SndPcmSyncPtr64, c),
        size!(Time64, "struct timespec", Timespec64),
        // union members inside sync_ptr
        e!(
            Legacy,
            "offsetof(struct snd_pcm_sync_ptr, s.status.hw_ptr)",
            offset_of!(SndPcmSyncPtr, s) + offset_of!(SndPcmMmapStatus, hw_ptr)
        ),
        e!(
            Legacy,
            "offsetof(struct snd_pcm_sync_ptr, c.control.avail_min)",
            offset_of!(SndPcmSyncPtr, c) + offset_of!(SndPcmMmapControl, avail_min)
        ),
        e!(
            Time64,
            "offsetof(struct snd_pcm_sync_ptr, s.status.audio_tstamp)",
            offset_of!(SndPcmSyncPtr64, s) + offset_of!(SndPcmMmapStatus64, audio_tstamp)
        ),
        e!(
            Time64,
            "offsetof(struct snd_pcm_sync_ptr, c.control.avail_min)",
            offset_of!(SndPcmSyncPtr64, c) + offset_of!(SndPcmMmapControl64, avail_min)
        ),
        // snd_xferi, snd_ctl_card_info
        size!(Both, "struct snd_xferi", SndXferi),
        off!(Both, "struct snd_xferi", SndXferi, result),
        off!(Both, "struct snd_xferi", SndXferi, buf),
        off!(Both, "struct snd_xferi", SndXferi, frames),
        size!(Both, "struct snd_ctl_card_info", SndCtlCardInfo),
        off!(Both, "struct snd_ctl_card_info", SndCtlCardInfo, id),
        off!(Both, "struct snd_ctl_card_info", SndCtlCardInfo, driver),
        off!(Both, "struct snd_ctl_card_info", SndCtlCardInfo, name),
        off!(Both, "struct snd_ctl_card_info", SndCtlCardInfo, longname),
        off!(Both, "struct snd_ctl_card_info", SndCtlCardInfo, mixername),
        off!(Both, "struct snd_ctl_card_info", SndCtlCardInfo, components),
        // ioctl numbers
        konst!(Both, SNDRV_PCM_IOCTL_PVERSION),
        konst!(Both, SNDRV_PCM_IOCTL_INFO),
        konst!(Both, SNDRV_PCM_IOCTL_TSTAMP),
        konst!(Both, SNDRV_PCM_IOCTL_TTSTAMP),
        konst!(Both, SNDRV_PCM_IOCTL_USER_PVERSION),
        konst!(Both, SNDRV_PCM_IOCTL_HW_REFINE),
        konst!(Both, SNDRV_PCM_IOCTL_HW_PARAMS),
        konst!(Both, SNDRV_PCM_IOCTL_HW_FREE),
        konst!(Both, SNDRV_PCM_IOCTL_SW_PARAMS),
        konst!(Legacy, SNDRV_PCM_IOCTL_STATUS),
        konst!(Legacy, SNDRV_PCM_IOCTL_STATUS_EXT),
        konst!(Both, SNDRV_PCM_IOCTL_DELAY),
        konst!(Both, SNDRV_PCM_IOCTL_HWSYNC),
        konst!(Legacy, SNDRV_PCM_IOCTL_SYNC_PTR),
        konst!(Both, SNDRV_PCM_IOCTL_SYNC_PTR => "__SNDRV_PCM_IOCTL_SYNC_PTR"),
        konst!(Both, SNDRV_PCM_IOCTL_SYNC_PTR64 => "__SNDRV_PCM_IOCTL_SYNC_PTR64"),
        konst!(Time64, SNDRV_PCM_IOCTL_SYNC_PTR64 => "SNDRV_PCM_IOCTL_SYNC_PTR"),
        konst!(Both, SNDRV_PCM_IOCTL_CHANNEL_INFO),
        konst!(Both, SNDRV_PCM_IOCTL_PREPARE),
        konst!(Both, SNDRV_PCM_IOCTL_RESET),
        konst!(Both, SNDRV_PCM_IOCTL_START),
        konst!(Both, SNDRV_PCM_IOCTL_DROP),
        konst!(Both, SNDRV_PCM_IOCTL_DRAIN),
        konst!(Both, SNDRV_PCM_IOCTL_PAUSE),
        konst!(Both, SNDRV_PCM_IOCTL_REWIND),
        konst!(Both, SNDRV_PCM_IOCTL_RESUME),
        konst!(Both, SNDRV_PCM_IOCTL_XRUN),
        konst!(Both, SNDRV_PCM_IOCTL_FORWARD),
        konst!(Both, SNDRV_PCM_IOCTL_WRITEI_FRAMES),
        konst!(Both, SNDRV_PCM_IOCTL_READI_FRAMES),
        konst!(Both, SNDRV_PCM_IOCTL_LINK),
        konst!(Both, SNDRV_PCM_IOCTL_UNLINK),
        konst!(Both, SNDRV_CTL_IOCTL_PVERSION),
        konst!(Both, SNDRV_CTL_IOCTL_CARD_INFO),
        konst!(Both, SNDRV_CTL_IOCTL_PCM_NEXT_DEVICE),
        konst!(Both, SNDRV_CTL_IOCTL_PCM_INFO),
        konst!(Both, SNDRV_CTL_IOCTL_PCM_PREFER_SUBDEVICE),
        // mmap offsets
        konst!(Both, SNDRV_PCM_MMAP_OFFSET_DATA),
        konst!(Both, SNDRV_PCM_MMAP_OFFSET_STATUS_OLD),
        konst!(Both, SNDRV_PCM_MMAP_OFFSET_CONTROL_OLD),
        konst!(Both, SNDRV_PCM_MMAP_OFFSET_STATUS_NEW),
        konst!(Both, SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW),
        konst!(Legacy, SNDRV_PCM_MMAP_OFFSET_STATUS_OLD => "SNDRV_PCM_MMAP_OFFSET_STATUS"),
        konst!(Legacy, SNDRV_PCM_MMAP_OFFSET_CONTROL_OLD => "SNDRV_PCM_MMAP_OFFSET_CONTROL"),
        konst!(Time64, SNDRV_PCM_MMAP_OFFSET_STATUS_NEW => "SNDRV_PCM_MMAP_OFFSET_STATUS"),
        konst!(Time64, SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW => "SNDRV_PCM_MMAP_OFFSET_CONTROL"),
        // versions and constants
        konst!(Both, SNDRV_PCM_VERSION),
        konst!(Both, SNDRV_CTL_VERSION),
        konst!(Both, SNDRV_PCM_STREAM_PLAYBACK),
        konst!(Both, SNDRV_PCM_STREAM_CAPTURE),
        konst!(Both, SNDRV_MASK_MAX),
    ];
    t.extend(constants());
    t
}

fn constants() -> Vec<LayoutEntry> {
    vec![
        konst!(Both, SNDRV_PCM_ACCESS_MMAP_INTERLEAVED),
        konst!(Both, SNDRV_PCM_ACCESS_MMAP_NONINTERLEAVED),
        konst!(Both, SNDRV_PCM_ACCESS_MMAP_COMPLEX),
        konst!(Both, SNDRV_PCM_ACCESS_RW_INTERLEAVED),
        konst!(Both, SNDRV_PCM_ACCESS_RW_NONINTERLEAVED),
        konst!(Both, SNDRV_PCM_FORMAT_S8),
        konst!(Both, SNDRV_PCM_FORMAT_U8),
        konst!(Both, SNDRV_PCM_FORMAT_S16_LE),
        konst!(Both, SNDRV_PCM_FORMAT_S24_LE),
        konst!(Both, SNDRV_PCM_FORMAT_S32_LE),
        konst!(Both, SNDRV_PCM_FORMAT_FLOAT_LE),
        konst!(Both, SNDRV_PCM_FORMAT_FLOAT64_LE),
        konst!(Both, SNDRV_PCM_FORMAT_S24_3LE),
        konst!(Both, SNDRV_PCM_FORMAT_LAST),
        konst!(Both, SNDRV_PCM_SUBFORMAT_STD),
        konst!(Both, SNDRV_PCM_INFO_MMAP),
        konst!(Both, SNDRV_PCM_INFO_MMAP_VALID),
        konst!(Both, SNDRV_PCM_INFO_DOUBLE),
        konst!(Both, SNDRV_PCM_INFO_BATCH),
        konst!(Both, SNDRV_PCM_INFO_SYNC_APPLPTR),
        konst!(Both, SNDRV_PCM_INFO_INTERLEAVED),
        konst!(Both, SNDRV_PCM_INFO_NONINTERLEAVED),
        konst!(Both, SNDRV_PCM_INFO_COMPLEX),
        konst!(Both, SNDRV_PCM_INFO_BLOCK_TRANSFER),
        konst!(Both, SNDRV_PCM_INFO_OVERRANGE),
        konst!(Both, SNDRV_PCM_INFO_RESUME),
        konst!(Both, SNDRV_PCM_INFO_PAUSE),
        konst!(Both, SNDRV_PCM_INFO_HALF_DUPLEX),
        konst!(Both, SNDRV_PCM_INFO_JOINT_DUPLEX),
        konst!(Both, SNDRV_PCM_INFO_SYNC_START),
        konst!(Both, SNDRV_PCM_INFO_NO_PERIOD_WAKEUP),
        konst!(Both, SNDRV_PCM_INFO_HAS_LINK_ATIME),
        konst!(Both, SNDRV_PCM_INFO_HAS_LINK_ABSOLUTE_ATIME),
        konst!(Both, SNDRV_PCM_INFO_HAS_LINK_ESTIMATED_ATIME),
        konst!(Both, SNDRV_PCM_INFO_HAS_LINK_SYNCHRONIZED_ATIME),
        konst!(Both, SNDRV_PCM_INFO_EXPLICIT_SYNC),
        konst!(Both, SNDRV_PCM_INFO_NO_REWINDS),
        konst!(Both, SNDRV_PCM_STATE_OPEN),
        konst!(Both, SNDRV_PCM_STATE_SETUP),
        konst!(Both, SNDRV_PCM_STATE_PREPARED),
        konst!(Both, SNDRV_PCM_STATE_RUNNING),
        konst!(Both, SNDRV_PCM_STATE_XRUN),
        konst!(Both, SNDRV_PCM_STATE_DRAINING),
        konst!(Both, SNDRV_PCM_STATE_PAUSED),
        konst!(Both, SNDRV_PCM_STATE_SUSPENDED),
        konst!(Both, SNDRV_PCM_STATE_DISCONNECTED),
        konst!(Both, SNDRV_PCM_HW_PARAM_ACCESS),
        konst!(Both, SNDRV_PCM_HW_PARAM_FORMAT),
        konst!(Both, SNDRV_PCM_HW_PARAM_SUBFORMAT),
        konst!(Both, SNDRV_PCM_HW_PARAM_FIRST_MASK),
        konst!(Both, SNDRV_PCM_HW_PARAM_LAST_MASK),
        konst!(Both, SNDRV_PCM_HW_PARAM_SAMPLE_BITS),
        konst!(Both, SNDRV_PCM_HW_PARAM_FRAME_BITS),
        konst!(Both, SNDRV_PCM_HW_PARAM_CHANNELS),
        konst!(Both, SNDRV_PCM_HW_PARAM_RATE),
        konst!(Both, SNDRV_PCM_HW_PARAM_PERIOD_TIME),
        konst!(Both, SNDRV_PCM_HW_PARAM_PERIOD_SIZE),
        konst!(Both, SNDRV_PCM_HW_PARAM_PERIOD_BYTES),
        konst!(Both, SNDRV_PCM_HW_PARAM_PERIODS),
        konst!(Both, SNDRV_PCM_HW_PARAM_BUFFER_TIME),
        konst!(Both, SNDRV_PCM_HW_PARAM_BUFFER_SIZE),
        konst!(Both, SNDRV_PCM_HW_PARAM_BUFFER_BYTES),
        konst!(Both, SNDRV_PCM_HW_PARAM_TICK_TIME),
        konst!(Both, SNDRV_PCM_HW_PARAM_FIRST_INTERVAL),
        konst!(Both, SNDRV_PCM_HW_PARAM_LAST_INTERVAL),
        konst!(Both, SNDRV_PCM_HW_PARAMS_NORESAMPLE),
        konst!(Both, SNDRV_PCM_HW_PARAMS_EXPORT_BUFFER),
        konst!(Both, SNDRV_PCM_HW_PARAMS_NO_PERIOD_WAKEUP),
        konst!(Both, SNDRV_PCM_TSTAMP_NONE),
        konst!(Both, SNDRV_PCM_TSTAMP_ENABLE),
        konst!(Both, SNDRV_PCM_TSTAMP_TYPE_GETTIMEOFDAY),
        konst!(Both, SNDRV_PCM_TSTAMP_TYPE_MONOTONIC),
        konst!(Both, SNDRV_PCM_TSTAMP_TYPE_MONOTONIC_RAW),
        konst!(Both, SNDRV_PCM_SYNC_PTR_HWSYNC),
        konst!(Both, SNDRV_PCM_SYNC_PTR_APPL),
        konst!(Both, SNDRV_PCM_SYNC_PTR_AVAIL_MIN),
        konst!(Both, SNDRV_PCM_AUDIO_TSTAMP_TYPE_COMPAT),
        konst!(Both, SNDRV_PCM_AUDIO_TSTAMP_TYPE_DEFAULT),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_unique_expressions_per_mode() {
        let t = layout_table();
        for (i, a) in t.iter().enumerate() {
            for b in &t[i + 1..] {
                assert!(
                    !(a.c_expr == b.c_expr && a.mode == b.mode),
                    "duplicate entry {}",
                    a.c_expr
                );
            }
        }
    }

    #[test]
    fn ioc_encoding_matches_known_numbers() {
        // Values from strace on x86_64.
        assert_eq!(SNDRV_PCM_IOCTL_PVERSION, 0x8004_4100);
        assert_eq!(SNDRV_PCM_IOCTL_INFO, 0x8120_4101);
        assert_eq!(SNDRV_PCM_IOCTL_HWSYNC, 0x4122);
        assert_eq!(SNDRV_CTL_IOCTL_PCM_PREFER_SUBDEVICE, 0x4004_5532);
    }
}
