//! The client side of the broker: connect, receive the lease, validate it.
//!
//! [`connect`] says hello, waits in line if the broker asks it to, receives
//! the layout and the fds, and checks that the fds are what the layout
//! claims (a restricted `snd-pcm-buf` fd for hardware, memfds of the right
//! size for the simulated device) and that the ring maps with the
//! advertised size. Every failure is a [`LeaseError`] that says what to do.
//!
//! The lease lasts as long as the connection: keep the [`Lease`] (or the
//! [`BrokerLink`] from [`Lease::into_parts`]) alive while playing, and
//! check [`BrokerLink::check`] now and then to notice a broker that went
//! away.
//!
//! ```no_run
//! use pcmring::{client, Device};
//!
//! let lease = client::connect("/run/pcmring.sock")?;
//! println!("leased {:?}", lease.info().layout);
//! let mut device = lease.into_device()?; // RestrictedPcm or SimDevice
//! let hw_ptr = device.position()?.hw_ptr; // fails once the broker is gone
//! # let _ = hw_ptr;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::broker::socket::{self, RecvError, SocketAddr};
use crate::broker::wire::{
    self, ClockId, DeviceKind, Hello, LeaseInfo, RefusalCode, ServerMessage, WireError,
};
use crate::device::Device;
use crate::layout::StreamLayout;
use crate::sys::mmap::{Mapping, Protection};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// How [`connect_with`] behaves.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// A label for the broker's log.
    pub name: String,
    /// Timeout of each socket operation (connect, hello, each reply).
    pub io_timeout: Duration,
    /// How long to wait in line when the stream is leased to someone else;
    /// `None` fails at once with [`LeaseError::Busy`].
    pub wait_in_line: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            name: default_name(),
            io_timeout: Duration::from_secs(5),
            wait_in_line: Some(Duration::from_secs(30)),
        }
    }
}

fn default_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Everything that can go wrong getting or keeping a lease.
#[derive(Debug)]
#[non_exhaustive]
pub enum LeaseError {
    /// Connecting to the broker's socket failed.
    Connect {
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// A socket operation failed or timed out.
    Io {
        /// What the client was doing.
        during: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The broker refused the client.
    Refused {
        /// Why.
        code: RefusalCode,
        /// The broker's details.
        detail: String,
    },
    /// The stream is leased to someone else and waiting was not allowed
    /// or took too long.
    Busy {
        /// Last known place in line.
        position: u32,
    },
    /// The broker closed the connection (exited, crashed or was killed).
    BrokerGone {
        /// What the client was doing.
        during: &'static str,
    },
    /// The broker's message is malformed.
    Protocol(WireError),
    /// The fds attached to the lease are unusable (too many, cut, none).
    FdTransfer {
        /// What went wrong.
        reason: String,
    },
    /// The lease carries the wrong number of fds.
    FdCount {
        /// What the layout says.
        expected: usize,
        /// What arrived.
        got: usize,
    },
    /// An fd is not what the lease says it is.
    WrongFdType {
        /// Which fd (0-based).
        index: usize,
        /// What it should be.
        expected: &'static str,
        /// What `/proc/self/fd` says it is.
        found: String,
    },
    /// The broker sent a full PCM fd where a restricted one belongs.
    FullFd {
        /// What `/proc/self/fd` says it is.
        found: String,
    },
    /// A shared file is smaller than the layout needs.
    Undersized {
        /// Which part.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes the file has.
        got: u64,
    },
    /// Mapping part of the lease failed.
    Map {
        /// Which part.
        what: &'static str,
        /// Bytes asked for.
        bytes: usize,
        /// The OS error.
        source: io::Error,
    },
    /// The broker's timestamps use a clock the engine does not follow.
    Clock {
        /// The clock the broker uses.
        got: ClockId,
    },
    /// The lease is fine but building the device on it failed.
    Device(Box<crate::Error>),
}

impl std::fmt::Display for LeaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseError::Connect { addr, source } => {
                write!(f, "cannot connect to the broker at {addr}: {source}")?;
                match source.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ECONNREFUSED) => {
                        f.write_str(" (is pcmring-broker running, with this --socket?)")
                    }
                    Some(libc::EACCES) | Some(libc::EPERM) => f.write_str(
                        " (the socket's permissions exclude you: ask for the broker's group)",
                    ),
                    _ => Ok(()),
                }
            }
            LeaseError::Io { during, source } => {
                if matches!(
                    source.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    write!(f, "the broker did not answer in time while {during}")
                } else {
                    write!(f, "socket error while {during}: {source}")
                }
            }
            LeaseError::Refused { code, detail } => {
                write!(f, "the broker refused: {}", code.describe())?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            LeaseError::Busy { position } => write!(
                f,
                "the stream is leased to another client (we were number {position} in line); \
                 try again later or wait longer"
            ),
            LeaseError::BrokerGone { during } => write!(
                f,
                "the broker closed the connection while {during} \
                 (it exited or was killed); playback stopped"
            ),
            LeaseError::Protocol(e) => write!(f, "bad message from the broker: {e}"),
            LeaseError::FdTransfer { reason } => {
                write!(f, "bad file descriptors from the broker: {reason}")
            }
            LeaseError::FdCount { expected, got } => write!(
                f,
                "the lease should carry {expected} fd(s) but {got} arrived \
                 (broker bug, or not a pcmring broker)"
            ),
            LeaseError::WrongFdType {
                index,
                expected,
                found,
            } => write!(
                f,
                "fd #{index} of the lease is {found:?}, expected {expected} \
                 (broker misconfigured, or not a pcmring broker)"
            ),
            LeaseError::FullFd { found } => write!(
                f,
                "the broker sent a full PCM fd ({found:?}) instead of a restricted buffer fd; \
                 refusing it: a broker must hand out BUFFER fds (is it pcmring-broker, with \
                 the snd-pcm-anondup module loaded?)"
            ),
            LeaseError::Undersized { what, need, got } => write!(
                f,
                "the {what} holds {got} bytes but the layout needs {need}"
            ),
            LeaseError::Map {
                what,
                bytes,
                source,
            } => write!(
                f,
                "mapping the {what} ({bytes} bytes) failed: {source} \
                 (the fd does not hold the advertised buffer)"
            ),
            LeaseError::Clock { got } => write!(
                f,
                "the broker's clock is {}, the engine needs CLOCK_MONOTONIC",
                got.name()
            ),
            LeaseError::Device(e) => write!(f, "cannot use the leased stream: {e}"),
        }
    }
}

