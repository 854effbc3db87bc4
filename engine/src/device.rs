//! What every device gives the writer: a mapped ring, its layout, and the
//! hardware position. Implemented by the full [`crate::Pcm`], the
//! restricted buffer-mode PCM and the simulated device.

use crate::layout::StreamLayout;
use crate::ring::RingView;
use crate::Result;
use std::os::fd::BorrowedFd;

/// Stream state, with the values of ALSA's `SNDRV_PCM_STATE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum PcmState {
    /// Opened, not configured.
    Open = 0,
    /// Configured (hw_params done), stopped.
    Setup = 1,
    /// Prepared, ready to start.
    Prepared = 2,
    /// Running.
    Running = 3,
    /// Stopped by an underrun or overrun.
    Xrun = 4,
    /// Draining.
    Draining = 5,
    /// Paused.
    Paused = 6,
    /// Suspended by power management.
    Suspended = 7,
    /// The device went away.
    Disconnected = 8,
}

impl PcmState {
    /// The state for an ALSA state number; unknown numbers map to `None`.
    pub const fn from_raw(n: i32) -> Option<PcmState> {
        Some(match n {
            0 => PcmState::Open,
            1 => PcmState::Setup,
            2 => PcmState::Prepared,
            3 => PcmState::Running,
            4 => PcmState::Xrun,
            5 => PcmState::Draining,
            6 => PcmState::Paused,
            7 => PcmState::Suspended,
            8 => PcmState::Disconnected,
            _ => return None,
        })
    }
}

/// One consistent reading of the hardware position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwPosition {
    /// Stream state at the time of the reading.
    pub state: PcmState,
    /// The hardware pointer as the kernel keeps it: frames, wrapping at
    /// [`StreamLayout::boundary`].
    pub hw_ptr: u64,
    /// CLOCK_MONOTONIC time of the last `hw_ptr` update, in nanoseconds
    /// (0 if the device does not timestamp).
    pub tstamp_ns: u64,
    /// The driver's audio timestamp in nanoseconds (0 if not provided).
    pub audio_tstamp_ns: u64,
}

/// How a device delivers its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSource {
    /// The kernel's status page, mapped read-only.
    StatusPage,
    /// The SYNC_PTR ioctl (full fd, status page not mappable).
    SyncPtrIoctl,
    /// The anondup module's POSITION ioctl (restricted fd).
    PositionIoctl,
    /// The simulated device's shared status page.
    Simulated,
}

/// A playback or capture ring the engine can write (or read) directly.
///
/// All methods are realtime-safe after construction: no allocation, no
/// locks; `position` may make one non-blocking ioctl.
pub trait Device: Send {
    /// Geometry of the stream.
    fn layout(&self) -> StreamLayout;
    /// The mapped data ring.
    fn ring(&self) -> &RingView;
    /// Refreshes and reads the hardware position.
    fn position(&mut self) -> Result<HwPosition>;
    /// Where [`Device::position`] comes from.
    fn position_source(&self) -> PositionSource;
    /// The fd to poll for period wake-ups, if the device has one.
    fn poll_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Whether the position only moves in whole periods (batch devices).
    fn is_batch(&self) -> bool {
        false
    }
    /// Tells the device how far the application has written (64-bit
    /// frames). Free-running and restricted devices ignore it.
    fn commit(&mut self, _appl_frames: u64) -> Result<()> {
        Ok(())
    }
}
