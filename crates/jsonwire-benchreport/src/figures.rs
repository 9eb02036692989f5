//! Which figures a run (or a history of runs) gets, drawn from whatever groups, cases and
//! clients the data holds: nothing here lists clients or cases, so a new client, reader or
//! group shows up in the charts by itself, and a group a run lacks leaves its chart out with a
//! note saying why.

use crate::chart::{self, Axis, Band, Bar, BarSeries, Bars, Line, Lines};
use crate::data::{case_size, GroupData, RowData, Run};

/// A figure of the report: drawn, or left out with the reason.
#[derive(Debug, Clone)]
pub struct Figure {
    /// A stable identifier, used for the file name (`chart-<id>.svg`) and the page's anchors.
    pub id: String,
    /// The heading.
    pub title: String,
    /// How to read it.
    pub about: String,
    /// The SVG, or why there is none.
    pub outcome: Outcome,
}

/// A figure's SVG, or why it was left out.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The SVG text.
    Drawn(String),
    /// Why the figure is not drawn (a group the run did not measure, say).
    Omitted(String),
}

/// Stable colours per client: the order clients are first seen in `runs` (newest first).
#[derive(Debug, Clone)]
pub struct Colors(Vec<String>);

impl Colors {
    /// The clients of `runs`, newest run first.
    pub fn new<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Colors {
        let mut names: Vec<String> = Vec::new();
        for run in runs {
            for c in run.clients() {
                if !names.iter().any(|n| n == c) {
                    names.push(c.to_owned());
                }
            }
        }
        Colors(names)
    }

    fn of(&self, name: &str) -> plotters::style::RGBColor {
        let i = self
            .0
            .iter()
            .position(|n| n == name)
            .unwrap_or(self.0.len());
        chart::palette(i)
    }
}

fn figure(id: String, title: String, about: &str, svg: Result<String, String>) -> Figure {
    Figure {
        id,
        title,
        about: about.to_owned(),
        outcome: match svg {
            Ok(svg) => Outcome::Drawn(svg),
            Err(e) => Outcome::Omitted(e),
        },
    }
}

fn omitted(id: &str, title: &str, about: &str, why: String) -> Figure {
    Figure {
        id: id.to_owned(),
        title: title.to_owned(),
        about: about.to_owned(),
        outcome: Outcome::Omitted(why),
    }
}

/// `0.97×`.
pub fn fmt_ratio(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}×")
    } else {
        format!("{v:.2}×")
    }
}

/// `1.5 ms`, `0.12 ms`, `2.3 s`.
pub fn fmt_ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0} s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else if v >= 0.1 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.3} ms")
    }
}

/// `4.0 MiB`, `85 KiB`, `900 B`.
pub fn fmt_bytes(v: f64) -> String {
    if v >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / 1024.0 / 1024.0)
    } else if v >= 1024.0 {
        format!("{:.0} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// `1K`, `100K`, `1M` (powers of 1000).
pub fn fmt_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}K", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn fmt_plain(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The speed of `row` relative to the reference on the same case (above 1: faster), with the
/// row's own spread as its range.
fn speed_ratio(row: &RowData, reference: &RowData) -> Option<Bar> {
    (row.elapsed_ms > 0.0 && reference.elapsed_ms > 0.0).then(|| {
        let value = reference.elapsed_ms / row.elapsed_ms;
        let s = row.spread_pct.unwrap_or(0.0) / 100.0;
        Bar {
            value,
            range: (s > 0.0).then_some((value * (1.0 - s), value * (1.0 + s))),
        }
    })
}

/// The row a case's ratios are taken against: the client the rows name as the case's limit
/// (`limit_client`, the fastest reference reader on that case), else the run's reference.
fn limit_of<'a>(run: &Run, g: &'a GroupData, case: &str) -> Option<&'a RowData> {
    let named = g
        .rows
        .iter()
        .filter(|r| r.case == case)
        .find_map(|r| r.extra.get("limit_client").and_then(|v| v.as_str()));
    g.row(case, named.or(run.reference())?)
}

