//! Per-run statistics and the names shown in the table.

use crate::records::Run;

/// Nearest-rank percentile of sorted `v` (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One row of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The run's tag.
    pub tag: String,
    /// System name (floor, pcmring, alsa-lib, cpal).
    pub system: String,
    /// Human description of the setting.
    pub setting: String,
    /// Latencies (first capture reading), ms, sorted.
    pub latencies: Vec<f64>,
    /// Latencies against the capture clock's lower envelope, ms, sorted.
    pub ideal: Vec<f64>,
    /// Clicks sent.
    pub sent: usize,
    /// Xruns the player itself counted (`None`: it cannot tell).
    pub xruns: Option<u64>,
    /// Pilot discontinuities the capture saw.
    pub gaps: Option<u64>,
    /// The player's CPU time as a share of the run (capture length), %.
    pub cpu_percent: Option<f64>,
    /// System calls per second on the player's CPUs in the steady-state
    /// window (`latbench count`).
    pub syscalls_per_s: Option<f64>,
    /// The player's CPU use in the steady-state window, %.
    pub steady_cpu_percent: Option<f64>,
}

impl Row {
    /// p50/p99/max of the latencies.
    pub fn p50(&self) -> Option<f64> {
        percentile(&self.latencies, 50.0)
    }
    /// 99th percentile.
    pub fn p99(&self) -> Option<f64> {
        percentile(&self.latencies, 99.0)
    }
    /// Maximum.
    pub fn max(&self) -> Option<f64> {
        self.latencies.last().copied()
    }
    /// p50 against the ideal clock.
    pub fn ideal_p50(&self) -> Option<f64> {
        percentile(&self.ideal, 50.0)
    }
}

/// (system, setting) for a tag and its player summary.
pub fn describe(run: &Run) -> (String, String) {
    let t = run.tag.as_str();
    let get = |k: &str| run.p(k).unwrap_or("?").to_owned();
    if t == "floor" {
        return (
            "floor".into(),
            format!("1 frame stored at hw_ptr+{} (mmap)", get("offset")),
        );
    }
    if let Some(rest) = t.strip_prefix("pcmring-") {
        let margin = match rest.split_once("-m-") {
            Some((_, m)) => format!("margin {m} fixed"),
            None => {
                let (start, end) = (get("margin_start"), get("margin"));
                if start == end || start == "?" {
                    format!("margin auto {end}")
                } else {
                    format!("margin auto {start}->{end}")
                }
            }
        };
        // Records from before the wake interval was reported lack it.
        let every = match run.p("wake_interval") {
            Some(i) if i != get("block") => format!(" every {i}"),
            _ => String::new(),
        };
        return (
            "pcmring".into(),
            format!(
                "block {}, {margin}, {} wake{every}",
                get("block"),
                get("wake").to_lowercase()
            ),
        );
    }
    if t.starts_with("alsa-") {
        return (
            "alsa-lib".into(),
            format!(
                "writei, buffer {} / period {}",
                get("buffer"),
                get("period")
            ),
        );
    }
    if t.starts_with("cpal-") {
        return (
            "cpal".into(),
            format!(
                "Fixed({}): period {} / buffer {}",
                get("period"),
                get("period"),
                get("buffer")
            ),
        );
    }
    ("?".into(), t.to_owned())
}

/// Player CPU time over the capture's length (which spans the player's
/// run plus about half a second), in percent.
pub fn cpu_percent(run: &Run) -> Option<f64> {
    let cpu_ms: f64 = run.p("cpu_ms")?.parse().ok()?;
    let frames: f64 = run.c("frames")?.parse().ok()?;
    (frames > 0.0).then(|| cpu_ms / (frames / 48.0) * 100.0)
}

/// Builds the row of a measured run.
pub fn row(run: &Run) -> Row {
    let (system, setting) = describe(run);
    let mut latencies: Vec<f64> = run.clicks.values().filter_map(|c| c.latency_ms()).collect();
    let mut ideal: Vec<f64> = run.clicks.values().filter_map(|c| c.ideal_ms()).collect();
    latencies.sort_by(f64::total_cmp);
    ideal.sort_by(f64::total_cmp);
    Row {
        tag: run.tag.clone(),
        system,
        setting,
        latencies,
        ideal,
        sent: run.clicks.len(),
        xruns: run.p("xruns").and_then(|x| x.parse().ok()),
        gaps: run.c("gaps").and_then(|x| x.parse().ok()),
        cpu_percent: cpu_percent(run),
        syscalls_per_s: run
            .counts
            .get("syscalls_per_s")
            .and_then(|v| v.parse().ok()),
        steady_cpu_percent: run.counts.get("cpu_percent").and_then(|v| v.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v[..1], 99.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
