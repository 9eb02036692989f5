//! The HTTP example (`examples/http_ndjson`) served on a real socket, read with a real HTTP
//! client, against the throw-away Postgres: the body is the view's rows, a client that goes
//! away mid-body gets its query cancelled on the server, and 50 concurrent downloads share a
//! pool of 10 connections.

#[path = "../examples/http_ndjson/app.rs"]
mod app;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use jsonwire::{Client, Config, Pool};
use jsonwire_testkit::PgServer;

const ROWS: i64 = 5000;

const SETUP: &str = "
CREATE TABLE IF NOT EXISTS jw_http_rows (id bigint PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO jw_http_rows
SELECT i, jsonb_build_object('id', i, 'name', 'row ' || i, 'tags', jsonb_build_array(i % 7, 'x'))
FROM generate_series(1, 5000) i
ON CONFLICT DO NOTHING;
CREATE OR REPLACE VIEW v_jw_http AS SELECT doc AS data FROM jw_http_rows ORDER BY id;
-- generate_series in the select list, so rows are made as they are sent: in FROM, the server
-- would first write all 50M rows to a tuplestore (8 s here before the first row) and, after
-- the cancel, spend 0.3-0.5 s discarding it, all of it counted as the backend being active.
CREATE OR REPLACE VIEW v_jw_http_endless AS
    SELECT jsonb_build_object('i', i, 'pad', repeat('x', 200)) AS data
    FROM (SELECT generate_series(1, 50000000) AS i) AS endless;
";

fn server() -> &'static PgServer {
    static SETUP_DONE: OnceLock<()> = OnceLock::new();
    let server = PgServer::shared().unwrap_or_else(|e| panic!("no Postgres for the tests: {e}"));
    SETUP_DONE.get_or_init(|| server.run_sql(SETUP).unwrap());
    server
}

/// The example's router on 127.0.0.1 (a free port), over a pool of `max_size` connections.
async fn serve(max_size: usize) -> (String, Pool) {
    let config = Config::parse(&server().url()).unwrap();
    let pool = Pool::builder(&config)
        .max_size(max_size)
        .wait_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let router = app::router(app::App::new(
        pool.clone(),
        &["v_jw_http", "v_jw_http_endless"],
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, pool)
}

async fn direct_rows(view: &str) -> String {
    let mut client = Client::connect(&server().url()).await.unwrap();
    let mut rows = client.query(view).stream_raw().await.unwrap();
    let mut out = String::new();
    while let Some(row) = rows.try_next().await.unwrap() {
        out.push_str(std::str::from_utf8(&row).unwrap());
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_is_the_views_rows_one_per_line() {
    let (base, _pool) = serve(2).await;
    let response = reqwest::get(format!("{base}/ndjson/v_jw_http"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    assert_eq!(body.lines().count(), ROWS as usize);
    assert_eq!(body, direct_rows("v_jw_http").await);

    let missing = reqwest::get(format!("{base}/ndjson/pg_authid"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// The state of backend `pid` (`None` once it is gone), read over a connection of its own.
async fn backend_state(monitor: &mut Client, pid: i32) -> Option<String> {
    let mut rows = monitor
        .sql("SELECT to_jsonb(state) FROM pg_stat_activity WHERE pid = $1")
        .bind(pid)
        .stream::<String>()
        .await
        .unwrap();
    rows.try_next().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_body_gets_its_query_cancelled() {
    let (base, pool) = serve(2).await;
    let mut monitor = Client::connect(&server().url()).await.unwrap();
    let mut response = reqwest::get(format!("{base}/ndjson/v_jw_http_endless"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0;
    while received < 1 << 20 {
        received += response.chunk().await.unwrap().unwrap().len();
    }
    let mut pids: Vec<i32> = monitor
        .sql(
            "SELECT to_jsonb(pid) FROM pg_stat_activity \
             WHERE query LIKE '%v_jw_http_endless%' AND state = 'active' AND pid <> pg_backend_pid()",
        )
        .stream::<i32>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pids.len(), 1, "one backend streams the body: {pids:?}");
    let pid = pids.pop().unwrap();

    drop(response);
    let disconnected = Instant::now();
    let state = loop {
        let state = backend_state(&mut monitor, pid).await;
        if state.as_deref() != Some("active") || disconnected.elapsed() > Duration::from_secs(10) {
            break state;
        }
    };
    let took = disconnected.elapsed();
    println!("backend {pid} left 'active' {took:?} after the client disconnected: {state:?}");
    assert_eq!(
        state.as_deref(),
        Some("idle"),
        "cancelled, drained and kept"
    );
    // Loose for a loaded debug build: the drain reads what the socket buffers hold (a few
    // MB: the backend, blocked writing to us, acts on the cancel once its write completes).
    // Without the cancel it would stay active until its 10 GB were read.
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The connection goes back to the pool once drained, and serves the next download.
    let back = Instant::now();
    while pool.status().available < 1 && back.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = pool.status();
    assert_eq!((status.size, status.available), (1, 1), "{status:?}");
    let body = reqwest::get(format!("{base}/ndjson/v_jw_http"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.lines().count(), ROWS as usize);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_downloads_share_a_pool_of_ten() {
    let (base, pool) = serve(10).await;
    let expected = direct_rows("v_jw_http").await;
    let http = reqwest::Client::new();
    let downloads: Vec<_> = (0..50)
        .map(|_| {
            let http = http.clone();
            let url = format!("{base}/ndjson/v_jw_http");
            tokio::spawn(async move {
                let response = http.get(url).send().await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.text().await?))
            })
        })
        .collect();
    for download in downloads {
        let (status, body) = download.await.unwrap().unwrap();
        assert_eq!(status, 200);
        assert!(body == expected, "a body differs from the view's rows");
    }
    let status = pool.status();
    assert!(status.size <= 10, "{status:?}");
    assert_eq!(status.available, status.size);
}
