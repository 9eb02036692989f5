//! Group 5, chunk strategy: jsonwire's throughput, first-row latency and CPU per read-buffer
//! size (16 KiB to 4 MiB; the default, 256 KiB, should sit on the knee), per `next_chunk` limit,
//! and with binary against text result format.

use criterion::Criterion;
use jsonwire_benches::clients::{self, Mode};
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::Key;
use jsonwire_benches::report::bytes_h;

use crate::harness::{bench, metered_sample, sample_from, whole_result, Client, Ctx, Pace};
use crate::memory::READ_BUFFERS;

/// The area of this group's rows.
pub const AREA: &str = "chunk";

/// `next_chunk(max_rows, max_bytes)` settings.
const CHUNKS: [(&str, usize, usize); 4] = [
    ("1r", 1, usize::MAX),
    ("64r_64k", 64, 64 << 10),
    ("1024r_1m", 1024, 1 << 20),
    ("8192r_8m", 8192, 8 << 20),
];

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let (view, pace) = if ctx.quick {
        ("v_test_10k", Pace::Fast)
    } else {
        ("v_test_100k", Pace::Slow)
    };
    let w = Workload::view(view);
    let jw = Client::Jsonwire(Mode::Raw);

    let mut g = ctx.group(c, &format!("{AREA}/read_buffer"), pace);
    for (case, size) in READ_BUFFERS {
        let mut config = ctx.jsonwire_config();
        config.read_buffer_size(size);
        whole_result(
            &mut g,
            ctx,
            AREA,
            &format!("rbuf_{case}"),
            jw,
            w,
            false,
            Some(&config),
        );
    }
    g.finish();
    knee(ctx);

    let mut g = ctx.group(c, &format!("{AREA}/next_chunk"), pace);
    let want = ctx.expected(&w);
    for (case, max_rows, max_bytes) in CHUNKS {
        let key = Key::new(AREA, &format!("chunk_{case}"), "jsonwire_raw");
        let base = ctx.heap_base();
        let mut conn = ctx.jsonwire(&ctx.jsonwire_config());
        let throughput = criterion::Throughput::Elements(want.rows);
        bench(&mut g, ctx, key.clone(), &key.case, throughput, || {
            metered_sample(base, || {
                let got = ctx
                    .rt
                    .block_on(clients::jsonwire_chunks(&mut conn, &w, max_rows, max_bytes));
                sample_from(ctx, &key, want, got)
            })
        });
        ctx.rt.block_on(conn.close());
    }
    g.finish();

    let mut g = ctx.group(c, &format!("{AREA}/format"), pace);
    for (case, binary) in [("binary", true), ("text", false)] {
        let mut config = ctx.jsonwire_config();
        config.binary_results(binary);
        whole_result(
            &mut g,
            ctx,
            AREA,
            &format!("format_{case}"),
            jw,
            w,
            false,
            Some(&config),
        );
    }
    g.finish();
    let cpu = |case: &str| {
        ctx.rec
            .median_of(&Key::new(AREA, case, "jsonwire_raw"), |s| {
                Some(s.cpu.as_secs_f64() * 1000.0)
            })
    };
    let time = |case: &str| {
        ctx.rec
            .median_of(&Key::new(AREA, case, "jsonwire_raw"), |s| {
                Some(s.elapsed.as_secs_f64() * 1000.0)
            })
    };
    if let (Some(bc), Some(tc), Some(bt), Some(tt)) = (
        cpu("format_binary"),
        cpu("format_text"),
        time("format_binary"),
        time("format_text"),
    ) {
        ctx.rec.note(
            AREA,
            format!(
                "result format: binary {bt:.1} ms / {bc:.1} ms CPU, text {tt:.1} ms / {tc:.1} ms CPU; \
                 {} is cheaper for the client (jsonb binary = 1 version byte + the same text)",
                if bc <= tc { "binary" } else { "text" }
            ),
        );
    }
}

/// Finds the knee of the read-buffer curve: the smallest setting whose client CPU is within 5%
/// of the lowest and whose throughput is within 3% of the best.
fn knee(ctx: &Ctx) {
    let mut points = Vec::new();
    for (case, size) in READ_BUFFERS {
        let key = Key::new(AREA, &format!("rbuf_{case}"), "jsonwire_raw");
        let cpu = ctx.rec.median_of(&key, |s| Some(s.cpu.as_secs_f64()));
        let time = ctx.rec.median_of(&key, |s| Some(s.elapsed.as_secs_f64()));
        if let (Some(cpu), Some(time)) = (cpu, time) {
            points.push((size, cpu, time));
        }
    }
    if points.len() < READ_BUFFERS.len() {
        return;
    }
    let min_cpu = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let min_time = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let curve: Vec<String> = points
        .iter()
        .map(|&(size, cpu, time)| {
            format!(
                "{} {:.0} ms/{:.0} ms CPU",
                bytes_h(size as u64),
                time * 1e3,
                cpu * 1e3
            )
        })
        .collect();
    let knee = points
        .iter()
        .find(|&&(_, cpu, time)| cpu <= min_cpu * 1.05 && time <= min_time * 1.03)
        .map(|p| p.0);
    let default = 256 << 10;
    ctx.rec.note(
        AREA,
        format!(
            "read-buffer curve (elapsed / client CPU): {}. Knee (smallest setting within 5% of the \
             lowest CPU and 3% of the best time): {}; the default 256 KiB {}",
            curve.join(", "),
            knee.map_or("none".to_owned(), |k| bytes_h(k as u64)),
            match knee {
                Some(k) if k == default => "is the knee",
                Some(k) if k < default => "is past the knee (more memory for no measurable gain)",
                Some(_) => "is before the knee (larger buffers are measurably cheaper)",
                None => "could not be placed",
            }
        ),
    );
}
