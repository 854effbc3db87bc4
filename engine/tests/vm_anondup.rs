//! The security suite of snd-pcm-anondup (kernel/), run in the VM suite
//! (kernel/vm/run) on snd-dummy (`hw:Dummy,0`) and snd-aloop
//! (`hw:Loopback,0` played, `hw:Loopback,1` captured). On the host every
//! test is listed as ignored.
//!
//! Every forbidden operation on a BUFFER fd must fail with the documented
//! errno (kernel/README.md) and leave the stream untouched: still RUNNING,
//! hw_ptr still advancing, hw and sw parameters unchanged (read back from
//! /proc/asound). Each refusal is printed as `REFUSED <op>: <errno>`.
//!
//! BUFFER fds come from the module (`ANONDUP_IOCTL_DUP`). If the file
//! [`NATIVE_FLAG`] exists in the guest, they come from the native
//! `SNDRV_PCM_IOCTL_ANONYMOUS_DUP` instead (a snd-pcm built with
//! kernel/patches/ loaded in place of the stock one), and the refcount
//! checks follow the module that owns those files (`snd_pcm`).

use pcmring::anondup::{
    device_dup, native_dup, open_device, position_ioctl, AnondupDup, AnondupRevoke, DupMode,
    ANONDUP_IOCTL_DUP, ANONDUP_IOCTL_POSITION, ANONDUP_IOCTL_REVOKE, ANONDUP_IOCTL_VERSION,
    IOCTL_MAGIC,
};
use pcmring::pcm::verify::{find_signal, test_pattern_i16};
use pcmring::pcm::{BufferSize, Config, Direction, Match, Pcm};
use pcmring::restricted::{PositionPath, RestrictedPcm};
use pcmring::sys::abi::{
    ioc, IOC_NONE, IOC_READ, IOC_WRITE, SNDRV_PCM_IOCTL_HWSYNC, SNDRV_PCM_IOCTL_PVERSION,
};
use pcmring::{Device, Format, PcmState, PositionSource};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

const DUMMY: &str = "hw:Dummy,0";
const LOOP_PLAY: &str = "hw:Loopback,0,0";
const LOOP_CAP: &str = "hw:Loopback,1,0";
const PAGE: usize = 4096;

/// Every PCM ioctl of `<sound/asound.h>` and the kernel's time32 variants
/// (x86_64 numbers, generated from the 6.12 headers).
const PCM_IOCTLS: &[(&str, u32)] = &[
    ("PVERSION", 0x80044100),
    ("INFO", 0x81204101),
    ("TSTAMP", 0x40044102),
    ("TTSTAMP", 0x40044103),
    ("USER_PVERSION", 0x40044104),
    ("ANONYMOUS_DUP (2019 native)", 0xc0044105),
    ("HW_REFINE", 0xc2604110),
    ("HW_PARAMS", 0xc2604111),
    ("HW_REFINE_OLD", 0xc1004110),
    ("HW_PARAMS_OLD", 0xc1004111),
    ("HW_FREE", 0x00004112),
    ("SW_PARAMS", 0xc0884113),
    ("STATUS (time64)", 0x80984120),
    ("STATUS32 (time32)", 0x806c4120),
    ("DELAY", 0x80084121),
    ("HWSYNC", 0x00004122),
    ("SYNC_PTR (time64)", 0xc0884123),
    ("SYNC_PTR32 (time32)", 0xc0844123),
    ("STATUS_EXT (time64)", 0xc0984124),
    ("STATUS_EXT32 (time32)", 0xc06c4124),
    ("CHANNEL_INFO", 0x80184132),
    ("PREPARE", 0x00004140),
    ("RESET", 0x00004141),
    ("START", 0x00004142),
    ("DROP", 0x00004143),
    ("DRAIN", 0x00004144),
    ("PAUSE", 0x40044145),
    ("REWIND", 0x40084146),
    ("RESUME", 0x00004147),
    ("XRUN", 0x00004148),
    ("FORWARD", 0x40084149),
    ("WRITEI_FRAMES", 0x40184150),
    ("READI_FRAMES", 0x80184151),
    ("WRITEN_FRAMES", 0x40184152),
    ("READN_FRAMES", 0x80184153),
    ("LINK", 0x40044160),
    ("UNLINK", 0x00004161),
];

/// What a BUFFER fd may do by ioctl.
fn ioctl_allowed(req: u32) -> bool {
    req == SNDRV_PCM_IOCTL_HWSYNC
        || req == SNDRV_PCM_IOCTL_PVERSION
        || req == ANONDUP_IOCTL_POSITION
}

/// Writes past libtest's output capture, so the VM log keeps the line.
fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn errno_name(e: i32) -> &'static str {
    match e {
        0 => "OK",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EBADF => "EBADF",
        libc::EBADFD => "EBADFD",
        libc::ENXIO => "ENXIO",
        libc::ESPIPE => "ESPIPE",
        libc::EBUSY => "EBUSY",
        libc::EAGAIN => "EAGAIN",
        libc::EFAULT => "EFAULT",
        libc::ENOENT => "ENOENT",
        libc::ENODEV => "ENODEV",
        _ => "other",
    }
}

/// The errno of a failed libc call (`r < 0`), or 0.
fn errno_of(r: i64) -> i32 {
    if r < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// Asserts that an operation was refused with `want`, and logs it.
fn refused(what: &str, errno: i32, want: i32) {
    assert_eq!(
        errno,
        want,
        "{what}: expected {} but got {} ({errno})",
        errno_name(want),
        errno_name(errno)
    );
    out(&format!("REFUSED {what}: {}", errno_name(errno)));
}

fn raw_ioctl(fd: RawFd, req: u32, arg: *mut libc::c_void) -> i32 {
    // SAFETY: every call passes either null or a pointer to a buffer large
    // enough for the size encoded in `req` (the 16 KiB sweep buffer).
    let r = unsafe { libc::ioctl(fd, req as libc::Ioctl, arg) };
    errno_of(i64::from(r))
}

/// mmap; Ok(ptr) or Err(errno).
fn try_mmap(fd: RawFd, len: usize, prot: i32, flags: i32, off: u64) -> Result<*mut u8, i32> {
    // SAFETY: a fresh mapping at a kernel-chosen address aliases nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            flags,
            fd,
            off as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(errno_of(-1))
    } else {
        Ok(p.cast())
    }
}

fn unmap(p: *mut u8, len: usize) {
    // SAFETY: p/len come from a successful try_mmap and are unmapped once.
    unsafe { libc::munmap(p.cast(), len) };
}

fn config(period: u64, periods: u32) -> Config {
    Config {
        format: Some(Format::S16Le),
        channels: 2,
        rate: 48_000,
        rate_match: Match::Exact,
        period_size: period,
        buffer: BufferSize::Periods(periods),
        ..Config::default()
    }
}

/// Opens, prepares and starts a free-running stream.
fn running(name: &str, dir: Direction, cfg: &Config) -> Pcm {
    let mut pcm = Pcm::open(name, dir, cfg).unwrap_or_else(|e| panic!("open {name}: {e}"));
    pcm.prepare().expect("prepare");
    pcm.start().expect("start");
    pcm
}

/// When this file exists, the suite tests the native ioctl's fds.
const NATIVE_FLAG: &str = "/tmp/anondup-native";

fn native() -> bool {
    std::path::Path::new(NATIVE_FLAG).exists()
}

/// A new restricted fd of `src` (a PCM fd or a restricted fd): from the
/// module, or from the native ioctl in native mode. Ok(fd) or Err(errno).
fn redup(src: BorrowedFd<'_>, mode: DupMode) -> Result<OwnedFd, i32> {
    let r = if native() {
        native_dup(src, mode)
    } else {
        let dev = open_device().expect("/dev/snd/anondup");
        device_dup(dev.as_fd(), src, mode)
    };
    r.map_err(|e| e.raw_os_error().unwrap_or(-1))
}

fn buffer_fd(pcm: &Pcm) -> OwnedFd {
    let fd = redup(pcm.poll_fd().expect("open"), DupMode::Buffer)
        .unwrap_or_else(|e| panic!("BUFFER dup of {}: {}", pcm.name(), errno_name(e)));
    assert_eq!(fd_target(fd.as_fd()), "anon_inode:snd-pcm-buf");
    fd
}

/// The module that owns the restricted files (pinned while they exist).
fn owner_module() -> &'static str {
    if native() {
        "snd_pcm"
    } else {
        "snd_pcm_anondup"
    }
}

/// The /proc/asound files that show the stream's configuration.
fn proc_dir(pcm: &Pcm, dir: Direction) -> String {
    let i = pcm.info();
    let d = match dir {
        Direction::Playback => 'p',
        Direction::Capture => 'c',
    };
    format!(
        "/proc/asound/card{}/pcm{}{d}/sub{}",
        i.card, i.device, i.subdevice
    )
}

