//! fraiseql-wire 2.19.0, measured by a binary of its own build (`benches/peers/fraiseql`).
//!
//! fraiseql-wire enables serde_json's `preserve_order` feature; cargo unifies features within
//! one build, so compiling it into the benchmark would turn every client's `serde_json::Value`
//! into an insertion-ordered map. Its package therefore sits outside the workspace with its own
//! `Cargo.lock`, and its binary (`jsonwire-peer-fraiseql URL VIEW RUNS`) streams a view the
//! given number of times, one connection per run (`FraiseClient::query` consumes the client),
//! measuring each run inside its own process: rows, elapsed, time to first row, CPU (`getrusage`)
//! and peak heap (the same counting allocator as this build). It prints one JSON line per run,
//! which [`FraiseqlPeer::run`] turns into [`Sample`]s for the report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::measure::Sample;

/// The report's client name of its rows: rows parsed into `serde_json::Value`, the only form
/// fraiseql-wire's streams yield.
pub const CLIENT: &str = "fraiseql_value";

/// The peer's package, relative to the workspace.
pub const PACKAGE_DIR: &str = "benches/peers/fraiseql";

/// The binary's name.
pub const BINARY: &str = "jsonwire-peer-fraiseql";

/// How to build the binary, from the workspace.
pub const BUILD_COMMAND: &str =
    "cargo build --release --manifest-path benches/peers/fraiseql/Cargo.toml";

/// The environment variable that names the binary, overriding the places it is looked for.
pub const BINARY_ENV: &str = "JSONWIRE_PEER_FRAISEQL";

/// The peer's binary, found.
#[derive(Debug, Clone)]
pub struct FraiseqlPeer {
    binary: PathBuf,
}

/// What one invocation of the binary measured.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// The binary's description of its build (`fraiseql-wire 2.19.0, chunk_size 256, serde_json
    /// preserve_order on`).
    pub build: String,
    /// One sample per run, in order; rows are as received (check them against
    /// `bench_expected`), `bytes` is 0 (the peer yields parsed values, not text).
    pub samples: Vec<Sample>,
}

