//! Parses the guest's record lines (see `latbench`'s header) into runs.

use std::collections::BTreeMap;

/// One click as both sides saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Click {
    /// Click id within its run.
    pub id: u32,
    /// When the player produced it (CLOCK_MONOTONIC ns).
    pub t_trigger: u64,
    /// First capture reading that showed it, if it was found.
    pub t_capture: Option<u64>,
    /// Lower-envelope capture time, if found.
    pub t_ideal: Option<u64>,
}

impl Click {
    /// `t_capture - t_trigger` in ms.
    pub fn latency_ms(&self) -> Option<f64> {
        self.t_capture
            .map(|c| (c as f64 - self.t_trigger as f64) / 1e6)
    }

    /// `t_ideal - t_trigger` in ms.
    pub fn ideal_ms(&self) -> Option<f64> {
        self.t_ideal
            .map(|c| (c as f64 - self.t_trigger as f64) / 1e6)
    }
}

/// One margin telemetry sample of a pcmring run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarginSample {
    /// Seconds since the engine started.
    pub t_s: f64,
    /// Margin the engine keeps, frames.
    pub margin: f64,
    /// Lead (frames queued) at the latest wake-up.
    pub lead: f64,
    /// Xruns so far.
    pub xruns: u64,
}

/// Everything recorded under one tag (one player run with its capture).
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The tag, e.g. `pcmring-64`, `alsa-probe-512`.
    pub tag: String,
    /// Clicks by id.
    pub clicks: BTreeMap<u32, Click>,
    /// The player's summary (`R`).
    pub player: BTreeMap<String, String>,
    /// The capture's summary (`S`).
    pub capture: BTreeMap<String, String>,
    /// The steady-state syscall and CPU counts (`K`, `latbench count`).
    pub counts: BTreeMap<String, String>,
    /// Margin samples (`M`, pcmring only).
    pub margin: Vec<MarginSample>,
    /// Errors (`E`).
    pub errors: Vec<String>,
    /// Order of first appearance.
    pub order: usize,
}

impl Run {
    /// A player summary field.
    pub fn p(&self, key: &str) -> Option<&str> {
        self.player.get(key).map(String::as_str)
    }

    /// A capture summary field.
    pub fn c(&self, key: &str) -> Option<&str> {
        self.capture.get(key).map(String::as_str)
    }

    /// Whether this was a probe (no clicks, only the pilot).
    pub fn is_probe(&self) -> bool {
        self.tag.contains("-probe-")
    }
}

/// The whole file.
#[derive(Debug, Default)]
pub struct Records {
    /// `I key value` lines.
    pub info: BTreeMap<String, String>,
    /// Runs by tag.
    pub runs: BTreeMap<String, Run>,
    /// `P name smallest_stable=..` lines.
    pub searches: BTreeMap<String, String>,
}

fn kv(fields: &[&str]) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl Records {
    fn run(&mut self, tag: &str) -> &mut Run {
        let n = self.runs.len();
        self.runs.entry(tag.to_owned()).or_insert_with(|| Run {
            tag: tag.to_owned(),
            order: n,
            ..Run::default()
        })
    }

    /// Parses the record text; malformed lines are skipped and counted.
    pub fn parse(text: &str) -> (Records, usize) {
        let mut r = Records::default();
        let mut bad = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let ok = match f.as_slice() {
                ["I", key, rest @ ..] => {
                    r.info.insert((*key).to_owned(), rest.join(" "));
                    true
                }
                ["P", name, rest @ ..] => {
                    let v = kv(rest).remove("smallest_stable").unwrap_or_default();
                    r.searches.insert((*name).to_owned(), v);
                    true
                }
                ["T", tag, id, t] => match (id.parse(), t.parse()) {
                    (Ok(id), Ok(t)) => {
                        let c = r.run(tag).clicks.entry(id).or_insert(Click {
                            id,
                            t_trigger: 0,
                            t_capture: None,
                            t_ideal: None,
                        });
                        c.t_trigger = t;
                        true
                    }
                    _ => false,
                },
                ["C", tag, id, _frame, first, ideal] => {
                    match (id.parse(), first.parse::<u64>(), ideal.parse::<u64>()) {
                        (Ok(id), Ok(first), Ok(ideal)) => {
                            let c = r.run(tag).clicks.entry(id).or_insert(Click {
                                id,
                                t_trigger: 0,
                                t_capture: None,
                                t_ideal: None,
                            });
                            // A click seen twice (should not happen): keep the first.
                            if c.t_capture.is_none() {
                                c.t_capture = Some(first);
                                c.t_ideal = (ideal != 0).then_some(ideal);
                            }
                            true
                        }
                        _ => false,
                    }
                }
                ["S", tag, rest @ ..] => {
                    r.run(tag).capture = kv(rest);
                    true
                }
                ["R", tag, rest @ ..] => {
                    r.run(tag).player = kv(rest);
                    true
                }
                ["K", tag, rest @ ..] => {
                    r.run(tag).counts = kv(rest);
                    true
                }
                ["M", tag, t, margin, lead, _granule, xruns] => {
                    match (
                        t.parse::<f64>(),
                        margin.parse(),
                        lead.parse(),
                        xruns.parse(),
                    ) {
                        (Ok(t), Ok(margin), Ok(lead), Ok(xruns)) => {
                            r.run(tag).margin.push(MarginSample {
                                t_s: t / 1e9,
                                margin,
                                lead,
                                xruns,
                            });
                            true
                        }
                        _ => false,
                    }
                }
                // Pilot gap positions: kept in records.txt for diagnosis.
                ["G", ..] => true,
                ["E", tag, rest @ ..] => {
                    r.run(tag).errors.push(rest.join(" "));
                    true
                }
                [] => true,
                _ => false,
            };
            bad += usize::from(!ok);
        }
        // Clicks the capture found that no player announced are noise.
        for run in r.runs.values_mut() {
            run.clicks.retain(|_, c| c.t_trigger != 0);
        }
        (r, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_players_and_capture() {
        let text = "I kernel 6.1\nT a 1 1000000\nT a 2 5000000\nC a 1 48 3000000 2500000\n\
                    R a sent=2 xruns=0\nS a gaps=1 clicks=1\nM a 10000000 256 300 192 0\nbogus line\n";
        let (r, bad) = Records::parse(text);
        assert_eq!(bad, 1);
        assert_eq!(r.info["kernel"], "6.1");
        let a = &r.runs["a"];
        assert_eq!(a.clicks.len(), 2);
        assert_eq!(a.clicks[&1].latency_ms(), Some(2.0));
        assert_eq!(a.clicks[&1].ideal_ms(), Some(1.5));
        assert_eq!(a.clicks[&2].latency_ms(), None);
        assert_eq!(a.p("xruns"), Some("0"));
        assert_eq!(a.c("gaps"), Some("1"));
        assert_eq!(a.margin.len(), 1);
        assert!((a.margin[0].t_s - 0.01).abs() < 1e-12);
    }
}
