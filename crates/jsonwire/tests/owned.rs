//! Owned streams against a real server: they own their client, leave the function and the
//! task that made them, hand the client back, and cancel and drain like borrowed streams.

mod common;

use std::time::Duration;

use common::{activity, blocking, client, reused, wait_until, ENDLESS};
use futures_util::TryStreamExt as _;
use jsonwire::{Client, ErrorKind, RawStream};
use serde::Deserialize;

/// What an HTTP handler does: build a stream and return it, the client inside.
async fn numbers(client: Client, n: i32) -> jsonwire::Result<RawStream<Client>> {
    client
        .into_sql("SELECT to_jsonb(i) FROM generate_series(1, $1::int) i")
        .bind(n)
        .stream_raw()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_stream_leaves_its_function_and_task_and_hands_the_client_back() {
    let c = client().await;
    let pid = c.backend_pid().unwrap();
    let rows = numbers(c, 1000).await.unwrap();
    let (sum, c) = tokio::spawn(async move {
        let mut rows = rows;
        let mut sum = 0i64;
        while let Some(row) = rows.try_next().await.unwrap() {
            sum += std::str::from_utf8(&row).unwrap().parse::<i64>().unwrap();
        }
        (sum, rows.into_client())
    })
    .await
    .unwrap();
    assert_eq!(sum, 500_500);
    let mut c = c;
    reused(&mut c, pid).await;
}

#[derive(Debug, Deserialize, PartialEq)]
struct Doc {
    id: i64,
    name: String,
}

#[tokio::test]
async fn owned_streams_have_the_value_typed_and_chunk_modes() {
    let c = client().await;
    let mut typed = c
        .into_query("jw_view")
        .order_by("(data->>'id')::int")
        .limit(2)
        .stream::<Doc>()
        .await
        .unwrap();
    assert_eq!(
        typed.try_next().await.unwrap(),
        Some(Doc {
            id: 1,
            name: "plain".into()
        })
    );
    assert_eq!(typed.try_next().await.unwrap().unwrap().id, 2);
    assert_eq!(typed.try_next().await.unwrap(), None);

    let values: Vec<serde_json::Value> = typed
        .into_client()
        .into_query("jw_docs")
        .order_by("id")
        .stream::<serde_json::Value>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(values.len(), 5);
    assert_eq!(values[3], serde_json::Value::Null);

    let mut chunks = client()
        .await
        .into_sql("SELECT to_jsonb(i) FROM generate_series(1, 10000) i")
        .stream_raw()
        .await
        .unwrap();
    let mut total = 0;
    while let Some(chunk) = chunks.next_chunk(1000, 1 << 20).await.unwrap() {
        assert!(!chunk.is_empty() && chunk.len() <= 1000);
        total += chunk.len();
    }
    assert_eq!(total, 10000);
    assert_eq!(chunks.stats().rows, 10000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_client_mid_query_cancels_and_drains_and_the_next_query_waits_for_it() {
    let c = client().await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.into_sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..1000 {
        rows.try_next().await.unwrap().unwrap();
    }
    let state = blocking(move || activity(pid)).await;
    assert!(state.starts_with("active|"), "{state}");
    let mut c = rows.into_client();
    reused(&mut c, pid).await;
    let state = blocking(move || activity(pid)).await;
    assert!(state.starts_with("idle|"), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_owned_stream_cancels_the_query_then_closes_the_connection() {
    let c = client().await;
    let pid = c.backend_pid().unwrap();
    let mut rows = c.into_sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..1000 {
        rows.try_next().await.unwrap().unwrap();
    }
    drop(rows);
    let gone =
        blocking(move || wait_until(Duration::from_secs(5), || activity(pid).is_empty())).await;
    assert!(
        gone,
        "backend still there: {}",
        blocking(move || activity(pid)).await
    );
}

#[tokio::test]
async fn an_owned_query_that_fails_to_start_returns_the_error() {
    let err = client()
        .await
        .into_query("no_such_view")
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"), "{err}");
    let err = client()
        .await
        .into_sql("SELECT 1")
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Column, "{err}");
}
