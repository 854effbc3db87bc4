//! `latency-report RECORDS OUT_DIR`: joins the guest's records (players'
//! triggers, the capture's clicks), prints the results table and writes
//! `results.csv` (one line per click), `summary.json`, `summary.md` and
//! SVG plots into OUT_DIR. Run by `kernel/vm/bench-latency`.

mod plots;
mod records;
mod summary;

use records::{Records, Run};
use std::fmt::Write as _;
use std::path::Path;
use summary::Row;

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "null".to_owned(), |v| format!("{v:.4}"))
}

/// The markdown results table.
fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| system | setting | p50 ms | p99 ms | max ms | p50 ideal ms | xruns (player) | output gaps (capture) | clicks found/sent | player CPU | CPU steady | syscalls/s |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} |",
            r.system,
            r.setting,
            ms(r.p50()),
            ms(r.p99()),
            ms(r.max()),
            ms(r.ideal_p50()),
            opt(r.xruns),
            opt(r.gaps),
            r.latencies.len(),
            r.sent,
            r.cpu_percent
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.0}%")),
            r.steady_cpu_percent
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%")),
            r.syscalls_per_s
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.0}"))
        );
    }
    t
}

/// The probes of the buffer-size searches, one line per system.
fn probes(rec: &Records) -> String {
    let mut by: Vec<&Run> = rec.runs.values().filter(|r| r.is_probe()).collect();
    by.sort_by_key(|r| r.order);
    let mut t = String::new();
    for r in by {
        let stable = r.p("xruns").is_none_or(|x| x == "0" || x == "n/a")
            && r.c("gaps") == Some("0")
            && r.c("pilot_frames").is_some_and(|p| p != "0");
        let extra = r
            .errors
            .first()
            .map(|e| format!(" error: {e}"))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "- {}: xruns {} , output gaps {} -> {}{extra}",
            r.tag,
            r.p("xruns").unwrap_or("?"),
            r.c("gaps").unwrap_or("?"),
            if stable { "stable" } else { "NOT stable" }
        );
    }
    for (name, v) in &rec.searches {
        let _ = writeln!(t, "- {name}: smallest stable = {v}");
    }
    t
}

