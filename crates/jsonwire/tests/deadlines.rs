//! Deadlines that cancel, against a real server: `query_timeout` and `Query::timeout` cover
//! the wait for the result description, every wait for rows and the end; when one fires the
//! query is cancelled on the server (pg_stat_activity shows the backend idle) and the
//! connection serves the next query. Dropping a jsonwire future at an await point cancels
//! too. A backend stopped with SIGSTOP is ended by the deadline, and the connection closed
//! within the drain limit.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{activity, blocking, idle_within, reused, server, wait_until, ENDLESS, SLOW_ROWS};
use jsonwire::{Client, ErrorKind};

/// The bound within which a fired deadline must show: the limit plus this.
const SLACK: Duration = Duration::from_secs(2);
/// The bound within which the server must show the query cancelled.
const BOUND: Duration = Duration::from_secs(5);

const SLEEP_30S: &str = "SELECT to_jsonb(x) FROM (SELECT 1 AS x FROM pg_sleep(30)) s";

async fn connect(extra: &str) -> Client {
    let url = server().url();
    let sep = if url.contains('?') { '&' } else { '?' };
    Client::connect(&format!("{url}{sep}{extra}"))
        .await
        .unwrap()
}

/// Reads `rows` to its end: the rows read and the error that ended it (never a clean end).
async fn read_to_error(rows: &mut jsonwire::RawStream<&mut Client>) -> (u64, jsonwire::Error) {
    let mut n = 0;
    loop {
        match rows.try_next().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("a clean end after {n} rows"),
            Err(e) => return (n, e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_a_slow_query_and_the_connection_is_reused() {
    let mut c = connect("query_timeout=500ms").await;
    let pid = c.backend_pid().unwrap();
    let started = Instant::now();
    let mut rows = c.sql(SLEEP_30S).stream_raw().await.unwrap();
    let (n, err) = read_to_error(&mut rows).await;
    let took = started.elapsed();
    assert_eq!((n, err.kind()), (0, ErrorKind::Timeout), "{err}");
    assert!(err.to_string().contains("500ms"), "{err}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(500) + SLACK,
        "{took:?}"
    );
    assert_eq!(rows.try_next().await.unwrap(), None, "the stream ended");
    drop(rows);
    idle_within(pid, BOUND).await;
    reused(&mut c, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_fires_mid_stream_while_rows_keep_arriving() {
    let mut c = common::client().await;
    let pid = c.backend_pid().unwrap();
    let limit = Duration::from_secs(2);
    let started = Instant::now();
    let mut rows = c.sql(ENDLESS).timeout(limit).stream_raw().await.unwrap();
    let (n, err) = read_to_error(&mut rows).await;
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(n > 0, "no row before the deadline ({took:?})");
    assert!(took < limit + SLACK, "{took:?}");
    drop(rows);
    idle_within(pid, BOUND).await;
    reused(&mut c, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_query_timeout_turns_the_default_off() {
    let mut c = connect("query_timeout=200ms").await;
    let mut rows = c
        .sql("SELECT to_jsonb(x) FROM (SELECT 1 AS x FROM pg_sleep(0.5)) s")
        .timeout(Duration::ZERO)
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "1");
    assert_eq!(rows.try_next().await.unwrap(), None);
}

/// A table locked by another session: a query of it waits in Parse, before any description.
async fn locked_table(name: &str) -> Client {
    let mut holder = common::client().await;
    holder
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (data jsonb)"
        ))
        .await
        .unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_covers_the_wait_for_the_description() {
    let mut holder = locked_table("jw_locked_a").await;
    let mut c = common::client().await;
    let pid = c.backend_pid().unwrap();
    let started = Instant::now();
    let err = c
        .sql("SELECT data FROM jw_locked_a")
        .timeout(Duration::from_millis(300))
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_millis(300) + SLACK);
    // The lock wait was cancelled while the lock is still held.
    idle_within(pid, BOUND).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    reused(&mut c, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_raw_future_while_it_waits_cancels_the_query() {
    let mut holder = locked_table("jw_locked_b").await;
    let mut c = common::client().await;
    let pid = c.backend_pid().unwrap();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(300),
        c.sql("SELECT data FROM jw_locked_b").stream_raw(),
    )
    .await
    .is_err();
    assert!(timed_out, "the query should still wait for the lock");
    idle_within(pid, BOUND).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    reused(&mut c, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_batch_execute_or_timing_it_out_cancels_the_statement() {
    let mut c = common::client().await;
    let pid = c.backend_pid().unwrap();
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        c.batch_execute("SELECT pg_sleep(30)"),
    )
    .await;
    assert!(waited.is_err());
    idle_within(pid, BOUND).await;
    reused(&mut c, pid).await;

    let mut c = connect("query_timeout=300ms").await;
    let pid = c.backend_pid().unwrap();
    let err = c.batch_execute("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    idle_within(pid, BOUND).await;
    reused(&mut c, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_cancel_in_progress_leaves_the_recovery_running() {
    let mut c = common::client().await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(ENDLESS).stream_raw().await.unwrap();
    rows.try_next().await.unwrap().unwrap();
    // The cancel future is dropped at its first await; the recovery goes on without it.
    let _ = tokio::time::timeout(Duration::from_millis(1), rows.cancel()).await;
    idle_within(pid, BOUND).await;
    reused(&mut c, pid).await;
}

fn signal(pid: i32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_backend_is_ended_by_the_deadline_and_the_connection_closed() {
    let mut c = connect("query_timeout=1s&drain_timeout=1s&application_name=jw_sigstop").await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(SLOW_ROWS).stream_raw().await.unwrap();
    rows.try_next().await.unwrap().unwrap();
    signal(pid, "-STOP");
    let started = Instant::now();
    let outcome =
        tokio::time::timeout(Duration::from_secs(1) + SLACK, read_to_error(&mut rows)).await;
    drop(rows);
    // The stopped backend cannot answer the cancel: the drain gives up after 1 s and closes
    // the connection. (Continued before that, it would take the cancel and be reused.)
    let next = tokio::time::timeout(BOUND, c.sql("SELECT '1'::jsonb").stream_raw())
        .await
        .map(|r| r.map(drop));
    signal(pid, "-CONT");
    let (_, err) = outcome.expect("the stream hung past its deadline");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let err = next.expect("the next query hung").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(started.elapsed() < BOUND);
    // Continued, the backend finds its client gone and exits.
    let gone = blocking(move || wait_until(BOUND, || activity(pid).is_empty())).await;
    assert!(
        gone,
        "backend left behind: {}",
        blocking(move || activity(pid)).await
    );
}
