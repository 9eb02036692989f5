//! Group 5, chunk strategy: jsonwire's throughput, first-row latency and CPU per read-buffer
//! size (16 KiB to 4 MiB; the default should sit on the knee), per `next_chunk` limit, with
//! binary against text result format, and with paced against eager reads
//! (`Config::read_pacing`), beside the raw socket read both ways.
//!
//! The read-buffer curve is measured per stream mode, because what a read finds waiting depends
//! on which side is slower. With raw rows the server sets the pace: each read finds what was
//! sent since the last one, a few KiB on loopback, whatever the buffer. With rows parsed into
//! `serde_json::Value` the client is the slower side (its CPU time equals the elapsed time), so
//! data queues in the socket and a read can find more than the server's last write; there a
//! larger buffer can save wake-ups. Typed rows fall in between. A curve's knee is its smallest
//! setting within noise of its cheapest; the default should be within noise of the cheapest on
//! every curve. Past the first MiB of a result jsonwire's reads are paced (woken once half the
//! read buffer is queued), so a larger buffer also means fewer, larger wake-ups of the server
//! (BENCHMARKING.md: "How the reader waits changes the server's pace").

use criterion::Criterion;
use jsonwire_benches::clients::{self, Mode};
use jsonwire_benches::dataset::Workload;
use jsonwire_benches::measure::{percentile, Key};
use jsonwire_benches::report::{bytes_h, RAW_SOCKET, RAW_SOCKET_EAGER};

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

/// One read-buffer curve: its rows are `rbuf_<size>` for `Client::Jsonwire(mode)`.
#[derive(Clone, Copy)]
struct Curve {
    label: &'static str,
    mode: Mode,
}

/// The read-buffer curves: raw rows (the server is the slower side), rows parsed into `Value`
/// (the client is), and rows deserialized into a struct (in between).
const CURVES: [Curve; 3] = [
    Curve {
        label: "raw rows",
        mode: Mode::Raw,
    },
    Curve {
        label: "Value rows",
        mode: Mode::Value,
    },
    Curve {
        label: "typed rows",
        mode: Mode::Typed,
    },
];

/// jsonwire's default read size.
fn default_read_buffer() -> usize {
    jsonwire::Config::new().get_read_buffer_size()
}

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let (view, pace) = if ctx.quick {
        ("v_test_10k", Pace::Fast)
    } else {
        ("v_test_100k", Pace::Slow)
    };
    let w = Workload::view(view);
    let jw = Client::Jsonwire(Mode::Raw);

    for curve in CURVES {
        let name = format!("{AREA}/read_buffer_{}", curve.mode.name());
        let mut g = ctx.group(c, &name, pace);
        for (case, size) in READ_BUFFERS {
            let mut config = ctx.jsonwire_config();
            config.read_buffer_size(size);
            whole_result(
                &mut g,
                ctx,
                AREA,
                &format!("rbuf_{case}"),
                Client::Jsonwire(curve.mode),
                w,
                false,
                Some(&config),
            );
        }
        g.finish();
    }
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

    // Paced against eager reads, in every mode, each beside the raw socket reading the same way.
    let mut g = ctx.group(c, &format!("{AREA}/pacing"), pace);
    for (case, paced, reference) in [
        ("paced", true, Client::RawSocket),
        ("eager", false, Client::RawSocketEager),
    ] {
        whole_result(&mut g, ctx, AREA, case, reference, w, false, None);
        for mode in Mode::ALL {
            let mut config = ctx.jsonwire_config();
            config.read_pacing(paced);
            whole_result(
                &mut g,
                ctx,
                AREA,
                case,
                Client::Jsonwire(mode),
                w,
                false,
                Some(&config),
            );
        }
    }
    g.finish();
    pacing_note(ctx);
}

