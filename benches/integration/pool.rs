//! Group 11, pool: streams taken from a pool of 10 connections, jsonwire's own (`Pool`, on
//! deadpool) beside tokio-postgres with deadpool-postgres (the same deadpool 0.12), as their
//! users write it.
//!
//! - `20x10`, `100x5` (quick: `20x2`, `100x1`): that many tasks at once, each running its
//!   streams of `v_test_1k` back to back through the pool. Criterion times the whole batch;
//!   each stream's latency runs from asking the pool for it to its last row, so the wait for
//!   a free connection counts.
//! - `exhaustion`: a pool of [`EXHAUSTED_SIZE`] whose connections are all checked out, and
//!   [`WAITERS`] streams asked for at once with a wait timeout of [`WAIT_TIMEOUT`]. Every
//!   waiter must get the pool's timeout error; any other error, a stream handed out or a
//!   waiter still waiting after [`HANG_LIMIT`] is an error. The latencies are the times until
//!   each waiter got its timeout error. Once the connections are given back, the next stream
//!   must be served.
//! - `http50`: the HTTP example (`examples/http_ndjson`) serving `v_test_10k` (quick:
//!   `v_test_1k`) as NDJSON from a pool of 10, read by 50 downloads at once in this process:
//!   rows/s over the batch, and the process's peak heap. The downloads are minimal HTTP/1.0
//!   readers with a 16 KiB buffer each (see [`download`]), so the peak is the server's; an
//!   HTTP client such as reqwest (hyper) grows its read buffer towards 400 KiB per connection
//!   on loopback, which would be most of the figure.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use jsonwire_benches::clients::{self, BenchError, Mode};
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::{metered, ms, percentile, Key, Sample};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::concurrency::{batch_sample, Stream};
use crate::harness::{bench, Ctx, Pace};

#[path = "../../examples/http_ndjson/app.rs"]
mod app;

/// The area of this group's rows.
pub const AREA: &str = "pool";

/// Connections in the pool of the batches and of the HTTP case.
const POOL_SIZE: usize = 10;
/// Connections in the exhausted pool, all checked out while the waiters ask.
const EXHAUSTED_SIZE: usize = 4;
/// Streams asked for while the pool is exhausted.
const WAITERS: usize = 16;
/// The exhausted pool's wait timeout.
const WAIT_TIMEOUT: Duration = Duration::from_millis(100);
/// A waiter with no answer after this long counts as hung.
const HANG_LIMIT: Duration = Duration::from_secs(2);
/// Concurrent downloads of the HTTP case.
const DOWNLOADS: usize = 50;

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let shapes: &[(usize, usize)] = if ctx.quick {
        &[(20, 2), (100, 1)]
    } else {
        &[(20, 10), (100, 5)]
    };
    for &(tasks, streams) in shapes {
        batches(c, ctx, tasks, streams);
    }
    exhaustion(c, ctx);
    http(c, ctx);
}

/// A jsonwire pool of `size` connections to the server, checkouts waiting at most `wait`.
fn jsonwire_pool(ctx: &Ctx, size: usize, wait: Duration) -> jsonwire::Pool {
    jsonwire::Pool::builder(&ctx.jsonwire_config())
        .max_size(size)
        .wait_timeout(wait)
        .build()
        .unwrap_or_else(|e| panic!("jsonwire's pool cannot be built: {e}"))
}

/// A deadpool-postgres pool of `size` connections to the server (fast recycling: its
/// default), checkouts waiting at most `wait`.
fn deadpool_postgres(ctx: &Ctx, size: usize, wait: Duration) -> deadpool_postgres::Pool {
    let config: tokio_postgres::Config = ctx
        .server
        .url()
        .parse()
        .unwrap_or_else(|e| panic!("tokio-postgres cannot read the server URL: {e}"));
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(wait))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap_or_else(|e| panic!("deadpool-postgres cannot build its pool: {e}"))
}

