//! Smoke tests of the VM test rig (`kernel/vm/run`): the guest has the two
//! sound cards the suite relies on, in the right order, with their device
//! nodes, and a PCM opens and answers an ioctl.
//!
//! Runs only in the VM (`--ignored`); on the host these tests show as ignored.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;

/// `SNDRV_PCM_IOCTL_PVERSION`: `_IOR('A', 0x00, int)`.
const SNDRV_PCM_IOCTL_PVERSION: libc::c_ulong = 0x8004_4100;

/// One line of `/proc/asound/cards`: index and id.
fn cards() -> Vec<(u32, String)> {
    let text = fs::read_to_string("/proc/asound/cards").expect("read /proc/asound/cards");
    parse_cards(&text)
}

/// Parses the ` N [Id             ]: driver - name` lines.
fn parse_cards(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let (index, rest) = line.trim_start().split_once(' ')?;
            let index = index.parse().ok()?;
            let id = rest.trim_start().strip_prefix('[')?.split_once(']')?.0;
            Some((index, id.trim().to_string()))
        })
        .collect()
}

/// Opens a device node with `open(2)`, the way the engine does.
fn open_node(path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c_path = CString::new(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(c_path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by open(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[test]
fn parse_cards_reads_index_and_id() {
    let text = " 0 [Dummy          ]: Dummy - Dummy\n                      Dummy 1\n \
                1 [Loopback       ]: Loopback - Loopback\n                      Loopback 1\n";
    assert_eq!(
        parse_cards(text),
        vec![(0, "Dummy".to_string()), (1, "Loopback".to_string())]
    );
    assert!(parse_cards("--- no soundcards ---\n").is_empty());
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn dummy_is_card0_and_loopback_card1() {
    let cards = cards();
    assert_eq!(
        cards,
        vec![(0, "Dummy".to_string()), (1, "Loopback".to_string())],
        "/proc/asound/cards"
    );
    // The per-card id file agrees with the cards list.
    let id1 = fs::read_to_string("/proc/asound/card1/id").expect("read card1 id");
    assert_eq!(id1.trim(), "Loopback");
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn pcm_device_nodes_exist() {
    for node in [
        "/dev/snd/pcmC0D0p",
        "/dev/snd/pcmC1D0p",
        "/dev/snd/pcmC1D0c",
        "/dev/snd/pcmC1D1p",
        "/dev/snd/pcmC1D1c",
        "/dev/snd/controlC0",
        "/dev/snd/controlC1",
    ] {
        let meta = fs::metadata(node).unwrap_or_else(|e| panic!("{node}: {e}"));
        assert!(
            meta.file_type().is_char_device(),
            "{node} is not a character device"
        );
    }
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn dummy_playback_opens_and_reports_protocol_version() {
    let fd = open_node("/dev/snd/pcmC0D0p", libc::O_RDWR | libc::O_NONBLOCK)
        .expect("open /dev/snd/pcmC0D0p");
    let mut version: libc::c_int = 0;
    // SAFETY: PVERSION writes one int through the pointer, which points to a
    // live c_int; the fd is open for the whole call.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            SNDRV_PCM_IOCTL_PVERSION,
            &mut version as *mut libc::c_int,
        )
    };
    assert_eq!(rc, 0, "PVERSION: {}", io::Error::last_os_error());
    let (major, minor, sub) = (version >> 16, (version >> 8) & 0xff, version & 0xff);
    assert!(
        version >= 0x0002_0000,
        "PCM protocol {major}.{minor}.{sub} is older than 2.0.0"
    );
    // A second open of the same substream set still works (8 substreams).
    let second = open_node("/dev/snd/pcmC0D0p", libc::O_RDWR | libc::O_NONBLOCK);
    assert!(second.is_ok(), "second open: {:?}", second.err());
}

#[test]
#[ignore = "needs /dev/snd: runs in the VM suite (kernel/vm/run)"]
fn missing_card_is_enoent() {
    let err = open_node("/dev/snd/pcmC7D0p", libc::O_RDWR | libc::O_NONBLOCK)
        .expect_err("card 7 must not exist");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}