/// Paced against eager reads: elapsed time and client CPU per client, paced over eager.
fn pacing_note(ctx: &Ctx) {
    let mut pairs = vec![(
        "raw socket".to_owned(),
        RAW_SOCKET.to_owned(),
        RAW_SOCKET_EAGER.to_owned(),
    )];
    for mode in Mode::ALL {
        let name = Client::Jsonwire(mode).name();
        pairs.push((name.clone(), name.clone(), name));
    }
    let mut lines = Vec::new();
    for (label, paced, eager) in pairs {
        let median = |case: &str, client: &str, cpu: bool| {
            ctx.rec.median_of(&Key::new(AREA, case, client), |s| {
                Some(if cpu { s.cpu } else { s.elapsed }.as_secs_f64() * 1e3)
            })
        };
        if let (Some(pe), Some(ee), Some(pc), Some(ec)) = (
            median("paced", &paced, false),
            median("eager", &eager, false),
            median("paced", &paced, true),
            median("eager", &eager, true),
        ) {
            lines.push(format!(
                "{label} {pe:.0} / {ee:.0} ms ({:.2}×), CPU {pc:.0} / {ec:.0} ms",
                pe / ee
            ));
        }
    }
    if !lines.is_empty() {
        ctx.rec.note(
            AREA,
            format!(
                "paced / eager reads, elapsed and client CPU: {}",
                lines.join("; ")
            ),
        );
    }
}

/// The noise between two benchmarks of this group: the default's `rbuf_*` row and
/// `format_binary` run the very same configuration (the defaults, raw rows) at different
/// moments, so their difference is what running at another moment alone does to a median; at
/// least each row's own spread, and 5%.
fn between_runs_noise(ctx: &Ctx) -> f64 {
    let mut noise: f64 = 0.05;
    let default = READ_BUFFERS
        .iter()
        .find(|(_, size)| *size == default_read_buffer())
        .map(|(case, _)| format!("rbuf_{case}"));
    if let Some(default) = default {
        if let (Some(a), Some(b)) = (
            cpu_of(ctx, &default, Mode::Raw),
            cpu_of(ctx, "format_binary", Mode::Raw),
        ) {
            noise = noise
                .max((a.median - b.median).abs() / a.median.min(b.median))
                .max(a.noise)
                .max(b.noise);
        }
    }
    noise
}

fn format_verdict(ctx: &Ctx) {
    let (Some(binary), Some(text)) = (
        cpu_of(ctx, "format_binary", Mode::Raw),
        cpu_of(ctx, "format_text", Mode::Raw),
    ) else {
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
            ctx.verdict(if diff.abs() <= noise {
                "no measurable difference".to_owned()
            } else if diff < 0.0 {
                format!("binary is cheaper by {:.0}%", -diff * 100.0)
            } else {
                format!("text is cheaper by {:.0}%", diff * 100.0)
            })
        ),
    );
}

/// A row's median client CPU in milliseconds and its noise: the interquartile range relative
/// to the median.
struct Cpu {
    median: f64,
    noise: f64,
}

