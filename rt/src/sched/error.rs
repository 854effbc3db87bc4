//! [`RtError`]: why a realtime setup step failed, with the fix in the message.

use std::fmt;
use std::io;

/// How to let a user run realtime threads; appended to permission errors.
const GRANT_RTPRIO: &str = "to allow it, either (a) give the user a realtime \
limit: add `@audio - rtprio 95` to /etc/security/limits.d/audio.conf, put the \
user in the `audio` group and log in again (or set LimitRTPRIO=95 in a systemd \
unit); (b) grant the binary CAP_SYS_NICE: `setcap cap_sys_nice+ep <binary>`; or \
(c) have the thread made realtime by rtkit over D-Bus (pcmring does not ask \
rtkit itself)";

/// How to let a user lock memory; appended to mlock errors.
const GRANT_MEMLOCK: &str = "to allow it, raise the locked-memory limit: add \
`@audio - memlock unlimited` to /etc/security/limits.d/audio.conf and log in \
again (`ulimit -l` shows the limit; LimitMEMLOCK=infinity in a systemd unit), or \
grant the binary CAP_IPC_LOCK: `setcap cap_ipc_lock+ep <binary>`";

/// A realtime setup step that failed. Every variant leaves the thread as it
/// was, so the caller can log the error and carry on at normal priority.
///
/// The `Display` text says what was refused, why (the relevant limit), and
/// how to grant it.
///
/// ```
/// use pcmring_rt::sched::RtError;
/// let e = RtError::FifoNotPermitted { priority: 80, rtprio_limit: Some(0) };
/// let msg = e.to_string();
/// assert!(e.is_not_permitted());
/// assert!(msg.contains("RLIMIT_RTPRIO"));
/// assert!(msg.contains("CAP_SYS_NICE"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RtError {
    /// `SCHED_FIFO` was refused with `EPERM`: the process has no
    /// `CAP_SYS_NICE` and `RLIMIT_RTPRIO` is below `priority` (or a cgroup
    /// gives the thread no realtime budget).
    FifoNotPermitted {
        /// The priority that was asked for.
        priority: i32,
        /// The soft `RLIMIT_RTPRIO` at the time (`None`: unlimited or unknown).
        rtprio_limit: Option<u64>,
    },
    /// The priority is outside the policy's range (1..=99 for `SCHED_FIFO`).
    InvalidPriority {
        /// The priority that was asked for.
        priority: i32,
        /// Lowest valid priority.
        min: i32,
        /// Highest valid priority.
        max: i32,
    },
    /// `mlockall` was refused with `EPERM`: no `CAP_IPC_LOCK` and a
    /// `RLIMIT_MEMLOCK` of 0.
    LockNotPermitted {
        /// The soft `RLIMIT_MEMLOCK` in bytes (`None`: unlimited or unknown).
        limit_bytes: Option<u64>,
    },
    /// `mlockall` failed with `ENOMEM`: the process maps more memory than
    /// `RLIMIT_MEMLOCK` allows (or the system is out of memory).
    LockLimitExceeded {
        /// The soft `RLIMIT_MEMLOCK` in bytes (`None`: unlimited or unknown).
        limit_bytes: Option<u64>,
    },
    /// The CPU set for affinity is empty, names a CPU beyond the kernel's
    /// set size, or contains no CPU the thread may run on.
    InvalidCpuSet {
        /// The CPUs that were asked for.
        cpus: Vec<usize>,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// Any other system call failure.
    Os {
        /// The operation, e.g. `"sched_setscheduler"`.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl RtError {
    /// Whether the failure is a missing privilege or limit (the fix is
    /// configuration, and running without the feature is a valid fallback).
    pub fn is_not_permitted(&self) -> bool {
        matches!(
            self,
            RtError::FifoNotPermitted { .. }
                | RtError::LockNotPermitted { .. }
                | RtError::LockLimitExceeded { .. }
        ) || matches!(self, RtError::Os { source, .. } if source.raw_os_error() == Some(libc::EPERM))
    }

    /// The underlying errno, where there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RtError::FifoNotPermitted { .. } | RtError::LockNotPermitted { .. } => {
                Some(libc::EPERM)
            }
            RtError::LockLimitExceeded { .. } => Some(libc::ENOMEM),
            RtError::InvalidPriority { .. } | RtError::InvalidCpuSet { .. } => Some(libc::EINVAL),
            RtError::Os { source, .. } => source.raw_os_error(),
        }
    }

    /// Maps a failed `sched_setscheduler(SCHED_FIFO)` errno to an error.
    pub(crate) fn from_fifo_errno(errno: i32, priority: i32, rtprio_limit: Option<u64>) -> RtError {
        match errno {
            libc::EPERM => RtError::FifoNotPermitted {
                priority,
                rtprio_limit,
            },
            libc::EINVAL => RtError::InvalidPriority {
                priority,
                min: 1,
                max: 99,
            },
            e => RtError::Os {
                op: "sched_setscheduler(SCHED_FIFO)",
                source: io::Error::from_raw_os_error(e),
            },
        }
    }

    /// Maps a failed `mlockall` errno to an error.
    pub(crate) fn from_mlock_errno(errno: i32, limit_bytes: Option<u64>) -> RtError {
        match errno {
            libc::EPERM => RtError::LockNotPermitted { limit_bytes },
            libc::ENOMEM => RtError::LockLimitExceeded { limit_bytes },
            e => RtError::Os {
                op: "mlockall",
                source: io::Error::from_raw_os_error(e),
            },
        }
    }
}

