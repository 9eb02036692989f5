//! Group 8, large documents: 10 KB, 100 KB and 1 MB JSON values (TOASTed, so the server
//! detoasts and decompresses them), every client and mode.

use criterion::Criterion;
use jsonwire_benches::dataset::Workload;

use crate::harness::{fraiseql_rows, whole_result, Client, Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "large";

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let sizes: &[(&str, &str)] = if ctx.quick {
        &[("10kb", "v_test_large_10k"), ("1mb", "v_test_large_1m")]
    } else {
        &[
            ("10kb", "v_test_large_10k"),
            ("100kb", "v_test_large_100k"),
            ("1mb", "v_test_large_1m"),
        ]
    };
    for &(case, view) in sizes {
        let mut g = ctx.group(c, &format!("{AREA}/{case}"), Pace::Slow);
        for client in Client::all() {
            whole_result(
                &mut g,
                ctx,
                AREA,
                case,
                client,
                Workload::view(view),
                true,
                None,
            );
        }
        g.finish();
        fraiseql_rows(ctx, AREA, case, view);
    }
    crate::throughput::copy_note(ctx, AREA, sizes.iter().map(|s| s.0));
    crate::throughput::fraiseql_note(ctx, AREA);
}
