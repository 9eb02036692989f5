//! `jsonwire-benchgate`: fails when a benchmark regressed between two result sets.
//!
//! See the library documentation for the inputs and the rule.

use std::path::PathBuf;
use std::process::ExitCode;

use jsonwire_benchgate::{compare, load, Source, Verdict, DEFAULT_THRESHOLD_PCT};

const USAGE: &str = "\
usage: jsonwire-benchgate --baseline <dir-or-file> --current <dir-or-file>
                          [--threshold <percent>] [--fail-on-missing]
       jsonwire-benchgate --collect-callgrind <gungraun-json-output> --out <file>

Compares two benchmark result sets: criterion output directories (target/criterion),
integration-tier summary.json files, or instruction-count files of the Callgrind tier, both
of the same kind. --collect-callgrind writes an instruction-count file from gungraun's
`--output-format=json` lines. Prints a markdown table and
`gate: N regressions`; exits 1 if a figure is worse than the baseline by more than the
threshold (default 10) beyond its noise, 2 if an input cannot be read.";

struct Args {
    baseline: PathBuf,
    current: PathBuf,
    threshold_pct: f64,
    fail_on_missing: bool,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().is_some_and(|a| a == "--collect-callgrind") {
        return collect_callgrind(&argv[1..]);
    }
    let args = match parse_args(argv.into_iter()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("jsonwire-benchgate: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (baseline, current) = match (load(&args.baseline), load(&args.current)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("jsonwire-benchgate: {e}");
            return ExitCode::from(2);
        }
    };
    if baseline.source != current.source {
        let kind = |s| match s {
            Source::CriterionDir => "a criterion directory",
            Source::SummaryJson => "a summary.json",
            Source::InstructionCounts => "an instruction-count file",
        };
        eprintln!(
            "jsonwire-benchgate: cannot compare {} ({}) with {} ({})",
            args.baseline.display(),
            kind(baseline.source),
            args.current.display(),
            kind(current.source)
        );
        return ExitCode::from(2);
    }

    let report = compare(&baseline.figures, &current.figures, args.threshold_pct);
    print!("{}", report.to_markdown());
    let regressions = report.with_verdict(Verdict::Regressed).count();
    let missing = report.with_verdict(Verdict::Missing).count();
    if args.fail_on_missing && missing > 0 {
        println!("\n{missing} figures missing from the current run (--fail-on-missing)");
    }
    println!("\ngate: {regressions} regressions");
    if report.passes(args.fail_on_missing) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `Ok(None)` asks for the usage text.
fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut baseline, mut current, mut threshold, mut fail_on_missing) = (None, None, None, false);
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--baseline" => baseline = Some(PathBuf::from(value()?)),
            "--current" => current = Some(PathBuf::from(value()?)),
            "--threshold" => {
                let v = value()?;
                let pct: f64 = v
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| format!("--threshold {v:?} is not a number of percent"))?;
                if !(pct.is_finite() && pct >= 0.0) {
                    return Err(format!("--threshold {v:?} must be zero or more"));
                }
                threshold = Some(pct);
            }
            "--fail-on-missing" if inline.is_none() => fail_on_missing = true,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(Some(Args {
        baseline: baseline.ok_or("--baseline is required")?,
        current: current.ok_or("--current is required")?,
        threshold_pct: threshold.unwrap_or(DEFAULT_THRESHOLD_PCT),
        fail_on_missing,
    }))
}

/// `--collect-callgrind <gungraun output> --out <file>`.
fn collect_callgrind(argv: &[String]) -> ExitCode {
    let (input, out) = match argv {
        [input, flag, out] if flag == "--out" => (PathBuf::from(input), PathBuf::from(out)),
        _ => {
            eprintln!("jsonwire-benchgate: --collect-callgrind <gungraun-json-output> --out <file>\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("jsonwire-benchgate: {}: cannot read: {e}", input.display());
            return ExitCode::from(2);
        }
    };
    let counts = match jsonwire_benchgate::callgrind::collect(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jsonwire-benchgate: {}: {e}", input.display());
            return ExitCode::from(2);
        }
    };
    let json = jsonwire_benchgate::callgrind::to_json(&counts);
    let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("jsonwire-benchgate: {}: cannot write: {e}", out.display());
        return ExitCode::from(2);
    }
    for (name, n) in &counts {
        println!("{name}: {n} instructions");
    }
    ExitCode::SUCCESS
}
