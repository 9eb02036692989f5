//! Reading `summary.json` for drawing: every figure the integration tier writes, the extra
//! fields included, read leniently (a field a run did not record is `None`), so summaries
//! from older and newer runs can be drawn side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jsonwire_benchgate::summary::SCHEMA_VERSION;
use serde::Deserialize;
use serde_json::Value;

/// One integration-tier run, as read from its `summary.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    /// The file it was read from.
    #[serde(skip)]
    pub path: PathBuf,
    /// The schema version (only [`SCHEMA_VERSION`] is read).
    pub schema: u32,
    /// When the run finished, RFC 3339 in UTC.
    pub generated_at: String,
    /// The server's `SELECT version()`.
    pub postgres_version: String,
    /// The machine the client ran on.
    pub machine: String,
    /// How the run was made, when the run recorded it.
    #[serde(default)]
    pub run: RunInfo,
    /// Each group's heading and notes, when the run recorded them.
    #[serde(default)]
    pub areas: Vec<AreaInfo>,
    /// The groups, in the order they ran.
    pub groups: Vec<GroupData>,
    /// The instruction counts of the Callgrind tier measured with this run (benchmark name to
    /// instructions), when the report step was given them (`--instructions`).
    #[serde(default)]
    pub instruction_counts: BTreeMap<String, u64>,
}

/// How a run was made.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunInfo {
    /// The command line.
    pub command: Option<String>,
    /// The run's setup lines (mode, server and its settings, groups selected).
    #[serde(default)]
    pub setup: Vec<String>,
    /// The whole run's time, server start and load included, in seconds.
    pub duration_s: Option<f64>,
    /// The commit measured.
    pub commit: Option<String>,
    /// The client every ratio is taken against (the reference reader).
    pub reference: Option<String>,
}

/// A group's heading, description and notes.
#[derive(Debug, Clone, Deserialize)]
pub struct AreaInfo {
    /// The group's name (`throughput`).
    pub name: String,
    /// Its heading.
    pub title: Option<String>,
    /// What it measures.
    pub about: Option<String>,
    /// Verdicts and skipped cases.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A group of rows.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupData {
    /// The group's name.
    pub name: String,
    /// One row per client and case.
    pub rows: Vec<RowData>,
}

/// One client on one case: the gate's fields and the extra ones.
#[derive(Debug, Clone, Deserialize)]
pub struct RowData {
    /// `group/case/client`.
    pub id: String,
    /// The client and mode.
    pub client: String,
    /// The workload.
    pub case: String,
    /// Rows per iteration.
    pub rows: u64,
    /// JSON text bytes per iteration.
    pub bytes: u64,
    /// Rows per second of median elapsed time.
    pub rows_per_sec: f64,
    /// Megabytes of JSON per second.
    pub mb_per_sec: f64,
    /// Median time to the first row, ms.
    pub ttfr_ms: Option<f64>,
    /// Median elapsed time, ms.
    pub elapsed_ms: f64,
    /// Half the range of the iterations around the median, percent.
    pub spread_pct: Option<f64>,
    /// Peak heap, bytes.
    pub peak_heap_bytes: Option<u64>,
    /// Median client CPU per iteration, ms.
    pub cpu_ms: Option<f64>,
    /// Round trips per iteration.
    pub round_trips: Option<u64>,
    /// 95th percentile of the time to the first row, ms.
    pub ttfr_p95_ms: Option<f64>,
    /// Bytes read from the socket, framing included.
    pub wire_bytes: Option<u64>,
    /// Latency percentiles of the queries of one iteration (concurrency, pool), ms.
    pub latency_p50_ms: Option<f64>,
    /// See `latency_p50_ms`.
    pub latency_p95_ms: Option<f64>,
    /// See `latency_p50_ms`.
    pub latency_p99_ms: Option<f64>,
    /// Failed queries over all queries.
    pub error_rate: Option<f64>,
    /// Bytes the client read from the socket after dropping a stream (early exit).
    pub bytes_after_drop: Option<u64>,
    /// Every other field, such as an instruction count (`instructions`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl RowData {
    /// A numeric field by name, known or extra (`elapsed_ms`, `instructions`, …).
    pub fn number(&self, field: &str) -> Option<f64> {
        let known = match field {
            "rows" => Some(self.rows as f64),
            "bytes" => Some(self.bytes as f64),
            "rows_per_sec" => Some(self.rows_per_sec),
            "mb_per_sec" => Some(self.mb_per_sec),
            "elapsed_ms" => Some(self.elapsed_ms),
            "ttfr_ms" => self.ttfr_ms,
            "spread_pct" => self.spread_pct,
            "peak_heap_bytes" => self.peak_heap_bytes.map(|v| v as f64),
            "cpu_ms" => self.cpu_ms,
            "latency_p50_ms" => self.latency_p50_ms,
            "latency_p95_ms" => self.latency_p95_ms,
            "latency_p99_ms" => self.latency_p99_ms,
            "bytes_after_drop" => self.bytes_after_drop.map(|v| v as f64),
            _ => return self.extra.get(field).and_then(Value::as_f64),
        };
        known.filter(|v| v.is_finite())
    }
}

