//! Scheduling and memory-locking tests. Those that change process-wide
//! limits, drop capabilities or expect to be killed run in a child process
//! (the `child_*` tests, ignored unless started by their parent test).

mod common;

use common::{
    drop_capability, get_rlimit, has_capability, in_child, run_child, set_rlimit, show,
    CAP_IPC_LOCK, CAP_SYS_NICE, SKIP,
};
use pcmring_rt::sched::{self, Policy, RtConfig, RtError};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

/// Checks the message of a refused promotion.
fn assert_refusal_message(e: &RtError) {
    assert!(e.is_not_permitted(), "{e:?}");
    let msg = e.to_string();
    for needle in [
        "SCHED_FIFO",
        "not permitted",
        "RLIMIT_RTPRIO",
        "CAP_SYS_NICE",
        "rtprio",
        "normal priority",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from {msg:?}");
    }
}

fn policy() -> Policy {
    sched::current_scheduling().unwrap().policy
}

#[test]
fn promote_fifo_succeeds_or_explains() {
    std::thread::spawn(|| {
        let (soft0, hard0) = get_rlimit(libc::RLIMIT_RTTIME);
        match sched::promote_fifo(12) {
            Ok(p) => {
                println!("promoted: {p:?}");
                let s = sched::current_scheduling().unwrap();
                assert_eq!((s.policy, s.priority), (Policy::Fifo, 12));
                assert!(s.reset_on_fork);
                assert_eq!(p.previous().policy, Policy::Other);
                // RLIMIT_RTTIME was tightened to at most 200 ms / 400 ms.
                let (soft, hard) = get_rlimit(libc::RLIMIT_RTTIME);
                assert!(soft <= 200_000 && soft <= soft0, "soft {soft}");
                assert!(hard <= 400_000 && hard <= hard0, "hard {hard}");
                assert_eq!(p.rttime_us().soft, Some(soft));
                sched::demote().unwrap();
                let s = sched::current_scheduling().unwrap();
                assert_eq!((s.policy, s.priority), (Policy::Other, 0));
            }
            Err(e) => {
                println!("refused (allowed outcome): {e}");
                assert_refusal_message(&e);
                assert_eq!(policy(), Policy::Other);
            }
        }
    })
    .join()
    .unwrap();
}

#[test]
fn privileged_process_gets_fifo() {
    // With CAP_SYS_NICE (root) the promotion must work, unless the kernel
    // gives this cgroup no realtime budget, which the error then names.
    if !has_capability(CAP_SYS_NICE) {
        println!("no CAP_SYS_NICE here; covered by promote_fifo_succeeds_or_explains");
        return;
    }
    std::thread::spawn(|| match sched::promote_fifo(5) {
        Ok(_) => {
            assert_eq!(policy(), Policy::Fifo);
            sched::demote().unwrap();
        }
        Err(e) => assert!(e.to_string().contains("cgroup"), "{e}"),
    })
    .join()
    .unwrap();
}

#[test]
fn fifo_refused_without_privilege() {
    let out = run_child("child_fifo_refused");
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("REFUSED: realtime scheduling"),
        "{}",
        show(&out)
    );
}

#[test]
#[ignore = "child-process helper for fifo_refused_without_privilege"]
fn child_fifo_refused() {
    if !in_child() {
        return;
    }
    set_rlimit(libc::RLIMIT_RTPRIO, 0, 0).unwrap();
    drop_capability(CAP_SYS_NICE).unwrap();
    assert!(!has_capability(CAP_SYS_NICE));
    match sched::promote_fifo(10) {
        Err(e @ RtError::FifoNotPermitted { .. }) => {
            assert!(matches!(
                e,
                RtError::FifoNotPermitted {
                    priority: 10,
                    rtprio_limit: Some(0)
                }
            ));
            assert_refusal_message(&e);
            assert!(e.to_string().contains("RLIMIT_RTPRIO is 0"), "{e}");
            println!("REFUSED: {e}");
        }
        other => panic!("expected FifoNotPermitted, got {other:?}"),
    }
    assert_eq!(policy(), Policy::Other, "refusal changed the thread");
    // Demoting a normal thread is always fine.
    sched::demote().unwrap();
}

