//! The report generator on summaries from real runs (tests/fixtures: quick passes of the
//! integration tier, committed as the runs wrote them).

use std::path::{Path, PathBuf};
use std::process::Command;

use jsonwire_benchreport::chart::PALETTE;
use jsonwire_benchreport::figures::Outcome;
use jsonwire_benchreport::{figures_of, history, write_report, Run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture, oldest first.
fn runs() -> Vec<Run> {
    let mut runs = history::load(&[fixtures()]).unwrap();
    runs.sort_by(|a, b| a.generated_at.cmp(&b.generated_at));
    assert!(runs.len() >= 2, "the fixtures hold at least two runs");
    runs
}

/// The newest fixture.
fn newest() -> Run {
    runs().pop().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("benchreport-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of `run`'s file with another `generated_at`, as the history of another night.
fn redated(run: &Run, at: &str, dir: &Path) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run.path).unwrap()).unwrap();
    v["generated_at"] = serde_json::Value::String(at.to_owned());
    let path = dir.join(format!("{}.json", at.replace(':', "")));
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    path
}

fn drawn(figs: &[jsonwire_benchreport::figures::Figure]) -> Vec<&str> {
    figs.iter()
        .filter(|f| matches!(f.outcome, Outcome::Drawn(_)))
        .map(|f| f.id.as_str())
        .collect()
}

#[test]
fn every_run_gets_every_chart_the_issue_asks_for() {
    for run in runs() {
        let (charts, _) = figures_of(&run, &[], 30);
        let ids = drawn(&charts);
        for want in [
            "ratio-throughput",
            "cpu-throughput",
            "ratio-large",
            "cpu-large",
            "ttfr",
            "heap",
            "chunk",
            "rbuf-heap",
            "latency-concurrency",
            "early-exit",
            "connect",
        ] {
            assert!(
                ids.contains(&want),
                "{}: {want} not drawn; drawn: {ids:?}",
                run.path.display()
            );
        }
    }
}

#[test]
fn the_pool_groups_latencies_are_drawn_without_its_http_case() {
    let runs: Vec<Run> = runs()
        .into_iter()
        .filter(|r| r.group("pool").is_some())
        .collect();
    assert!(!runs.is_empty(), "a fixture has the pool group");
    for run in runs {
        let (charts, _) = figures_of(&run, &[], 30);
        let svg = charts
            .iter()
            .find(|f| f.id == "latency-pool")
            .and_then(|f| match &f.outcome {
                Outcome::Drawn(svg) => Some(svg.clone()),
                Outcome::Omitted(_) => None,
            })
            .unwrap_or_else(|| panic!("{}: latency-pool not drawn", run.path.display()));
        let pool = run.group("pool").unwrap();
        for case in pool.cases() {
            let has_latency = pool
                .rows
                .iter()
                .any(|r| r.case == case && r.latency_p50_ms.is_some());
            assert_eq!(
                svg.contains(&format!("\n{case}")),
                has_latency,
                "{}: case {case} on the chart: {}",
                run.path.display(),
                !has_latency
            );
        }
    }
}

#[test]
fn every_client_of_a_group_is_drawn_in_its_palette_colour() {
    let run = newest();
    let (charts, _) = figures_of(&run, &[], 30);
    let throughput = run.group("throughput").unwrap();
    let svg = charts
        .iter()
        .find(|f| f.id == "cpu-throughput")
        .and_then(|f| match &f.outcome {
            Outcome::Drawn(svg) => Some(svg.clone()),
            Outcome::Omitted(_) => None,
        })
        .unwrap();
    // One filled bar per row with a CPU figure (a throw-away cluster's run has TLS cases with
    // two clients only), plus one legend swatch per client.
    let clients = throughput.clients().len();
    let rows = throughput
        .rows
        .iter()
        .filter(|r| r.cpu_ms.is_some())
        .count();
    let bars: usize = PALETTE
        .iter()
        .map(|c| svg.matches(&format!("fill=\"{c}\"")).count())
        .sum();
    assert!(
        bars >= rows + clients,
        "{bars} palette-filled rects for {rows} rows and {clients} clients"
    );
    for client in throughput.clients() {
        assert!(
            svg.contains(&format!("\n{client}\n")),
            "legend lacks {client}"
        );
    }
}

