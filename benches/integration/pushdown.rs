//! Group 6, predicate pushdown: the SQL `WHERE` (the server filters, only matching rows cross
//! the wire) against streaming all of `v_test_sel` and filtering in Rust (parse each row into a
//! `Value`, check `bucket`), at 1, 10, 50 and 90% selectivity: time and bytes received
//! (`Stats::wire_bytes`). The raw-socket reader runs the SQL form as the limit.

use criterion::{Criterion, Throughput};
use jsonwire_benches::clients;
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::Key;

use crate::harness::{bench, metered_sample, sample_from, whole_result, Client, Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "pushdown";

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let percents: &[u32] = if ctx.quick { &[10] } else { &[1, 10, 50, 90] };
    for &p in percents {
        let case = format!("sel_{p}pct");
        let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
        let sql = Workload::selectivity(p);
        for client in [Client::RawSocket, Client::Jsonwire(clients::Mode::Raw)] {
            whole_result(&mut g, ctx, AREA, &case, client, sql, false, None);
        }

        let key = Key::new(AREA, &case, "jsonwire_rust_filter");
        let want = ctx.expected(&sql);
        let all = Workload::view("v_test_sel");
        let base = ctx.heap_base();
        let mut conn = ctx.jsonwire(&ctx.jsonwire_config());
        bench(
            &mut g,
            ctx,
            key.clone(),
            &case,
            Throughput::Elements(want.rows),
            || {
                metered_sample(base, || {
                    let got = ctx
                        .rt
                        .block_on(clients::jsonwire_rust_filter(&mut conn, &all, p));
                    sample_from(ctx, &key, want, got)
                })
            },
        );
        ctx.rt.block_on(conn.close());
        g.finish();

        let get = |client: &str, f: &dyn Fn(&jsonwire_benches::measure::Sample) -> Option<f64>| {
            ctx.rec.median_of(&Key::new(AREA, &case, client), f)
        };
        let wire = |s: &jsonwire_benches::measure::Sample| s.wire_bytes.map(|b| b as f64 / 1e6);
        let time = |s: &jsonwire_benches::measure::Sample| Some(s.elapsed.as_secs_f64() * 1e3);
        if let (Some(ws), Some(wr), Some(ts), Some(tr)) = (
            get("jsonwire_raw", &wire),
            get("jsonwire_rust_filter", &wire),
            get("jsonwire_raw", &time),
            get("jsonwire_rust_filter", &time),
        ) {
            ctx.rec.note(
                AREA,
                format!(
                    "{p}%: SQL WHERE receives {ws:.1} MB in {ts:.0} ms; filtering in Rust receives \
                     {wr:.1} MB in {tr:.0} ms (pushdown: {:.0}% of the bytes, {:.2}× the time)",
                    ws / wr * 100.0,
                    ts / tr
                ),
            );
        }
    }
}
