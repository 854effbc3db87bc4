//! A live status line: redrawn in place with `\r` on a terminal, printed
//! as plain lines at a slower pace when stdout is a pipe or a file (CI
//! logs stay readable).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Prints a status line that updates in place on a terminal.
#[derive(Debug)]
pub struct StatusLine {
    tty: bool,
    plain_every: Duration,
    last_shown: Option<Instant>,
    drawn: bool,
}

impl StatusLine {
    /// A status line on stdout; when stdout is not a terminal, at most one
    /// plain line every `plain_every`.
    pub fn new(plain_every: Duration) -> StatusLine {
        StatusLine {
            tty: std::io::stdout().is_terminal(),
            plain_every,
            last_shown: None,
            drawn: false,
        }
    }

    /// Whether stdout is a terminal (in-place redraws).
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Shows `text`: redraws the line on a terminal (at most every
    /// 100 ms); otherwise prints it if the last plain line is older than
    /// the plain interval. Call it as often as you like.
    pub fn update(&mut self, text: &str) {
        let now = Instant::now();
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            self.plain_every
        };
        let due = match self.last_shown {
            None => true,
            Some(t) => now.duration_since(t) >= every,
        };
        if !due {
            return;
        }
        self.last_shown = Some(now);
        let mut out = std::io::stdout().lock();
        if self.tty {
            let _ = write!(out, "\r{text}\x1b[K");
            let _ = out.flush();
            self.drawn = true;
        } else {
            let _ = writeln!(out, "{text}");
        }
    }

    /// Prints a message line without breaking the status line.
    pub fn note(&mut self, text: &str) {
        self.end_line();
        println!("{text}");
    }

    /// Ends the in-place line (prints the newline it is missing).
    pub fn end_line(&mut self) {
        if self.tty && self.drawn {
            println!();
            self.drawn = false;
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.end_line();
    }
}

/// A text progress bar `[#####.....]` of `width` cells for `frac` in 0..=1.
pub fn progress_bar(frac: f64, width: usize) -> String {
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = (frac * width as f64).round() as usize;
    let mut s = String::with_capacity(width + 2);
    s.push('[');
    s.push_str(&"#".repeat(full));
    s.push_str(&".".repeat(width - full));
    s.push(']');
    s
}

/// `m:ss.s` for a duration in seconds (negative and NaN show as 0).
pub fn clock_time(secs: f64) -> String {
    let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    let tenths = (secs * 10.0).floor() as u64;
    format!("{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}

/// Milliseconds of `frames` at `rate`.
pub fn frames_ms(frames: f64, rate: u32) -> f64 {
    if rate == 0 {
        0.0
    } else {
        frames * 1000.0 / f64::from(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_and_time() {
        assert_eq!(progress_bar(0.5, 10), "[#####.....]");
        assert_eq!(progress_bar(2.0, 4), "[####]");
        assert_eq!(progress_bar(f64::NAN, 3), "[...]");
        assert_eq!(clock_time(83.47), "1:23.4");
        assert_eq!(clock_time(-1.0), "0:00.0");
        assert_eq!(frames_ms(480.0, 48_000), 10.0);
    }
}
