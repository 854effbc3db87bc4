//! Broker measurements (a benchmark, not a test), on the simulated device:
//!
//! * time from `connect` to the first client frame in the ring, split into
//!   connect + lease validation, device setup, first write;
//! * per-cycle cost of the client's position read through the leased
//!   device (sim status page, plus the broker-link check) and directly.
//!
//! `cargo bench --bench broker` (env `PCMRING_BENCH_ROUNDS`, default 300
//! connects). The hardware numbers (status page vs POSITION ioctl on a
//! BUFFER fd) come from the VM suite: `VM_BINS=vm_broker kernel/vm/run`.

use pcmring::client::ConnectOptions;
use pcmring::sim::{SimConfig, SimDac};
use pcmring::{Device, Format, StreamLayout};
use pcmring_broker::{Broker, BrokerConfig, BrokerStats, Listener, SimSource, SocketAddr};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn row(name: &str, v: &mut [Duration]) {
    println!(
        "{name:<28} p50 {:>9.1} us  p99 {:>9.1} us  max {:>9.1} us",
        pct(v, 0.5).as_secs_f64() * 1e6,
        pct(v, 0.99).as_secs_f64() * 1e6,
        pct(v, 1.0).as_secs_f64() * 1e6
    );
}

fn main() {
    let rounds: usize = std::env::var("PCMRING_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let layout = StreamLayout {
        format: Format::S16Le,
        channels: 2,
        rate: 48_000,
        period_size: 256,
        buffer_size: 1024,
        boundary: 1024 << 20,
    };
    let mut sim = SimConfig::new(layout);
    sim.dac_priority = None;
    let dac = SimDac::start(sim).expect("sim DAC");
    let observer = dac.device().expect("observer");
    let source = SimSource::new(dac).expect("source");
    let addr = SocketAddr::Abstract(format!("pcmring-bench-{}", std::process::id()).into_bytes());
    let listener = Listener::bind(&addr, 64).expect("bind");
    let mut broker = Broker::new(listener, source, BrokerConfig::default()).expect("broker");
    let stop = broker.stop_handle();
    let stats = broker.stats();
    let thread = std::thread::spawn(move || broker.run());

    println!("broker bench: simulated device, 48 kHz S16 stereo, period 256, {rounds} connects");
    let opts = ConnectOptions {
        name: "bench".into(),
        ..ConnectOptions::default()
    };
    let (mut lease_t, mut device_t, mut first_t, mut seen_t) = (vec![], vec![], vec![], vec![]);
    let fb = layout.frame_bytes();
    for round in 0..rounds {
        let mark = (round as i16 % 1000) + 1;
        let t0 = Instant::now();
        let lease = opts.connect(&addr).expect("lease");
        let t1 = Instant::now();
        let mut dev = lease.into_device().expect("device");
        let t2 = Instant::now();
        let hw = dev.position().expect("position").hw_ptr;
        let at = ((hw + layout.period_size) % layout.buffer_size) as usize * fb;
        let frame: Vec<u8> = (0..2).flat_map(|_| mark.to_le_bytes()).collect();
        // SAFETY: one frame a period ahead of the DAC.
        unsafe { dev.ring().slice_mut(at, fb) }.copy_from_slice(&frame);
        let t3 = Instant::now();
        // The broker's side of the ring sees it.
        let r = observer.ring();
        // SAFETY: racy read of one frame of the shared ring (bench observer).
        while unsafe { r.slice(at, 2) } != mark.to_le_bytes() {
            std::hint::spin_loop();
        }
        let t4 = Instant::now();
        lease_t.push(t1 - t0);
        device_t.push(t2 - t1);
        first_t.push(t3 - t0);
        seen_t.push(t4 - t0);
        drop(dev);
        let ended = round as u64 + 1;
        while BrokerStats::get(&stats.leases_ended) < ended {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    row("connect + validated lease", &mut lease_t);
    row("device setup (attach/map)", &mut device_t);
    row("connect -> first frame", &mut first_t);
    row("connect -> seen by broker", &mut seen_t);

    // Position read cost.
    let mut dev = opts
        .connect(&addr)
        .expect("lease")
        .into_device()
        .expect("device");
    let mut direct = observer;
    const N: u32 = 1_000_000;
    let mut sink = 0u64;
    let t = Instant::now();
    for _ in 0..N {
        sink = sink.wrapping_add(dev.position().expect("position").hw_ptr);
    }
    let leased = t.elapsed() / N;
    let t = Instant::now();
    for _ in 0..N {
        sink = sink.wrapping_add(direct.position().expect("position").hw_ptr);
    }
    let plain = t.elapsed() / N;
    println!(
        "position read per cycle: leased device {leased:?} (sim status page + link check \
         every 20 ms), sim device directly {plain:?} [{}]",
        sink % 2
    );
    drop(dev);
    stop.stop();
    let _ = thread.join();
}
