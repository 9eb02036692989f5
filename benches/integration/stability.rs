//! Group 7, stability: jsonwire's 1M-row stream (quick: 100K) repeated; the spread between runs
//! (±%, half the range around the median) is the noise every other figure of the run carries.
//! The raw-socket reader's spread on the same stream, from the throughput group, tells how much
//! of it is the server's.

use criterion::Criterion;
use jsonwire_benches::clients::Mode;
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::{spread_pct, Key};

use crate::harness::{whole_result, Client, Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "stability";

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let (case, view) = if ctx.quick {
        ("100k", "v_test_100k")
    } else {
        ("1m", "v_test_1m")
    };
    let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
    let jw = Client::Jsonwire(Mode::Raw);
    whole_result(
        &mut g,
        ctx,
        AREA,
        case,
        jw,
        Workload::view(view),
        false,
        None,
    );
    g.finish();
    let keys = [
        Key::new(AREA, case, &jw.name()),
        Key::new(crate::throughput::AREA, case, &Client::RawSocket.name()),
    ];
    for key in keys {
        let t: Vec<f64> = ctx
            .rec
            .samples_of(&key)
            .iter()
            .map(|s| s.elapsed.as_secs_f64() * 1e3)
            .collect();
        if let Some(spread) = spread_pct(&t) {
            let (min, max) = t
                .iter()
                .fold((f64::INFINITY, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
            ctx.rec.note(
                AREA,
                format!(
                    "{}: {} runs of {case} rows, {min:.0}–{max:.0} ms, spread ±{spread:.1}%",
                    key.id(),
                    t.len()
                ),
            );
        }
    }
}
