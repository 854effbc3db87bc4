//! The broker flow over the simulated device between processes: a client
//! process gets the fds and plays; a killed client's ring is silenced and
//! the next client plays; a killed broker is noticed by its client; SIGTERM
//! shuts the broker down cleanly.
//!
//! Child processes are this test binary re-run on the ignored entry
//! `child_process` with `PCMRING_BROKER_ROLE` set.

mod broker_common;

use broker_common::{fd_count, get, start, unique_addr};
use pcmring::client::{self, ConnectOptions, LeaseError};
use pcmring::sim::{SimConfig, SimDac, SimDevice};
use pcmring::{Device, Error, Format, StreamLayout};
use pcmring_broker::{
    install_signal_handlers, Broker, BrokerConfig, Listener, SimSource, SocketAddr,
};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Tests here spawn processes and count fds: run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const ROLE: &str = "PCMRING_BROKER_ROLE";
const ADDR: &str = "PCMRING_BROKER_ADDR";
const MARK: &str = "PCMRING_BROKER_MARK";
const SPARE_FDS: &str = "PCMRING_BROKER_SPARE_FDS";

fn layout() -> StreamLayout {
    StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 240,
        buffer_size: 960,
        boundary: 960 << 20,
    }
}

fn sim(record_frames: usize) -> SimDac {
    let mut c = SimConfig::new(layout());
    c.record_frames = record_frames;
    c.dac_priority = None;
    SimDac::start(c).expect("sim DAC")
}

fn addr_string(a: &SocketAddr) -> String {
    a.to_string()
}

fn spawn_role(role: &str, addr: &str, mark: i16) -> Child {
    role_command(role, addr, mark).spawn().expect("spawn child")
}

fn role_command(role: &str, addr: &str, mark: i16) -> Command {
    let exe = std::env::current_exe().expect("test binary");
    let mut c = Command::new(exe);
    c.args([
        "--exact",
        "child_process",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env(ADDR, addr)
    .env(MARK, mark.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    c
}

/// Waits for a line containing `prefix` on the child's stdout.
fn wait_line(child: &mut Child, prefix: &str) -> String {
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut r = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).expect("child stdout");
        assert!(n > 0, "child exited before printing {prefix:?}");
        // libtest prints "test child_process ... " without a newline first.
        if let Some(at) = line.find(prefix) {
            return line[at..].trim().to_owned();
        }
    }
}

/// The entry point of child processes (does nothing in a normal run).
#[test]
#[ignore = "helper: child process entry of the broker_flow tests"]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    // Never outlive a test run, whatever happens to the parent.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("child_process: 60 s watchdog expired");
        std::process::exit(9);
    });
    let addr = std::env::var(ADDR).expect("address");
    let mark: i16 = std::env::var(MARK)
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000);
    match role.as_str() {
        "client" => child_client(&addr, mark),
        "broker" => child_broker(&addr),
        other => panic!("unknown role {other}"),
    }
}

/// Plays `mark` in every sample until killed (or the broker goes away).
fn child_client(addr: &str, mark: i16) {
    let opts = ConnectOptions {
        name: format!("flow-client-{mark}"),
        wait_in_line: Some(Duration::from_secs(20)),
        ..ConnectOptions::default()
    };
    let lease = opts.connect(&SocketAddr::parse(addr)).expect("lease");
    let mut dev = lease.into_device().expect("device");
    println!("leased {}", dev.info().lease_id);
    let err = play(&mut dev, mark, None);
    println!("stopped: {err}");
    std::process::exit(3);
}