/// hw_params and sw_params as the kernel reports them, and the file
/// status flags of the server's fd.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    hw_params: String,
    sw_params: String,
    server_flags: i32,
}

/// F_GETFL of the server's fd.
fn server_flags(pcm: &Pcm) -> i32 {
    let fd = pcm.poll_fd().expect("open").as_raw_fd();
    // SAFETY: F_GETFL on a live fd.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

/// The server's own file is as a restricted fd must leave it: its status
/// and control pages still map at the old and new offsets (a compat ioctl
/// on the source would make the old ones fail with ENXIO).
fn assert_server_file_intact(pcm: &Pcm, after_what: &str) {
    let fd = pcm.poll_fd().expect("open").as_raw_fd();
    for (what, off, prot) in [
        ("status (old offset)", 0x8000_0000u64, libc::PROT_READ),
        ("status (new offset)", 0x8200_0000, libc::PROT_READ),
        (
            "control (old offset)",
            0x8100_0000,
            libc::PROT_READ | libc::PROT_WRITE,
        ),
        (
            "control (new offset)",
            0x8300_0000,
            libc::PROT_READ | libc::PROT_WRITE,
        ),
    ] {
        match try_mmap(fd, PAGE, prot, libc::MAP_SHARED, off) {
            Ok(p) => unmap(p, PAGE),
            Err(e) => panic!(
                "after {after_what}: the server's fd can no longer map its {what}: {}",
                errno_name(e)
            ),
        }
    }
}

fn snapshot(pcm: &Pcm, dir: Direction) -> Snapshot {
    let d = proc_dir(pcm, dir);
    let read = |f: &str| {
        std::fs::read_to_string(format!("{d}/{f}")).unwrap_or_else(|e| panic!("{d}/{f}: {e}"))
    };
    let s = Snapshot {
        hw_params: read("hw_params"),
        sw_params: read("sw_params"),
        server_flags: server_flags(pcm),
    };
    assert!(s.hw_params.contains("rate"), "{s:?}");
    s
}

/// The stream is RUNNING, its hw_ptr advances and its parameters are as
/// before.
fn assert_untouched(pcm: &Pcm, dir: Direction, before: &Snapshot, after_what: &str) {
    let a = pcm.status_synced().expect("status via the full fd");
    assert_eq!(
        a.state,
        PcmState::Running as i32,
        "after {after_what}: state"
    );
    std::thread::sleep(Duration::from_millis(60));
    let b = pcm.status_synced().expect("status via the full fd");
    assert_eq!(
        b.state,
        PcmState::Running as i32,
        "after {after_what}: state"
    );
    assert_ne!(a.hw_ptr, b.hw_ptr, "after {after_what}: hw_ptr stopped");
    assert_eq!(
        &snapshot(pcm, dir),
        before,
        "after {after_what}: parameters or the server fd's flags changed"
    );
    assert_server_file_intact(pcm, after_what);
    out(&format!(
        "untouched after {after_what}: RUNNING, hw_ptr {} -> {}, hw/sw params and server fd \
         flags unchanged, server fd maps status and control",
        a.hw_ptr, b.hw_ptr
    ));
}

/// `/sys/module/<owner>/refcnt`.
fn module_refcnt() -> i64 {
    std::fs::read_to_string(format!("/sys/module/{}/refcnt", owner_module()))
        .expect("the module is loaded")
        .trim()
        .parse()
        .expect("refcnt")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn fd_target(fd: BorrowedFd<'_>) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Active objects of a slab cache in /proc/slabinfo, if readable.
fn slab_active(cache: &str) -> Option<i64> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == cache).then(|| it.next()?.parse().ok())?
    })
}

/// Active objects of `cache` once deferred frees (task work, RCU) had up to
/// 5 s to run: the first reading less than 1000 above `base`, or the last.
fn slab_settled(cache: &str, base: Option<i64>) -> Option<i64> {
    let t0 = Instant::now();
    loop {
        // SLUB counts objects cached per CPU as active: flush them first.
        let _ = std::fs::write(format!("/sys/kernel/slab/{cache}/shrink"), "1");
        let now = slab_active(cache);
        match (base, now) {
            (Some(a), Some(b)) if b - a >= 1000 && t0.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => return now,
        }
    }
}

fn dup_req(fd: i32, mode: u32) -> AnondupDup {
    AnondupDup {
        fd,
        mode,
        ..AnondupDup::default()
    }
}