impl FraiseqlPeer {
    /// Finds the binary: `$JSONWIRE_PEER_FRAISEQL`, else `release/jsonwire-peer-fraiseql` under
    /// `$CARGO_TARGET_DIR` (where [`BUILD_COMMAND`] puts it when that is set), else under the
    /// package's own `target/`.
    ///
    /// # Errors
    /// No binary at any of those places: the message names them and the build command.
    pub fn locate(workspace: &Path) -> Result<FraiseqlPeer, String> {
        if let Some(path) = std::env::var_os(BINARY_ENV).filter(|p| !p.is_empty()) {
            let binary = PathBuf::from(path);
            return if binary.is_file() {
                Ok(FraiseqlPeer { binary })
            } else {
                Err(format!(
                    "{BINARY_ENV}={} is not a file; build the peer with `{BUILD_COMMAND}`",
                    binary.display()
                ))
            };
        }
        let mut tried = Vec::new();
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
            tried.push(workspace.join(target).join("release").join(BINARY));
        }
        tried.push(
            workspace
                .join(PACKAGE_DIR)
                .join("target/release")
                .join(BINARY),
        );
        match tried.iter().find(|p| p.is_file()) {
            Some(binary) => Ok(FraiseqlPeer {
                binary: binary.clone(),
            }),
            None => Err(format!(
                "no {BINARY} binary at {}; build it with `{BUILD_COMMAND}` (it is a build of its \
                 own, outside the workspace) or name it in {BINARY_ENV}",
                tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        }
    }

    /// The binary's path.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Streams `view` `runs` times against `url` (a `postgres://` URL).
    ///
    /// # Errors
    /// The binary cannot be started, exits with a failure (its stderr is in the message), or
    /// prints something that is not its figures.
    pub fn run(&self, url: &str, view: &str, runs: u32) -> Result<PeerRun, String> {
        let out = Command::new(&self.binary)
            .args([url, view, &runs.to_string()])
            .output()
            .map_err(|e| format!("{} could not be started: {e}", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{} {view} {runs} failed ({}): {}",
                self.binary.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        parse_output(&stdout, runs).map_err(|e| format!("{}: {e}", self.binary.display()))
    }
}

/// Reads the binary's output: a build line, then `runs` run lines.
fn parse_output(stdout: &str, runs: u32) -> Result<PeerRun, String> {
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let first: Value = lines
        .next()
        .ok_or("printed nothing")
        .and_then(|l| serde_json::from_str(l).map_err(|_| "its first line is not JSON"))?;
    let build = first.get("build").ok_or("its first line names no build")?;
    let text = |k: &str| build.get(k).map(|v| v.to_string().replace('"', ""));
    let build = format!(
        "{} {}, chunk_size {}, serde_json preserve_order {}",
        text("client").unwrap_or_default(),
        text("version").unwrap_or_default(),
        text("chunk_size").unwrap_or_default(),
        match build
            .get("serde_json_preserve_order")
            .and_then(Value::as_bool)
        {
            Some(true) => "on",
            Some(false) => "off",
            None => "unknown",
        }
    );
    let samples = lines
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .map_err(|e| format!("a run line is not JSON ({e}): {l}"))?;
            sample(&v).ok_or_else(|| format!("a run line lacks a figure: {l}"))
        })
        .collect::<Result<Vec<Sample>, String>>()?;
    if samples.len() != runs as usize {
        return Err(format!(
            "printed {} runs, {runs} were asked for",
            samples.len()
        ));
    }
    Ok(PeerRun { build, samples })
}

/// Whether this build's `serde_json::Map` keeps insertion order (serde_json's
/// `preserve_order`): off in the benchmark's own build, on in the peer's.
pub fn preserve_order() -> bool {
    serde_json::from_str::<Value>(r#"{"b":0,"a":0}"#)
        .ok()
        .and_then(|v| v.as_object()?.keys().next().map(|k| k == "b"))
        .unwrap_or(false)
}

fn sample(v: &Value) -> Option<Sample> {
    let ms = |k: &str| {
        v.get(k)
            .and_then(Value::as_f64)
            .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1e3))
    };
    let elapsed = ms("elapsed_ms")?;
    Some(Sample {
        timed: elapsed,
        elapsed,
        ttfr: ms("ttfr_ms"),
        rows: v.get("rows")?.as_u64()?,
        cpu: ms("cpu_ms")?,
        peak_heap: v.get("peak_heap_bytes")?.as_u64()?,
        ..Sample::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = r#"{"build":{"client":"fraiseql-wire","version":"2.19.0","chunk_size":256,"serde_json_preserve_order":true}}
{"rows":1000,"elapsed_ms":16.3,"ttfr_ms":7.4,"cpu_ms":10.5,"peak_heap_bytes":686335,"run":1}
{"rows":1000,"elapsed_ms":19.2,"ttfr_ms":null,"cpu_ms":12.3,"peak_heap_bytes":583768,"run":2}
"#;

    #[test]
    fn the_peers_lines_become_samples_and_a_build() {
        let run = parse_output(OUTPUT, 2).unwrap();
        assert_eq!(
            run.build,
            "fraiseql-wire 2.19.0, chunk_size 256, serde_json preserve_order on"
        );
        assert_eq!(run.samples.len(), 2);
        let s = &run.samples[0];
        assert_eq!((s.rows, s.peak_heap), (1000, 686_335));
        assert_eq!(s.elapsed, Duration::from_secs_f64(0.0163));
        assert_eq!(s.timed, s.elapsed);
        assert_eq!(s.cpu, Duration::from_secs_f64(0.0105));
        assert_eq!(run.samples[1].ttfr, None);
    }

    #[test]
    fn this_build_keeps_serde_json_without_preserve_order() {
        assert!(
            !preserve_order(),
            "a peer's features leaked into this build"
        );
    }

    #[test]
    fn missing_runs_or_figures_are_errors_that_say_so() {
        let e = parse_output(OUTPUT, 3).unwrap_err();
        assert!(e.contains("printed 2 runs, 3 were asked for"), "{e}");
        let e = parse_output(&OUTPUT.replace(r#""cpu_ms":12.3,"#, ""), 2).unwrap_err();
        assert!(e.contains("lacks a figure"), "{e}");
        assert!(parse_output("", 1).unwrap_err().contains("printed nothing"));
    }
}
