//! The integration benchmarks' report: SVG charts, one self-contained `report.html`, and the
//! trend over a history of nightly runs, all drawn from `summary.json` files
//! ([`jsonwire_benchgate::summary`] plus the extra fields the run writes).
//!
//! The integration tier calls [`write_report`] at the end of a run, so every run leaves its
//! charts and page next to `summary.md`; the `jsonwire-benchreport` command draws the same page
//! again from any set of summaries (the nightly workflow adds its history that way):
//!
//! ```text
//! jsonwire-benchreport [SUMMARY.json] [--instructions callgrind.json]
//!                      [--history FILE-OR-DIR]... [--nights 30]
//!                      [--record DIR [--keep 90]] [--out DIR]
//! ```
//!
//! Charts are drawn from what the data holds (its groups, cases and clients), so a new client
//! or group appears without a change here; a chart whose group a run lacks is left out with a
//! note on the page, never an error.

pub mod chart;
pub mod data;
pub mod figures;
pub mod history;
pub mod page;

use std::path::{Path, PathBuf};

pub use data::Run;
use figures::{Colors, Figure, Outcome};

/// The page's default span: the last 30 nights.
pub const DEFAULT_NIGHTS: usize = 30;

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.html`.
    pub html: PathBuf,
    /// Every chart drawn: its title and SVG file.
    pub charts: Vec<(String, PathBuf)>,
    /// Every chart left out: its title and why.
    pub omitted: Vec<(String, String)>,
    /// How many nights the trend covers.
    pub nights: usize,
}

impl Written {
    /// A markdown section linking the page and the charts (for `summary.md`), with paths
    /// relative to the directory they were written to.
    pub fn markdown(&self) -> String {
        let name = |p: &Path| {
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        let mut md = format!(
            "## Charts\n\nThe page with every chart and table: [{0}]({0}) (self-contained; open it \
             in a browser).\n\n",
            name(&self.html)
        );
        for (title, file) in &self.charts {
            md.push_str(&format!("- [{title}]({})\n", name(file)));
        }
        for (title, why) in &self.omitted {
            md.push_str(&format!("- {title}: not drawn: {why}\n"));
        }
        md
    }
}

/// Draws the charts of `current` and the trend over `current` and `history` (the last `nights`
/// nights), and writes `chart-<id>.svg` files and `report.html` into `out`. Chart files left
/// there by an earlier report are removed first, so none is stale.
///
/// # Errors
/// `out` cannot be written.
pub fn write_report(
    current: &Run,
    history: &[Run],
    nights: usize,
    out: &Path,
) -> Result<Written, String> {
    let shown = history::nights(current, history, nights);
    let colors = Colors::new(std::iter::once(current).chain(shown.iter().rev().copied()));
    let charts = figures::current(current, &colors);
    let trend = figures::trend(&shown, &colors);
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for old in std::fs::read_dir(out).map_err(|e| format!("{}: {e}", out.display()))? {
        let path = old.map_err(|e| format!("{}: {e}", out.display()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("chart-") && name.ends_with(".svg") {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let mut written = Written {
        html: out.join("report.html"),
        charts: Vec::new(),
        omitted: Vec::new(),
        nights: shown.len(),
    };
    for f in charts.iter().chain(&trend) {
        match &f.outcome {
            Outcome::Drawn(svg) => {
                let file = out.join(format!("chart-{}.svg", f.id));
                std::fs::write(&file, svg).map_err(|e| format!("{}: {e}", file.display()))?;
                written.charts.push((f.title.clone(), file));
            }
            Outcome::Omitted(why) => written.omitted.push((f.title.clone(), why.clone())),
        }
    }
    let html = page::render(current, &charts, &trend, &shown);
    std::fs::write(&written.html, html).map_err(|e| format!("{}: {e}", written.html.display()))?;
    Ok(written)
}

/// Every figure for `current` and its trend, without writing anything (for tests and tools).
pub fn figures_of(current: &Run, history: &[Run], nights: usize) -> (Vec<Figure>, Vec<Figure>) {
    let shown = history::nights(current, history, nights);
    let colors = Colors::new(std::iter::once(current).chain(shown.iter().rev().copied()));
    (
        figures::current(current, &colors),
        figures::trend(&shown, &colors),
    )
}
