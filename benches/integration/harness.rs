//! What every group shares: the run's context, the criterion settings per kind of benchmark,
//! and the loop that feeds criterion while recording each iteration.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use jsonwire_benches::clients::{self, BenchError, Mode, Received, TokioClient};
use jsonwire_benches::dataset::{Expected, Workload};
use jsonwire_benches::measure::{heap_now, median, metered, ms, Key, Recorder, Sample};
use jsonwire_benches::peers::fraiseql::{self, FraiseqlPeer};
use jsonwire_benches::raw_socket::{Pacing, RawResult, RawSocket};
use jsonwire_benches::report::{RAW_SOCKET, RAW_SOCKET_EAGER};
use jsonwire_benches::server::BenchServer;
use tokio::runtime::Runtime;

/// The run's context.
pub struct Ctx {
    pub rt: Runtime,
    pub server: BenchServer,
    pub rec: Recorder,
    /// Small sizes and few samples (`JSONWIRE_BENCH_QUICK=1` or criterion's `--quick`).
    pub quick: bool,
    /// The fraiseql-wire peer's binary (feature `peer-fraiseql`), checked against the server.
    pub fraiseql: Option<FraiseqlPeer>,
}

/// How long one iteration of a group takes, which decides its criterion settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Milliseconds: criterion's defaults, shortened.
    Fast,
    /// Around a second: flat sampling, the minimum of 10 samples.
    Slow,
}

impl Ctx {
    /// A benchmark group named `area/case` with settings for `pace`.
    pub fn group<'c>(
        &self,
        c: &'c mut Criterion,
        name: &str,
        pace: Pace,
    ) -> BenchmarkGroup<'c, WallTime> {
        let mut g = c.benchmark_group(name);
        match (pace, self.quick) {
            (Pace::Fast, false) => {
                g.sample_size(20)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(2));
            }
            (Pace::Fast, true) => {
                g.sample_size(10)
                    .warm_up_time(Duration::from_millis(100))
                    .measurement_time(Duration::from_millis(500));
            }
            (Pace::Slow, false) => {
                g.sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(2));
            }
            (Pace::Slow, true) => {
                g.sampling_mode(SamplingMode::Flat)
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(1))
                    .measurement_time(Duration::from_millis(500));
            }
        }
        g
    }

    /// A verdict for a note, or in quick mode the words saying there is none: a quick pass
    /// measures too few samples of too small results to judge anything.
    pub fn verdict(&self, verdict: impl Into<String>) -> String {
        if self.quick {
            "no verdict (quick mode: too few samples to judge)".to_owned()
        } else {
            verdict.into()
        }
    }

    /// What `w` must return.
    pub fn expected(&self, w: &Workload) -> Expected {
        self.server.expected.get(&w.expected_view())
    }

    /// Panics (ending the run) when a result does not match `bench_expected`. Byte totals are
    /// compared when the client reported one: jsonb's binary form is a version byte and the
    /// same text as `data::text`, so every client must see exactly `text_bytes`.
    pub fn check(&self, key: &Key, want: Expected, rows: u64, bytes: Option<u64>) {
        if rows != want.rows {
            panic!(
                "{}: received {rows} rows, bench_expected says {}; the run is void",
                key.id(),
                want.rows
            );
        }
        if let Some(bytes) = bytes {
            if bytes != want.bytes {
                panic!(
                    "{}: received {bytes} bytes of JSON, bench_expected says {}; the run is void",
                    key.id(),
                    want.bytes
                );
            }
        }
    }

    /// The heap in use now: measure peaks above it before a client is connected.
    pub fn heap_base(&self) -> u64 {
        heap_now()
    }

    /// Connects jsonwire with `config`.
    pub fn jsonwire(&self, config: &jsonwire::Config) -> jsonwire::Client {
        self.rt
            .block_on(jsonwire::Client::connect_with(config))
            .unwrap_or_else(|e| panic!("jsonwire cannot connect: {e}"))
    }

    /// A jsonwire config for the main URL.
    pub fn jsonwire_config(&self) -> jsonwire::Config {
        jsonwire::Config::parse(self.server.url())
            .unwrap_or_else(|e| panic!("jsonwire cannot read the server URL: {e}"))
    }

    /// Connects tokio-postgres.
    pub fn tokio_postgres(&self) -> TokioClient {
        self.rt
            .block_on(TokioClient::connect(self.server.url()))
            .unwrap_or_else(|e| {
                panic!(
                    "tokio-postgres cannot connect: {}",
                    clients::error_chain(&*e)
                )
            })
    }

    /// Connects the raw-socket reader, paced: the reference.
    pub fn raw_socket(&self) -> RawSocket {
        self.raw_socket_with(Pacing::Paced)
    }

    /// Connects the raw-socket reader, waiting for the socket as `pacing` says.
    pub fn raw_socket_with(&self, pacing: Pacing) -> RawSocket {
        RawSocket::connect_paced(self.server.url(), pacing)
            .unwrap_or_else(|e| panic!("the raw-socket reader cannot connect: {e}"))
    }
}