/// What the pool cases ask of a pool: jsonwire's own and deadpool-postgres's, each called as
/// its users call it. One implementation per client keeps the cases themselves written once.
trait BenchPool: Clone + Send + Sync + 'static {
    /// A checked-out connection, given back to the pool when dropped.
    type Held: Send;
    /// The client part of the row's key.
    const CLIENT: &'static str;
    /// Checks out a connection and holds it.
    fn hold(&self) -> impl Future<Output = Result<Self::Held, String>> + Send;
    /// One waiter on an exhausted pool: asks for what a user asks for (jsonwire: a stream of
    /// `w`; deadpool-postgres: a connection) and says how that ended; the first error other
    /// than the pool's timeout goes into `other`.
    fn ask(
        &self,
        w: Workload,
        other: Arc<Mutex<Option<String>>>,
    ) -> impl Future<Output = Waited> + Send;
    /// One stream of `w` through the pool, raw rows.
    fn stream(
        &self,
        w: Workload,
    ) -> impl Future<Output = Result<clients::Received, BenchError>> + Send;
}

impl BenchPool for jsonwire::Pool {
    type Held = jsonwire::PooledClient;
    const CLIENT: &'static str = "jsonwire_raw";

    async fn hold(&self) -> Result<Self::Held, String> {
        self.get().await.map_err(|e| e.to_string())
    }

    async fn ask(&self, w: Workload, other: Arc<Mutex<Option<String>>>) -> Waited {
        let t = Instant::now();
        let got = tokio::time::timeout(HANG_LIMIT, self.query(w.view).stream_raw()).await;
        outcome(
            t,
            got,
            |e: &jsonwire::Error| e.kind() == jsonwire::ErrorKind::PoolTimeout,
            &other,
        )
    }

    async fn stream(&self, w: Workload) -> Result<clients::Received, BenchError> {
        let started = Instant::now();
        let mut rows = self.query(w.view).stream_raw().await?;
        let mut ttfr = None;
        while let Some(row) = rows.try_next().await? {
            ttfr.get_or_insert_with(|| started.elapsed());
            std::hint::black_box(&row);
        }
        let stats = rows.stats();
        Ok(clients::Received {
            rows: stats.rows,
            bytes: Some(stats.bytes),
            ttfr,
            elapsed: started.elapsed(),
            ..clients::Received::default()
        })
    }
}

impl BenchPool for deadpool_postgres::Pool {
    type Held = deadpool_postgres::Object;
    const CLIENT: &'static str = "tokio_postgres_raw";

    async fn hold(&self) -> Result<Self::Held, String> {
        self.get().await.map_err(|e| e.to_string())
    }

    async fn ask(&self, _: Workload, other: Arc<Mutex<Option<String>>>) -> Waited {
        let t = Instant::now();
        let got = tokio::time::timeout(HANG_LIMIT, self.get()).await;
        outcome(
            t,
            got,
            |e: &deadpool_postgres::PoolError| {
                matches!(e, deadpool_postgres::PoolError::Timeout(_))
            },
            &other,
        )
    }

    /// A checkout, then `query_raw` as the concurrency group runs it.
    async fn stream(&self, w: Workload) -> Result<clients::Received, BenchError> {
        let client = self.get().await?;
        clients::tokio_postgres(&client, &w, Mode::Raw, false, None).await
    }
}

/// `tasks` tasks × `streams` streams of `v_test_1k` through a pool of [`POOL_SIZE`], for each
/// client.
fn batches(c: &mut Criterion, ctx: &Ctx, tasks: usize, streams: usize) {
    let case = format!("{tasks}x{streams}");
    let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
    let pool = jsonwire_pool(ctx, POOL_SIZE, Duration::from_secs(30));
    batches_of(&mut g, ctx, &case, pool, tasks, streams);
    let pool = deadpool_postgres(ctx, POOL_SIZE, Duration::from_secs(30));
    batches_of(&mut g, ctx, &case, pool, tasks, streams);
    g.finish();
}

