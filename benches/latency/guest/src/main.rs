//! `latbench`: the guest side of the end-to-end latency benchmark
//! (docs/latency.md). Built statically and run inside the VM by
//! `kernel/vm/bench-latency`.
//!
//! ```text
//! latbench capture --device hw:Loopback,1,N --tag TAG [--poll-us 500] [--seconds MAX]
//! latbench floor   --device hw:Loopback,0,N --tag TAG [--clicks 200] [--offset FRAMES]
//! latbench count   TAG CMD ARGS...   (runs a player; its syscalls/s and CPU
//!                  over a steady-state window: `K tag ...`)
//! latbench hold-tracepoint   (keeps raw_syscalls:sys_enter registered until
//!                  SIGTERM, so `count` never patches the kernel text)
//! latbench pcmring --device hw:Loopback,0,N --tag TAG --block FRAMES [--clicks 200]
//!                  [--margin auto|FRAMES] [--period 256]
//!                  [--clicks 0 --seconds S: a probe, the pilot alone for S seconds]
//! ```
//!
//! Every record goes to stdout as one line: `T tag id t_trigger_ns`
//! (players), `C tag id frame t_first_ns t_ideal_ns`, `G tag frame
//! expected got silent_before` (the first pilot gaps) and `S tag k=v...`
//! (capture), `M tag t_ns margin lead granule xruns` (pcmring telemetry),
//! `R tag k=v...` (a player's summary), `E tag message` (an error).
//! `latency-report` joins them.

mod args;
mod capture;
mod count;
mod engine_player;
mod floor;
mod scan;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Whether SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// User + system CPU time of this process so far, in ms.
pub fn cpu_ms() -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

/// Writes one record line to stdout and flushes it.
pub fn emit(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!(
            "usage: latbench capture|floor|pcmring --option value ... (see the source header)"
        );
        std::process::exit(2);
    };
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; `on_signal` has the C ABI `signal` expects.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    if cmd == "count" {
        if let Err(e) = count::run(rest) {
            eprintln!("latbench count: {e}");
            std::process::exit(1);
        }
        return;
    }
    if cmd == "hold-tracepoint" {
        if let Err(e) = count::hold() {
            eprintln!("latbench hold-tracepoint: {e}");
            std::process::exit(1);
        }
        return;
    }
    let result = args::Args::parse(rest).and_then(|a| match cmd.as_str() {
        "capture" => capture::run(&a),
        "floor" => floor::run(&a),
        "pcmring" => engine_player::run(&a),
        other => Err(format!("unknown command {other:?}")),
    });
    if let Err(e) = result {
        eprintln!("latbench {cmd}: {e}");
        emit(&format!("E {cmd} {}", e.replace('\n', " ")));
        std::process::exit(1);
    }
}
