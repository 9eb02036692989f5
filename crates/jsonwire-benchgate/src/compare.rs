use std::collections::BTreeMap;

use crate::{Figure, Metric, Noise};

/// What the gate concluded about one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within threshold and noise of the baseline.
    Unchanged,
    /// Better than the baseline by more than threshold and noise.
    Improved,
    /// Worse than the baseline by more than threshold and noise; fails the gate.
    Regressed,
    /// Only in the current run.
    New,
    /// Only in the baseline; fails the gate with `--fail-on-missing`.
    Missing,
}

impl Verdict {
    /// The word shown in the report.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Unchanged => "ok",
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::New => "new",
            Verdict::Missing => "missing",
        }
    }
}

/// One figure compared across the two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The benchmark's id.
    pub benchmark: String,
    /// The metric compared.
    pub metric: Metric,
    /// The baseline's figure, unless it is [`Verdict::New`].
    pub baseline: Option<Figure>,
    /// The current figure, unless it is [`Verdict::Missing`].
    pub current: Option<Figure>,
    /// The conclusion.
    pub verdict: Verdict,
}

impl Comparison {
    /// The signed change from baseline to current in percent of the baseline, when both exist.
    /// Its sign is that of the values: a positive change is worse for a time, better for a rate.
    pub fn change_pct(&self) -> Option<f64> {
        let (old, new) = (self.baseline.as_ref()?, self.current.as_ref()?);
        Some((new.value - old.value) / old.value * 100.0)
    }
}

/// Every figure of both runs, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The threshold the comparison used, in percent.
    pub threshold_pct: f64,
    /// One entry per benchmark and metric on either side, ordered by benchmark id and metric.
    pub comparisons: Vec<Comparison>,
}

impl Report {
    /// The comparisons with the given verdict.
    pub fn with_verdict(&self, verdict: Verdict) -> impl Iterator<Item = &Comparison> {
        self.comparisons
            .iter()
            .filter(move |c| c.verdict == verdict)
    }

    /// Whether the gate passes: no regression, and no missing figure if `fail_on_missing`.
    pub fn passes(&self, fail_on_missing: bool) -> bool {
        self.with_verdict(Verdict::Regressed).next().is_none()
            && !(fail_on_missing && self.with_verdict(Verdict::Missing).next().is_some())
    }
}

/// Compares `current` with `baseline`, matching figures by benchmark id and metric, with a
/// threshold in percent. The rule is described in the [crate documentation](crate).
pub fn compare(baseline: &[Figure], current: &[Figure], threshold_pct: f64) -> Report {
    type Sides<'a> = (Option<&'a Figure>, Option<&'a Figure>);
    let mut pairs: BTreeMap<(&str, Metric), Sides<'_>> = BTreeMap::new();
    for figure in baseline {
        pairs
            .entry((&figure.benchmark, figure.metric))
            .or_default()
            .0 = Some(figure);
    }
    for figure in current {
        pairs
            .entry((&figure.benchmark, figure.metric))
            .or_default()
            .1 = Some(figure);
    }
    let comparisons = pairs
        .into_iter()
        .map(|((benchmark, metric), (old, new))| Comparison {
            benchmark: benchmark.to_owned(),
            metric,
            baseline: old.cloned(),
            current: new.cloned(),
            verdict: match (old, new) {
                (Some(old), Some(new)) => judge(old, new, threshold_pct / 100.0),
                (Some(_), None) => Verdict::Missing,
                _ => Verdict::New,
            },
        })
        .collect();
    Report {
        threshold_pct,
        comparisons,
    }
}

