//! The `summary.json` schema written by the integration benchmark tier.
//!
//! The integration tier (`benches/integration.rs`) writes one [`Summary`] to
//! `target/jsonwire-bench/summary.json` after a run; the nightly workflow keeps it as an artifact
//! and the gate compares it with the previous night's. The bench code builds it with these types,
//! so the writer and the reader cannot drift apart.
//!
//! ```json
//! {
//!   "schema": 1,
//!   "generated_at": "2025-01-31T02:14:07Z",
//!   "postgres_version": "PostgreSQL 17.2 (Debian 17.2-1.pgdg120+1) on x86_64-pc-linux-gnu, …",
//!   "machine": "x86_64 linux, 4 cpus",
//!   "groups": [
//!     {
//!       "name": "throughput",
//!       "rows": [
//!         {
//!           "id": "throughput/1m/jsonwire_raw", "client": "jsonwire_raw", "case": "1m",
//!           "rows": 1000000, "bytes": 187000000,
//!           "rows_per_sec": 2150000.0, "mb_per_sec": 402.1,
//!           "ttfr_ms": 1.9, "elapsed_ms": 465.1, "spread_pct": 2.4,
//!           "ratio_to_raw": 1.0, "ratio_to_tokio": 0.61,
//!           "peak_heap_bytes": 1310720, "cpu_ms": 301.0, "round_trips": 2
//!         }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! Fields of type `Option` are written as `null` when a row has no such figure, and read as `None`
//! when `null` or absent. Readers ignore fields they do not know, so a field can be added without
//! bumping [`SCHEMA_VERSION`]; renaming or changing the meaning of one needs a bump.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The schema version this crate reads and writes, stored in [`Summary::schema`].
pub const SCHEMA_VERSION: u32 = 1;

/// One integration-tier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA_VERSION`] for files this crate can read.
    pub schema: u32,
    /// When the run finished, RFC 3339 in UTC (see [`rfc3339_utc`]).
    pub generated_at: String,
    /// The server's `SELECT version()`.
    pub postgres_version: String,
    /// A short description of the machine the client ran on (architecture, OS, CPU count).
    pub machine: String,
    /// The benchmark groups, in the order they ran.
    pub groups: Vec<Group>,
}

/// A group of rows measured the same way, such as `throughput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group's name; the first segment of each row's [`Row::id`].
    pub name: String,
    /// One row per client and case.
    pub rows: Vec<Row>,
}

/// The figures for one client on one case.
///
/// Times are medians over the measured iterations, each iteration being one complete query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `group/case/client`, unique in the file; the gate matches rows across runs by this.
    pub id: String,
    /// The client measured, such as `jsonwire_raw` or `tokio_postgres`.
    pub client: String,
    /// The workload, such as `1m` (a million rows).
    pub case: String,
    /// Rows received per iteration.
    pub rows: u64,
    /// Bytes of JSON text received per iteration.
    pub bytes: u64,
    /// `rows` divided by the median elapsed time. Higher is better; gated.
    pub rows_per_sec: f64,
    /// `bytes` divided by the median elapsed time, in megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// Time from sending the query to receiving the first row, in milliseconds. Lower is better;
    /// gated.
    pub ttfr_ms: Option<f64>,
    /// Wall time of one iteration, from sending the query to the last row, in milliseconds.
    pub elapsed_ms: f64,
    /// Run-to-run noise: half the range of the iterations' elapsed times relative to their
    /// median, in percent (`(max - min) / 2 / median * 100`), so every iteration lies within
    /// ± this much of the median. The gate widens its threshold by the larger of the two runs'.
    pub spread_pct: Option<f64>,
    /// This row's `elapsed_ms` divided by that of `raw_socket` (the minimal reader that frames
    /// DataRows and discards them: the server-and-socket limit) on the same case (above 1 is
    /// slower).
    pub ratio_to_raw: Option<f64>,
    /// This row's `elapsed_ms` divided by that of the tokio-postgres client in the same output
    /// mode (`tokio_postgres_raw`, `_value`, `_typed`) on the same case (above 1 is slower).
    pub ratio_to_tokio: Option<f64>,
    /// The most heap the client held at once during an iteration, in bytes.
    pub peak_heap_bytes: Option<u64>,
    /// Client CPU time (user + system) per iteration, in milliseconds.
    pub cpu_ms: Option<f64>,
    /// Network round trips per iteration.
    pub round_trips: Option<u64>,
}

impl Summary {
    /// Reads and checks a `summary.json`.
    ///
    /// # Errors
    ///
    /// Fails, naming `path`, when the file cannot be read, is not valid JSON of this schema, has a
    /// `schema` other than [`SCHEMA_VERSION`], or repeats a row id.
    pub fn from_path(path: &Path) -> Result<Summary, Error> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let summary: Summary = serde_json::from_slice(&text)
            .map_err(|e| Error::invalid(path, format!("not a valid summary.json: {e}")))?;
        if summary.schema != SCHEMA_VERSION {
            return Err(Error::invalid(
                path,
                format!(
                    "summary.json schema {} is not supported (this gate reads schema {SCHEMA_VERSION})",
                    summary.schema
                ),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for row in summary.groups.iter().flat_map(|g| &g.rows) {
            if !ids.insert(row.id.as_str()) {
                return Err(Error::invalid(
                    path,
                    format!("row id {:?} appears twice", row.id),
                ));
            }
        }
        Ok(summary)
    }
}

/// Formats `time` as RFC 3339 in UTC with whole seconds, such as `2025-01-31T02:14:07Z`, for
/// [`Summary::generated_at`].
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64) - i64::from(e.duration().subsec_nanos() > 0),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_known_instants() {
        let at = |s| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_738_289_647), "2025-01-31T02:14:07Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn options_read_as_none_when_null_or_absent_and_write_as_null() {
        let row: Row = serde_json::from_str(
            r#"{"id":"g/c/x","client":"x","case":"c","rows":1,"bytes":2,"rows_per_sec":3.0,
                "mb_per_sec":4.0,"ttfr_ms":null,"elapsed_ms":5.0,"future_field":true}"#,
        )
        .unwrap();
        assert_eq!(row.ttfr_ms, None);
        assert_eq!(row.round_trips, None);
        let written = serde_json::to_string(&row).unwrap();
        assert!(written.contains(r#""spread_pct":null"#), "{written}");
    }
}
