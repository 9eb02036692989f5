//! `report.html`: one self-contained page (inline SVG and CSS, no script, nothing fetched) with
//! the run's metadata, its charts, the trend over the nights given, and every table.

use std::fmt::Write as _;

use crate::data::{RowData, Run};
use crate::figures::{fmt_bytes, fmt_ms, Figure, Outcome};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:21px;margin:32px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:17px;margin:20px 0 6px}
div.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;background:#fff;margin:6px 0 12px}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
td:first-child,td:nth-child(2),th{text-align:left}
table.meta td{text-align:left;white-space:normal}
figure.chart{background:#fff;border:1px solid #ddd;margin:14px 0;padding:8px 10px}
figure.chart svg{max-width:100%;height:auto;display:block}
figcaption{font-size:14px;color:#444;margin-bottom:6px}figcaption b{color:#222;font-size:15px}
p.omitted{color:#8a5a00;background:#fff8e6;border:1px solid #f0dca0;padding:6px 10px}
nav a{margin-right:12px}code{font-size:13px}.note{color:#444;font-size:14px}
";

/// The page for `run`, with `charts` (its figures) and `trend` (over `nights`, oldest first).
pub fn render(run: &Run, charts: &[Figure], trend: &[Figure], nights: &[&Run]) -> String {
    let mut h = String::new();
    let title = format!("jsonwire integration benchmarks, {}", run.generated_at);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\n<h1>jsonwire integration \
         benchmarks</h1>\n",
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<nav><a href=\"#run\">the run</a><a href=\"#charts\">charts</a>\
         <a href=\"#trend\">trend</a><a href=\"#tables\">tables</a></nav>"
    );
    meta(&mut h, run);

    let _ = writeln!(h, "<h2 id=\"charts\">Charts</h2>");
    figures(&mut h, charts);

    let _ = writeln!(h, "<h2 id=\"trend\">Trend</h2>");
    if nights.len() <= 1 {
        let _ = writeln!(
            h,
            "<p class=\"note\">One run only: the trend needs the summaries of earlier nights \
             (<code>jsonwire-benchreport --history DIR</code>; the nightly workflow keeps them).</p>"
        );
    } else {
        let _ = writeln!(
            h,
            "<p class=\"note\">The last {} nights, {} to {} (one summary.json per night).</p>",
            nights.len(),
            esc(nights.first().map_or("", |r| r.night())),
            esc(nights.last().map_or("", |r| r.night()))
        );
    }
    figures(&mut h, trend);

    let _ = writeln!(h, "<h2 id=\"tables\">Tables</h2>");
    tables(&mut h, run);
    h.push_str("</main></body></html>\n");
    h
}

fn meta(h: &mut String, run: &Run) {
    let _ = writeln!(h, "<table class=\"meta\" id=\"run\">");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(h, "<tr><td><b>{}</b></td><td>{}</td></tr>", esc(k), esc(v));
    };
    row("generated", &run.generated_at);
    if let Some(c) = &run.run.commit {
        row("commit", c);
    }
    row("server", &run.postgres_version);
    row("machine", &run.machine);
    if let Some(c) = &run.run.command {
        row("command", c);
    }
    for line in &run.run.setup {
        match line.split_once(": ") {
            Some((k, v)) => row(k, v),
            None => row("", line),
        }
    }
    if let Some(d) = run.run.duration_s {
        row(
            "run time",
            &format!("{d:.0} s (server start, load and check included)"),
        );
    }
    if let Some(r) = run.reference() {
        row("reference reader", r);
    }
    row("source", &run.path.display().to_string());
    h.push_str("</table>\n");
}

fn figures(h: &mut String, figs: &[Figure]) {
    for f in figs {
        match &f.outcome {
            Outcome::Drawn(svg) => {
                let _ = write!(
                    h,
                    "<figure class=\"chart\" id=\"chart-{id}\" data-chart=\"{id}\">\
                     <figcaption><b>{}</b><br>{}</figcaption>\n{svg}</figure>\n",
                    esc(&f.title),
                    esc(&f.about),
                    id = esc(&f.id),
                );
            }
            Outcome::Omitted(why) => {
                let _ = writeln!(
                    h,
                    "<p class=\"omitted\" id=\"omitted-{}\"><b>{}</b>: not drawn: {}.</p>",
                    esc(&f.id),
                    esc(&f.title),
                    esc(why)
                );
            }
        }
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

fn tables(h: &mut String, run: &Run) {
    // Elapsed time relative to the limit (`ratio_to_limit`, the fastest reference reader of the
    // case) where the run records it, else to its reference reader.
    let limits = run
        .groups
        .iter()
        .flat_map(|g| &g.rows)
        .any(|r| r.number("ratio_to_limit").is_some());
    let reference = if limits {
        "limit".to_owned()
    } else {
        run.reference().unwrap_or("raw_socket").to_owned()
    };
    let _ = writeln!(
        h,
        "<p class=\"note\">Medians over the measured iterations. ×{r}: elapsed time relative to \
         {what} on the same case (1.10 = 10% slower; the charts show the inverse, speed). ×tokio: \
         relative to tokio-postgres in the same mode. ±%: half the range of the iterations \
         around the median. Peak heap: the most heap held above the level before the client \
         connected. CPU: client process CPU per iteration. RT: round trips.</p>",
        r = esc(&reference),
        what = if limits {
            "the fastest reference reader".to_owned()
        } else {
            esc(&reference)
        },
    );
    for g in &run.groups {
        let area = run.area(&g.name);
        let title = area
            .and_then(|a| a.title.clone())
            .unwrap_or_else(|| g.name.clone());
        let _ = writeln!(h, "<h3 id=\"table-{}\">{}</h3>", esc(&g.name), esc(&title));
        if let Some(about) = area.and_then(|a| a.about.as_deref()) {
            let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(about));
        }
        let latency = g.rows.iter().any(|r| r.latency_p50_ms.is_some());
        let _ = writeln!(
            h,
            "<div class=\"scroll\"><table><tr><th>case</th><th>client</th><th>rows</th><th>MB</th><th>rows/s</th>\
             <th>MB/s</th><th>×{}</th><th>×tokio</th><th>TTFR p50 (p95)</th><th>elapsed</th>\
             <th>±%</th><th>peak heap</th><th>CPU</th><th>RT</th><th>wire MB</th>{}</tr>",
            esc(&reference),
            if latency {
                "<th>latency p50 / p95 / p99</th><th>errors</th>"
            } else {
                ""
            }
        );
        for r in &g.rows {
            table_row(h, run, &g.name, r, latency);
        }
        h.push_str("</table></div>\n");
        if let Some(a) = area.filter(|a| !a.notes.is_empty()) {
            h.push_str("<ul class=\"note\">");
            for n in &a.notes {
                let _ = write!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul>\n");
        }
    }
    if !run.instruction_counts.is_empty() {
        h.push_str(
            "<h3 id=\"table-instructions\">Instruction counts (Callgrind)</h3>\n<p class=\"note\">\
             The instruction-count tier measured with this run: exact counts of the client's CPU \
             path on wire bytes, no server (BENCHMARKING.md, \"The instruction-count gate\").</p>\n\
             <div class=\"scroll\"><table><tr><th>benchmark</th><th>instructions</th></tr>",
        );
        for (name, n) in &run.instruction_counts {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(name));
        }
        h.push_str("</table></div>\n");
    }
    // Notes of groups without rows (every case skipped).
    for a in run
        .areas
        .iter()
        .filter(|a| run.group(&a.name).is_none() && !a.notes.is_empty())
    {
        let _ = write!(
            h,
            "<h3>{}</h3><ul class=\"note\">",
            esc(a.title.as_deref().unwrap_or(&a.name))
        );
        for n in &a.notes {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
}

fn table_row(h: &mut String, run: &Run, group: &str, r: &RowData, latency: bool) {
    let ratio = r.number("ratio_to_limit").or_else(|| {
        run.reference()
            .and_then(|rf| run.group(group)?.row(&r.case, rf))
            .filter(|rf| rf.elapsed_ms > 0.0)
            .map(|rf| r.elapsed_ms / rf.elapsed_ms)
            .or_else(|| r.number("ratio_to_raw"))
    });
    let two = |v: f64| format!("{v:.2}");
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.0}</td><td>{:.1}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td>",
        esc(&r.case),
        esc(&r.client),
        r.rows,
        r.bytes as f64 / 1e6,
        r.rows_per_sec,
        r.mb_per_sec,
        opt(ratio, two),
        opt(r.number("ratio_to_tokio"), two),
        match (r.ttfr_ms, r.ttfr_p95_ms) {
            (Some(a), Some(b)) => format!("{} ({})", fmt_ms(a), fmt_ms(b)),
            (Some(a), None) => fmt_ms(a),
            _ => "–".to_owned(),
        },
        fmt_ms(r.elapsed_ms),
        opt(r.spread_pct, |v| format!("{v:.1}")),
        opt(r.number("peak_heap_bytes"), fmt_bytes),
        opt(r.cpu_ms, fmt_ms),
        r.round_trips.map_or("–".to_owned(), |v| v.to_string()),
        opt(r.wire_bytes.map(|b| b as f64 / 1e6), |v| format!("{v:.1}")),
    );
    if latency {
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td>",
            match (r.latency_p50_ms, r.latency_p95_ms, r.latency_p99_ms) {
                (Some(a), Some(b), Some(c)) => format!("{a:.1} / {b:.1} / {c:.1} ms"),
                _ => "–".to_owned(),
            },
            // Runs before the error count was recorded have the rate only.
            match (r.number("errors"), r.error_rate) {
                (Some(n), Some(e)) => format!("{n} ({:.2}%)", e * 100.0),
                (None, Some(e)) => format!("{:.2}%", e * 100.0),
                _ => "–".to_owned(),
            },
        );
    }
    h.push_str("</tr>\n");
}
