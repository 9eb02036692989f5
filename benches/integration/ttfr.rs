//! Group 2, time to first row: from asking for the query to holding its first row, at 1K,
//! 100K and 1M rows (it must not grow with the result) and for `v_test_slow`, whose first row
//! needs a top-N sort over all 1M orders on the server.
//!
//! Small results (1K, slow) are read to the end and checked whole; for the big ones the query
//! is cancelled after the first row, outside the timed window.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use jsonwire_benches::clients::{self, Mode};
use jsonwire_benches::dataset::{Expected, Workload};
use jsonwire_benches::measure::{Key, Sample};
use jsonwire_benches::report::RAW_SOCKET;

use crate::harness::{bench, metered_sample, raw_received, Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "ttfr";

const CLIENTS: [&str; 3] = [RAW_SOCKET, "jsonwire_raw", "tokio_postgres_raw"];

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    // (case, view, read to the end)
    let cases: &[(&str, &str, bool)] = &[
        ("1k", "v_test_1k", true),
        ("100k", "v_test_100k", false),
        ("1m", "v_test_1m", false),
        ("slow", "v_test_slow", true),
    ];
    for &(case, view, whole) in cases {
        if ctx.quick && case == "1m" {
            continue;
        }
        let pace = if case == "slow" {
            Pace::Slow
        } else {
            Pace::Fast
        };
        let mut g = ctx.group(c, &format!("{AREA}/{case}"), pace);
        let w = Workload::view(view);
        for client in CLIENTS {
            first_row(&mut g, ctx, case, client, w, whole);
        }
        g.finish();
    }
    for client in CLIENTS {
        let at = |case| {
            ctx.rec.median_of(&Key::new(AREA, case, client), |s| {
                s.ttfr.map(|t| t.as_secs_f64() * 1000.0)
            })
        };
        let big = if ctx.quick { "100k" } else { "1m" };
        if let (Some(small), Some(large)) = (at("1k"), at(big)) {
            ctx.rec.note(
                AREA,
                format!(
                    "{client}: TTFR {small:.2} ms at 1k, {large:.2} ms at {big} ({:.2}×){}",
                    large / small,
                    if client == "jsonwire_raw" {
                        format!(
                            " — {}",
                            ctx.verdict(if large <= small * 1.5 + 0.5 {
                                "flat: yes"
                            } else {
                                "flat: NO"
                            })
                        )
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
}

/// One client's first-row benchmark on `w`. After every iteration, outside the timed window,
/// each client runs a trivial query on the same connection, so every client starts its next
/// query on a backend in the same state (a backend that was just cancelled answers its next
/// query measurably later).
fn first_row(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ctx: &Ctx,
    case: &str,
    client: &str,
    w: Workload,
    whole: bool,
) {
    let key = Key::new(AREA, case, client);
    let want = ctx.expected(&w);
    let base = ctx.heap_base();
    // Whole results are checked against bench_expected; a cancelled one must hold its first row.
    let checked = |got: Result<clients::Received, clients::BenchError>| {
        let got = got.unwrap_or_else(|e| panic!("{}: {}", key.id(), clients::error_chain(&*e)));
        if whole {
            ctx.check(&key, want, got.rows, got.bytes);
        } else {
            ctx.check(&key, Expected { rows: 1, bytes: 0 }, got.rows, None);
        }
        let ttfr = got
            .ttfr
            .unwrap_or_else(|| panic!("{}: no first row", key.id()));
        Sample {
            timed: ttfr,
            elapsed: ttfr,
            ttfr: Some(ttfr),
            rows: 1,
            wire_bytes: got.wire_bytes,
            round_trips: got.round_trips,
            ..Sample::default()
        }
    };
    let throughput = Throughput::Elements(1);
    match client {
        RAW_SOCKET => {
            let mut conn = ctx.raw_socket();
            let sql = w.sql();
            bench(g, ctx, key.clone(), case, throughput, || {
                let s = metered_sample(base, || {
                    checked(raw_received(if whole {
                        conn.query(&sql, &[])
                    } else {
                        conn.query_until(&sql, &[], 1)
                    }))
                });
                if let Err(e) = conn.query("SELECT 1", &[]) {
                    panic!("{}: the probe failed: {e}", key.id());
                }
                s
            });
        }
        "jsonwire_raw" => {
            let mut conn = ctx.jsonwire(&ctx.jsonwire_config());
            bench(g, ctx, key.clone(), case, throughput, || {
                let s = metered_sample(base, || {
                    checked(ctx.rt.block_on(async {
                        if whole {
                            clients::jsonwire(&mut conn, &w, Mode::Raw, false).await
                        } else {
                            clients::jsonwire_first_rows(&mut conn, &w, 1).await
                        }
                    }))
                });
                if let Err(e) = ctx.rt.block_on(conn.batch_execute("SELECT 1")) {
                    panic!("{}: the probe failed: {e}", key.id());
                }
                s
            });
            ctx.rt.block_on(conn.close());
        }
        _ => {
            let conn = ctx.tokio_postgres();
            bench(g, ctx, key.clone(), case, throughput, || {
                let s = metered_sample(base, || {
                    let limit = (!whole).then_some(1);
                    checked(ctx.rt.block_on(clients::tokio_postgres(
                        &conn.client,
                        &w,
                        Mode::Raw,
                        false,
                        limit,
                    )))
                });
                if whole {
                    ctx.rt.block_on(tokio_ready(&conn.client));
                } else {
                    ctx.rt.block_on(tokio_cancel(&conn.client));
                }
                s
            });
            ctx.rt.block_on(conn.close());
        }
    }
}

/// Cancels whatever the connection runs and waits until it answers again. tokio-postgres
/// does not wait for the server to act on a cancel request, so one that lands late can cancel
/// the probe instead; that probe is retried.
pub async fn tokio_cancel(client: &tokio_postgres::Client) {
    let _ = client
        .cancel_token()
        .cancel_query(tokio_postgres::NoTls)
        .await;
    tokio_ready(client).await;
}

/// Waits until the connection answers a trivial query, retrying one that a late cancel hit.
pub async fn tokio_ready(client: &tokio_postgres::Client) {
    for _ in 0..3 {
        match client.batch_execute("SELECT 1").await {
            Ok(()) => return,
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => panic!(
                "tokio-postgres did not recover after a cancel: {}",
                clients::error_chain(&e)
            ),
        }
    }
    panic!("tokio-postgres: a trivial query was cancelled three times in a row");
}
