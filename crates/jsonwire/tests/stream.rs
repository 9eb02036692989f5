//! Streaming against a real server: output modes, column checks, errors mid-stream, unicode,
//! large rows, asynchronous messages.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{client, server};
use futures_util::TryStreamExt as _;
use jsonwire::ErrorKind;
use serde::Deserialize;

async fn collect_raw(client: &mut jsonwire::Client, sql: &str) -> Vec<String> {
    let mut rows = client.sql(sql).stream_raw().await.unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await.unwrap() {
        out.push(String::from_utf8(row.to_vec()).unwrap());
    }
    out
}

/// Reads `rows` up to its error: how many rows came before it, and the error.
async fn rows_until_error(
    rows: &mut jsonwire::RawStream<&mut jsonwire::Client>,
) -> (u64, jsonwire::Error) {
    let mut n = 0;
    loop {
        match rows.try_next().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the stream ended after {n} rows without an error"),
            Err(e) => return (n, e),
        }
    }
}

#[tokio::test]
async fn raw_rows_are_byte_identical_to_psql_for_jsonb_and_json() {
    let mut c = client().await;
    for sql in [
        "SELECT data FROM jw_docs ORDER BY id",
        "SELECT data FROM jw_text_docs ORDER BY id",
    ] {
        let ours = collect_raw(&mut c, sql).await;
        let psql = server().psql_output(sql).unwrap();
        // psql prints NULL as an empty line; we print JSON null.
        let ours_as_psql: Vec<String> = ours
            .iter()
            .map(|r| {
                if r == "null" {
                    String::new()
                } else {
                    r.clone()
                }
            })
            .collect();
        assert_eq!(ours_as_psql.join("\n") + "\n", psql, "{sql}");
    }
}

#[tokio::test]
async fn text_result_format_gives_the_same_bytes_as_binary() {
    let mut config = jsonwire::Config::parse(&server().url()).unwrap();
    config.binary_results(false);
    let mut text = jsonwire::Client::connect_with(&config).await.unwrap();
    let mut binary = client().await;
    for sql in [
        "SELECT data FROM jw_docs ORDER BY id",
        "SELECT data FROM jw_text_docs ORDER BY id",
    ] {
        assert_eq!(
            collect_raw(&mut text, sql).await,
            collect_raw(&mut binary, sql).await
        );
    }
}

#[tokio::test]
async fn sql_null_is_json_null() {
    let mut c = client().await;
    let rows = collect_raw(&mut c, "SELECT data FROM jw_docs WHERE id = 4").await;
    assert_eq!(rows, ["null"]);
}

#[tokio::test]
async fn query_builder_with_filter_order_and_limit() {
    let mut c = client().await;
    let mut rows = c
        .query("jw_view")
        .filter("(data->>'id')::int > $1")
        .bind(1)
        .filter("data->>'name' <> $2")
        .bind("nested")
        .order_by("(data->>'id')::int DESC")
        .limit(10)
        .stream::<serde_json::Value>()
        .await
        .unwrap();
    let mut ids = Vec::new();
    while let Some(v) = rows.try_next().await.unwrap() {
        ids.push(v["id"].as_i64().unwrap());
    }
    assert_eq!(ids, [3, 2]);
}

#[tokio::test]
async fn a_trailing_comment_in_order_by_does_not_swallow_the_limit() {
    let mut c = client().await;
    let mut rows = c
        .query("jw_view")
        .filter("true -- all")
        .order_by("data->>'id' --")
        .limit(2)
        .stream_raw()
        .await
        .unwrap();
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 2);
    drop(rows);
    let err = c
        .query("jw_view")
        .filter("true) OR (true")
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

#[tokio::test]
async fn schema_qualified_relation_names_are_quoted() {
    let mut c = client().await;
    let mut rows = c
        .query(r#""Odd Schema"."My View""#)
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), r#"{"odd": true}"#);
    assert_eq!(rows.try_next().await.unwrap(), None);
    drop(rows);
    // Unquoted parts are taken literally too: no case folding, spaces allowed.
    let mut rows = c.query("Odd Schema.My View").stream_raw().await.unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), r#"{"odd": true}"#);
    drop(rows);
    let err = c
        .query("odd schema.my view")
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"), "{err}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Doc {
    id: i64,
    name: String,
}