/// Formats an optional limit: a number or "unlimited".
struct Limit(Option<u64>);

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("unlimited"),
        }
    }
}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtError::FifoNotPermitted {
                priority,
                rtprio_limit,
            } => {
                write!(
                    f,
                    "realtime scheduling (SCHED_FIFO priority {priority}) not permitted (EPERM): "
                )?;
                match rtprio_limit {
                    Some(lim) if *lim < *priority as u64 => write!(
                        f,
                        "RLIMIT_RTPRIO is {lim} and the process lacks CAP_SYS_NICE"
                    )?,
                    _ => write!(
                        f,
                        "RLIMIT_RTPRIO is {}, so the refusal likely comes from the \
                         cgroup's realtime budget (cpu.rt_runtime_us = 0) or a \
                         container without CAP_SYS_NICE",
                        Limit(*rtprio_limit)
                    )?,
                }
                write!(
                    f,
                    "; continuing at normal priority (expect late wake-ups under load); {GRANT_RTPRIO}"
                )
            }
            RtError::InvalidPriority { priority, min, max } => write!(
                f,
                "realtime priority {priority} is out of range ({min}..={max} for SCHED_FIFO)"
            ),
            RtError::LockNotPermitted { limit_bytes } => write!(
                f,
                "locking memory (mlockall) not permitted (EPERM): RLIMIT_MEMLOCK is {} bytes \
                 and the process lacks CAP_IPC_LOCK; pages may be swapped out or faulted in \
                 late; {GRANT_MEMLOCK}",
                Limit(*limit_bytes)
            ),
            RtError::LockLimitExceeded { limit_bytes } => write!(
                f,
                "locking memory (mlockall) failed (ENOMEM): the process maps more than \
                 RLIMIT_MEMLOCK ({} bytes) allows, or memory is short; {GRANT_MEMLOCK}",
                Limit(*limit_bytes)
            ),
            RtError::InvalidCpuSet { cpus, reason } => {
                write!(f, "invalid CPU set {cpus:?} for affinity: {reason}")
            }
            RtError::Os { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for RtError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RtError::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_eperm_maps_to_not_permitted_with_hint() {
        let e = RtError::from_fifo_errno(libc::EPERM, 80, Some(0));
        assert!(matches!(
            e,
            RtError::FifoNotPermitted {
                priority: 80,
                rtprio_limit: Some(0)
            }
        ));
        assert!(e.is_not_permitted());
        assert_eq!(e.errno(), Some(libc::EPERM));
        let msg = e.to_string();
        for needle in [
            "SCHED_FIFO priority 80",
            "RLIMIT_RTPRIO is 0",
            "CAP_SYS_NICE",
            "rtprio",
            "rtkit",
            "normal priority",
        ] {
            assert!(msg.contains(needle), "{needle:?} missing from {msg:?}");
        }
    }

    #[test]
    fn fifo_eperm_with_enough_rtprio_blames_cgroup() {
        let msg = RtError::from_fifo_errno(libc::EPERM, 10, Some(95)).to_string();
        assert!(msg.contains("cgroup"), "{msg}");
        let msg = RtError::from_fifo_errno(libc::EPERM, 10, None).to_string();
        assert!(msg.contains("RLIMIT_RTPRIO is unlimited"), "{msg}");
    }

    #[test]
    fn other_fifo_errnos() {
        assert!(matches!(
            RtError::from_fifo_errno(libc::EINVAL, 200, None),
            RtError::InvalidPriority { priority: 200, .. }
        ));
        let e = RtError::from_fifo_errno(libc::ESRCH, 1, None);
        assert!(!e.is_not_permitted());
        assert_eq!(e.errno(), Some(libc::ESRCH));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn mlock_errnos() {
        let e = RtError::from_mlock_errno(libc::EPERM, Some(0));
        assert!(matches!(
            e,
            RtError::LockNotPermitted {
                limit_bytes: Some(0)
            }
        ));
        assert!(e.is_not_permitted());
        let msg = e.to_string();
        assert!(
            msg.contains("CAP_IPC_LOCK") && msg.contains("memlock"),
            "{msg}"
        );
        let e = RtError::from_mlock_errno(libc::ENOMEM, Some(65536));
        assert!(matches!(e, RtError::LockLimitExceeded { .. }));
        assert!(e.to_string().contains("65536 bytes"));
        assert!(matches!(
            RtError::from_mlock_errno(libc::EAGAIN, None),
            RtError::Os { op: "mlockall", .. }
        ));
    }
}
