//! The pool against a real server: connections are reused, given back when a stream ends or
//! after the drain of one dropped early, never handed out again once broken, closed or left
//! inside a transaction, and a pool with every connection in use times out instead of hanging.

mod common;

use std::time::{Duration, Instant};

use common::{activity, blocking, server, wait_until, ENDLESS};
use futures_util::TryStreamExt as _;
use jsonwire::{Config, ErrorKind, Pool, RawStream};
use serde::Deserialize;

const PID: &str = "SELECT to_jsonb(pg_backend_pid())";

fn pool(max_size: usize, wait: Duration) -> Pool {
    let config = Config::parse(&server().url()).unwrap();
    Pool::builder(&config)
        .max_size(max_size)
        .wait_timeout(wait)
        .build()
        .unwrap()
}

/// The backend pid of the connection a pooled query runs on.
async fn pid_of(pool: &Pool) -> i32 {
    let rows: Vec<i32> = pool
        .sql(PID)
        .stream::<i32>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    rows[0]
}

/// What an HTTP handler does: a stream built from the pool, returned from the function.
async fn numbers(pool: &Pool, n: i32) -> jsonwire::Result<RawStream<Pool>> {
    pool.sql("SELECT to_jsonb(i) FROM generate_series(1, $1::int) i")
        .bind(n)
        .stream_raw()
        .await
}

#[tokio::test]
async fn queries_reuse_one_connection_and_a_stream_gives_it_back_at_its_end() {
    let pool = pool(4, Duration::from_secs(10));
    let first = pid_of(&pool).await;
    for _ in 0..5 {
        assert_eq!(
            pid_of(&pool).await,
            first,
            "the same backend serves every query"
        );
    }
    assert_eq!(pool.status().size, 1);

    let mut rows = numbers(&pool, 100).await.unwrap();
    assert_eq!(
        pool.status().available,
        0,
        "the stream holds the connection"
    );
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 100);
    assert_eq!(
        pool.status().available,
        1,
        "back in the pool at the end, before the stream is dropped"
    );
    drop(rows);
    assert_eq!(pid_of(&pool).await, first);
}

#[tokio::test]
async fn a_pool_with_every_connection_in_use_times_out_with_pool_timeout() {
    let pool = pool(2, Duration::from_millis(300));
    let a = pool.sql(ENDLESS).stream_raw().await.unwrap();
    let b = pool.get().await.unwrap();
    let started = Instant::now();
    let err = pool.sql(PID).stream_raw().await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err}");
    assert!(!err.is_fatal());
    assert!(err.to_string().contains("all 2 are in use"), "{err}");
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert_eq!(pool.get().await.unwrap_err().kind(), ErrorKind::PoolTimeout);

    drop(b);
    pid_of(&pool).await;
    drop(a);
    pid_of(&pool).await;
}

