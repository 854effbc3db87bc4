//! The simulated device's settings, layout and fds.

use crate::layout::StreamLayout;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// How the DAC advances `hw_ptr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DacMode {
    /// In whole periods, like a batch device (the default).
    Periods,
    /// In steps of `step` frames (clamped to 1..=period), like a device
    /// with a fine-grained position register.
    Continuous {
        /// Frames per DAC step.
        step: u64,
    },
}

/// Settings for [`SimDac::start`](super::SimDac::start).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Stream geometry.
    pub layout: StreamLayout,
    /// Step size of the DAC.
    pub mode: DacMode,
    /// Initial raw `hw_ptr` (e.g. `boundary - N` to test the wrap).
    pub start_hw_ptr: u64,
    /// DAC clock error in parts per million (positive: plays fast).
    pub drift_ppm: f64,
    /// Frames to record (memory is allocated up front); 0: no recording.
    pub record_frames: usize,
    /// Write the recording to this WAV file on stop.
    pub wav: Option<PathBuf>,
    /// Create the period wake-up pipe.
    pub wake_fd: bool,
    /// Stamp `hw_ptr` updates (false: tstamp 0, like a device without).
    pub timestamps: bool,
    /// Try SCHED_FIFO at this priority for the DAC thread (silently stays
    /// normal when not permitted; see [`SimStats::realtime`](super::SimStats::realtime)).
    pub dac_priority: Option<i32>,
}

impl SimConfig {
    /// Defaults: period steps, start at 0, no drift, no recording, a
    /// wake-up pipe, timestamps on, DAC at SCHED_FIFO 85 when permitted.
    pub fn new(layout: StreamLayout) -> Self {
        Self {
            layout,
            mode: DacMode::Periods,
            start_hw_ptr: 0,
            drift_ppm: 0.0,
            record_frames: 0,
            wav: None,
            wake_fd: true,
            timestamps: true,
            dac_priority: Some(85),
        }
    }
}

/// The layout a client needs with the fds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimLayout {
    /// Stream geometry.
    pub stream: StreamLayout,
    /// Whether the position moves in whole periods.
    pub batch: bool,
}

/// The fds of a simulated device.
#[derive(Debug)]
pub struct SimFds {
    /// The ring memfd (read-write).
    pub data: OwnedFd,
    /// The status page memfd.
    pub status: OwnedFd,
    /// The read end of the period wake-up pipe, if any.
    pub wake: Option<OwnedFd>,
}
