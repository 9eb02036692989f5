//! Group 4, memory: the most heap the client holds while streaming, by read-buffer setting and
//! by result size. jsonwire's peak must follow its read buffer and not the result: 10K and 1M
//! rows show the same peak. tokio-postgres is measured beside it on the same results.

use criterion::Criterion;
use jsonwire_benches::clients::Mode;
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::Key;
use jsonwire_benches::report::bytes_h;

use crate::harness::{whole_result, Client, Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "memory";

/// The read-buffer settings measured here and in the chunk group.
pub const READ_BUFFERS: [(&str, usize); 5] = [
    ("16k", 16 << 10),
    ("64k", 64 << 10),
    ("256k", 256 << 10),
    ("1m", 1 << 20),
    ("4m", 4 << 20),
];

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    // By read buffer: the peak should track the setting.
    let w = Workload::view("v_test_10k");
    let mut g = ctx.group(c, &format!("{AREA}/read_buffer"), Pace::Fast);
    for (case, size) in READ_BUFFERS {
        let mut config = ctx.jsonwire_config();
        config.read_buffer_size(size);
        let case = format!("rbuf_{case}");
        whole_result(
            &mut g,
            ctx,
            AREA,
            &case,
            Client::Jsonwire(Mode::Raw),
            w,
            false,
            Some(&config),
        );
    }
    g.finish();
    for (case, size) in READ_BUFFERS {
        let key = Key::new(AREA, &format!("rbuf_{case}"), "jsonwire_raw");
        let samples = ctx.rec.samples_of(&key);
        let peak = samples.iter().map(|s| s.peak_heap).max();
        let buffer = samples.iter().filter_map(|s| s.buffer_high_water).max();
        if let (Some(peak), Some(buffer)) = (peak, buffer) {
            ctx.rec.note(
                AREA,
                format!(
                    "read_buffer_size {}: peak heap {} ({:.2}× the setting), read buffer high \
                     water {}",
                    bytes_h(size as u64),
                    bytes_h(peak),
                    peak as f64 / size as f64,
                    bytes_h(buffer)
                ),
            );
        }
    }

    // By result size: the peak must not grow with the result.
    let (small, large) = if ctx.quick {
        (("10k", "v_test_10k"), ("100k", "v_test_100k"))
    } else {
        (("10k", "v_test_10k"), ("1m", "v_test_1m"))
    };
    let clients = [
        Client::Jsonwire(Mode::Raw),
        Client::TokioPostgres(Mode::Raw),
    ];
    for (case, view) in [small, large] {
        // The big result is already streamed ten times by every client in the throughput
        // group, which records the peak heap of each iteration: reuse those iterations rather
        // than stream it again (unless a filter left that group out).
        let earlier: Vec<_> = clients
            .iter()
            .map(|c| {
                ctx.rec
                    .samples_of(&Key::new(crate::throughput::AREA, case, &c.name()))
            })
            .collect();
        if case == large.0 && earlier.iter().all(|s| !s.is_empty()) {
            for (client, samples) in clients.iter().zip(earlier) {
                let key = Key::new(AREA, &format!("result_{case}"), &client.name());
                ctx.rec.add_call(&key, samples);
            }
            ctx.rec.note(
                AREA,
                format!("result_{case}: the iterations of throughput/{case}, not measured again"),
            );
            continue;
        }
        let pace = if case == "10k" {
            Pace::Fast
        } else {
            Pace::Slow
        };
        let mut g = ctx.group(c, &format!("{AREA}/result_{case}"), pace);
        for client in clients {
            let case = format!("result_{case}");
            whole_result(
                &mut g,
                ctx,
                AREA,
                &case,
                client,
                Workload::view(view),
                false,
                None,
            );
        }
        g.finish();
    }
    for client in clients {
        let name = client.name();
        let peak = |case: &str| {
            ctx.rec
                .figure(&Key::new(AREA, &format!("result_{case}"), &name), |s| {
                    s.iter().map(|s| s.peak_heap).max().map(|p| p as f64)
                })
        };
        if let (Some(a), Some(b)) = (peak(small.0), peak(large.0)) {
            let same = b <= a * 1.10 + 65536.0;
            ctx.rec.note(
                AREA,
                format!(
                    "{name}: peak heap {} at {} rows vs {} at {} rows ({:.2}×){}",
                    bytes_h(a as u64),
                    small.0,
                    bytes_h(b as u64),
                    large.0,
                    b / a,
                    if name.starts_with("jsonwire") {
                        format!(
                            " — {}",
                            ctx.verdict(if same {
                                "bounded by the buffer, not the result: yes"
                            } else {
                                "bounded: NO"
                            })
                        )
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
}
