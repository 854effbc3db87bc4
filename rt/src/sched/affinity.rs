//! CPU affinity of the calling thread.

use super::RtError;
use nix::errno::Errno;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Number of CPUs a `cpu_set_t` can name.
const SETSIZE: usize = CpuSet::count();

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
    let mut set = CpuSet::new();
    for &c in cpus {
        // `c < CPU_SETSIZE`, checked above, so the bit is in range.
        set.set(c)
            .map_err(|_| invalid("CPU index beyond CPU_SETSIZE (1024)"))?;
    }
    // Pid 0 is the calling thread.
    match sched_setaffinity(Pid::from_raw(0), &set) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => Err(invalid(
            "no CPU in the set is online and allowed for this thread",
        )),
        Err(e) => Err(RtError::Os {
            op: "sched_setaffinity",
            source: e.into(),
        }),
    }
}

/// The CPUs the calling thread may run on, in increasing order.
pub fn affinity() -> Result<Vec<usize>, RtError> {
    // Pid 0 is the calling thread.
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(|e| RtError::Os {
        op: "sched_getaffinity",
        source: e.into(),
    })?;
    Ok((0..SETSIZE)
        .filter(|&c| set.is_set(c).unwrap_or(false))
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
                let now_on = nix::sched::sched_getcpu().unwrap();
                assert_eq!(now_on, cpu);
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