fn judge(old: &Figure, new: &Figure, threshold: f64) -> Verdict {
    let stretch = 1.0 + threshold;
    if let (
        Noise::Interval {
            lower: old_lo,
            upper: old_hi,
        },
        Noise::Interval {
            lower: new_lo,
            upper: new_hi,
        },
    ) = (old.noise, new.noise)
    {
        if !old.metric.higher_is_better() {
            return if new.value > old.value * stretch && new_lo > old_hi * stretch {
                Verdict::Regressed
            } else if old.value > new.value * stretch && old_lo > new_hi * stretch {
                Verdict::Improved
            } else {
                Verdict::Unchanged
            };
        }
    }

    let noise_pct = old
        .noise
        .relative_pct(old.value)
        .max(new.noise.relative_pct(new.value));
    let limit_pct = threshold * 100.0 + noise_pct;
    let change_pct = (new.value - old.value) / old.value * 100.0;
    let worse_pct = if old.metric.higher_is_better() {
        -change_pct
    } else {
        change_pct
    };
    // A zero baseline gives an infinite or NaN change; NaN compares false, so 0 → 0 is unchanged.
    if worse_pct > limit_pct {
        Verdict::Regressed
    } else if -worse_pct > limit_pct {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(benchmark: &str, mean: f64, half_width_pct: f64) -> Figure {
        let hw = mean * half_width_pct / 100.0;
        Figure {
            benchmark: benchmark.into(),
            metric: Metric::MeanTime,
            value: mean,
            noise: Noise::Interval {
                lower: mean - hw,
                upper: mean + hw,
            },
        }
    }

    fn summary(benchmark: &str, metric: Metric, value: f64, spread: Option<f64>) -> Figure {
        Figure {
            benchmark: benchmark.into(),
            metric,
            value,
            noise: Noise::Spread(spread),
        }
    }

    fn verdict(old: Figure, new: Figure) -> Verdict {
        let report = compare(&[old], &[new], 10.0);
        assert_eq!(report.comparisons.len(), 1);
        report.comparisons[0].verdict
    }

    #[test]
    fn criterion_15_percent_slower_with_tight_intervals_regresses() {
        assert_eq!(
            verdict(time("a", 100.0, 1.0), time("a", 115.0, 1.0)),
            Verdict::Regressed
        );
    }

    #[test]
    fn criterion_15_percent_slower_with_wide_intervals_is_noise() {
        assert_eq!(
            verdict(time("a", 100.0, 4.0), time("a", 115.0, 4.0)),
            Verdict::Unchanged
        );
    }

    #[test]
    fn criterion_within_3_percent_is_unchanged() {
        assert_eq!(
            verdict(time("a", 100.0, 2.0), time("a", 103.0, 2.0)),
            Verdict::Unchanged
        );
        assert_eq!(
            verdict(time("a", 100.0, 2.0), time("a", 97.0, 2.0)),
            Verdict::Unchanged
        );
    }

    #[test]
    fn criterion_15_percent_faster_improves() {
        assert_eq!(
            verdict(time("a", 115.0, 1.0), time("a", 100.0, 1.0)),
            Verdict::Improved
        );
    }

    #[test]
    fn rows_per_sec_15_percent_lower_regresses_and_higher_improves() {
        let rate = |v| summary("t", Metric::RowsPerSec, v, Some(2.0));
        assert_eq!(verdict(rate(1000.0), rate(850.0)), Verdict::Regressed);
        assert_eq!(verdict(rate(1000.0), rate(1150.0)), Verdict::Improved);
        assert_eq!(verdict(rate(1000.0), rate(970.0)), Verdict::Unchanged);
    }

    #[test]
    fn ttfr_15_percent_higher_regresses() {
        let ttfr = |v| summary("t", Metric::TtfrMs, v, Some(2.0));
        assert_eq!(verdict(ttfr(10.0), ttfr(11.5)), Verdict::Regressed);
        assert_eq!(verdict(ttfr(10.0), ttfr(10.3)), Verdict::Unchanged);
    }

    #[test]
    fn larger_spread_of_either_run_widens_the_threshold() {
        let rate = |v, s| summary("t", Metric::RowsPerSec, v, s);
        assert_eq!(
            verdict(rate(1000.0, Some(6.0)), rate(850.0, Some(1.0))),
            Verdict::Unchanged
        );
        assert_eq!(
            verdict(rate(1000.0, Some(1.0)), rate(850.0, Some(6.0))),
            Verdict::Unchanged
        );
        assert_eq!(
            verdict(rate(1000.0, None), rate(850.0, None)),
            Verdict::Regressed
        );
    }

    #[test]
    fn zero_baseline_is_unchanged_when_still_zero() {
        let ttfr = |v| summary("t", Metric::TtfrMs, v, None);
        assert_eq!(verdict(ttfr(0.0), ttfr(0.0)), Verdict::Unchanged);
        assert_eq!(verdict(ttfr(0.0), ttfr(1.0)), Verdict::Regressed);
    }

    #[test]
    fn figures_on_one_side_are_new_or_missing_and_pass_unless_asked() {
        let report = compare(&[time("gone", 1.0, 1.0)], &[time("fresh", 1.0, 1.0)], 10.0);
        let verdicts: Vec<_> = report
            .comparisons
            .iter()
            .map(|c| (c.benchmark.as_str(), c.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [("fresh", Verdict::New), ("gone", Verdict::Missing)]
        );
        assert!(report.passes(false));
        assert!(!report.passes(true));
    }

    #[test]
    fn change_is_signed_relative_to_the_baseline() {
        let report = compare(&[time("a", 200.0, 1.0)], &[time("a", 230.0, 1.0)], 10.0);
        let change = report.comparisons[0].change_pct().unwrap();
        assert!((change - 15.0).abs() < 1e-9, "{change}");
    }
}