/// Writes `mark` ahead of the position until an error (or `for_frames`).
fn play(dev: &mut impl Device, mark: i16, for_frames: Option<u64>) -> Error {
    let l = dev.layout();
    let fb = l.frame_bytes();
    let frame: Vec<u8> = (0..l.channels).flat_map(|_| mark.to_le_bytes()).collect();
    let mut w = 0u64;
    let mut first = None;
    loop {
        let p = match dev.position() {
            Ok(p) => p.hw_ptr,
            Err(e) => return e.into(),
        };
        let start = *first.get_or_insert(p);
        if for_frames.is_some_and(|n| p >= start + n) {
            return Error::BadState {
                device: "test".into(),
                state: "done".into(),
            };
        }
        // Never write the period the DAC may be playing.
        w = w.max(p + l.period_size);
        while w < p + l.buffer_size {
            let off = (w % l.buffer_size) as usize * fb;
            // SAFETY: [off, off+fb) is in the ring and outside the period
            // the DAC may be reading.
            unsafe { dev.ring().slice_mut(off, fb) }.copy_from_slice(&frame);
            w += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs a broker on the simulated device until SIGTERM.
fn child_broker(addr: &str) {
    let source = SimSource::new(sim(0)).expect("sim source");
    let listener = Listener::bind(&SocketAddr::parse(addr), 16).expect("bind");
    let config = BrokerConfig {
        hello_timeout: Duration::from_secs(30),
        ..BrokerConfig::default()
    };
    let mut broker = Broker::new(listener, source, config).expect("broker");
    install_signal_handlers(&broker.stop_handle()).expect("signals");
    if let Some(spare) = std::env::var(SPARE_FDS)
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        // Leave exactly `spare` free fd numbers below the limit (fds open
        // above it, e.g. an inherited jobserver pipe, stay usable).
        let open: std::collections::BTreeSet<u64> = std::fs::read_dir("/proc/self/fd")
            .expect("fd dir")
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
            .collect();
        let (mut limit, mut free) = (0u64, 0u64);
        while free < spare {
            if !open.contains(&limit) {
                free += 1;
            }
            limit += 1;
        }
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: plain setrlimit with a valid struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    println!("ready");
    broker.run().expect("run");
    println!("clean exit");
    std::process::exit(0);
}

/// Samples (first channel) of a recording.
fn samples(rec: &pcmring::sim::Recording) -> Vec<i16> {
    (0..rec.frames())
        .filter_map(|i| rec.frame(i).map(|f| i16::from_le_bytes([f[0], f[1]])))
        .collect()
}

fn ring_has(obs: &SimDevice, mark: i16) -> bool {
    let r = obs.ring();
    // SAFETY: reads a racy snapshot of the shared ring (test observer).
    let bytes = unsafe { r.slice(0, r.len()) };
    bytes
        .chunks_exact(2)
        .any(|s| i16::from_le_bytes([s[0], s[1]]) == mark)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
    t.elapsed()
}

#[test]
fn client_process_plays_through_the_broker() {
    let _g = serial();
    let dac = sim(48_000 * 10);
    let observer = SimDevice::attach(dac.share().expect("fds"), dac.layout()).expect("observer");
    let b = start(
        SimSource::new(dac).expect("source"),
        unique_addr("flow"),
        |_| {},
    );
    let mut child = spawn_role("client", &addr_string(&b.addr), 1111);
    wait_line(&mut child, "leased");
    wait_for(
        "the client's samples in the ring",
        Duration::from_secs(5),
        || ring_has(&observer, 1111),
    );
    std::thread::sleep(Duration::from_millis(100));
    child.kill().expect("kill");
    child.wait().expect("reap");
    wait_for("lease end", Duration::from_secs(5), || {
        get(&b.stats.leases_ended) == 1
    });
    drop(observer);
    let dac = b.finish().into_dac();
    let rec = dac.stop().expect("stop").recording;
    let s = samples(&rec);
    let played = s.iter().filter(|&&v| v == 1111).count();
    assert!(
        played >= 2400,
        "the DAC played {played} frames of the client's signal"
    );
    assert!(
        s.iter().all(|&v| v == 0 || v == 1111),
        "nothing but silence and the client's signal was played"
    );
}

#[test]
fn killed_client_is_silenced_and_the_next_one_plays() {
    let _g = serial();
    let dac = sim(48_000 * 20);
    let observer = SimDevice::attach(dac.share().expect("fds"), dac.layout()).expect("observer");
    let b = start(
        SimSource::new(dac).expect("source"),
        unique_addr("kill"),
        |_| {},
    );
    let addr = addr_string(&b.addr);
    let mut a = spawn_role("client", &addr, 2222);
    wait_line(&mut a, "leased");
    wait_for("A in the ring", Duration::from_secs(5), || {
        ring_has(&observer, 2222)
    });
    let mut bchild = spawn_role("client", &addr, 3333);
    wait_for("B queued", Duration::from_secs(5), || {
        get(&b.stats.queued) == 1
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !ring_has(&observer, 3333),
        "B must not play while A holds the lease"
    );
    a.kill().expect("kill A");
    let killed = Instant::now();
    wait_for("A's samples gone", Duration::from_secs(2), || {
        !ring_has(&observer, 2222)
    });
    let silenced = killed.elapsed();
    wait_line(&mut bchild, "leased");
    wait_for("B in the ring", Duration::from_secs(5), || {
        ring_has(&observer, 3333)
    });
    std::thread::sleep(Duration::from_millis(100));
    bchild.kill().expect("kill B");
    a.wait().expect("reap A");
    bchild.wait().expect("reap B");
    eprintln!("ring silenced {silenced:?} after the kill");
    assert!(
        silenced < Duration::from_millis(500),
        "sanity bound: {silenced:?}"
    );
    drop(observer);
    wait_for("both leases ended", Duration::from_secs(5), || {
        get(&b.stats.leases_ended) == 2
    });
    let dac = b.finish().into_dac();
    let s = samples(&dac.stop().expect("stop").recording);
    let last_a = s.iter().rposition(|&v| v == 2222).expect("A was played");
    let first_b = s.iter().position(|&v| v == 3333).expect("B was played");
    assert!(last_a < first_b, "A and B never overlap");
    let b_frames = s.iter().filter(|&&v| v == 3333).count();
    assert!(b_frames >= 2400, "B played {b_frames} frames");
    assert!(s.iter().all(|&v| v == 0 || v == 2222 || v == 3333));
}

#[test]
fn client_notices_a_killed_broker() {
    let _g = serial();
    let addr = unique_addr("bkill");
    let mut broker = spawn_role("broker", &addr_string(&addr), 0);
    wait_line(&mut broker, "ready");
    let before = fd_count();
    {
        let opts = ConnectOptions::default();
        let lease = opts.connect(&addr).expect("lease");
        let mut dev = lease.into_device().expect("device");
        let e = play(&mut dev, 4444, Some(4800));
        assert!(e.to_string().contains("done"), "played: {e}");
        broker.kill().expect("kill broker");
        broker.wait().expect("reap broker");
        let t = Instant::now();
        let e = play(&mut dev, 4444, None);
        let noticed = t.elapsed();
        assert!(
            matches!(&e, Error::Lease(l) if matches!(**l, LeaseError::BrokerGone { .. })),
            "{e}"
        );
        assert!(
            e.to_string().contains("broker closed the connection"),
            "{e}"
        );
        assert!(
            noticed < Duration::from_secs(1),
            "noticed after {noticed:?}"
        );
    }
    assert_eq!(fd_count(), before, "client leaked fds");
}

#[test]
fn sigterm_stops_the_broker_and_removes_the_socket() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("pcmring-flow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("broker.sock");
    let mut broker = spawn_role("broker", path.to_str().expect("utf-8 path"), 0);
    wait_line(&mut broker, "ready");
    assert!(path.exists());
    let lease = client::connect(path.to_str().expect("path")).expect("lease");
    // SAFETY: plain kill(2) on our child.
    assert_eq!(unsafe { libc::kill(broker.id() as i32, libc::SIGTERM) }, 0);
    wait_line(&mut broker, "clean exit");
    let status = broker.wait().expect("reap");
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "socket file removed");
    assert!(matches!(
        lease.link().check(),
        Err(LeaseError::BrokerGone { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn second_broker_on_the_same_path_is_refused() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("pcmring-flow2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("b.sock");
    let addr = SocketAddr::Path(path.clone());
    let first = Listener::bind(&addr, 4).expect("first");
    let e = Listener::bind(&addr, 4).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    drop(first);
    assert!(!path.exists());
    // A stale socket file (nobody listening) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&path).expect("stale");
    drop(stale);
    assert!(path.exists());
    let again = Listener::bind(&addr, 4).expect("replaces a stale socket");
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn engine_runs_on_a_leased_device_and_stops_when_the_broker_goes() {
    use pcmring::engine::{BlockInfo, Engine, EngineConfig, Margin, WakeStrategy};
    let _g = serial();
    let dac = sim(48_000 * 5);
    let b = start(
        SimSource::new(dac).expect("source"),
        unique_addr("engine"),
        |_| {},
    );
    let config = EngineConfig {
        name: "leased".into(),
        block_frames: 64,
        wake: WakeStrategy::Timer,
        margin: Margin::Frames(480),
        ..EngineConfig::default()
    };
    let engine = Engine::connect(&addr_string(&b.addr), config, |layout| {
        assert_eq!(layout.rate, 48_000, "the renderer sees the leased layout");
        |out: &mut [f32], _: &BlockInfo| out.fill(0.25)
    })
    .expect("engine on the leased device");
    std::thread::sleep(Duration::from_millis(300));
    assert!(engine.is_running());
    // The broker goes away: the engine notices through the lease.
    let source = b.finish();
    wait_for("the engine to stop", Duration::from_secs(2), || {
        !engine.is_running()
    });
    let e = engine
        .stop()
        .expect_err("the engine reports the lost lease");
    assert!(
        e.to_string().contains("broker closed the connection"),
        "{e}"
    );
    let rec = source.into_dac().stop().expect("stop").recording;
    let played = samples(&rec).iter().filter(|&&v| v == 8192).count();
    assert!(
        played >= 4800,
        "the engine's signal was played ({played} frames)"
    );
}

/// CPU ticks (user + system) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

#[test]
fn broker_out_of_fds_rests_instead_of_spinning_and_recovers() {
    let _g = serial();
    let addr = unique_addr("emfile");
    let mut broker = role_command("broker", &addr_string(&addr), 0)
        .env(SPARE_FDS, "6")
        .spawn()
        .expect("spawn broker");
    wait_line(&mut broker, "ready");
    // Idle connections use up the broker's fds; the rest wait in the backlog.
    let idle: Vec<_> = (0..12)
        .map(|_| pcmring::broker::socket::connect(&addr, Duration::from_secs(2)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(broker.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(broker.id()) - before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    assert!(
        used * 5 < hz,
        "the broker burned {used} ticks of {hz}/s while out of fds"
    );
    drop(idle);
    let lease = ConnectOptions {
        wait_in_line: None,
        ..ConnectOptions::default()
    }
    .connect(&addr)
    .expect("the broker recovers once fds are free");
    assert_eq!(lease.fds().len(), 3);
    drop(lease);
    broker.kill().expect("kill");
    broker.wait().expect("reap");
}