/// Groups whose rows are whole results (more than one row per iteration) and hold a reference
/// reader beside another client on some case.
fn throughput_groups(run: &Run) -> Vec<&GroupData> {
    run.groups
        .iter()
        .filter(|g| {
            g.cases().iter().any(|case| {
                limit_of(run, g, case).is_some_and(|l| {
                    l.rows > 1
                        && g.rows
                            .iter()
                            .any(|r| r.case == *case && r.client != l.client)
                })
            })
        })
        .collect()
}

fn title_of(run: &Run, group: &str) -> String {
    run.area(group)
        .and_then(|a| a.title.clone())
        .unwrap_or_else(|| group.to_owned())
}

/// The figures of one run.
pub fn current(run: &Run, colors: &Colors) -> Vec<Figure> {
    let mut out = Vec::new();
    ratio_and_cpu(run, colors, &mut out);
    out.push(ttfr(run, colors));
    out.push(heap(run, colors));
    out.extend(read_buffer(run, colors));
    out.extend(latency(run, colors));
    out.extend(early_exit(run, colors));
    out.extend(connect(run, colors));
    out
}

const RATIO_ABOUT: &str = "Each bar is a client's speed (rows/s) on one view divided by the \
    reference reader's on the same view, measured side by side in this run: 1.00× is the \
    reference's speed, above is faster. Whiskers: the client's between-run spread (half the range \
    of its iterations around the median); the grey band: the reference's own.";

const CPU_ABOUT: &str = "Client process CPU (user + system, every thread) per megabyte of JSON \
    received, median over the iterations: on loopback the server sets the pace, so clients \
    differ most here. Lower is cheaper.";

fn ratio_and_cpu(run: &Run, colors: &Colors, out: &mut Vec<Figure>) {
    let groups = throughput_groups(run);
    if groups.is_empty() {
        out.push(omitted(
            "ratio",
            "Throughput relative to the reference reader",
            RATIO_ABOUT,
            match run.reference() {
                Some(r) => format!("no group of this run has {r} beside another client"),
                None => "this run names no reference reader and has no raw_socket rows".to_owned(),
            },
        ));
    }
    for g in groups {
        let cases: Vec<(&str, &RowData)> = g
            .cases()
            .into_iter()
            .filter_map(|c| Some((c, limit_of(run, g, c)?)))
            .collect();
        let mut limits: Vec<&str> = Vec::new();
        for (_, l) in &cases {
            if !limits.contains(&l.client.as_str()) {
                limits.push(&l.client);
            }
        }
        let series: Vec<BarSeries> = g
            .clients()
            .into_iter()
            .map(|c| BarSeries {
                name: c.to_owned(),
                color: colors.of(c),
                opacity: 1.0,
                bars: cases
                    .iter()
                    .map(|(case, limit)| {
                        (limit.client != c)
                            .then(|| speed_ratio(g.row(case, c)?, limit))
                            .flatten()
                    })
                    .collect(),
            })
            .filter(|s| s.bars.iter().any(Option::is_some))
            .collect();
        // The reference's band on each case: its own spread there.
        let bands: Vec<Option<(f64, f64)>> = cases
            .iter()
            .map(|(_, l)| {
                let s = l.spread_pct? / 100.0;
                Some(((1.0 - s).max(0.0), 1.0 + s))
            })
            .collect();
        let reference = limits.join(" / ");
        let title = title_of(run, &g.name);
        out.push(figure(
            format!("ratio-{}", g.name),
            format!("{title}: speed relative to the limit ({reference})"),
            RATIO_ABOUT,
            chart::bars(&Bars {
                title: format!("{}: rows/s ÷ the limit reader's", g.name),
                y_label: "rows/s ÷ the limit's (higher is faster)".to_owned(),
                categories: cases.iter().map(|(c, _)| c.to_string()).collect(),
                series,
                y_axis: Axis::Linear,
                band: Some(Band {
                    at: 1.0,
                    ranges: bands,
                }),
                y_format: fmt_ratio,
                legend_notes: vec![
                    format!("limit: {reference}"),
                    "whiskers: ± spread".to_owned(),
                    "band: the limit's ± spread".to_owned(),
                ],
            }),
        ));
        let cpu_series: Vec<BarSeries> = g
            .clients()
            .into_iter()
            .map(|c| BarSeries {
                name: c.to_owned(),
                color: colors.of(c),
                opacity: 1.0,
                bars: g
                    .cases()
                    .iter()
                    .map(|case| {
                        let r = g.row(case, c)?;
                        let cpu = r.cpu_ms?;
                        (r.bytes > 0).then(|| Bar {
                            value: cpu / (r.bytes as f64 / 1e6),
                            range: None,
                        })
                    })
                    .collect(),
            })
            .collect();
        out.push(figure(
            format!("cpu-{}", g.name),
            format!("{title}: client CPU per MB"),
            CPU_ABOUT,
            chart::bars(&Bars {
                title: format!("{}: client CPU per MB of JSON", g.name),
                y_label: "CPU ms per MB".to_owned(),
                categories: g.cases().iter().map(|c| c.to_string()).collect(),
                series: cpu_series,
                y_axis: Axis::Linear,
                band: None,
                y_format: fmt_plain,
                legend_notes: vec!["lower is cheaper".to_owned()],
            }),
        ));
    }
}

