//! Group 10, early exit: a 1M-row stream (quick: 100K) is dropped after 1,000 rows; measured is
//! the time from the drop to the connection being usable again (a trivial query completes).
//!
//! jsonwire cancels the query on drop and drains in the background. tokio-postgres, as users
//! call it, keeps reading (and discarding) the rest of the result in its connection task; the
//! `tokio_postgres_cancel` row is a tokio-postgres user who sends a cancel request first.

use std::time::Instant;

use criterion::{Criterion, Throughput};
use jsonwire_benches::clients::{self, Mode};
use jsonwire_benches::dataset::{Expected, Workload};
use jsonwire_benches::measure::{metered, Key, Sample};

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
                    let t1 = Instant::now();
                    drop(rows);
                    conn.batch_execute("SELECT 1").await?;
                    Ok::<_, jsonwire::Error>((n, ttfr, t1.elapsed()))
                })
            });
            let (n, ttfr, recovery) = got.unwrap_or_else(|e| panic!("{}: {e}", key.id()));
            exit_sample(ctx, &key, read, n, ttfr, recovery).with_cost(cost)
        },
    );
    ctx.rt.block_on(conn.close());

    for (client, cancel) in [("tokio_postgres", false), ("tokio_postgres_cancel", true)] {
        let key = Key::new(AREA, &case, client);
        let base = ctx.heap_base();
        let conn = ctx.tokio_postgres();
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
                        let t1 = Instant::now();
                        if cancel {
                            let _ = conn
                                .client
                                .cancel_token()
                                .cancel_query(tokio_postgres::NoTls)
                                .await;
                        }
                        tokio_ready(&conn.client).await;
                        Ok::<_, clients::BenchError>((got, t1.elapsed()))
                    })
                });
                let (got, recovery) =
                    got.unwrap_or_else(|e| panic!("{}: {}", key.id(), clients::error_chain(&*e)));
                exit_sample(ctx, &key, read, got.rows, got.ttfr, recovery).with_cost(cost)
            },
        );
        ctx.rt.block_on(conn.close());
    }
    g.finish();
}

fn exit_sample(
    ctx: &Ctx,
    key: &Key,
    read: Expected,
    rows: u64,
    ttfr: Option<std::time::Duration>,
    recovery: std::time::Duration,
) -> Sample {
    ctx.check(key, read, rows, None);
    Sample {
        timed: recovery,
        elapsed: recovery,
        ttfr,
        rows: 1,
        ..Sample::default()
    }
}
