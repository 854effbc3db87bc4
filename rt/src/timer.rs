//! Monotonic time, absolute-deadline sleeping and a typed `poll` on one fd.
//!
//! Everything here is allocation-free and safe to call from a realtime
//! thread. Times are nanoseconds on `CLOCK_MONOTONIC` as a `u64` (the clock
//! starts near boot, so `u64` nanoseconds last for centuries).
//!
//! ```
//! use pcmring_rt::timer::{now_ns, sleep_until_ns};
//!
//! let period = 1_000_000; // 1 ms
//! let mut deadline = now_ns() + period;
//! for _ in 0..3 {
//!     sleep_until_ns(deadline);
//!     assert!(now_ns() >= deadline);
//!     deadline += period;
//! }
//! ```

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, clock_nanosleep, ClockId, ClockNanosleepFlags};
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

const NS_PER_SEC: u64 = 1_000_000_000;

/// The current `CLOCK_MONOTONIC` time in nanoseconds.
///
/// This is the clock ALSA uses for `tstamp` when the stream's timestamp
/// type is MONOTONIC, so positions and wake-ups can be compared directly.
pub fn now_ns() -> u64 {
    // CLOCK_MONOTONIC always exists on Linux and the out-pointer is nix's
    // own, so the call cannot fail (checked in debug builds).
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => timespec_to_ns(&ts),
        Err(e) => {
            debug_assert!(false, "clock_gettime(CLOCK_MONOTONIC) failed: {e}");
            0
        }
    }
}

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`),
/// nanoseconds; `None` if the clock cannot be read. A system call (the
/// vDSO only serves the wall clocks).
pub fn thread_cpu_ns() -> Option<u64> {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(|ts| timespec_to_ns(&ts))
}

/// Converts a (non-negative) timespec to nanoseconds, saturating.
fn timespec_to_ns(ts: &TimeSpec) -> u64 {
    let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
    secs.saturating_mul(NS_PER_SEC).saturating_add(nanos)
}

/// Converts nanoseconds to a timespec (always valid: `tv_nsec < 1e9`).
fn ns_to_timespec(ns: u64) -> TimeSpec {
    // u64::MAX / 1e9 is about 1.8e10, which fits in a 64-bit time_t.
    TimeSpec::new(
        (ns / NS_PER_SEC) as libc::time_t,
        (ns % NS_PER_SEC) as libc::c_long,
    )
}

/// Sleeps until `CLOCK_MONOTONIC` reaches `deadline_ns` (absolute).
///
/// Uses `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, so a wake-up
/// that comes late does not shift later deadlines (no drift), and a
/// deadline already in the past returns at once. Interruptions by signal
/// handlers (`EINTR`) are retried with the same deadline, so on return the
/// deadline has passed.
pub fn sleep_until_ns(deadline_ns: u64) {
    let ts = ns_to_timespec(deadline_ns);
    loop {
        match clock_nanosleep(
            ClockId::CLOCK_MONOTONIC,
            ClockNanosleepFlags::TIMER_ABSTIME,
            &ts,
        ) {
            Ok(_) => return,
            Err(Errno::EINTR) => continue,
            // Only EINVAL/EFAULT remain, which a valid timespec rules out;
            // never spin on them.
            Err(other) => {
                debug_assert!(false, "clock_nanosleep failed: {other}");
                return;
            }
        }
    }
}

/// Poll event bits (`POLLIN`, `POLLOUT`, ...) as a small typed set.
///
/// ```
/// use pcmring_rt::timer::PollEvents;
/// let ev = PollEvents::OUT | PollEvents::ERR;
/// assert!(ev.contains(PollEvents::OUT));
/// assert!(!ev.contains(PollEvents::IN));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PollEvents(i16);

impl PollEvents {
    /// No events.
    pub const NONE: PollEvents = PollEvents(0);
    /// Data may be read (`POLLIN`; a capture PCM has a period ready).
    pub const IN: PollEvents = PollEvents(libc::POLLIN);
    /// Urgent data (`POLLPRI`).
    pub const PRI: PollEvents = PollEvents(libc::POLLPRI);
    /// Data may be written (`POLLOUT`; a playback PCM has room for a period).
    pub const OUT: PollEvents = PollEvents(libc::POLLOUT);
    /// Error condition (`POLLERR`; for a PCM: XRUN, or stream not running).
    pub const ERR: PollEvents = PollEvents(libc::POLLERR);
    /// Hang-up (`POLLHUP`; for a PCM: the device was disconnected).
    pub const HUP: PollEvents = PollEvents(libc::POLLHUP);
    /// The fd is not open (`POLLNVAL`).
    pub const NVAL: PollEvents = PollEvents(libc::POLLNVAL);