/// ANONDUP_IOCTL_DUP with a raw request: Ok(fd) or Err(errno).
fn raw_dup(dev: BorrowedFd<'_>, mut req: AnondupDup) -> Result<OwnedFd, i32> {
    // SAFETY: the request reads one anondup_dup from `req`.
    let fd = unsafe { libc::ioctl(dev.as_raw_fd(), ANONDUP_IOCTL_DUP as libc::Ioctl, &mut req) };
    if fd < 0 {
        return Err(errno_of(-1));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dup_errno(dev: BorrowedFd<'_>, req: AnondupDup) -> i32 {
    match raw_dup(dev, req) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

fn open_path(path: &str, flags: i32) -> OwnedFd {
    let c = CString::new(path).expect("path");
    // SAFETY: c is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    assert!(fd >= 0, "open {path}: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd from open(2).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

// ------------------------------------------------------------ the tests

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn buffer_fd_refuses_every_pcm_ioctl_and_a_sweep_of_unknown_ones() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let buf = buffer_fd(&play);
    let fd = buf.as_raw_fd();
    let mut arg = vec![0u8; 1 << 14];

    for &(name, req) in PCM_IOCTLS {
        arg.fill(0);
        let e = raw_ioctl(fd, req, arg.as_mut_ptr().cast());
        if ioctl_allowed(req) {
            assert_eq!(e, 0, "allowed ioctl {name} failed: {}", errno_name(e));
            out(&format!("ALLOWED ioctl {name} (0x{req:08x}): OK"));
        } else {
            refused(&format!("ioctl {name} (0x{req:08x})"), e, libc::EPERM);
            assert!(
                arg.iter().all(|&b| b == 0),
                "refused ioctl {name} wrote to user memory"
            );
        }
    }
    arg.fill(0);
    refused(
        "ioctl ANONDUP_IOCTL_DUP on a BUFFER fd",
        raw_ioctl(fd, ANONDUP_IOCTL_DUP, arg.as_mut_ptr().cast()),
        libc::EPERM,
    );
    refused(
        "ioctl ANONDUP_IOCTL_VERSION on a BUFFER fd",
        raw_ioctl(fd, ANONDUP_IOCTL_VERSION, arg.as_mut_ptr().cast()),
        libc::EPERM,
    );
    assert_untouched(&play, Direction::Playback, &before, "the named PCM ioctls");

    // The sweep: every nr of type 'A' in every direction with every size up
    // to 1023 bytes (covers each PCM ioctl in every layout), and types
    // 0xAD (the module) and 'U' (control) with plausible sizes.
    let t0 = Instant::now();
    let mut tried = 0u64;
    let dirs = [IOC_NONE, IOC_READ, IOC_WRITE, IOC_READ | IOC_WRITE];
    let few: Vec<usize> = vec![0, 1, 2, 4, 8, 16, 24, 32, 64, 80, 128, 256, 512, 1024, 4096];
    for (ty, sizes) in [
        (b'A', (0..1024).collect::<Vec<usize>>()),
        (IOCTL_MAGIC, few.clone()),
        (b'U', few),
    ] {
        for nr in 0..=255u8 {
            for dir in dirs {
                for &size in &sizes {
                    let req = ioc(dir, ty, nr, size);
                    if ioctl_allowed(req) {
                        continue;
                    }
                    let e = raw_ioctl(fd, req, arg.as_mut_ptr().cast());
                    assert_eq!(
                        e,
                        libc::EPERM,
                        "sweep: ioctl 0x{req:08x} gave {} instead of EPERM",
                        errno_name(e)
                    );
                    tried += 1;
                }
            }
        }
    }
    assert!(
        arg.iter().all(|&b| b == 0),
        "a refused ioctl wrote to user memory"
    );
    out(&format!(
        "REFUSED sweep of {tried} ioctl numbers (types 'A', 0xAD, 'U'; all directions): all EPERM, in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    assert_untouched(&play, Direction::Playback, &before, "the ioctl sweep");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn buffer_fd_refuses_io_foreign_mappings_and_upgrades() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let buf = buffer_fd(&play);
    let fd = buf.as_raw_fd();
    let ring = play.layout().ring_bytes().div_ceil(PAGE) * PAGE;
    let mut bytes = [0u8; 256];
    let shared = libc::MAP_SHARED;
    let private = libc::MAP_PRIVATE;
    let (r, rw) = (libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE);

    // The syscalls.
    // SAFETY: bytes is a live buffer of the given length.
    let e = errno_of(unsafe { libc::read(fd, bytes.as_mut_ptr().cast(), bytes.len()) } as i64);
    refused("read", e, libc::EPERM);
    // SAFETY: as above.
    let e = errno_of(unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) } as i64);
    refused("write", e, libc::EPERM);
    let iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: one iovec over a live buffer.
    let e = errno_of(unsafe { libc::readv(fd, &iov, 1) } as i64);
    refused("readv", e, libc::EPERM);
    // SAFETY: as above.
    let e = errno_of(unsafe { libc::writev(fd, &iov, 1) } as i64);
    refused("writev", e, libc::EPERM);
    // SAFETY: fcntl on an owned fd.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    let e = errno_of(i64::from(unsafe {
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_ASYNC)
    }));
    refused("fcntl(F_SETFL, O_ASYNC)", e, libc::EPERM);

    // Mappings that must fail.
    let cases: &[(&str, u64, usize, i32, i32, i32)] = &[
        (
            "mmap control page (old offset)",
            0x8100_0000,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap control page (new offset)",
            0x8300_0000,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap control page rw (new offset)",
            0x8300_0000,
            PAGE,
            rw,
            shared,
            libc::EPERM,
        ),
        (
            "mmap status page PROT_WRITE (old offset)",
            0x8000_0000,
            PAGE,
            rw,
            shared,
            libc::EPERM,
        ),
        (
            "mmap status page PROT_WRITE (new offset)",
            0x8200_0000,
            PAGE,
            rw,
            shared,
            libc::EPERM,
        ),
        (
            "mmap status page PROT_WRITE private",
            0x8200_0000,
            PAGE,
            rw,
            private,
            libc::EPERM,
        ),
        (
            "mmap data larger than the buffer",
            0,
            ring + PAGE,
            rw,
            shared,
            libc::EPERM,
        ),
        (
            "mmap data larger than the buffer, read-only",
            0,
            ring + PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap data at offset 4096",
            0x1000,
            PAGE,
            rw,
            shared,
            libc::EPERM,
        ),
        (
            "mmap data at the buffer end",
            ring as u64,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap data at offset 0x10000",
            0x10000,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap at offset 0x7ffff000",
            0x7fff_f000,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap at offset 0x84000000",
            0x8400_0000,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
        (
            "mmap at offset 0xfffff000",
            0xffff_f000,
            PAGE,
            r,
            shared,
            libc::EPERM,
        ),
    ];
    for &(what, off, len, prot, flags, want) in cases {
        match try_mmap(fd, len, prot, flags, off) {
            Ok(p) => {
                unmap(p, len);
                panic!("{what}: succeeded, expected {}", errno_name(want));
            }
            Err(e) => refused(what, e, want),
        }
    }

    // The status page maps read-only and stays so.
    for (what, off, flags) in [
        ("status (new offset)", 0x8200_0000u64, shared),
        ("status (old offset)", 0x8000_0000, shared),
        ("status (new offset, private)", 0x8200_0000, private),
    ] {
        let p = try_mmap(fd, PAGE, r, flags, off).unwrap_or_else(|e| {
            panic!("mmap {what} read-only: {}", errno_name(e));
        });
        // SAFETY: p is a live page-long mapping.
        let e = errno_of(i64::from(unsafe { libc::mprotect(p.cast(), PAGE, rw) }));
        unmap(p, PAGE);
        refused(
            &format!("mprotect(PROT_WRITE) of the {what} mapping"),
            e,
            libc::EACCES,
        );
    }
    // The data ring maps writable (playback).
    let p = try_mmap(fd, ring, rw, shared, 0).expect("data ring read-write");
    unmap(p, ring);

    // No way back to FULL.
    refused(
        "FULL dup of a BUFFER fd",
        redup(buf.as_fd(), DupMode::Full).err().unwrap_or(0),
        libc::EPERM,
    );
    let again = redup(buf.as_fd(), DupMode::Buffer).expect("BUFFER of BUFFER");
    assert_eq!(fd_target(again.as_fd()), "anon_inode:snd-pcm-buf");
    refused(
        "ioctl PREPARE on a BUFFER dup of a BUFFER fd",
        raw_ioctl(again.as_raw_fd(), 0x0000_4140, std::ptr::null_mut()),
        libc::EPERM,
    );
    refused(
        "FULL dup of a BUFFER dup of a BUFFER fd",
        redup(again.as_fd(), DupMode::Full).err().unwrap_or(0),
        libc::EPERM,
    );
    // SAFETY: lseek on an owned fd.
    let e = errno_of(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) });
    refused("lseek", e, libc::ESPIPE);

    assert_untouched(
        &play,
        Direction::Playback,
        &before,
        "refused I/O and mappings",
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn capture_buffer_ring_is_read_only() {
    let cfg = config(1024, 4);
    let _play = running(LOOP_PLAY, Direction::Playback, &cfg);
    let cap = running(LOOP_CAP, Direction::Capture, &cfg);
    let before = snapshot(&cap, Direction::Capture);
    let buf = buffer_fd(&cap);
    let fd = buf.as_raw_fd();
    let ring = cap.layout().ring_bytes().div_ceil(PAGE) * PAGE;
    let (r, rw) = (libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE);

    for (what, flags) in [
        ("mmap capture data PROT_WRITE shared", libc::MAP_SHARED),
        ("mmap capture data PROT_WRITE private", libc::MAP_PRIVATE),
    ] {
        match try_mmap(fd, ring, rw, flags, 0) {
            Ok(p) => {
                unmap(p, ring);
                panic!("{what}: succeeded");
            }
            Err(e) => refused(what, e, libc::EPERM),
        }
    }
    let p = try_mmap(fd, ring, r, libc::MAP_SHARED, 0).expect("capture data read-only");
    // SAFETY: p is a live mapping of `ring` bytes.
    let e = errno_of(i64::from(unsafe { libc::mprotect(p.cast(), ring, rw) }));
    unmap(p, ring);
    refused(
        "mprotect(PROT_WRITE) of the capture data mapping",
        e,
        libc::EACCES,
    );

    let rp = RestrictedPcm::from_fd(buf, cap.layout()).expect("restricted capture");
    assert!(!rp.is_writable(), "capture ring mapped writable");
    assert_eq!(rp.position_source(), PositionSource::StatusPage);
    assert_untouched(
        &cap,
        Direction::Capture,
        &before,
        "capture mapping attempts",
    );
}

/// Sends `fd` over a Unix socket with SCM_RIGHTS.
fn send_fd(sock: RawFd, fd: RawFd) {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; the pointers set below stay live for the
    // sendmsg call; CMSG_* stay inside cbuf (space for one int).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
        assert_eq!(libc::sendmsg(sock, &msg, 0), 1, "sendmsg");
    }
}

/// Receives one fd (async-signal-safe: usable in a forked child).
fn recv_fd(sock: RawFd) -> RawFd {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: as in send_fd; recvmsg fills at most msg_controllen bytes.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        if libc::recvmsg(sock, &mut msg, 0) != 1 {
            return -1;
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return -1;
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>())
    }
}

fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut sv = [0; 2];
    // SAFETY: sv has room for two fds.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair");
    // SAFETY: two new fds that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// What the child tries with the fd it received; (name, expected errno).
const CHILD_OPS: &[(&str, i32)] = &[
    ("child: ioctl PREPARE", libc::EPERM),
    ("child: ioctl DROP", libc::EPERM),
    ("child: ioctl HW_FREE", libc::EPERM),
    ("child: ioctl PAUSE", libc::EPERM),
    ("child: ioctl SYNC_PTR (time64)", libc::EPERM),
    ("child: ioctl SW_PARAMS", libc::EPERM),
    ("child: write", libc::EPERM),
    ("child: mmap control page", libc::EPERM),
    ("child: mmap status PROT_WRITE", libc::EPERM),
    (
        "child: FULL dup (module device, or native ioctl)",
        libc::EPERM,
    ),
    ("child: ioctl POSITION (allowed)", 0),
    ("child: ioctl HWSYNC (allowed)", 0),
];

