//! Group 1, throughput: every client and mode on the same views, 1K to 1M rows.

use criterion::Criterion;
use jsonwire_benches::dataset::Workload;

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
}
