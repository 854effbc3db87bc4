//! A no-allocation guard: a counting global allocator and a per-thread
//! scope that counts (or aborts on) heap operations.
//!
//! Install [`CountingAllocator`] as the global allocator of a test binary
//! (or of an application, where it costs one thread-local read per heap
//! operation), then arm an [`AllocGuard`] on the realtime thread:
//!
//! ```
//! use pcmring_rt::alloc_guard::{self, AllocGuard, CountingAllocator, Mode};
//!
//! #[global_allocator]
//! static A: CountingAllocator = CountingAllocator::new();
//!
//! # fn main() {
//! assert!(alloc_guard::is_installed());
//! let mut scratch = vec![0.0f32; 256]; // before arming: not counted
//! let guard = AllocGuard::enter(Mode::Count);
//! scratch.iter_mut().for_each(|s| *s *= 0.5); // no heap traffic
//! assert!(guard.counts().is_zero());
//! let b = Box::new(1u32); // counted
//! drop(b);
//! let c = guard.counts();
//! assert_eq!((c.allocs, c.frees, c.reallocs), (1, 1, 0));
//! # }
//! ```
//!
//! **Scope.** The armed state lives in a thread-local, so only heap
//! operations *made by the thread that armed the guard* count; other
//! threads are unaffected. Guards nest: counting is on while any guard is
//! alive on the thread, and [`Mode::Abort`] wins over [`Mode::Count`] while
//! any `Abort` guard is alive. Guards may be dropped in any order (the state
//! is a pair of depth counters, not a stack). [`suspend`] switches the
//! checks off for a marked region (e.g. an error-reporting path).
//!
//! **Allocation-free bookkeeping.** The thread-local is `const`-initialised
//! and has no destructor, so reading it never allocates, never registers a
//! destructor and never recurses into the allocator; it stays readable
//! during thread teardown.
//!
//! **What is and isn't caught.** Every call through the global allocator
//! (`alloc`, `alloc_zeroed`, `realloc`, `dealloc`) on the armed thread:
//! `Box`, `Vec`, `String`, `Arc`, formatting into a `String`, lazily
//! allocated thread-locals, and `std` internals that allocate (e.g. the
//! first `println!` buffer, `thread::spawn`). Not caught: memory obtained
//! without the global allocator (`mmap`, `libc::malloc` called directly or
//! from C code), and locks: an uncontended `Mutex` is a plain atomic and
//! leaves no trace. Blocking (a contended lock, a page fault that waits
//! for I/O, a blocking syscall) is detected separately by
//! [`crate::blocking::BlockingMonitor`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::marker::PhantomData;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// What an armed [`AllocGuard`] does on a heap operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Count it (see [`AllocGuard::counts`]) and carry on.
    Count,
    /// Write a one-line message to stderr (with `write(2)`, no allocation)
    /// and abort the process (`SIGABRT`), before the operation happens.
    Abort,
}

/// Heap operations counted on one thread while a guard was armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AllocCounts {
    /// `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls (frees).
    pub frees: u64,
    /// `realloc` calls (growing or shrinking a block).
    pub reallocs: u64,
}

impl AllocCounts {
    /// All operations together.
    pub fn total(&self) -> u64 {
        self.allocs + self.frees + self.reallocs
    }

    /// Whether nothing was counted.
    pub fn is_zero(&self) -> bool {
        self.total() == 0
    }

    fn saturating_sub(self, earlier: AllocCounts) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs.saturating_sub(earlier.allocs),
            frees: self.frees.saturating_sub(earlier.frees),
            reallocs: self.reallocs.saturating_sub(earlier.reallocs),
        }
    }
}

/// Per-thread guard state. No `Drop` and const-initialised: accessing it
/// is a plain TLS load, with no lazy initialisation or allocation.
struct ThreadState {
    count_depth: Cell<u32>,
    abort_depth: Cell<u32>,
    suspend_depth: Cell<u32>,
    allocs: Cell<u64>,
    frees: Cell<u64>,
    reallocs: Cell<u64>,
}

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            count_depth: Cell::new(0),
            abort_depth: Cell::new(0),
            suspend_depth: Cell::new(0),
            allocs: Cell::new(0),
            frees: Cell::new(0),
            reallocs: Cell::new(0),
        }
    }

    fn totals(&self) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs.get(),
            frees: self.frees.get(),
            reallocs: self.reallocs.get(),
        }
    }
}

