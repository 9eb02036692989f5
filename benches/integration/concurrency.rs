//! Group 9, concurrency: many streams at once, one connection each, every stream running its
//! queries back to back: 20 streams × 10 queries and 100 × 5 (quick: 20 × 2 and 100 × 1), on
//! `v_test_1k`. Criterion times the whole batch; each query's latency and any failed query are
//! recorded, for the error rate and the p50/p95/p99 latencies.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use jsonwire_benches::clients::{self, Mode, TokioClient};
use jsonwire_benches::dataset::{Expected, Workload};
use jsonwire_benches::measure::{metered, Key, Sample};

use crate::harness::{Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "concurrency";

/// What one stream did in a batch (the pool group's tasks record the same).
pub(crate) struct Stream {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) errors: u64,
    pub(crate) wrong: Option<String>,
}

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let shapes: &[(usize, usize)] = if ctx.quick {
        &[(20, 2), (100, 1)]
    } else {
        &[(20, 10), (100, 5)]
    };
    let w = Workload::view("v_test_1k");
    let want = ctx.expected(&w);
    for &(streams, queries) in shapes {
        let case = format!("{streams}x{queries}");
        let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
        let total = (streams * queries) as u64;

        let key = Key::new(AREA, &case, "jsonwire_raw");
        let base = ctx.heap_base();
        let mut conns: Vec<jsonwire::Client> = (0..streams)
            .map(|_| ctx.jsonwire(&ctx.jsonwire_config()))
            .collect();
        crate::harness::bench(
            &mut g,
            ctx,
            key.clone(),
            &case,
            Throughput::Elements(total * want.rows),
            || {
                batch(ctx, &key, base, total, want, &mut conns, |mut conn| {
                    ctx.rt.spawn(async move {
                        let mut s = Stream::new();
                        for _ in 0..queries {
                            let t = Instant::now();
                            let got = clients::jsonwire(&mut conn, &w, Mode::Raw, false).await;
                            s.record(t, got, want);
                        }
                        (conn, s)
                    })
                })
            },
        );
        for conn in conns.drain(..) {
            ctx.rt.block_on(conn.close());
        }

        let key = Key::new(AREA, &case, "tokio_postgres_raw");
        let base = ctx.heap_base();
        let mut conns: Vec<TokioClient> = (0..streams).map(|_| ctx.tokio_postgres()).collect();
        crate::harness::bench(
            &mut g,
            ctx,
            key.clone(),
            &case,
            Throughput::Elements(total * want.rows),
            || {
                batch(ctx, &key, base, total, want, &mut conns, |conn| {
                    ctx.rt.spawn(async move {
                        let mut s = Stream::new();
                        for _ in 0..queries {
                            let t = Instant::now();
                            let got =
                                clients::tokio_postgres(&conn.client, &w, Mode::Raw, false, None)
                                    .await;
                            s.record(t, got, want);
                        }
                        (conn, s)
                    })
                })
            },
        );
        for conn in conns.drain(..) {
            ctx.rt.block_on(conn.close());
        }
        g.finish();
    }
}

impl Stream {
    pub(crate) fn new() -> Stream {
        Stream {
            latencies: Vec::new(),
            errors: 0,
            wrong: None,
        }
    }

    /// Records a query that started at `t`: its latency when it returned what `want` says,
    /// an error when it failed, and a wrong result (which voids the run) otherwise.
    pub(crate) fn record(
        &mut self,
        t: Instant,
        got: Result<clients::Received, clients::BenchError>,
        want: Expected,
    ) {
        match got {
            Ok(r) if r.rows == want.rows && r.bytes.is_none_or(|b| b == want.bytes) => {
                self.latencies.push(t.elapsed());
            }
            Ok(r) => {
                self.wrong = Some(format!(
                    "received {} rows / {:?} bytes, bench_expected says {} / {}",
                    r.rows, r.bytes, want.rows, want.bytes
                ));
            }
            Err(_) => self.errors += 1,
        }
    }
}

/// Runs one batch: `spawn` starts a stream on each connection of `conns` (the stream owns it
/// while it runs); the connections come back into `conns` for the next batch.
fn batch<C: Send + 'static>(
    ctx: &Ctx,
    key: &Key,
    base: u64,
    total: u64,
    want: Expected,
    conns: &mut Vec<C>,
    spawn: impl Fn(C) -> tokio::task::JoinHandle<(C, Stream)>,
) -> Sample {
    let ((elapsed, streams), cost) = metered(base, || {
        ctx.rt.block_on(async {
            let t0 = Instant::now();
            let tasks: Vec<_> = conns.drain(..).map(&spawn).collect();
            let mut streams = Vec::with_capacity(tasks.len());
            for task in tasks {
                let (conn, s) = task
                    .await
                    .unwrap_or_else(|e| panic!("{}: a stream panicked: {e}", key.id()));
                conns.push(conn);
                streams.push(s);
            }
            (t0.elapsed(), streams)
        })
    });
    batch_sample(key, elapsed, streams, total, want).with_cost(cost)
}

/// A batch's sample from what its streams did: their latencies and errors, the rows and bytes
/// of the queries that succeeded. A wrong result voids the run; every one of the `total`
/// queries must be accounted for.
pub(crate) fn batch_sample(
    key: &Key,
    elapsed: Duration,
    streams: Vec<Stream>,
    total: u64,
    want: Expected,
) -> Sample {
    let mut sample = Sample {
        timed: elapsed,
        elapsed,
        ..Sample::default()
    };
    for s in streams {
        if let Some(wrong) = s.wrong {
            panic!("{}: {wrong}; the run is void", key.id());
        }
        sample.errors += s.errors;
        sample.latencies.extend(s.latencies);
    }
    let ok = sample.latencies.len() as u64;
    assert_eq!(ok + sample.errors, total, "{}: queries lost", key.id());
    sample.rows = ok * want.rows;
    sample.bytes = ok * want.bytes;
    sample
}
