//! Helpers for tests that must run in a child process (they change
//! process-wide limits, drop capabilities, or are expected to die).
#![allow(dead_code)] // each test binary uses a subset

use std::io;
use std::process::{Command, Output};

/// Set in the environment of a child started by [`run_child`].
pub const CHILD_ENV: &str = "PCMRING_RT_TEST_CHILD";

/// Whether this process is a child started by [`run_child`]. Child-only
/// tests are `#[ignore]`d and return at once unless this holds, so running
/// `--ignored` by hand does not change the test process itself.
pub fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs one (ignored) test of the current test binary in a child process
/// and returns its output.
pub fn run_child(test: &str) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("spawn child test process")
}

/// Exit code a child uses to say "this environment cannot run me".
pub const SKIP: i32 = 77;

/// Sets a resource limit (soft and hard) of this process.
pub fn set_rlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `r` is a valid rlimit.
    if unsafe { libc::setrlimit(resource, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads a resource limit (soft, hard) of this process.
pub fn get_rlimit(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_SYS_NICE: u32 = 23;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Removes capability `cap` (< 32) from the calling thread's effective and
/// permitted sets (capabilities are per thread on Linux).
pub fn drop_capability(cap: u32) -> io::Result<()> {
    assert!(cap < 32);
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: v3 capget takes a header and an array of two data structs.
    if unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    data[0].effective &= !(1 << cap);
    data[0].permitted &= !(1 << cap);
    // SAFETY: as above; dropping capabilities needs no privilege.
    if unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the calling thread has capability `cap` (< 32) in effect.
pub fn has_capability(cap: u32) -> bool {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: v3 capget takes a header and an array of two data structs.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    rc == 0 && data[0].effective & (1 << cap) != 0
}

/// Prints a child's output (shown when the parent test fails).
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