#[test]
fn rtprio_limit_is_honoured_without_cap_sys_nice() {
    let out = run_child("child_rtprio_limit");
    if out.status.code() == Some(SKIP) {
        println!(
            "hard RLIMIT_RTPRIO below 5 and no CAP_SYS_RESOURCE; skipped:\n{}",
            show(&out)
        );
        return;
    }
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
#[ignore = "child-process helper for rtprio_limit_is_honoured_without_cap_sys_nice"]
fn child_rtprio_limit() {
    if !in_child() {
        return;
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE; without it the test
    // can only run where the hard limit is already at least 5.
    if set_rlimit(libc::RLIMIT_RTPRIO, 5, 5).is_err() {
        println!(
            "cannot set RLIMIT_RTPRIO to 5: {:?}",
            get_rlimit(libc::RLIMIT_RTPRIO)
        );
        std::process::exit(SKIP);
    }
    drop_capability(CAP_SYS_NICE).unwrap();
    match sched::promote_fifo(3) {
        Ok(p) => {
            assert_eq!(p.priority(), 3);
            assert_eq!(policy(), Policy::Fifo);
            // Above the limit: refused, and the thread keeps priority 3.
            match sched::promote_fifo(10) {
                Err(e @ RtError::FifoNotPermitted { .. }) => {
                    assert!(e.to_string().contains("RLIMIT_RTPRIO is 5"), "{e}")
                }
                other => panic!("expected FifoNotPermitted, got {other:?}"),
            }
            let s = sched::current_scheduling().unwrap();
            assert_eq!((s.policy, s.priority), (Policy::Fifo, 3));
            // Going back needs no privilege, even with reset-on-fork set.
            sched::demote().unwrap();
            assert_eq!(policy(), Policy::Other);
        }
        // The limit allows priority 3, so a refusal must come from the
        // environment (cgroup realtime budget), and the message says so.
        Err(e) => {
            assert!(e.to_string().contains("cgroup"), "{e}");
            println!("environment forbids SCHED_FIFO: {e}");
        }
    }
}

#[test]
fn rttime_only_tightens() {
    let out = run_child("child_rttime_only_tightens");
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
#[ignore = "child-process helper for rttime_only_tightens"]
fn child_rttime_only_tightens() {
    if !in_child() {
        return;
    }
    let (soft0, hard0) = get_rlimit(libc::RLIMIT_RTTIME);
    let (want_soft, want_hard) = (soft0.min(50_000), hard0.min(100_000));
    set_rlimit(libc::RLIMIT_RTTIME, want_soft, want_hard).unwrap();
    // Defaults (200/400 ms) are looser than 50/100 ms: the limit stays.
    let r = sched::promote_fifo(4);
    assert_eq!(get_rlimit(libc::RLIMIT_RTTIME), (want_soft, want_hard));
    if let Ok(p) = r {
        assert_eq!(p.rttime_us().soft, Some(want_soft));
        assert_eq!(p.rttime_us().hard, Some(want_hard));
        sched::demote().unwrap();
    }
    // A stricter request tightens both.
    let mut cfg = RtConfig::new(4);
    cfg.rttime_soft = Duration::from_millis(20);
    cfg.rttime_hard = Duration::from_millis(30);
    let _ = sched::promote_fifo_with(&cfg);
    assert_eq!(get_rlimit(libc::RLIMIT_RTTIME), (20_000, 30_000));
    let _ = sched::demote();
}

#[test]
fn runaway_fifo_loop_gets_sigxcpu() {
    let out = run_child("child_runaway_fifo_loop");
    if out.status.code() == Some(SKIP) {
        println!("SCHED_FIFO not permitted here; skipped:\n{}", show(&out));
        return;
    }
    assert_eq!(out.status.signal(), Some(libc::SIGXCPU), "{}", show(&out));
}

#[test]
#[ignore = "child-process helper for runaway_fifo_loop_gets_sigxcpu"]
fn child_runaway_fifo_loop() {
    if !in_child() {
        return;
    }
    let mut cfg = RtConfig::new(1);
    cfg.rttime_soft = Duration::from_millis(30);
    cfg.rttime_hard = Duration::from_secs(2);
    if let Err(e) = sched::promote_fifo_with(&cfg) {
        println!("{e}");
        std::process::exit(SKIP);
    }
    // Spin without blocking; RLIMIT_RTTIME must stop us after ~30 ms of
    // CPU. Priority 1 on a multi-core machine keeps this harmless.
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    let _ = sched::demote();
    panic!("still alive after 3 s of SCHED_FIFO spinning ({x})");
}

#[test]
fn runaway_fifo_loop_with_a_demotion_watch_survives_demoted() {
    let out = run_child("child_runaway_fifo_loop_watched");
    if out.status.code() == Some(SKIP) {
        println!("SCHED_FIFO not permitted here; skipped:\n{}", show(&out));
        return;
    }
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
#[ignore = "child-process helper for runaway_fifo_loop_with_a_demotion_watch_survives_demoted"]
fn child_runaway_fifo_loop_watched() {
    if !in_child() {
        return;
    }
    let watch = sched::DemotionWatch::register().expect("SIGXCPU handler");
    let mut cfg = RtConfig::new(1);
    cfg.rttime_soft = Duration::from_millis(30);
    cfg.rttime_hard = Duration::from_secs(2);
    if let Err(e) = sched::promote_fifo_with(&cfg) {
        println!("{e}");
        std::process::exit(SKIP);
    }
    // Spin as in child_runaway_fifo_loop: the handler demotes this thread
    // instead of the signal killing the process.
    let start = Instant::now();
    let mut x = 0u64;
    while policy() == Policy::Fifo && start.elapsed() < Duration::from_secs(3) {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    assert_eq!(policy(), Policy::Other, "demoted after {x} spins");
    assert_eq!(watch.take_demotions(), 1);
    assert_eq!(watch.take_demotions(), 0, "taken once");
    assert!(sched::sigxcpu_signals() >= 1);
    // The thread can be promoted again (re-tightening the limit the kernel
    // raised when it sent the signal).
    let p = sched::promote_fifo_with(&cfg).expect("re-promote");
    assert_eq!(p.rttime_us().soft, Some(30_000), "soft limit re-tightened");
    assert_eq!(policy(), Policy::Fifo);
    sched::demote().expect("demote");
}

#[test]
fn lock_memory_succeeds_or_explains() {
    let out = run_child("child_lock_memory");
    assert!(out.status.success(), "{}", show(&out));
}

/// The `VmLck` line of /proc/self/status, in kB.
fn locked_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmLck:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "child-process helper for lock_memory_succeeds_or_explains"]
fn child_lock_memory() {
    if !in_child() {
        return;
    }
    assert_eq!(locked_kb(), 0);
    match sched::lock_memory() {
        Ok(()) => {
            assert!(locked_kb() > 0, "mlockall succeeded but nothing is locked");
            // MCL_FUTURE: new memory is locked too.
            let before = locked_kb();
            let big = std::hint::black_box(vec![1u8; 4 << 20]);
            assert!(
                locked_kb() >= before + 4096,
                "{} -> {}",
                before,
                locked_kb()
            );
            drop(big);
            sched::unlock_memory().unwrap();
            assert_eq!(locked_kb(), 0);
        }
        Err(e) => {
            assert!(e.is_not_permitted(), "{e:?}");
            assert!(e.to_string().contains("memlock"), "{e}");
        }
    }
}

#[test]
fn lock_memory_refused_with_zero_limit() {
    let out = run_child("child_lock_memory_zero_limit");
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
#[ignore = "child-process helper for lock_memory_refused_with_zero_limit"]
fn child_lock_memory_zero_limit() {
    if !in_child() {
        return;
    }
    set_rlimit(libc::RLIMIT_MEMLOCK, 0, 0).unwrap();
    drop_capability(CAP_IPC_LOCK).unwrap();
    match sched::lock_memory() {
        Err(
            e @ RtError::LockNotPermitted {
                limit_bytes: Some(0),
            },
        ) => {
            let msg = e.to_string();
            assert!(
                msg.contains("CAP_IPC_LOCK") && msg.contains("memlock"),
                "{msg}"
            );
        }
        other => panic!("expected LockNotPermitted, got {other:?}"),
    }
}

#[test]
fn lock_memory_over_limit() {
    let out = run_child("child_lock_memory_small_limit");
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
#[ignore = "child-process helper for lock_memory_over_limit"]
fn child_lock_memory_small_limit() {
    if !in_child() {
        return;
    }
    set_rlimit(libc::RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024).unwrap();
    drop_capability(CAP_IPC_LOCK).unwrap();
    // The test binary maps far more than 64 KiB.
    match sched::lock_memory() {
        Err(
            e @ RtError::LockLimitExceeded {
                limit_bytes: Some(65536),
            },
        ) => {
            assert!(e.to_string().contains("65536 bytes"), "{e}");
        }
        other => panic!("expected LockLimitExceeded, got {other:?}"),
    }
}
