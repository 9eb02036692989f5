//! Group 1, throughput: every client and mode on the same views, 1K to 1M rows; jsonwire and
//! tokio-postgres raw again with the query in a spawned task (`_spawned`, 100K and 1M); and the
//! largest view over TLS 1.3 (`1m_tls`, `100k_tls` in quick mode): jsonwire against
//! tokio-postgres with tokio-postgres-rustls (both rustls, ring), raw text, so the TLS
//! overhead is the ratio to the plaintext rows of the same view. Skipped for a
//! `JSONWIRE_BENCH_URL` server, whose certificates the suite does not know.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::{Key, Sample};
use jsonwire_benches::peers::fraiseql;
use jsonwire_benches::report::{RAW_SOCKET, SPAWNED};

use jsonwire_benches::clients::{self, Mode, TokioClient};

use crate::harness::{
    bench, fraiseql_rows, metered_sample, sample_from, whole_result, Client, Ctx, Pace,
};

/// The area of this group's rows.
pub const AREA: &str = "throughput";

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let sizes: &[(&str, &str, Pace)] = if ctx.quick {
        &[
            ("1k", "v_test_1k", Pace::Fast),
            ("100k", "v_test_100k", Pace::Slow),
        ]
    } else {
        &[
            ("1k", "v_test_1k", Pace::Fast),
            ("10k", "v_test_10k", Pace::Fast),
            ("100k", "v_test_100k", Pace::Slow),
            ("1m", "v_test_1m", Pace::Slow),
        ]
    };
    for &(case, view, pace) in sizes {
        let mut g = ctx.group(c, &format!("{AREA}/{case}"), pace);
        for client in Client::all() {
            whole_result(
                &mut g,
                ctx,
                AREA,
                case,
                client,
                Workload::view(view),
                false,
                None,
            );
        }
        if pace == Pace::Slow {
            spawned(&mut g, ctx, case, Workload::view(view));
        }
        g.finish();
        fraiseql_rows(ctx, AREA, case, view);
    }
    copy_note(ctx, AREA, sizes.iter().map(|s| s.0));
    cpu_note(ctx, sizes.iter().filter(|s| s.2 == Pace::Slow).map(|s| s.0));
    fraiseql_note(ctx, AREA);
    let (case, view, pace) = sizes[sizes.len() - 1];
    tls(c, ctx, &format!("{case}_tls"), view, pace);
}

/// jsonwire and tokio-postgres, raw, each with the whole query in a task spawned on the
/// multi-thread runtime (a server's request handler, a `tokio::spawn`ed worker), where every
/// other row polls its stream from `block_on` (as `#[tokio::main]` does). A stream polled by a
/// runtime worker is woken through the scheduler, and its wake-ups cost differently: both ways
/// are measured, with the same getrusage window (the spawn and the join included).
fn spawned(g: &mut BenchmarkGroup<'_, WallTime>, ctx: &Ctx, case: &str, w: Workload) {
    let want = ctx.expected(&w);
    let throughput = criterion::Throughput::Elements(want.rows);
    let base = ctx.heap_base();

    let key = Key::new(AREA, case, &spawned_name(Client::Jsonwire(Mode::Raw)));
    let mut conn = Some(ctx.jsonwire(&ctx.jsonwire_config()));
    bench(g, ctx, key.clone(), case, throughput.clone(), || {
        metered_sample(base, || {
            let mut client = conn
                .take()
                .expect("the connection is back after each query");
            let task = ctx.rt.spawn(async move {
                let got = clients::jsonwire(&mut client, &w, Mode::Raw, false).await;
                (client, got)
            });
            let (client, got) = join(ctx, &key, task);
            conn = Some(client);
            sample_from(ctx, &key, want, got)
        })
    });
    if let Some(conn) = conn {
        ctx.rt.block_on(conn.close());
    }

    let key = Key::new(AREA, case, &spawned_name(Client::TokioPostgres(Mode::Raw)));
    let mut conn = Some(ctx.tokio_postgres());
    bench(g, ctx, key.clone(), case, throughput, || {
        metered_sample(base, || {
            let client = conn
                .take()
                .expect("the connection is back after each query");
            let task = ctx.rt.spawn(async move {
                let got = clients::tokio_postgres(&client.client, &w, Mode::Raw, false, None).await;
                (client, got)
            });
            let (client, got) = join(ctx, &key, task);
            conn = Some(client);
            sample_from(ctx, &key, want, got)
        })
    });
    if let Some(conn) = conn {
        ctx.rt.block_on(conn.close());
    }
}

fn spawned_name(client: Client) -> String {
    format!("{}{SPAWNED}", client.name())
}

fn join<T>(ctx: &Ctx, key: &Key, task: tokio::task::JoinHandle<T>) -> T {
    ctx.rt
        .block_on(task)
        .unwrap_or_else(|e| panic!("{}: the spawned query failed: {e}", key.id()))
}