/// One line per client of `rows` whose `x` and `y` are known.
fn lines_by_client(
    rows: &[&RowData],
    colors: &Colors,
    x: impl Fn(&RowData) -> Option<f64>,
    y: impl Fn(&RowData) -> Option<f64>,
) -> Vec<Line> {
    let mut clients: Vec<&str> = Vec::new();
    for r in rows {
        if !clients.contains(&r.client.as_str()) {
            clients.push(&r.client);
        }
    }
    clients
        .into_iter()
        .map(|c| Line {
            name: c.to_owned(),
            color: colors.of(c),
            points: rows
                .iter()
                .filter(|r| r.client == c)
                .filter_map(|r| Some((x(r)?, y(r)?)))
                .collect(),
        })
        .filter(|l| !l.points.is_empty())
        .collect()
}

fn ticks(xs: impl Iterator<Item = f64>, fmt: fn(f64) -> String) -> Vec<(f64, String)> {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.into_iter().map(|x| (x, fmt(x))).collect()
}

const TTFR_ABOUT: &str = "Time from asking for the query to holding its first row (median), \
    against the size of the whole result, on a log scale. The invariant: flat lines, the first \
    row does not wait for the rest of the result.";

fn ttfr(run: &Run, colors: &Colors) -> Figure {
    let title = "Time to first row against result size";
    let Some(g) = run.group("ttfr") else {
        return omitted(
            "ttfr",
            title,
            TTFR_ABOUT,
            "this run has no ttfr group".into(),
        );
    };
    let rows: Vec<&RowData> = g
        .rows
        .iter()
        .filter(|r| case_size(&r.case, false).is_some() && r.ttfr_ms.is_some())
        .collect();
    if rows.is_empty() {
        return omitted(
            "ttfr",
            title,
            TTFR_ABOUT,
            "no ttfr case is a result size".into(),
        );
    }
    let not_sizes: Vec<&str> = g
        .cases()
        .into_iter()
        .filter(|c| case_size(c, false).is_none())
        .collect();
    let mut notes = vec!["x: rows in the result".to_owned()];
    if !not_sizes.is_empty() {
        notes.push(format!("{} is in the table", not_sizes.join(", ")));
    }
    figure(
        "ttfr".into(),
        title.into(),
        TTFR_ABOUT,
        chart::lines(&Lines {
            title: "Time to first row (median)".into(),
            x_label: "rows in the result".into(),
            y_label: "ms to the first row".into(),
            x_ticks: ticks(
                rows.iter().filter_map(|r| case_size(&r.case, false)),
                fmt_count,
            ),
            log_x: true,
            y_axis: Axis::Linear,
            y_format: fmt_ms,
            series: lines_by_client(&rows, colors, |r| case_size(&r.case, false), |r| r.ttfr_ms),
            legend_notes: notes,
        }),
    )
}

