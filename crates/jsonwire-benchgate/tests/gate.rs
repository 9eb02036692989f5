//! The gate binary run on result sets written into a scratch directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jsonwire_benchgate::summary::{Group, Row, Summary, SCHEMA_VERSION};

/// A fresh directory for one test under cargo's per-target scratch space.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("benchgate")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn gate(baseline: &Path, current: &Path, extra: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_jsonwire-benchgate"))
        .arg("--baseline")
        .arg(baseline)
        .arg("--current")
        .arg(current)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    (status.code().expect("exited"), stdout, stderr)
}

/// Writes a criterion 0.5 benchmark directory as `cargo bench` leaves it, including the `base/`,
/// `change/` and `report/` siblings the gate must not read.
fn criterion_bench(root: &Path, dir: &str, full_id: &str, mean: f64, half_width_pct: f64) {
    let bench = root.join(dir);
    let hw = mean * half_width_pct / 100.0;
    let estimate = |point: f64, lo: f64, hi: f64| {
        format!(
            r#"{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{lo},"upper_bound":{hi}}},"point_estimate":{point},"standard_error":{}}}"#,
            hw / 2.0
        )
    };
    let estimates = |mean: f64| {
        format!(
            r#"{{"mean":{},"median":{},"median_abs_dev":{},"slope":null,"std_dev":{}}}"#,
            estimate(mean, mean - hw, mean + hw),
            estimate(mean, mean - hw, mean + hw),
            estimate(hw, 0.0, hw * 2.0),
            estimate(hw, 0.0, hw * 2.0)
        )
    };
    let (group, rest) = full_id.split_once('/').unwrap_or((full_id, ""));
    let benchmark = format!(
        r#"{{"group_id":"{group}","function_id":"{rest}","value_str":null,"throughput":null,"full_id":"{full_id}","directory_name":"{dir}","title":"{full_id}"}}"#
    );
    for (sub, mean) in [("new", mean), ("base", mean * 3.0)] {
        fs::create_dir_all(bench.join(sub)).unwrap();
        fs::write(bench.join(sub).join("estimates.json"), estimates(mean)).unwrap();
        fs::write(bench.join(sub).join("benchmark.json"), &benchmark).unwrap();
    }
    fs::create_dir_all(bench.join("change")).unwrap();
    fs::write(bench.join("change/estimates.json"), "{}").unwrap();
    fs::create_dir_all(bench.join("report")).unwrap();
    fs::write(bench.join("report/index.html"), "<html></html>").unwrap();
}

/// A criterion directory of three benchmarks, the first one's mean multiplied by `factor`.
fn criterion_run(dir: &Path, factor: f64, half_width_pct: f64) -> PathBuf {
    fs::create_dir_all(dir.join("report")).unwrap();
    criterion_bench(
        dir,
        "frame_parse/data_row/1024",
        "frame/parse/data_row/1024",
        812.0 * factor,
        half_width_pct,
    );
    criterion_bench(
        dir,
        "frame_parse/data_row/64",
        "frame/parse/data_row/64",
        61.5,
        half_width_pct,
    );
    criterion_bench(
        dir,
        "scram_client_proof",
        "scram_client_proof",
        1_250_000.0,
        half_width_pct,
    );
    dir.to_owned()
}

fn row(client: &str, rows_per_sec: f64, ttfr_ms: Option<f64>, spread_pct: Option<f64>) -> Row {
    Row {
        id: format!("throughput/1m/{client}"),
        client: client.into(),
        case: "1m".into(),
        rows: 1_000_000,
        bytes: 187_000_000,
        rows_per_sec,
        mb_per_sec: rows_per_sec * 187.0 / 1e6,
        ttfr_ms,
        elapsed_ms: 1e9 / rows_per_sec,
        spread_pct,
        ratio_to_raw: Some(1.0),
        ratio_to_tokio: None,
        peak_heap_bytes: Some(1 << 20),
        cpu_ms: None,
        round_trips: Some(2),
    }
}

