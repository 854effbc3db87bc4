//! CPU affinity of the calling thread.

use super::RtError;
use std::io;

/// Number of CPUs a `cpu_set_t` can name.
const SETSIZE: usize = libc::CPU_SETSIZE as usize;

/// Pins the calling thread to the given CPUs (indices as in
/// `/proc/cpuinfo`), with `sched_setaffinity`.
///
/// Fails with [`RtError::InvalidCpuSet`] if `cpus` is empty, names a CPU
/// at or above 1024, or contains no CPU the thread is allowed to use
/// (offline, or outside the cgroup's cpuset).
///
/// ```
/// use pcmring_rt::sched::{affinity, set_affinity};
///
/// std::thread::spawn(|| {
///     let allowed = affinity().unwrap();
///     set_affinity(&allowed[..1]).unwrap();
///     assert_eq!(affinity().unwrap(), &allowed[..1]);
/// })
/// .join()
/// .unwrap();
/// ```
pub fn set_affinity(cpus: &[usize]) -> Result<(), RtError> {
    let invalid = |reason| RtError::InvalidCpuSet {
        cpus: cpus.to_vec(),
        reason,
    };
    if cpus.is_empty() {
        return Err(invalid("the set is empty"));
    }
    if cpus.iter().any(|&c| c >= SETSIZE) {
        return Err(invalid("CPU index beyond CPU_SETSIZE (1024)"));
    }
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: `c < CPU_SETSIZE`, checked above, so the bit is in range.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of
    // the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINVAL) {
            return Err(invalid(
                "no CPU in the set is online and allowed for this thread",
            ));
        }
        return Err(RtError::Os {
            op: "sched_setaffinity",
            source: err,
        });
    }
    Ok(())
}

/// The CPUs the calling thread may run on, in increasing order.
pub fn affinity() -> Result<Vec<usize>, RtError> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is writable and of the
    // size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(RtError::Os {
            op: "sched_getaffinity",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: every index is below CPU_SETSIZE.
    Ok((0..SETSIZE)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_fresh_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    #[test]
    fn pin_to_each_allowed_cpu() {
        on_fresh_thread(|| {
            let allowed = affinity().unwrap();
            assert!(!allowed.is_empty());
            for &cpu in &allowed {
                set_affinity(&[cpu]).unwrap();
                assert_eq!(affinity().unwrap(), vec![cpu]);
                std::thread::yield_now();
                // SAFETY: sched_getcpu has no preconditions.
                let now_on = unsafe { libc::sched_getcpu() };
                assert_eq!(now_on, cpu as i32);
            }
            set_affinity(&allowed).unwrap();
            assert_eq!(affinity().unwrap(), allowed);
        });
    }

    #[test]
    fn invalid_sets_are_typed_errors() {
        on_fresh_thread(|| {
            let before = affinity().unwrap();
            for (cpus, needle) in [
                (vec![], "empty"),
                (vec![5000], "CPU_SETSIZE"),
                (vec![SETSIZE - 1], "online"),
            ] {
                match set_affinity(&cpus) {
                    Err(e @ RtError::InvalidCpuSet { .. }) => {
                        assert!(e.to_string().contains(needle), "{e}");
                    }
                    other => panic!("{cpus:?}: {other:?}"),
                }
            }
            assert_eq!(affinity().unwrap(), before, "failed calls changed affinity");
        });
    }
}