const HEAP_ABOUT: &str = "The most heap the client held at once while streaming a whole result \
    (connection buffers included), against the result's size, both axes logarithmic. Bounded \
    memory is a flat line.";

fn heap(run: &Run, colors: &Colors) -> Figure {
    let title = "Peak heap against result size";
    let Some(g) = run.group("throughput") else {
        return omitted(
            "heap",
            title,
            HEAP_ABOUT,
            "this run has no throughput group".into(),
        );
    };
    let rows: Vec<&RowData> = g
        .rows
        .iter()
        .filter(|r| r.peak_heap_bytes.is_some())
        .collect();
    figure(
        "heap".into(),
        title.into(),
        HEAP_ABOUT,
        chart::lines(&Lines {
            title: "Peak heap while streaming (throughput group)".into(),
            x_label: "rows in the result".into(),
            y_label: "peak heap".into(),
            x_ticks: ticks(rows.iter().map(|r| r.rows as f64), fmt_count),
            log_x: true,
            y_axis: Axis::LogBytes,
            y_format: fmt_bytes,
            series: lines_by_client(
                &rows,
                colors,
                |r| Some(r.rows as f64),
                |r| r.number("peak_heap_bytes"),
            ),
            legend_notes: vec!["flat = bounded memory".into()],
        }),
    )
}

const CHUNK_ABOUT: &str = "jsonwire's client CPU per query against its read-buffer size, one \
    line per stream mode (log scale). The default read size should sit within noise of the \
    cheapest point on every line.";

const RBUF_HEAP_ABOUT: &str = "Peak heap per read-buffer size (both axes logarithmic): memory \
    follows the buffer bound, not the result.";

fn read_buffer(run: &Run, colors: &Colors) -> Vec<Figure> {
    let mut out = Vec::new();
    fn curves(g: &GroupData) -> Vec<&RowData> {
        g.rows
            .iter()
            .filter(|r| r.case.starts_with("rbuf_") && case_size(&r.case, true).is_some())
            .collect()
    }
    let x = |r: &RowData| case_size(&r.case, true);
    let rows = run.group("chunk").map(curves).unwrap_or_default();
    out.push(if rows.is_empty() {
        omitted(
            "chunk",
            "Read-buffer curves",
            CHUNK_ABOUT,
            "this run has no chunk group with rbuf_* cases".into(),
        )
    } else {
        figure(
            "chunk".into(),
            "Read-buffer curves: client CPU per query".into(),
            CHUNK_ABOUT,
            chart::lines(&Lines {
                title: "Chunk group: client CPU per read-buffer size".into(),
                x_label: "read buffer".into(),
                y_label: "CPU ms per query".into(),
                x_ticks: ticks(rows.iter().filter_map(|r| x(r)), fmt_bytes),
                log_x: true,
                y_axis: Axis::Linear,
                y_format: fmt_ms,
                series: lines_by_client(&rows, colors, x, |r| r.cpu_ms),
                legend_notes: vec!["lower is cheaper".into()],
            }),
        )
    });
    let rows = run.group("memory").map(curves).unwrap_or_default();
    out.push(if rows.is_empty() {
        omitted(
            "rbuf-heap",
            "Peak heap per read-buffer size",
            RBUF_HEAP_ABOUT,
            "this run has no memory group with rbuf_* cases".into(),
        )
    } else {
        figure(
            "rbuf-heap".into(),
            "Peak heap per read-buffer size".into(),
            RBUF_HEAP_ABOUT,
            chart::lines(&Lines {
                title: "Memory group: peak heap per read-buffer size".into(),
                x_label: "read buffer".into(),
                y_label: "peak heap".into(),
                x_ticks: ticks(rows.iter().filter_map(|r| x(r)), fmt_bytes),
                log_x: true,
                y_axis: Axis::LogBytes,
                y_format: fmt_bytes,
                series: lines_by_client(&rows, colors, x, |r| r.number("peak_heap_bytes")),
                legend_notes: vec![],
            }),
        )
    });
    out
}

