//! Shared by the reservation tests (host and VM): a private session bus
//! (`dbus-daemon` with a minimal config written here) and a holder
//! process that owns `org.freedesktop.ReserveDevice1.Audio0` the way
//! PipeWire does: it gives the card to a requester with a higher priority
//! than its own (closing the device first), refuses the others, and takes
//! the card back as soon as the name is free again.
//!
//! The holder is this same test binary run again with
//! `PCMRING_TEST_HOLDER` set (each test binary calls
//! [`holder_main_if_asked`] from a test named `holder_process`); it
//! reports on stdout with lines starting `HOLDER `.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

/// A private `dbus-daemon`, killed on drop.
pub struct Bus {
    child: Child,
    dir: PathBuf,
    /// Its address, for `BusAddress::Address`.
    pub address: String,
}

impl Bus {
    /// Starts one (panics if `dbus-daemon` is missing).
    pub fn start(tag: &str) -> Bus {
        let dir = std::env::temp_dir().join(format!("pcmring-bus-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("bus");
        let config = dir.join("session.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(dbus_daemon())
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            // Quiet: it complains about fd limits it may not raise.
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package `dbus`) must be installed: .ci/run installs it");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        Bus {
            child,
            dir,
            address,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dbus_daemon() -> PathBuf {
    for p in ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("dbus-daemon")
}

/// The holder process, killed on drop.
pub struct Holder {
    child: Child,
    lines: Receiver<String>,
    /// Its pid.
    pub pid: u32,
}

/// What the holder is told.
pub struct HolderSpec<'a> {
    /// The bus address.
    pub bus: &'a str,
    /// Its priority: it gives the card only to higher ones.
    pub priority: i32,
    /// A PCM node to hold open (every substream of it) while it holds
    /// the name, e.g. `/dev/snd/pcmC0D0p`; `None` on the host.
    pub node: Option<&'a str>,
    /// Never answer `RequestRelease` (a hung sound server).
    pub hang: bool,
}

impl Holder {
    /// Starts the holder and waits until it owns the name.
    pub fn start(spec: &HolderSpec<'_>) -> Holder {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args([
            "holder_process",
            "--exact",
            "--nocapture",
            "--include-ignored",
        ])
        .env("PCMRING_TEST_HOLDER", spec.bus)
        .env("PCMRING_TEST_HOLDER_PRIORITY", spec.priority.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if let Some(n) = spec.node {
            cmd.env("PCMRING_TEST_HOLDER_NODE", n);
        }
        if spec.hang {
            cmd.env("PCMRING_TEST_HOLDER_HANG", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let lines = forward_lines(child.stdout.take().unwrap());
        let h = Holder { child, lines, pid };
        h.expect("ready");
        h
    }

    /// Waits (generously: the host is busy) for the holder line starting
    /// with `what`, skipping others; panics with what it saw otherwise.
    pub fn expect(&self, what: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.starts_with(what) => return l,
                Ok(l) => seen.push(l),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("holder never said {what:?}; it said {seen:?}")
                }
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("HOLDER ") {
                if tx.send(rest.to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// The unix pid owning `name` on the bus at `address`, if anyone does.
pub fn owner_pid(address: &str, name: &str) -> Option<u32> {
    let conn = zbus::blocking::connection::Builder::address(address)
        .ok()?
        .build()
        .ok()?;
    let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).ok()?;
    let name = zbus::names::BusName::try_from(name).ok()?;
    dbus.get_connection_unix_process_id(name).ok()
}

/// Calls `RequestRelease(priority)` on the holder of card 0, as another
/// program would.
pub fn request_release(address: &str, priority: i32) -> zbus::Result<bool> {
    let conn = zbus::blocking::connection::Builder::address(address)?.build()?;
    let proxy = zbus::blocking::Proxy::new(
        &conn,
        "org.freedesktop.ReserveDevice1.Audio0",
        "/org/freedesktop/ReserveDevice1/Audio0",
        "org.freedesktop.ReserveDevice1",
    )?;
    proxy.call("RequestRelease", &(priority,))
}

// ---- the holder process ----

struct HolderObject {
    priority: i32,
    hang: bool,
    node: Option<String>,
    fds: std::sync::Mutex<Vec<std::fs::File>>,
}

impl HolderObject {
    /// Opens every free substream of the node (so the next open is
    /// EBUSY), as a sound server holding the device does.
    fn open_node(&self) {
        let Some(node) = &self.node else { return };
        let mut fds = self.fds.lock().unwrap();
        use std::os::unix::fs::OpenOptionsExt;
        while let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(node)
        {
            fds.push(f);
            if fds.len() > 64 {
                break;
            }
        }
        println!("HOLDER opened {} substreams of {node}", fds.len());
    }

    fn close_node(&self) {
        self.fds.lock().unwrap().clear();
    }
}

#[zbus::interface(name = "org.freedesktop.ReserveDevice1")]
impl HolderObject {
    fn request_release(&self, priority: i32) -> bool {
        if self.hang {
            println!("HOLDER hangs on {priority}");
            std::thread::sleep(Duration::from_secs(3600));
        }
        if priority > self.priority {
            // Close first, then answer true (the protocol's order).
            self.close_node();
            println!("HOLDER released to {priority}");
            true
        } else {
            println!("HOLDER refused {priority}");
            false
        }
    }

    #[zbus(property)]
    fn priority(&self) -> i32 {
        self.priority
    }

    #[zbus(property)]
    fn application_name(&self) -> String {
        "Test Sound Server".to_owned()
    }

    #[zbus(property)]
    fn application_device_name(&self) -> String {
        "test:0".to_owned()
    }
}

/// The holder's main, when this test binary was started as the holder.
pub fn holder_main_if_asked() {
    let Ok(address) = std::env::var("PCMRING_TEST_HOLDER") else {
        return;
    };
    let priority: i32 = std::env::var("PCMRING_TEST_HOLDER_PRIORITY")
        .unwrap()
        .parse()
        .unwrap();
    let node = std::env::var("PCMRING_TEST_HOLDER_NODE").ok();
    let name = "org.freedesktop.ReserveDevice1.Audio0";
    let object = HolderObject {
        priority,
        hang: std::env::var_os("PCMRING_TEST_HOLDER_HANG").is_some(),
        node,
        fds: std::sync::Mutex::new(Vec::new()),
    };
    object.open_node();
    let conn = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .serve_at("/org/freedesktop/ReserveDevice1/Audio0", object)
        .unwrap()
        .build()
        .unwrap();
    use zbus::fdo::{RequestNameFlags, RequestNameReply};
    let flags = RequestNameFlags::DoNotQueue | RequestNameFlags::AllowReplacement;
    let reply = conn.request_name_with_flags(name, flags).unwrap();
    assert_eq!(reply, RequestNameReply::PrimaryOwner);
    println!("HOLDER ready");
    let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).unwrap();
    let bus_name = zbus::names::BusName::try_from(name).unwrap();
    let me = conn.unique_name().unwrap().to_string();
    let mut had_it = true;
    loop {
        // A sound server watches NameOwnerChanged; polling is enough here.
        std::thread::sleep(Duration::from_millis(20));
        let owner = dbus
            .get_name_owner(bus_name.clone())
            .ok()
            .map(|o| o.to_string());
        match owner {
            Some(o) if o == me => had_it = true,
            Some(_) => {
                if had_it {
                    println!("HOLDER lost the name");
                    had_it = false;
                }
            }
            None => {
                let object = conn
                    .object_server()
                    .interface::<_, HolderObject>("/org/freedesktop/ReserveDevice1/Audio0")
                    .unwrap();
                object.get().open_node();
                drop(object);
                if conn.request_name_with_flags(name, flags).unwrap()
                    == RequestNameReply::PrimaryOwner
                {
                    println!("HOLDER reacquired");
                    had_it = true;
                }
            }
        }
    }
}
