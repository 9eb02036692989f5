//! `jsonwire-benchreport`: draws the integration benchmarks' report page from summary.json
//! files. See the library documentation.

use std::path::PathBuf;
use std::process::ExitCode;

use jsonwire_benchreport::{history, write_report, Run, DEFAULT_NIGHTS};

const USAGE: &str = "\
usage: jsonwire-benchreport [SUMMARY.json] [--instructions FILE] [--history FILE-OR-DIR]...
                            [--nights N] [--record DIR [--keep N]] [--out DIR]

Draws the charts (chart-*.svg) and report.html of the run in SUMMARY.json, with a trend over
the last N nights (default 30) of the summaries given with --history (files, or directories
of *.json). Without SUMMARY.json the newest summary of the history is drawn.
  --instructions FILE
                the instruction counts measured with this run (the Callgrind tier's
                callgrind.json, as .ci/callgrind writes it): drawn in the trend and
                recorded with the summary by --record
  --record DIR  first copy SUMMARY.json into the history directory DIR as <night>.json
                (one file per night; a later run of the same night replaces it), keeping the
                newest --keep nights (default 90); DIR is then read as history too
  --out DIR     where to write (default: the directory of SUMMARY.json)
Exits 2 when a summary cannot be read or the arguments are wrong.";

#[derive(Default)]
struct Args {
    summary: Option<PathBuf>,
    instructions: Option<PathBuf>,
    history: Vec<PathBuf>,
    nights: Option<usize>,
    record: Option<PathBuf>,
    keep: Option<usize>,
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("jsonwire-benchreport: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jsonwire-benchreport: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(mut args: Args) -> Result<(), String> {
    let mut current = match &args.summary {
        Some(path) => Some(Run::from_path(path).map_err(|e| e.to_string())?),
        None => None,
    };
    if let Some(file) = &args.instructions {
        let Some(run) = current.as_mut() else {
            return Err("--instructions needs the SUMMARY.json they were measured with".to_owned());
        };
        run.add_instructions(file).map_err(|e| e.to_string())?;
    }
    if let Some(dir) = &args.record {
        let (Some(path), Some(run)) = (&args.summary, &current) else {
            return Err("--record needs a SUMMARY.json to record".to_owned());
        };
        let to = history::record(dir, path, run, args.keep.unwrap_or(90))?;
        eprintln!("recorded {}", to.display());
        if !args.history.contains(dir) {
            args.history.push(dir.clone());
        }
    }
    let runs = history::load(&args.history).map_err(|e| e.to_string())?;
    let current = match current {
        Some(c) => c,
        None => runs
            .iter()
            .max_by(|a, b| a.generated_at.cmp(&b.generated_at))
            .cloned()
            .ok_or("no summary given: name a SUMMARY.json or a --history with summaries")?,
    };
    let out = match args.out {
        Some(out) => out,
        None => current
            .path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let written = write_report(&current, &runs, args.nights.unwrap_or(DEFAULT_NIGHTS), &out)?;
    for (_, file) in &written.charts {
        println!("{}", file.display());
    }
    for (title, why) in &written.omitted {
        eprintln!("not drawn: {title}: {why}");
    }
    println!("{}", written.html.display());
    eprintln!(
        "{} charts, trend over {} night{}",
        written.charts.len(),
        written.nights,
        if written.nights == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `Ok(None)` asks for the usage text.
fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args::default();
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
        let count = |flag: &str, v: String| -> Result<usize, String> {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag} {v:?} is not a positive whole number"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--history" => args.history.push(PathBuf::from(value()?)),
            "--instructions" => args.instructions = Some(PathBuf::from(value()?)),
            "--nights" => args.nights = Some(count("--nights", value()?)?),
            "--keep" => args.keep = Some(count("--keep", value()?)?),
            "--record" => args.record = Some(PathBuf::from(value()?)),
            "--out" => args.out = Some(PathBuf::from(value()?)),
            f if f.starts_with('-') => return Err(format!("unexpected argument {f:?}")),
            _ if args.summary.is_none() => args.summary = Some(PathBuf::from(flag)),
            other => return Err(format!("one SUMMARY.json only; also given {other:?}")),
        }
    }
    if args.keep.is_some() && args.record.is_none() {
        return Err("--keep applies to --record only".to_owned());
    }
    Ok(Some(args))
}
