//! The broker's revocation at lease end on real hardware, in the VM suite
//! (kernel/vm/run, `VM_BINS=vm_broker_revoke`): a client that hangs up its
//! socket but keeps its BUFFER fd and keeps writing must lose the ring (the
//! broker revokes through snd-pcm-anondup), and the next client's ring must
//! stay silent. On the host the test is listed as ignored.

use pcmring::client::ConnectOptions;
use pcmring::pcm::{BufferSize, Config, Match};
use pcmring::Format;
use pcmring_broker::{
    Broker, BrokerConfig, BrokerStats, LeaseSource, Listener, PcmSource, SocketAddr,
};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const DUMMY: &str = "hw:Dummy,0";

fn config(period: u64, periods: u32) -> Config {
    Config {
        format: Some(Format::S16Le),
        channels: 2,
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: period,
        buffer: BufferSize::Periods(periods),
        ..Config::default()
    }
}

/// Writes past libtest's output capture, so the VM log keeps the line.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// A shared mapping of `fd` at offset 0, or None.
fn map(fd: i32, len: usize, prot: i32) -> Option<*mut u8> {
    // SAFETY: a fresh mapping at a kernel-chosen address aliases nothing.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, 0) };
    (p != libc::MAP_FAILED).then_some(p.cast())
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn the_broker_revokes_a_lease_whose_client_hung_up_but_kept_writing() {
    let source = PcmSource::open(DUMMY, &config(1024, 4)).expect("broker source");
    let ring = source.layout().ring_bytes();
    let addr =
        SocketAddr::Abstract(format!("pcmring-vm-anondup-{}", std::process::id()).into_bytes());
    let listener = Listener::bind(&addr, 8).expect("bind");
    let opts = ConnectOptions {
        name: "vm-anondup".into(),
        io_timeout: Duration::from_secs(10),
        wait_in_line: Some(Duration::from_secs(30)),
        ..ConnectOptions::default()
    };
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both are new fds we own.
    let (ready_r, ready_w) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Fork before the broker thread exists; the child keeps only fd 3.
    // SAFETY: the child runs client code and raw syscalls, then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: in the child: the pipe to fd 3, everything else closed.
        unsafe {
            libc::dup2(ready_w.as_raw_fd(), 3);
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        }
        let Ok(lease) = opts.connect(&addr) else {
            // SAFETY: exits the child.
            unsafe { libc::_exit(2) }
        };
        let (_info, fds, link) = lease.into_parts();
        let Some(p) = map(fds[0].as_raw_fd(), ring, libc::PROT_READ | libc::PROT_WRITE) else {
            // SAFETY: exits the child.
            unsafe { libc::_exit(3) }
        };
        drop(link); // hangs up: the lease ends, the fd stays
                    // SAFETY: raw syscalls and stores into our own mapping; the loop
                    // ends by SIGBUS (or after about 10 s).
        unsafe {
            libc::write(3, [1u8].as_ptr().cast(), 1);
            for _ in 0..1_000_000u32 {
                std::ptr::write_bytes(p, 0x55, ring);
                libc::usleep(10);
            }
            libc::_exit(0);
        }
    }
    drop(ready_w);
    let config = BrokerConfig {
        verbose: true,
        ..BrokerConfig::default()
    };
    let mut broker = Broker::new(listener, source, config).expect("broker");
    let stop = broker.stop_handle();
    let stats = broker.stats();
    let thread = std::thread::spawn(move || {
        broker.run().expect("broker run");
        broker.into_source()
    });
    let mut b = [0u8; 1];
    // SAFETY: one byte into a live buffer (0 if the child failed early).
    let n = unsafe { libc::read(ready_r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
    assert_eq!(n, 1, "client A did not get a lease");
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGBUS,
        "client A must die on a store after its lease ended (status {status:#x})"
    );
    // The broker thread revoked (hence the SIGBUS) and is finishing the
    // lease's end: its count may trail the child's death.
    let t0 = Instant::now();
    while BrokerStats::get(&stats.leases_ended) == 0 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(BrokerStats::get(&stats.leases_ended), 1);
    out(
        "broker lease end | client A hung up, kept writing, and got SIGBUS when the broker revoked",
    );
    let lease = opts.connect(&addr).expect("client B");
    let p = map(lease.fds()[0].as_raw_fd(), ring, libc::PROT_READ).expect("client B maps the ring");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        // SAFETY: p is a live read-only mapping of `ring` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(p, ring) };
        assert!(
            bytes.iter().all(|&x| x == 0),
            "client B's ring holds client A's bytes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: p/ring come from the mapping above, unmapped once.
    unsafe { libc::munmap(p.cast(), ring) };
    drop(lease);
    out("broker lease end | client B's ring stayed silent");
    stop.stop();
    drop(thread.join().expect("broker thread"));
}
