//! SVG plots: a latency histogram per system (one panel per run), the
//! pcmring margin and lead over time, and an overview of every run.

use crate::records::Run;
use crate::summary::Row;
use plotters::prelude::*;
use std::path::Path;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

const FONT: &str = "sans-serif";

/// Histogram of the latencies of each run in `rows` (all one system).
pub fn histograms(path: &Path, system: &str, rows: &[&Row]) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let height = 230 * rows.len() as u32 + 50;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            &format!("{system}: click latency, trigger to capture (snd-aloop, TCG guest)"),
            (FONT, 20),
        )
        .map_err(err)?;
    let lo = rows
        .iter()
        .filter_map(|r| r.latencies.first().copied())
        .fold(0.0, f64::min);
    let hi = rows.iter().filter_map(|r| r.max()).fold(1.0, f64::max) * 1.05;
    let bin = ((hi - lo) / 80.0).max(0.1);
    let bins = ((hi - lo) / bin).ceil() as usize + 1;
    for (area, r) in root.split_evenly((rows.len(), 1)).iter().zip(rows) {
        let mut counts = vec![0u32; bins];
        for &l in &r.latencies {
            let i = ((l - lo) / bin).floor().max(0.0) as usize;
            counts[i.min(bins - 1)] += 1;
        }
        let ymax = counts.iter().copied().max().unwrap_or(0).max(1) + 1;
        let caption = format!(
            "{}: p50 {:.2}  p99 {:.2}  max {:.2} ms  ({} of {} clicks)",
            r.setting,
            r.p50().unwrap_or(f64::NAN),
            r.p99().unwrap_or(f64::NAN),
            r.max().unwrap_or(f64::NAN),
            r.latencies.len(),
            r.sent
        );
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FONT, 14))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d(lo..hi, 0u32..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("clicks")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c > 0)
                    .map(|(i, &c)| {
                        let x0 = lo + i as f64 * bin;
                        Rectangle::new([(x0, 0), (x0 + bin, c)], BLUE.mix(0.6).filled())
                    }),
            )
            .map_err(err)?;
        for (v, color, label) in [(r.p50(), GREEN, "p50"), (r.p99(), RED, "p99")] {
            if let Some(v) = v {
                chart
                    .draw_series(LineSeries::new([(v, 0), (v, ymax)], color.stroke_width(2)))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Margin and lead over time of each pcmring run, in ms.
pub fn margins(path: &Path, runs: &[(&Run, String)], rate: f64) -> Result<(), String> {
    if runs.is_empty() {
        return Ok(());
    }
    let height = 210 * runs.len() as u32 + 50;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            "pcmring: margin kept and lead at each wake-up, over time (engine telemetry, every 10 ms)",
            (FONT, 18),
        )
        .map_err(err)?;
    let ms = |frames: f64| frames * 1000.0 / rate;
    for (area, (run, title)) in root.split_evenly((runs.len(), 1)).iter().zip(runs) {
        let tmax = run.margin.last().map_or(1.0, |m| m.t_s).max(0.1);
        let ymax = run
            .margin
            .iter()
            .map(|m| ms(m.margin.max(m.lead)))
            .fold(1.0, f64::max)
            * 1.1;
        let ymin = run.margin.iter().map(|m| ms(m.lead)).fold(0.0, f64::min);
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..tmax, ymin..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc("ms")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                run.margin.iter().map(|m| (m.t_s, ms(m.lead))),
                BLUE,
            ))
            .map_err(err)?
            .label("lead (queued at wake-up)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
        chart
            .draw_series(LineSeries::new(
                run.margin.iter().map(|m| (m.t_s, ms(m.margin))),
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label("margin")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// One bar per run: p50 (bar) and p99/max (marks), all systems.
pub fn overview(path: &Path, rows: &[Row]) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let height = 26 * rows.len() as u32 + 110;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let hi = rows.iter().filter_map(Row::max).fold(1.0, f64::max) * 1.05;
    let n = rows.len() as f64;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} | {}", r.system, r.setting))
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "click latency per run: bar = p50, red tick = p99, x = max (ms; TCG guest, snd-aloop)",
            (FONT, 18),
        )
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(380)
        .build_cartesian_2d(0.0..hi, -0.6..n - 0.4)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_labels(rows.len() * 4 + 1)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            labels.get(i as usize).cloned().unwrap_or_default()
        })
        .x_desc("latency (ms)")
        .draw()
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64;
        let color = match r.system.as_str() {
            "pcmring" => BLUE,
            "alsa-lib" => GREEN,
            "cpal" => MAGENTA,
            _ => BLACK,
        };
        if let Some(p50) = r.p50() {
            chart
                .draw_series([Rectangle::new(
                    [(0.0, y - 0.3), (p50, y + 0.3)],
                    color.mix(0.7).filled(),
                )])
                .map_err(err)?;
        }
        if let Some(p99) = r.p99() {
            chart
                .draw_series([PathElement::new(
                    [(p99, y - 0.4), (p99, y + 0.4)],
                    RED.stroke_width(3),
                )])
                .map_err(err)?;
        }
        if let Some(max) = r.max() {
            chart
                .draw_series([Cross::new((max, y), 5, BLACK.stroke_width(2))])
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}