#[tokio::test]
async fn typed_rows_and_a_decode_error_naming_the_row_that_does_not_poison_the_stream() {
    let mut c = client().await;
    let mut rows = c
        .sql(
            "SELECT data FROM (VALUES (1, '{\"id\":1,\"name\":\"a\"}'::jsonb), (2, '{\"id\":\"two\",\"name\":\"b\"}'), (3, '{\"id\":3,\"name\":\"c\"}')) v(i, data) ORDER BY i"
        )
        .stream::<Doc>()
        .await
        .unwrap();
    assert_eq!(
        rows.try_next().await.unwrap(),
        Some(Doc {
            id: 1,
            name: "a".into()
        })
    );
    let err = rows.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.row(), Some(2));
    assert!(err.to_string().contains("row 2"), "{err}");
    assert_eq!(
        rows.try_next().await.unwrap(),
        Some(Doc {
            id: 3,
            name: "c".into()
        })
    );
    assert_eq!(rows.try_next().await.unwrap(), None);
    drop(rows);
    assert_eq!(collect_raw(&mut c, "SELECT '1'::jsonb").await, ["1"]);
}

#[tokio::test]
async fn values_mode_parses_every_fixture() {
    let mut c = client().await;
    let rows: Vec<serde_json::Value> = c
        .query("jw_docs")
        .order_by("id")
        .stream::<serde_json::Value>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[1]["name"], "café ☕ 日本語 😀");
    assert_eq!(rows[2]["s"], "tab\there\nnewline\r\u{1}\u{1f}");
    assert_eq!(rows[3], serde_json::Value::Null);
}

#[tokio::test]
async fn wrong_column_count_or_type_is_a_clear_error_and_the_client_stays_usable() {
    let mut c = client().await;
    for (sql, needle) in [
        ("SELECT 1 AS n", r#"column "n" has type integer"#),
        ("SELECT 'x'::text AS t", r#"column "t" has type text"#),
        (
            "SELECT data, id FROM jw_docs",
            "returns 2 columns (\"data\" jsonb, \"id\" integer)",
        ),
        (
            "SELECT data::text AS data FROM jw_docs",
            r#"column "data" has type text"#,
        ),
        (
            "SELECT generate_series(1, 30000000) AS i",
            r#"column "i" has type integer"#,
        ),
        ("SET work_mem = '8MB'", "returns no rows"),
    ] {
        let err = c.sql(sql).stream_raw().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Column, "{sql}: {err}");
        assert!(err.to_string().contains(needle), "{sql}: {err}");
        assert_eq!(
            collect_raw(&mut c, "SELECT '[1]'::jsonb").await,
            ["[1]"],
            "after {sql}"
        );
    }
}

#[tokio::test]
async fn server_error_mid_stream_comes_after_every_earlier_row_then_the_client_is_reused() {
    let mut c = client().await;
    let mut rows = c
        .sql("SELECT to_jsonb(100 / (5000 - i)) FROM generate_series(1, 10000) i")
        .stream_raw()
        .await
        .unwrap();
    let (n, err) = rows_until_error(&mut rows).await;
    assert_eq!(n, 4999);
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.code(), Some("22012"));
    let db = err.db_error().unwrap();
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.message(), "division by zero");
    assert_eq!(rows.try_next().await.unwrap(), None);
    assert_eq!(rows.stats().rows, 4999);
    drop(rows);
    assert_eq!(collect_raw(&mut c, "SELECT '2'::jsonb").await, ["2"]);
}

#[tokio::test]
async fn syntax_error_carries_position_and_hint_fields() {
    let mut c = client().await;
    let err = c
        .sql("SELECT data FROM jw_docs WHERE")
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42601"));
    assert_eq!(err.db_error().unwrap().position(), Some(31));
    let err = c.query("no_such_view").stream_raw().await.unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    assert!(
        err.to_string().contains("\"no_such_view\" does not exist"),
        "{err}"
    );
    let err = c
        .sql("SELECT data FROM jw_docs WHERE id = $1")
        .bind("not a number")
        .stream_raw()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("22P02"));
    assert_eq!(collect_raw(&mut c, "SELECT '3'::jsonb").await, ["3"]);
}

