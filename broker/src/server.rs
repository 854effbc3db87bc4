//! The broker: a single-threaded poll loop that leases one stream to one
//! client at a time.
//!
//! Connections go through three states: *pending* (accepted, credentials
//! checked, waiting for the client's hello, with a deadline), *queued*
//! (said hello while someone else holds the lease; told its place in
//! line) and *lessee* (holds the fds). Clients beyond the line are
//! refused with `Busy`; connections beyond the pending cap are refused with
//! `TooManyConnections`. Memory is bounded: the connection table, the line
//! and the poll set are allocated once at start.
//!
//! The lease ends when the lessee's socket hangs up (exit, crash, kill or
//! close). The broker then revokes the lease's fds in the kernel
//! ([`LeaseSource::revoke_leases`]: a client that kept its fd gets SIGBUS
//! and ENODEV), zeroes the ring and leases to the next in line. The
//! simulated device's memfds cannot be revoked.

use pcmring::broker::socket::{self, Listener, PeerCred, RecvError};
use pcmring::broker::source::LeaseSource;
use pcmring::broker::wire::{
    self, LeaseInfo, LeaseKind, Queued, Refusal, RefusalCode, ServerMessage, WireError,
};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Who may connect: peers whose uid, primary gid or any supplementary gid
/// (at connect time) is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Allowed user ids.
    pub uids: Vec<u32>,
    /// Allowed group ids.
    pub gids: Vec<u32>,
}

impl Default for AccessPolicy {
    /// The broker's own effective uid and root.
    fn default() -> Self {
        let me = nix::unistd::geteuid().as_raw();
        let mut uids = vec![0];
        if me != 0 {
            uids.push(me);
        }
        AccessPolicy {
            uids,
            gids: Vec::new(),
        }
    }
}

impl AccessPolicy {
    /// Checks a peer; on refusal returns the reason for the log.
    pub fn check(&self, cred: &PeerCred, sock: BorrowedFd<'_>) -> Result<(), String> {
        if self.uids.contains(&cred.uid) || self.gids.contains(&cred.gid) {
            return Ok(());
        }
        if !self.gids.is_empty() {
            match socket::peer_groups(sock) {
                Ok(groups) if groups.iter().any(|g| self.gids.contains(g)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("cannot read peer groups: {e}")),
            }
        }
        Err(format!(
            "uid {} gid {} is not on the allow-list (uids {:?}, gids {:?})",
            cred.uid, cred.gid, self.uids, self.gids
        ))
    }
}

/// Broker settings.
#[derive(Clone)]
pub struct BrokerConfig {
    /// Who may connect.
    pub policy: AccessPolicy,
    /// Clients that may wait in line while the stream is leased; more are
    /// refused with `Busy`. 0 = refuse everyone while leased.
    pub max_queue: usize,
    /// Connections that may be waiting for their hello at once.
    pub max_pending: usize,
    /// How long a new connection has to say hello.
    pub hello_timeout: Duration,
    /// Where log lines go (default: stderr with a `pcmring-broker:` prefix).
    pub log: LogSink,
    /// Whether to log routine events (leases granted and ended), not only
    /// refusals and errors.
    pub verbose: bool,
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("policy", &self.policy)
            .field("max_queue", &self.max_queue)
            .field("max_pending", &self.max_pending)
            .field("hello_timeout", &self.hello_timeout)
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

/// Where a broker's log lines go.
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Routine events (only when `verbose`).
    Info,
    /// A refused or misbehaving client.
    Refusal,
    /// A broker-side problem.
    Error,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            policy: AccessPolicy::default(),
            max_queue: 8,
            max_pending: 32,
            hello_timeout: Duration::from_secs(2),
            log: Arc::new(|level, line| {
                let tag = match level {
                    LogLevel::Info => "",
                    LogLevel::Refusal => "refused: ",
                    LogLevel::Error => "error: ",
                };
                eprintln!("pcmring-broker: {tag}{line}");
            }),
            verbose: false,
        }
    }
}

/// Counters a broker keeps; readable from other threads.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Leases handed out.
    pub leases: AtomicU64,
    /// Leases that ended (lessee hung up).
    pub leases_ended: AtomicU64,
    /// Clients refused, for any reason.
    pub refusals: AtomicU64,
    /// Clients put in line.
    pub queued: AtomicU64,
    /// Open client connections right now.
    pub open: AtomicU64,
    /// Most client connections open at once.
    pub peak_open: AtomicU64,
}