#[tokio::test]
async fn a_pool_of_zero_connections_is_a_config_error() {
    let config = Config::parse(&server().url()).unwrap();
    let err = Pool::builder(&config).max_size(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_terminated_while_idle_is_not_handed_out_again() {
    let pool = pool(1, Duration::from_secs(10));
    let pid = pid_of(&pool).await;
    let gone = blocking(move || {
        server()
            .psql_output(&format!("SELECT pg_terminate_backend({pid})"))
            .unwrap();
        wait_until(Duration::from_secs(5), || activity(pid).is_empty())
    })
    .await;
    assert!(gone, "backend {pid} still there");
    let next = pid_of(&pool).await;
    assert_ne!(next, pid, "a new connection replaces the terminated one");
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_terminated_mid_stream_ends_the_stream_and_is_replaced() {
    let pool = pool(1, Duration::from_secs(10));
    let sql = format!("{ENDLESS} /* terminated mid-stream */");
    let mut rows = pool.sql(&sql).stream_raw().await.unwrap();
    rows.try_next().await.unwrap().unwrap();
    let pid: i32 = blocking(|| {
        server()
            .psql_output(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE '%terminated mid-stream%' \
                 AND pid <> pg_backend_pid()",
            )
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    })
    .await;
    blocking(move || {
        server()
            .psql_output(&format!("SELECT pg_terminate_backend({pid})"))
            .unwrap()
    })
    .await;
    let err = loop {
        match rows.try_next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without an error"),
            Err(e) => break e,
        }
    };
    assert!(err.is_fatal(), "{err}");
    drop(rows);
    let next = pid_of(&pool).await;
    assert_ne!(next, pid, "a new connection replaces the broken one");
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_left_inside_a_transaction_is_closed_not_reused() {
    let pool = pool(1, Duration::from_secs(10));
    let mut client = pool.get().await.unwrap();
    let pid = client.backend_pid().unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    drop(client);
    let rolled_back =
        blocking(move || wait_until(Duration::from_secs(5), || activity(pid).is_empty())).await;
    assert!(
        rolled_back,
        "backend still there: {}",
        blocking(move || activity(pid)).await
    );
    assert_ne!(pid_of(&pool).await, pid);

    // Committed, the same connection goes back and serves the next query.
    let mut client = pool.get().await.unwrap();
    let pid = client.backend_pid().unwrap();
    client.batch_execute("BEGIN; COMMIT").await.unwrap();
    drop(client);
    assert_eq!(pid_of(&pool).await, pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_early_gives_its_connection_back_after_the_drain() {
    let pool = pool(1, Duration::from_secs(10));
    let pid = pid_of(&pool).await;
    let mut rows = pool.sql(ENDLESS).stream_raw().await.unwrap();
    for _ in 0..1000 {
        rows.try_next().await.unwrap().unwrap();
    }
    let state = blocking(move || activity(pid)).await;
    assert!(state.starts_with("active|"), "{state}");
    drop(rows);

    // The one connection is cancelled, drained and reused: the next query waits for that.
    let mut next = pool
        .sql("SELECT '\"next\"'::jsonb")
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(next.try_next().await.unwrap().unwrap(), "\"next\"");
    assert_eq!(next.try_next().await.unwrap(), None);
    drop(next);
    assert_eq!(pid_of(&pool).await, pid, "the drained connection is reused");
    let state = blocking(move || activity(pid)).await;
    assert!(state.starts_with("idle|"), "{state}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Doc {
    id: i64,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_move_into_spawned_tasks_in_every_mode() {
    let pool = pool(3, Duration::from_secs(10));
    let raw = numbers(&pool, 1000).await.unwrap();
    let typed = pool
        .query("jw_view")
        .order_by("(data->>'id')::int")
        .limit(2)
        .stream::<Doc>()
        .await
        .unwrap();
    let chunks = numbers(&pool, 10_000).await.unwrap();

    let sum = tokio::spawn(async move {
        let mut raw = raw;
        let mut sum = 0i64;
        while let Some(row) = raw.try_next().await.unwrap() {
            sum += std::str::from_utf8(&row).unwrap().parse::<i64>().unwrap();
        }
        sum
    });
    let docs = tokio::spawn(async move { typed.try_collect::<Vec<Doc>>().await.unwrap() });
    let total = tokio::spawn(async move {
        let mut chunks = chunks;
        let mut total = 0;
        while let Some(chunk) = chunks.next_chunk(1000, 1 << 20).await.unwrap() {
            total += chunk.len();
        }
        total
    });
    assert_eq!(sum.await.unwrap(), 500_500);
    let docs = docs.await.unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].id, 1);
    assert_eq!(total.await.unwrap(), 10_000);
    assert_eq!(pool.status().available, pool.status().size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_share_a_pool_of_five_without_errors() {
    let pool = pool(5, Duration::from_secs(30));
    let tasks: Vec<tokio::task::JoinHandle<jsonwire::Result<()>>> = (0..50)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..4 {
                    let rows = numbers(&pool, 500 + t).await?;
                    let n = rows.try_fold(0, |n, _| async move { Ok(n + 1) }).await?;
                    assert_eq!(n, 500 + t);
                }
                jsonwire::Result::Ok(())
            })
        })
        .collect();
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            errors.push(e.to_string());
        }
    }
    assert!(errors.is_empty(), "{errors:?}");
    let status = pool.status();
    assert!(status.size <= 5, "{status:?}");
    assert_eq!(status.available, status.size);
}