#[test]
fn the_page_is_self_contained_and_has_every_chart_and_table() {
    let run = newest();
    let out = scratch("page");
    let written = write_report(&run, &[], 30, &out).unwrap();
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(!html.contains("<script"), "the page needs no script");
    for attr in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(attr), "the page fetches something: {attr}");
    }
    for (_, file) in &written.charts {
        let svg = std::fs::read_to_string(file).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let id = file
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("chart-")
            .unwrap()
            .strip_suffix(".svg")
            .unwrap();
        assert!(
            html.contains(&format!("data-chart=\"{id}\"")),
            "{id} not on the page"
        );
    }
    for g in &run.groups {
        assert!(
            html.contains(&format!("id=\"table-{}\"", g.name)),
            "no table for {}",
            g.name
        );
        for row in &g.rows {
            assert!(html.contains(&format!("<td>{}</td>", row.client)));
        }
    }
    assert!(html.contains(&run.postgres_version.replace('&', "&amp;")));
    assert!(
        html.contains("mode</b></td><td>quick"),
        "the run's mode is shown"
    );
    // The markdown for summary.md links every chart file by its name.
    let md = written.markdown();
    for (_, file) in &written.charts {
        assert!(md.contains(file.file_name().unwrap().to_str().unwrap()));
    }
}

#[test]
fn missing_groups_leave_their_charts_out_with_a_note() {
    let mut run = newest();
    run.groups.retain(|g| {
        !matches!(
            g.name.as_str(),
            "early_exit" | "concurrency" | "pool" | "ttfr" | "chunk"
        )
    });
    // No reference reader: neither the run's nor a per-case one (`limit_client`).
    run.run.reference = Some("no_such_reader".into());
    for g in &mut run.groups {
        for r in &mut g.rows {
            r.extra.remove("limit_client");
        }
    }
    let out = scratch("missing");
    let written = write_report(&run, &[], 30, &out).unwrap();
    let omitted: Vec<&str> = written.omitted.iter().map(|(t, _)| t.as_str()).collect();
    for title in [
        "Early exit",
        "Latency percentiles",
        "Time to first row against result size",
        "Read-buffer curves",
        "Throughput relative to the reference reader",
    ] {
        assert!(
            omitted.contains(&title),
            "{title} not reported as omitted: {omitted:?}"
        );
    }
    let html = std::fs::read_to_string(&written.html).unwrap();
    assert!(html.contains("not drawn: this run has no early_exit group"));
    // What the run has is still drawn.
    assert!(written.charts.iter().any(|(t, _)| t.contains("Peak heap")));
}

#[test]
fn history_keeps_one_run_per_night_and_the_page_shows_the_last_nights() {
    let dir = scratch("history");
    let src = scratch("history-src");
    let runs = runs();
    // Real runs, filed as four nights; the second night ran twice.
    let nights = [
        redated(&runs[0], "2026-11-28T02:10:00Z", &src),
        redated(&runs[1], "2026-11-29T02:10:00Z", &src),
        redated(&runs[0], "2026-11-29T14:00:00Z", &src),
        redated(&runs[1], "2026-11-30T02:40:00Z", &src),
        redated(&runs[0], "2026-12-01T02:10:00Z", &src),
    ];
    for path in &nights {
        let run = Run::from_path(path).unwrap();
        history::record(&dir, path, &run, 3).unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["2026-11-29.json", "2026-11-30.json", "2026-12-01.json"]
    );
    let kept = Run::from_path(&dir.join("2026-11-29.json")).unwrap();
    assert_eq!(
        kept.generated_at, "2026-11-29T14:00:00Z",
        "a later run replaces its night's"
    );

    let history = history::load(std::slice::from_ref(&dir)).unwrap();
    let current = Run::from_path(&dir.join("2026-12-01.json")).unwrap();
    let shown = history::nights(&current, &history, 2);
    let shown: Vec<&str> = shown.iter().map(|r| r.night()).collect();
    assert_eq!(shown, ["2026-11-30", "2026-12-01"]);

    let (_, trend) = figures_of(&current, &history, 30);
    let ids = drawn(&trend);
    assert!(
        ids.contains(&"trend-ratio") && ids.contains(&"trend-cpu"),
        "{ids:?}"
    );
    let svg = match &trend
        .iter()
        .find(|f| f.id == "trend-ratio")
        .unwrap()
        .outcome
    {
        Outcome::Drawn(svg) => svg.clone(),
        Outcome::Omitted(why) => panic!("{why}"),
    };
    for night in ["11-29", "11-30", "12-01"] {
        assert!(svg.contains(night), "night {night} not on the trend's axis");
    }
    // No instruction counts in these runs: that chart says so rather than drawing nothing.
    match &trend
        .iter()
        .find(|f| f.id == "trend-instructions")
        .unwrap()
        .outcome
    {
        Outcome::Omitted(why) => assert!(why.contains("instruction"), "{why}"),
        Outcome::Drawn(_) => panic!("drew instruction counts the runs do not have"),
    }
}