#[tokio::test]
async fn statement_timeout_mid_stream_is_57014() {
    let url = format!(
        "{} options='-c statement_timeout=300'",
        server().socket_url().unwrap()
    );
    let mut c = jsonwire::Client::connect(&url).await.unwrap();
    let mut rows = c
        .sql(
            "SELECT jsonb_build_object('i', i, 's', pg_sleep(CASE WHEN i = 3 THEN 2 ELSE 0 END)::text) FROM generate_series(1, 5) i"
        )
        .stream_raw()
        .await
        .unwrap();
    let (n, err) = rows_until_error(&mut rows).await;
    assert!(n <= 2, "{n} rows before the timeout");
    assert_eq!(err.code(), Some("57014"));
    assert!(err.to_string().contains("statement timeout"), "{err}");
    drop(rows);
    assert_eq!(collect_raw(&mut c, "SELECT '4'::jsonb").await, ["4"]);
}

#[tokio::test]
async fn parameters_are_bound_not_interpolated() {
    let mut c = client().await;
    let evil = "x'); DROP TABLE jw_docs; --";
    let got = {
        let mut s = c
            .sql("SELECT jsonb_build_array($1::text, $2::int, $3::float8, $4::bool)")
            .bind(evil)
            .bind(None::<i32>)
            .bind(f64::INFINITY)
            .bind(true)
            .stream_raw()
            .await
            .unwrap();
        let row = s.try_next().await.unwrap().unwrap();
        String::from_utf8(row.to_vec()).unwrap()
    };
    assert_eq!(
        got,
        r#"["x'); DROP TABLE jw_docs; --", null, "Infinity", true]"#
    );
    assert_eq!(
        collect_raw(&mut c, "SELECT count(*)::text::jsonb FROM jw_docs").await,
        ["5"]
    );
}