fn write_summary(path: &Path, rows: Vec<Row>) -> PathBuf {
    let summary = Summary {
        schema: SCHEMA_VERSION,
        generated_at: "2025-01-31T02:14:07Z".into(),
        postgres_version: "PostgreSQL 17.2".into(),
        machine: "x86_64 linux, 4 cpus".into(),
        groups: vec![Group {
            name: "throughput".into(),
            rows,
        }],
    };
    fs::write(path, serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
    path.to_owned()
}

fn summary_run(path: &Path, raw_rate: f64, raw_ttfr: f64, spread: f64) -> PathBuf {
    write_summary(
        path,
        vec![
            row("jsonwire_raw", raw_rate, Some(raw_ttfr), Some(spread)),
            row("tokio_postgres", 1_300_000.0, Some(2.4), Some(spread)),
        ],
    )
}

#[test]
fn criterion_benchmark_15_percent_slower_fails_naming_it() {
    let dir = scratch("criterion_slower");
    let old = criterion_run(&dir.join("old"), 1.0, 1.0);
    let new = criterion_run(&dir.join("new"), 1.15, 1.0);
    let (code, out, err) = gate(&old, &new, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("| frame/parse/data_row/1024 | mean time | 812.0 ns ±1.0% | 933.8 ns ±1.0% | +15.0% | **REGRESSED** |"), "{out}");
    assert!(
        out.contains("**Regressed:** `frame/parse/data_row/1024` (mean time +15.0%)"),
        "{out}"
    );
    assert!(out.contains("| frame/parse/data_row/64 | mean time | 61.50 ns ±1.0% | 61.50 ns ±1.0% | +0.0% | ok |"), "{out}");
    assert!(out.ends_with("gate: 1 regressions\n"), "{out}");
}

#[test]
fn criterion_rerun_within_noise_passes() {
    let dir = scratch("criterion_rerun");
    let old = criterion_run(&dir.join("old"), 1.0, 2.0);
    for (name, factor) in [("same", 1.0), ("slower", 1.03), ("faster", 0.97)] {
        let new = criterion_run(&dir.join(name), factor, 2.0);
        let (code, out, err) = gate(&old, &new, &[]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.ends_with("gate: 0 regressions\n"), "{out}");
        assert!(!out.contains("REGRESSED"), "{out}");
    }
}

#[test]
fn criterion_ids_come_from_benchmark_json_and_only_new_is_read() {
    let dir = scratch("criterion_ids");
    let old = criterion_run(&dir.join("old"), 1.0, 1.0);
    let (code, out, _) = gate(&old, &old, &[]);
    assert_eq!(code, 0);
    // base/ holds three times the mean; reading it would show as a change.
    assert_eq!(out.matches("| +0.0% | ok |").count(), 3, "{out}");
    assert!(
        out.contains("| scram_client_proof | mean time | 1.250 ms ±1.0% |"),
        "{out}"
    );
}

#[test]
fn summary_rows_per_sec_15_percent_lower_fails_naming_the_row() {
    let dir = scratch("summary_slower");
    let old = summary_run(&dir.join("old.json"), 2_000_000.0, 1.9, 2.0);
    let new = summary_run(&dir.join("new.json"), 1_700_000.0, 1.9, 2.0);
    let (code, out, err) = gate(&old, &new, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("| throughput/1m/jsonwire_raw | rows_per_sec | 2.000 Mrows/s ±2.0% | 1.700 Mrows/s ±2.0% | -15.0% | **REGRESSED** |"), "{out}");
    assert!(
        out.contains("`throughput/1m/jsonwire_raw` (rows_per_sec -15.0%)"),
        "{out}"
    );
    assert!(out.ends_with("gate: 1 regressions\n"), "{out}");
}

#[test]
fn summary_ttfr_15_percent_worse_fails() {
    let dir = scratch("summary_ttfr");
    let old = summary_run(&dir.join("old.json"), 2_000_000.0, 2.0, 2.0);
    let new = summary_run(&dir.join("new.json"), 2_000_000.0, 2.3, 2.0);
    let (code, out, err) = gate(&old, &new, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("| throughput/1m/jsonwire_raw | ttfr_ms | 2.000 ms ±2.0% | 2.300 ms ±2.0% | +15.0% | **REGRESSED** |"), "{out}");
    assert!(out.contains("| throughput/1m/jsonwire_raw | rows_per_sec | 2.000 Mrows/s ±2.0% | 2.000 Mrows/s ±2.0% | +0.0% | ok |"), "{out}");
}

#[test]
fn summary_rerun_within_noise_passes() {
    let dir = scratch("summary_rerun");
    let old = summary_run(&dir.join("old.json"), 2_000_000.0, 2.0, 3.0);
    for (name, rate, ttfr) in [
        ("same", 2_000_000.0, 2.0),
        ("worse", 1_940_000.0, 2.06),
        ("better", 2_060_000.0, 1.94),
    ] {
        let new = summary_run(&dir.join(format!("{name}.json")), rate, ttfr, 3.0);
        let (code, out, err) = gate(&old, &new, &[]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.ends_with("gate: 0 regressions\n"), "{out}");
    }
}

#[test]
fn summary_spread_widens_the_threshold() {
    let dir = scratch("summary_spread");
    let old = summary_run(&dir.join("old.json"), 2_000_000.0, 2.0, 6.0);
    let new = summary_run(&dir.join("new.json"), 1_700_000.0, 2.0, 6.0);
    let (code, out, _) = gate(&old, &new, &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = gate(&old, &new, &["--threshold", "5"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn missing_and_new_benchmarks_are_reported_but_pass() {
    let dir = scratch("missing");
    let old = write_summary(
        &dir.join("old.json"),
        vec![
            row("jsonwire_raw", 2e6, Some(2.0), None),
            row("sqlx", 9e5, Some(3.0), None),
        ],
    );
    let new = write_summary(
        &dir.join("new.json"),
        vec![
            row("jsonwire_raw", 2e6, None, None),
            row("jsonwire_typed", 1.8e6, Some(2.1), None),
        ],
    );
    let (code, out, err) = gate(&old, &new, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("| throughput/1m/sqlx | rows_per_sec | 900.0 krows/s | — | — | missing |"),
        "{out}"
    );
    assert!(
        out.contains("| throughput/1m/jsonwire_raw | ttfr_ms | 2.000 ms | — | — | missing |"),
        "{out}"
    );
    assert!(
        out.contains(
            "| throughput/1m/jsonwire_typed | rows_per_sec | — | 1.800 Mrows/s | — | new |"
        ),
        "{out}"
    );
    assert!(out.contains("**Missing:** `throughput/1m/jsonwire_raw` (ttfr_ms), `throughput/1m/sqlx` (rows_per_sec), `throughput/1m/sqlx` (ttfr_ms)"), "{out}");
    assert!(out.ends_with("gate: 0 regressions\n"), "{out}");

    let (code, out, _) = gate(&old, &new, &["--fail-on-missing"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("3 figures missing from the current run (--fail-on-missing)"),
        "{out}"
    );
    assert!(out.ends_with("gate: 0 regressions\n"), "{out}");
}

#[test]
fn malformed_summary_exits_2_naming_the_file() {
    let dir = scratch("malformed_summary");
    let good = summary_run(&dir.join("good.json"), 2e6, 2.0, 1.0);
    let bad = dir.join("broken-summary.json");
    fs::write(
        &bad,
        r#"{"schema":1,"groups":[{"name":"throughput","rows":[{"id":"#,
    )
    .unwrap();
    let (code, out, err) = gate(&good, &bad, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("{}: not a valid summary.json", bad.display())),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
}

#[test]
fn malformed_criterion_estimates_exit_2_naming_the_file() {
    let dir = scratch("malformed_criterion");
    let good = criterion_run(&dir.join("good"), 1.0, 1.0);
    let bad = criterion_run(&dir.join("bad"), 1.0, 1.0);
    let broken = bad.join("scram_client_proof/new/estimates.json");
    fs::write(&broken, r#"{"mean":{"point_estimate":"fast"}}"#).unwrap();
    let (code, _, err) = gate(&bad, &good, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{}: not a valid criterion estimates.json",
            broken.display()
        )),
        "{err}"
    );
}

#[test]
fn unsupported_schema_version_exits_2() {
    let dir = scratch("schema_version");
    let good = summary_run(&dir.join("good.json"), 2e6, 2.0, 1.0);
    let future = dir.join("future.json");
    let text = fs::read_to_string(&good)
        .unwrap()
        .replacen(r#""schema": 1"#, r#""schema": 2"#, 1);
    fs::write(&future, text).unwrap();
    let (code, _, err) = gate(&good, &future, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("summary.json schema 2 is not supported"),
        "{err}"
    );
}

#[test]
fn unusable_inputs_and_flags_exit_2() {
    let dir = scratch("usage");
    let summary = summary_run(&dir.join("summary.json"), 2e6, 2.0, 1.0);
    let criterion = criterion_run(&dir.join("criterion"), 1.0, 1.0);
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();

    let (code, _, err) = gate(&criterion, &summary, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot compare"), "{err}");

    let (code, _, err) = gate(&criterion, &empty, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}: no criterion results found", empty.display())),
        "{err}"
    );

    let (code, _, err) = gate(&criterion, &dir.join("nowhere"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nowhere: cannot read"), "{err}");

    let (code, _, err) = gate(&criterion, &criterion, &["--threshold", "ten"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--threshold \"ten\" is not a number"), "{err}");

    let (code, _, err) = gate(&criterion, &criterion, &["--verbose"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unexpected argument \"--verbose\""), "{err}");

    let status = Command::new(env!("CARGO_BIN_EXE_jsonwire-benchgate"))
        .arg("--current")
        .arg(&criterion)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&status.stderr).contains("--baseline is required"));
}

/// Writes an instruction-count file as `--collect-callgrind` does.
fn instruction_counts(path: &Path, counts: &[(&str, u64)]) {
    let counts: std::collections::BTreeMap<String, u64> =
        counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let json = jsonwire_benchgate::callgrind::to_json(&counts);
    fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

#[test]
fn instruction_counts_fail_past_2_percent_and_name_the_benchmark() {
    let dir = scratch("instruction_counts");
    let (base, same, slower, within) = (
        dir.join("base.json"),
        dir.join("same.json"),
        dir.join("slower.json"),
        dir.join("within.json"),
    );
    let value = "callgrind::rows::decode_100k value";
    let raw = "callgrind::rows::decode_100k raw";
    instruction_counts(&base, &[(raw, 80_000_000), (value, 2_000_000_000)]);
    instruction_counts(&same, &[(raw, 80_000_000), (value, 2_000_000_000)]);
    instruction_counts(&slower, &[(raw, 80_000_000), (value, 2_050_000_000)]);
    instruction_counts(&within, &[(raw, 81_000_000), (value, 2_030_000_000)]);

    let (code, out, _) = gate(&base, &same, &["--threshold", "2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("gate: 0 regressions"), "{out}");

    let (code, out, _) = gate(&base, &within, &["--threshold", "2"]);
    assert_eq!(
        code, 0,
        "1.25% and 1.5% more instructions are within 2%: {out}"
    );

    let (code, out, _) = gate(&base, &slower, &["--threshold", "2"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("`{value}` (instructions +2.5%)")),
        "{out}"
    );
    assert!(!out.contains(&format!("`{raw}`")), "{out}");
    assert!(out.contains("gate: 1 regressions"), "{out}");
}