/// A whole-result sample from what a client received, checked against `want`.
pub fn sample_from(
    ctx: &Ctx,
    key: &Key,
    want: Expected,
    got: Result<Received, BenchError>,
) -> Sample {
    let got = got.unwrap_or_else(|e| panic!("{}: {}", key.id(), clients::error_chain(&*e)));
    ctx.check(key, want, got.rows, got.bytes);
    Sample {
        timed: got.elapsed,
        elapsed: got.elapsed,
        ttfr: got.ttfr,
        rows: got.rows,
        bytes: got.bytes.unwrap_or(want.bytes),
        wire_bytes: got.wire_bytes,
        round_trips: got.round_trips,
        buffer_high_water: got.buffer_high_water,
        reads: got.reads,
        ..Sample::default()
    }
}

/// The same for the raw-socket reader.
pub fn raw_received(got: std::io::Result<RawResult>) -> Result<Received, BenchError> {
    let r = got?;
    Ok(Received {
        rows: r.rows,
        bytes: Some(r.bytes),
        ttfr: r.time_to_first_row,
        elapsed: r.elapsed,
        wire_bytes: Some(r.wire_bytes),
        round_trips: Some(1),
        buffer_high_water: None,
        reads: Some(r.reads),
    })
}

/// One benchmark: criterion times `iteration` (each returns its [`Sample`], whose `timed` is
/// what criterion sees), and every sample is recorded under `key` for the report.
pub fn bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    ctx: &Ctx,
    key: Key,
    param: &str,
    throughput: Throughput,
    mut iteration: impl FnMut() -> Sample,
) {
    g.throughput(throughput);
    g.bench_function(BenchmarkId::new(key.client.clone(), param), |b| {
        b.iter_custom(|iters| {
            let mut samples = Vec::with_capacity(iters as usize);
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = iteration();
                total += s.timed;
                samples.push(s);
            }
            ctx.rec.add_call(&key, samples);
            total
        })
    });
}

/// Runs `f` on the runtime, metered: its sample gets the CPU and peak heap of the call.
pub fn metered_sample(heap_base: u64, f: impl FnOnce() -> Sample) -> Sample {
    let (sample, cost) = metered(heap_base, f);
    sample.with_cost(cost)
}

/// A client and how it consumes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The raw-socket reader, paced (`SO_RCVLOWAT`): the limit, the reference of every ratio.
    RawSocket,
    /// The raw-socket reader reading as soon as anything arrived.
    RawSocketEager,
    /// The raw-socket reader running `COPY (...) TO STDOUT`, binary or text format.
    Copy {
        /// `FORMAT binary`.
        binary: bool,
    },
    /// jsonwire in a mode.
    Jsonwire(Mode),
    /// tokio-postgres in a mode.
    TokioPostgres(Mode),
    /// sqlx in a mode (raw or `Value`; feature `peer-sqlx`).
    Sqlx(Mode),
}

impl Client {
    /// Every client and mode of this build: [`Client::ALL`], then the peers whose feature is
    /// on.
    pub fn all() -> Vec<Client> {
        let mut all = Client::ALL.to_vec();
        if cfg!(feature = "peer-sqlx") {
            all.extend([Client::Sqlx(Mode::Raw), Client::Sqlx(Mode::Value)]);
        }
        all
    }

    /// Every client and mode built without a peer feature, the reference readers first.
    pub const ALL: [Client; 10] = [
        Client::RawSocket,
        Client::RawSocketEager,
        Client::Copy { binary: true },
        Client::Copy { binary: false },
        Client::Jsonwire(Mode::Raw),
        Client::Jsonwire(Mode::Value),
        Client::Jsonwire(Mode::Typed),
        Client::TokioPostgres(Mode::Raw),
        Client::TokioPostgres(Mode::Value),
        Client::TokioPostgres(Mode::Typed),
    ];

    /// `raw_socket`, `jsonwire_value`, `tokio_postgres_raw`, …
    pub fn name(self) -> String {
        match self {
            Client::RawSocket => RAW_SOCKET.to_owned(),
            Client::RawSocketEager => RAW_SOCKET_EAGER.to_owned(),
            Client::Copy { binary: true } => "copy_binary".to_owned(),
            Client::Copy { binary: false } => "copy_text".to_owned(),
            Client::Jsonwire(m) => format!("jsonwire_{}", m.name()),
            Client::TokioPostgres(m) => format!("tokio_postgres_{}", m.name()),
            Client::Sqlx(m) => format!("sqlx_{}", m.name()),
        }
    }
}