fn cpu_of(ctx: &Ctx, case: &str, mode: Mode) -> Option<Cpu> {
    let cpu: Vec<f64> = ctx
        .rec
        .samples_of(&Key::new(AREA, case, &Client::Jsonwire(mode).name()))
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

/// A read-buffer curve's points: per setting, its client CPU and median elapsed time; `None` when a
/// setting was not measured.
fn points(ctx: &Ctx, curve: Curve) -> Option<Vec<(usize, Cpu, f64)>> {
    let client = Client::Jsonwire(curve.mode).name();
    READ_BUFFERS
        .iter()
        .map(|(case, size)| {
            let case = format!("rbuf_{case}");
            let time = ctx.rec.median_of(&Key::new(AREA, &case, &client), |s| {
                Some(s.elapsed.as_secs_f64() * 1000.0)
            })?;
            Some((*size, cpu_of(ctx, &case, curve.mode)?, time))
        })
        .collect()
}

/// Places the default on the read-buffer curves by client CPU (elapsed time is the slower
/// side's pace, and is shown, not judged). A curve's knee is its smallest setting whose CPU is
/// within noise of its lowest (on a flat curve, the smallest setting); the knee of all is the
/// largest of theirs. The raw socket's average read (it asks for 1 MiB) tells how much data a
/// read finds waiting when the server sets the pace.
fn knee(ctx: &Ctx) {
    let Some(curves) = CURVES
        .iter()
        .map(|&curve| Some((curve, points(ctx, curve)?)))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let default = default_read_buffer();
    let base_noise = between_runs_noise(ctx);
    let mut knee = 0;
    let mut lines = Vec::new();
    // Curves on which the default costs measurably more CPU than the cheapest setting.
    let mut dearer = Vec::new();
    for (curve, points) in &curves {
        let min_cpu = points
            .iter()
            .map(|p| p.1.median)
            .fold(f64::INFINITY, f64::min);
        let noise = points.iter().map(|p| p.1.noise).fold(base_noise, f64::max);
        let this = points
            .iter()
            .find(|(_, cpu, _)| cpu.median <= min_cpu * (1.0 + noise))
            .map_or(0, |p| p.0);
        knee = knee.max(this);
        if let Some((_, cpu, _)) = points.iter().find(|p| p.0 == default) {
            if cpu.median > min_cpu * (1.0 + noise) {
                dearer.push(format!(
                    "{} (+{:.0}%)",
                    curve.label,
                    (cpu.median / min_cpu - 1.0) * 100.0
                ));
            }
        }
        let flat = points
            .iter()
            .all(|(_, cpu, _)| cpu.median <= min_cpu * (1.0 + noise));
        let points: Vec<String> = points
            .iter()
            .map(|(size, cpu, time)| {
                format!(
                    "{} {time:.0} ms / {:.0} ms CPU",
                    bytes_h(*size as u64),
                    cpu.median
                )
            })
            .collect();
        lines.push(format!(
            "{} (elapsed / client CPU): {}; {} (noise ±{:.0}%)",
            curve.label,
            points.join(", "),
            if flat {
                "flat".to_owned()
            } else {
                format!("knee {}", bytes_h(this as u64))
            },
            noise * 100.0
        ));
    }
    let (knee_h, default_h) = (bytes_h(knee as u64), bytes_h(default as u64));
    let verdict = if !dearer.is_empty() {
        format!(
            "Knee of all curves: {knee_h}; the default {default_h} costs measurably more client \
             CPU than the cheapest setting on: {}. Move the default",
            dearer.join(", ")
        )
    } else if knee == default {
        format!("Knee of all curves: {knee_h}; the default {default_h} is the knee")
    } else if knee < default {
        format!(
            "Knee of all curves: {knee_h}; the default {default_h} is within noise of the \
             cheapest setting on every curve, past the knee measured here: it holds {} more \
             heap per connection, for fewer wake-ups per byte when the client falls behind a \
             server faster than this one can show",
            bytes_h((default - knee) as u64)
        )
    } else {
        format!(
            "Knee of all curves: {knee_h}; the default {default_h} is before the knee \
             (larger reads are measurably cheaper)"
        )
    };
    let verdict = ctx.verdict(verdict);
    let view_case = if ctx.quick { "100k" } else { "1m" };
    let read = ctx.rec.median_of(
        &Key::new(crate::throughput::AREA, view_case, RAW_SOCKET_EAGER),
        |s| Some(s.wire_bytes? as f64 / s.reads.filter(|&r| r > 0)? as f64),
    );
    ctx.rec.note(
        AREA,
        format!(
            "read-buffer curves: {}. {verdict}{}{}",
            lines.join("; "),
            read.map_or(String::new(), |r| format!(
                ". The eager raw socket, asking for 1 MiB per read, finds {} waiting on \
                 average (throughput/{view_case}): with raw rows read eagerly the server's \
                 pace, not the buffer, sets the read size",
                bytes_h(r as u64)
            )),
            if ctx.quick {
                " (quick mode: 10K rows)"
            } else {
                ""
            }
        ),
    );
}
