//! An owned memory mapping, unmapped on drop.

use nix::sys::mman::{madvise, mmap, munmap, MapFlags, MmapAdvise, ProtFlags};
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

/// Protection of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// PROT_READ.
    ReadOnly,
    /// PROT_READ | PROT_WRITE.
    ReadWrite,
}

/// A shared file mapping (`MAP_SHARED`), unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; Mapping itself hands out only
// raw pointers, and every access through them is the user's responsibility.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` exposes no interior mutation of its own.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, shared.
    pub fn new(fd: BorrowedFd<'_>, offset: u64, len: usize, prot: Protection) -> io::Result<Self> {
        let Some(length) = NonZeroUsize::new(len) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let prot = match prot {
            Protection::ReadOnly => ProtFlags::PROT_READ,
            Protection::ReadWrite => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        };
        // SAFETY: a fresh mapping at a kernel-chosen address cannot alias any
        // Rust object; the fd is valid for the duration of the call.
        let p = unsafe { mmap(None, length, prot, MapFlags::MAP_SHARED, fd, off) }?;
        Ok(Self {
            ptr: p.cast::<u8>(),
            len,
        })
    }

    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Start of the mapping, non-null.
    pub fn as_non_null(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `new` refuses zero length).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Asks for transparent huge pages over the 2 MiB-aligned interior of
/// `mem` (`madvise(MADV_HUGEPAGE)`). Failure (no THP support) is harmless
/// and ignored.
pub(crate) fn advise_huge_pages<T>(mem: &mut [T]) {
    const HUGE: usize = 2 << 20;
    let addr = mem.as_mut_ptr() as usize;
    let start = (addr + HUGE - 1) & !(HUGE - 1);
    let end = (addr + std::mem::size_of_val(mem)) & !(HUGE - 1);
    let Some(ptr) = NonNull::new(start as *mut libc::c_void) else {
        return;
    };
    if end > start {
        // SAFETY: [start, end) lies inside `mem`, memory we borrow
        // exclusively; MADV_HUGEPAGE only changes how the kernel backs the
        // range, never its contents.
        let _ = unsafe { madvise(ptr, end - start, MmapAdvise::MADV_HUGEPAGE) };
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and are unmapped once;
        // a failure (impossible for a range we mapped) leaves it mapped.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}