    /// Builds a set from raw `poll(2)` bits.
    pub const fn from_bits(bits: i16) -> PollEvents {
        PollEvents(bits)
    }

    /// The raw `poll(2)` bits.
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: PollEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set in `self`.
    pub const fn intersects(self, other: PollEvents) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for PollEvents {
    type Output = PollEvents;
    fn bitor(self, rhs: PollEvents) -> PollEvents {
        PollEvents(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for PollEvents {
    fn bitor_assign(&mut self, rhs: PollEvents) {
        self.0 |= rhs.0;
    }
}

impl std::fmt::Debug for PollEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [(PollEvents, &str); 6] = [
            (PollEvents::IN, "IN"),
            (PollEvents::PRI, "PRI"),
            (PollEvents::OUT, "OUT"),
            (PollEvents::ERR, "ERR"),
            (PollEvents::HUP, "HUP"),
            (PollEvents::NVAL, "NVAL"),
        ];
        let mut first = true;
        let mut rest = self.0;
        f.write_str("PollEvents(")?;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#x}")?;
        } else if first {
            f.write_str("NONE")?;
        }
        f.write_str(")")
    }
}

/// What [`poll_fd`] observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// The fd reported events. `revents` may include `ERR`, `HUP` or `NVAL`
    /// even when they were not requested: check [`PollOutcome::is_error`].
    Ready(PollEvents),
    /// The timeout passed with no event.
    Timeout,
    /// A signal handler interrupted the wait (`EINTR`); the caller decides
    /// whether to wait again (usually: check its stop flag, then retry).
    Interrupted,
}

impl PollOutcome {
    /// The returned events if the fd was ready, else `PollEvents::NONE`.
    pub fn revents(self) -> PollEvents {
        match self {
            PollOutcome::Ready(ev) => ev,
            PollOutcome::Timeout | PollOutcome::Interrupted => PollEvents::NONE,
        }
    }

    /// Whether the fd reported `ERR`, `HUP` or `NVAL`.
    pub fn is_error(self) -> bool {
        self.revents()
            .intersects(PollEvents::ERR | PollEvents::HUP | PollEvents::NVAL)
    }

    /// Whether the fd reported a hang-up (`HUP`).
    pub fn is_hangup(self) -> bool {
        self.revents().contains(PollEvents::HUP)
    }
}

/// Waits for `events` on one fd with `ppoll(2)`.
///
/// `timeout: None` waits forever; `Some(d)` waits at most `d` with
/// nanosecond resolution (unlike `poll(2)`'s milliseconds). `EINTR` is
/// reported as [`PollOutcome::Interrupted`], not retried, so a stop signal
/// can be noticed. Errors other than `EINTR` (e.g. `ENOMEM`) are returned
/// as `Err`. Allocation-free.
///
/// ```
/// use pcmring_rt::timer::{poll_fd, PollEvents, PollOutcome};
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (a, _b) = UnixStream::pair().unwrap();
/// // Nothing was written: not readable, so the short wait times out.
/// let out = poll_fd(&a, PollEvents::IN, Some(Duration::from_millis(1))).unwrap();
/// assert_eq!(out, PollOutcome::Timeout);
/// // A socket with room in its buffer is writable at once.
/// let out = poll_fd(&a, PollEvents::OUT, Some(Duration::ZERO)).unwrap();
/// assert!(out.revents().contains(PollEvents::OUT));
/// ```
pub fn poll_fd(
    fd: impl AsFd,
    events: PollEvents,
    timeout: Option<Duration>,
) -> io::Result<PollOutcome> {
    // Bits nix does not name (POLLRDHUP, POLLMSG) are not requested: the
    // kernel then never reports them, so `revents` below is always known.
    let mut pfd = [PollFd::new(
        fd.as_fd(),
        PollFlags::from_bits_truncate(events.bits()),
    )];
    // Saturate absurdly long timeouts instead of overflowing time_t.
    let ts = timeout.map(|d| {
        let secs = d.as_secs().min(i64::MAX as u64 / 2);
        TimeSpec::new(secs as libc::time_t, d.subsec_nanos() as libc::c_long)
    });
    // No signal mask: the thread's mask stays as it is.
    match ppoll(&mut pfd, ts, None) {
        Err(Errno::EINTR) => Ok(PollOutcome::Interrupted),
        Err(e) => Err(e.into()),
        Ok(0) => Ok(PollOutcome::Timeout),
        Ok(_) => {
            let revents = pfd[0].revents().unwrap_or(PollFlags::empty());
            Ok(PollOutcome::Ready(PollEvents::from_bits(revents.bits())))
        }
    }
}

