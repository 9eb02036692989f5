//! The report page in a real browser: headless Chromium (Debian's `chromium`, or the binary
//! named by `CHROMIUM`) opens the page drawn from the committed fixtures, which must load with
//! no console error, show every chart at a real size with data marks in the plot, and is
//! screenshotted to `<target>/jsonwire-bench/browser-test/report.png` for a person to look at.
//!
//! `cargo test -p jsonwire-benchreport --features browser-test --test browser` (`.ci/run` runs
//! it after installing `chromium`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::Page;
use headless_chrome::{Browser, LaunchOptions, Tab};
use jsonwire_benchreport::chart::PALETTE;
use jsonwire_benchreport::{history, write_report};

type Problems = Arc<Mutex<Vec<String>>>;

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(t),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "no Chromium: install Debian's `chromium` (apt-get install chromium; .ci/run does) or \
         set CHROMIUM to a Chromium binary"
    );
}

/// A browser with a fresh profile in `dir`.
fn browser(dir: &Path) -> Browser {
    let profile = dir.join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let options = LaunchOptions::default_builder()
        .path(Some(chromium()))
        .headless(true)
        .sandbox(false)
        .enable_gpu(false)
        .user_data_dir(Some(profile))
        .window_size(Some((1280, 1000)))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(vec![
            OsStr::new("--disable-gpu"),
            OsStr::new("--disable-background-networking"),
            OsStr::new("--disable-component-update"),
            OsStr::new("--disable-sync"),
            OsStr::new("--no-first-run"),
        ])
        .build()
        .unwrap();
    Browser::new(options).unwrap_or_else(|e| panic!("Chromium did not start: {e:#}"))
}

/// Opens `page`, collecting every console error, failed load and uncaught exception.
fn open(browser: &Browser, page: &Path) -> (Arc<Tab>, Problems) {
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(60));
    let problems: Problems = Arc::default();
    let sink = Arc::clone(&problems);
    tab.enable_log().unwrap().enable_runtime().unwrap();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let problem = match event {
            Event::LogEntryAdded(e) => {
                let entry = &e.params.entry;
                matches!(
                    entry.level,
                    headless_chrome::protocol::cdp::Log::LogEntryLevel::Error
                )
                .then(|| format!("log error: {} {:?}", entry.text, entry.url))
            }
            Event::RuntimeConsoleAPICalled(e) => matches!(
                e.params.Type,
                headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption::Error
                    | headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption::Assert
            )
            .then(|| format!("console.error: {:?}", e.params.args)),
            Event::RuntimeExceptionThrown(e) => {
                Some(format!("exception: {}", e.params.exception_details.text))
            }
            _ => None,
        };
        if let Some(p) = problem {
            sink.lock().unwrap().push(p);
        }
    }))
    .unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    // Failed loads are reported just after the load event.
    std::thread::sleep(Duration::from_millis(500));
    (tab, problems)
}

/// Per chart on the page: its id, rendered size, and the data marks (palette-coloured
/// shapes) inside the plot, left of the legend.
fn charts_on_page(tab: &Tab) -> Vec<(String, f64, f64, u64)> {
    let palette = serde_json::to_string(&PALETTE).unwrap();
    let js = format!(
        r#"JSON.stringify([...document.querySelectorAll('figure.chart')].map(f => {{
            const svg = f.querySelector('svg');
            if (!svg) return [f.dataset.chart, 0, 0, 0];
            const box = svg.getBoundingClientRect();
            const vb = svg.viewBox.baseVal;
            const plotRight = box.left + box.width * (vb && vb.width ? (vb.width - 230) / vb.width : 0.76);
            const palette = {palette};
            const colour = e => [e.getAttribute('fill'), e.getAttribute('stroke')]
                .some(c => c && palette.includes(c.toUpperCase()));
            const marks = [...svg.querySelectorAll('rect,circle,polyline,path,line,polygon')]
                .filter(e => colour(e))
                .filter(e => {{ const b = e.getBoundingClientRect();
                    return b.right <= plotRight + 1 && (b.width > 0 || b.height > 0); }}).length;
            return [f.dataset.chart, box.width, box.height, marks];
        }}))"#
    );
    let v = tab.evaluate(&js, false).unwrap().value.unwrap();
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

