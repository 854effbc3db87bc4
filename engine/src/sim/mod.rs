//! The simulated device: a memfd ring and status page in the kernel's
//! layout, and a "DAC" thread that plays the ring at the nominal rate.
//!
//! For machines with no sound card and for fast tests. [`SimDac::start`]
//! creates
//!
//! * a data memfd holding the ring (`buffer_size` frames, interleaved, in
//!   the layout's format);
//! * a status memfd laid out like the kernel's time64 mmap status page
//!   (`state`, `hw_ptr` wrapping at `boundary`, `tstamp`, `audio_tstamp`;
//!   see `page`), plus a sim control block where the writer publishes
//!   its cursor;
//! * optionally a wake-up pipe the DAC signals at each period boundary;
//!   its read end is the device's [`crate::Device::poll_fd`] (period
//!   wake-ups; it only ever polls readable, never writable, so a poll for
//!   IN|OUT as on a playback PCM fd works);
//! * the DAC thread. Every step (a whole period in [`DacMode::Periods`],
//!   the device is then "batch"; a few frames in [`DacMode::Continuous`])
//!   at its scheduled time it plays `[hw_ptr, hw_ptr + step)`: records the
//!   frames (if asked), zeroes them (so a stalled writer gives silence, as
//!   with the kernel's silence_size = boundary), then advances `hw_ptr`
//!   and stamps it with the step's scheduled CLOCK_MONOTONIC time. A late
//!   DAC catches up one step at a time.
//!
//! **Underruns**, counted the way the engine counts xruns (frames the
//! hardware consumed that the writer had not written; see
//! [`crate::engine`]): [`crate::Device::commit`] on a [`SimDevice`]
//! publishes the writer's cursor (like `appl_ptr`; the engine commits
//! after every block on this device), and
//! [`crate::Device::mark_unwritten`] the frames the writer skipped when it
//! re-anchored after an xrun. A played frame counts as an underrun when it
//! is not within one buffer before the published cursor, or lies in the
//! skipped range. So the DAC's `underrun_frames` equals the engine's
//! `xrun_frames` on the same run (a test induces starvation and compares).
//! Frames played while no writer holds the device are idle, not
//! underruns: before the first commit, and after the writer left
//! (dropping its [`SimDevice`], or [`SimDac::release_writer`], which a
//! broker calls at the end of each lease).
//!
//! **Input**: [`SimAdc`] is the input side, an "ADC" thread that fills
//! the ring from a [`SimSource`] (a WAV file, a frame counter, any
//! closure) just below the `hw_ptr` it publishes; see `adc.rs`.
//!
//! The fds can be sent to another process (`SimDac::share`, then
//! `SimDevice::attach` there with the same `SimLayout`), the way a broker
//! hands out a restricted PCM fd: the broker's sim source does; the
//! plumbing is public with the `testing` feature.
//!
//! ```
//! use pcmring::sim::{SimConfig, SimDac};
//! use pcmring::{Device, Format, StreamLayout};
//!
//! let layout = StreamLayout {
//!     format: Format::S16Le,
//!     channels: 2,
//!     rate: 48_000,
//!     period_size: 240,
//!     buffer_size: 960,
//!     boundary: 960 << 20,
//! };
//! let mut config = SimConfig::new(layout);
//! config.record_frames = 48_000;
//! let dac = SimDac::start(config)?;
//! let mut dev = dac.device()?;
//! let first = dev.position()?.hw_ptr;
//! std::thread::sleep(std::time::Duration::from_millis(30));
//! assert!(dev.position()?.hw_ptr > first);
//! let report = dac.stop()?;
//! assert!(report.recording.frames() >= 240);
//! # Ok::<(), pcmring::Error>(())
//! ```

mod adc;
mod config;
mod dac;
mod device;
pub(crate) mod page;
mod record;
mod seal;
mod setup;
mod source;

pub use adc::SimAdc;
pub use config::{DacMode, PageUpdates, SimConfig};
// Sharing a sim with another process (the broker's sim source, the
// tests): the plumbing is public with `testing`.
testing_use!(config::{SimFds, SimLayout});
pub use dac::{SimDac, SimReport, SimStats};
pub use device::SimDevice;
pub use record::Recording;
pub use source::{SimSource, WavSource};
testing_use!(source::FrameCounter);