/// A file that could not be read, with the reason.
#[derive(Debug)]
pub struct ReadError {
    /// The file at fault.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ReadError {}

impl Run {
    /// Reads a `summary.json`.
    ///
    /// # Errors
    /// The file cannot be read, is not a summary of schema [`SCHEMA_VERSION`], or a figure is
    /// not a finite number.
    pub fn from_path(path: &Path) -> Result<Run, ReadError> {
        let err = |message: String| ReadError {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut run: Run = serde_json::from_slice(&text)
            .map_err(|e| err(format!("not a valid summary.json: {e}")))?;
        if run.schema != SCHEMA_VERSION {
            return Err(err(format!(
                "summary.json schema {} is not supported (this reads schema {SCHEMA_VERSION})",
                run.schema
            )));
        }
        for row in run.groups.iter().flat_map(|g| &g.rows) {
            if !(row.elapsed_ms.is_finite() && row.rows_per_sec.is_finite()) {
                return Err(err(format!("row {:?}: a figure is not finite", row.id)));
            }
        }
        run.path = path.to_owned();
        Ok(run)
    }

    /// Adds the instruction counts of a Callgrind run: an instruction-count file as
    /// `.ci/callgrind` writes it (`{"schema": 1, "instructions": {name: count}}`).
    ///
    /// # Errors
    /// The file cannot be read or is not an instruction-count file.
    pub fn add_instructions(&mut self, path: &Path) -> Result<(), ReadError> {
        let counts = jsonwire_benchgate::callgrind::read(path).map_err(|e| {
            let text = e.to_string();
            let prefix = format!("{}: ", path.display());
            ReadError {
                path: path.to_owned(),
                message: text.strip_prefix(&prefix).unwrap_or(&text).to_owned(),
            }
        })?;
        self.instruction_counts.extend(counts);
        Ok(())
    }

    /// The group named `name`, if the run has rows for it.
    pub fn group(&self, name: &str) -> Option<&GroupData> {
        self.groups
            .iter()
            .find(|g| g.name == name && !g.rows.is_empty())
    }

    /// The heading and notes of group `name`.
    pub fn area(&self, name: &str) -> Option<&AreaInfo> {
        self.areas.iter().find(|a| a.name == name)
    }

    /// The client every ratio is taken against: the one the run names, else `raw_socket`
    /// when the run has it.
    pub fn reference(&self) -> Option<&str> {
        if let Some(r) = self.run.reference.as_deref() {
            return Some(r);
        }
        self.clients().into_iter().find(|c| *c == "raw_socket")
    }

    /// Every client of the run, in the order first seen.
    pub fn clients(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for row in self.groups.iter().flat_map(|g| &g.rows) {
            if !out.contains(&row.client.as_str()) {
                out.push(&row.client);
            }
        }
        out
    }

    /// The night of the run: the date part of `generated_at` (`2026-12-02`).
    pub fn night(&self) -> &str {
        self.generated_at.get(..10).unwrap_or(&self.generated_at)
    }

    /// The run's mode from its setup lines (`full`, `quick`), if recorded.
    pub fn mode(&self) -> Option<&str> {
        self.run.setup.iter().find_map(|l| {
            l.strip_prefix("mode: ")
                .map(|m| m.split_whitespace().next().unwrap_or(m))
        })
    }
}

impl GroupData {
    /// The cases, in the order first seen.
    pub fn cases(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !out.contains(&row.case.as_str()) {
                out.push(&row.case);
            }
        }
        out
    }

    /// The clients, in the order first seen.
    pub fn clients(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !out.contains(&row.client.as_str()) {
                out.push(&row.client);
            }
        }
        out
    }

    /// The row of `client` on `case`.
    pub fn row(&self, case: &str, client: &str) -> Option<&RowData> {
        self.rows
            .iter()
            .find(|r| r.case == case && r.client == client)
    }
}

/// A size written in a case name, as a number: `1k` → 1,000, `100k`, `1m` → 1,000,000,
/// `10kb` → 10,000; with `binary`, `16k` → 16,384 and `4m` → 4 Mi. The part after the last `_`
/// is read (`rbuf_64k`, `result_10k`); `None` when it is not a size (`slow`).
pub fn case_size(case: &str, binary: bool) -> Option<f64> {
    let part = case.rsplit('_').next()?.to_ascii_lowercase();
    let part = part.strip_suffix('b').unwrap_or(&part);
    let digits = part.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &part[digits.len()..];
    let n: f64 = digits.parse().ok()?;
    let k = if binary { 1024.0 } else { 1000.0 };
    let scale = match unit {
        "" => 1.0,
        "k" => k,
        "m" => k * k,
        "g" => k * k * k,
        _ => return None,
    };
    Some(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_from_case_names() {
        assert_eq!(case_size("1k", false), Some(1e3));
        assert_eq!(case_size("1m", false), Some(1e6));
        assert_eq!(case_size("rbuf_64k", true), Some(65536.0));
        assert_eq!(case_size("result_10k", false), Some(1e4));
        assert_eq!(case_size("100kb", false), Some(1e5));
        assert_eq!(case_size("slow", false), None);
        assert_eq!(case_size("1m_after_1000", false), Some(1000.0));
    }
}