/// Client CPU of jsonwire raw against tokio-postgres raw on each case, with the stream polled
/// from `block_on` and in a spawned task, and the context switches per query behind it.
fn cpu_note<'a>(ctx: &Ctx, cases: impl Iterator<Item = &'a str>) {
    let median = |case: &str, client: &str, get: fn(&Sample) -> Option<f64>| {
        ctx.rec.median_of(&Key::new(AREA, case, client), get)
    };
    let cpu: fn(&Sample) -> Option<f64> = |s| Some(s.cpu.as_secs_f64() * 1e3);
    let switches: fn(&Sample) -> Option<f64> = |s| s.context_switches.map(|n| n as f64);
    let mut lines = Vec::new();
    for case in cases {
        for (how, suffix) in [("block_on", ""), ("spawned", SPAWNED)] {
            let jw = format!("{}{suffix}", Client::Jsonwire(Mode::Raw).name());
            let tp = format!("{}{suffix}", Client::TokioPostgres(Mode::Raw).name());
            let (Some(a), Some(b)) = (median(case, &jw, cpu), median(case, &tp, cpu)) else {
                continue;
            };
            let sw =
                |c: &str| median(case, c, switches).map_or("–".to_owned(), |n| format!("{n:.0}"));
            lines.push(format!(
                "{case} {how}: {a:.1} / {b:.1} ms = {:.2}× (context switches per query {} / {})",
                a / b,
                sw(&jw),
                sw(&tp),
            ));
        }
    }
    if !lines.is_empty() {
        ctx.rec.note(
            AREA,
            format!(
                "client CPU, jsonwire raw / tokio-postgres raw (medians; issue #12 asks for ≤ \
                 0.2×), the stream polled from block_on and in a spawned task: {}",
                lines.join("; ")
            ),
        );
    }
}

/// jsonwire and tokio-postgres, raw, on `view` over TLS.
fn tls(c: &mut Criterion, ctx: &Ctx, case: &str, view: &'static str, pace: Pace) {
    let Some((jw_url, tp_url, ca)) = ctx.server.superuser_tls_url() else {
        ctx.rec.note(
            AREA,
            format!("{case}: skipped: the server is not the throw-away cluster with TLS"),
        );
        return;
    };
    let w = Workload::view(view);
    let mut g = ctx.group(c, &format!("{AREA}/{case}"), pace);
    let config = jsonwire::Config::parse(&jw_url)
        .unwrap_or_else(|e| panic!("jsonwire cannot read {jw_url}: {e}"));
    let client = Client::Jsonwire(Mode::Raw);
    whole_result(&mut g, ctx, AREA, case, client, w, false, Some(&config));
    let key = Key::new(AREA, case, &Client::TokioPostgres(Mode::Raw).name());
    let want = ctx.expected(&w);
    let base = ctx.heap_base();
    let conn = ctx
        .rt
        .block_on(TokioClient::connect_tls(&tp_url, &ca))
        .unwrap_or_else(|e| panic!("tokio-postgres cannot connect over TLS: {e}"));
    bench(
        &mut g,
        ctx,
        key.clone(),
        case,
        criterion::Throughput::Elements(want.rows),
        || {
            metered_sample(base, || {
                let got = ctx.rt.block_on(clients::tokio_postgres(
                    &conn.client,
                    &w,
                    Mode::Raw,
                    false,
                    None,
                ));
                sample_from(ctx, &key, want, got)
            })
        },
    );
    ctx.rt.block_on(conn.close());
    g.finish();
}

/// COPY against `DataRow`s on each case: whether the server produces rows faster for COPY,
/// which would make a COPY-based stream worth offering.
pub fn copy_note<'a>(ctx: &Ctx, area: &str, cases: impl Iterator<Item = &'a str>) {
    let elapsed = |case: &str, client: &str| {
        ctx.rec.median_of(&Key::new(area, case, client), |s| {
            Some(s.elapsed.as_secs_f64() * 1e3)
        })
    };
    let mut lines = Vec::new();
    for case in cases {
        let (Some(rows), Some(binary), Some(text)) = (
            elapsed(case, RAW_SOCKET),
            elapsed(case, "copy_binary"),
            elapsed(case, "copy_text"),
        ) else {
            continue;
        };
        lines.push(format!(
            "{case}: DataRow {rows:.1} ms, COPY binary {binary:.1} ms ({:.2}×), text {text:.1} ms ({:.2}×)",
            binary / rows,
            text / rows
        ));
    }
    if !lines.is_empty() {
        ctx.rec.note(
            area,
            format!(
                "COPY (SELECT data FROM v) TO STDOUT against the same rows as DataRows, both read \
                 by the paced raw socket: {}",
                lines.join("; ")
            ),
        );
    }
}

/// Which build the fraiseql-wire rows of `area` came from, when the run measured them.
pub fn fraiseql_note(ctx: &Ctx, area: &str) {
    let Some(peer) = &ctx.fraiseql else {
        return;
    };
    let build = ctx
        .rec
        .measured()
        .into_iter()
        .find(|(k, _)| k.area == area && k.client == fraiseql::CLIENT)
        .and_then(|(k, _)| ctx.rec.build_of(&k));
    let Some(build) = build else {
        return;
    };
    let ours = if fraiseql::preserve_order() {
        "on: insertion-ordered maps"
    } else {
        "off: sorted maps"
    };
    ctx.rec.note(
        area,
        format!(
            "{}: measured by another build, {} ({build}; summary.json: the row's `build`), run \
             as a subprocess against the same server between this group's benchmarks: one \
             connection per run (made outside the measured window), rows parsed into \
             serde_json::Value, the first run left out as warm-up; CPU and peak heap are that \
             process's own. Every other row comes from this benchmark's build (serde_json \
             preserve_order {ours}).",
            fraiseql::CLIENT,
            peer.binary().display(),
        ),
    );
}