impl std::error::Error for LeaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LeaseError::Connect { source, .. }
            | LeaseError::Io { source, .. }
            | LeaseError::Map { source, .. } => Some(source),
            LeaseError::Protocol(e) => Some(e),
            LeaseError::Device(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// The connection that keeps a lease alive. Dropping it ends the lease.
#[derive(Debug)]
pub struct BrokerLink {
    socket: OwnedFd,
}

impl BrokerLink {
    /// Checks without blocking whether the broker is still there.
    pub fn check(&self) -> Result<(), LeaseError> {
        let mut p = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n > 0 && p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0 {
            return Err(LeaseError::BrokerGone { during: "playing" });
        }
        Ok(())
    }

    /// The socket, e.g. to add to a poll set (it reports `POLLHUP` when
    /// the broker goes away).
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A granted, validated lease.
#[derive(Debug)]
pub struct Lease {
    info: LeaseInfo,
    fds: Vec<OwnedFd>,
    link: BrokerLink,
}

impl Lease {
    /// The layout and kind the broker advertised (validated).
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// Geometry of the leased stream.
    pub fn layout(&self) -> StreamLayout {
        self.info.layout
    }

    /// The leased fds, in wire order (hardware: the BUFFER fd; simulated:
    /// ring memfd, status memfd).
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// The connection to the broker.
    pub fn link(&self) -> &BrokerLink {
        &self.link
    }

    /// Splits the lease to build a device on the fds.
    pub fn into_parts(self) -> (LeaseInfo, Vec<OwnedFd>, BrokerLink) {
        (self.info, self.fds, self.link)
    }
}

/// Connects to a broker at `addr` (a path, or `@name` for an abstract
/// socket) with default options.
pub fn connect(addr: &str) -> Result<Lease, LeaseError> {
    connect_with(&SocketAddr::parse(addr), &ConnectOptions::default())
}

/// Connects to a broker and waits for a lease as `opts` says.
pub fn connect_with(addr: &SocketAddr, opts: &ConnectOptions) -> Result<Lease, LeaseError> {
    let sock = socket::connect(addr, opts.io_timeout).map_err(|source| LeaseError::Connect {
        addr: addr.to_string(),
        source,
    })?;
    let hello = Hello::new(&opts.name).encode();
    if let Err(source) = socket::send_blocking(sock.as_fd(), hello.as_bytes()) {
        // A broker that refused us at once may have closed already; its
        // refusal is still waiting in our queue.
        if let Some(refusal) = pending_refusal(sock.as_fd()) {
            return Err(refusal);
        }
        return Err(match source.raw_os_error() {
            Some(libc::EPIPE) | Some(libc::ECONNRESET) => LeaseError::BrokerGone {
                during: "saying hello",
            },
            _ => LeaseError::Io {
                during: "saying hello",
                source,
            },
        });
    }
    let started = Instant::now();
    let mut position = 0;
    loop {
        let timeout = if position == 0 {
            opts.io_timeout
        } else {
            let limit = opts.wait_in_line.unwrap_or_default();
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(LeaseError::Busy { position });
            }
            left
        };
        let (msg, fds) = receive(sock.as_fd(), timeout, position)?;
        match msg {
            ServerMessage::Lease(info) => {
                validate(&info, &fds)?;
                return Ok(Lease {
                    info,
                    fds,
                    link: BrokerLink { socket: sock },
                });
            }
            ServerMessage::Queued(q) => {
                drop(fds);
                if opts.wait_in_line.is_none() {
                    return Err(LeaseError::Busy {
                        position: q.position,
                    });
                }
                position = q.position;
            }
            ServerMessage::Refusal(r) => {
                return Err(LeaseError::Refused {
                    code: r.code,
                    detail: r.detail,
                })
            }
        }
    }
}

/// Receives one broker message; the fds are returned only with a lease.
/// `position` is the place in line (0: not queued).
fn receive(
    sock: BorrowedFd<'_>,
    timeout: Duration,
    position: u32,
) -> Result<(ServerMessage, Vec<OwnedFd>), LeaseError> {
    let queued = position != 0;
    let during = if queued {
        "waiting in line"
    } else {
        "waiting for the lease"
    };
    // A zero timeval would mean "wait forever".
    let timeout = timeout.max(Duration::from_millis(1));
    socket::set_timeouts(sock, timeout).map_err(|source| LeaseError::Io { during, source })?;
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = match socket::recv_with_fds(sock, &mut buf, false) {
        Ok(r) => r,
        Err(RecvError::Closed) => return Err(LeaseError::BrokerGone { during }),
        // The broker closed with our hello unread (it refused us before
        // reading it): the reset is reported first, the refusal follows.
        Err(RecvError::Io(e)) if e.raw_os_error() == Some(libc::ECONNRESET) => {
            return Err(pending_refusal(sock).unwrap_or(LeaseError::BrokerGone { during }))
        }
        Err(RecvError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock && queued => {
            return Err(LeaseError::Busy { position })
        }
        Err(RecvError::Io(source)) => return Err(LeaseError::Io { during, source }),
        Err(e) => {
            return Err(LeaseError::FdTransfer {
                reason: e.to_string(),
            })
        }
    };
    let msg = wire::parse_server_message(&buf[..r.len]).map_err(LeaseError::Protocol)?;
    if !matches!(msg, ServerMessage::Lease(_)) && !r.fds.is_empty() {
        return Err(LeaseError::FdTransfer {
            reason: format!(
                "{} fd(s) attached to a message that carries none",
                r.fds.len()
            ),
        });
    }
    Ok((msg, r.fds))
}

/// A refusal already queued on the socket, if any (non-blocking).
fn pending_refusal(sock: BorrowedFd<'_>) -> Option<LeaseError> {
    let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
    let r = socket::recv_with_fds(sock, &mut buf, true).ok()?;
    match wire::parse_server_message(&buf[..r.len]) {
        Ok(ServerMessage::Refusal(r)) => Some(LeaseError::Refused {
            code: r.code,
            detail: r.detail,
        }),
        _ => None,
    }
}

/// What `/proc/self/fd/N` points at.
fn fd_target(fd: BorrowedFd<'_>) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("<unreadable: {e}>"))
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: stat is plain old data; zeroed is valid and fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// The name an ALSA restricted (BUFFER) fd has in `/proc/self/fd`.
pub const BUFFER_FD_NAME: &str = "anon_inode:snd-pcm-buf";
/// The name a FULL anonymous dup has.
pub const FULL_FD_NAME: &str = "anon_inode:snd-pcm";

/// Checks that `fd` is a restricted PCM fd (not a full one).
pub fn check_buffer_fd(fd: BorrowedFd<'_>) -> Result<(), LeaseError> {
    classify_pcm_fd(fd_target(fd))
}

/// Classifies what `/proc/self/fd` says about a leased PCM fd.
fn classify_pcm_fd(found: String) -> Result<(), LeaseError> {
    if found == BUFFER_FD_NAME {
        return Ok(());
    }
    if found == FULL_FD_NAME || found.starts_with("/dev/snd/pcm") {
        return Err(LeaseError::FullFd { found });
    }
    Err(LeaseError::WrongFdType {
        index: 0,
        expected: "a restricted PCM fd (anon_inode:snd-pcm-buf)",
        found,
    })
}

/// Checks that `fd` is a memfd of at least `need` bytes.
fn check_memfd(
    fd: BorrowedFd<'_>,
    index: usize,
    what: &'static str,
    need: u64,
) -> Result<(), LeaseError> {
    let found = fd_target(fd);
    let wrong = |found: String| LeaseError::WrongFdType {
        index,
        expected: "a memfd of the simulated device",
        found,
    };
    if !found.starts_with("/memfd:") {
        return Err(wrong(found));
    }
    let st = fstat(fd).map_err(|_| wrong(found.clone()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(wrong(found));
    }
    // SAFETY: plain fcntl; fails with EINVAL on anything but shmem files.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) } < 0 {
        return Err(wrong(found));
    }
    let got = u64::try_from(st.st_size).unwrap_or(0);
    if got < need {
        return Err(LeaseError::Undersized { what, need, got });
    }
    Ok(())
}

/// Checks that `fd` is the read end of a pipe, and makes it non-blocking.
fn check_wake_pipe(fd: BorrowedFd<'_>, index: usize) -> Result<(), LeaseError> {
    let found = fd_target(fd);
    let wrong = |found: String| LeaseError::WrongFdType {
        index,
        expected: "the read end of the wake-up pipe",
        found,
    };
    let is_fifo = fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO);
    // SAFETY: plain fcntl on a valid fd.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if !found.starts_with("pipe:") || !is_fifo || fl < 0 || fl & libc::O_ACCMODE != libc::O_RDONLY {
        return Err(wrong(found));
    }
    socket::set_nonblocking(fd).map_err(|_| wrong(found))
}

/// Validates the fds of a lease against its layout. On success the ring
/// is known to map with the advertised size.
pub fn validate(info: &LeaseInfo, fds: &[OwnedFd]) -> Result<(), LeaseError> {
    let expected = info.fd_count();
    if fds.len() != expected {
        return Err(LeaseError::FdCount {
            expected,
            got: fds.len(),
        });
    }
    if info.clock != ClockId::Monotonic {
        return Err(LeaseError::Clock { got: info.clock });
    }
    let ring_bytes = info.layout.ring_bytes();
    match info.device {
        DeviceKind::HwBuffer => check_buffer_fd(fds[0].as_fd())?,
        DeviceKind::Simulated => {
            check_memfd(fds[0].as_fd(), 0, "ring", ring_bytes as u64)?;
            check_memfd(
                fds[1].as_fd(),
                1,
                "status page",
                crate::sim::page::PAGE_BYTES as u64,
            )?;
            if info.wake_fd {
                check_wake_pipe(fds[2].as_fd(), 2)?;
            }
        }
    }
    Mapping::new(fds[0].as_fd(), 0, ring_bytes, Protection::ReadWrite).map_err(|source| {
        LeaseError::Map {
            what: "ring",
            bytes: ring_bytes,
            source,
        }
    })?;
    Ok(())
}

impl Lease {
    /// Builds the device on the lease: a [`crate::restricted::RestrictedPcm`]
    /// for hardware, a [`crate::sim::SimDevice`] for the simulated device,
    /// wrapped so that it notices a broker that went away.
    pub fn into_device(self) -> Result<LeasedDevice, LeaseError> {
        let (info, fds, link) = self.into_parts();
        let mut fds = fds.into_iter();
        let mut next = || {
            fds.next().ok_or(LeaseError::FdCount {
                expected: info.fd_count(),
                got: 0,
            })
        };
        let inner = match info.device {
            DeviceKind::HwBuffer => Inner::Hw(
                crate::restricted::RestrictedPcm::from_fd(next()?, info.layout)
                    .map_err(|e| LeaseError::Device(Box::new(e)))?,
            ),
            DeviceKind::Simulated => {
                let data = next()?;
                let status = next()?;
                let wake = if info.wake_fd { Some(next()?) } else { None };
                let sim = crate::sim::SimDevice::attach(
                    crate::sim::SimFds { data, status, wake },
                    crate::sim::SimLayout {
                        stream: info.layout,
                        batch: info.batch,
                    },
                )
                .map_err(|e| LeaseError::Device(Box::new(e)))?;
                Inner::Sim(sim)
            }
        };
        Ok(LeasedDevice {
            inner,
            info,
            link,
            next_check_ns: 0,
            lost: false,
        })
    }
}

#[derive(Debug)]
enum Inner {
    Hw(crate::restricted::RestrictedPcm),
    Sim(crate::sim::SimDevice),
}

/// How often [`LeasedDevice`] checks that the broker is still there.
const LINK_CHECK_NS: u64 = 20_000_000;

/// A device on a leased stream. Implements [`Device`] by delegation; its
/// [`Device::position`] also notices (within 20 ms, one `poll` of the
/// socket) that the broker went away and from then on fails with
/// [`LeaseError::BrokerGone`]. Dropping it ends the lease.
#[derive(Debug)]
pub struct LeasedDevice {
    inner: Inner,
    info: LeaseInfo,
    link: BrokerLink,
    next_check_ns: u64,
    lost: bool,
}

impl LeasedDevice {
    /// What the broker advertised.
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// The connection to the broker.
    pub fn link(&self) -> &BrokerLink {
        &self.link
    }

    fn device(&self) -> &dyn Device {
        match &self.inner {
            Inner::Hw(d) => d,
            Inner::Sim(d) => d,
        }
    }

    fn device_mut(&mut self) -> &mut dyn Device {
        match &mut self.inner {
            Inner::Hw(d) => d,
            Inner::Sim(d) => d,
        }
    }
}

impl Device for LeasedDevice {
    fn layout(&self) -> StreamLayout {
        self.info.layout
    }
    fn ring(&self) -> &crate::ring::RingView {
        self.device().ring()
    }
    fn position(&mut self) -> crate::Result<crate::device::HwPosition> {
        if self.lost {
            return Err(LeaseError::BrokerGone { during: "playing" }.into());
        }
        let now = pcmring_rt::timer::now_ns();
        if now >= self.next_check_ns {
            self.next_check_ns = now + LINK_CHECK_NS;
            if let Err(e) = self.link.check() {
                // Sticky: once gone, the lease never comes back.
                self.lost = true;
                return Err(e.into());
            }
        }
        self.device_mut().position()
    }
    fn position_source(&self) -> crate::device::PositionSource {
        self.device().position_source()
    }
    fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.device().poll_fd()
    }
    fn is_batch(&self) -> bool {
        self.info.batch || self.device().is_batch()
    }
    fn commit(&mut self, appl_frames: u64) -> crate::Result<()> {
        self.device_mut().commit(appl_frames)
    }
}

impl From<LeaseError> for crate::Error {
    fn from(e: LeaseError) -> Self {
        crate::Error::Lease(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_fd_classification() {
        assert!(classify_pcm_fd(BUFFER_FD_NAME.into()).is_ok());
        for full in [FULL_FD_NAME, "/dev/snd/pcmC0D0p"] {
            let e = classify_pcm_fd(full.into()).unwrap_err();
            assert!(matches!(e, LeaseError::FullFd { .. }), "{e}");
            assert!(e.to_string().contains("anondup"), "{e}");
        }
        for other in [
            "/tmp/anon_inode:snd-pcm-buf",
            "anon_inode:[eventfd]",
            "socket:[1234]",
        ] {
            let e = classify_pcm_fd(other.into()).unwrap_err();
            assert!(matches!(e, LeaseError::WrongFdType { .. }), "{e}");
        }
    }
}