const LATENCY_ABOUT: &str = "Per-query latency while many streams run at once (through a pool: \
    from asking the pool to the last row; a pool's exhaustion case: the time until a waiter got \
    the pool's timeout error): for each client, three bars in its colour, p50 (dark), p95 and \
    p99 (lighter).";

fn latency(run: &Run, colors: &Colors) -> Vec<Figure> {
    let groups: Vec<&GroupData> = run
        .groups
        .iter()
        .filter(|g| g.rows.iter().any(|r| r.latency_p50_ms.is_some()))
        .collect();
    if groups.is_empty() {
        return vec![omitted(
            "latency",
            "Latency percentiles",
            LATENCY_ABOUT,
            "this run has no group with latency percentiles (concurrency, pool)".into(),
        )];
    }
    groups
        .into_iter()
        .map(|g| {
            // A group may hold cases without per-query latencies (the pool group's HTTP case).
            let cases: Vec<&str> = g
                .cases()
                .into_iter()
                .filter(|case| {
                    g.rows
                        .iter()
                        .any(|r| r.case == *case && r.latency_p50_ms.is_some())
                })
                .collect();
            let mut series = Vec::new();
            for c in g.clients() {
                for (name, opacity, get) in [
                    (
                        "p50",
                        1.0,
                        (|r: &RowData| r.latency_p50_ms) as fn(&RowData) -> _,
                    ),
                    ("p95", 0.6, |r: &RowData| r.latency_p95_ms),
                    ("p99", 0.3, |r: &RowData| r.latency_p99_ms),
                ] {
                    series.push(BarSeries {
                        name: format!("{c} {name}"),
                        color: colors.of(c),
                        opacity,
                        bars: cases
                            .iter()
                            .map(|case| {
                                Some(Bar {
                                    value: get(g.row(case, c)?)?,
                                    range: None,
                                })
                            })
                            .collect(),
                    });
                }
            }
            let title = title_of(run, &g.name);
            figure(
                format!("latency-{}", g.name),
                format!("{title}: latency percentiles"),
                LATENCY_ABOUT,
                chart::bars(&Bars {
                    title: format!("{}: per-query latency p50 / p95 / p99", g.name),
                    y_label: "ms per query".into(),
                    categories: cases.iter().map(|c| latency_category(c)).collect(),
                    series,
                    y_axis: Axis::Linear,
                    band: None,
                    y_format: fmt_ms,
                    legend_notes: vec![],
                }),
            )
        })
        .collect()
}

/// A latency case's label: `20x10 (streams × queries)` for a shape of streams at once and
/// queries each, the case's name otherwise (`exhaustion`).
fn latency_category(case: &str) -> String {
    let shape = case.split_once('x').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    if shape {
        format!("{case} (streams × queries)")
    } else {
        case.to_owned()
    }
}

const EXIT_ABOUT: &str = "A big stream dropped after its first rows: the time until the same \
    connection completes a trivial query (log scale; whiskers: spread), and, where the run \
    recorded it, the bytes the client read after the drop.";

