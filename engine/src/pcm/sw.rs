//! Software parameters: thresholds, wake-ups and timestamps.

use crate::sys::abi::*;
use crate::sys::ioctl::ioctl_arg;
use std::io;
use std::os::fd::BorrowedFd;

/// What happens when the application falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XrunMode {
    /// Never stop (stop_threshold = boundary); the kernel zeroes what was
    /// played (silence_threshold = 0, silence_size = boundary), so a stalled
    /// writer gives silence, not a looping ring. What a buffer-mode client
    /// needs.
    #[default]
    FreeRunning,
    /// Classic ALSA: stop with an xrun when the ring runs empty (playback)
    /// or full (capture): stop_threshold = buffer_size, no silence filling.
    StopOnXrun,
}

/// Software parameters to install after the hardware ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwConfig {
    /// Xrun behaviour.
    pub xrun: XrunMode,
    /// Frames queued at which the kernel starts the stream by itself;
    /// `None`: never (the engine calls START), i.e. `boundary`.
    pub start_threshold: Option<u64>,
    /// Frames available before poll wakes up; `None`: one period.
    pub avail_min: Option<u64>,
    /// Disable timestamps (tstamp_mode NONE). By default every pointer
    /// update is stamped with CLOCK_MONOTONIC.
    pub no_timestamps: bool,
}

/// What the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwGranted {
    /// Where hw_ptr and appl_ptr wrap.
    pub boundary: u64,
    /// Installed start threshold.
    pub start_threshold: u64,
    /// Installed stop threshold.
    pub stop_threshold: u64,
    /// Installed silence size.
    pub silence_size: u64,
    /// Installed avail_min.
    pub avail_min: u64,
    /// Whether timestamps are on (MONOTONIC).
    pub timestamps: bool,
}

fn frames(v: u64) -> Uframes {
    Uframes::try_from(v).unwrap_or(Uframes::MAX)
}

fn install(fd: BorrowedFd<'_>, sw: &mut SndPcmSwParams) -> io::Result<()> {
    // SAFETY: SW_PARAMS transfers a `snd_pcm_sw_params`, which
    // SndPcmSwParams mirrors (checked by tests/abi_layout.rs).
    unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_SW_PARAMS, sw)? };
    Ok(())
}

/// Installs `cfg` for a stream of `buffer_size`/`period_size` frames.
///
/// The boundary is only known from the kernel's reply, so this makes two
/// SW_PARAMS calls: a plain one that reads the boundary back, then the
/// real one.
pub fn apply(
    fd: BorrowedFd<'_>,
    cfg: &SwConfig,
    buffer_size: u64,
    period_size: u64,
) -> io::Result<SwGranted> {
    let mut sw = SndPcmSwParams::zeroed();
    sw.proto = SNDRV_PCM_VERSION;
    sw.tstamp_mode = SNDRV_PCM_TSTAMP_NONE;
    sw.avail_min = frames(period_size.max(1));
    sw.start_threshold = frames(buffer_size);
    sw.stop_threshold = frames(buffer_size);
    install(fd, &mut sw)?;
    let boundary = uframes(sw.boundary);

    let mut sw = SndPcmSwParams::zeroed();
    sw.proto = SNDRV_PCM_VERSION;
    if cfg.no_timestamps {
        sw.tstamp_mode = SNDRV_PCM_TSTAMP_NONE;
    } else {
        sw.tstamp_mode = SNDRV_PCM_TSTAMP_ENABLE;
        sw.tstamp_type = SNDRV_PCM_TSTAMP_TYPE_MONOTONIC;
    }
    sw.period_step = 1;
    sw.avail_min = frames(cfg.avail_min.unwrap_or(period_size).max(1));
    sw.start_threshold = frames(cfg.start_threshold.unwrap_or(boundary));
    match cfg.xrun {
        XrunMode::FreeRunning => {
            sw.stop_threshold = frames(boundary);
            sw.silence_threshold = 0;
            sw.silence_size = frames(boundary);
        }
        XrunMode::StopOnXrun => {
            sw.stop_threshold = frames(buffer_size);
            sw.silence_threshold = 0;
            sw.silence_size = 0;
        }
    }
    install(fd, &mut sw)?;
    if !cfg.no_timestamps {
        let mut ty: i32 = SNDRV_PCM_TSTAMP_TYPE_MONOTONIC as i32;
        // SAFETY: TTSTAMP reads one int.
        match unsafe { ioctl_arg(fd, SNDRV_PCM_IOCTL_TTSTAMP, &mut ty) } {
            Ok(_) => {}
            // Kernels before 2.0.12 have no TTSTAMP; sw_params set it.
            Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(SwGranted {
        boundary: uframes(sw.boundary),
        start_threshold: uframes(sw.start_threshold),
        stop_threshold: uframes(sw.stop_threshold),
        silence_size: uframes(sw.silence_size),
        avail_min: uframes(sw.avail_min),
        timestamps: !cfg.no_timestamps,
    })
}
