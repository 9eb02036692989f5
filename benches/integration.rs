//! The integration tier of the jsonwire benchmarks: three clients against a real Postgres.
//!
//! `cargo bench --features bench-with-postgres --bench integration`; see BENCHMARKING.md.
//!
//! jsonwire (raw, `Value`, typed), tokio-postgres (`query_raw`: borrowed raw bytes, `Value`,
//! `Json<T>`) and a raw-socket reader (the server + socket limit) read the same views side by
//! side in one process and one run. Criterion times each benchmark; CPU, peak heap, time to
//! first row, latency percentiles and spread are recorded around the same iterations, and the
//! run ends by writing `target/jsonwire-bench/summary.{md,json}`, the charts (`chart-*.svg`) and
//! `report.html`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use criterion::Criterion;
use jsonwire_benches::measure::Recorder;
use jsonwire_benches::peers::fraiseql::{self, FraiseqlPeer};
use jsonwire_benches::report::{self, Area};
use jsonwire_benches::server::{report_dir, BenchServer};
use peak_alloc::PeakAlloc;

#[path = "integration/chunk.rs"]
mod chunk;
#[path = "integration/concurrency.rs"]
mod concurrency;
#[path = "integration/connect.rs"]
mod connect;
#[path = "integration/early_exit.rs"]
mod early_exit;
#[path = "integration/harness.rs"]
mod harness;
#[path = "integration/large.rs"]
mod large;
#[path = "integration/memory.rs"]
mod memory;
#[path = "integration/pool.rs"]
mod pool;
#[path = "integration/pushdown.rs"]
mod pushdown;
#[path = "integration/stability.rs"]
mod stability;
#[path = "integration/throughput.rs"]
mod throughput;
#[path = "integration/ttfr.rs"]
mod ttfr;

/// Counts every allocation, for the peak-heap figures.
#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const AREAS: [Area; 11] = [
    Area {
        name: throughput::AREA,
        title: "1. Throughput",
        about: "Every client and mode reads the same views, 1K to 1M rows (~480 B each). \
                The raw-socket reader is the limit of server + socket; on loopback the server \
                (jsonb to text) is usually the bottleneck, so compare client CPU as well as time.",
    },
    Area {
        name: ttfr::AREA,
        title: "2. Time to first row",
        about: "From asking for the query to holding its first row. Invariant: it does not grow \
                with the result (1K vs 100K vs 1M); `slow` needs a top-N sort over 1M rows on \
                the server before its first row.",
    },
    Area {
        name: connect::AREA,
        title: "3. Connection set-up",
        about: "From nothing to ready for queries (the only timed connection). One row = one \
                connection. SCRAM's cost is mostly PBKDF2 (4096 rounds) on both ends.",
    },
    Area {
        name: memory::AREA,
        title: "4. Memory",
        about: "Peak heap while streaming. Invariant: jsonwire's peak follows its read buffer, \
                not the result size (10K and 1M rows peak the same).",
    },
    Area {
        name: chunk::AREA,
        title: "5. Chunk strategy",
        about: "jsonwire per read-buffer size in each stream mode (raw rows, where the server \
                is the slower side; rows parsed into Value, where the client is and data \
                queues in the socket; typed rows), per `next_chunk(max_rows, max_bytes)` limit, and \
                binary vs text result format. The default read buffer should be within noise \
                of the cheapest setting on every curve.",
    },
    Area {
        name: pushdown::AREA,
        title: "6. Predicate pushdown",
        about: "SQL WHERE vs streaming all 100K rows of v_test_sel and filtering in Rust (parse \
                to Value, check bucket). Invariant: pushdown cuts the bytes received in \
                proportion to the selectivity (wire MB).",
    },
    Area {
        name: stability::AREA,
        title: "7. Stability",
        about: "The same big stream repeated: the spread between runs is the noise floor of \
                this machine for every other figure.",
    },
    Area {
        name: large::AREA,
        title: "8. Large documents",
        about: "10 KB, 100 KB and 1 MB documents (TOASTed and compressed on the server), every \
                client and mode.",
    },
    Area {
        name: concurrency::AREA,
        title: "9. Concurrency",
        about: "Streams at once, one connection each, queries back to back on v_test_1k; \
                elapsed = the whole batch; latency per query; errors = failed queries.",
    },
    Area {
        name: early_exit::AREA,
        title: "10. Early exit",
        about: "A big stream dropped after 1,000 rows: time from the drop until a trivial query \
                on the same connection completes. One row = one recovery.",
    },
    Area {
        name: pool::AREA,
        title: "11. Pool",
        about: "Streams of v_test_1k taken from a pool of 10 connections, jsonwire's Pool and \
                tokio-postgres with deadpool-postgres: tasks × streams each, elapsed = the \
                whole batch, latency per stream from asking the pool to the last row (the \
                wait for a connection included), errors = failed streams. exhaustion: every \
                connection of a pool of 4 checked out and 16 streams asked for with a 100 ms \
                wait timeout; one row = one waiter, latency = the time to its pool-timeout \
                error, errors = any other outcome (another error, a stream served, no answer \
                within 2 s). http50: the HTTP example (examples/http_ndjson) serving a view \
                from a pool of 10 to 50 downloads at once (HTTP/1.0 readers with 16 KiB \
                buffers in this process); peak heap is the server's plus those buffers.",
    },
];

