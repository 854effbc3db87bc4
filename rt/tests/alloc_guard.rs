//! The no-allocation guard with the counting allocator installed.

mod common;

use common::{in_child, run_child, show};
use pcmring_rt::alloc_guard::{self, AllocCounts, AllocGuard, CountingAllocator, Mode};
use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

#[test]
fn allocator_is_installed() {
    assert!(alloc_guard::is_installed());
}

#[test]
fn box_in_armed_scope_counts_one_alloc_one_free() {
    let guard = AllocGuard::enter(Mode::Count);
    let b = black_box(Box::new(black_box(42u64)));
    drop(b);
    let c = guard.counts();
    drop(guard);
    assert_eq!(
        c,
        AllocCounts {
            allocs: 1,
            frees: 1,
            reallocs: 0
        }
    );
}

#[test]
fn nothing_counted_outside_a_scope() {
    let before = alloc_guard::thread_counts();
    let v: Vec<u64> = black_box((0..1000).collect());
    drop(v);
    let s = black_box(format!("{}", black_box(12345)));
    drop(s);
    assert_eq!(alloc_guard::thread_counts(), before);
}

#[test]
fn vec_growth_counts_reallocs() {
    let mut v: Vec<u8> = Vec::with_capacity(1);
    let guard = AllocGuard::enter(Mode::Count);
    for i in 0..100u8 {
        v.push(black_box(i));
    }
    let c = guard.counts();
    drop(guard);
    assert_eq!(c.allocs, 0);
    assert!(c.reallocs >= 1, "{c:?}");
    drop(v);
}

#[test]
fn allocation_free_code_counts_zero() {
    let mut scratch = vec![0.5f32; 1024];
    let guard = AllocGuard::enter(Mode::Count);
    for (i, s) in scratch.iter_mut().enumerate() {
        *s = (*s * i as f32).sin();
    }
    let sum: f32 = scratch.iter().sum();
    black_box(sum);
    assert!(guard.counts().is_zero(), "{:?}", guard.counts());
}

#[test]
fn other_threads_are_unaffected() {
    let armed = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let other = {
        let (armed, done) = (armed.clone(), done.clone());
        std::thread::spawn(move || {
            while !armed.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            for i in 0..1000u64 {
                drop(black_box(Box::new(i)));
            }
            done.store(true, Ordering::Release);
            // Never armed here, so nothing was counted for this thread.
            alloc_guard::thread_counts()
        })
    };
    let guard = AllocGuard::enter(Mode::Count);
    armed.store(true, Ordering::Release);
    while !done.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let mine = guard.counts();
    drop(guard);
    let theirs = other.join().unwrap();
    assert!(mine.is_zero(), "armed thread counted {mine:?}");
    assert!(theirs.is_zero(), "unarmed thread counted {theirs:?}");
}

#[test]
fn abort_guard_lets_allocation_free_code_run() {
    let x = black_box(3u64);
    let guard = AllocGuard::enter(Mode::Abort);
    let y = black_box(x * 7);
    drop(guard);
    assert_eq!(y, 21);
    // Suspended regions may allocate even under an Abort guard.
    let guard = AllocGuard::enter(Mode::Abort);
    {
        let _s = alloc_guard::suspend();
        drop(black_box(Box::new(1u8)));
    }
    drop(guard);
}

#[test]
fn abort_mode_aborts_on_allocation() {
    let out = run_child("child_abort_on_alloc");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "pcmring-rt: allocation of 24 bytes on a thread with AllocGuard(Mode::Abort) armed"
        ),
        "{}",
        show(&out)
    );
}

#[test]
#[ignore = "child-process helper for abort_mode_aborts_on_allocation"]
fn child_abort_on_alloc() {
    if !in_child() {
        return;
    }
    let _guard = AllocGuard::enter(Mode::Abort);
    let b = black_box(Box::new([1u64; 3]));
    drop(b);
    // Not reached: the allocation aborts the process.
    std::process::exit(3);
}

#[test]
fn abort_mode_aborts_on_free() {
    let out = run_child("child_abort_on_free");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pcmring-rt: free of 8 bytes"),
        "{}",
        show(&out)
    );
}

#[test]
#[ignore = "child-process helper for abort_mode_aborts_on_free"]
fn child_abort_on_free() {
    if !in_child() {
        return;
    }
    let b = black_box(Box::new(5u64));
    let _guard = AllocGuard::enter(Mode::Abort);
    drop(b);
    std::process::exit(3);
}
