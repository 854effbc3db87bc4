//! `cpal-player`: the cpal peer of the latency benchmark (docs/latency.md).
//!
//! ```text
//! cpal-player TAG PERIOD_FRAMES CLICKS SECONDS
//! ```
//!
//! Opens cpal's default output device (in the VM, /etc/asound.conf points
//! `default` at a snd-aloop playback subdevice) with
//! `BufferSize::Fixed(PERIOD_FRAMES)` (cpal 0.18's ALSA backend makes that
//! the period, with a ring of two periods and start at two periods), i16
//! stereo 48 kHz, and renders the benchmark signal (`latency-signal`) in
//! the data callback. `T_trigger` is taken at the entry of the callback
//! whose buffer starts with the click. The callback thread asks for
//! SCHED_FIFO 80, like the other players. CLICKS == 0 is a probe: the
//! pilot alone for SECONDS. Xruns are the error callbacks of kind
//! `ErrorKind::Xrun` (cpal recovers them with a prepare).

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use latency_signal::{fill_i16, ClickPlan, CHANNELS, RATE};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// User + system CPU time of this process so far, in ms.
fn cpu_ms() -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

fn promote_fifo() -> bool {
    let sp = libc::sched_param { sched_priority: 80 };
    // SAFETY: `sp` is a valid sched_param; 0 means the calling thread.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &sp) == 0 }
}

struct Shared {
    trigger_ns: Vec<AtomicU64>,
    sent: AtomicU32,
    callbacks: AtomicU64,
    errors: AtomicU64,
    xruns: AtomicU64,
    fifo: AtomicBool,
}

fn parse(args: &[String]) -> Result<(String, u32, u32, u64), String> {
    let [tag, buffer, clicks, seconds] = args else {
        return Err("usage: cpal-player TAG PERIOD_FRAMES CLICKS SECONDS".to_owned());
    };
    let num = |s: &String| s.parse::<u64>().map_err(|_| format!("not a number: {s:?}"));
    let buffer = u32::try_from(num(buffer)?).map_err(|e| e.to_string())?;
    let clicks = u32::try_from(num(clicks)?).map_err(|e| e.to_string())?;
    Ok((tag.clone(), buffer, clicks, num(seconds)?))
}

fn run(args: &[String]) -> Result<(), String> {
    let (tag, period, clicks, seconds) = parse(args)?;
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or("cpal found no default output device")?;
    let config = cpal::StreamConfig {
        channels: CHANNELS as u16,
        sample_rate: RATE,
        buffer_size: cpal::BufferSize::Fixed(period),
    };
    let shared = Arc::new(Shared {
        trigger_ns: (0..=clicks).map(|_| AtomicU64::new(0)).collect(),
        sent: AtomicU32::new(0),
        callbacks: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        xruns: AtomicU64::new(0),
        fifo: AtomicBool::new(false),
    });
    let sh = shared.clone();
    let sh_err = shared.clone();
    let mut plan = ClickPlan::standard(clicks, now_ns());
    let mut k = 0u64;
    let stream = device
        .build_output_stream(
            config,
            move |data: &mut [i16], _: &cpal::OutputCallbackInfo| {
                let t = now_ns();
                if sh.callbacks.fetch_add(1, Ordering::Relaxed) == 0 {
                    sh.fifo.store(promote_fifo(), Ordering::Relaxed);
                }
                let click = plan.due(k);
                fill_i16(data, k, click);
                if let Some(id) = click {
                    if let Some(slot) = sh.trigger_ns.get(usize::from(id)) {
                        slot.store(t, Ordering::Relaxed);
                    }
                    sh.sent.store(plan.sent(), Ordering::Release);
                }
                k += (data.len() / CHANNELS) as u64;
            },
            move |e: cpal::Error| {
                if e.kind() == cpal::ErrorKind::Xrun {
                    sh_err.xruns.fetch_add(1, Ordering::Relaxed);
                } else if sh_err.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("cpal-player: stream error: {e}");
                }
            },
            None,
        )
        .map_err(|e| format!("build_output_stream (Fixed({period})): {e}"))?;
    stream.play().map_err(|e| format!("play: {e}"))?;
    let t0 = Instant::now();
    let mut tail_from = None;
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let done = if clicks == 0 {
            t0.elapsed() >= Duration::from_secs(seconds)
        } else {
            shared.sent.load(Ordering::Acquire) >= clicks
        };
        match (done, tail_from) {
            (true, None) => tail_from = Some(Instant::now()),
            (_, Some(t)) if t.elapsed() >= Duration::from_millis(300) => break,
            _ => {}
        }
        if t0.elapsed() > Duration::from_secs(seconds.max(60)) {
            break;
        }
    }
    drop(stream);
    let mut out = std::io::stdout().lock();
    for (id, t) in shared.trigger_ns.iter().enumerate().skip(1) {
        let t = t.load(Ordering::Relaxed);
        if t != 0 {
            writeln!(out, "T {tag} {id} {t}").map_err(|e| e.to_string())?;
        }
    }
    writeln!(
        out,
        "R {tag} sent={} xruns={} buffer={} period={period} callbacks={} errors={} fifo={} cpu_ms={} device={}",
        shared.sent.load(Ordering::Acquire),
        shared.xruns.load(Ordering::Relaxed),
        2 * period,
        shared.callbacks.load(Ordering::Relaxed),
        shared.errors.load(Ordering::Relaxed),
        shared.fifo.load(Ordering::Relaxed),
        cpu_ms(),
        device
            .id()
            .map(|d| d.to_string())
            .unwrap_or_default()
            .replace(' ', "_"),
    )
    .map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        let tag = args.first().map_or("cpal", String::as_str);
        println!("E {tag} {}", e.replace('\n', " "));
        eprintln!("cpal-player: {e}");
        std::process::exit(1);
    }
}
