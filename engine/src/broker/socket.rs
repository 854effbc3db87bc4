//! Unix socket plumbing for the broker and its clients.
//!
//! The broker uses `SOCK_SEQPACKET` Unix sockets: connection-oriented (so
//! a client's hang-up or death shows as `POLLHUP`/`POLLRDHUP`, and peer
//! credentials are available), but message-preserving, so each wire message
//! is one datagram, `SCM_RIGHTS` fds travel with exactly the message they
//! belong to, and a datagram longer than the receive buffer is detected
//! (`MSG_TRUNC`) instead of bleeding into the next read. No reassembly
//! buffer per client is needed, which keeps the broker's memory bounded.
//!
//! Every socket is `CLOEXEC`; received fds come with `MSG_CMSG_CLOEXEC`;
//! sends never block and never raise `SIGPIPE`.

use crate::sys::socket::{recv_with_rights, CMSG_FD_ROOM};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{
    self as nsock, sockopt, AddressFamily, Backlog, ControlMessage, MsgFlags, SockFlag, SockType,
    SockaddrLike, SockaddrStorage, UnixAddr,
};
use nix::sys::time::TimeVal;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most fds a single message may carry (a simulated stream carries up to
/// three: ring, status page, wake-up pipe; a duplex lease two streams).
/// The receive buffer has room for more, so a message with too many fds
/// is seen (and all of them closed) rather than silently cut.
pub const MAX_FDS: usize = 6;

/// Longest socket name: `sun_path` less one byte (the path's trailing NUL,
/// or the abstract name's leading one).
const MAX_NAME: usize = 107;

/// Where a broker listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddr {
    /// A filesystem path.
    Path(PathBuf),
    /// A Linux abstract socket name (written `@name`), no filesystem entry.
    Abstract(Vec<u8>),
}

impl SocketAddr {
    /// Parses `@name` as an abstract name, anything else as a path.
    pub fn parse(s: &str) -> SocketAddr {
        match s.strip_prefix('@') {
            Some(name) => SocketAddr::Abstract(name.as_bytes().to_vec()),
            None => SocketAddr::Path(PathBuf::from(s)),
        }
    }

    fn to_unix(&self) -> io::Result<UnixAddr> {
        let bytes: &[u8] = match self {
            SocketAddr::Path(p) => p.as_os_str().as_bytes(),
            SocketAddr::Abstract(n) => n.as_slice(),
        };
        if bytes.is_empty() || bytes.len() > MAX_NAME || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "socket address must be 1..={MAX_NAME} bytes without NUL, got {}",
                    bytes.len()
                ),
            ));
        }
        match self {
            SocketAddr::Path(p) => UnixAddr::new(p.as_path()),
            SocketAddr::Abstract(n) => UnixAddr::new_abstract(n),
        }
        .map_err(io::Error::from)
    }
}

impl std::fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketAddr::Path(p) => write!(f, "{}", p.display()),
            SocketAddr::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
        }
    }
}

fn new_socket(nonblock: bool) -> io::Result<OwnedFd> {
    let mut flags = SockFlag::SOCK_CLOEXEC;
    if nonblock {
        flags |= SockFlag::SOCK_NONBLOCK;
    }
    Ok(nsock::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        flags,
        None,
    )?)
}

/// A listening seqpacket socket. A filesystem socket is removed on drop
/// if it is still the one this listener created.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    addr: SocketAddr,
    /// (dev, ino) of the socket file we created, for a safe unlink.
    created: Option<(u64, u64)>,
}

/// (is a socket, (dev, ino)) of the file at `p`, without following links.
fn stat_path(p: &Path) -> io::Result<(bool, (u64, u64))> {
    let m = std::fs::symlink_metadata(p)?;
    Ok((m.file_type().is_socket(), (m.dev(), m.ino())))
}