fn run(records: &Path, out: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(records).map_err(|e| format!("{}: {e}", records.display()))?;
    let (rec, bad) = Records::parse(&text);
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let mut measured: Vec<&Run> = rec
        .runs
        .values()
        .filter(|r| !r.is_probe() && !r.clicks.is_empty())
        .collect();
    measured.sort_by_key(|r| r.order);
    let rows: Vec<Row> = measured.iter().map(|r| summary::row(r)).collect();

    let info = |k: &str| {
        rec.info
            .get(k)
            .map_or("?", String::as_str)
            .replace('_', " ")
    };
    let head = format!(
        "Run {} on {} ({} host CPUs, load average {} before, {} after); guest: Debian kernel {} ({}), HZ={}, {} vCPUs, qemu TCG, clocksource {}, CPU pinning {}; {} clicks per run; guest time {} s.",
        info("date"),
        info("host_cpu"),
        info("host_cpus"),
        info("host_load_before"),
        info("host_load_after"),
        info("kernel"),
        info("kernel_pkg"),
        info("hz"),
        info("cpus"),
        info("clocksource"),
        info("pinning"),
        info("clicks"),
        info("guest_seconds"),
    );
    let tbl = table(&rows);
    let prb = probes(&rec);
    println!("\n{head}\n\n{tbl}\nBuffer-size searches (probes, large to small):\n{prb}");
    let mut errors = String::new();
    for r in rec.runs.values() {
        for e in &r.errors {
            let _ = writeln!(errors, "- {}: {e}", r.tag);
        }
    }
    if !errors.is_empty() {
        println!("Errors:\n{errors}");
    }
    if bad > 0 {
        println!("({bad} malformed record lines skipped)");
    }

    // results.csv: one line per click.
    let mut csv = String::from(
        "tag,system,setting,id,t_trigger_ns,t_capture_ns,t_ideal_ns,latency_ms,ideal_latency_ms\n",
    );
    for (run, row) in measured.iter().zip(&rows) {
        for c in run.clicks.values() {
            let _ = writeln!(
                csv,
                "{},{},\"{}\",{},{},{},{},{},{}",
                run.tag,
                row.system,
                row.setting,
                c.id,
                c.t_trigger,
                c.t_capture.map_or(String::new(), |v| v.to_string()),
                c.t_ideal.map_or(String::new(), |v| v.to_string()),
                c.latency_ms().map_or(String::new(), |v| format!("{v:.4}")),
                c.ideal_ms().map_or(String::new(), |v| format!("{v:.4}")),
            );
        }
    }
    std::fs::write(out.join("results.csv"), csv).map_err(|e| e.to_string())?;

    // summary.json
    let mut js = String::from("{\n  \"info\": {");
    let items: Vec<String> = rec
        .info
        .iter()
        .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
        .collect();
    js.push_str(&items.join(", "));
    js.push_str("},\n  \"runs\": [\n");
    let runs: Vec<String> = rows
        .iter()
        .zip(&measured)
        .map(|(r, run)| {
            let player: Vec<String> = run
                .player
                .iter()
                .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
                .collect();
            format!(
                "    {{\"tag\": {}, \"system\": {}, \"setting\": {}, \"p50_ms\": {}, \"p99_ms\": {}, \"max_ms\": {}, \"ideal_p50_ms\": {}, \"xruns\": {}, \"output_gaps\": {}, \"found\": {}, \"sent\": {}, \"cpu_percent\": {}, \"steady_cpu_percent\": {}, \"syscalls_per_s\": {}, \"player\": {{{}}}}}",
                json_str(&r.tag),
                json_str(&r.system),
                json_str(&r.setting),
                json_num(r.p50()),
                json_num(r.p99()),
                json_num(r.max()),
                json_num(r.ideal_p50()),
                r.xruns.map_or("null".to_owned(), |x| x.to_string()),
                r.gaps.map_or("null".to_owned(), |x| x.to_string()),
                r.latencies.len(),
                r.sent,
                json_num(r.cpu_percent),
                json_num(r.steady_cpu_percent),
                json_num(r.syscalls_per_s),
                player.join(", ")
            )
        })
        .collect();
    js.push_str(&runs.join(",\n"));
    js.push_str("\n  ],\n  \"searches\": {");
    let s: Vec<String> = rec
        .searches
        .iter()
        .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
        .collect();
    js.push_str(&s.join(", "));
    js.push_str("}\n}\n");
    std::fs::write(out.join("summary.json"), js).map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("summary.md"),
        format!("{head}\n\n{tbl}\nBuffer-size searches (probes, large to small):\n\n{prb}"),
    )
    .map_err(|e| e.to_string())?;

    // Plots.
    let mut written = Vec::new();
    for system in ["floor", "pcmring", "alsa-lib", "cpal"] {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.system == system).collect();
        if rs.is_empty() {
            continue;
        }
        let p = out.join(format!("hist-{system}.svg"));
        plots::histograms(&p, system, &rs)?;
        written.push(p);
    }
    let pcm_runs: Vec<(&Run, String)> = measured
        .iter()
        .zip(&rows)
        .filter(|(run, r)| r.system == "pcmring" && !run.margin.is_empty())
        .map(|(run, r)| (*run, format!("{} (xruns {})", r.setting, opt(r.xruns))))
        .collect();
    if !pcm_runs.is_empty() {
        let p = out.join("margin-pcmring.svg");
        plots::margins(&p, &pcm_runs, 48_000.0)?;
        written.push(p);
    }
    let p = out.join("latency-overview.svg");
    plots::overview(&p, &rows)?;
    written.push(p);
    println!(
        "wrote {}/results.csv, summary.json, summary.md",
        out.display()
    );
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [records, out] = args.as_slice() else {
        eprintln!("usage: latency-report RECORDS OUT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = run(Path::new(records), Path::new(out)) {
        eprintln!("latency-report: {e}");
        std::process::exit(1);
    }
}