impl BrokerStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Wakes a running broker's loop and makes it shut down. Cloneable and
/// usable from any thread (and, via [`install_signal_handlers`], from
/// SIGINT/SIGTERM).
#[derive(Debug, Clone)]
pub struct StopHandle {
    fd: Arc<OwnedFd>,
}

impl StopHandle {
    fn new() -> io::Result<Self> {
        use nix::sys::eventfd::{EfdFlags, EventFd};
        let fd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(StopHandle {
            fd: Arc::new(OwnedFd::from(fd)),
        })
    }

    /// Asks the broker to shut down.
    pub fn stop(&self) {
        // A full counter (EAGAIN) means a stop is already pending.
        let _ = nix::unistd::write(&*self.fd, &1u64.to_ne_bytes());
    }
}

/// The fd number the signal handler writes to (from an atomic: the
/// handler must stay async-signal-safe).
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);
/// The private dup behind [`SIGNAL_FD`], owned for the life of the process.
static SIGNAL_FD_OWNED: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

extern "C" fn on_signal(_sig: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        crate::sys::signal_eventfd(fd);
    }
}

/// Routes SIGINT and SIGTERM to `stop` (process-wide). The handler only
/// writes to an eventfd, which is async-signal-safe.
pub fn install_signal_handlers(stop: &StopHandle) -> io::Result<()> {
    // Keep a private copy of the eventfd open for the life of the process,
    // so the handler never writes to a closed (and maybe reused) fd.
    let dup = stop.fd.try_clone()?; // F_DUPFD_CLOEXEC
    let mut owned = SIGNAL_FD_OWNED.lock().unwrap_or_else(|p| p.into_inner());
    SIGNAL_FD.store(dup.as_raw_fd(), Ordering::SeqCst);
    // The previous dup (if any), no longer referenced by the handler, closes.
    *owned = Some(dup);
    drop(owned);
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler is an extern "C" fn that only does
        // async-signal-safe work (an atomic load and a write(2)).
        unsafe { sigaction(sig, &sa)? };
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending { deadline: Instant },
    Queued,
    Lessee { lease_id: u64 },
}

#[derive(Debug)]
struct Conn {
    fd: OwnedFd,
    cred: PeerCred,
    name: String,
    /// What the client asked for, and the wire version it speaks (1 until
    /// its hello arrives).
    kind: LeaseKind,
    version: u16,
    state: State,
    /// Whether an unexpected message from this client was logged already.
    warned: bool,
}

impl Conn {
    fn who(&self) -> String {
        let name = if self.name.is_empty() {
            String::new()
        } else {
            format!(" {:?}", self.name)
        };
        format!(
            "client{name} (pid {} uid {} gid {})",
            self.cred.pid, self.cred.uid, self.cred.gid
        )
    }
}

/// A broker serving one [`LeaseSource`] on one [`Listener`].
pub struct Broker<S: LeaseSource> {
    listener: Option<Listener>,
    source: S,
    /// The capture stream, for capture and duplex leases, and whether it
    /// was started linked with `source`.
    capture: Option<(Box<dyn LeaseSource + Send>, bool)>,
    config: BrokerConfig,
    conns: Vec<Option<Conn>>,
    queue: VecDeque<usize>,
    lessee: Option<usize>,
    pollfds: Vec<libc::pollfd>,
    slots: Vec<usize>,
    stop: StopHandle,
    stats: Arc<BrokerStats>,
    next_lease: u64,
    /// After an accept error (EMFILE...), the listener rests until then.
    accept_paused_until: Option<Instant>,
    /// Whether accepting is failing (logged once per episode).
    accept_failing: bool,
}

const MAX_ACCEPTS_PER_TURN: usize = 16;
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

impl<S: LeaseSource> Broker<S> {
    /// A broker for `source`, listening on `listener`.
    pub fn new(listener: Listener, source: S, config: BrokerConfig) -> io::Result<Self> {
        let cap = 1 + config.max_queue + config.max_pending;
        Ok(Broker {
            listener: Some(listener),
            source,
            capture: None,
            conns: (0..cap).map(|_| None).collect(),
            queue: VecDeque::with_capacity(config.max_queue),
            lessee: None,
            pollfds: Vec::with_capacity(cap + 2),
            slots: Vec::with_capacity(cap),
            stop: StopHandle::new()?,
            stats: Arc::new(BrokerStats::default()),
            next_lease: 1,
            accept_paused_until: None,
            accept_failing: false,
            config,
        })
    }

