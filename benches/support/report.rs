//! The run's report: `summary.json` (the benchgate schema, [`jsonwire_benchgate::summary`]) and
//! `summary.md`, one table per group.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jsonwire_benchgate::summary::{rfc3339_utc, Group, Row, Summary, SCHEMA_VERSION};
use serde_json::{json, Value};

use crate::measure::{median, ms, percentile, spread_pct, Key, Recorder, Sample};

/// The client `×raw` (`ratio_to_raw`) is taken against: the paced raw-socket reader.
pub const RAW_SOCKET: &str = "raw_socket";

/// The raw-socket reader that reads as soon as anything arrived.
pub const RAW_SOCKET_EAGER: &str = "raw_socket_eager";

/// The readers that set the limit of a case: `×limit` (`ratio_to_limit`) is relative to the
/// fastest of them on that case.
pub const LIMIT_READERS: [&str; 2] = [RAW_SOCKET, RAW_SOCKET_EAGER];

/// A group's heading in `summary.md`.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    /// The area, the first part of its row ids (`throughput`).
    pub name: &'static str,
    /// The heading.
    pub title: &'static str,
    /// What the group measures and which invariant it shows.
    pub about: &'static str,
}

/// One row's figures, from its measured iterations.
#[derive(Debug, Clone)]
struct Figures {
    key: Key,
    samples: usize,
    rows: u64,
    bytes: u64,
    elapsed_ms: f64,
    spread_pct: Option<f64>,
    ttfr_ms: Option<f64>,
    ttfr_p95_ms: Option<f64>,
    peak_heap: Option<u64>,
    cpu_ms: f64,
    round_trips: Option<u64>,
    wire_bytes: Option<u64>,
    buffer_high_water: Option<u64>,
    read_size: Option<f64>,
    latency_ms: Option<[f64; 3]>,
    error_rate: Option<f64>,
    errors: Option<u64>,
    bytes_after_drop: Option<u64>,
    context_switches: Option<u64>,
}

fn figures(key: Key, samples: &[Sample]) -> Figures {
    let f = |get: &dyn Fn(&Sample) -> f64| samples.iter().map(get).collect::<Vec<f64>>();
    let elapsed = f(&|s| ms(s.elapsed));
    let ttfr: Vec<f64> = samples.iter().filter_map(|s| s.ttfr.map(ms)).collect();
    let latencies: Vec<f64> = samples
        .iter()
        .flat_map(|s| s.latencies.iter().copied().map(ms))
        .collect();
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    let med_u64 = |get: &dyn Fn(&Sample) -> Option<u64>| {
        let v: Vec<f64> = samples
            .iter()
            .filter_map(|s| get(s).map(|x| x as f64))
            .collect();
        median(&v).map(|m| m.round() as u64)
    };
    Figures {
        samples: samples.len(),
        rows: samples.iter().map(|s| s.rows).max().unwrap_or(0),
        bytes: samples.iter().map(|s| s.bytes).max().unwrap_or(0),
        elapsed_ms: median(&elapsed).unwrap_or(0.0),
        spread_pct: spread_pct(&elapsed),
        ttfr_ms: median(&ttfr),
        ttfr_p95_ms: percentile(&ttfr, 95.0),
        peak_heap: samples.iter().map(|s| s.peak_heap).max(),
        cpu_ms: median(&f(&|s| ms(s.cpu))).unwrap_or(0.0),
        round_trips: med_u64(&|s| s.round_trips),
        wire_bytes: med_u64(&|s| s.wire_bytes),
        buffer_high_water: samples.iter().filter_map(|s| s.buffer_high_water).max(),
        read_size: {
            let sizes: Vec<f64> = samples
                .iter()
                .filter_map(|s| Some(s.wire_bytes? as f64 / s.reads.filter(|&r| r > 0)? as f64))
                .collect();
            median(&sizes)
        },
        latency_ms: (!latencies.is_empty())
            .then(|| [50.0, 95.0, 99.0].map(|p| percentile(&latencies, p).unwrap_or(0.0))),
        error_rate: (!latencies.is_empty() || errors > 0)
            .then(|| errors as f64 / (latencies.len() as u64 + errors).max(1) as f64),
        errors: (!latencies.is_empty() || errors > 0).then_some(errors),
        bytes_after_drop: med_u64(&|s| s.bytes_after_drop),
        context_switches: med_u64(&|s| s.context_switches),
        key,
    }
}

/// The suffix of a row whose stream was polled in a task spawned on the runtime rather than in
/// `block_on` (`jsonwire_raw_spawned`).
pub const SPAWNED: &str = "_spawned";

