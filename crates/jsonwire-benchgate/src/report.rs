use std::fmt::Write;

use crate::compare::{Report, Verdict};
use crate::{Figure, Metric, Noise};

impl Report {
    /// Renders the comparison as GitHub-flavoured markdown: a table with one row per figure
    /// (benchmark, metric, baseline, current, change %, verdict), then the regressed and missing
    /// benchmarks by name.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| benchmark | metric | baseline | current | change % | verdict |\n");
        out.push_str("|---|---|--:|--:|--:|---|\n");
        for c in &self.comparisons {
            let change = c
                .change_pct()
                .map_or_else(|| "—".to_owned(), |p| format!("{p:+.1}%"));
            let verdict = match c.verdict {
                Verdict::Regressed => "**REGRESSED**",
                v => v.name(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&c.benchmark),
                c.metric.name(),
                cell(c.baseline.as_ref()),
                cell(c.current.as_ref()),
                change,
                verdict
            );
        }
        let _ = writeln!(
            out,
            "\nThreshold {}% beyond noise (criterion: confidence intervals; summary.json: spread_pct).",
            self.threshold_pct
        );
        for (verdict, heading) in [
            (Verdict::Regressed, "Regressed"),
            (Verdict::Missing, "Missing"),
        ] {
            let names: Vec<String> = self
                .with_verdict(verdict)
                .map(|c| {
                    let change = c
                        .change_pct()
                        .map(|p| format!(" {p:+.1}%"))
                        .unwrap_or_default();
                    format!("`{}` ({}{change})", c.benchmark, c.metric.name())
                })
                .collect();
            if !names.is_empty() {
                let _ = writeln!(out, "\n**{heading}:** {}", names.join(", "));
            }
        }
        out
    }
}

fn cell(figure: Option<&Figure>) -> String {
    let Some(figure) = figure else {
        return "—".to_owned();
    };
    let value = format_value(figure.metric, figure.value);
    match figure.noise {
        Noise::Spread(None) => value,
        noise => format!("{value} ±{:.1}%", noise.relative_pct(figure.value)),
    }
}

fn format_value(metric: Metric, value: f64) -> String {
    match metric {
        Metric::MeanTime => {
            let (scaled, unit) = match value {
                v if v >= 1e9 => (v / 1e9, "s"),
                v if v >= 1e6 => (v / 1e6, "ms"),
                v if v >= 1e3 => (v / 1e3, "µs"),
                v => (v, "ns"),
            };
            format!("{} {unit}", significant(scaled))
        }
        Metric::RowsPerSec => {
            let (scaled, unit) = match value {
                v if v >= 1e9 => (v / 1e9, "G"),
                v if v >= 1e6 => (v / 1e6, "M"),
                v if v >= 1e3 => (v / 1e3, "k"),
                v => (v, ""),
            };
            format!("{} {unit}rows/s", significant(scaled))
        }
        Metric::TtfrMs => format!("{} ms", significant(value)),
        Metric::Instructions => format!("{value:.0} Ir"),
    }
}

/// Four significant digits for values under 1000, which is all a benchmark's precision is worth.
fn significant(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.1}"),
        a if a >= 10.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// Keeps a benchmark id from breaking the table.
fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare;

    #[test]
    fn table_has_a_row_per_figure_with_units_and_verdict() {
        let time = |mean: f64| Figure {
            benchmark: "parse/row|x".into(),
            metric: Metric::MeanTime,
            value: mean,
            noise: Noise::Interval {
                lower: mean * 0.99,
                upper: mean * 1.01,
            },
        };
        let md = compare(&[time(1_234.0)], &[time(1_480.8)], 10.0).to_markdown();
        assert!(
            md.contains("| parse/row\\|x | mean time | 1.234 µs ±1.0% | 1.481 µs ±1.0% | +20.0% | **REGRESSED** |"),
            "{md}"
        );
        assert!(
            md.contains("**Regressed:** `parse/row|x` (mean time +20.0%)"),
            "{md}"
        );
    }

    #[test]
    fn rates_and_ttfr_are_scaled_for_reading() {
        assert_eq!(
            format_value(Metric::RowsPerSec, 2_150_000.0),
            "2.150 Mrows/s"
        );
        assert_eq!(format_value(Metric::RowsPerSec, 950.0), "950.0 rows/s");
        assert_eq!(format_value(Metric::TtfrMs, 1.94), "1.940 ms");
        assert_eq!(format_value(Metric::MeanTime, 465_100_000.0), "465.1 ms");
    }
}
