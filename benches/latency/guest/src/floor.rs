//! `latbench floor`: the smallest playback path, to measure what the
//! loopback itself adds.
//!
//! A free-running mmap playback stream; for each click: sleep a random
//! 25..45 ms, read the position (HWSYNC), take `T_trigger`, and store one
//! click frame straight into the ring `--offset` frames (default: one
//! period) past `hw_ptr`. Nothing else is written: the kernel keeps the
//! ring silent behind the hardware.

use crate::args::Args;
use crate::{cpu_ms, emit};
use latency_signal::{Rng, CHANNELS, CLICK, RATE};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::wrap::Widener;
use pcmring::Format;
use pcmring_rt::timer::{now_ns, sleep_until_ns};

/// Runs the floor player.
pub fn run(a: &Args) -> Result<(), String> {
    let device = a.str("device", "hw:Loopback,0,0");
    let tag = a.str("tag", "floor");
    let clicks = a.u64("clicks", 200)?;
    let period = a.u64("period", 64)?;
    let offset = a.u64("offset", period)?;
    let cfg = Config {
        format: Some(Format::S16Le),
        channels: CHANNELS as u32,
        rate: RATE,
        rate_match: Match::Exact,
        period_size: period,
        buffer: BufferSize::Frames(1024),
        ..Config::default()
    };
    let mut pcm = Pcm::open(&device, Direction::Playback, &cfg).map_err(|e| e.to_string())?;
    let layout = pcmring::Device::layout(&pcm);
    if offset == 0 || offset >= layout.buffer_size / 2 {
        return Err(format!(
            "--offset {offset}: must be 1..{}",
            layout.buffer_size / 2
        ));
    }
    let prio = pcmring_rt::sched::promote_fifo(80).map(|p| p.priority());
    pcm.prepare().map_err(|e| e.to_string())?;
    pcm.start().map_err(|e| e.to_string())?;
    let first = pcm.status_synced().map_err(|e| e.to_string())?;
    let mut widen = Widener::starting_at(layout.boundary, first.hw_ptr);
    let mut rng = Rng::new(now_ns());
    let mut frame = [0u8; 4];
    frame[..2].copy_from_slice(&CLICK.to_le_bytes());
    let mut lines = Vec::new();
    let mut next = now_ns() + 500_000_000;
    for id in 1..=clicks {
        next += rng.range(25_000, 45_000) * 1000;
        sleep_until_ns(next);
        let st = pcm.status_synced().map_err(|e| e.to_string())?;
        let h = widen.update(st.hw_ptr);
        let t_trigger = now_ns();
        frame[2..].copy_from_slice(&(id as i16).to_le_bytes());
        pcm.write_ring(h + offset, &frame)
            .map_err(|e| e.to_string())?;
        lines.push(format!("T {tag} {id} {t_trigger}"));
    }
    sleep_until_ns(now_ns() + 300_000_000);
    let _ = pcm.drop_stream();
    for l in &lines {
        emit(l);
    }
    emit(&format!(
        "R {tag} sent={clicks} xruns=0 period={} buffer={} offset={offset} fifo={} cpu_ms={}",
        layout.period_size,
        layout.buffer_size,
        prio.map_or_else(|e| format!("no({e})"), |p| p.to_string())
            .replace(' ', "_"),
        cpu_ms()
    ));
    Ok(())
}
