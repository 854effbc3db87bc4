//! What the daemon needs around the [`crate::Broker`]: the socket systemd
//! passed (socket activation), the permissions of a filesystem socket, and
//! user and group names.

use pcmring::broker::{Listener, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// A uid: a number, or a user name looked up in the passwd database.
pub fn lookup_user(s: &str) -> Result<u32, String> {
    lookup_id(s, false)
}

/// A gid: a number, or a group name looked up in the group database.
pub fn lookup_group(s: &str) -> Result<u32, String> {
    lookup_id(s, true)
}

fn lookup_id(s: &str, group: bool) -> Result<u32, String> {
    use nix::unistd::{Group, User};
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    if s.contains('\0') {
        return Err(format!("bad name {s:?}"));
    }
    let found = if group {
        Group::from_name(s).map(|g| g.map(|g| g.gid.as_raw()))
    } else {
        User::from_name(s).map(|u| u.map(|u| u.uid.as_raw()))
    };
    if let Some(id) = found.map_err(|e| format!("looking up {s:?}: {e}"))? {
        return Ok(id);
    }
    Err(format!(
        "no such {} {s:?}",
        if group { "group" } else { "user" }
    ))
}

/// The socket systemd passed this process (socket activation:
/// `LISTEN_PID` is ours and `LISTEN_FDS` is 1), if any. More than one
/// socket is an error.
pub fn systemd_listener(addr: &SocketAddr) -> Result<Option<Listener>, String> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_ok || fds < 1 {
        return Ok(None);
    }
    if fds > 1 {
        return Err(format!("systemd passed {fds} sockets, expected one"));
    }
    // SAFETY: systemd passes the listening socket as fd 3 (SD_LISTEN_FDS_START)
    // and nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) };
    let _ = nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Listener::from_fd(fd, addr.clone())
        .map(Some)
        .map_err(|e| format!("socket from systemd: {e}"))
}

/// Gives a filesystem socket to `group` (owner unchanged) and sets its
/// permission bits to `mode` (octal, e.g. 0o660), each when given.
pub fn set_socket_permissions(
    path: &Path,
    group: Option<u32>,
    mode: Option<u32>,
) -> Result<(), String> {
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The listening socket: the one systemd passed, or a new one at `addr`
/// with the given group and mode (filesystem sockets only: an abstract
/// socket has no permissions, so asking for them is an error).
pub fn listen(
    addr: &SocketAddr,
    group: Option<u32>,
    mode: Option<u32>,
) -> Result<Listener, String> {
    if let Some(l) = systemd_listener(addr)? {
        return Ok(l);
    }
    if !matches!(addr, SocketAddr::Path(_)) && (group.is_some() || mode.is_some()) {
        return Err(
            "--socket-mode/--socket-group need a filesystem socket: abstract sockets have no \
             permissions, use --allow-uid/--allow-gid"
                .into(),
        );
    }
    let listener = Listener::bind(addr, 64).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    if let SocketAddr::Path(p) = addr {
        set_socket_permissions(p, group, mode)?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbers_or_names() {
        assert_eq!(lookup_user("1234"), Ok(1234));
        assert_eq!(lookup_user("root"), Ok(0));
        assert_eq!(lookup_group("0"), Ok(0));
        let e = lookup_group("no-such-group-pcmring").unwrap_err();
        assert!(e.contains("no such group"), "{e}");
        assert!(lookup_user("a\0b").is_err());
    }

    #[test]
    fn abstract_sockets_take_no_permissions() {
        let e = listen(&SocketAddr::parse("@pcmring-daemon-test"), Some(0), None).unwrap_err();
        assert!(e.contains("abstract"), "{e}");
    }

    #[test]
    fn filesystem_sockets_get_their_mode() {
        let dir = std::env::temp_dir().join(format!("pcmring-daemon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let l = listen(&SocketAddr::Path(path.clone()), None, Some(0o640)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