fn early_exit(run: &Run, colors: &Colors) -> Vec<Figure> {
    let title = "Early exit";
    let Some(g) = run.group("early_exit") else {
        return vec![omitted(
            "early-exit",
            title,
            EXIT_ABOUT,
            "this run has no early_exit group".into(),
        )];
    };
    let cases = g.cases();
    let per_client = |get: fn(&RowData) -> Option<Bar>| -> Vec<BarSeries> {
        g.clients()
            .into_iter()
            .map(|c| BarSeries {
                name: c.to_owned(),
                color: colors.of(c),
                opacity: 1.0,
                bars: cases.iter().map(|case| get(g.row(case, c)?)).collect(),
            })
            .collect()
    };
    let mut out = vec![figure(
        "early-exit".into(),
        format!("{title}: time until the connection is usable again"),
        EXIT_ABOUT,
        chart::bars(&Bars {
            title: "Early exit: drop to reusable".into(),
            y_label: "ms (log scale)".into(),
            categories: cases.iter().map(|c| c.to_string()).collect(),
            series: per_client(|r| {
                let s = r.spread_pct.unwrap_or(0.0) / 100.0;
                Some(Bar {
                    value: r.elapsed_ms,
                    range: (s > 0.0)
                        .then_some((r.elapsed_ms * (1.0 - s), r.elapsed_ms * (1.0 + s))),
                })
            }),
            y_axis: Axis::Log,
            band: None,
            y_format: fmt_ms,
            legend_notes: vec!["lower is better".into()],
        }),
    )];
    out.push(if g.rows.iter().any(|r| r.bytes_after_drop.is_some()) {
        figure(
            "early-exit-bytes".into(),
            format!("{title}: bytes read after the drop"),
            EXIT_ABOUT,
            chart::bars(&Bars {
                title: "Early exit: bytes read after the drop".into(),
                y_label: "bytes (log scale)".into(),
                categories: cases.iter().map(|c| c.to_string()).collect(),
                series: per_client(|r| {
                    Some(Bar {
                        value: r.bytes_after_drop? as f64,
                        range: None,
                    })
                }),
                y_axis: Axis::LogBytes,
                band: None,
                y_format: fmt_bytes,
                legend_notes: vec!["lower is better".into()],
            }),
        )
    } else {
        omitted(
            "early-exit-bytes",
            "Early exit: bytes read after the drop",
            EXIT_ABOUT,
            "this run recorded no bytes_after_drop".into(),
        )
    });
    out
}

const CONNECT_ABOUT: &str = "From nothing to ready for queries, per way of connecting (median; \
    whiskers: spread).";

fn connect(run: &Run, colors: &Colors) -> Vec<Figure> {
    let Some(g) = run.group("connect") else {
        return vec![omitted(
            "connect",
            "Connection set-up",
            CONNECT_ABOUT,
            "this run has no connect group".into(),
        )];
    };
    let cases = g.cases();
    let series = g
        .clients()
        .into_iter()
        .map(|c| BarSeries {
            name: c.to_owned(),
            color: colors.of(c),
            opacity: 1.0,
            bars: cases
                .iter()
                .map(|case| {
                    let r = g.row(case, c)?;
                    let s = r.spread_pct.unwrap_or(0.0) / 100.0;
                    Some(Bar {
                        value: r.elapsed_ms,
                        range: (s > 0.0)
                            .then_some((r.elapsed_ms * (1.0 - s), r.elapsed_ms * (1.0 + s))),
                    })
                })
                .collect(),
        })
        .collect();
    vec![figure(
        "connect".into(),
        format!("{}: time to ready", title_of(run, "connect")),
        CONNECT_ABOUT,
        chart::bars(&Bars {
            title: "Connection set-up".into(),
            y_label: "ms".into(),
            categories: cases.iter().map(|c| c.to_string()).collect(),
            series,
            y_axis: Axis::Linear,
            band: None,
            y_format: fmt_ms,
            legend_notes: vec!["lower is better".into()],
        }),
    )]
}

/// The throughput group's largest case that has a reference reader: the headline view, and
/// its limit row.
fn headline(run: &Run) -> Option<(&GroupData, &str, &RowData)> {
    let g = run.group("throughput")?;
    g.cases()
        .into_iter()
        .filter_map(|c| Some((c, limit_of(run, g, c)?)))
        .max_by_key(|(_, l)| l.rows)
        .map(|(c, l)| (g, c, l))
}

const TREND_RATIO_ABOUT: &str = "Each night's speed of every client relative to the reference \
    reader on the largest throughput view of that night (the ×limit of the bar chart above).";
const TREND_CPU_ABOUT: &str = "Each night's client CPU per MB of JSON on the largest throughput \
    view.";
const TREND_INSTR_ABOUT: &str = "Instruction counts (Callgrind, exact and noise-free) of every \
    benchmark of the instruction-count tier recorded with the night's summary (and of every row \
    that records an `instructions` figure), relative to the first night shown: 1.00× is \
    unchanged, above is more work.";

