//! Group 1, throughput: every client and mode on the same views, 1K to 1M rows.

use criterion::Criterion;
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::Key;
use jsonwire_benches::report::RAW_SOCKET;

use crate::harness::{whole_result, Client, Ctx, Pace};

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
        g.finish();
    }
    copy_note(ctx, AREA, sizes.iter().map(|s| s.0));
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
