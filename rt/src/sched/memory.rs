//! Keeping the realtime thread's memory resident: `mlockall` and stack
//! prefaulting.

use super::RtError;
use nix::sys::mman::{mlockall, munlockall, MlockAllFlags};
use nix::sys::resource::Resource;

/// Locks all current and future pages of the process in RAM
/// (`mlockall(MCL_CURRENT | MCL_FUTURE)`), so the realtime thread never
/// waits for a page to be swapped in.
///
/// Needs `CAP_IPC_LOCK` or a `RLIMIT_MEMLOCK` larger than the process:
/// [`RtError::LockNotPermitted`] (`EPERM`, limit 0) and
/// [`RtError::LockLimitExceeded`] (`ENOMEM`, limit too small) say so and
/// how to raise it. Like a refused promotion, this is not fatal.
///
/// With `MCL_FUTURE`, every later mapping (thread stacks, heap growth) is
/// locked too, and fails if it would exceed the limit; call
/// [`unlock_memory`] to undo.
pub fn lock_memory() -> Result<(), RtError> {
    if let Err(errno) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
        let limit = super::get_rlimit(Resource::RLIMIT_MEMLOCK)
            .ok()
            .and_then(|l| l.soft);
        return Err(RtError::from_mlock_errno(errno as i32, limit));
    }
    Ok(())
}

/// Undoes [`lock_memory`] (`munlockall`).
pub fn unlock_memory() -> Result<(), RtError> {
    munlockall().map_err(|e| RtError::Os {
        op: "munlockall",
        source: e.into(),
    })
}

/// Bytes each recursion step of [`prefault_stack`] claims (one page).
const CHUNK: usize = 4096;
/// Most [`prefault_stack`] touches when the stack bounds are unknown.
const UNKNOWN_STACK_MAX: usize = 64 * 1024;
/// Stack left untouched below the prefaulted range, for the caller's own
/// later calls and signal handlers.
const SAFETY_MARGIN: usize = 32 * 1024;

/// Touches `bytes` of the calling thread's stack below the current frame
/// so those pages are resident (and locked, after [`lock_memory`]) before
/// the realtime loop needs them. Returns the number of bytes touched.
///
/// The request is clamped so that at least 32 KiB of the thread's stack
/// stays below the touched range (no overflow into the guard page), or to
/// 64 KiB if the stack bounds cannot be read; call
/// it early in the thread, with a size covering the loop's deepest call
/// chain (e.g. 256 KiB). The result may exceed `bytes` by up to one page
/// (the last frame and its call overhead), and is 0 for requests under one
/// page.
///
/// Call it during thread setup, not inside the realtime loop: finding the
/// stack bounds uses `pthread_getattr_np`, which allocates inside libc (it
/// does not use Rust's global allocator).
///
/// ```
/// let touched = pcmring_rt::sched::prefault_stack(64 * 1024);
/// assert!(touched >= 64 * 1024 && touched <= 72 * 1024);
/// ```
pub fn prefault_stack(bytes: usize) -> usize {
    let probe = 0u8;
    let here = std::hint::black_box(&probe) as *const u8 as usize;
    let bytes = match stack_low() {
        Some(low) => bytes.min(here.saturating_sub(low).saturating_sub(SAFETY_MARGIN)),
        // Bounds unknown (pthread_getattr_np failed): stay well inside
        // even the smallest usual thread stack.
        None => bytes.min(UNKNOWN_STACK_MAX),
    };
    if bytes < CHUNK {
        return 0;
    }
    let lowest = touch_down_to(here - bytes);
    here.saturating_sub(lowest)
}

/// Recursively claims page-sized frames, writing into each, until a frame
/// lies at or below `limit`; returns the lowest address written. Checking
/// real addresses (rather than counting frames) keeps the depth right
/// whatever the frame overhead of the build profile.
#[inline(never)]
fn touch_down_to(limit: usize) -> usize {
    let mut frame = [0u8; CHUNK];
    let p = frame.as_mut_ptr();
    let mut off = 0;
    while off < CHUNK {
        // SAFETY: `off < CHUNK`, so `p.add(off)` is inside `frame`.
        unsafe { std::ptr::write_volatile(p.add(off), 1) };
        off += 256;
    }
    let low = p as usize;
    let lowest = if low > limit {
        touch_down_to(limit)
    } else {
        low
    };
    // Using the frame after the call prevents tail-call elimination, which
    // would reuse one frame instead of descending the stack.
    std::hint::black_box(&mut frame);
    lowest
}

/// Lowest usable address of the calling thread's stack, if known.
fn stack_low() -> Option<usize> {
    crate::sys::thread_stack_low()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// Resident pages among the page-aligned range [lo, hi).
    fn resident_pages(lo: usize, hi: usize) -> (usize, usize) {
        let page = 4096;
        let lo = (lo + page - 1) & !(page - 1);
        let hi = hi & !(page - 1);
        let n = (hi - lo) / page;
        let mut vec = vec![0u8; n];
        // SAFETY: [lo, hi) lies within the current thread's stack mapping
        // and is page aligned; `vec` has one byte per page.
        let rc = unsafe { libc::mincore(lo as *mut libc::c_void, hi - lo, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        (vec.iter().filter(|&&b| b & 1 != 0).count(), n)
    }

    #[test]
    fn prefault_makes_stack_pages_resident() {
        const STACK: usize = 4 << 20;
        const WANT: usize = 1 << 20;
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(|| {
                let probe = 0u8;
                let here = std::hint::black_box(&probe) as *const u8 as usize;
                // A range well below this frame that nothing touched yet
                // (the thread's stack is a fresh mapping).
                let (lo, hi) = (here - WANT + 64 * 1024, here - 64 * 1024);
                let (before, n) = resident_pages(lo, hi);
                assert!(before < n, "stack already resident; test cannot tell");
                let touched = prefault_stack(WANT + 16 * 1024);
                assert!(touched >= WANT, "touched only {touched}");
                let (after, n) = resident_pages(lo, hi);
                assert_eq!(after, n, "{after} of {n} pages resident");
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn prefault_is_clamped_to_the_stack() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let touched = prefault_stack(64 << 20);
                assert!(touched < 256 * 1024, "{touched}");
                assert!(touched > 64 * 1024, "{touched}");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