/// A group's entry point.
type Group = fn(&mut Criterion, &harness::Ctx);

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().collect();
    let quick = std::env::var("JSONWIRE_BENCH_QUICK").is_ok_and(|v| v == "1")
        || args.iter().any(|a| a == "--quick");
    let only = match selected_groups() {
        Ok(only) => only,
        Err(e) => {
            eprintln!("integration benchmarks cannot run: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.iter().any(|a| a == "--list") {
        // Listing must not start a server, load the dataset or replace the last report: name
        // the groups that would run (criterion's per-benchmark ids need the server's answers).
        for area in AREAS {
            if only.as_ref().is_none_or(|only| only.contains(&area.name)) {
                println!("{}/: benchmark group ({})", area.name, area.title);
            }
        }
        return ExitCode::SUCCESS;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The fraiseql-wire peer is a binary of its own build: find it before anything starts.
    let fraiseql = if cfg!(feature = "peer-fraiseql") {
        match FraiseqlPeer::locate(workspace) {
            Ok(peer) => Some(peer),
            Err(e) => {
                eprintln!("integration benchmarks cannot run: feature peer-fraiseql: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let server = match BenchServer::start(
        &workspace.join("setup.sql"),
        &workspace.join("benches/postgres.conf"),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("integration benchmarks cannot run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("integration benchmarks cannot run: no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // ... and see that it works against this server, before the groups spend their time.
    let peer_build = match fraiseql
        .as_ref()
        .map(|p| (p, p.run(server.url(), "v_test_1k", 1)))
    {
        Some((peer, Ok(run))) => Some(format!(
            "{} rows: another build, {} ({})",
            fraiseql::CLIENT,
            peer.binary().display(),
            run.build
        )),
        Some((_, Err(e))) => {
            eprintln!(
                "integration benchmarks cannot run: feature peer-fraiseql: the fraiseql-wire \
                 peer fails against this server: {e}"
            );
            return ExitCode::FAILURE;
        }
        None => None,
    };
    let ctx = harness::Ctx {
        rt,
        server,
        rec: Recorder::new(),
        quick,
        fraiseql,
    };
    let groups: [(&str, Group); 11] = [
        (throughput::AREA, throughput::run),
        (ttfr::AREA, ttfr::run),
        (connect::AREA, connect::run),
        (memory::AREA, memory::run),
        (chunk::AREA, chunk::run),
        (pushdown::AREA, pushdown::run),
        (stability::AREA, stability::run),
        (large::AREA, large::run),
        (concurrency::AREA, concurrency::run),
        (early_exit::AREA, early_exit::run),
        (pool::AREA, pool::run),
    ];
    let mut c = Criterion::default().configure_from_args();
    for (area, run) in groups {
        if only.as_ref().is_some_and(|only| !only.contains(&area)) {
            continue;
        }
        let t = Instant::now();
        run(&mut c, &ctx);
        eprintln!("group {area}: {:.0} s", t.elapsed().as_secs_f64());
    }
    c.final_summary();

    // The features this binary was built with, peers included.
    let features: Vec<&str> = [
        (true, "bench-with-postgres"),
        (cfg!(feature = "peer-sqlx"), "peer-sqlx"),
        (cfg!(feature = "peer-fraiseql"), "peer-fraiseql"),
    ]
    .into_iter()
    .filter_map(|(on, f)| on.then_some(f))
    .collect();
    let command = format!(
        "cargo bench --features {} --bench integration -- {}",
        features.join(","),
        args.iter()
            .skip(1)
            .filter(|a| *a != "--bench")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut setup = vec![
        format!(
            "mode: {}",
            if ctx.quick {
                "quick (small sizes, few samples)"
            } else {
                "full"
            }
        ),
        if ctx.server.is_external() {
            "server: JSONWIRE_BENCH_URL (its own settings)".to_owned()
        } else {
            let settings: Vec<String> = ctx
                .server
                .settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "server: throw-away cluster, benches/postgres.conf: {}",
                settings.join(", ")
            )
        },
    ];
    setup.extend(peer_build);
    if let Some(only) = &only {
        setup.push(format!(
            "groups: {} only (JSONWIRE_BENCH_GROUPS)",
            only.join(", ")
        ));
    }
    let report = report::build(
        &ctx.rec,
        &AREAS,
        &ctx.server.version,
        command.trim_end(),
        &setup,
        started.elapsed().as_secs_f64(),
    );
    let dir = report_dir(workspace);
    match report
        .write(&dir)
        .and_then(|(json, md)| Ok((report::write_charts(&dir, &json)?, md, json)))
    {
        Ok((charts, md, json)) => {
            eprintln!(
                "report: {}, {} and {} ({} charts)",
                md.display(),
                json.display(),
                charts.html.display(),
                charts.charts.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the report could not be written: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The groups named in `JSONWIRE_BENCH_GROUPS` (comma-separated areas, e.g. `chunk,memory`), in
/// the order they run; `None` when it is unset or empty: every group.
fn selected_groups() -> Result<Option<Vec<&'static str>>, String> {
    let Ok(list) = std::env::var("JSONWIRE_BENCH_GROUPS") else {
        return Ok(None);
    };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let known: Vec<&'static str> = AREAS.iter().map(|area| area.name).collect();
    if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
        return Err(format!(
            "JSONWIRE_BENCH_GROUPS names no group {unknown:?}; the groups are {}",
            known.join(", ")
        ));
    }
    Ok(Some(
        known.into_iter().filter(|k| names.contains(k)).collect(),
    ))
}
