//! Thousands of queries mixing complete, dropped, cancelled, timed-out and failed streams on
//! one client leave nothing behind: no extra backend (pg_stat_activity), no open file
//! descriptor, no tokio task, and heap growth under a small bound. Alone in its binary, with
//! one test, so that the process-wide counters belong to it.
//!
//! `JSONWIRE_LEAK_QUERIES` sets the number of queries (default 250, what `cargo test` and
//! `.ci/run` run; the nightly workflow runs 10,000).

mod common;

use std::time::{Duration, Instant};

use common::{server, wait_until};
use jsonwire::{Client, ErrorKind};
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const APP: &str = "jw_leak";

/// Open descriptors as (timers, others). A client creates its pacing timer (a timerfd) at its
/// first paced read and keeps it for its life, so whether the warm-up made one depends on
/// timing: the timers are counted apart and bounded by one per client.
fn open_fds() -> (usize, usize) {
    let mut timers = 0;
    let mut others = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let target = std::fs::read_link(entry.unwrap().path()).unwrap_or_default();
        if target.to_string_lossy() == "anon_inode:[timerfd]" {
            timers += 1;
        } else {
            others += 1;
        }
    }
    (timers, others)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

fn backends() -> usize {
    server()
        .psql_output(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP}'"
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// How each kind of query ended, counted.
#[derive(Debug, Default)]
struct Tally {
    complete: u64,
    dropped: u64,
    cancelled: u64,
    timed_out: u64,
    failed: u64,
}

const MANY: &str = "SELECT to_jsonb(i) FROM generate_series(1, 1000000) i";

async fn one(c: &mut Client, i: u64, tally: &mut Tally) {
    match i % 5 {
        0 => {
            let mut rows = c
                .sql("SELECT to_jsonb(i) FROM generate_series(1, 100) i")
                .stream_raw()
                .await
                .unwrap();
            let mut n = 0;
            while rows.try_next().await.unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, 100, "query {i}");
            tally.complete += 1;
        }
        1 => {
            let mut rows = c.sql(MANY).stream_raw().await.unwrap();
            rows.try_next()
                .await
                .unwrap_or_else(|e| panic!("query {i}: {e}"))
                .unwrap();
            drop(rows);
            tally.dropped += 1;
        }
        2 => {
            let mut rows = c.sql(MANY).stream_raw().await.unwrap();
            rows.try_next().await.unwrap().unwrap();
            rows.cancel().await.unwrap();
            tally.cancelled += 1;
        }
        3 => {
            // On a busy machine the deadline may pass before the description arrives.
            let err = match c
                .sql("SELECT to_jsonb(x) FROM (SELECT 1 AS x FROM pg_sleep(10)) s")
                .timeout(Duration::from_millis(20))
                .stream_raw()
                .await
            {
                Ok(mut rows) => rows.try_next().await.unwrap_err(),
                Err(e) => e,
            };
            assert_eq!(err.kind(), ErrorKind::Timeout, "query {i}: {err}");
            tally.timed_out += 1;
        }
        _ => {
            let mut rows = c
                .sql("SELECT to_jsonb(1 / (50 - i)) FROM generate_series(1, 100) i")
                .stream_raw()
                .await
                .unwrap();
            let err = loop {
                match rows.try_next().await {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("query {i}: a clean end"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.code(), Some("22012"), "query {i}: {err}");
            tally.failed += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_queries_leak_no_backend_fd_task_or_memory() {
    let total: u64 = std::env::var("JSONWIRE_LEAK_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let warmup = 50.min(total);
    let started = Instant::now();
    let url = format!("{}?application_name={APP}", server().url());
    let mut c = Client::connect(&url).await.unwrap();
    let mut tally = Tally::default();
    for i in 0..warmup {
        one(&mut c, i, &mut tally).await;
    }
    // Waits for the last background recovery, so the baseline is an idle client.
    c.batch_execute("SELECT 1").await.unwrap();
    let (heap, fds, tasks) = (ALLOC.current_usage(), open_fds(), alive_tasks());
    let backends_before = tokio::task::spawn_blocking(backends).await.unwrap();

    for i in warmup..total {
        one(&mut c, i, &mut tally).await;
    }
    c.batch_execute("SELECT 1").await.unwrap();
    // Cancel requests that the drain no longer waited for end on their own, within ms.
    let settled = wait_until(Duration::from_secs(5), || alive_tasks() <= tasks);
    let heap_growth = ALLOC.current_usage() as i64 - heap as i64;
    let backends_after = tokio::task::spawn_blocking(backends).await.unwrap();
    let report = format!(
        "{total} queries in {:?}: {tally:?}; heap {heap} -> {} bytes ({heap_growth:+}), \
         (timerfds, other fds) {fds:?} -> {:?}, tokio tasks {tasks} -> {}, \
         backends {backends_before} -> {backends_after}",
        started.elapsed(),
        ALLOC.current_usage(),
        open_fds(),
        alive_tasks()
    );
    println!("{report}");
    assert!(settled, "tasks left running: {report}");
    let ((timers_before, others_before), (timers, others)) = (fds, open_fds());
    assert_eq!(others, others_before, "{report}");
    assert!(
        timers_before <= 1 && timers <= 1,
        "more than one pacing timer: {report}"
    );
    // An idle client keeps one read buffer of up to its read size: 64 KiB after a response
    // read eagerly, the full read_buffer_size after one long enough to be paced. Which kind
    // came last depends on timing (how far a dropped stream's drain got), so the heap may
    // move by that much between the two measurements; anything beyond it is a leak.
    let read_buffer = jsonwire::Config::parse(&url)
        .unwrap()
        .get_read_buffer_size() as i64;
    assert!(heap_growth < 256 * 1024 + read_buffer, "{report}");
    assert_eq!(
        tally.complete + tally.dropped + tally.cancelled + tally.timed_out + tally.failed,
        total
    );
    let pid = c.backend_pid().unwrap();
    assert_eq!((backends_before, backends_after), (1, 1), "{report}");
    c.close().await;
    let none =
        tokio::task::spawn_blocking(|| wait_until(Duration::from_secs(5), || backends() == 0))
            .await
            .unwrap();
    assert!(none, "backend {pid} left behind");
    assert_eq!(
        open_fds().0,
        0,
        "the closed client's pacing timer is still open"
    );
}
