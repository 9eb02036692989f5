//! Group 5, chunk strategy: jsonwire's throughput, first-row latency and CPU per read-buffer
//! size (16 KiB to 4 MiB; the default, 256 KiB, should sit on the knee), per `next_chunk` limit,
//! and with binary against text result format.

use criterion::Criterion;
use jsonwire_benches::clients::{self, Mode};
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::{percentile, Key};
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
    format_verdict(ctx);
}

/// The noise between two benchmarks of this group: `rbuf_256k` and `format_binary` run the very
/// same configuration (the defaults) at different moments, so their difference is what running
/// at another moment alone does to a median; at least each row's own spread, and 5%.
fn between_runs_noise(ctx: &Ctx) -> f64 {
    let mut noise: f64 = 0.05;
    if let (Some(a), Some(b)) = (cpu_of(ctx, "rbuf_256k"), cpu_of(ctx, "format_binary")) {
        noise = noise
            .max((a.median - b.median).abs() / a.median.min(b.median))
            .max(a.noise)
            .max(b.noise);
    }
    noise
}

fn format_verdict(ctx: &Ctx) {
    let (Some(binary), Some(text)) = (cpu_of(ctx, "format_binary"), cpu_of(ctx, "format_text"))
    else {
        return;
    };
    let diff = (binary.median - text.median) / text.median.min(binary.median);
    let noise = between_runs_noise(ctx).max(text.noise);
    ctx.rec.note(
        AREA,
        format!(
            "result format, client CPU per query: binary {:.1} ms, text {:.1} ms (noise ±{:.0}%, \
             from the same defaults measured twice); {}. jsonb's binary form is a version byte \
             and the same text, so the server does the same work either way.",
            binary.median,
            text.median,
            noise * 100.0,
            if diff.abs() <= noise {
                "no measurable difference".to_owned()
            } else if diff < 0.0 {
                format!("binary is cheaper by {:.0}%", -diff * 100.0)
            } else {
                format!("text is cheaper by {:.0}%", diff * 100.0)
            }
        ),
    );
}

/// A row's median client CPU in milliseconds and its noise: the interquartile range relative
/// to the median.
struct Cpu {
    median: f64,
    noise: f64,
}

fn cpu_of(ctx: &Ctx, case: &str) -> Option<Cpu> {
    let cpu: Vec<f64> = ctx
        .rec
        .samples_of(&Key::new(AREA, case, "jsonwire_raw"))
        .iter()
        .map(|s| s.cpu.as_secs_f64() * 1000.0)
        .collect();
    let median = percentile(&cpu, 50.0)?;
    let iqr = percentile(&cpu, 75.0)? - percentile(&cpu, 25.0)?;
    Some(Cpu {
        median,
        noise: if median > 0.0 { iqr / median } else { 0.0 },
    })
}

/// Places the default on the read-buffer curve by client CPU (elapsed time is the server's pace
/// on loopback, and is shown, not judged). The knee is the smallest setting whose CPU is within
/// noise of the lowest; when every setting is within noise of the others the curve is flat.
/// The raw socket's average read (it asks for 1 MiB) tells how much data a read finds waiting,
/// which bounds what a larger buffer can save.
fn knee(ctx: &Ctx) {
    let mut points = Vec::new();
    for (case, size) in READ_BUFFERS {
        let case = format!("rbuf_{case}");
        let key = Key::new(AREA, &case, "jsonwire_raw");
        let time = ctx
            .rec
            .median_of(&key, |s| Some(s.elapsed.as_secs_f64() * 1000.0));
        if let (Some(cpu), Some(time)) = (cpu_of(ctx, &case), time) {
            points.push((size, cpu, time));
        }
    }
    if points.len() < READ_BUFFERS.len() {
        return;
    }
    let min_cpu = points
        .iter()
        .map(|p| p.1.median)
        .fold(f64::INFINITY, f64::min);
    let max_cpu = points.iter().map(|p| p.1.median).fold(0.0, f64::max);
    let noise = points
        .iter()
        .map(|p| p.1.noise)
        .fold(between_runs_noise(ctx), f64::max);
    let curve: Vec<String> = points
        .iter()
        .map(|(size, cpu, time)| {
            format!(
                "{} {time:.0} ms / {:.0} ms CPU",
                bytes_h(*size as u64),
                cpu.median
            )
        })
        .collect();
    let knee = points
        .iter()
        .find(|(_, cpu, _)| cpu.median <= min_cpu * (1.0 + noise))
        .map(|p| p.0);
    let default = 256 << 10;
    let verdict = if max_cpu <= min_cpu * (1.0 + noise) {
        format!(
            "Client CPU is flat within noise (±{:.0}%) from 16 KiB to 4 MiB: no knee here, so \
             the default 256 KiB buys nothing measurable over smaller reads on this machine, \
             and costs heap",
            noise * 100.0
        )
    } else {
        format!(
            "Knee (smallest setting within ±{:.0}% of the lowest client CPU): {}; the default \
             256 KiB {}",
            noise * 100.0,
            knee.map_or("none".to_owned(), |k| bytes_h(k as u64)),
            match knee {
                Some(k) if k == default => "is the knee",
                Some(k) if k < default => "is past the knee (more memory for no measurable gain)",
                Some(_) => "is before the knee (larger reads are measurably cheaper)",
                None => "could not be placed",
            }
        )
    };
    let view_case = if ctx.quick { "100k" } else { "1m" };
    let read = ctx.rec.median_of(
        &Key::new(crate::throughput::AREA, view_case, "raw_socket"),
        |s| Some(s.wire_bytes? as f64 / s.reads.filter(|&r| r > 0)? as f64),
    );
    ctx.rec.note(
        AREA,
        format!(
            "read-buffer curve (elapsed / client CPU): {}. {verdict}{}{}",
            curve.join(", "),
            read.map_or(String::new(), |r| format!(
                ". The raw socket, asking for 1 MiB per read, finds {} waiting on average \
                 (throughput/{view_case}): the server's pace, not the buffer, sets the read size",
                bytes_h(r as u64)
            )),
            if ctx.quick {
                " (quick mode: 10K rows and few samples, too little for a verdict)"
            } else {
                ""
            }
        ),
    );
}