/// The batch case for one client's pool, which is dropped at the end.
fn batches_of<P: BenchPool>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    ctx: &Ctx,
    case: &str,
    pool: P,
    tasks: usize,
    streams: usize,
) {
    let w = Workload::view("v_test_1k");
    let want = ctx.expected(&w);
    let total = (tasks * streams) as u64;
    let key = Key::new(AREA, case, P::CLIENT);
    let base = ctx.heap_base();
    bench(
        g,
        ctx,
        key.clone(),
        case,
        Throughput::Elements(total * want.rows),
        || {
            let ((elapsed, done), cost) = metered(base, || {
                ctx.rt.block_on(async {
                    let t0 = Instant::now();
                    let handles: Vec<_> = (0..tasks)
                        .map(|_| {
                            let pool = pool.clone();
                            ctx.rt.spawn(async move {
                                let mut s = Stream::new();
                                for _ in 0..streams {
                                    let t = Instant::now();
                                    s.record(t, pool.stream(w).await, want);
                                }
                                s
                            })
                        })
                        .collect();
                    let mut done = Vec::with_capacity(tasks);
                    for h in handles {
                        done.push(
                            h.await
                                .unwrap_or_else(|e| panic!("{}: a task panicked: {e}", key.id())),
                        );
                    }
                    (t0.elapsed(), done)
                })
            });
            batch_sample(&key, elapsed, done, total, want).with_cost(cost)
        },
    );
}

/// How a waiter on an exhausted pool ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// The pool's wait-timeout error, after this long.
    TimedOut(Duration),
    /// Another error.
    Failed,
    /// A stream was handed out although every connection was checked out.
    Served,
    /// No answer within [`HANG_LIMIT`].
    Hung,
}

/// What the exhaustion iterations of one client saw, over all of them (warm-up included).
#[derive(Debug, Default)]
struct Tally {
    iterations: u64,
    timed_out: u64,
    failed: u64,
    served: u64,
    hung: u64,
    served_after: u64,
    /// The times to the timeout error, ms.
    waits: Vec<f64>,
    first_other: Option<String>,
}

impl Tally {
    fn add(&mut self, waited: &[Waited], served_after: bool) {
        self.iterations += 1;
        for w in waited {
            match w {
                Waited::TimedOut(d) => {
                    self.timed_out += 1;
                    self.waits.push(ms(*d));
                }
                Waited::Failed => self.failed += 1,
                Waited::Served => self.served += 1,
                Waited::Hung => self.hung += 1,
            }
        }
        self.served_after += u64::from(served_after);
    }

    fn note(&self, client: &str) -> String {
        let waiters = self.iterations * WAITERS as u64;
        format!(
            "exhaustion, {client}: {} iterations (warm-up included) of {WAITERS} streams asked \
             of a pool of {EXHAUSTED_SIZE} whose connections were all checked out, wait timeout \
             {} ms: {} of {waiters} waiters got the pool-timeout error (after p50 {:.1} ms, \
             max {:.1} ms), {} other errors{}, {} were served, {} hung (no answer within {} s); \
             after the connections came back the next stream was served {} of {} times",
            self.iterations,
            WAIT_TIMEOUT.as_millis(),
            self.timed_out,
            percentile(&self.waits, 50.0).unwrap_or(0.0),
            percentile(&self.waits, 100.0).unwrap_or(0.0),
            self.failed,
            self.first_other
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})")),
            self.served,
            self.hung,
            HANG_LIMIT.as_secs(),
            self.served_after,
            self.iterations,
        )
    }
}

/// A waiter's result, from the time it asked.
fn outcome<T, E>(
    t: Instant,
    got: Result<Result<T, E>, tokio::time::error::Elapsed>,
    is_timeout: impl Fn(&E) -> bool,
    other: &Mutex<Option<String>>,
) -> Waited
where
    E: std::fmt::Display,
{
    match got {
        Err(_) => Waited::Hung,
        Ok(Ok(_)) => Waited::Served,
        Ok(Err(e)) if is_timeout(&e) => Waited::TimedOut(t.elapsed()),
        Ok(Err(e)) => {
            let mut first = other.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| e.to_string());
            Waited::Failed
        }
    }
}

