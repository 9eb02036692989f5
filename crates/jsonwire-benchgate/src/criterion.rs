//! Reading criterion 0.5's output directory (`target/criterion` or `$CRITERION_HOME`).
//!
//! Each benchmark has a directory `<group>/<function>/<parameter>/` (fewer levels for ungrouped or
//! unparameterised benchmarks) whose `new/` holds the latest run: `estimates.json` with the
//! statistics, in nanoseconds per iteration, and `benchmark.json` with the benchmark's full id.
//! `base/` and other saved baselines, `change/` and the `report/` HTML are not read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::{Figure, Metric, Noise};

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: ConfidenceInterval,
}

#[derive(Deserialize)]
struct ConfidenceInterval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct BenchmarkId {
    full_id: String,
}

/// Reads every benchmark's latest mean time under `root`, ordered by id.
pub(crate) fn figures(root: &Path) -> Result<Vec<Figure>, Error> {
    let mut found = BTreeMap::new();
    visit(root, root, &mut found)?;
    if found.is_empty() {
        return Err(Error::invalid(
            root,
            "no criterion results found (expected <group>/<bench>/new/estimates.json below it)",
        ));
    }
    Ok(found.into_values().map(|(_, figure)| figure).collect())
}

fn visit(
    root: &Path,
    dir: &Path,
    found: &mut BTreeMap<String, (PathBuf, Figure)>,
) -> Result<(), Error> {
    let new = dir.join("new");
    if new.join("estimates.json").is_file() {
        let figure = read_benchmark(root, dir, &new)?;
        if let Some((other, _)) = found.get(&figure.benchmark) {
            return Err(Error::invalid(
                dir,
                format!(
                    "benchmark id {:?} is also used by {}",
                    figure.benchmark,
                    other.display()
                ),
            ));
        }
        found.insert(figure.benchmark.clone(), (dir.to_owned(), figure));
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| Error::io(&entry.path(), e))?
            .is_dir();
        if is_dir && entry.file_name() != "report" {
            subdirs.push(entry.path());
        }
    }
    subdirs.sort();
    for sub in subdirs {
        visit(root, &sub, found)?;
    }
    Ok(())
}

fn read_benchmark(root: &Path, dir: &Path, new: &Path) -> Result<Figure, Error> {
    let estimates_path = new.join("estimates.json");
    let estimates: Estimates = read_json(&estimates_path, "criterion estimates.json")?;
    let mean = estimates.mean;
    let ci = mean.confidence_interval;
    let values = [mean.point_estimate, ci.lower_bound, ci.upper_bound];
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) || ci.lower_bound > ci.upper_bound {
        return Err(Error::invalid(
            &estimates_path,
            format!(
                "mean {} with confidence interval [{}, {}] is not a valid time",
                mean.point_estimate, ci.lower_bound, ci.upper_bound
            ),
        ));
    }

    // benchmark.json carries the id as written in the bench (criterion shortens and escapes the
    // directory names); without it, the relative directory is the best id there is.
    let id_path = new.join("benchmark.json");
    let benchmark = if id_path.is_file() {
        read_json::<BenchmarkId>(&id_path, "criterion benchmark.json")?.full_id
    } else {
        let relative = match dir.strip_prefix(root) {
            Ok(r) if r.as_os_str().is_empty() => Path::new(dir.file_name().unwrap_or_default()),
            Ok(r) => r,
            Err(_) => dir,
        };
        let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
        parts.join("/")
    };

    Ok(Figure {
        benchmark,
        metric: Metric::MeanTime,
        value: mean.point_estimate,
        noise: Noise::Interval {
            lower: ci.lower_bound,
            upper: ci.upper_bound,
        },
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T, Error> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::invalid(path, format!("not a valid {what}: {e}")))
}