// The state must not need dropping, or std would register a TLS destructor
// (which may allocate) on first access.
const _: () = assert!(!std::mem::needs_drop::<ThreadState>());

thread_local! {
    static STATE: ThreadState = const { ThreadState::new() };
}

/// Set by the first heap operation that goes through a `CountingAllocator`.
static SEEN: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy)]
enum Op {
    Alloc,
    Realloc,
    Free,
}

/// Records one heap operation for the calling thread.
#[inline]
fn note(op: Op, size: usize) {
    if !SEEN.load(Relaxed) {
        SEEN.store(true, Relaxed);
    }
    // try_with cannot fail for a destructor-less const thread-local, but if
    // it ever did, skipping the check is the safe choice in an allocator.
    let _ = STATE.try_with(|s| {
        if s.suspend_depth.get() != 0 {
            return;
        }
        if s.abort_depth.get() != 0 {
            abort_on(op, size);
        }
        if s.count_depth.get() != 0 {
            let c = match op {
                Op::Alloc => &s.allocs,
                Op::Realloc => &s.reallocs,
                Op::Free => &s.frees,
            };
            c.set(c.get() + 1);
        }
    });
}

/// Writes "pcmring-rt: <op> of <size> bytes ..." to stderr and aborts,
/// without allocating.
#[cold]
fn abort_on(op: Op, size: usize) -> ! {
    let what: &[u8] = match op {
        Op::Alloc => b"pcmring-rt: allocation of ",
        Op::Realloc => b"pcmring-rt: reallocation to ",
        Op::Free => b"pcmring-rt: free of ",
    };
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let tail: &[u8] = b" bytes on a thread with AllocGuard(Mode::Abort) armed; aborting\n";
    // `Stderr::as_fd` neither locks nor allocates; a short or failed write
    // only loses diagnostic text.
    let stderr = std::io::stderr();
    for part in [what, &digits[i..], tail] {
        let _ = nix::unistd::write(stderr.as_fd(), part);
    }
    std::process::abort()
}

/// A [`GlobalAlloc`] that forwards to [`System`] and reports each heap
/// operation to the calling thread's [`AllocGuard`] state.
///
/// Install it with
/// `#[global_allocator] static A: CountingAllocator = CountingAllocator::new();`.
/// When no guard is armed on the thread, the overhead is one relaxed atomic
/// load and one thread-local read per operation.
#[derive(Debug, Default)]
pub struct CountingAllocator {
    _private: (),
}