/// Benchmarks `client` streaming all of `w` (a fresh connection, set up outside the timed
/// window), with `config` for jsonwire. `large` picks the large-document struct for typed rows.
#[allow(clippy::too_many_arguments)]
pub fn whole_result(
    g: &mut BenchmarkGroup<'_, WallTime>,
    ctx: &Ctx,
    area: &str,
    case: &str,
    client: Client,
    w: Workload,
    large: bool,
    config: Option<&jsonwire::Config>,
) {
    let key = Key::new(area, case, &client.name());
    let want = ctx.expected(&w);
    let throughput = Throughput::Elements(want.rows);
    let base = ctx.heap_base();
    match client {
        Client::RawSocket | Client::RawSocketEager => {
            let pacing = if client == Client::RawSocket {
                Pacing::Paced
            } else {
                Pacing::Eager
            };
            let mut conn = ctx.raw_socket_with(pacing);
            let sql = w.sql();
            let params = w.params();
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            bench(g, ctx, key.clone(), case, throughput, || {
                metered_sample(base, || {
                    sample_from(ctx, &key, want, raw_received(conn.query(&sql, &params)))
                })
            });
        }
        Client::Copy { binary } => {
            assert!(
                w.below_bucket.is_none(),
                "COPY rows read whole views, without parameters"
            );
            let mut conn = ctx.raw_socket();
            let sql = w.sql();
            bench(g, ctx, key.clone(), case, throughput, || {
                metered_sample(base, || {
                    let mut got = raw_received(conn.copy_out(&sql, binary));
                    if let (false, Ok(got)) = (binary, got.as_mut()) {
                        // COPY's text format escapes the JSON: its length is not comparable.
                        got.bytes = None;
                    }
                    sample_from(ctx, &key, want, got)
                })
            });
        }
        Client::Jsonwire(mode) => {
            let config = config.cloned().unwrap_or_else(|| ctx.jsonwire_config());
            let mut conn = ctx.jsonwire(&config);
            bench(g, ctx, key.clone(), case, throughput, || {
                metered_sample(base, || {
                    let got = ctx
                        .rt
                        .block_on(clients::jsonwire(&mut conn, &w, mode, large));
                    sample_from(ctx, &key, want, got)
                })
            });
            ctx.rt.block_on(conn.close());
        }
        Client::TokioPostgres(mode) => {
            let conn = ctx.tokio_postgres();
            bench(g, ctx, key.clone(), case, throughput, || {
                metered_sample(base, || {
                    let got = ctx.rt.block_on(clients::tokio_postgres(
                        &conn.client,
                        &w,
                        mode,
                        large,
                        None,
                    ));
                    sample_from(ctx, &key, want, got)
                })
            });
            ctx.rt.block_on(conn.close());
        }
        #[cfg(feature = "peer-sqlx")]
        Client::Sqlx(mode) => {
            use jsonwire_benches::peers;
            let mut conn = ctx
                .rt
                .block_on(peers::sqlx_connect(ctx.server.url()))
                .unwrap_or_else(|e| panic!("sqlx cannot connect: {}", clients::error_chain(&*e)));
            bench(g, ctx, key.clone(), case, throughput, || {
                metered_sample(base, || {
                    let got = ctx.rt.block_on(peers::sqlx_rows(&mut conn, &w, mode));
                    sample_from(ctx, &key, want, got)
                })
            });
            let _ = ctx.rt.block_on(sqlx::Connection::close(conn));
        }
        #[cfg(not(feature = "peer-sqlx"))]
        Client::Sqlx(_) => unreachable!("sqlx rows need the peer-sqlx feature"),
    }
}

/// The fraiseql-wire peer (feature `peer-fraiseql`) streaming `view` as row
/// `area/case/fraiseql_value`, when the run has it: its binary is a build of its own, run as a
/// subprocess against the same server between this group's other clients' benchmarks. Its
/// first run is the warm-up (left out like criterion's first call), then 10 measured runs
/// (5 on a million rows, 3 in quick mode), each on a fresh connection made outside the
/// measured window; criterion does not time it (it measures itself, see
/// `benches/peers/fraiseql`).
pub fn fraiseql_rows(ctx: &Ctx, area: &str, case: &str, view: &'static str) {
    let Some(peer) = &ctx.fraiseql else {
        return;
    };
    let key = Key::new(area, case, fraiseql::CLIENT);
    let want = ctx.expected(&Workload::view(view));
    let measured = match (ctx.quick, want.rows) {
        (true, _) => 3,
        (false, rows) if rows >= 1_000_000 => 5,
        (false, _) => 10,
    };
    let run = peer
        .run(ctx.server.url(), view, 1 + measured)
        .unwrap_or_else(|e| panic!("{}: the fraiseql-wire peer failed: {e}", key.id()));
    let mut samples = run.samples;
    for s in &mut samples {
        ctx.check(&key, want, s.rows, None);
        s.bytes = want.bytes;
    }
    let warm_up = samples.remove(0);
    eprintln!(
        "{}: {} runs by {} ({}), elapsed median {:.2} ms",
        key.id(),
        samples.len(),
        peer.binary().display(),
        run.build,
        median(&samples.iter().map(|s| ms(s.elapsed)).collect::<Vec<_>>()).unwrap_or(0.0)
    );
    ctx.rec.add_call(&key, vec![warm_up]);
    ctx.rec.add_call(&key, samples);
    ctx.rec.built_by(&key, run.build);
}
