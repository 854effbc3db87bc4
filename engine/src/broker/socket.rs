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

use std::ffi::OsStr;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most fds a single message may carry (a simulated lease carries up to
/// three: ring, status page, wake-up pipe).
pub const MAX_FDS: usize = 3;
/// Fds the receive control buffer has room for: more than [`MAX_FDS`], so
/// a message with too many fds is seen (and all of them closed) rather
/// than silently cut.
const CMSG_FD_ROOM: usize = 8;

#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
compile_error!("SO_PEERGROUPS has another value on this architecture");
/// `SO_PEERGROUPS` (Linux >= 4.13): the peer's supplementary groups.
const SO_PEERGROUPS: libc::c_int = 59;
/// Most supplementary groups we ask the kernel for.
const MAX_PEER_GROUPS: usize = 1024;

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

    fn to_raw(&self) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
        // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
        let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let (bytes, start): (&[u8], usize) = match self {
            SocketAddr::Path(p) => (p.as_os_str().as_bytes(), 0),
            SocketAddr::Abstract(n) => (n.as_slice(), 1),
        };
        // Paths need a trailing NUL; abstract names a leading one.
        let room = sun.sun_path.len() - 1;
        if bytes.is_empty() || bytes.len() > room || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "socket address must be 1..={room} bytes without NUL, got {}",
                    bytes.len()
                ),
            ));
        }
        for (dst, src) in sun.sun_path[start..].iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let base = mem::size_of::<libc::sa_family_t>();
        let len = match self {
            SocketAddr::Path(_) => base + bytes.len() + 1,
            SocketAddr::Abstract(_) => base + 1 + bytes.len(),
        };
        Ok((sun, len as libc::socklen_t))
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

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn new_socket(nonblock: bool) -> io::Result<OwnedFd> {
    let mut ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    if nonblock {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain syscall; the returned fd is fresh and owned below.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, ty, 0) })?;
    // SAFETY: fd was just created and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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

fn stat_path(p: &Path) -> io::Result<libc::stat> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: stat is plain old data; zeroed is valid and the kernel fills it.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path; st is a valid out pointer.
    cvt(unsafe { libc::lstat(c.as_ptr(), &mut st) })?;
    Ok(st)
}

impl Listener {
    /// Binds and listens. A stale socket file at the path (nobody
    /// accepting) is replaced; a live one, or a non-socket file, is an
    /// error (`AddrInUse` / `AlreadyExists`).
    pub fn bind(addr: &SocketAddr, backlog: i32) -> io::Result<Listener> {
        if let SocketAddr::Path(p) = addr {
            match stat_path(p) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFSOCK => {
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
        let (sun, len) = addr.to_raw()?;
        // SAFETY: sun/len describe a valid sockaddr_un built above.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sun as *const libc::sockaddr_un).cast(),
                len,
            )
        })?;
        let created = match addr {
            SocketAddr::Path(p) => stat_path(p).ok().map(|st| (st.st_dev, st.st_ino)),
            SocketAddr::Abstract(_) => None,
        };
        let listener = Listener {
            fd,
            addr: addr.clone(),
            created,
        };
        // SAFETY: plain syscall on our own fd.
        cvt(unsafe { libc::listen(listener.fd.as_raw_fd(), backlog) })?;
        Ok(listener)
    }

    /// Adopts an already listening socket (systemd socket activation).
    /// Checks that it is a listening `AF_UNIX` seqpacket socket and makes it
    /// non-blocking. Nothing is unlinked on drop. `addr` is only a fallback
    /// name for logs when the socket's own address cannot be read.
    pub fn from_fd(fd: OwnedFd, addr: SocketAddr) -> io::Result<Listener> {
        let addr = local_addr(fd.as_fd()).unwrap_or(addr);
        let ty = getsockopt_int(fd.as_fd(), libc::SO_TYPE)?;
        let listening = getsockopt_int(fd.as_fd(), libc::SO_ACCEPTCONN)?;
        let domain = getsockopt_int(fd.as_fd(), libc::SO_DOMAIN)?;
        if ty != libc::SOCK_SEQPACKET || listening == 0 || domain != libc::AF_UNIX {
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
        // SAFETY: null address pointers are allowed; flags are valid.
        let r = unsafe {
            libc::accept4(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ECONNABORTED) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: accept4 returned a fresh fd that we now own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r) }))
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
            if let Ok(st) = stat_path(p) {
                if (st.st_dev, st.st_ino) == id {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}

/// The address a socket is bound to, if it is a named `AF_UNIX` socket.
fn local_addr(fd: BorrowedFd<'_>) -> Option<SocketAddr> {
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
    let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: sun/len are valid out pointers of the declared size.
    let r = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut sun as *mut libc::sockaddr_un).cast(),
            &mut len,
        )
    };
    let base = mem::size_of::<libc::sa_family_t>();
    if r != 0 || (len as usize) <= base || sun.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    let n = (len as usize - base).min(sun.sun_path.len());
    let bytes: Vec<u8> = sun.sun_path[..n].iter().map(|&c| c as u8).collect();
    match bytes.split_first() {
        Some((0, name)) => Some(SocketAddr::Abstract(name.to_vec())),
        _ => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            Some(SocketAddr::Path(PathBuf::from(OsStr::from_bytes(
                &bytes[..end],
            ))))
        }
    }
}

