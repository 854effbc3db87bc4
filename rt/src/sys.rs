//! The system calls `nix` has no safe wrapper for, each behind a safe
//! function: scheduling policy and priority (`sched_getscheduler`,
//! `sched_getparam`, `sched_setscheduler`, the priority range), the
//! calling thread's stack bounds (`pthread_getattr_np`) and a query-only
//! `sigaction`.
//!
//! Everything else in this crate goes through `nix`. The scheduling calls
//! are plain system calls without allocation, and async-signal-safe: the
//! `SIGXCPU` handler (`sched::xcpu`) uses them.

use nix::errno::Errno;
use nix::sys::signal::Signal;

/// `sched_getscheduler(tid)` (0: the calling thread): the raw policy,
/// including the `SCHED_RESET_ON_FORK` flag. Async-signal-safe; sets
/// errno on failure (the signal handler saves and restores it).
pub(crate) fn sched_getscheduler(tid: i32) -> Result<i32, Errno> {
    // SAFETY: a plain system call on a thread id; no pointers.
    Errno::result(unsafe { libc::sched_getscheduler(tid) })
}

/// The static priority of thread `tid` (0: the calling thread), from
/// `sched_getparam`.
pub(crate) fn sched_priority(tid: i32) -> Result<i32, Errno> {
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, writable sched_param that outlives the
    // call.
    Errno::result(unsafe { libc::sched_getparam(tid, &mut param) })?;
    Ok(param.sched_priority)
}

/// `sched_setscheduler(tid, policy, priority)` (0: the calling thread);
/// `policy` may carry `SCHED_RESET_ON_FORK`. Async-signal-safe; sets
/// errno on failure.
pub(crate) fn sched_setscheduler(tid: i32, policy: i32, priority: i32) -> Result<(), Errno> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param on the stack that outlives
    // the call; the rest are plain integers.
    Errno::result(unsafe { libc::sched_setscheduler(tid, policy, &param) }).map(drop)
}

/// The lowest and highest `SCHED_FIFO` priorities (1 and 99 on Linux).
pub(crate) fn fifo_priority_range() -> (i32, i32) {
    // SAFETY: plain queries on a constant policy; no pointers.
    unsafe {
        (
            libc::sched_get_priority_min(libc::SCHED_FIFO),
            libc::sched_get_priority_max(libc::SCHED_FIFO),
        )
    }
}

/// Lowest usable address of the calling thread's stack, if libc knows it
/// (`pthread_getattr_np`, which allocates inside libc: not for the RT loop).
pub(crate) fn thread_stack_low() -> Option<usize> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread
    // when it returns 0; nothing reads it otherwise.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) } != 0 {
        return None;
    }
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialised above; it is read once for the stack
    // bounds into valid out-pointers and destroyed exactly once after.
    let rc = unsafe {
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        rc
    };
    (rc == 0 && !addr.is_null()).then_some(addr as usize)
}

/// Whether `signal` still has its default disposition (`SIG_DFL`). A
/// query only: nix's `sigaction` always installs a new action.
pub(crate) fn has_default_action(signal: Signal) -> Result<bool, Errno> {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action makes this a query; `old` is a valid,
    // writable sigaction the kernel fills when the call returns 0.
    Errno::result(unsafe {
        libc::sigaction(signal as libc::c_int, std::ptr::null(), old.as_mut_ptr())
    })?;
    // SAFETY: the call succeeded, so `old` is initialised.
    Ok(unsafe { old.assume_init() }.sa_sigaction == libc::SIG_DFL)
}
