//! `latbench capture`: records the capture side of a loopback cable with
//! timestamps and reports every click it finds.
//!
//! The capture PCM runs free (never stops on overrun) with a large ring;
//! this process polls it with HWSYNC every `--poll-us` microseconds. Each
//! time `hw_ptr` has moved, the new frames are read straight from the
//! mapped ring and scanned; a click found among them gets as capture time
//! the status `tstamp` of that reading (the first reading that showed the
//! frame captured). Every such reading is kept, so at the end each click
//! also gets its "ideal" time from the lower envelope of the capture clock
//! (see [`crate::scan::ideal_time`]).

use crate::args::Args;
use crate::scan::{ideal_time, Scanner};
use crate::{emit, stop_requested};
use latency_signal::{CHANNELS, RATE};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::wrap::Widener;
use pcmring::Format;
use pcmring_rt::timer::{now_ns, sleep_until_ns};

/// Runs the capture until SIGTERM/SIGINT or `--seconds`.
pub fn run(a: &Args) -> Result<(), String> {
    let device = a.str("device", "hw:Loopback,1,0");
    let tag = a.str("tag", "capture");
    let poll_ns = a.u64("poll-us", 500)? * 1000;
    let max_ns = a.u64("seconds", 600)? * 1_000_000_000;
    let buffer = a.u64("buffer", 16_384)?;
    let cfg = Config {
        format: Some(Format::S16Le),
        channels: CHANNELS as u32,
        rate: RATE,
        rate_match: Match::Exact,
        period_size: 1024,
        buffer: BufferSize::Frames(buffer),
        ..Config::default()
    };
    let mut pcm = Pcm::open(&device, Direction::Capture, &cfg).map_err(|e| e.to_string())?;
    let layout = pcmring::Device::layout(&pcm);
    if layout.format != Format::S16Le || layout.rate != RATE {
        return Err(format!(
            "{device}: granted {layout:?}, want S16_LE at {RATE} Hz"
        ));
    }
    let prio = pcmring_rt::sched::promote_fifo(90).map(|p| p.priority());
    pcm.prepare().map_err(|e| e.to_string())?;
    pcm.start().map_err(|e| e.to_string())?;
    let first = pcm.status_synced().map_err(|e| e.to_string())?;
    let mut widen = Widener::starting_at(layout.boundary, first.hw_ptr);
    let mut done = widen.value();
    let start_frame = done;
    let frame_bytes = layout.frame_bytes();
    let mut buf = vec![0u8; layout.buffer_size as usize * frame_bytes];
    let mut scan = Scanner::default();
    let mut readings: Vec<(u64, u64)> = Vec::with_capacity(1 << 16);
    let mut overruns = 0u64;
    let mut clock_skew_ns = 0i64;
    let t0 = now_ns();
    let mut next = t0;
    while !stop_requested() && now_ns() - t0 < max_ns {
        next += poll_ns;
        sleep_until_ns(next);
        let st = pcm.status_synced().map_err(|e| e.to_string())?;
        let now = now_ns();
        clock_skew_ns = clock_skew_ns.max(st.tstamp_ns as i64 - now as i64);
        let h = widen.update(st.hw_ptr);
        if h <= done {
            continue;
        }
        readings.push((h - start_frame, st.tstamp_ns));
        // Keep a reading margin of one period: the kernel may be writing
        // just behind hw_ptr on the next step, never before it.
        if h - done > layout.buffer_size - layout.period_size {
            overruns += 1;
            done = h - (layout.buffer_size - layout.period_size);
        }
        let n = (h - done) as usize;
        let bytes = &mut buf[..n * frame_bytes];
        pcm.read_ring(done, bytes).map_err(|e| e.to_string())?;
        for (i, f) in bytes.chunks_exact(frame_bytes).enumerate() {
            let ch0 = i16::from_le_bytes([f[0], f[1]]);
            let ch1 = i16::from_le_bytes([f[2], f[3]]);
            scan.feed(done + i as u64 - start_frame, ch0, ch1, st.tstamp_ns);
        }
        done = h;
        // Frames already read can be released (the ring is free-running,
        // but keeping appl_ptr close makes avail honest for observers).
        let _ = pcm.set_appl_ptr(h);
    }
    for c in &scan.found {
        let ideal = ideal_time(&readings, c.frame, RATE).unwrap_or(0);
        emit(&format!(
            "C {tag} {} {} {} {}",
            c.id, c.frame, c.t_first_ns, ideal
        ));
    }
    for (frame, expected, got, silent) in &scan.gap_log {
        emit(&format!("G {tag} {frame} {expected} {got} {silent}"));
    }
    // The capture clock's rate against CLOCK_MONOTONIC (a sanity check:
    // snd-aloop's jiffies and the timestamps come from the same clock).
    let rate_hz = match (readings.first(), readings.last()) {
        (Some(a), Some(b)) if b.1 > a.1 => (b.0 - a.0) as f64 * 1e9 / (b.1 - a.1) as f64,
        _ => 0.0,
    };
    emit(&format!(
        "S {tag} rate_hz={rate_hz:.1} frames={} readings={} clicks={} gaps={} silent_frames={} pilot_frames={} overruns={} fifo={} tstamp_ahead_ns={}",
        done - start_frame,
        readings.len(),
        scan.found.len(),
        scan.gaps,
        scan.silent_frames,
        scan.pilot_frames,
        overruns,
        prio.map_or_else(|e| format!("no({e})"), |p| p.to_string()).replace(' ', "_"),
        clock_skew_ns
    ));
    let _ = pcm.drop_stream();
    Ok(())
}
