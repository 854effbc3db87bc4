//! `latbench count TAG CMD ARGS...`: runs a player and measures, over a
//! steady-state window (1.5 s to 3.5 s after its start, after start-up and
//! configuration parsing), its system calls per second and its CPU use.
//! The same measurement for every player (pcmring, alsa-lib, cpal).
//!
//! * System calls: the kernel's `raw_syscalls:sys_enter` tracepoint,
//!   counted with `perf_event_open` on every CPU the player may run on
//!   (the script pins players to their own vCPUs, the capture elsewhere;
//!   the wrapper itself sleeps through the window), like
//!   `perf stat -e raw_syscalls:sys_enter -a -C <cpus>`.
//! * CPU: the sum over the player's threads of the time on CPU
//!   (`/proc/PID/task/*/schedstat`, nanoseconds).
//!
//! Prints `K TAG syscalls_per_s=.. cpu_percent=.. window_ms=..` (or
//! `K TAG error=..`) after the player exits; the player's own output goes
//! to the same stdout.
//!
//! `latbench hold-tracepoint` ([`hold`]) keeps one such counter open until
//! SIGTERM. The guest starts it before the first run, so the counters of
//! each run never register or unregister the tracepoint: registering it
//! patches the kernel text (a jump label in the syscall entry path), and
//! under qemu TCG a vCPU can keep executing a stale translation of the
//! patch's temporary INT3 forever (docs/latency.md, known issues).

use crate::emit;
use std::ffi::CString;
use std::time::Duration;

const WINDOW_START_MS: u64 = 1500;
const WINDOW_MS: u64 = 2000;

/// `struct perf_event_attr` up to `config1` (PERF_ATTR_SIZE_VER0, 64 bytes).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_TRACEPOINT: u32 = 2;

fn tracepoint_id() -> Result<u64, String> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let p = format!("{dir}/events/raw_syscalls/sys_enter/id");
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.trim().parse().map_err(|_| format!("{p}: {s:?}"));
        }
    }
    Err("raw_syscalls:sys_enter not found (tracefs not mounted?)".into())
}

/// One counter per CPU in this process's affinity mask.
fn open_counters(id: u64) -> Result<Vec<i32>, String> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return Err(format!(
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut fds = Vec::new();
    for cpu in 0..libc::CPU_SETSIZE as usize {
        // SAFETY: `cpu` < CPU_SETSIZE.
        if !unsafe { libc::CPU_ISSET(cpu, &set) } {
            continue;
        }
        let attr = PerfEventAttr {
            type_: PERF_TYPE_TRACEPOINT,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: id,
            sample_period: 1,
            ..PerfEventAttr::default()
        };
        // SAFETY: perf_event_open reads `size` bytes of `attr`, which is a
        // valid PerfEventAttr; pid -1 with a CPU counts every task there.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                -1i32,
                cpu as i32,
                -1i32,
                0u64,
            )
        };
        if fd < 0 {
            return Err(format!(
                "perf_event_open(cpu {cpu}): {}",
                std::io::Error::last_os_error()
            ));
        }
        fds.push(fd as i32);
    }
    Ok(fds)
}

fn read_counters(fds: &[i32]) -> u64 {
    fds.iter()
        .map(|&fd| {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into `v` from a perf counter fd.
            let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
            if n == 8 {
                v
            } else {
                0
            }
        })
        .sum()
}

/// Nanoseconds on CPU of all threads of `pid`.
fn cpu_ns(pid: i32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn exited(pid: i32) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid with WNOHANG|WNOWAIT only inspects the child.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid to read after a successful waitid.
    r == 0 && unsafe { info.si_pid() } == pid
}

/// `latbench hold-tracepoint`: opens the `raw_syscalls:sys_enter` counters
/// (so the tracepoint stays registered) and sleeps until SIGTERM/SIGINT.
pub fn hold() -> Result<(), String> {
    let fds = tracepoint_id().and_then(open_counters)?;
    emit(&format!(
        "H raw_syscalls:sys_enter held by {} counter(s)",
        fds.len()
    ));
    while !crate::stop_requested() {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Runs the command line `argv` (`TAG CMD ARGS...`).
pub fn run(argv: &[String]) -> Result<(), String> {
    let [tag, cmd @ ..] = argv else {
        return Err("usage: latbench count TAG CMD ARGS...".into());
    };
    if cmd.is_empty() {
        return Err("count: no command".into());
    }
    let counters = tracepoint_id().and_then(open_counters);
    let c_args: Vec<CString> = cmd
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| format!("NUL in {a:?}")))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: fork in a single-threaded program; the child only calls
    // execv (async-signal-safe) and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: `ptrs` is a NULL-terminated array of valid C strings.
        unsafe {
            libc::execv(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    std::thread::sleep(Duration::from_millis(WINDOW_START_MS));
    let (s0, c0, t0) = match &counters {
        Ok(fds) => (read_counters(fds), cpu_ns(pid), pcmring_rt::timer::now_ns()),
        Err(_) => (0, 0, 0),
    };
    std::thread::sleep(Duration::from_millis(WINDOW_MS));
    let line = match &counters {
        Ok(fds) if !exited(pid) => {
            let (s1, c1, t1) = (read_counters(fds), cpu_ns(pid), pcmring_rt::timer::now_ns());
            let secs = (t1 - t0) as f64 / 1e9;
            format!(
                "K {tag} syscalls_per_s={:.0} cpu_percent={:.2} window_ms={:.0}",
                (s1 - s0) as f64 / secs,
                (c1 - c0) as f64 / 1e9 / secs * 100.0,
                secs * 1000.0
            )
        }
        Ok(_) => format!("K {tag} error=player_exited_before_the_window_ended"),
        Err(e) => format!("K {tag} error={}", e.replace(' ', "_")),
    };
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is writable.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    emit(&line);
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        std::process::exit(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            1
        })
    }
}
