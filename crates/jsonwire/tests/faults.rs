//! Faults against a real server: a terminated backend, a server stopped fast or immediately
//! and restarted, a cancel endpoint that hangs. Each case ends in a clear error or a clean
//! end within a stated bound, leaves no backend behind (pg_stat_activity), and no stream
//! ever ends "successfully" with rows missing.

mod common;

use std::time::{Duration, Instant};

use common::{activity, blocking, reused, server, wait_until, ENDLESS, SLOW_ROWS};
use jsonwire::{Client, ErrorKind};
use jsonwire_testkit::PgServer;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// The bound each fault must be reported within.
const BOUND: Duration = Duration::from_secs(5);

/// Reads `rows` to its end within [`BOUND`]: the rows read and the error that ended it.
async fn read_to_end(
    rows: &mut jsonwire::RawStream<&mut jsonwire::Client>,
) -> (u64, Option<jsonwire::Error>) {
    let work = async {
        let mut n = 0;
        loop {
            match rows.try_next().await {
                Ok(Some(_)) => n += 1,
                Ok(None) => return (n, None),
                Err(e) => return (n, Some(e)),
            }
        }
    };
    tokio::time::timeout(BOUND, work)
        .await
        .expect("the stream hung past its bound")
}

/// Backends of `app` still connected to `server`.
fn backends(server: &PgServer, app: &str) -> usize {
    server
        .psql_output(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

async fn no_backends_left(server: &'static PgServer, app: &'static str) {
    let gone = blocking(move || wait_until(BOUND, || backends(server, app) == 0)).await;
    assert!(gone, "{app}: backends left behind");
}

async fn connect(server: &PgServer, app: &str) -> Client {
    Client::connect(&format!("{}?application_name={app}", server.url()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_terminated_mid_stream_is_its_fatal_57p01() {
    let mut c = connect(server(), "jw_fault_terminate").await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(SLOW_ROWS).stream_raw().await.unwrap();
    for _ in 0..20 {
        rows.try_next().await.unwrap().unwrap();
    }
    blocking(move || {
        server()
            .run_sql(&format!("SELECT pg_terminate_backend({pid})"))
            .unwrap()
    })
    .await;
    let (n, err) = read_to_end(&mut rows).await;
    let err = err.unwrap_or_else(|| panic!("a clean end after {n} more rows"));
    assert_eq!(err.code(), Some("57P01"), "{err}");
    assert!(err.to_string().contains("administrator command"), "{err}");
    assert!(err.is_fatal());
    drop(rows);
    assert!(c.is_closed());
    no_backends_left(server(), "jw_fault_terminate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_terminated_while_idle_fails_the_next_query_with_its_reason() {
    let mut c = connect(server(), "jw_fault_idle").await;
    let pid = c.backend_pid().unwrap();
    let gone = blocking(move || {
        server()
            .run_sql(&format!("SELECT pg_terminate_backend({pid})"))
            .unwrap();
        wait_until(BOUND, || activity(pid).is_empty())
    })
    .await;
    assert!(gone);
    let started = Instant::now();
    let err = c.sql("SELECT '1'::jsonb").stream_raw().await.unwrap_err();
    assert!(started.elapsed() < BOUND);
    assert_eq!(err.code(), Some("57P01"), "{err}");
    assert!(c.is_closed());
    let err = c.sql("SELECT 1").stream_raw().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

/// A server of its own, stopped in `mode` while one client streams and another idles, then
/// restarted: the streaming client gets an error (never a clean end), the idle one a
/// closed connection on its next query, and a new client works.
async fn stop_and_restart(mode: &'static str) {
    let server: &'static PgServer = Box::leak(Box::new(PgServer::start().unwrap()));
    let app = "jw_fault_stop";
    let mut streaming = connect(server, app).await;
    let mut idle = connect(server, app).await;
    let mut rows = streaming.sql(SLOW_ROWS).stream_raw().await.unwrap();
    for _ in 0..10 {
        rows.try_next().await.unwrap().unwrap();
    }
    blocking(move || server.stop(mode).unwrap()).await;
    let (n, err) = read_to_end(&mut rows).await;
    let err = err.unwrap_or_else(|| panic!("{mode}: a clean end after {n} more rows"));
    // Fast shutdown sends each backend's FATAL 57P01; immediate sends at most a warning.
    if mode == "fast" {
        assert_eq!(err.code(), Some("57P01"), "{mode}: {err}");
    } else {
        assert!(err.is_fatal(), "{mode}: {err}");
    }
    drop(rows);
    assert!(streaming.is_closed());

    blocking(move || server.restart().unwrap()).await;
    let started = Instant::now();
    let err = idle
        .sql("SELECT '1'::jsonb")
        .stream_raw()
        .await
        .unwrap_err();
    assert!(started.elapsed() < BOUND);
    assert!(err.is_fatal(), "{mode}: {err}");
    let mut fresh = connect(server, app).await;
    let mut rows = fresh.sql("SELECT '2'::jsonb").stream_raw().await.unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "2");
    assert_eq!(rows.try_next().await.unwrap(), None);
    drop(rows);
    fresh.close().await;
    no_backends_left(server, app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_fast_then_restarted() {
    stop_and_restart("fast").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_immediately_then_restarted() {
    stop_and_restart("immediate").await;
}

/// A proxy in front of the shared server whose first connection is the client's session and
/// whose later ones (cancel requests) are accepted, read and never answered or closed.
async fn proxy_with_a_hanging_cancel_endpoint() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = format!("{}:{}", server().host(), server().port());
    tokio::spawn(async move {
        let (mut session, _) = listener.accept().await.unwrap();
        let mut pg = TcpStream::connect(&upstream).await.unwrap();
        tokio::spawn(async move {
            let _ = tokio::io::copy_bidirectional(&mut session, &mut pg).await;
        });
        loop {
            let (mut cancel, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut sink = [0u8; 64];
                while matches!(cancel.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_endpoint_that_hangs_does_not_hold_up_the_next_query() {
    let port = proxy_with_a_hanging_cancel_endpoint().await;
    let mut c = Client::connect(&format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres application_name=jw_fault_cancel"
    ))
    .await
    .unwrap();
    let pid = c.backend_pid().unwrap();
    for i in 0..3 {
        let mut rows = c
            .sql("SELECT to_jsonb(i) FROM generate_series(1, 50) i")
            .stream_raw()
            .await
            .unwrap();
        rows.try_next().await.unwrap().unwrap();
        let started = Instant::now();
        // The cancel cannot get through; the result ends on its own and the drain sees it.
        rows.cancel().await.unwrap();
        let took = started.elapsed();
        // The drain is done in milliseconds; the cancel, sent but never acknowledged, is
        // waited for at most 1 s.
        assert!(took < Duration::from_secs(2), "round {i}: {took:?}");
        reused(&mut c, pid).await;
    }
    c.close().await;
    no_backends_left(server(), "jw_fault_cancel").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_polls_again_leaves_no_query_running_once_it_drops_the_stream() {
    let mut c = connect(server(), "jw_fault_stalled_consumer").await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..10 {
        rows.try_next().await.unwrap().unwrap();
    }
    // The consumer stops: the server fills the socket and waits on it, holding the query.
    let blocked = blocking(move || {
        wait_until(Duration::from_secs(10), || {
            activity(pid).starts_with("active|ClientWrite|")
        })
    })
    .await;
    assert!(blocked, "{}", blocking(move || activity(pid)).await);
    let started = Instant::now();
    drop(rows);
    let idle = blocking(move || wait_until(BOUND, || activity(pid).starts_with("idle|"))).await;
    assert!(
        idle,
        "the query still runs: {}",
        blocking(move || activity(pid)).await
    );
    let mut next = c.sql("SELECT '1'::jsonb").stream_raw().await.unwrap();
    assert_eq!(next.try_next().await.unwrap().unwrap(), "1");
    drop(next);
    assert!(started.elapsed() < BOUND);
    assert_eq!(c.backend_pid(), Some(pid));
}