#[test]
fn instruction_counts_in_a_summary_are_drawn_in_the_trend() {
    let src = scratch("instructions");
    let runs = runs();
    let mut paths = Vec::new();
    for (i, (run, count)) in [(&runs[0], 1_000_000u64), (&runs[1], 1_030_000)]
        .iter()
        .enumerate()
    {
        let path = redated(run, &format!("2026-11-2{}T02:00:00Z", i + 1), &src);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["groups"][0]["rows"][0]["instructions"] = serde_json::json!(count);
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        paths.push(path);
    }
    let history = history::load(&paths).unwrap();
    let (_, trend) = figures_of(&history[1], &history, 30);
    match &trend
        .iter()
        .find(|f| f.id == "trend-instructions")
        .unwrap()
        .outcome
    {
        Outcome::Drawn(svg) => {
            // One line, for the one row with counts, in the legend; two points on it.
            let id = &history[0].groups[0].rows[0].id;
            assert!(svg.contains(&format!("\n{id}\n")), "legend lacks {id}");
            assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        }
        Outcome::Omitted(why) => panic!("{why}"),
    }
}

#[test]
fn the_command_rebuilds_the_page_from_a_history_and_names_a_bad_file() {
    let out = scratch("cli-out");
    let bin = env!("CARGO_BIN_EXE_jsonwire-benchreport");
    let status = Command::new(bin)
        .arg("--history")
        .arg(fixtures())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(out.join("report.html").is_file());
    assert!(out.join("chart-ratio-throughput.svg").is_file());

    let bad = scratch("cli-bad").join("broken.json");
    std::fs::write(&bad, b"{\"schema\": 1, \"groups\": [").unwrap();
    let o = Command::new(bin)
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.json") && err.contains("not a valid summary.json"),
        "{err}"
    );

    let o = Command::new(bin).arg("--nights").arg("0").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// The Callgrind tier's output (`.ci/callgrind`'s `callgrind.json`), committed as it was written.
fn callgrind_fixture() -> PathBuf {
    fixtures().join("callgrind/callgrind.json")
}

#[test]
fn instruction_counts_are_recorded_with_the_summary_and_drawn_in_the_trend() {
    let src = scratch("instructions-file");
    let dir = scratch("instructions-history");
    let runs = runs();
    let counts = jsonwire_benchgate::callgrind::read(&callgrind_fixture()).unwrap();
    let (name, first) = counts.iter().next().map(|(n, c)| (n.clone(), *c)).unwrap();
    // Two nights: the fixture's counts, then the same with one benchmark 3% slower.
    let mut slower = counts.clone();
    slower.insert(name.clone(), first + first * 3 / 100);
    let slower_file = src.join("slower.json");
    std::fs::write(
        &slower_file,
        serde_json::to_vec(&jsonwire_benchgate::callgrind::to_json(&slower)).unwrap(),
    )
    .unwrap();
    for (i, (run, file)) in [(&runs[0], callgrind_fixture()), (&runs[1], slower_file)]
        .into_iter()
        .enumerate()
    {
        let path = redated(run, &format!("2026-11-2{}T02:00:00Z", i + 1), &src);
        let mut run = Run::from_path(&path).unwrap();
        run.add_instructions(&file).unwrap();
        history::record(&dir, &path, &run, 90).unwrap();
    }
    let history = history::load(&[dir]).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0].instruction_counts, counts,
        "recorded as measured"
    );
    let (_, trend) = figures_of(&history[1], &history, 30);
    match &trend
        .iter()
        .find(|f| f.id == "trend-instructions")
        .unwrap()
        .outcome
    {
        Outcome::Drawn(svg) => {
            // A line per benchmark, two nights each.
            for name in counts.keys() {
                assert!(svg.contains(&format!("\n{name}\n")), "legend lacks {name}");
            }
            assert_eq!(svg.matches("<circle").count(), 2 * counts.len(), "{svg}");
        }
        Outcome::Omitted(why) => panic!("{why}"),
    }
    let out = scratch("instructions-page");
    let written = write_report(&history[1], &history, 30, &out).unwrap();
    let html = std::fs::read_to_string(written.html).unwrap();
    assert!(html.contains("Instruction counts (Callgrind)"));
    assert!(html.contains(&format!("<td>{}</td>", first + first * 3 / 100)));
}

#[test]
fn the_command_takes_instructions_only_with_a_summary_and_names_a_bad_file() {
    let bin = env!("CARGO_BIN_EXE_jsonwire-benchreport");
    let run = newest();
    let out = scratch("cli-instructions");
    let o = Command::new(bin)
        .arg(&run.path)
        .arg("--instructions")
        .arg(callgrind_fixture())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("chart-trend-instructions.svg").is_file());

    let o = Command::new(bin)
        .arg("--history")
        .arg(fixtures())
        .arg("--instructions")
        .arg(callgrind_fixture())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));

    let o = Command::new(bin)
        .arg(&run.path)
        .arg("--instructions")
        .arg(&run.path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not an instruction-count file"), "{err}");
}