/// The trend figures over `nights` (oldest first).
pub fn trend(nights: &[&Run], colors: &Colors) -> Vec<Figure> {
    let labels: Vec<(f64, String)> = nights
        .iter()
        .enumerate()
        .map(|(i, r)| (i as f64, r.night().get(5..).unwrap_or(r.night()).to_owned()))
        .collect();
    // At most ~12 labels along x.
    let step = labels.len().div_ceil(12).max(1);
    let x_ticks: Vec<(f64, String)> = labels.iter().step_by(step).cloned().collect();
    let mut ratio: Vec<Line> = Vec::new();
    let mut cpu: Vec<Line> = Vec::new();
    let mut instr: Vec<Line> = Vec::new();
    let mut first_instr: Vec<(String, f64)> = Vec::new();
    let push = |lines: &mut Vec<Line>, name: &str, color, point: (f64, f64)| match lines
        .iter_mut()
        .find(|l| l.name == name)
    {
        Some(l) => l.points.push(point),
        None => lines.push(Line {
            name: name.to_owned(),
            color,
            points: vec![point],
        }),
    };
    for (i, run) in nights.iter().enumerate() {
        let x = i as f64;
        if let Some((g, case, rf)) = headline(run) {
            for r in g.rows.iter().filter(|r| r.case == case) {
                if r.client != rf.client {
                    if let Some(b) = speed_ratio(r, rf) {
                        push(&mut ratio, &r.client, colors.of(&r.client), (x, b.value));
                    }
                }
                if let (Some(c), true) = (r.cpu_ms, r.bytes > 0) {
                    push(
                        &mut cpu,
                        &r.client,
                        colors.of(&r.client),
                        (x, c / (r.bytes as f64 / 1e6)),
                    );
                }
            }
        }
        let rows = run
            .groups
            .iter()
            .flat_map(|g| &g.rows)
            .filter_map(|r| Some((r.id.as_str(), r.number("instructions")?)));
        let counts = run
            .instruction_counts
            .iter()
            .map(|(name, n)| (name.as_str(), *n as f64));
        for (id, n) in rows.chain(counts).filter(|(_, n)| *n > 0.0) {
            let first = match first_instr.iter().find(|(f, _)| f == id) {
                Some((_, f)) => *f,
                None => {
                    first_instr.push((id.to_owned(), n));
                    n
                }
            };
            let color = chart::palette(first_instr.iter().position(|(f, _)| f == id).unwrap_or(0));
            push(&mut instr, id, color, (x, n / first));
        }
    }
    let nights_note = format!(
        "{} night{}: {} … {}",
        nights.len(),
        if nights.len() == 1 { "" } else { "s" },
        nights.first().map_or("", |r| r.night()),
        nights.last().map_or("", |r| r.night())
    );
    let draw = |id: &str,
                title: &str,
                about: &str,
                lines: Vec<Line>,
                y: &str,
                fmt: fn(f64) -> String,
                why: &str| {
        if lines.is_empty() {
            return omitted(id, title, about, why.to_owned());
        }
        figure(
            id.to_owned(),
            title.to_owned(),
            about,
            chart::lines(&Lines {
                title: title.to_owned(),
                x_label: "night (UTC)".into(),
                y_label: y.to_owned(),
                x_ticks: x_ticks.clone(),
                log_x: false,
                y_axis: Axis::Linear,
                y_format: fmt,
                series: lines,
                legend_notes: vec![nights_note.clone()],
            }),
        )
    };
    vec![
        draw(
            "trend-ratio",
            "Trend: speed relative to the reference reader, largest view",
            TREND_RATIO_ABOUT,
            ratio,
            "rows/s ÷ the limit's (higher is faster)",
            fmt_ratio,
            "no night has a throughput group with the reference reader",
        ),
        draw(
            "trend-cpu",
            "Trend: client CPU per MB, largest view",
            TREND_CPU_ABOUT,
            cpu,
            "CPU ms per MB",
            fmt_plain,
            "no night has a throughput group with CPU figures",
        ),
        draw(
            "trend-instructions",
            "Trend: instruction counts relative to the first night",
            TREND_INSTR_ABOUT,
            instr,
            "× first night",
            fmt_ratio,
            "no night records instruction counts (`--instructions`, or rows with an `instructions` field)",
        ),
    ]
}
