//! The benchmark regression gate: compares a baseline result set with a current one and says
//! which figures got worse by more than a threshold beyond their measurement noise.
//!
//! Two kinds of result set are understood, and both sides must be of the same kind:
//!
//! - **A criterion output directory** (`target/criterion`, or wherever `CRITERION_HOME` pointed):
//!   each benchmark's mean time per iteration and its 95% confidence interval, from
//!   `new/estimates.json`. Lower is better.
//! - **A `summary.json`** written by the integration tier, whose schema is [`summary::Summary`]:
//!   each row's `rows_per_sec` (higher is better) and `ttfr_ms` (lower is better), matched across
//!   runs by row id, with `spread_pct` as the noise.
//!
//! # The rule
//!
//! With threshold `t` (10% unless told otherwise), a figure has **regressed** when:
//!
//! - *criterion*: `current.mean > baseline.mean × (1 + t)` **and**
//!   `current.lower_bound > baseline.upper_bound × (1 + t)`; that is, the current confidence
//!   interval lies wholly above the baseline's stretched by the threshold, so the slowdown must
//!   exceed roughly `t` plus both intervals' relative half-widths.
//! - *summary.json*: it is worse than the baseline by more than `t + max(spread_old, spread_new)`
//!   percent, where worse is relative to the baseline and a missing `spread_pct` counts as 0.
//!
//! An **improvement** is the same test with the sides swapped. A figure on one side only is
//! reported as `new` or `missing` and fails the gate only when asked to (`--fail-on-missing`).
//!
//! # The command
//!
//! ```text
//! jsonwire-benchgate --baseline <dir-or-summary.json> --current <dir-or-summary.json>
//!                    [--threshold 10] [--fail-on-missing]
//! ```
//!
//! prints a markdown table (for `$GITHUB_STEP_SUMMARY`), lists the regressed benchmarks, and ends
//! with `gate: N regressions`. It exits 0 when the gate passes, 1 on a regression (or a missing
//! figure with `--fail-on-missing`), and 2 when an input cannot be read or the flags are wrong.
//!
//! # Example
//!
//! ```
//! use jsonwire_benchgate::{compare, Figure, Metric, Noise, Verdict};
//!
//! let time = |mean: f64| Figure {
//!     benchmark: "parse/row/1024".into(),
//!     metric: Metric::MeanTime,
//!     value: mean,
//!     noise: Noise::Interval { lower: mean * 0.99, upper: mean * 1.01 },
//! };
//! let report = compare(&[time(100.0)], &[time(115.0)], 10.0);
//! assert_eq!(report.comparisons[0].verdict, Verdict::Regressed);
//! ```

use std::path::Path;

pub mod callgrind;
mod compare;
mod criterion;
mod error;
mod report;
pub mod summary;

pub use compare::{compare, Comparison, Report, Verdict};
pub use error::Error;
pub use summary::Summary;

/// The default threshold, in percent.
pub const DEFAULT_THRESHOLD_PCT: f64 = 10.0;

/// One measured figure of one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The benchmark's id: criterion's full id, or a summary row's `id`.
    pub benchmark: String,
    /// What was measured.
    pub metric: Metric,
    /// The measurement, in the metric's unit.
    pub value: f64,
    /// How far the measurement can be trusted.
    pub noise: Noise,
}

/// What a [`Figure`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Criterion's mean time per iteration, in nanoseconds. Lower is better.
    MeanTime,
    /// A summary row's `rows_per_sec`. Higher is better.
    RowsPerSec,
    /// A summary row's `ttfr_ms`, time to first row in milliseconds. Lower is better.
    TtfrMs,
    /// Instructions executed, counted by Callgrind: exact, so without noise. Lower is better.
    Instructions,
}

impl Metric {
    /// Whether a larger value is an improvement.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::RowsPerSec)
    }

    /// The name shown in the report.
    pub fn name(self) -> &'static str {
        match self {
            Metric::MeanTime => "mean time",
            Metric::RowsPerSec => "rows_per_sec",
            Metric::TtfrMs => "ttfr_ms",
            Metric::Instructions => "instructions",
        }
    }
}

/// The uncertainty of a [`Figure`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// A confidence interval around the value, in the value's unit (criterion).
    Interval {
        /// The interval's lower bound.
        lower: f64,
        /// The interval's upper bound.
        upper: f64,
    },
    /// Relative spread around the value, in percent (summary.json's `spread_pct`), if recorded.
    Spread(Option<f64>),
}

impl Noise {
    /// The noise as a percentage of `value`: an interval's half-width relative to it, or the
    /// recorded spread (0 when none was recorded).
    pub fn relative_pct(self, value: f64) -> f64 {
        match self {
            Noise::Interval { lower, upper } if value > 0.0 => {
                (upper - lower) / 2.0 / value * 100.0
            }
            Noise::Interval { .. } => 0.0,
            Noise::Spread(spread) => spread.unwrap_or(0.0),
        }
    }
}

/// The kind of input a [`ResultSet`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A criterion output directory.
    CriterionDir,
    /// An integration-tier `summary.json`.
    SummaryJson,
    /// An instruction-count file of the Callgrind tier ([`callgrind`]).
    InstructionCounts,
}

/// The figures read from one input.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// What kind of input they came from.
    pub source: Source,
    /// The figures, ordered by benchmark id and metric.
    pub figures: Vec<Figure>,
}

/// Reads a result set: a directory is read as criterion output, a file as an instruction-count
/// file ([`callgrind`]) when it has `instructions`, else as a `summary.json`.
///
/// # Errors
///
/// Fails, naming the file or directory at fault, when `path` does not exist, a JSON file in it
/// cannot be read or parsed, a value is not a finite non-negative number, or a directory holds no
/// criterion results.
pub fn load(path: &Path) -> Result<ResultSet, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Ok(ResultSet {
            source: Source::CriterionDir,
            figures: criterion::figures(path)?,
        });
    }
    if let Ok(json) = std::fs::read_to_string(path)
        .map_err(|_| ())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|_| ()))
    {
        if callgrind::is_instruction_counts(&json) {
            let figures = callgrind::read(path)?
                .into_iter()
                .map(|(benchmark, n)| Figure {
                    benchmark,
                    metric: Metric::Instructions,
                    value: n as f64,
                    noise: Noise::Spread(None),
                })
                .collect();
            return Ok(ResultSet {
                source: Source::InstructionCounts,
                figures,
            });
        }
    }
    let summary = Summary::from_path(path)?;
    let mut figures = Vec::new();
    for row in summary.groups.iter().flat_map(|g| &g.rows) {
        let noise = Noise::Spread(row.spread_pct);
        let mut push = |metric: Metric, value: f64| {
            figures.push(Figure {
                benchmark: row.id.clone(),
                metric,
                value,
                noise,
            });
        };
        push(Metric::RowsPerSec, row.rows_per_sec);
        if let Some(ttfr) = row.ttfr_ms {
            push(Metric::TtfrMs, ttfr);
        }
    }
    for figure in &figures {
        let spread = figure.noise.relative_pct(figure.value);
        if !(figure.value.is_finite() && figure.value >= 0.0 && spread.is_finite() && spread >= 0.0)
        {
            return Err(Error::invalid(
                path,
                format!(
                    "row {:?}: {} {} (spread_pct {}) is not a finite non-negative number",
                    figure.benchmark,
                    figure.metric.name(),
                    figure.value,
                    spread
                ),
            ));
        }
    }
    figures.sort_by(|a, b| (&a.benchmark, a.metric).cmp(&(&b.benchmark, b.metric)));
    Ok(ResultSet {
        source: Source::SummaryJson,
        figures,
    })
}