/// The forked child: only raw syscalls, no allocation.
fn child_tries(sock: RawFd, native: bool) -> ! {
    let fd = recv_fd(sock);
    let mut res = [-1i32; CHILD_OPS.len()];
    let mut arg = [0u8; 1024];
    let a: *mut libc::c_void = arg.as_mut_ptr().cast();
    if fd >= 0 {
        let reqs = [
            0x0000_4140u32,
            0x0000_4143,
            0x0000_4112,
            0x4004_4145,
            0xc088_4123,
            0xc088_4113,
        ];
        for (i, req) in reqs.iter().enumerate() {
            res[i] = raw_ioctl(fd, *req, a);
        }
        // SAFETY: arg is a live buffer.
        res[6] = errno_of(unsafe { libc::write(fd, a, 64) } as i64);
        res[7] = match try_mmap(fd, PAGE, libc::PROT_READ, libc::MAP_SHARED, 0x8300_0000) {
            Ok(_) => 0,
            Err(e) => e,
        };
        res[8] = match try_mmap(
            fd,
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            0x8200_0000,
        ) {
            Ok(_) => 0,
            Err(e) => e,
        };
        // SAFETY: a static NUL-terminated path.
        let dev = unsafe { libc::open(c"/dev/snd/anondup".as_ptr(), libc::O_RDONLY) };
        let mut req = AnondupDup {
            fd,
            mode: 0,
            flags: 0,
            reserved: [0; 5],
        };
        let mut mode = 0i32;
        res[9] = if native {
            raw_ioctl(fd, 0xc004_4105, (&mut mode as *mut i32).cast())
        } else {
            raw_ioctl(dev, ANONDUP_IOCTL_DUP, (&mut req as *mut AnondupDup).cast())
        };
        res[10] = raw_ioctl(fd, ANONDUP_IOCTL_POSITION, a);
        res[11] = raw_ioctl(fd, SNDRV_PCM_IOCTL_HWSYNC, std::ptr::null_mut());
    }
    // SAFETY: res is a live array; _exit never returns.
    unsafe {
        libc::write(sock, res.as_ptr().cast(), std::mem::size_of_val(&res));
        libc::_exit(0)
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn buffer_fd_passed_over_scm_rights_stays_restricted_in_another_process() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let (parent_sock, child_sock) = socketpair();
    let native_mode = native();
    // SAFETY: the child only runs raw syscalls on stack data, then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        child_tries(child_sock.as_raw_fd(), native_mode);
    }
    // Created after the fork: the child can only get it over the socket.
    let buf = buffer_fd(&play);
    send_fd(parent_sock.as_raw_fd(), buf.as_raw_fd());
    let mut res = [0i32; CHILD_OPS.len()];
    // SAFETY: res is a live buffer of the given size.
    let n = unsafe {
        libc::read(
            parent_sock.as_raw_fd(),
            res.as_mut_ptr().cast(),
            std::mem::size_of_val(&res),
        )
    };
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(n as usize, std::mem::size_of_val(&res), "child report");
    for (&(what, want), &got) in CHILD_OPS.iter().zip(&res) {
        if want == 0 {
            assert_eq!(got, 0, "{what}: {}", errno_name(got));
            out(&format!("ALLOWED {what}: OK"));
        } else {
            refused(what, got, want);
        }
    }
    assert_untouched(
        &play,
        Direction::Playback,
        &before,
        "a child's attempts over SCM_RIGHTS",
    );
}

/// `b - a` on the hw_ptr clock that wraps at `boundary`.
fn ahead(a: u64, b: u64, boundary: u64) -> u64 {
    (b + boundary - a) % boundary
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn positions_match_the_full_fd_on_both_paths() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let layout = play.layout();
    let mut page = RestrictedPcm::from_fd(buffer_fd(&play), layout).expect("restricted");
    let mut ioctl = RestrictedPcm::with_path(buffer_fd(&play), layout, PositionPath::Ioctl)
        .expect("restricted");
    assert_eq!(page.position_source(), PositionSource::StatusPage);
    assert_eq!(ioctl.position_source(), PositionSource::PositionIoctl);
    assert!(page.is_writable());
    let b = layout.boundary;
    for i in 0..50 {
        let a = play.status_synced().expect("full").hw_ptr;
        let p = page.position().expect("page");
        let q = ioctl.position().expect("ioctl");
        let z = play.status_synced().expect("full").hw_ptr;
        assert_eq!(p.state, PcmState::Running);
        assert_eq!(q.state, PcmState::Running);
        let span = ahead(a, z, b);
        assert!(span < layout.buffer_size, "reads too far apart: {span}");
        assert!(
            ahead(a, p.hw_ptr, b) <= span,
            "page {} not in [{a}, {z}]",
            p.hw_ptr
        );
        assert!(
            ahead(p.hw_ptr, q.hw_ptr, b) <= span,
            "ioctl {} before page {}",
            q.hw_ptr,
            p.hw_ptr
        );
        assert!(
            ahead(q.hw_ptr, z, b) <= span,
            "ioctl {} after full {z}",
            q.hw_ptr
        );
        assert!(p.tstamp_ns > 0 && q.tstamp_ns >= p.tstamp_ns, "{p:?} {q:?}");
        if i % 10 == 0 {
            out(&format!(
                "position | full {a}..{z}, status page {}, POSITION ioctl {}",
                p.hw_ptr, q.hw_ptr
            ));
        }
        std::thread::sleep(Duration::from_millis(7));
    }
    let raw = position_ioctl(ioctl.fd()).expect("POSITION");
    assert_eq!(raw.reserved0, 0);
    assert_eq!(raw.reserved, [0; 4]);
}