/// An iteration's sample from its waiters: the latencies are the times to the timeout error,
/// the errors everything else.
fn exhaustion_sample(elapsed: Duration, waited: &[Waited]) -> Sample {
    let mut sample = Sample {
        timed: elapsed,
        elapsed,
        rows: waited.len() as u64,
        ..Sample::default()
    };
    for w in waited {
        match w {
            Waited::TimedOut(d) => sample.latencies.push(*d),
            _ => sample.errors += 1,
        }
    }
    sample
}

fn exhaustion(c: &mut Criterion, ctx: &Ctx) {
    let mut g = ctx.group(c, &format!("{AREA}/exhaustion"), Pace::Slow);
    exhaust(
        &mut g,
        ctx,
        jsonwire_pool(ctx, EXHAUSTED_SIZE, WAIT_TIMEOUT),
    );
    exhaust(
        &mut g,
        ctx,
        deadpool_postgres(ctx, EXHAUSTED_SIZE, WAIT_TIMEOUT),
    );
    g.finish();
}

/// The exhaustion case for one client's pool of [`EXHAUSTED_SIZE`], which is dropped at the end.
fn exhaust<P: BenchPool>(g: &mut BenchmarkGroup<'_, WallTime>, ctx: &Ctx, pool: P) {
    let case = "exhaustion";
    let w = Workload::view("v_test_1k");
    let want = ctx.expected(&w);
    let key = Key::new(AREA, case, P::CLIENT);
    let base = ctx.heap_base();
    let other = Arc::new(Mutex::new(None));
    let mut tally = Tally::default();
    let throughput = Throughput::Elements(WAITERS as u64);
    bench(g, ctx, key.clone(), case, throughput, || {
        let ((elapsed, waited, served_after), cost) = metered(base, || {
            ctx.rt.block_on(async {
                let mut held = Vec::with_capacity(EXHAUSTED_SIZE);
                for _ in 0..EXHAUSTED_SIZE {
                    held.push(pool.hold().await.unwrap_or_else(|e| {
                        panic!("{}: checking out a connection: {e}", key.id())
                    }));
                }
                let t0 = Instant::now();
                let waiters: Vec<_> = (0..WAITERS)
                    .map(|_| {
                        let (pool, other) = (pool.clone(), Arc::clone(&other));
                        ctx.rt.spawn(async move { pool.ask(w, other).await })
                    })
                    .collect();
                let mut waited = Vec::with_capacity(WAITERS);
                for h in waiters {
                    waited.push(h.await.unwrap_or_else(|e| panic!("{}: {e}", key.id())));
                }
                let elapsed = t0.elapsed();
                drop(held);
                let after = pool.stream(w).await;
                let served_after = after.is_ok_and(|r| r.rows == want.rows);
                (elapsed, waited, served_after)
            })
        });
        tally.add(&waited, served_after);
        exhaustion_sample(elapsed, &waited).with_cost(cost)
    });
    tally.first_other = other.lock().unwrap_or_else(|e| e.into_inner()).take();
    ctx.rec.note(AREA, tally.note(&key.client));
}

