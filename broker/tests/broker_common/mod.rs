//! Shared helpers for the broker tests: a memfd-backed lease source, a
//! broker on a thread, unique socket names, fd counting.

#![allow(dead_code)]

use pcmring::broker::DeviceKind;
use pcmring::sys::mmap::{Mapping, Protection};
use pcmring::{Format, StreamLayout};
use pcmring_broker::{
    Broker, BrokerConfig, BrokerStats, LeaseSource, Listener, LogLevel, SocketAddr, StopHandle,
};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A small layout for tests.
pub fn test_layout() -> StreamLayout {
    StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 256,
        buffer_size: 1024,
        boundary: 1024 << 20,
    }
}

/// Creates a memfd of `len` bytes.
pub fn memfd(name: &str, len: usize) -> OwnedFd {
    let c = std::ffi::CString::new(name).expect("no NUL in name");
    // SAFETY: valid C string; flags are valid.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    assert_eq!(
        // SAFETY: valid fd.
        unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) },
        0
    );
    // Sealed like the simulated device's memfds (clients refuse others).
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    // SAFETY: valid fd, integer arguments.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    assert_eq!(r, 0, "seal: {}", std::io::Error::last_os_error());
    fd
}

/// A fresh CLOEXEC copy of an fd.
pub fn dup(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().expect("dup")
}

/// A lease source over plain memfds, shaped like the simulated device
/// (ring + 4 KiB status page), without a DAC. Counts silences.
pub struct MemfdSource {
    pub ring: OwnedFd,
    pub status: OwnedFd,
    pub map: Arc<Mapping>,
    pub silenced: Arc<AtomicU64>,
    pub layout: StreamLayout,
}

impl MemfdSource {
    pub fn new(layout: StreamLayout) -> Self {
        let ring = memfd("pcmring-test-ring", layout.ring_bytes());
        let status = memfd("pcmring-test-status", 4096);
        let map = Arc::new(
            Mapping::new(ring.as_fd(), 0, layout.ring_bytes(), Protection::ReadWrite).expect("map"),
        );
        MemfdSource {
            ring,
            status,
            map,
            silenced: Arc::new(AtomicU64::new(0)),
            layout,
        }
    }
}

impl LeaseSource for MemfdSource {
    fn layout(&self) -> StreamLayout {
        self.layout
    }
    fn device_kind(&self) -> DeviceKind {
        DeviceKind::Simulated
    }
    fn status_mappable(&self) -> bool {
        true
    }
    fn lease_fds(&mut self) -> pcmring::Result<Vec<OwnedFd>> {
        Ok(vec![dup(&self.ring), dup(&self.status)])
    }
    fn silence(&mut self) {
        // SAFETY: the mapping covers ring_bytes; tests accept racing writers.
        unsafe { std::ptr::write_bytes(self.map.as_ptr(), 0, self.map.len()) };
        self.silenced.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reads the whole ring of a mapping.
pub fn ring_bytes(map: &Mapping) -> Vec<u8> {
    // SAFETY: the mapping is live and `len` bytes long.
    unsafe { std::slice::from_raw_parts(map.as_ptr(), map.len()) }.to_vec()
}

/// A unique abstract socket name for this process and tag.
pub fn unique_addr(tag: &str) -> SocketAddr {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    SocketAddr::Abstract(format!("pcmring-test-{}-{tag}-{n}", std::process::id()).into_bytes())
}

/// A running broker on a thread.
pub struct Running<S: LeaseSource + Send + 'static> {
    pub addr: SocketAddr,
    pub stop: StopHandle,
    pub stats: Arc<BrokerStats>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub thread: Option<JoinHandle<S>>,
}

impl<S: LeaseSource + Send + 'static> Running<S> {
    /// Stops the broker and returns its source.
    pub fn finish(mut self) -> S {
        self.stop.stop();
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("broker thread panicked")
    }

    /// Log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl<S: LeaseSource + Send + 'static> Drop for Running<S> {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.stop();
            let _ = t.join();
        }
    }
}

/// A config whose log goes to a shared vector (and stderr).
pub fn logging_config(log: &Arc<Mutex<Vec<String>>>) -> BrokerConfig {
    let sink = log.clone();
    BrokerConfig {
        hello_timeout: Duration::from_millis(300),
        log: Arc::new(move |level: LogLevel, line: &str| {
            if let Ok(mut v) = sink.lock() {
                if v.len() < 10_000 {
                    v.push(format!("{level:?}: {line}"));
                }
            }
        }),
        verbose: true,
        ..BrokerConfig::default()
    }
}

/// Starts a broker for `source` on a thread.
pub fn start<S: LeaseSource + Send + 'static>(
    source: S,
    addr: SocketAddr,
    edit: impl FnOnce(&mut BrokerConfig),
) -> Running<S> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut config = logging_config(&log);
    edit(&mut config);
    let listener = Listener::bind(&addr, 64).expect("bind");
    let mut broker = Broker::new(listener, source, config).expect("broker");
    let stop = broker.stop_handle();
    let stats = broker.stats();
    let thread = std::thread::spawn(move || {
        broker.run().expect("broker run");
        broker.into_source()
    });
    Running {
        addr,
        stop,
        stats,
        log,
        thread: Some(thread),
    }
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Reads a broker counter.
pub fn get(c: &AtomicU64) -> u64 {
    BrokerStats::get(c)
}

/// Waits until `f` holds (up to 5 s).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What the open fds of this process are (for leak diagnostics).
pub fn fd_list() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let t = std::fs::read_link(e.path()).unwrap_or_default();
                    format!("{} -> {}", e.file_name().to_string_lossy(), t.display())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
