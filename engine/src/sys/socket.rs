//! The two socket calls nix has no safe form for, behind safe functions:
//! receiving `SCM_RIGHTS` fds in a way that owns (and so closes) every fd
//! that arrived even when the control data was cut (nix refuses to walk a
//! truncated control buffer, which would leak those fds: a hostile client
//! could exhaust the broker's fds), and `SO_PEERGROUPS`.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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
/// Fds the receive control buffer has room for.
pub(crate) const CMSG_FD_ROOM: usize = 8;

/// What one `recvmsg` brought.
#[derive(Debug)]
pub(crate) struct RawReceived {
    /// Bytes of the message in the caller's buffer.
    pub(crate) len: usize,
    /// Every fd that arrived (owned: dropping closes them).
    pub(crate) fds: Vec<OwnedFd>,
    /// The control data was cut (`MSG_CTRUNC`).
    pub(crate) control_truncated: bool,
    /// The message was longer than the buffer (`MSG_TRUNC`).
    pub(crate) truncated: bool,
    /// Level and type of a control message other than `SCM_RIGHTS`.
    pub(crate) unexpected: Option<(i32, i32)>,
}

/// A control buffer aligned for `cmsghdr`, with room for one `SCM_RIGHTS`
/// header carrying [`CMSG_FD_ROOM`] fds.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

const _: () =
    assert!(mem::size_of::<libc::cmsghdr>() + CMSG_FD_ROOM * mem::size_of::<libc::c_int>() <= 64);

/// Receives one message into `buf` with `MSG_CMSG_CLOEXEC` (and
/// `MSG_DONTWAIT` if `nonblock`), taking ownership of every fd that came
/// with it.
pub(crate) fn recv_with_rights(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    nonblock: bool,
) -> io::Result<RawReceived> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = CmsgBuf([0; 64]);
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
        return Err(io::Error::last_os_error());
    }
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
    Ok(RawReceived {
        len: n as usize,
        fds,
        control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        unexpected,
    })
}

/// The peer's supplementary groups at connect time (`SO_PEERGROUPS`), at
/// most 1024 of them.
pub(crate) fn peer_groups(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut groups = vec![0u32; MAX_PEER_GROUPS];
    let mut len = (groups.len() * mem::size_of::<u32>()) as libc::socklen_t;
    // SAFETY: groups has `len` writable bytes; len is a valid in/out pointer.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    groups.truncate(len as usize / mem::size_of::<u32>());
    Ok(groups)
}