    /// Also serves `capture` (a capture stream of the same card as the
    /// playback source): clients may then lease it alone
    /// ([`LeaseKind::Capture`]) or with the playback stream as a duplex
    /// pair ([`LeaseKind::Duplex`]). `linked`: both were started by one
    /// linked START (`PcmSource::open_duplex`), which duplex leases
    /// report. One client holds a lease at a time, whatever its kind.
    pub fn with_capture(mut self, capture: Box<dyn LeaseSource + Send>, linked: bool) -> Self {
        self.capture = Some((capture, linked));
        self
    }

    /// A handle that makes [`Broker::run`] return.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<BrokerStats> {
        self.stats.clone()
    }

    /// The leased source (e.g. to inspect a simulated device after a run).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Consumes the broker, returning the source.
    pub fn into_source(self) -> S {
        self.source
    }

    fn log(&self, level: LogLevel, line: &str) {
        if level != LogLevel::Info || self.config.verbose {
            (self.config.log)(level, line);
        }
    }

    /// Serves clients until [`StopHandle::stop`] (or a signal routed by
    /// [`install_signal_handlers`]). On return every client connection is
    /// closed, the stream is stopped and a socket file is removed.
    pub fn run(&mut self) -> io::Result<()> {
        self.log(
            LogLevel::Info,
            &format!(
                "serving {} on {}",
                self.source.describe(),
                self.listener
                    .as_ref()
                    .map(|l| l.addr().to_string())
                    .unwrap_or_default()
            ),
        );
        let result = self.serve();
        self.shutdown();
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        loop {
            self.build_pollset();
            let timeout = self.poll_timeout();
            match crate::sys::poll(&mut self.pollfds, timeout) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
            if self.pollfds[0].revents != 0 {
                return Ok(());
            }
            for i in 2..self.pollfds.len() {
                let revents = self.pollfds[i].revents;
                if revents != 0 {
                    let slot = self.slots[i - 2];
                    self.on_conn_event(slot, revents);
                }
            }
            self.expire_pending();
            if self.pollfds[1].revents != 0 {
                self.accept_some();
            }
            self.promote_queue();
        }
    }

    fn build_pollset(&mut self) {
        self.pollfds.clear();
        self.slots.clear();
        self.pollfds.push(libc::pollfd {
            fd: self.stop.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        if self
            .accept_paused_until
            .is_some_and(|t| t <= Instant::now())
        {
            self.accept_paused_until = None;
        }
        // A negative fd is ignored by poll: the listener rests while paused.
        let lfd = match (&self.listener, self.accept_paused_until) {
            (Some(l), None) => l.as_fd().as_raw_fd(),
            _ => -1,
        };
        self.pollfds.push(libc::pollfd {
            fd: lfd,
            events: libc::POLLIN,
            revents: 0,
        });
        for (slot, c) in self.conns.iter().enumerate() {
            if let Some(c) = c {
                self.pollfds.push(libc::pollfd {
                    fd: c.fd.as_raw_fd(),
                    events: libc::POLLIN | libc::POLLRDHUP,
                    revents: 0,
                });
                self.slots.push(slot);
            }
        }
    }

    fn poll_timeout(&self) -> i32 {
        let now = Instant::now();
        let next = self
            .conns
            .iter()
            .flatten()
            .filter_map(|c| match c.state {
                State::Pending { deadline } => Some(deadline),
                _ => None,
            })
            .chain(self.accept_paused_until)
            .min();
        match next {
            None => -1,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis();
                // Round up so the deadline has passed when we wake.
                (ms + 1).min(60_000) as i32
            }
        }
    }

    fn open_count(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    fn pending_count(&self) -> usize {
        self.conns
            .iter()
            .flatten()
            .filter(|c| matches!(c.state, State::Pending { .. }))
            .count()
    }

    fn accept_some(&mut self) {
        for _ in 0..MAX_ACCEPTS_PER_TURN {
            let accepted = match self.listener.as_ref().map(Listener::accept) {
                Some(Ok(Some(fd))) => fd,
                Some(Ok(None)) | None => return,
                Some(Err(e)) => {
                    // EMFILE/ENFILE/ENOMEM: the connection stays in the
                    // backlog; rest a moment instead of spinning on it.
                    if !self.accept_failing {
                        self.accept_failing = true;
                        self.log(
                            LogLevel::Error,
                            &format!("accept failed: {e}; retrying every 100 ms"),
                        );
                    }
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            };
            if self.accept_failing {
                self.accept_failing = false;
                self.log(LogLevel::Error, "accepting connections again");
            }
            BrokerStats::bump(&self.stats.accepted);
            self.admit(accepted);
        }
    }

    fn admit(&mut self, fd: OwnedFd) {
        let cred = match socket::peer_cred(fd.as_fd()) {
            Ok(c) => c,
            Err(e) => {
                self.log(LogLevel::Error, &format!("SO_PEERCRED failed: {e}"));
                return;
            }
        };
        if let Err(why) = self.config.policy.check(&cred, fd.as_fd()) {
            self.refuse_fd(&fd, &cred, 1, RefusalCode::NotAllowed, &why);
            return;
        }
        let free = self.conns.iter().position(Option::is_none);
        let slot = match free {
            Some(s) if self.pending_count() < self.config.max_pending => s,
            _ => {
                self.refuse_fd(
                    &fd,
                    &cred,
                    1,
                    RefusalCode::TooManyConnections,
                    "too many connections being set up",
                );
                return;
            }
        };
        self.conns[slot] = Some(Conn {
            fd,
            cred,
            name: String::new(),
            kind: LeaseKind::Playback,
            version: 1,
            warned: false,
            state: State::Pending {
                deadline: Instant::now() + self.config.hello_timeout,
            },
        });
        let open = self.open_count() as u64;
        self.stats.open.store(open, Ordering::Relaxed);
        self.stats.peak_open.fetch_max(open, Ordering::Relaxed);
    }

    /// Refuses in wire `version` (1 before a hello: every client reads it).
    fn refuse_fd(&self, fd: &OwnedFd, cred: &PeerCred, version: u16, code: RefusalCode, why: &str) {
        BrokerStats::bump(&self.stats.refusals);
        self.log(
            LogLevel::Refusal,
            &format!(
                "client (pid {} uid {} gid {}): {}: {why}",
                cred.pid,
                cred.uid,
                cred.gid,
                code.describe()
            ),
        );
        let msg = Refusal::new(code, why).encode_as(version);
        // Best effort: a client that does not read just misses the reason.
        let _ = socket::send_with_fds(fd.as_fd(), msg.as_bytes(), &[]);
        // Closing with unread data would turn into ECONNRESET for the
        // client before it reads the refusal; drain what is there.
        socket::drain(fd.as_fd(), 4);
    }

    /// Refuses and closes the connection in `slot`.
    fn refuse(&mut self, slot: usize, code: RefusalCode, why: &str) {
        if let Some(c) = self.take(slot) {
            let why = format!("{}: {why}", c.who());
            self.refuse_fd(&c.fd, &c.cred, c.version, code, &why);
        }
    }

    /// Removes a connection from every structure and returns it.
    fn take(&mut self, slot: usize) -> Option<Conn> {
        let c = self.conns.get_mut(slot)?.take()?;
        self.queue.retain(|&s| s != slot);
        if self.lessee == Some(slot) {
            self.lessee = None;
        }
        self.stats
            .open
            .store(self.open_count() as u64, Ordering::Relaxed);
        Some(c)
    }

    fn expire_pending(&mut self) {
        let now = Instant::now();
        for slot in 0..self.conns.len() {
            let expired = matches!(
                self.conns[slot],
                Some(Conn { state: State::Pending { deadline }, .. }) if deadline <= now
            );
            if expired {
                self.refuse(slot, RefusalCode::Timeout, "no hello in time");
            }
        }
    }

    fn on_conn_event(&mut self, slot: usize, revents: libc::c_short) {
        let Some(state) = self.conns[slot].as_ref().map(|c| c.state) else {
            return;
        };
        let hangup =
            revents & (libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP | libc::POLLNVAL) != 0;
        match state {
            State::Pending { .. } => {
                if revents & libc::POLLIN != 0 {
                    self.on_hello(slot);
                } else if hangup {
                    self.take(slot);
                }
            }
            State::Queued => {
                if hangup || !self.drain_unexpected(slot) {
                    self.take(slot);
                }
            }
            State::Lessee { lease_id } => {
                if hangup || !self.drain_unexpected(slot) {
                    self.end_lease(slot, lease_id);
                }
            }
        }
    }

    /// Reads and discards what a queued client or lessee sends (nothing is
    /// expected). Returns false when the peer closed.
    fn drain_unexpected(&mut self, slot: usize) -> bool {
        let Some(c) = self.conns[slot].as_mut() else {
            return false;
        };
        let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
        let problem = match socket::recv_with_fds(c.fd.as_fd(), &mut buf, true) {
            Ok(_) => "unexpected message ignored".to_owned(),
            Err(RecvError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(RecvError::Closed) | Err(RecvError::Io(_)) => return false,
            Err(e) => e.to_string(),
        };
        // Log once per connection: a chatty client must not flood the log.
        if !c.warned {
            c.warned = true;
            let line = format!("{}: {problem} (further ones not logged)", c.who());
            self.log(LogLevel::Refusal, &line);
        }
        true
    }

    fn end_lease(&mut self, slot: usize, lease_id: u64) {
        if let Some(c) = self.take(slot) {
            // A lessee that kept its fd must not reach the next one's ring.
            let revoked = self
                .source
                .revoke_leases()
                .and_then(|_| match &mut self.capture {
                    Some((capture, _)) => capture.revoke_leases(),
                    None => Ok(0),
                });
            if let Err(e) = revoked {
                self.log(
                    LogLevel::Error,
                    &format!("lease {lease_id}: revoke failed: {e}"),
                );
            }
            self.source.silence();
            BrokerStats::bump(&self.stats.leases_ended);
            self.log(
                LogLevel::Info,
                &format!("lease {lease_id} ended: {} hung up; ring silenced", c.who()),
            );
        }
    }

    fn on_hello(&mut self, slot: usize) {
        let mut buf = [0u8; wire::MAX_MESSAGE_LEN + 1];
        let Some(c) = self.conns[slot].as_ref() else {
            return;
        };
        let received = socket::recv_with_fds(c.fd.as_fd(), &mut buf, true);
        let msg = match received {
            Ok(r) if !r.fds.is_empty() => {
                drop(r);
                self.refuse(slot, RefusalCode::BadRequest, "clients must not send fds");
                return;
            }
            Ok(r) => wire::parse_client_message(&buf[..r.len]),
            Err(RecvError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(RecvError::Closed) | Err(RecvError::Io(_)) => {
                self.take(slot);
                return;
            }
            Err(e) => {
                self.refuse(slot, RefusalCode::BadRequest, &e.to_string());
                return;
            }
        };
        let hello = match msg {
            Ok(wire::ClientMessage::Hello(h)) => h,
            Err(e @ WireError::UnsupportedVersion { .. }) => {
                self.refuse(slot, RefusalCode::VersionMismatch, &e.to_string());
                return;
            }
            Err(e) => {
                self.refuse(slot, RefusalCode::BadRequest, &e.to_string());
                return;
            }
        };
        if let Some(c) = self.conns[slot].as_mut() {
            c.name = hello.name;
            c.kind = hello.kind;
            c.version = hello.version;
        }
        // Refuse at once what can never be granted, rather than in line.
        if let Err((code, why)) = self.can_serve(hello.kind) {
            self.refuse(slot, code, &why);
            return;
        }
        if self.lessee.is_none() && self.queue.is_empty() {
            self.grant(slot);
        } else if self.queue.len() < self.config.max_queue {
            self.queue.push_back(slot);
            let position = self.queue.len() as u32;
            let Some(c) = self.conns[slot].as_mut() else {
                return;
            };
            c.state = State::Queued;
            BrokerStats::bump(&self.stats.queued);
            let msg = Queued { position }.encode_as(c.version);
            if let Err(e) = socket::send_with_fds(c.fd.as_fd(), msg.as_bytes(), &[]) {
                let who = c.who();
                self.log(
                    LogLevel::Refusal,
                    &format!("{who}: dropped, cannot send: {e}"),
                );
                self.take(slot);
            }
        } else {
            self.refuse(
                slot,
                RefusalCode::Busy,
                "the stream is leased and the waiting line is full",
            );
        }
    }

    fn promote_queue(&mut self) {
        while self.lessee.is_none() {
            let Some(slot) = self.queue.pop_front() else {
                return;
            };
            self.grant(slot);
        }
    }

    /// Whether this broker can ever grant `kind`.
    fn can_serve(&self, kind: LeaseKind) -> Result<(), (RefusalCode, String)> {
        let capture = match (&self.capture, kind) {
            (_, LeaseKind::Playback) => return Ok(()),
            (None, _) => {
                return Err((
                    RefusalCode::Unavailable,
                    format!(
                        "no capture stream: this broker leases {}",
                        self.source.describe()
                    ),
                ))
            }
            (Some((c, _)), _) => c,
        };
        let (out, inp) = (self.source.layout().rate, capture.layout().rate);
        if kind == LeaseKind::Duplex && out != inp {
            return Err((
                RefusalCode::RatesDiffer,
                format!("playback runs at {out} Hz, capture at {inp} Hz"),
            ));
        }
        Ok(())
    }

    fn lease_info(source: &dyn LeaseSource, lease_id: u64) -> LeaseInfo {
        LeaseInfo {
            direction: source.direction(),
            layout: source.layout(),
            device: source.device_kind(),
            status_mappable: source.status_mappable(),
            clock: source.clock(),
            batch: source.batch(),
            wake_fd: source.wake_fd(),
            lease_id,
        }
    }

    /// Fresh fds of one stream, checked against its info.
    fn stream_fds(source: &mut dyn LeaseSource, info: &LeaseInfo) -> Result<Vec<OwnedFd>, String> {
        match source.lease_fds() {
            Ok(f) if f.len() == info.fd_count() => Ok(f),
            Ok(f) => Err(format!(
                "device gave {} fds, expected {}",
                f.len(),
                info.fd_count()
            )),
            Err(e) => Err(format!("cannot create a lease: {e}")),
        }
    }

    /// The message and fds of a lease of `kind` (which `can_serve`).
    fn build_lease(
        &mut self,
        kind: LeaseKind,
        lease_id: u64,
    ) -> Result<(ServerMessage, Vec<OwnedFd>), String> {
        let playback = Self::lease_info(&self.source, lease_id);
        let capture = self.capture.as_mut().map(|(c, linked)| {
            let info = Self::lease_info(&**c, lease_id);
            (c, info, *linked)
        });
        match (kind, capture) {
            (LeaseKind::Playback, _) => {
                let fds = Self::stream_fds(&mut self.source, &playback)?;
                Ok((ServerMessage::Lease(playback), fds))
            }
            (LeaseKind::Capture, Some((c, info, _))) => {
                let fds = Self::stream_fds(&mut **c, &info)?;
                Ok((ServerMessage::Lease(info), fds))
            }
            (LeaseKind::Duplex, Some((c, info, linked))) => {
                let mut fds = Self::stream_fds(&mut self.source, &playback)?;
                fds.extend(Self::stream_fds(&mut **c, &info)?);
                let msg = ServerMessage::Duplex {
                    playback,
                    capture: info,
                    linked,
                };
                Ok((msg, fds))
            }
            (_, None) => Err("no capture stream".to_owned()),
        }
    }

    fn grant(&mut self, slot: usize) {
        let lease_id = self.next_lease;
        let Some((kind, version)) = self.conns[slot].as_ref().map(|c| (c.kind, c.version)) else {
            return;
        };
        let (msg, fds) = match self.build_lease(kind, lease_id) {
            Ok(l) => l,
            Err(why) => {
                self.log(LogLevel::Error, &why);
                self.refuse(slot, RefusalCode::DeviceError, &why);
                return;
            }
        };
        let msg = msg.encode_as(version);
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
        match socket::send_with_fds(c.fd.as_fd(), msg.as_bytes(), &borrowed) {
            Ok(()) => {
                c.state = State::Lessee { lease_id };
                let who = c.who();
                self.lessee = Some(slot);
                self.next_lease += 1;
                BrokerStats::bump(&self.stats.leases);
                self.log(
                    LogLevel::Info,
                    &format!("lease {lease_id} ({}) granted to {who}", kind.name()),
                );
            }
            Err(e) => {
                let who = c.who();
                self.log(
                    LogLevel::Refusal,
                    &format!("{who}: dropped, cannot send lease: {e}"),
                );
                self.take(slot);
            }
        }
        // Our copies of the fds close here; the client holds its own.
    }

    fn shutdown(&mut self) {
        for slot in 0..self.conns.len() {
            let Some(c) = self.take(slot) else { continue };
            if !matches!(c.state, State::Lessee { .. }) {
                let msg =
                    Refusal::new(RefusalCode::ShuttingDown, "broker stopped").encode_as(c.version);
                let _ = socket::send_with_fds(c.fd.as_fd(), msg.as_bytes(), &[]);
            }
        }
        self.source.silence();
        if let Err(e) = self.source.stop() {
            self.log(LogLevel::Error, &format!("stopping the stream failed: {e}"));
        }
        if let Some((capture, _)) = &mut self.capture {
            if let Err(e) = capture.stop() {
                self.log(LogLevel::Error, &format!("stopping capture failed: {e}"));
            }
        }
        // Dropping the listener removes its socket file.
        self.listener = None;
        self.log(LogLevel::Info, "stopped");
    }
}
