//! The engine's error type: every failure names the device and the step.

use crate::client::error::LeaseError;
use std::io;

/// What the engine was doing when a system call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the device node.
    Open,
    /// Querying device information.
    Info,
    /// Refining hardware parameters.
    HwRefine,
    /// Installing hardware parameters.
    HwParams,
    /// Installing software parameters.
    SwParams,
    /// Telling the kernel our protocol version.
    UserVersion,
    /// Mapping the status page.
    MapStatus,
    /// Mapping the control page.
    MapControl,
    /// Mapping the data ring.
    MapRing,
    /// Preparing the stream.
    Prepare,
    /// Starting the stream.
    Start,
    /// Stopping the stream.
    Drop,
    /// Reading or syncing the position.
    Position,
    /// Creating a restricted fd.
    Dup,
    /// Waiting for a wake-up.
    Wait,
    /// Creating the simulated device.
    Simulate,
}

impl Step {
    /// A short human description of the step.
    pub const fn describe(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Info => "query info",
            Step::HwRefine => "refine hardware parameters",
            Step::HwParams => "set hardware parameters",
            Step::SwParams => "set software parameters",
            Step::UserVersion => "send protocol version",
            Step::MapStatus => "map status page",
            Step::MapControl => "map control page",
            Step::MapRing => "map data ring",
            Step::Prepare => "prepare",
            Step::Start => "start",
            Step::Drop => "stop",
            Step::Position => "read position",
            Step::Dup => "create restricted fd",
            Step::Wait => "wait for wake-up",
            Step::Simulate => "create simulated device",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Every error the engine reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The device is open elsewhere (EBUSY).
    Busy {
        /// Device name, e.g. `hw:0,0`.
        device: String,
    },
    /// No such card or device (ENOENT/ENODEV/ENXIO on open).
    NoSuchDevice {
        /// Device name as given.
        device: String,
    },
    /// A device name that does not parse.
    BadDeviceName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The device cannot do what was asked (format, rate, channels...).
    Unsupported {
        /// Device name.
        device: String,
        /// What was asked, in words.
        what: String,
    },
    /// The stream is in a state the operation cannot handle.
    BadState {
        /// Device name.
        device: String,
        /// The state found, in words.
        state: String,
    },
    /// A system call failed.
    Sys {
        /// Device name.
        device: String,
        /// The step that failed.
        step: Step,
        /// The OS error.
        source: io::Error,
    },
    /// Getting or keeping a lease from a broker failed.
    Lease(Box<LeaseError>),
    /// Another engine in this process already drives this device's ring
    /// (two writers would corrupt each other's output).
    EngineRunning {
        /// Device name.
        device: String,
    },
}

impl Error {
    /// Builds the error for a failed system call, classifying the errno
    /// into the typed variants where a user can act on it.
    pub fn sys(device: &str, step: Step, source: io::Error) -> Error {
        match (step, source.raw_os_error()) {
            (Step::Open, Some(libc::EBUSY)) => Error::Busy {
                device: device.to_owned(),
            },
            (Step::Open, Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)) => Error::NoSuchDevice {
                device: device.to_owned(),
            },
            _ => Error::Sys {
                device: device.to_owned(),
                step,
                source,
            },
        }
    }

    /// The last OS error, classified like [`Error::sys`].
    pub fn last_os(device: &str, step: Step) -> Error {
        Error::sys(device, step, io::Error::last_os_error())
    }

    /// The errno behind this error, if a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Sys { source, .. } => source.raw_os_error(),
            Error::Busy { .. } => Some(libc::EBUSY),
            _ => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Busy { device } => write!(
                f,
                "{device}: device is busy: it is held by another program \
                 (a sound server such as PipeWire or PulseAudio?)"
            ),
            Error::NoSuchDevice { device } => {
                write!(f, "{device}: no such card or device")
            }
            Error::BadDeviceName { name, reason } => {
                write!(f, "bad device name {name:?}: {reason}")
            }
            Error::Unsupported { device, what } => write!(f, "{device}: unsupported: {what}"),
            Error::BadState { device, state } => write!(f, "{device}: stream is {state}"),
            Error::Sys {
                device,
                step,
                source,
            } => write!(f, "{device}: {step} failed: {source}"),
            Error::Lease(e) => write!(f, "{e}"),
            Error::EngineRunning { device } => write!(
                f,
                "{device}: another engine in this process already plays on this device; \
                 stop it (Engine::stop) before starting a new one, or mix into it"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sys { source, .. } => Some(source),
            Error::Lease(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// A device failure on the realtime path ([`crate::Device::position`],
/// [`crate::Device::commit`]): `Copy`, built and dropped without allocating.
/// [`DeviceError::into_error`] names the device off the realtime path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// A system call failed.
    Sys {
        /// The step that failed.
        step: Step,
        /// The errno.
        errno: i32,
    },
    /// The device's fd was closed (see `Pcm::close`).
    Closed,
    /// The kernel reported a stream state number ALSA does not define.
    UnknownState(i32),
    /// The broker that leased the device went away.
    BrokerGone,
}

impl DeviceError {
    /// The failed system call's error, from an `io::Error` (no allocation:
    /// only the errno is kept).
    pub fn sys(step: Step, e: &io::Error) -> DeviceError {
        DeviceError::Sys {
            step,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    /// The full [`Error`], naming `device` (allocates: call it off the
    /// realtime path).
    pub fn into_error(self, device: &str) -> Error {
        match self {
            DeviceError::Sys { step, errno } => {
                Error::sys(device, step, io::Error::from_raw_os_error(errno))
            }
            DeviceError::Closed => Error::BadState {
                device: device.to_owned(),
                state: "closed".to_owned(),
            },
            DeviceError::UnknownState(n) => Error::BadState {
                device: device.to_owned(),
                state: format!("unknown state {n}"),
            },
            DeviceError::BrokerGone => {
                Error::Lease(Box::new(LeaseError::BrokerGone { during: "playing" }))
            }
        }
    }
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceError::Sys { step, errno } => {
                write!(f, "{step} failed: {}", io::Error::from_raw_os_error(*errno))
            }
            DeviceError::Closed => f.write_str("the device is closed"),
            DeviceError::UnknownState(n) => write!(f, "unknown stream state {n}"),
            DeviceError::BrokerGone => f.write_str(
                "the broker closed the connection (it exited or was killed); playback stopped",
            ),
        }
    }
}

impl std::error::Error for DeviceError {}

impl From<DeviceError> for Error {
    /// Names the device generically; the engine names it with
    /// [`DeviceError::into_error`].
    fn from(e: DeviceError) -> Error {
        e.into_error("device")
    }
}

impl From<LeaseError> for Error {
    fn from(e: LeaseError) -> Self {
        Error::Lease(Box::new(e))
    }
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebusy_on_open_names_the_culprit() {
        let e = Error::sys(
            "hw:0,0",
            Step::Open,
            io::Error::from_raw_os_error(libc::EBUSY),
        );
        assert!(matches!(e, Error::Busy { .. }));
        assert!(e.to_string().contains("another program"), "{e}");
    }

    #[test]
    fn enoent_on_open_is_no_such_device() {
        let e = Error::sys(
            "hw:9,0",
            Step::Open,
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert!(matches!(e, Error::NoSuchDevice { .. }));
        assert!(e.to_string().contains("hw:9,0"), "{e}");
    }

    #[test]
    fn other_errors_keep_step_and_errno() {
        let e = Error::sys(
            "hw:0,0",
            Step::HwParams,
            io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        assert!(e.to_string().contains("set hardware parameters"), "{e}");
    }
}