/// Like [`poll_fd`], but waits at most until the absolute `CLOCK_MONOTONIC`
/// time `deadline_ns` (a deadline in the past polls without waiting).
///
/// Useful for a period wake-up with a timer fallback: wait for the PCM fd,
/// but never past the moment the writer must run anyway.
pub fn poll_fd_until(
    fd: impl AsFd,
    events: PollEvents,
    deadline_ns: u64,
) -> io::Result<PollOutcome> {
    let left = deadline_ns.saturating_sub(now_ns());
    poll_fd(fd, events, Some(Duration::from_nanos(left)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn now_is_monotonic_and_matches_std_instant_scale() {
        let a = now_ns();
        let i0 = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        let i1 = std::time::Instant::now();
        let b = now_ns();
        let std_elapsed = (i1 - i0).as_nanos() as u64;
        assert!(b > a);
        // Same clock as Instant on Linux: our interval encloses std's.
        assert!(b - a >= std_elapsed, "{} < {}", b - a, std_elapsed);
        assert!(b - a >= 5_000_000);
    }

    #[test]
    fn timespec_round_trip() {
        for ns in [0, 1, 999_999_999, 1_000_000_000, 123_456_789_012_345] {
            let ts = ns_to_timespec(ns);
            assert!(ts.tv_nsec() < 1_000_000_000);
            assert_eq!(timespec_to_ns(&ts), ns);
        }
    }

    #[test]
    fn sleep_until_reaches_deadline() {
        let start = now_ns();
        let deadline = start + 3_000_000;
        sleep_until_ns(deadline);
        assert!(now_ns() >= deadline);
    }

    #[test]
    fn sleep_until_past_deadline_returns_at_once() {
        let start = now_ns();
        sleep_until_ns(start.saturating_sub(1_000_000_000));
        sleep_until_ns(0);
        // Loose sanity bound: returning from two past deadlines takes far
        // less than a second even on a loaded machine.
        assert!(now_ns() - start < 1_000_000_000);
    }

    #[test]
    fn sleep_until_retries_after_signal() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static HITS: AtomicUsize = AtomicUsize::new(0);
        extern "C" fn on_signal(_: libc::c_int) {
            HITS.fetch_add(1, Ordering::Relaxed);
        }
        use nix::sys::pthread::{pthread_kill, pthread_self};
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        let act = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only touches an atomic; SA_RESTART is not
        // set, so the sleep sees EINTR. SIGUSR2 is unused elsewhere in this
        // test binary.
        unsafe { sigaction(Signal::SIGUSR2, &act) }.unwrap();
        let me = pthread_self();
        let deadline = now_ns() + 80_000_000;
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            // The target thread is alive: it joins us below.
            pthread_kill(me, Signal::SIGUSR2).unwrap();
        });
        sleep_until_ns(deadline);
        let woke = now_ns();
        killer.join().unwrap();
        assert_eq!(HITS.load(Ordering::Relaxed), 1, "signal was not delivered");
        assert!(woke >= deadline, "returned {} ns early", deadline - woke);
    }

    #[test]
    fn poll_reports_ready_timeout_and_hangup() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let out = poll_fd(&b, PollEvents::IN, Some(Duration::from_millis(2))).unwrap();
        assert_eq!(out, PollOutcome::Timeout);
        assert!(!out.is_error());

        a.write_all(b"x").unwrap();
        let out = poll_fd(&b, PollEvents::IN, None).unwrap();
        assert!(out.revents().contains(PollEvents::IN), "{out:?}");
        assert!(!out.is_error());

        drop(a);
        let out = poll_fd(&b, PollEvents::OUT, Some(Duration::from_millis(100))).unwrap();
        assert!(out.is_hangup(), "{out:?}");
        assert!(out.is_error());
    }

    #[test]
    fn poll_until_past_deadline_does_not_wait() {
        let (a, _b) = UnixStream::pair().unwrap();
        let out = poll_fd_until(&a, PollEvents::IN, 0).unwrap();
        assert_eq!(out, PollOutcome::Timeout);
    }

    #[test]
    fn poll_events_debug_names_bits() {
        let s = format!("{:?}", PollEvents::OUT | PollEvents::HUP);
        assert_eq!(s, "PollEvents(OUT | HUP)");
        assert_eq!(format!("{:?}", PollEvents::NONE), "PollEvents(NONE)");
        assert_eq!(
            format!("{:?}", PollEvents::from_bits(0x4000)),
            "PollEvents(0x4000)"
        );
    }
}