impl Listener {
    /// Binds and listens. A stale socket file at the path (nobody
    /// accepting) is replaced; a live one, or a non-socket file, is an
    /// error (`AddrInUse` / `AlreadyExists`).
    pub fn bind(addr: &SocketAddr, backlog: i32) -> io::Result<Listener> {
        if let SocketAddr::Path(p) = addr {
            match stat_path(p) {
                Ok((true, _)) => {
                    match connect(addr, Duration::from_millis(200)) {
                        Ok(_) => {
                            return Err(io::Error::new(
                                io::ErrorKind::AddrInUse,
                                format!("another broker is listening on {}", p.display()),
                            ))
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                            std::fs::remove_file(p)?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} exists and is not a socket", p.display()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let fd = new_socket(true)?;
        let sun = addr.to_unix()?;
        nsock::bind(fd.as_raw_fd(), &sun)?;
        let created = match addr {
            SocketAddr::Path(p) => stat_path(p).ok().map(|(_, id)| id),
            SocketAddr::Abstract(_) => None,
        };
        let listener = Listener {
            fd,
            addr: addr.clone(),
            created,
        };
        nsock::listen(&listener.fd, Backlog::new(backlog)?)?;
        Ok(listener)
    }

    /// Adopts an already listening socket (systemd socket activation).
    /// Checks that it is a listening `AF_UNIX` seqpacket socket and makes it
    /// non-blocking. Nothing is unlinked on drop. `addr` is only a fallback
    /// name for logs when the socket's own address cannot be read.
    pub fn from_fd(fd: OwnedFd, addr: SocketAddr) -> io::Result<Listener> {
        let addr = local_addr(fd.as_fd()).unwrap_or(addr);
        let ty = nsock::getsockopt(&fd, sockopt::SockType).ok();
        let listening = nsock::getsockopt(&fd, sockopt::AcceptConn)?;
        let family = nsock::getsockname::<SockaddrStorage>(fd.as_raw_fd())
            .ok()
            .and_then(|a| a.family());
        if ty != Some(SockType::SeqPacket) || !listening || family != Some(AddressFamily::Unix) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "inherited fd is not a listening AF_UNIX SOCK_SEQPACKET socket \
                 (use ListenSequentialPacket= in the .socket unit)",
            ));
        }
        set_nonblocking(fd.as_fd())?;
        Ok(Listener {
            fd,
            addr,
            created: None,
        })
    }

    /// The address listened on.
    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }

