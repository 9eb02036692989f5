//! Shared helpers: every test binary talks to one throw-away cluster.
#![allow(dead_code)]

pub mod fake;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jsonwire::Client;
use jsonwire_testkit::PgServer;

/// The binary's shared cluster, with the fixtures every test may read.
pub fn server() -> &'static PgServer {
    static FIXTURES: OnceLock<()> = OnceLock::new();
    let server = PgServer::shared().unwrap_or_else(|e| panic!("no Postgres for the tests: {e}"));
    FIXTURES.get_or_init(|| {
        server
            .run_sql(include_str!("fixtures.sql"))
            .unwrap_or_else(|e| panic!("loading fixtures: {e}"))
    });
    server
}

/// A client connected as the superuser over TCP.
pub async fn client() -> Client {
    Client::connect(&server().url())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:#}"))
}

/// About 10 GB of rows, produced lazily (a set-returning function in the select list streams;
/// one in FROM would be materialized first).
pub const ENDLESS: &str = "SELECT jsonb_build_object('i', i, 'pad', repeat('x', 200)) \
                           FROM (SELECT generate_series(1, 50000000) AS i) s";

/// Rows that arrive slowly, a few milliseconds apart: the backend spends its time in
/// pg_sleep, not blocked writing to the client, so a signal reaches it at once.
pub const SLOW_ROWS: &str =
    "SELECT jsonb_build_object('i', i, 'z', (SELECT 0 FROM pg_sleep(0.005))) \
                             FROM generate_series(1, 100000) i";

/// Runs `f` (psql, a wait on pg_stat_activity) off the async worker threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Waits until the backend `pid` is idle (its query cancelled or done), failing after `limit`.
pub async fn idle_within(pid: i32, limit: Duration) {
    let idle = blocking(move || wait_until(limit, || activity(pid).starts_with("idle|"))).await;
    assert!(
        idle,
        "backend still busy: {}",
        blocking(move || activity(pid)).await
    );
}

/// The client runs a query again, on the same backend `pid`.
pub async fn reused(c: &mut Client, pid: i32) {
    let mut rows = c
        .sql("SELECT '\"again\"'::jsonb")
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "\"again\"");
    assert_eq!(rows.try_next().await.unwrap(), None);
    drop(rows);
    assert_eq!(c.backend_pid(), Some(pid), "the same connection is reused");
}

/// An error and each of its causes, joined by ": " as error reporters print them (anyhow's
/// `{:#}`): the text a user reads, whatever part of the chain holds the reason.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Polls `check` every 20 ms until it returns true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// What `pg_stat_activity` says about one backend: `state|wait_event|query`, or "" if gone.
pub fn activity(pid: i32) -> String {
    server()
        .psql_output(&format!(
            "SELECT state || '|' || coalesce(wait_event, '') || '|' || query FROM pg_stat_activity WHERE pid = {pid}"
        ))
        .unwrap()
        .trim()
        .to_owned()
}