/// Plays `pattern` (interleaved S16 stereo) through a BUFFER client on
/// Loopback and returns what the capture side recorded.
fn client_plays(
    client: &mut RestrictedPcm,
    cap: &mut Pcm,
    pattern: &[i16],
    mut on_the_way: impl FnMut(),
) -> Vec<i16> {
    let l = client.layout();
    let fb = l.frame_bytes();
    let frames = pattern.len() / 2;
    let buffer = l.buffer_size;
    let mut wid = pcmring::wrap::Widener::new(l.boundary);
    let hw0 = wid.update(client.position().expect("position").hw_ptr);
    let mut cursor = hw0 + l.period_size; // first frame we write
    let start = cursor;
    let mut captured = Vec::new();
    let mut chunk = vec![0u8; cap.ring().len()];
    let t0 = Instant::now();
    let end = start + frames as u64;
    let mut quiet_after = 0u64;
    while t0.elapsed() < Duration::from_secs(30) {
        let hw = wid.update(client.position().expect("position").hw_ptr);
        assert!(
            hw < cursor || cursor >= end,
            "client underrun: hw {hw} passed cursor {cursor}"
        );
        // Fill up to one period short of a full ring ahead of the hardware.
        while cursor < end && cursor < hw + buffer - l.period_size {
            let i = (cursor - start) as usize;
            let at = (cursor % buffer) as usize * fb;
            let mut frame = [0u8; 4];
            frame[..2].copy_from_slice(&pattern[2 * i].to_le_bytes());
            frame[2..].copy_from_slice(&pattern[2 * i + 1].to_le_bytes());
            // SAFETY: `at..at+4` is one frame of the ring the hardware is not
            // reading (ahead of hw_ptr, behind hw_ptr + buffer).
            unsafe { client.ring().slice_mut(at, fb).copy_from_slice(&frame) };
            cursor += 1;
        }
        on_the_way();
        let n = cap.read_frames(&mut chunk).expect("capture read");
        captured.extend(
            chunk[..n * fb]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        if cursor >= end {
            quiet_after += n as u64;
            if quiet_after > 3 * buffer {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    captured
}

/// 16 periods (about 680 ms): a busy host can stall the guest for longer
/// than a 4-period ring, and a stall is no finding of this suite.
fn loop_config() -> Config {
    config(2048, 16)
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn client_writes_reach_the_loopback_capture_bit_exact() {
    let cfg = loop_config();
    let mut cap = running(LOOP_CAP, Direction::Capture, &cfg);
    let play = running(LOOP_PLAY, Direction::Playback, &cfg);
    let mut client = RestrictedPcm::from_fd(buffer_fd(&play), play.layout()).expect("client");
    let pattern = test_pattern_i16(2 * 24_000, 0xa11d);
    let captured = client_plays(&mut client, &mut cap, &pattern, || {});
    let at = find_signal(&captured, &pattern).unwrap_or_else(|m| {
        panic!(
            "client signal not in the capture ({} samples): {m}",
            captured.len()
        )
    });
    out(&format!(
        "loopback | BUFFER client: 24000 frames bit-exact in the capture after {} frames",
        at / 2
    ));
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn closing_the_source_fd_keeps_the_client_playing() {
    let cfg = loop_config();
    let mut cap = running(LOOP_CAP, Direction::Capture, &cfg);
    let play = running(LOOP_PLAY, Direction::Playback, &cfg);
    let layout = play.layout();
    let mut client = RestrictedPcm::from_fd(buffer_fd(&play), layout).expect("client");
    let pos_fd = buffer_fd(&play);
    let refs = module_refcnt();
    drop(play); // the server's fd and its mappings are gone
    out("source | server fd closed; the client keeps playing");
    let pattern = test_pattern_i16(2 * 12_000, 0xc105e);
    let mut last = position_ioctl(pos_fd.as_fd()).expect("POSITION").hw_ptr;
    let mut moves = 0;
    let captured = client_plays(&mut client, &mut cap, &pattern, || {
        let p = position_ioctl(pos_fd.as_fd()).expect("POSITION after the source closed");
        assert_eq!(p.state, PcmState::Running as i32);
        if p.hw_ptr != last {
            moves += 1;
            last = p.hw_ptr;
        }
    });
    assert!(moves > 5, "hw_ptr moved only {moves} times");
    find_signal(&captured, &pattern)
        .unwrap_or_else(|m| panic!("signal lost after the source closed: {m}"));
    out("source | after the server closed its fd: client signal bit-exact in the capture");
    assert_eq!(
        module_refcnt(),
        refs,
        "refcount changed while the client ran"
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn killing_a_client_mid_stream_leaves_the_stream_running() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let refs = module_refcnt();
    let (parent_sock, child_sock) = socketpair();
    let ring = play.layout().ring_bytes();
    // SAFETY: the child only runs raw syscalls, then loops until killed.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let fd = recv_fd(child_sock.as_raw_fd());
        let p = try_mmap(
            fd,
            ring,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            0,
        );
        let mut pos = [0u8; 80];
        // SAFETY: raw syscalls on our own buffers; the loop ends by SIGKILL.
        unsafe {
            libc::write(child_sock.as_raw_fd(), [1u8].as_ptr().cast(), 1);
            let mut x = 0u8;
            loop {
                if let Ok(p) = p {
                    std::ptr::write_bytes(p, x, ring);
                }
                libc::ioctl(fd, ANONDUP_IOCTL_POSITION as libc::Ioctl, pos.as_mut_ptr());
                x = x.wrapping_add(1);
            }
        }
    }
    let buf = buffer_fd(&play);
    send_fd(parent_sock.as_raw_fd(), buf.as_raw_fd());
    drop(buf);
    let mut ready = [0u8; 1];
    assert_eq!(
        // SAFETY: one byte into a live buffer.
        unsafe { libc::read(parent_sock.as_raw_fd(), ready.as_mut_ptr().cast(), 1) },
        1
    );
    assert!(
        module_refcnt() > refs,
        "the client's fd and mapping hold the module"
    );
    std::thread::sleep(Duration::from_millis(150));
    let mut status = 0;
    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
    assert!(libc::WIFSIGNALED(status), "child was not killed");
    out("kill | client killed with SIGKILL mid-stream");
    assert_untouched(&play, Direction::Playback, &before, "killing a client");
    assert_eq!(
        module_refcnt(),
        refs,
        "a dead client's fd or mapping leaked"
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn ten_thousand_restricted_fds_leak_nothing() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let dev = open_device().expect("/dev/snd/anondup");
    let fds0 = open_fds();
    let refs0 = module_refcnt();
    let filp0 = slab_active("filp");
    let k32_0 = slab_active("kmalloc-32");
    let pcm_fd = play.poll_fd().expect("fd");
    for i in 0..10_000 {
        let mode = if i % 2 == 0 {
            DupMode::Buffer
        } else {
            DupMode::Full
        };
        let fd = device_dup(dev.as_fd(), pcm_fd, mode).expect("dup");
        if i % 100 == 0 {
            let p = try_mmap(
                fd.as_raw_fd(),
                PAGE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                0x8200_0000,
            )
            .expect("status map");
            unmap(p, PAGE);
        }
    }
    let fds1 = open_fds();
    let refs1 = module_refcnt();
    let (filp1, k32_1) = (
        slab_settled("filp", filp0),
        slab_settled("kmalloc-32", k32_0),
    );
    out(&format!(
        "leak | 10000 dups: open fds {fds0} -> {fds1}, module refcnt {refs0} -> {refs1}, \
         filp active {filp0:?} -> {filp1:?}, kmalloc-32 active {k32_0:?} -> {k32_1:?}"
    ));
    assert_eq!(fds0, fds1);
    assert_eq!(refs0, refs1);
    if let (Some(a), Some(b)) = (filp0, filp1) {
        assert!(b - a < 1000, "filp objects grew by {}", b - a);
    }
    if let (Some(a), Some(b)) = (k32_0, k32_1) {
        assert!(b - a < 1000, "kmalloc-32 objects grew by {}", b - a);
    }
    assert_untouched(&play, Direction::Playback, &before, "10000 dups");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn rmmod_is_refused_while_a_restricted_fd_or_mapping_exists() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let refs0 = module_refcnt();
    let buf = buffer_fd(&play);
    assert!(module_refcnt() > refs0);
    let name = CString::new(owner_module()).expect("name");
    // SAFETY: delete_module with a static name; O_NONBLOCK: fail, don't wait.
    let e = errno_of(unsafe {
        libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK)
    });
    assert!(
        e == libc::EAGAIN || e == libc::EBUSY,
        "rmmod with an fd: {}",
        errno_name(e)
    );
    out(&format!(
        "REFUSED rmmod while a restricted fd exists: {}",
        errno_name(e)
    ));
    let p = try_mmap(
        buf.as_raw_fd(),
        PAGE,
        libc::PROT_READ,
        libc::MAP_SHARED,
        0x8200_0000,
    )
    .expect("status map");
    drop(buf);
    assert!(
        module_refcnt() > refs0,
        "a mapping alone must hold the module"
    );
    // SAFETY: as above.
    let e = errno_of(unsafe {
        libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK)
    });
    assert!(
        e == libc::EAGAIN || e == libc::EBUSY,
        "rmmod with a mapping: {}",
        errno_name(e)
    );
    out(&format!(
        "REFUSED rmmod while only a mapping exists: {}",
        errno_name(e)
    ));
    // The status page still reads through the mapping.
    // SAFETY: p is a live read-only page; state is its first i32.
    let state = unsafe { p.cast::<i32>().read_volatile() };
    assert_eq!(state, PcmState::Running as i32);
    unmap(p, PAGE);
    assert_eq!(module_refcnt(), refs0);
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn dup_checks_its_arguments_and_sets_the_documented_flags() {
    let dev = open_device().expect("/dev/snd/anondup");
    let mut v = 0u32;
    assert_eq!(
        raw_ioctl(
            dev.as_raw_fd(),
            ANONDUP_IOCTL_VERSION,
            (&mut v as *mut u32).cast()
        ),
        0
    );
    assert_eq!(v, pcmring::anondup::ABI_VERSION);
    // SAFETY: stat of a static path into a zeroed struct.
    let mode = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::stat(c"/dev/snd/anondup".as_ptr(), &mut st), 0);
        st.st_mode & 0o777
    };
    assert_eq!(mode, 0o666, "device node mode");

    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let pcm = play.poll_fd().expect("fd").as_raw_fd();
    let d = dev.as_fd();
    let (pr, pw) = socketpair();
    let ctl = open_path("/dev/snd/controlC0", libc::O_RDONLY);
    let opath = open_path("/dev/snd/pcmC0D0p", libc::O_PATH);
    let cases: Vec<(&str, AnondupDup, i32)> = vec![
        ("dup of a socket", dup_req(pr.as_raw_fd(), 1), libc::EINVAL),
        (
            "dup of the control device",
            dup_req(ctl.as_raw_fd(), 1),
            libc::EINVAL,
        ),
        (
            "dup of /dev/snd/anondup itself",
            dup_req(dev.as_raw_fd(), 1),
            libc::EINVAL,
        ),
        (
            "dup of an O_PATH fd of a PCM node",
            dup_req(opath.as_raw_fd(), 1),
            libc::EBADF,
        ),
        ("dup of fd -1", dup_req(-1, 1), libc::EBADF),
        ("dup of a closed fd", dup_req(100_000, 1), libc::EBADF),
        ("dup with mode 2", dup_req(pcm, 2), libc::EINVAL),
        (
            "dup with flags 1",
            AnondupDup {
                flags: 1,
                ..dup_req(pcm, 1)
            },
            libc::EINVAL,
        ),
        (
            "dup with reserved[4] != 0",
            AnondupDup {
                reserved: [0, 0, 0, 0, 1],
                ..dup_req(pcm, 1)
            },
            libc::EINVAL,
        ),
    ];
    for (what, req, want) in cases {
        refused(what, dup_errno(d, req), want);
    }
    drop(pw);
    // A PCM in the OPEN state (no hw_params): another dummy substream.
    let fresh = open_path("/dev/snd/pcmC0D0p", libc::O_RDWR | libc::O_NONBLOCK);
    refused(
        "dup of a PCM in the OPEN state",
        dup_errno(d, dup_req(fresh.as_raw_fd(), 1)),
        libc::EBADFD,
    );
    refused(
        "FULL dup of a PCM in the OPEN state",
        dup_errno(d, dup_req(fresh.as_raw_fd(), 0)),
        libc::EBADFD,
    );

    for (mode, name) in [
        (DupMode::Full, "anon_inode:snd-pcm"),
        (DupMode::Buffer, "anon_inode:snd-pcm-buf"),
    ] {
        let fd = play.anonymous_dup(mode).expect("dup");
        let raw = fd.as_raw_fd();
        assert_eq!(fd_target(fd.as_fd()), name);
        // SAFETY: fcntl queries on an owned fd.
        let (fdfl, fl) = unsafe {
            (
                libc::fcntl(raw, libc::F_GETFD),
                libc::fcntl(raw, libc::F_GETFL),
            )
        };
        assert_ne!(fdfl & libc::FD_CLOEXEC, 0, "{name}: O_CLOEXEC");
        assert_ne!(
            fl & libc::O_NONBLOCK,
            0,
            "{name}: O_NONBLOCK from the source"
        );
        assert_eq!(
            fl & libc::O_ACCMODE,
            libc::O_RDWR,
            "{name}: access mode from the source"
        );
        let p = position_ioctl(fd.as_fd()).expect("POSITION");
        assert_eq!(p.state, PcmState::Running as i32);
        out(&format!(
            "dup | {name}: O_CLOEXEC, O_NONBLOCK, O_RDWR, POSITION hw_ptr {}",
            p.hw_ptr
        ));
    }
    // The engine's path from a BUFFER fd: BUFFER again works (the native
    // ioctl is refused, the module decides), FULL is EPERM.
    let buf = play.anonymous_dup(DupMode::Buffer).expect("BUFFER");
    let again = pcmring::anondup::anonymous_dup_fd(buf.as_fd(), DupMode::Buffer, "buf")
        .expect("engine: BUFFER dup of a BUFFER fd");
    assert_eq!(fd_target(again.as_fd()), "anon_inode:snd-pcm-buf");
    let e = pcmring::anondup::anonymous_dup_fd(buf.as_fd(), DupMode::Full, "buf")
        .expect_err("engine: FULL dup of a BUFFER fd");
    refused(
        "engine anonymous_dup_fd(FULL) of a BUFFER fd",
        e.raw_os_error().unwrap_or(-1),
        libc::EPERM,
    );
    // FULL behaves like the source: control page, INFO, SYNC_PTR work.
    let full = play.anonymous_dup(DupMode::Full).expect("FULL");
    let mut arg = vec![0u8; 1024];
    assert_eq!(
        raw_ioctl(full.as_raw_fd(), 0x8120_4101, arg.as_mut_ptr().cast()),
        0,
        "INFO on FULL"
    );
    assert_eq!(
        raw_ioctl(full.as_raw_fd(), 0xc088_4123, arg.as_mut_ptr().cast()),
        0,
        "SYNC_PTR on FULL"
    );
    let p = try_mmap(
        full.as_raw_fd(),
        PAGE,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        0x8300_0000,
    )
    .expect("control page on a FULL fd");
    unmap(p, PAGE);
    out("dup | FULL fd: INFO, SYNC_PTR and the control page work as on the source");
}

// ------------------------------------------------------------ revocation

/// ANONDUP_IOCTL_REVOKE with `src`: Ok(count) or Err(errno).
fn revoke(src: RawFd) -> Result<u32, i32> {
    if native() {
        // SAFETY: the request takes no argument.
        let r = unsafe {
            libc::ioctl(
                src,
                pcmring::anondup::SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE as libc::Ioctl,
                0,
            )
        };
        return if r < 0 {
            Err(errno_of(-1))
        } else {
            Ok(r as u32)
        };
    }
    let dev = open_device().expect("/dev/snd/anondup");
    let mut req = AnondupRevoke {
        fd: src,
        ..AnondupRevoke::default()
    };
    // SAFETY: the request reads one anondup_revoke from `req`.
    let r = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            ANONDUP_IOCTL_REVOKE as libc::Ioctl,
            &mut req,
        )
    };
    if r < 0 {
        Err(errno_of(-1))
    } else {
        Ok(r as u32)
    }
}

fn poll_revents(fd: RawFd) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, no wait.
    unsafe { libc::poll(&mut p, 1, 0) };
    p.revents
}

/// Forks a child that waits for a byte on a pipe, then touches `p`
/// (writes if `write`) and exits 0. Returns (pid, the pipe's write end).
fn toucher(p: *mut u8, write: bool) -> (libc::pid_t, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only runs raw syscalls and memory accesses.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: raw syscalls and an access to a mapping the parent made.
        unsafe {
            libc::close(fds[1]);
            libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
            if write {
                p.write_volatile(0);
            } else {
                let _ = p.read_volatile();
            }
            libc::_exit(0);
        }
    }
    // SAFETY: we own both ends; the child has its own copies.
    unsafe {
        libc::close(fds[0]);
        (pid, OwnedFd::from_raw_fd(fds[1]))
    }
}