    /// Accepts one pending connection (non-blocking, CLOEXEC); `Ok(None)`
    /// when none is waiting.
    pub fn accept(&self) -> io::Result<Option<OwnedFd>> {
        match nsock::accept4(&self.fd, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::EAGAIN | Errno::ECONNABORTED | Errno::EINTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let (SocketAddr::Path(p), Some(id)) = (&self.addr, self.created) {
            if let Ok((_, now)) = stat_path(p) {
                if now == id {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}

/// The address a socket is bound to, if it is a named `AF_UNIX` socket.
fn local_addr(fd: BorrowedFd<'_>) -> Option<SocketAddr> {
    let a = nsock::getsockname::<UnixAddr>(fd.as_raw_fd()).ok()?;
    if let Some(name) = a.as_abstract() {
        return Some(SocketAddr::Abstract(name.to_vec()));
    }
    a.path().map(|p| SocketAddr::Path(p.to_path_buf()))
}

/// Sets `O_NONBLOCK` on an fd.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Connects a blocking seqpacket socket to `addr`, with `timeout` as the
/// send and receive timeout of the socket.
pub fn connect(addr: &SocketAddr, timeout: Duration) -> io::Result<OwnedFd> {
    let fd = new_socket(false)?;
    set_timeouts(fd.as_fd(), timeout)?;
    let sun = addr.to_unix()?;
    nsock::connect(fd.as_raw_fd(), &sun)?;
    Ok(fd)
}

/// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO` (zero duration = no timeout).
pub fn set_timeouts(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
    let secs = timeout.as_secs().min(i32::MAX as u64) as libc::time_t;
    let tv = TimeVal::new(secs, timeout.subsec_micros() as libc::suseconds_t);
    nsock::setsockopt(&fd, sockopt::ReceiveTimeout, &tv)?;
    nsock::setsockopt(&fd, sockopt::SendTimeout, &tv)?;
    Ok(())
}

/// A connected peer's credentials at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

/// The peer's credentials (`SO_PEERCRED`).
pub fn peer_cred(fd: BorrowedFd<'_>) -> io::Result<PeerCred> {
    let c = nsock::getsockopt(&fd, sockopt::PeerCredentials)?;
    Ok(PeerCred {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// The peer's supplementary groups at connect time (`SO_PEERGROUPS`), at
/// most 1024 of them.
pub fn peer_groups(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    crate::sys::socket::peer_groups(fd)
}

/// Sends one message with `fds` attached, without blocking (unless the
/// socket itself is blocking with a timeout) and without `SIGPIPE`.
pub fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > CMSG_FD_ROOM {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut raw: [RawFd; CMSG_FD_ROOM] = [-1; CMSG_FD_ROOM];
    for (r, fd) in raw.iter_mut().zip(fds) {
        *r = fd.as_raw_fd();
    }
    let rights = [ControlMessage::ScmRights(&raw[..fds.len()])];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    let n = nsock::sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(bytes)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    if n != bytes.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
    }
    Ok(())
}

/// Like [`send_with_fds`] but waits (up to the socket's send timeout) when
/// the socket is blocking; for clients.
pub fn send_blocking(sock: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    let n = nsock::send(sock.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL)?;
    if n != bytes.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
    }
    Ok(())
}

/// Why a receive failed. Every fd that arrived with the message has been
/// closed by the time this is returned.
#[derive(Debug)]
pub enum RecvError {
    /// The peer closed the connection.
    Closed,
    /// A system error (timeout: `WouldBlock`/`TimedOut`).
    Io(io::Error),
    /// The datagram was longer than any valid message.
    TooLong,
    /// The control data was cut (more fds than the buffer holds).
    ControlTruncated,
    /// More fds than allowed arrived.
    TooManyFds {
        /// How many.
        got: usize,
    },
    /// Control data other than `SCM_RIGHTS` arrived.
    UnexpectedControl {
        /// cmsg level.
        level: i32,
        /// cmsg type.
        kind: i32,
    },
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Closed => f.write_str("the peer closed the connection"),
            RecvError::Io(e) => write!(f, "socket error: {e}"),
            RecvError::TooLong => f.write_str("message longer than any valid message"),
            RecvError::ControlTruncated => {
                f.write_str("too many fds attached (control data truncated); all closed")
            }
            RecvError::TooManyFds { got } => {
                write!(
                    f,
                    "{got} fds attached, at most {MAX_FDS} allowed; all closed"
                )
            }
            RecvError::UnexpectedControl { level, kind } => {
                write!(f, "unexpected control message level {level} type {kind}")
            }
        }
    }
}

impl std::error::Error for RecvError {}

/// One received message.
#[derive(Debug)]
pub struct Received {
    /// Bytes of the message in the caller's buffer.
    pub len: usize,
    /// Fds that came with it (at most [`MAX_FDS`]).
    pub fds: Vec<OwnedFd>,
}

/// Receives one message into `buf` (whose length should be
/// `MAX_MESSAGE_LEN + 1`), keeping at most [`MAX_FDS`] fds. On any error,
/// all fds that arrived are closed. `nonblock` adds `MSG_DONTWAIT`.
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    nonblock: bool,
) -> Result<Received, RecvError> {
    let r = recv_with_rights(sock, buf, nonblock).map_err(RecvError::Io)?;
    // The fds are owned: every early return below closes them.
    if r.control_truncated {
        return Err(RecvError::ControlTruncated);
    }
    if let Some((level, kind)) = r.unexpected {
        return Err(RecvError::UnexpectedControl { level, kind });
    }
    if r.fds.len() > MAX_FDS {
        return Err(RecvError::TooManyFds { got: r.fds.len() });
    }
    if r.truncated {
        return Err(RecvError::TooLong);
    }
    if r.len == 0 && r.fds.is_empty() {
        return Err(RecvError::Closed);
    }
    Ok(Received {
        len: r.len,
        fds: r.fds,
    })
}

/// Reads and drops up to `max` queued messages without blocking, closing
/// any fds they carry.
pub fn drain(sock: BorrowedFd<'_>, max: usize) {
    let mut buf = [0u8; 64];
    for _ in 0..max {
        match recv_with_fds(sock, &mut buf, true) {
            Ok(_) | Err(RecvError::TooLong) | Err(RecvError::TooManyFds { .. }) => {}
            Err(RecvError::ControlTruncated) | Err(RecvError::UnexpectedControl { .. }) => {}
            Err(RecvError::Closed) | Err(RecvError::Io(_)) => return,
        }
    }
}