/// The tokio-postgres row a client is compared with: the same consumption mode (`_raw`,
/// `_value`, `_typed` in the client's name; raw for the limit readers and COPY), driven the
/// same way (a `_spawned` row with a `_spawned` row).
fn tokio_peer(client: &str) -> Option<String> {
    if let Some(base) = client.strip_suffix(SPAWNED) {
        return tokio_peer(base).map(|peer| format!("{peer}{SPAWNED}"));
    }
    if client.starts_with("tokio_postgres") {
        return Some(client.to_owned());
    }
    if LIMIT_READERS.contains(&client) || client.starts_with("copy_") {
        return Some("tokio_postgres_raw".to_owned());
    }
    let mode = ["_raw", "_value", "_typed"]
        .into_iter()
        .find(|m| client.contains(m))
        .unwrap_or("");
    Some(format!("tokio_postgres{mode}"))
}

/// The report of a finished run.
#[derive(Debug)]
pub struct Report {
    /// The benchgate summary.
    pub summary: Summary,
    /// `summary.json`: the summary plus extra per-row fields (readers ignore unknown fields).
    pub json: Value,
    /// `summary.md`.
    pub markdown: String,
}

/// Builds the report from everything recorded.
pub fn build(
    recorder: &Recorder,
    areas: &[Area],
    postgres_version: &str,
    command: &str,
    setup: &[String],
    duration_s: f64,
) -> Report {
    let all: Vec<Figures> = recorder
        .measured()
        .into_iter()
        .map(|(k, s)| figures(k, &s))
        .collect();
    let by_key: BTreeMap<(String, String, String), &Figures> = all
        .iter()
        .map(|f| {
            (
                (f.key.area.clone(), f.key.case.clone(), f.key.client.clone()),
                f,
            )
        })
        .collect();
    let ratio = |f: &Figures, other: Option<String>| -> Option<f64> {
        let other = other?;
        let o = by_key.get(&(f.key.area.clone(), f.key.case.clone(), other))?;
        (o.elapsed_ms > 0.0).then(|| f.elapsed_ms / o.elapsed_ms)
    };
    // The fastest limit reader of a case: `×limit` is relative to it.
    let limit = |f: &Figures| -> Option<&Figures> {
        LIMIT_READERS
            .iter()
            .filter_map(|r| {
                by_key
                    .get(&(f.key.area.clone(), f.key.case.clone(), (*r).to_owned()))
                    .copied()
            })
            .filter(|o| o.elapsed_ms > 0.0)
            .min_by(|a, b| a.elapsed_ms.total_cmp(&b.elapsed_ms))
    };

    let machine = format!(
        "{} {}, {} cpus",
        std::env::consts::ARCH,
        std::env::consts::OS,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut summary = Summary {
        schema: SCHEMA_VERSION,
        generated_at: rfc3339_utc(SystemTime::now()),
        postgres_version: postgres_version.to_owned(),
        machine: machine.clone(),
        groups: Vec::new(),
    };
    let mut extras: Vec<Vec<Value>> = Vec::new();
    let mut md = String::new();
    let _ = writeln!(md, "# jsonwire integration benchmarks\n");
    let _ = writeln!(
        md,
        "- generated: {}\n- server: {postgres_version}\n- machine: {machine}\n- command: `{command}`\n- run time: {:.0} s (server start, load and check included)",
        summary.generated_at, duration_s
    );
    for line in setup {
        let _ = writeln!(md, "- {line}");
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "Times are medians over the measured iterations (criterion's first call, a warm-up, \
         left out). ×limit: elapsed time relative to the fastest raw-socket reader (paced or \
         eager) on the same case: the server + socket limit; 1.10 = 10% slower (summary.json: \
         `ratio_to_limit`, and `ratio_to_raw` against the paced reader). ×tokio: relative to tokio-postgres in the \
         same mode (raw/value/typed). ±%: half the range of the iterations around the median. \
         Peak heap: the most heap the process held above its level before the client connected \
         (connection buffers included). CPU: client process CPU (user + system, all threads) \
         per iteration. RT: round trips (jsonwire's own count).\n"
    );

    let notes = recorder.notes();
    let mut seen: Vec<&str> = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    let mut order: Vec<&str> = areas.iter().map(|a| a.name).collect();
    for f in &all {
        if !order.contains(&f.key.area.as_str()) {
            order.push(&f.key.area);
        }
    }
    for name in order {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let rows: Vec<&Figures> = all.iter().filter(|f| f.key.area == name).collect();
        let area_notes: Vec<&str> = notes
            .iter()
            .filter(|(a, _)| a == name)
            .map(|(_, t)| t.as_str())
            .collect();
        if rows.is_empty() && area_notes.is_empty() {
            continue;
        }
        shown.push(name);
        let area = areas.iter().find(|a| a.name == name);
        let _ = writeln!(md, "## {}\n", area.map_or(name, |a| a.title));
        if let Some(a) = area {
            let _ = writeln!(md, "{}\n", a.about);
        }
        let mut group = Group {
            name: name.to_owned(),
            rows: Vec::new(),
        };
        let mut group_extras = Vec::new();
        let concurrency = rows.iter().any(|f| f.latency_ms.is_some());
        if !rows.is_empty() {
            let _ = writeln!(
                md,
                "| case | client | rows | MB | rows/s | MB/s | ×limit | ×tokio | TTFR ms p50 (p95) | elapsed ms | ±% | peak heap | CPU ms | RT | wire MB |{}\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|{}",
                if concurrency { " latency ms p50/p95/p99 | errors |" } else { "" },
                if concurrency { "--:|--:|" } else { "" },
            );
        }
        for f in rows {
            let secs = f.elapsed_ms / 1000.0;
            let per_sec = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
            let row = Row {
                id: f.key.id(),
                client: f.key.client.clone(),
                case: f.key.case.clone(),
                rows: f.rows,
                bytes: f.bytes,
                rows_per_sec: per_sec(f.rows),
                mb_per_sec: per_sec(f.bytes) / 1e6,
                ttfr_ms: f.ttfr_ms,
                elapsed_ms: f.elapsed_ms,
                spread_pct: f.spread_pct,
                ratio_to_raw: ratio(f, Some(RAW_SOCKET.to_owned())),
                ratio_to_tokio: ratio(f, tokio_peer(&f.key.client)),
                peak_heap_bytes: f.peak_heap,
                cpu_ms: Some(f.cpu_ms),
                round_trips: f.round_trips,
            };
            let limit_row = limit(f);
            let ratio_to_limit = limit_row.map(|o| f.elapsed_ms / o.elapsed_ms);
            let opt = |v: Option<f64>, p: usize| v.map_or("–".to_owned(), |v| format!("{v:.p$}"));
            let ratio = |v: Option<f64>| match v {
                Some(v) if v < 0.095 => format!("{v:.4}"),
                other => opt(other, 2),
            };
            let _ = write!(
                md,
                "| {} | {} | {} | {:.1} | {} | {:.1} | {} | {} | {} | {:.2} | {} | {} | {:.1} | {} | {} |",
                row.case,
                row.client,
                row.rows,
                row.bytes as f64 / 1e6,
                human(row.rows_per_sec),
                row.mb_per_sec,
                ratio(ratio_to_limit),
                ratio(row.ratio_to_tokio),
                match (f.ttfr_ms, f.ttfr_p95_ms) {
                    (Some(a), Some(b)) => format!("{a:.2} ({b:.2})"),
                    _ => "–".to_owned(),
                },
                row.elapsed_ms,
                opt(row.spread_pct, 1),
                f.peak_heap.map_or("–".to_owned(), bytes_h),
                f.cpu_ms,
                f.round_trips.map_or("–".to_owned(), |r| r.to_string()),
                opt(f.wire_bytes.map(|b| b as f64 / 1e6), 1),
            );
            if concurrency {
                let _ = write!(
                    md,
                    " {} | {} |",
                    f.latency_ms.map_or("–".to_owned(), |[a, b, c]| format!(
                        "{a:.1} / {b:.1} / {c:.1}"
                    )),
                    match (f.errors, f.error_rate) {
                        (Some(n), Some(e)) => format!("{n} ({:.2}%)", e * 100.0),
                        _ => "–".to_owned(),
                    },
                );
            }
            md.push('\n');
            group_extras.push(json!({
                "samples": f.samples,
                "ratio_to_limit": ratio_to_limit,
                "limit_client": limit_row.map(|o| o.key.client.clone()),
                "ttfr_p95_ms": f.ttfr_p95_ms,
                "wire_bytes": f.wire_bytes,
                "buffer_high_water": f.buffer_high_water,
                "avg_read_bytes": f.read_size,
                "latency_p50_ms": f.latency_ms.map(|l| l[0]),
                "latency_p95_ms": f.latency_ms.map(|l| l[1]),
                "latency_p99_ms": f.latency_ms.map(|l| l[2]),
                "error_rate": f.error_rate,
                "errors": f.errors,
                "bytes_after_drop": f.bytes_after_drop,
                "context_switches": f.context_switches,
                "build": recorder.build_of(&f.key),
            }));
            group.rows.push(row);
        }
        md.push('\n');
        for note in area_notes {
            let _ = writeln!(md, "- {note}");
        }
        md.push('\n');
        if !group.rows.is_empty() {
            summary.groups.push(group);
            extras.push(group_extras);
        }
    }

    let mut json = serde_json::to_value(&summary).unwrap_or(Value::Null);
    if let Some(top) = json.as_object_mut() {
        // Extra top-level fields for the page (the gate ignores them): how the run was made,
        // and each group's heading and notes.
        top.insert(
            "run".to_owned(),
            json!({
                "command": command,
                "setup": setup,
                "duration_s": duration_s,
                "commit": commit(),
                "reference": RAW_SOCKET,
            }),
        );
        top.insert(
            "areas".to_owned(),
            Value::Array(
                shown
                    .iter()
                    .map(|&name| {
                        let area = areas.iter().find(|a| a.name == name);
                        json!({
                            "name": name,
                            "title": area.map_or(name, |a| a.title),
                            "about": area.map(|a| a.about),
                            "notes": notes
                                .iter()
                                .filter(|(a, _)| a == name)
                                .map(|(_, t)| t.as_str())
                                .collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        );
    }
    if let Some(groups) = json.get_mut("groups").and_then(Value::as_array_mut) {
        for (g, ex) in groups.iter_mut().zip(&extras) {
            if let Some(rows) = g.get_mut("rows").and_then(Value::as_array_mut) {
                for (r, e) in rows.iter_mut().zip(ex) {
                    if let (Some(r), Some(e)) = (r.as_object_mut(), e.as_object()) {
                        for (k, v) in e {
                            r.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
    }
    Report {
        summary,
        json,
        markdown: md,
    }
}

impl Report {
    /// Writes `summary.json` and `summary.md` into `dir` and reads the JSON back with the gate's
    /// reader, so a file the gate cannot read is never left behind silently.
    ///
    /// # Errors
    /// The directory or a file cannot be written, or the gate rejects the JSON.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json_path = dir.join("summary.json");
        let md_path = dir.join("summary.md");
        let text = serde_json::to_string_pretty(&self.json).map_err(|e| e.to_string())?;
        std::fs::write(&json_path, text + "\n")
            .map_err(|e| format!("{}: {e}", json_path.display()))?;
        std::fs::write(&md_path, &self.markdown)
            .map_err(|e| format!("{}: {e}", md_path.display()))?;
        jsonwire_benchgate::load(&json_path).map_err(|e| e.to_string())?;
        Ok((json_path, md_path))
    }
}

/// The commit measured: `GITHUB_SHA` in a workflow, else `git rev-parse HEAD` of the workspace
/// (with `-dirty` when the work tree has changes); `None` when neither answers.
fn commit() -> Option<String> {
    if let Some(sha) = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()) {
        return Some(sha);
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"]).filter(|h| !h.is_empty())?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// Draws the charts and `report.html` of the run whose `summary.json` is `json` into `dir`
/// (with the trend over the summaries in `JSONWIRE_BENCH_HISTORY`, a file or directory, when
/// set), and appends links to them to `summary.md` there.
///
/// # Errors
/// The summary cannot be read back, a history file is not a summary, or a file cannot be
/// written.
pub fn write_charts(dir: &Path, json: &Path) -> Result<jsonwire_benchreport::Written, String> {
    use jsonwire_benchreport::{history, write_report, Run, DEFAULT_NIGHTS};
    let run = Run::from_path(json).map_err(|e| e.to_string())?;
    let past: Vec<PathBuf> = std::env::var_os("JSONWIRE_BENCH_HISTORY")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let past = history::load(&past).map_err(|e| format!("JSONWIRE_BENCH_HISTORY: {e}"))?;
    let written = write_report(&run, &past, DEFAULT_NIGHTS, dir)?;
    let md_path = dir.join("summary.md");
    let mut md =
        std::fs::read_to_string(&md_path).map_err(|e| format!("{}: {e}", md_path.display()))?;
    md.push_str(&written.markdown());
    std::fs::write(&md_path, md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    Ok(written)
}

/// `1.23M`, `45.6k`, `789`.
pub fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

/// `1.5 MiB`, `256 KiB`, `900 B`.
pub fn bytes_h(b: u64) -> String {
    let v = b as f64;
    if v >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", v / (1u64 << 20) as f64)
    } else if v >= 1024.0 {
        format!("{:.0} KiB", v / 1024.0)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_compared_with_tokio_postgres_in_its_mode_driven_the_same_way() {
        let peer = |c: &str| tokio_peer(c).unwrap();
        assert_eq!(peer("jsonwire_raw"), "tokio_postgres_raw");
        assert_eq!(peer("jsonwire_typed"), "tokio_postgres_typed");
        assert_eq!(peer("raw_socket_eager"), "tokio_postgres_raw");
        assert_eq!(peer("jsonwire_raw_spawned"), "tokio_postgres_raw_spawned");
        assert_eq!(
            peer("tokio_postgres_raw_spawned"),
            "tokio_postgres_raw_spawned"
        );
    }
}
