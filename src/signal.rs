//! Ctrl-C handling for the examples: SIGINT and SIGTERM set a flag the
//! main loop polls, so the examples stop the engine and the simulated
//! device cleanly (and write their WAV recording). A second signal exits at
//! once, for a program that does not stop. [`run_main`] is the shared end
//! of the examples' `main`: handler, run, exit code.

use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The exit code after Ctrl-C (or SIGTERM): the shell's 128 + SIGINT.
pub const INTERRUPTED_EXIT: u8 = 130;

extern "C" fn on_signal(_sig: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe; the user asked twice.
        unsafe { libc::_exit(INTERRUPTED_EXIT.into()) };
    }
}

/// Routes SIGINT and SIGTERM to the flag read by [`interrupted`].
pub fn install() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; we then set a handler that only touches an atomic and
        // calls _exit, both async-signal-safe.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// How an example's run ended, for [`run_main`] to turn into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ran to its end: exit code 0.
    Finished,
    /// Ctrl-C (or SIGTERM) stopped it: exit code [`INTERRUPTED_EXIT`].
    Interrupted,
    /// It ran, but its own check failed (it said why): exit code 1.
    CheckFailed,
}

impl Ending {
    /// [`Ending::Interrupted`] if `interrupted`, else [`Ending::Finished`].
    pub fn from_interrupted(interrupted: bool) -> Ending {
        if interrupted {
            Ending::Interrupted
        } else {
            Ending::Finished
        }
    }
}

/// The rest of an example's `main` once its command line is parsed:
/// installs the Ctrl-C handler (a failure is reported, not fatal), calls
/// `run`, and maps its result to the exit code; an error is printed as
/// `<name>: <error>` and exits with 1.
pub fn run_main(name: &str, run: impl FnOnce() -> Result<Ending, String>) -> ExitCode {
    if let Err(e) = install() {
        eprintln!("{name}: cannot install the Ctrl-C handler: {e}");
    }
    match run() {
        Ok(Ending::Finished) => ExitCode::SUCCESS,
        Ok(Ending::Interrupted) => ExitCode::from(INTERRUPTED_EXIT),
        Ok(Ending::CheckFailed) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