fn getsockopt_int(fd: BorrowedFd<'_>, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v/len are valid out pointers of the declared size.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// Sets `O_NONBLOCK` on an fd.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain fcntl calls on a valid fd.
    unsafe {
        let fl = cvt(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        cvt(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            fl | libc::O_NONBLOCK,
        ))?;
    }
    Ok(())
}

/// Connects a blocking seqpacket socket to `addr`, with `timeout` as the
/// send and receive timeout of the socket.
pub fn connect(addr: &SocketAddr, timeout: Duration) -> io::Result<OwnedFd> {
    let fd = new_socket(false)?;
    set_timeouts(fd.as_fd(), timeout)?;
    let (sun, len) = addr.to_raw()?;
    // SAFETY: sun/len describe a valid sockaddr_un built above.
    cvt(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sun as *const libc::sockaddr_un).cast(),
            len,
        )
    })?;
    Ok(fd)
}

/// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO` (zero duration = no timeout).
pub fn set_timeouts(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: tv is a valid timeval of the declared size.
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
    }
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
    let mut c = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: c/len are valid out pointers of the declared size.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut c as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok(PeerCred {
        pid: c.pid,
        uid: c.uid,
        gid: c.gid,
    })
}

/// The peer's supplementary groups at connect time (`SO_PEERGROUPS`), at
/// most 1024 of them.
pub fn peer_groups(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut groups = vec![0u32; MAX_PEER_GROUPS];
    let mut len = (groups.len() * mem::size_of::<u32>()) as libc::socklen_t;
    // SAFETY: groups has `len` writable bytes; len is a valid in/out pointer.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    groups.truncate(len as usize / mem::size_of::<u32>());
    Ok(groups)
}

/// Sends one message with `fds` attached, without blocking (unless the
/// socket itself is blocking with a timeout) and without `SIGPIPE`.
pub fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > CMSG_FD_ROOM {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut cbuf = CmsgBuf::new();
    // SAFETY: msghdr is plain old data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let payload = mem::size_of_val(fds) as libc::c_uint;
        // SAFETY: CMSG_SPACE/LEN are pure arithmetic.
        let (space, clen) = unsafe { (libc::CMSG_SPACE(payload), libc::CMSG_LEN(payload)) };
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as usize;
        // SAFETY: the control buffer is aligned and large enough for one
        // cmsg of `payload` bytes (CMSG_FD_ROOM fds), so FIRSTHDR is non-null
        // and DATA points inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = clen as usize;
            let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
            for (i, fd) in fds.iter().enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: msg points at live iov/control buffers for the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
    }
    Ok(())
}

/// Like [`send_with_fds`] but waits (up to the socket's send timeout) when
/// the socket is blocking; for clients.
pub fn send_blocking(sock: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: bytes is a valid buffer for the call.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
    }
    Ok(())
}

/// A control buffer aligned for `cmsghdr`, with room for one `SCM_RIGHTS`
/// header carrying [`CMSG_FD_ROOM`] fds.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

impl CmsgBuf {
    fn new() -> Self {
        const _: () = assert!(
            mem::size_of::<libc::cmsghdr>() + CMSG_FD_ROOM * mem::size_of::<libc::c_int>() <= 64
        );
        CmsgBuf([0; 64])
    }
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
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = CmsgBuf::new();
    // SAFETY: msghdr is plain old data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len();
    let mut flags = libc::MSG_CMSG_CLOEXEC;
    if nonblock {
        flags |= libc::MSG_DONTWAIT;
    }
    // SAFETY: msg points at live iov/control buffers for the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(RecvError::Io(io::Error::last_os_error()));
    }
    // Collect every fd first so each one is owned (and closed on error).
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut unexpected = None;
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG_*
    // macros walk only within msg_controllen, and each SCM_RIGHTS payload
    // holds (cmsg_len - CMSG_LEN(0)) / sizeof(int) fds that we now own.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let level = (*c).cmsg_level;
            let kind = (*c).cmsg_type;
            if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
                let data_len = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let count = data_len / mem::size_of::<libc::c_int>();
                let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
                for i in 0..count {
                    let raw = data.add(i).read_unaligned();
                    if raw >= 0 {
                        fds.push(OwnedFd::from_raw_fd(raw));
                    }
                }
            } else {
                unexpected = Some((level, kind));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(RecvError::ControlTruncated);
    }
    if let Some((level, kind)) = unexpected {
        return Err(RecvError::UnexpectedControl { level, kind });
    }
    if fds.len() > MAX_FDS {
        return Err(RecvError::TooManyFds { got: fds.len() });
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        return Err(RecvError::TooLong);
    }
    if n == 0 && fds.is_empty() {
        return Err(RecvError::Closed);
    }
    Ok(Received {
        len: n as usize,
        fds,
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