/// The HTTP example under [`DOWNLOADS`] downloads at once, over a pool of [`POOL_SIZE`].
fn http(c: &mut Criterion, ctx: &Ctx) {
    let case = format!("http{DOWNLOADS}");
    let view = if ctx.quick { "v_test_1k" } else { "v_test_10k" };
    let w = Workload::view(view);
    let want = ctx.expected(&w);
    let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
    let key = Key::new(AREA, &case, "jsonwire_raw");

    let base = ctx.heap_base();
    let pool = jsonwire_pool(ctx, POOL_SIZE, Duration::from_secs(60));
    let router = app::router(app::App::new(pool.clone(), &[view]));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = ctx.rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{}: no port for the HTTP server: {e}", key.id()));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{}: {e}", key.id()));
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        (addr, server)
    });
    let path = format!("/ndjson/{view}");
    let mut failed = 0u64;
    let mut downloads_ms: Vec<f64> = Vec::new();
    bench(
        &mut g,
        ctx,
        key.clone(),
        &case,
        Throughput::Elements(DOWNLOADS as u64 * want.rows),
        || {
            let ((elapsed, got), cost) = metered(base, || {
                ctx.rt.block_on(async {
                    let t0 = Instant::now();
                    let tasks: Vec<_> = (0..DOWNLOADS)
                        .map(|_| {
                            let path = path.clone();
                            tokio::spawn(async move {
                                let t = Instant::now();
                                download(addr, &path).await.map(|got| (got, t.elapsed()))
                            })
                        })
                        .collect();
                    let mut got = Vec::with_capacity(DOWNLOADS);
                    for t in tasks {
                        got.push(t.await.unwrap_or_else(|e| panic!("{}: {e}", key.id())));
                    }
                    (t0.elapsed(), got)
                })
            });
            let mut sample = Sample {
                timed: elapsed,
                elapsed,
                ..Sample::default()
            };
            for d in got {
                match d {
                    Ok(((lines, bytes), took)) => {
                        // Every line is a row and its newline.
                        ctx.check(&key, want, lines, Some(bytes - lines));
                        sample.rows += lines;
                        sample.bytes += bytes - lines;
                        downloads_ms.push(ms(took));
                    }
                    Err(_) => {
                        sample.errors += 1;
                        failed += 1;
                    }
                }
            }
            sample.with_cost(cost)
        },
    );
    g.finish();
    let status = pool.status();
    ctx.rec.note(
        AREA,
        format!(
            "{case}: the HTTP example serving {view} ({} rows) from a pool of {POOL_SIZE}, \
             {DOWNLOADS} downloads at once (HTTP/1.0, each read into a {} KiB buffer) in the \
             same process, over {} \
             downloads (warm-up included): {} failed; one download took p50 {:.1} ms, p95 \
             {:.1} ms, max {:.1} ms; the pool held {} connections at the end (at most \
             {POOL_SIZE}). Peak heap is the process's: the server's, plus the downloads' \
             buffers",
            want.rows,
            DOWNLOAD_BUFFER / 1024,
            downloads_ms.len() as u64 + failed,
            failed,
            percentile(&downloads_ms, 50.0).unwrap_or(0.0),
            percentile(&downloads_ms, 95.0).unwrap_or(0.0),
            percentile(&downloads_ms, 100.0).unwrap_or(0.0),
            status.size,
        ),
    );
    let _ = stop.send(());
    if let Ok(Err(e)) = ctx.rt.block_on(server) {
        ctx.rec
            .note(AREA, format!("{case}: the HTTP server ended with {e}"));
    }
}

/// Bytes one download reads at a time.
const DOWNLOAD_BUFFER: usize = 16 * 1024;

/// One download of `path` from `addr`: the body's lines and bytes. An HTTP/1.0 request, so
/// the body is the rest of the connection (no chunked framing to take apart), read into a
/// buffer of [`DOWNLOAD_BUFFER`] and not kept: the load generator's own heap stays small
/// and fixed, and the peak heap is the server's.
async fn download(addr: SocketAddr, path: &str) -> Result<(u64, u64), BenchError> {
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    socket
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = vec![0u8; DOWNLOAD_BUFFER];
    let mut head = Vec::new();
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut in_body = false;
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let mut body = &buf[..n];
        if !in_body {
            head.extend_from_slice(body);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let status = head.split(|&b| b == b' ').nth(1).unwrap_or_default();
            if status != b"200" {
                return Err(format!(
                    "HTTP status {}",
                    String::from_utf8_lossy(&head[..head.len().min(200)])
                )
                .into());
            }
            let skip = n - (head.len() - end - 4);
            body = &buf[skip..n];
            in_body = true;
        }
        lines += body.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += body.len() as u64;
    }
    if !in_body {
        return Err("the connection closed before the response's headers ended".into());
    }
    Ok((lines, bytes))
}
