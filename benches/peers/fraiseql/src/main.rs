//! fraiseql-wire 2.19.0 streaming one view N times, each run measured inside this process, for
//! the jsonwire integration tier (which runs this binary beside its own clients, against the
//! same server, in the same run).
//!
//! ```text
//! jsonwire-peer-fraiseql URL VIEW RUNS [CHUNK_SIZE]
//! ```
//!
//! Per run: connect (`FraiseClient::connect(URL)`, outside the measured window, since
//! `FraiseClient::query` consumes the client), then `client.query::<Value>(VIEW)
//! .chunk_size(CHUNK_SIZE).execute()` and every row read to the end. stdout gets one JSON
//! object per line: first the build (`"build"`), then one per run with `rows`, `elapsed_ms`
//! (from asking for the query to its last row), `ttfr_ms` (to its first row), `cpu_ms` (user +
//! system time of this process, every thread, `getrusage`, in that window) and
//! `peak_heap_bytes` (the most heap held at once in that window above the level before the
//! connection was made, from a counting global allocator). Errors go to stderr with a non-zero
//! exit status.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fraiseql_wire::FraiseClient;
use futures_util::StreamExt as _;
use peak_alloc::PeakAlloc;
use serde_json::{json, Value};

/// Counts every allocation, for `peak_heap_bytes` (the integration tier measures its own
/// clients with the same allocator).
#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// fraiseql-wire's default chunk size (`QueryBuilder::chunk_size`).
const DEFAULT_CHUNK_SIZE: usize = 256;

/// The fraiseql-wire version `Cargo.toml` pins.
const FRAISEQL_WIRE: &str = "2.19.0";

const USAGE: &str = "usage: jsonwire-peer-fraiseql URL VIEW RUNS [CHUNK_SIZE]\n\
    streams VIEW (a table or view with a json/jsonb column `data`) RUNS times through \
    fraiseql-wire and prints one JSON line per run";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, view, runs, chunk_size) = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("jsonwire-peer-fraiseql: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jsonwire-peer-fraiseql: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{}",
        json!({
            "build": {
                "client": "fraiseql-wire",
                "version": FRAISEQL_WIRE,
                "chunk_size": chunk_size,
                "serde_json_preserve_order": preserve_order(),
            }
        })
    );
    for run in 1..=runs {
        match rt.block_on(one_run(url, view, chunk_size)) {
            Ok(figures) => {
                let mut line = figures;
                line["run"] = json!(run);
                println!("{line}");
            }
            Err(e) => {
                eprintln!("jsonwire-peer-fraiseql: run {run} of {view}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn parse_args(args: &[String]) -> Result<(&str, &str, u32, usize), String> {
    let [url, view, runs, rest @ ..] = args else {
        return Err("expected URL, VIEW and RUNS".to_owned());
    };
    let runs: u32 = runs
        .parse()
        .map_err(|_| format!("RUNS must be a positive number, not {runs:?}"))?;
    let chunk_size = match rest {
        [] => DEFAULT_CHUNK_SIZE,
        [size] => size
            .parse()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| format!("CHUNK_SIZE must be a positive number, not {size:?}"))?,
        _ => return Err("too many arguments".to_owned()),
    };
    if runs == 0 {
        return Err("RUNS must be at least 1".to_owned());
    }
    Ok((url, view, runs, chunk_size))
}

/// One connection and one query of `view` read to its end; the figures of its window.
async fn one_run(url: &str, view: &str, chunk_size: usize) -> Result<Value, String> {
    let heap_base = HEAP.current_usage() as u64;
    let client = FraiseClient::connect(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;

    HEAP.reset_peak_usage();
    let cpu0 = cpu_time();
    let started = Instant::now();
    let mut rows = client
        .query::<Value>(view)
        .chunk_size(chunk_size)
        .execute()
        .await
        .map_err(|e| format!("query: {e}"))?;
    let mut n = 0u64;
    let mut ttfr = None;
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| format!("row {}: {e}", n + 1))?;
        ttfr.get_or_insert_with(|| started.elapsed());
        n += 1;
        black_box(&row);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let peak_heap = (HEAP.peak_usage() as u64).saturating_sub(heap_base);
    drop(rows);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(json!({
        "rows": n,
        "elapsed_ms": ms(elapsed),
        "ttfr_ms": ttfr.map(ms),
        "cpu_ms": ms(cpu),
        "peak_heap_bytes": peak_heap,
    }))
}

/// This process's CPU time so far (user + system, every thread).
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// Whether this build's `serde_json::Map` keeps insertion order (serde_json's `preserve_order`
/// feature, which fraiseql-wire turns on): the reason this peer has a build of its own.
fn preserve_order() -> bool {
    serde_json::from_str::<Value>(r#"{"b":0,"a":0}"#)
        .ok()
        .and_then(|v| v.as_object()?.keys().next().map(|k| k == "b"))
        .unwrap_or(false)
}