/// Lets a toucher go and returns how it ended: Ok(exit code) or Err(signal).
fn release(pid: libc::pid_t, go: OwnedFd) -> Result<i32, i32> {
    // SAFETY: one byte to the child, then reap it.
    unsafe {
        libc::write(go.as_raw_fd(), [1u8].as_ptr().cast(), 1);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        if libc::WIFSIGNALED(status) {
            Err(libc::WTERMSIG(status))
        } else {
            Ok(libc::WEXITSTATUS(status))
        }
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn revoke_unmaps_every_restricted_fd_and_fails_every_later_operation() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let src = play.poll_fd().expect("fd").as_raw_fd();
    let ring = play.layout().ring_bytes();
    let buf = buffer_fd(&play);
    let buf2 = redup(buf.as_fd(), DupMode::Buffer).expect("BUFFER dup of a BUFFER fd");
    let full = redup(play.poll_fd().expect("fd"), DupMode::Full).expect("FULL dup");
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let pr = try_mmap(buf.as_raw_fd(), ring, rw, libc::MAP_SHARED, 0).expect("ring");
    let ps = try_mmap(
        buf2.as_raw_fd(),
        PAGE,
        libc::PROT_READ,
        libc::MAP_SHARED,
        0x8200_0000,
    )
    .expect("status");
    let pc = try_mmap(full.as_raw_fd(), PAGE, rw, libc::MAP_SHARED, 0x8300_0000).expect("control");
    assert_eq!(
        // SAFETY: live mappings: the status page's first i32 is the state.
        unsafe { ps.cast::<i32>().read_volatile() },
        PcmState::Running as i32
    );

    for (what, fd) in [("BUFFER", buf.as_raw_fd()), ("FULL", full.as_raw_fd())] {
        refused(
            &format!("REVOKE through a {what} fd"),
            revoke(fd).err().unwrap_or(0),
            libc::EPERM,
        );
    }
    // Children forked before the revocation share the mappings.
    let touchers = [
        ("ring (write)", toucher(pr, true)),
        ("status (read)", toucher(ps, false)),
        ("control (read)", toucher(pc, false)),
    ];
    assert_eq!(revoke(src), Ok(3), "REVOKE counts the fds it revoked");
    out("revoke | REVOKE of the source fd revoked 3 fds (BUFFER, BUFFER of BUFFER, FULL)");
    for (what, (pid, go)) in touchers {
        assert_eq!(release(pid, go), Err(libc::SIGBUS), "{what} after revoke");
        out(&format!(
            "revoke | {what} mapping in a forked child after REVOKE: SIGBUS"
        ));
    }
    let (pid, go) = toucher(ps, false);
    assert_eq!(
        release(pid, go),
        Err(libc::SIGBUS),
        "status after revoke, fork after"
    );

    let mut arg = [0u8; 1024];
    for (what, fd) in [
        ("BUFFER", &buf),
        ("BUFFER of BUFFER", &buf2),
        ("FULL", &full),
    ] {
        let fd = fd.as_raw_fd();
        for (name, req) in [
            ("HWSYNC", SNDRV_PCM_IOCTL_HWSYNC),
            ("PVERSION", SNDRV_PCM_IOCTL_PVERSION),
            ("POSITION", ANONDUP_IOCTL_POSITION),
            ("INFO", 0x8120_4101),
            ("PREPARE", 0x0000_4140),
        ] {
            refused(
                &format!("{what} revoked: ioctl {name}"),
                raw_ioctl(fd, req, arg.as_mut_ptr().cast()),
                libc::ENODEV,
            );
        }
        for (name, off, len) in [("data", 0u64, ring), ("status", 0x8200_0000, PAGE)] {
            refused(
                &format!("{what} revoked: mmap {name}"),
                try_mmap(fd, len, libc::PROT_READ, libc::MAP_SHARED, off)
                    .err()
                    .unwrap_or(0),
                libc::ENODEV,
            );
        }
        // SAFETY: a write from a live buffer to an owned fd.
        let w = unsafe { libc::write(fd, arg.as_ptr().cast(), 4) };
        refused(
            &format!("{what} revoked: write"),
            errno_of(w as i64),
            libc::ENODEV,
        );
        let ev = poll_revents(fd);
        assert_eq!(
            ev & (libc::POLLERR | libc::POLLHUP),
            libc::POLLERR | libc::POLLHUP,
            "{what}: poll"
        );
        out(&format!("REVOKED {what}: poll reports POLLERR|POLLHUP"));
        // SAFETY: `fd` is the test's own open fd for the whole call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        refused(
            &format!("{what} revoked: BUFFER dup"),
            redup(borrowed, DupMode::Buffer).err().unwrap_or(0),
            libc::ENODEV,
        );
    }
    // SAFETY: fcntl on an owned fd.
    let fl = unsafe { libc::fcntl(full.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    let r = unsafe { libc::fcntl(full.as_raw_fd(), libc::F_SETFL, fl | libc::O_ASYNC) };
    refused("FULL revoked: O_ASYNC", errno_of(r as i64), libc::ENODEV);
    unmap(pr, ring);
    unmap(ps, PAGE);
    unmap(pc, PAGE);
    drop((buf, buf2, full));
    assert_untouched(&play, Direction::Playback, &before, "a revocation");
    // The source makes new, working fds after it revoked the old ones.
    let fresh = buffer_fd(&play);
    let p = position_ioctl(fresh.as_fd()).expect("POSITION on a new fd");
    assert_eq!(p.state, PcmState::Running as i32);
    drop(fresh);
    assert_eq!(revoke(src), Ok(0), "closed fds are not revoked");
    out("revoke | a new BUFFER fd after REVOKE works; REVOKE with none left: 0");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn revoke_racing_mmap_munmap_dup_close_and_fork_is_safe() {
    if native() {
        return;
    }
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let src = play.poll_fd().expect("fd").as_raw_fd();
    let ring = play.layout().ring_bytes();
    let refs0 = module_refcnt();
    let fds0 = open_fds();
    let dev = open_device().expect("/dev/snd/anondup");
    let (mut sigbus, mut clean) = (0, 0);
    for round in 0..60u32 {
        let buf = buffer_fd(&play);
        let (fd, devfd) = (buf.as_raw_fd(), dev.as_raw_fd());
        let mut ready = [0; 2];
        // SAFETY: ready has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0);
        // SAFETY: the child runs raw syscalls and accesses its own mappings.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: raw syscalls only; the loop ends with _exit (or SIGBUS).
            unsafe {
                for i in 0..100_000u32 {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        ring,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        fd,
                        0,
                    );
                    if p == libc::MAP_FAILED {
                        libc::_exit(0);
                    }
                    let s = libc::mmap(
                        std::ptr::null_mut(),
                        PAGE,
                        libc::PROT_READ,
                        libc::MAP_SHARED,
                        fd,
                        0x8200_0000,
                    );
                    p.cast::<u8>().write_volatile(0);
                    if s != libc::MAP_FAILED {
                        let _ = s.cast::<i32>().read_volatile();
                    }
                    let mut req = AnondupDup {
                        fd,
                        mode: 1,
                        ..AnondupDup::default()
                    };
                    let d = libc::ioctl(devfd, ANONDUP_IOCTL_DUP as libc::Ioctl, &mut req);
                    if i % 16 == 0 {
                        let g = libc::fork();
                        if g == 0 {
                            p.cast::<u8>().write_volatile(0);
                            libc::_exit(0);
                        }
                        let mut st = 0;
                        libc::waitpid(g, &mut st, 0);
                    }
                    if d >= 0 {
                        libc::close(d);
                    }
                    if i == 2 {
                        // In the middle of the loop: let the parent revoke.
                        libc::write(ready[1], [1u8].as_ptr().cast(), 1);
                    }
                    libc::munmap(p, ring);
                    if s != libc::MAP_FAILED {
                        libc::munmap(s, PAGE);
                    }
                }
                libc::_exit(0);
            }
        }
        drop(buf);
        let mut b = [0u8; 1];
        // SAFETY: our pipe; the child writes one byte (or exits, EOF).
        unsafe {
            libc::close(ready[1]);
            libc::read(ready[0], b.as_mut_ptr().cast(), 1);
            libc::close(ready[0]);
        }
        std::thread::sleep(Duration::from_micros(u64::from(round % 7) * 300));
        assert!(revoke(src).is_ok(), "REVOKE");
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFSIGNALED(status) {
            assert_eq!(
                libc::WTERMSIG(status),
                libc::SIGBUS,
                "round {round}: child killed by"
            );
            sigbus += 1;
        } else {
            assert_eq!(libc::WEXITSTATUS(status), 0, "round {round}");
            clean += 1;
        }
    }
    drop(dev);
    out(&format!(
        "revoke race | 60 rounds of REVOKE against mmap/munmap/dup/close/fork: \
         {sigbus} clients got SIGBUS, {clean} saw ENODEV first"
    ));
    assert_eq!(open_fds(), fds0, "fds leaked");
    assert_eq!(
        module_refcnt(),
        refs0,
        "restricted files or mappings leaked"
    );
    assert_untouched(&play, Direction::Playback, &before, "revoke races");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn ten_thousand_lease_cycles_leak_nothing() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let src = play.poll_fd().expect("fd");
    let caches = ["filp", "kmalloc-1k", "kmalloc-2k", "kmalloc-4k"];
    let slabs0: Vec<_> = caches.iter().map(|c| slab_active(c)).collect();
    let fds0 = open_fds();
    let refs0 = module_refcnt();
    for i in 0..10_000 {
        let fd = redup(src, DupMode::Buffer).expect("dup");
        let p = (i % 50 == 0).then(|| {
            try_mmap(
                fd.as_raw_fd(),
                PAGE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                0x8200_0000,
            )
            .expect("status map")
        });
        assert_eq!(revoke(src.as_raw_fd()), Ok(1), "cycle {i}");
        if let Some(p) = p {
            unmap(p, PAGE);
        }
    }
    let slabs1: Vec<_> = caches
        .iter()
        .zip(&slabs0)
        .map(|(c, base)| slab_settled(c, *base))
        .collect();
    out(&format!(
        "leak | 10000 lease cycles (dup, map, revoke, close): fds {fds0} -> {}, refcnt {refs0} -> {}, \
         slabs {caches:?} {slabs0:?} -> {slabs1:?}",
        open_fds(),
        module_refcnt()
    ));
    assert_eq!(open_fds(), fds0);
    assert_eq!(module_refcnt(), refs0);
    for ((c, a), b) in caches.iter().zip(&slabs0).zip(&slabs1) {
        if let (Some(a), Some(b)) = (a, b) {
            assert!(b - a < 1000, "{c} grew by {}", b - a);
        }
    }
    assert_untouched(&play, Direction::Playback, &before, "10000 lease cycles");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn a_client_that_keeps_its_fd_after_its_lease_cannot_touch_the_next_ring() {
    use pcmring::broker::source::{LeaseSource, PcmSource};
    let mut source = PcmSource::open(DUMMY, &config(1024, 4)).expect("broker source");
    let ring = source.layout().ring_bytes();
    let old = source.lease_fds().expect("lease 1").remove(0);
    let (ready_r, ready_w) = {
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both are new fds we own.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    };
    // SAFETY: the child runs raw syscalls and writes its own mapping.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: raw syscalls; the loop ends by SIGBUS or after ~10 s.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                ring,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                old.as_raw_fd(),
                0,
            );
            if p == libc::MAP_FAILED {
                libc::_exit(2);
            }
            libc::write(ready_w.as_raw_fd(), [1u8].as_ptr().cast(), 1);
            for _ in 0..1_000_000u32 {
                std::ptr::write_bytes(p.cast::<u8>(), 0x55, ring);
                libc::usleep(10);
            }
            libc::_exit(0);
        }
    }
    drop(ready_w);
    drop(old); // the client keeps its own copy
    let mut b = [0u8; 1];
    assert_eq!(
        // SAFETY: one byte into a live buffer.
        unsafe { libc::read(ready_r.as_raw_fd(), b.as_mut_ptr().cast(), 1) },
        1
    );
    std::thread::sleep(Duration::from_millis(50));
    // What the broker does when a lease ends.
    assert_eq!(source.revoke_leases().expect("revoke"), 1);
    source.silence();
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGBUS,
        "the old client must die on its next store (status {status:#x})"
    );
    out("lease end | the old client, still writing, got SIGBUS at the revocation");
    let next = source.lease_fds().expect("lease 2").remove(0);
    let p = try_mmap(next.as_raw_fd(), ring, libc::PROT_READ, libc::MAP_SHARED, 0).expect("ring");
    let t0 = Instant::now();
    let mut looks = 0;
    while t0.elapsed() < Duration::from_millis(300) {
        // SAFETY: p is a live read-only mapping of `ring` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(p, ring) };
        assert!(
            bytes.iter().all(|&x| x == 0),
            "the next client's ring holds bytes the old client wrote"
        );
        looks += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    unmap(p, ring);
    out(&format!(
        "lease end | the next client's ring stayed silent ({looks} looks)"
    ));
}