fn screenshot(tab: &Tab, to: &Path) {
    let size = tab
        .evaluate(
            "JSON.stringify([document.documentElement.scrollWidth, document.documentElement.scrollHeight])",
            false,
        )
        .unwrap()
        .value
        .unwrap();
    let [w, h]: [f64; 2] = serde_json::from_str(size.as_str().unwrap()).unwrap();
    let png = tab
        .call_method(Page::CaptureScreenshot {
            format: Some(Page::CaptureScreenshotFormatOption::Png),
            quality: None,
            clip: Some(Page::Viewport {
                x: 0.0,
                y: 0.0,
                width: w,
                height: h,
                scale: 1.0,
            }),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: None,
        })
        .unwrap()
        .data;
    let png = BASE64_STANDARD.decode(png).unwrap();
    std::fs::write(to, png).unwrap();
}

/// The page of the newest fixture, with the fixtures filed as the three nights before it as its
/// history (real runs, only their dates moved), so the trend section has lines to draw.
fn page_from_fixtures(dir: &Path) -> (PathBuf, Vec<String>) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut runs = history::load(std::slice::from_ref(&fixtures)).unwrap();
    runs.sort_by(|a, b| a.generated_at.cmp(&b.generated_at));
    let current = runs.last().unwrap().clone();
    let history_dir = dir.join("history");
    let _ = std::fs::remove_dir_all(&history_dir);
    std::fs::create_dir_all(&history_dir).unwrap();
    for (i, night) in ["2026-11-29", "2026-11-30", "2026-12-01"]
        .iter()
        .enumerate()
    {
        let run = &runs[i % runs.len()];
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&run.path).unwrap()).unwrap();
        v["generated_at"] = format!("{night}T02:30:00Z").into();
        std::fs::write(
            history_dir.join(format!("{night}.json")),
            serde_json::to_vec(&v).unwrap(),
        )
        .unwrap();
    }
    let history = history::load(&[history_dir]).unwrap();
    let written = write_report(&current, &history, 30, dir).unwrap();
    assert_eq!(written.nights, 4);
    let ids = written
        .charts
        .iter()
        .map(|(_, f)| {
            let name = f.file_name().unwrap().to_str().unwrap();
            name["chart-".len()..name.len() - ".svg".len()].to_owned()
        })
        .collect();
    (written.html, ids)
}

#[test]
fn the_report_loads_cleanly_and_every_chart_shows_data() {
    let dir = target_dir().join("jsonwire-bench/browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    let (page, ids) = page_from_fixtures(&dir);
    let browser = browser(&dir);
    let (tab, problems) = open(&browser, &page);
    let charts = charts_on_page(&tab);
    let png = dir.join("report.png");
    screenshot(&tab, &png);
    eprintln!("screenshot: {}", png.display());

    let problems = problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "the page logged: {problems:#?}");
    let on_page: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(on_page, ids, "the page shows the charts written, in order");
    for (id, w, h, marks) in &charts {
        assert!(*w > 400.0 && *h > 150.0, "{id} renders at {w}×{h}");
        assert!(*marks >= 2, "{id} has {marks} data marks in its plot");
    }
    let meta = std::fs::metadata(&png).unwrap();
    assert!(meta.len() > 50_000, "a {}-byte screenshot", meta.len());
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn a_broken_page_is_caught() {
    let dir = target_dir().join("jsonwire-bench/browser-test-broken");
    std::fs::create_dir_all(&dir).unwrap();
    let (page, ids) = page_from_fixtures(&dir);
    // A missing image (a failed load) and a chart whose data marks were lost.
    let html = std::fs::read_to_string(&page).unwrap();
    let first = &ids[0];
    let start = html.find(&format!("data-chart=\"{first}\"")).unwrap();
    let svg_at = start + html[start..].find("<svg").unwrap();
    let svg_end = svg_at + html[svg_at..].find("</svg>").unwrap();
    let mut svg = html[svg_at..svg_end].to_owned();
    for c in PALETTE {
        svg = svg.replace(c, "#000000");
    }
    let broken = format!("{}{}{}", &html[..svg_at], svg, &html[svg_end..])
        .replace("<main>", "<main><img src=\"missing-chart.png\" alt=\"\">");
    std::fs::write(&page, broken).unwrap();

    let browser = browser(&dir);
    let (tab, problems) = open(&browser, &page);
    let problems = problems.lock().unwrap().clone();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("missing-chart.png") || p.contains("ERR_FILE_NOT_FOUND")),
        "the failed load went unnoticed: {problems:#?}"
    );
    let charts = charts_on_page(&tab);
    let (_, _, _, marks) = charts.iter().find(|c| &c.0 == first).unwrap();
    assert_eq!(
        *marks, 0,
        "a chart without data marks was counted as having some"
    );
}
