//! Which processes have a card's PCM devices open, from `/proc/*/fd`
//! (what `fuser /dev/snd/pcmC0D0p` reports). Needs no D-Bus: it names
//! the holder of a busy card even when that holder does not speak the
//! reservation protocol (an `aplay`, a game using ALSA directly).

use std::fmt;
use std::fs;
use std::path::Path;

/// A process that has one of the card's PCM device nodes open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessHolder {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), empty if it could not be read.
    pub command: String,
    /// The device node it holds, e.g. `/dev/snd/pcmC0D0p`.
    pub node: String,
}

impl fmt::Display for ProcessHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = if self.command.is_empty() {
            "?"
        } else {
            &self.command
        };
        write!(f, "{command} (pid {}, {})", self.pid, self.node)
    }
}

/// What a scan of `/proc` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderScan {
    /// The processes that hold one of the card's PCM nodes.
    pub holders: Vec<ProcessHolder>,
    /// Processes whose open files we may not read (another user's):
    /// a holder may hide among them.
    pub unreadable: usize,
}

/// The processes with a PCM node of `card` open (`/dev/snd/pcmC<card>D*`);
/// `device` narrows it to one PCM device. This process is left out.
pub fn pcm_holders(card: u32, device: Option<u32>) -> HolderScan {
    scan(Path::new("/proc"), card, device, std::process::id())
}

fn scan(proc_root: &Path, card: u32, device: Option<u32>, me: u32) -> HolderScan {
    let mut out = HolderScan::default();
    let Ok(entries) = fs::read_dir(proc_root) else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            out.unreadable += 1;
            continue;
        };
        let mut node = None;
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(t) = target.to_str().filter(|t| is_pcm_node_of(t, card, device)) {
                node = Some(t.to_owned());
                break;
            }
        }
        if let Some(node) = node {
            let command = fs::read_to_string(entry.path().join("comm"))
                .map(|s| s.trim_end().to_owned())
                .unwrap_or_default();
            out.holders.push(ProcessHolder { pid, command, node });
        }
    }
    out.holders.sort_by_key(|h| h.pid);
    out
}

/// Whether `path` is `/dev/snd/pcmC<card>D<dev>[pc]` (with `dev` =
/// `device` when given).
fn is_pcm_node_of(path: &str, card: u32, device: Option<u32>) -> bool {
    let Some(rest) = path.strip_prefix("/dev/snd/pcmC") else {
        return false;
    };
    let Some((c, rest)) = rest.split_once('D') else {
        return false;
    };
    let Some(d) = rest.strip_suffix('p').or_else(|| rest.strip_suffix('c')) else {
        return false;
    };
    c.parse::<u32>() == Ok(card)
        && d.parse::<u32>()
            .is_ok_and(|d| device.is_none_or(|want| want == d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_pcm_nodes() {
        assert!(is_pcm_node_of("/dev/snd/pcmC0D0p", 0, None));
        assert!(is_pcm_node_of("/dev/snd/pcmC0D3c", 0, None));
        assert!(is_pcm_node_of("/dev/snd/pcmC12D1p", 12, Some(1)));
        assert!(!is_pcm_node_of("/dev/snd/pcmC1D0p", 0, None));
        assert!(!is_pcm_node_of("/dev/snd/pcmC0D1p", 0, Some(0)));
        assert!(!is_pcm_node_of("/dev/snd/controlC0", 0, None));
        assert!(!is_pcm_node_of("/dev/snd/pcmC0D0x", 0, None));
        assert!(!is_pcm_node_of("/dev/snd/pcmC0D0p (deleted)", 0, None));
    }

    #[test]
    fn finds_a_process_holding_a_node() {
        // A fake /proc: pid 42 holds card 0's playback node, pid 43 holds
        // card 1's, pid 44 nothing.
        let root = std::env::temp_dir().join(format!("pcmring-holders-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (pid, target) in [
            (42, "/dev/snd/pcmC0D0p"),
            (43, "/dev/snd/pcmC1D0p"),
            (44, "/dev/null"),
        ] {
            let fd = root.join(pid.to_string()).join("fd");
            fs::create_dir_all(&fd).unwrap();
            std::os::unix::fs::symlink(target, fd.join("7")).unwrap();
            fs::write(
                root.join(pid.to_string()).join("comm"),
                format!("proc{pid}\n"),
            )
            .unwrap();
        }
        let scan0 = scan(&root, 0, None, 1);
        assert_eq!(
            scan0.holders,
            vec![ProcessHolder {
                pid: 42,
                command: "proc42".into(),
                node: "/dev/snd/pcmC0D0p".into()
            }]
        );
        assert_eq!(scan(&root, 0, None, 42).holders, vec![]);
        assert_eq!(scan(&root, 1, Some(0), 1).holders[0].pid, 43);
        assert_eq!(scan(&root, 1, Some(1), 1).holders, vec![]);
        fs::remove_dir_all(&root).unwrap();
    }
}