// ----------------------------------------------------- source isolation

static SIGIOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_sigio(_: libc::c_int) {
    SIGIOS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Waits up to 3 s for at least two SIGIOs counted from now.
fn sigio_arrives() -> bool {
    let start = SIGIOS.load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        if SIGIOS.load(std::sync::atomic::Ordering::Relaxed) >= start + 2 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn set_async(fd: RawFd, on: bool) -> i32 {
    // SAFETY: fcntl on a live fd.
    unsafe {
        libc::fcntl(fd, libc::F_SETOWN, libc::getpid());
        let fl = libc::fcntl(fd, libc::F_GETFL);
        let fl = if on {
            fl | libc::O_ASYNC
        } else {
            fl & !libc::O_ASYNC
        };
        errno_of(i64::from(libc::fcntl(fd, libc::F_SETFL, fl)))
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn o_async_on_a_full_dup_leaves_the_sources_sigio_alone() {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let src = play.poll_fd().expect("fd").as_raw_fd();
    // SAFETY: installs a handler that only bumps an atomic.
    unsafe {
        libc::signal(
            libc::SIGIO,
            on_sigio as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    assert_eq!(set_async(src, true), 0);
    assert!(sigio_arrives(), "the source's owner gets SIGIO");
    if !native() {
        let full = redup(play.poll_fd().expect("fd"), DupMode::Full).expect("FULL");
        assert_eq!(
            set_async(full.as_raw_fd(), true),
            0,
            "O_ASYNC on a FULL dup"
        );
        assert_eq!(set_async(full.as_raw_fd(), false), 0);
        assert!(
            sigio_arrives(),
            "SIGIO for the source after O_ASYNC off on a FULL dup"
        );
        let full2 = redup(play.poll_fd().expect("fd"), DupMode::Full).expect("FULL");
        assert_eq!(set_async(full2.as_raw_fd(), true), 0);
        drop(full2); // closed with O_ASYNC set
        assert!(
            sigio_arrives(),
            "SIGIO for the source after closing an O_ASYNC FULL dup"
        );
        // The FULL dup's own receivers get SIGIO without the source's.
        assert_eq!(set_async(src, false), 0);
        assert_eq!(set_async(full.as_raw_fd(), true), 0);
        assert!(sigio_arrives(), "SIGIO through the FULL dup alone");
        assert_eq!(set_async(full.as_raw_fd(), false), 0);
        assert_eq!(set_async(src, true), 0);
        out("sigio | O_ASYNC on, off and close of FULL dups: the source's owner still gets SIGIO");
    }
    assert_eq!(set_async(src, false), 0);
    // SAFETY: back to ignoring SIGIO.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    assert_untouched(&play, Direction::Playback, &before, "O_ASYNC on FULL dups");
}

/// Where kernel/vm/run puts the 32-bit probes in the guest: i686, x32.
const PROBE32: &str = "/vm/probe32/anondup-probe32";
const PROBE_X32: &str = "/vm/probe32/anondup-probe32-x32";

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn a_32_bit_client_cannot_change_the_servers_file() {
    if native() {
        return;
    }
    run_probe(PROBE32, "i686");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn an_x32_client_cannot_change_the_servers_file() {
    if native() {
        return;
    }
    // Debian builds x32 in but leaves it off unless booted with
    // syscall.x32=y (VM_APPEND): then exec fails with ENOEXEC.
    let on = std::fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.contains("syscall.x32=y"));
    if !on {
        out("x32 | skipped: the kernel runs x32 only with syscall.x32=y (VM_APPEND)");
        return;
    }
    run_probe(PROBE_X32, "x32");
}

/// Runs a 32-bit probe on a BUFFER and a FULL fd of a running stream and
/// checks the stream and the server's file afterwards.
fn run_probe(probe: &str, abi: &str) {
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let before = snapshot(&play, Direction::Playback);
    let buf = buffer_fd(&play);
    let full = redup(play.poll_fd().expect("fd"), DupMode::Full).expect("FULL");
    for fd in [&buf, &full] {
        // SAFETY: clears FD_CLOEXEC on an fd we own, so the probe inherits it.
        assert_eq!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) }, 0);
    }
    let outp = std::process::Command::new(probe)
        .arg(buf.as_raw_fd().to_string())
        .arg(full.as_raw_fd().to_string())
        .arg(play.layout().ring_bytes().to_string())
        .output()
        .unwrap_or_else(|e| panic!("{probe}: {e} (kernel/vm/run builds it with gcc-multilib)"));
    for line in String::from_utf8_lossy(&outp.stdout).lines() {
        out(&format!("{abi} {line}"));
    }
    assert!(
        outp.status.success(),
        "the {abi} probe failed: {:?}",
        outp.status
    );
    drop((buf, full));
    assert_untouched(
        &play,
        Direction::Playback,
        &before,
        &format!("the {abi} probe"),
    );
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn after_a_card_disconnect_every_restricted_fd_fails_with_enodev() {
    const DRIVER: &str = "/sys/bus/platform/drivers/snd_dummy";
    if native() || !std::path::Path::new(DRIVER).exists() {
        out("disconnect | skipped (native ioctl, or no snd_dummy platform driver)");
        return;
    }
    let play = running(DUMMY, Direction::Playback, &config(1024, 4));
    let src = play.poll_fd().expect("fd").as_raw_fd();
    let buf = buffer_fd(&play);
    let full = redup(play.poll_fd().expect("fd"), DupMode::Full).expect("FULL");
    let ring = play.layout().ring_bytes();
    // Unbinding frees the card: it disconnects at once, then waits until
    // every file of the card is closed.
    let unbind = std::thread::spawn(|| std::fs::write(format!("{DRIVER}/unbind"), "snd_dummy.0"));
    let t0 = Instant::now();
    while raw_ioctl(
        buf.as_raw_fd(),
        SNDRV_PCM_IOCTL_HWSYNC,
        std::ptr::null_mut(),
    ) == 0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the card never disconnected"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let dev = open_device().expect("/dev/snd/anondup");
    let mut arg = [0u8; 1024];
    for (what, fd) in [("BUFFER", buf.as_raw_fd()), ("FULL", full.as_raw_fd())] {
        for (name, req) in [
            ("HWSYNC", SNDRV_PCM_IOCTL_HWSYNC),
            ("PVERSION", SNDRV_PCM_IOCTL_PVERSION),
            ("POSITION", ANONDUP_IOCTL_POSITION),
            ("PREPARE", 0x0000_4140),
        ] {
            refused(
                &format!("disconnected {what}: ioctl {name}"),
                raw_ioctl(fd, req, arg.as_mut_ptr().cast()),
                libc::ENODEV,
            );
        }
        for (name, off, len) in [("data", 0u64, ring), ("status", 0x8200_0000, PAGE)] {
            refused(
                &format!("disconnected {what}: mmap {name}"),
                try_mmap(fd, len, libc::PROT_READ, libc::MAP_SHARED, off)
                    .err()
                    .unwrap_or(0),
                libc::ENODEV,
            );
        }
        // SAFETY: a write from a live buffer to an owned fd.
        let w = unsafe { libc::write(fd, arg.as_ptr().cast(), 4) };
        refused(
            &format!("disconnected {what}: write"),
            errno_of(w as i64),
            libc::ENODEV,
        );
        let ev = poll_revents(fd);
        assert_ne!(ev & libc::POLLERR, 0, "disconnected {what}: poll {ev:#x}");
        refused(
            &format!("disconnected {what}: BUFFER dup"),
            dup_errno(dev.as_fd(), dup_req(fd, 1)),
            libc::ENODEV,
        );
    }
    refused(
        "disconnected source PCM fd: BUFFER dup",
        dup_errno(dev.as_fd(), dup_req(src, 1)),
        libc::ENODEV,
    );
    assert_eq!(revoke(src), Ok(2), "REVOKE still works after a disconnect");
    out("disconnect | REVOKE of a disconnected source revoked its 2 fds");
    drop((buf, full, dev));
    drop(play);
    let r = unbind.join().expect("unbind thread");
    assert!(r.is_ok(), "unbind: {r:?}");
    std::fs::write(format!("{DRIVER}/bind"), "snd_dummy.0").expect("bind snd_dummy.0 again");
    let t0 = Instant::now();
    while !std::path::Path::new("/dev/snd/pcmC0D0p").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "Dummy did not come back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    out("disconnect | Dummy unbound and bound again");
}
