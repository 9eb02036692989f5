//! Early exit and backpressure against a real server: a dropped stream cancels its query,
//! a paused consumer pauses the server.

mod common;

use std::time::Duration;

use common::{activity, blocking, client, idle_within, reused, wait_until, ENDLESS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_cancels_the_query_and_the_client_is_reused() {
    let mut c = client().await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..1000 {
        rows.try_next().await.unwrap().unwrap();
    }
    let state = blocking(move || activity(pid)).await;
    assert!(state.starts_with("active|"), "{state}");
    drop(rows);
    idle_within(pid, Duration::from_secs(5)).await;
    reused(&mut c, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_cancel_waits_for_the_connection_to_come_back() {
    let mut c = client().await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(ENDLESS).stream::<serde_json::Value>().await.unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap()["i"], 1);
    rows.cancel().await.unwrap();
    // No waiting needed: cancel() returned after ReadyForQuery.
    let state = blocking(move || activity(pid)).await;
    assert!(state.starts_with("idle|"), "{state}");
    assert!(!c.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_drops_of_short_results_never_cancel_the_next_query() {
    let mut c = client().await;
    for i in 0..30 {
        let mut rows = c
            .sql("SELECT to_jsonb(i) FROM generate_series(1, 50) i")
            .stream_raw()
            .await
            .unwrap();
        rows.try_next().await.unwrap().unwrap();
        drop(rows);
        let mut next = c
            .sql("SELECT to_jsonb(count(*)) FROM generate_series(1, 200000)")
            .stream_raw()
            .await
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        assert_eq!(
            next.try_next()
                .await
                .unwrap_or_else(|e| panic!("iteration {i}: {e}"))
                .unwrap(),
            "200000"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_consumer_pauses_the_server_and_buffers_stay_bounded() {
    let mut config = jsonwire::Config::parse(&common::server().url()).unwrap();
    config.read_buffer_size(64 * 1024);
    let mut c = jsonwire::Client::connect_with(&config).await.unwrap();
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..100 {
        rows.try_next().await.unwrap().unwrap();
    }
    let paused_at = rows.stats().wire_bytes;
    // The server has gigabytes to send but blocks writing to the full socket.
    let blocked = blocking(move || {
        wait_until(Duration::from_secs(10), || {
            let a = activity(pid);
            a.starts_with("active|ClientWrite|")
        })
    })
    .await;
    assert!(
        blocked,
        "server not blocked on the client: {}",
        blocking(move || activity(pid)).await
    );
    assert_eq!(
        rows.stats().wire_bytes,
        paused_at,
        "the client read while nobody polled"
    );

    // Resume: 200k rows (~45 MB) later the buffer is still the configured size.
    for _ in 0..200_000 {
        rows.try_next().await.unwrap().unwrap();
    }
    let stats = rows.stats();
    assert!(stats.wire_bytes > 40 << 20, "{stats:?}");
    assert!(stats.buffer_high_water <= 128 * 1024, "{stats:?}");
    rows.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_drain_limits_the_connection_is_closed_instead() {
    let mut config = jsonwire::Config::parse(&common::server().url()).unwrap();
    // A cancel still stops the server, but the bytes already in flight exceed the limit.
    config.drain_limits(1024, Duration::from_secs(5));
    let mut c = jsonwire::Client::connect_with(&config).await.unwrap();
    let pid = c.backend_pid().unwrap();
    let mut rows = c.sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..10 {
        rows.try_next().await.unwrap().unwrap();
    }
    // Let the server fill the socket buffers: megabytes in flight when the drain starts.
    let blocked = blocking(move || {
        wait_until(Duration::from_secs(10), || {
            activity(pid).starts_with("active|ClientWrite|")
        })
    })
    .await;
    assert!(blocked, "{}", blocking(move || activity(pid)).await);
    drop(rows);
    let err = c.sql("SELECT '1'::jsonb").stream_raw().await.unwrap_err();
    assert_eq!(err.kind(), jsonwire::ErrorKind::Closed, "{err}");
    assert!(c.is_closed());
    let gone =
        blocking(move || wait_until(Duration::from_secs(5), || activity(pid).is_empty())).await;
    assert!(
        gone,
        "backend survived: {}",
        blocking(move || activity(pid)).await
    );
}