impl CountingAllocator {
    /// The allocator (a unit value; usable in a `static`).
    pub const fn new() -> CountingAllocator {
        CountingAllocator { _private: () }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the bookkeeping before
// the call never allocates (const thread-local, no destructor) and either
// returns or aborts.
unsafe impl GlobalAlloc for CountingAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(Op::Alloc, layout.size());
        // SAFETY: forwarded unchanged; the caller upholds alloc's contract.
        unsafe { System.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(Op::Alloc, layout.size());
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(Op::Free, layout.size());
        // SAFETY: forwarded unchanged; `ptr` came from `System` via us.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(Op::Realloc, new_size);
        // SAFETY: forwarded unchanged; `ptr` came from `System` via us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Whether a [`CountingAllocator`] is the global allocator of this
/// process. Without it, guards count nothing, so tests should assert this
/// first. May allocate once (a probe) when nothing was seen yet.
pub fn is_installed() -> bool {
    if SEEN.load(Relaxed) {
        return true;
    }
    let _suspended = suspend();
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    SEEN.load(Relaxed)
}

/// The calling thread's totals: every heap operation it made while a
/// guard was armed (and not suspended), since the thread started.
pub fn thread_counts() -> AllocCounts {
    STATE.try_with(ThreadState::totals).unwrap_or_default()
}

/// An armed no-allocation scope on the current thread; disarms on drop.
///
/// Not `Send`: it must be dropped on the thread that created it.
#[must_use = "the guard disarms when dropped"]
pub struct AllocGuard {
    mode: Mode,
    start: AllocCounts,
    _not_send: PhantomData<*const ()>,
}

impl AllocGuard {
    /// Arms the guard on the calling thread. Allocation-free.
    pub fn enter(mode: Mode) -> AllocGuard {
        let start = STATE
            .try_with(|s| {
                let depth = match mode {
                    Mode::Count => &s.count_depth,
                    Mode::Abort => &s.abort_depth,
                };
                depth.set(depth.get() + 1);
                s.totals()
            })
            .unwrap_or_default();
        AllocGuard {
            mode,
            start,
            _not_send: PhantomData,
        }
    }

    /// The mode this guard was entered with.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Heap operations on this thread since this guard was entered
    /// (including those counted by nested guards; suspended regions are
    /// not counted).
    pub fn counts(&self) -> AllocCounts {
        thread_counts().saturating_sub(self.start)
    }
}

impl Drop for AllocGuard {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| {
            let depth = match self.mode {
                Mode::Count => &s.count_depth,
                Mode::Abort => &s.abort_depth,
            };
            depth.set(depth.get().saturating_sub(1));
        });
    }
}

impl std::fmt::Debug for AllocGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllocGuard")
            .field("mode", &self.mode)
            .field("counts", &self.counts())
            .finish()
    }
}

/// Switches the calling thread's guards off until the returned value is
/// dropped (nestable). Heap operations in between are neither counted nor
/// aborted on: use it for a deliberate, rare slow path such as reporting a
/// panic from the realtime thread.
pub fn suspend() -> Suspended {
    let _ = STATE.try_with(|s| s.suspend_depth.set(s.suspend_depth.get() + 1));
    Suspended {
        _not_send: PhantomData,
    }
}

/// Returned by [`suspend`]; re-enables the thread's guards on drop.
#[must_use = "the suspension ends when this is dropped"]
#[derive(Debug)]
pub struct Suspended {
    _not_send: PhantomData<*const ()>,
}

impl Drop for Suspended {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| s.suspend_depth.set(s.suspend_depth.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    // The unit-test binary does not install the allocator (the integration
    // test rt/tests/alloc_guard.rs does); here we test the bookkeeping by
    // calling `note` directly.
    use super::*;

    #[test]
    fn counts_only_while_armed_and_not_suspended() {
        std::thread::spawn(|| {
            note(Op::Alloc, 8);
            assert!(thread_counts().is_zero());
            let g = AllocGuard::enter(Mode::Count);
            note(Op::Alloc, 8);
            note(Op::Realloc, 16);
            note(Op::Free, 16);
            {
                let _s = suspend();
                note(Op::Alloc, 1);
            }
            assert_eq!(
                g.counts(),
                AllocCounts {
                    allocs: 1,
                    frees: 1,
                    reallocs: 1
                }
            );
            drop(g);
            note(Op::Alloc, 8);
            assert_eq!(thread_counts().total(), 3);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn nested_guards_and_out_of_order_drops() {
        std::thread::spawn(|| {
            let outer = AllocGuard::enter(Mode::Count);
            note(Op::Alloc, 1);
            let inner = AllocGuard::enter(Mode::Count);
            note(Op::Alloc, 1);
            assert_eq!(inner.counts().allocs, 1);
            assert_eq!(outer.counts().allocs, 2);
            drop(outer); // out of order: inner still arms counting
            note(Op::Free, 1);
            assert_eq!(inner.counts().frees, 1);
            drop(inner);
            let before = thread_counts();
            note(Op::Free, 1);
            assert_eq!(thread_counts(), before);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn counts_total_and_zero() {
        let c = AllocCounts {
            allocs: 2,
            frees: 3,
            reallocs: 4,
        };
        assert_eq!(c.total(), 9);
        assert!(!c.is_zero());
        assert!(AllocCounts::default().is_zero());
    }
}
