//! Flush-to-zero for the mixing thread: denormal floats (magnitudes below
//! about 1.2e-38, as left by decaying filters, reverb tails and long fades)
//! cost up to a hundred times a normal operation on x86. While a
//! [`FlushDenormals`] guard lives, the thread's SSE/AVX unit treats denormal
//! inputs as zero (DAZ) and flushes denormal results to zero (FTZ); dropping
//! the guard restores the previous mode. Elsewhere it does nothing.

/// MXCSR bit 15: flush denormal results to zero.
#[cfg(target_arch = "x86_64")]
const FTZ: u32 = 1 << 15;
/// MXCSR bit 6: treat denormal inputs as zero.
#[cfg(target_arch = "x86_64")]
const DAZ: u32 = 1 << 6;

/// Sets FTZ and DAZ on this thread until dropped (x86_64; a no-op elsewhere).
///
/// ```
/// let tiny = std::hint::black_box(1e-39f32);
/// {
///     let _g = pcmring::mixer::FlushDenormals::new();
///     # #[cfg(target_arch = "x86_64")]
///     assert_eq!(std::hint::black_box(tiny) * 1.0, 0.0);
/// }
/// assert_eq!(std::hint::black_box(tiny) * 1.0, tiny);
/// ```
#[derive(Debug)]
pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
    /// Not `Send`: the mode belongs to the thread that set it.
    _thread: std::marker::PhantomData<*const ()>,
}

#[cfg(target_arch = "x86_64")]
fn read_mxcsr() -> u32 {
    let mut v: u32 = 0;
    // SAFETY: `stmxcsr` stores the 32-bit MXCSR register into the pointed-to
    // u32, which is a valid, writable local; it has no other effect.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut v as *mut u32, options(nostack, preserves_flags))
    };
    v
}

#[cfg(target_arch = "x86_64")]
fn write_mxcsr(v: u32) {
    // SAFETY: `ldmxcsr` loads MXCSR from a valid u32. The values written are
    // a value read from MXCSR with the FTZ/DAZ bits changed (both defined on
    // every x86_64 CPU), so no reserved bit is set; only this thread's
    // floating-point mode changes.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &v as *const u32, options(nostack, preserves_flags, readonly))
    };
}

impl FlushDenormals {
    /// Turns flush-to-zero on for this thread.
    #[inline]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = read_mxcsr();
            let want = saved | FTZ | DAZ;
            if want != saved {
                write_mxcsr(want);
            }
            FlushDenormals {
                saved,
                _thread: std::marker::PhantomData,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {
            _thread: std::marker::PhantomData,
        }
    }
}

impl Default for FlushDenormals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushDenormals {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if read_mxcsr() != self.saved {
            write_mxcsr(self.saved);
        }
    }
}