/// A stream borrows its client, but holds no destructor that needs the client: an error from
/// `stream_raw()` leaves the client free in the error path (this once failed with E0499).
#[tokio::test]
async fn the_client_is_free_again_in_the_error_path_of_stream_raw() {
    let mut c = client().await;
    c.batch_execute("DROP TABLE IF EXISTS jw_made_on_demand")
        .await
        .unwrap();
    let sql = "SELECT to_jsonb(n) FROM jw_made_on_demand";
    let mut rows = match c.sql(sql).stream_raw().await {
        Ok(rows) => rows,
        Err(e) if e.code() == Some("42P01") => {
            c.batch_execute("CREATE TABLE jw_made_on_demand AS SELECT 7 AS n")
                .await
                .unwrap();
            c.sql(sql).stream_raw().await.unwrap()
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "7");
    drop(rows);

    let r = c.sql("SELECT 1").stream_raw().await;
    match r {
        Ok(_) => panic!("an int column streamed as JSON"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Column);
            c.batch_execute("DROP TABLE jw_made_on_demand")
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn bind_all_binds_after_the_parameters_bound_so_far() {
    let mut c = client().await;
    let mut s = c
        .sql("SELECT jsonb_build_array($1::int, $2::text, $3::text)")
        .bind(1)
        .bind_all(["two", "three"])
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(
        s.try_next().await.unwrap().unwrap(),
        r#"[1, "two", "three"]"#
    );
    drop(s);
    let mut s = c
        .query("jw_docs")
        .filter("id = $1")
        .bind(2)
        .bind_all(Vec::<i32>::new())
        .stream::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(s.try_next().await.unwrap().unwrap()["id"], 2);
}

#[tokio::test]
async fn rows_up_to_16_mb() {
    let mut c = client().await;
    for size in [1usize << 20, 16 << 20] {
        let sql = format!("SELECT jsonb_build_object('s', repeat('x', {size}))");
        let mut rows = c.sql(&sql).stream_raw().await.unwrap();
        let row = rows.try_next().await.unwrap().unwrap();
        assert_eq!(row.len(), size + 9);
        assert!(row.starts_with(br#"{"s": "xxx"#) && row.ends_with(b"xx\"}"));
        assert_eq!(rows.try_next().await.unwrap(), None);
        let stats = rows.stats();
        assert!(stats.buffer_high_water >= size, "{stats:?}");
    }
    // The big buffer is given back: a small query afterwards holds a small one.
    let mut rows = c
        .sql("SELECT to_jsonb(i) FROM generate_series(1, 100000) i")
        .stream_raw()
        .await
        .unwrap();
    while rows.try_next().await.unwrap().is_some() {}
    assert!(
        rows.stats().buffer_high_water <= 4 << 20,
        "{:?}",
        rows.stats()
    );
}

#[tokio::test]
async fn notices_parameter_changes_and_notifications_mid_stream_do_not_break_it() {
    let mut c = client().await;
    let notices = Arc::new(AtomicUsize::new(0));
    let seen = notices.clone();
    c.on_notice(move |n| {
        assert_eq!(n.severity(), "NOTICE");
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let notes = Arc::new(Mutex::new(Vec::new()));
    let sink = notes.clone();
    c.on_notification(move |n| sink.lock().unwrap().push(n.payload.clone()));
    c.batch_execute("LISTEN jw_channel").await.unwrap();
    let mut rows = c
        .sql(
            "SELECT CASE WHEN i = 50 THEN to_jsonb(set_config('application_name', 'changed', false)) \
                    WHEN i = 60 THEN to_jsonb(pg_notify('jw_channel', 'hello')::text) \
                    ELSE jw_noisy(i) END \
             FROM generate_series(1, 100) i"
        )
        .stream_raw()
        .await
        .unwrap();
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    drop(rows);
    assert_eq!(n, 100);
    assert_eq!(notices.load(Ordering::SeqCst), 98);
    assert_eq!(*notes.lock().unwrap(), ["hello"]);
    assert_eq!(c.parameter("application_name").as_deref(), Some("changed"));
}

#[tokio::test]
async fn stats_count_rows_bytes_and_first_row_time() {
    let mut c = client().await;
    let mut rows = c
        .sql("SELECT jsonb_build_object('i', i) FROM generate_series(1, 1000) i")
        .stream_raw()
        .await
        .unwrap();
    let mut bytes = 0;
    while let Some(r) = rows.try_next().await.unwrap() {
        bytes += r.len() as u64;
    }
    let s = rows.stats();
    assert_eq!(s.rows, 1000);
    assert_eq!(s.bytes, bytes);
    assert!(s.wire_bytes > bytes + 1000 * 11, "{s:?}");
    assert_eq!(s.round_trips, 1);
    assert!(s.time_to_first_row.unwrap() <= s.elapsed);
}

#[tokio::test]
async fn chunks_hand_out_buffered_rows_together_within_limits() {
    let mut c = client().await;
    let mut rows = c
        .sql("SELECT jsonb_build_object('i', i, 'pad', repeat('p', 100)) FROM generate_series(1, 20000) i")
        .stream_raw()
        .await
        .unwrap();
    let (mut total, mut chunks, mut biggest) = (0, 0, 0);
    while let Some(chunk) = rows.next_chunk(500, 32 * 1024).await.unwrap() {
        assert!(!chunk.is_empty() && chunk.len() <= 500);
        let bytes: usize = chunk.iter().map(|r| r.len()).sum();
        assert!(bytes < 32 * 1024 + 200, "{bytes}");
        total += chunk.len();
        chunks += 1;
        biggest = biggest.max(chunk.len());
    }
    assert_eq!(total, 20000);
    assert!(biggest > 1, "rows were never handed out together");
    assert!(chunks < total, "{chunks} chunks for {total} rows");
}

#[tokio::test]
async fn the_first_row_is_handed_out_as_soon_as_it_arrives() {
    let mut c = client().await;
    // The server flushes its 8 KB send buffer whenever it fills: the first rows reach the
    // client at once, then the last row takes two seconds more.
    let mut rows = c
        .sql(
            "SELECT jsonb_build_object('i', i, 'pad', repeat('x', 1000), 's', CASE WHEN i = 101 THEN pg_sleep(2)::text END) \
             FROM (SELECT generate_series(1, 101) AS i) s"
        )
        .stream_raw()
        .await
        .unwrap();
    rows.try_next().await.unwrap().unwrap();
    let first = rows.stats().time_to_first_row.unwrap();
    while rows.try_next().await.unwrap().is_some() {}
    let total = rows.stats().elapsed;
    assert!(total >= std::time::Duration::from_secs(2), "{total:?}");
    assert!(
        first < std::time::Duration::from_secs(1),
        "first row after {first:?}"
    );
}
