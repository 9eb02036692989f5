//! Paced reads (`Config::read_pacing`): past the first MiB of a result the client waits for a
//! block of bytes before it wakes, and must still hand out every row as soon as the server has
//! sent it: a slow query's rows one by one, and the end of every result.
//!
//! The server sends each slow row at once because the row function raises a notice before
//! computing the next row, and Postgres flushes its send buffer with every notice.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwire::{Client, Config};

/// Rows of ~1 KB sent as fast as the server can, enough to start pacing (over 1 MiB).
const FAST_ROWS: u32 = 1500;

/// A query whose first rows come fast and whose last `slow` rows come one every `gap_ms`, each
/// carrying the server's clock when it was made (`at`, seconds since the epoch).
fn fast_then_slow(slow: u32, gap_ms: u32) -> String {
    format!(
        "SELECT CASE WHEN i <= {FAST_ROWS} \
                THEN jsonb_build_object('i', i, 'pad', repeat('x', 1000)) \
                ELSE pg_temp.jw_slow_row(i, {gap_ms}) END \
         FROM generate_series(1, {}) AS i",
        FAST_ROWS + slow
    )
}

const SLOW_ROW_FN: &str = "CREATE FUNCTION pg_temp.jw_slow_row(i int, gap_ms int) RETURNS jsonb \
     LANGUAGE plpgsql AS $$ BEGIN \
         RAISE NOTICE 'row %', i; \
         PERFORM pg_sleep(gap_ms / 1000.0); \
         RETURN jsonb_build_object('i', i, 'at', extract(epoch FROM clock_timestamp())); \
     END $$";

async fn connect(paced: bool) -> Client {
    let mut config = Config::parse(&common::server().url()).unwrap();
    config.read_pacing(paced);
    let mut client = Client::connect_with(&config).await.unwrap();
    client.batch_execute(SLOW_ROW_FN).await.unwrap();
    client
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// For each slow row: how long after the server made it the stream handed it out.
async fn slow_row_delays(client: &mut Client, slow: u32, gap_ms: u32) -> Vec<f64> {
    // Raw rows, parsed only when slow: the fast rows must not leave the client behind.
    let mut rows = client
        .sql(&fast_then_slow(slow, gap_ms))
        .stream_raw()
        .await
        .unwrap();
    let mut delays = Vec::new();
    let mut count = 0;
    // Bounded: a row held back for the low-water mark would never come, and the test must fail
    // rather than hang.
    while let Some(row) = tokio::time::timeout(Duration::from_secs(10), rows.try_next())
        .await
        .expect("a row was held back for 10 s")
        .unwrap()
    {
        count += 1;
        if row.len() < 100 {
            let row: serde_json::Value = serde_json::from_slice(&row).unwrap();
            if let Some(at) = row.get("at").and_then(serde_json::Value::as_f64) {
                delays.push(now() - at);
            }
        }
    }
    assert_eq!(count, FAST_ROWS + slow);
    assert!(rows.stats().wire_bytes > 1 << 20, "pacing never started");
    delays
}

#[tokio::test]
async fn a_slow_servers_rows_arrive_at_once_after_pacing_started() {
    let mut client = connect(true).await;
    let delays = slow_row_delays(&mut client, 5, 200).await;
    assert_eq!(delays.len(), 5);
    // Each row is sent the moment it exists; a paced read gives up waiting after 1 ms (4 ms at
    // most, while the server streams steadily; a wait that finds one small row is 1 ms). A row
    // held for the low-water mark would wait for the end of the result (the mark is never
    // reached); 100 ms leaves room for a busy machine and is half the gap between rows.
    for (n, delay) in delays.iter().enumerate() {
        assert!(
            *delay < 0.1,
            "slow row {n} was handed out {:.1} ms after the server made it ({delays:?})",
            delay * 1000.0
        );
    }
}

#[tokio::test]
async fn the_end_of_a_paced_result_is_not_held_back() {
    let mut client = connect(true).await;
    // One last row after a pause: it, CommandComplete and ReadyForQuery are far less than the
    // low-water mark.
    let delays = slow_row_delays(&mut client, 1, 300).await;
    assert!(
        delays[0] < 0.05,
        "the last row waited {:.1} ms",
        delays[0] * 1000.0
    );
    // The connection is ready at once for the next query.
    client.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn paced_and_eager_reads_return_the_same_rows() {
    let sql = "SELECT jsonb_build_object('i', i, 'pad', repeat(md5(i::text), 20)) \
               FROM generate_series(1, 20000) AS i";
    let mut seen = Vec::new();
    for paced in [true, false] {
        let mut client = connect(paced).await;
        let mut rows = client.sql(sql).stream_raw().await.unwrap();
        let (mut count, mut hash) = (0u64, 0u64);
        while let Some(row) = rows.try_next().await.unwrap() {
            count += 1;
            hash = row.iter().fold(hash.rotate_left(5), |h, &b| {
                h.wrapping_mul(31) ^ u64::from(b)
            });
        }
        assert!(rows.stats().wire_bytes > 10 << 20);
        seen.push((count, hash));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].0, 20000);
}
