//! Group 10, early exit: a 1M-row stream (quick: 100K) is dropped after 1,000 rows; measured is
//! the time from the drop to the connection being usable again (a trivial query completes),
//! and the bytes the client read from its socket from the drop until then, counted by the
//! kernel for every client alike ([`SocketCounter`]; the trivial query's own reply, some 60
//! bytes, included).
//!
//! jsonwire cancels the query on drop and drains in the background. tokio-postgres, as users
//! call it, keeps reading (and discarding) the rest of the result in its connection task; the
//! `tokio_postgres_cancel` row is a tokio-postgres user who sends a cancel request first.

use std::time::Instant;

use criterion::{Criterion, Throughput};
use jsonwire_benches::clients::{self, Mode};
use jsonwire_benches::dataset::{Expected, Workload};
use jsonwire_benches::measure::{metered, Key, Sample};
use jsonwire_benches::sockets::SocketCounter;

use crate::harness::{bench, Ctx, Pace};
use crate::ttfr::tokio_ready;

/// The area of this group's rows.
pub const AREA: &str = "early_exit";

const AFTER: u64 = 1000;

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let (size, view) = if ctx.quick {
        ("100k", "v_test_100k")
    } else {
        ("1m", "v_test_1m")
    };
    let case = format!("{size}_after_{AFTER}");
    let w = Workload::view(view);
    let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
    let read = Expected {
        rows: AFTER,
        bytes: 0,
    };

    let key = Key::new(AREA, &case, "jsonwire");
    let base = ctx.heap_base();
    let mut conn = ctx.jsonwire(&ctx.jsonwire_config());
    let socket = ctx
        .rt
        .block_on(jsonwire_port(&mut conn))
        .map_err(|e| e.to_string())
        .and_then(|port| SocketCounter::find(port).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{}: the client's socket: {e}", key.id()));
    bench(
        &mut g,
        ctx,
        key.clone(),
        &case,
        Throughput::Elements(1),
        || {
            let (got, cost) = metered(base, || {
                ctx.rt.block_on(async {
                    let mut rows = conn.query(w.view).stream_raw().await?;
                    let mut n = 0;
                    while n < AFTER {
                        if rows.try_next().await?.is_none() {
                            break;
                        }
                        n += 1;
                    }
                    let ttfr = rows.stats().time_to_first_row;
                    let at_drop = socket.read_bytes();
                    let t1 = Instant::now();
                    drop(rows);
                    conn.batch_execute("SELECT 1").await?;
                    let recovery = t1.elapsed();
                    let after = read_after(at_drop, socket.read_bytes());
                    Ok::<_, jsonwire::Error>((n, ttfr, recovery, after))
                })
            });
            let (n, ttfr, recovery, after) = got.unwrap_or_else(|e| panic!("{}: {e}", key.id()));
            exit_sample(ctx, &key, read, n, ttfr, recovery, after).with_cost(cost)
        },
    );
    ctx.rt.block_on(conn.close());

    for (client, cancel) in [("tokio_postgres", false), ("tokio_postgres_cancel", true)] {
        let key = Key::new(AREA, &case, client);
        let base = ctx.heap_base();
        let conn = ctx.tokio_postgres();
        let socket = ctx
            .rt
            .block_on(conn.client.query_one("SELECT inet_client_port()", &[]))
            .map_err(|e| clients::error_chain(&e))
            .and_then(|row| port(row.get::<_, i32>(0)))
            .and_then(|port| SocketCounter::find(port).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| panic!("{}: the client's socket: {e}", key.id()));
        bench(
            &mut g,
            ctx,
            key.clone(),
            &case,
            Throughput::Elements(1),
            || {
                let (got, cost) = metered(base, || {
                    ctx.rt.block_on(async {
                        let got = clients::tokio_postgres(
                            &conn.client,
                            &w,
                            Mode::Raw,
                            false,
                            Some(AFTER),
                        )
                        .await?;
                        // The stream was dropped as the call returned.
                        let at_drop = socket.read_bytes();
                        let t1 = Instant::now();
                        if cancel {
                            let _ = conn
                                .client
                                .cancel_token()
                                .cancel_query(tokio_postgres::NoTls)
                                .await;
                        }
                        tokio_ready(&conn.client).await;
                        let recovery = t1.elapsed();
                        let after = read_after(at_drop, socket.read_bytes());
                        Ok::<_, clients::BenchError>((got, recovery, after))
                    })
                });
                let (got, recovery, after) =
                    got.unwrap_or_else(|e| panic!("{}: {}", key.id(), clients::error_chain(&*e)));
                exit_sample(ctx, &key, read, got.rows, got.ttfr, recovery, after).with_cost(cost)
            },
        );
        ctx.rt.block_on(conn.close());
    }
    g.finish();
    bytes_note(ctx, &case);
}

/// Bytes read after the drop, per client, against the target: under 1 MB.
fn bytes_note(ctx: &Ctx, case: &str) {
    let figures: Vec<(&str, f64)> = ["jsonwire", "tokio_postgres", "tokio_postgres_cancel"]
        .into_iter()
        .filter_map(|client| {
            let bytes = ctx.rec.median_of(&Key::new(AREA, case, client), |s| {
                s.bytes_after_drop.map(|b| b as f64)
            })?;
            Some((client, bytes))
        })
        .collect();
    let Some(&(_, jsonwire)) = figures.iter().find(|(c, _)| *c == "jsonwire") else {
        return;
    };
    let list: Vec<String> = figures
        .iter()
        .map(|(c, b)| format!("{c} {:.3} MB", b / 1e6))
        .collect();
    ctx.rec.note(
        AREA,
        format!(
            "bytes read from the socket after the drop until the connection answered (medians, \
             counted by the kernel): {}; jsonwire under 1 MB: {}",
            list.join(", "),
            ctx.verdict(if jsonwire < 1e6 { "yes" } else { "NO" })
        ),
    );
}

/// The local port of a jsonwire client's connection, as the server sees it.
async fn jsonwire_port(conn: &mut jsonwire::Client) -> Result<u16, String> {
    let mut rows = conn
        .sql("SELECT to_json(inet_client_port())")
        .stream::<i32>()
        .await
        .map_err(|e| e.to_string())?;
    let mut found = None;
    while let Some(p) = rows.try_next().await.map_err(|e| e.to_string())? {
        found = Some(p);
    }
    port(found.ok_or("inet_client_port() returned no row")?)
}

fn port(p: i32) -> Result<u16, String> {
    u16::try_from(p).map_err(|_| format!("inet_client_port() is {p}: not a TCP connection"))
}

/// Bytes read between two counts of the socket; `None` when either could not be taken (the
/// connection was closed instead of recovered).
fn read_after(at_drop: std::io::Result<u64>, end: std::io::Result<u64>) -> Option<u64> {
    Some(end.ok()?.saturating_sub(at_drop.ok()?))
}

fn exit_sample(
    ctx: &Ctx,
    key: &Key,
    read: Expected,
    rows: u64,
    ttfr: Option<std::time::Duration>,
    recovery: std::time::Duration,
    bytes_after_drop: Option<u64>,
) -> Sample {
    ctx.check(key, read, rows, None);
    Sample {
        timed: recovery,
        elapsed: recovery,
        ttfr,
        rows: 1,
        bytes_after_drop,
        ..Sample::default()
    }
}
