//! The two kinds of figure the report draws, on plotters' SVG backend: grouped bars (one group
//! per category, one bar per series, optional error bars and a reference band) and lines (one
//! per series, optional log axes). Each returns the SVG text; the page inlines it and the run
//! also writes it to a file.
//!
//! Series colours come from [`PALETTE`], so a client keeps its colour in every chart, and the
//! browser test can tell data marks (palette colours) from axes and grid (greys).

use std::ops::Range;

use plotters::coord::ranged1d::{
    AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged, ValueFormatter,
};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// An axis labelled exactly at the given positions (plotters' `WithKeyPoints` does the same but
/// has no formatter to hang our labels on).
struct Ticked<R> {
    inner: R,
    ticks: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

fn ticked<R: Ranged<ValueType = f64>>(inner: R, ticks: Vec<f64>) -> Ticked<R> {
    Ticked { inner, ticks }
}

fn linear(r: Range<f64>) -> RangedCoordf64 {
    r.into()
}

fn log(r: Range<f64>) -> LogCoord<f64> {
    r.log_scale().into()
}

/// Series colours (Tableau 10 and two more), as `#RRGGBB`: a series' marks are drawn in one of
/// these and nothing else is.
pub const PALETTE: [&str; 12] = [
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F",
    "#BCBD22", "#17BECF", "#393B79", "#AD494A",
];

const WIDTH: u32 = 960;
const HEIGHT: u32 = 430;
const LEGEND_WIDTH: u32 = 230;
const FONT: &str = "sans-serif";

/// The palette colour `i` (wrapping).
pub fn palette(i: usize) -> RGBColor {
    let hex = PALETTE[i % PALETTE.len()];
    let v = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).unwrap_or(0);
    RGBColor(v(1), v(3), v(5))
}

/// A y axis' scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Linear from zero.
    Linear,
    /// Logarithmic, labelled at 1, 2, 5 × 10ⁿ (for figures that span orders of magnitude).
    Log,
    /// Logarithmic, labelled at powers of 4 (byte sizes: 16 KiB, 64 KiB, 256 KiB, 1 MiB …).
    LogBytes,
}

/// Where a logarithmic axis from `lo` to `hi` is labelled: at most about eight positions.
fn log_ticks(lo: f64, hi: f64, bytes: bool) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(lo > 0.0 && hi > lo) {
        return ticks;
    }
    if bytes {
        let mut t = 4f64.powi(lo.log(4.0).floor() as i32);
        while t <= hi {
            if t >= lo {
                ticks.push(t);
            }
            t *= 4.0;
        }
    } else {
        let mut decade = 10f64.powi(lo.log10().floor() as i32);
        while decade <= hi {
            for m in [1.0, 2.0, 5.0] {
                let t = decade * m;
                if t >= lo && t <= hi {
                    ticks.push(t);
                }
            }
            decade *= 10.0;
        }
        if ticks.len() > 8 {
            ticks.retain(|t| {
                let m = t / 10f64.powi(t.log10().floor() as i32);
                (m - 1.0).abs() < 1e-9
            });
        }
    }
    ticks
}

/// A bar: its value and, optionally, the range its error bar spans.
#[derive(Debug, Clone, Copy)]
pub struct Bar {
    /// The bar's height.
    pub value: f64,
    /// The error bar, from `.0` to `.1`.
    pub range: Option<(f64, f64)>,
}

/// A series of bars, one per category (`None`: no bar there).
#[derive(Debug, Clone)]
pub struct BarSeries {
    /// The legend's name.
    pub name: String,
    /// The palette colour.
    pub color: RGBColor,
    /// How opaque the bars are (shades of one colour for percentiles).
    pub opacity: f64,
    /// One per category.
    pub bars: Vec<Option<Bar>>,
}

/// A horizontal reference line, with a shaded band per category (the reference's own noise
/// there).
#[derive(Debug, Clone)]
pub struct Band {
    /// Where the line is.
    pub at: f64,
    /// Per category, the band from `.0` to `.1`.
    pub ranges: Vec<Option<(f64, f64)>>,
}

/// A grouped bar chart.
#[derive(Debug, Clone)]
pub struct Bars {
    /// Above the plot.
    pub title: String,
    /// The y axis' description.
    pub y_label: String,
    /// The groups along x.
    pub categories: Vec<String>,
    /// The bars of each group, in this order.
    pub series: Vec<BarSeries>,
    /// The y axis' scale.
    pub y_axis: Axis,
    /// A reference line with its noise.
    pub band: Option<Band>,
    /// How a y value is printed on the axis.
    pub y_format: fn(f64) -> String,
    /// Extra lines under the legend.
    pub legend_notes: Vec<String>,
}

/// A line of points.
#[derive(Debug, Clone)]
pub struct Line {
    /// The legend's name.
    pub name: String,
    /// The palette colour.
    pub color: RGBColor,
    /// `(x, y)`, drawn in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct Lines {
    /// Above the plot.
    pub title: String,
    /// The x axis' description.
    pub x_label: String,
    /// The y axis' description.
    pub y_label: String,
    /// The x positions to label, with their labels.
    pub x_ticks: Vec<(f64, String)>,
    /// A logarithmic x axis.
    pub log_x: bool,
    /// The y axis' scale.
    pub y_axis: Axis,
    /// How a y value is printed on the axis.
    pub y_format: fn(f64) -> String,
    /// The lines.
    pub series: Vec<Line>,
    /// Extra lines under the legend.
    pub legend_notes: Vec<String>,
}

type Drawn = Result<(), String>;

fn err(e: impl std::fmt::Display) -> String {
    format!("plotting failed: {e}")
}

/// The y range for `values` (every figure drawn is zero or more): from 0 (linear) or a little
/// under the smallest (log) to a little over the largest.
fn y_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        (lo / 2.0, hi * 2.0)
    } else {
        (0.0, if hi > 0.0 { hi * 1.12 } else { 1.0 })
    }
}

fn legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    entries: &[(String, RGBColor, f64)],
    notes: &[String],
) -> Drawn {
    let mut y = 48;
    for (name, color, opacity) in entries {
        area.draw(&Rectangle::new(
            [(8, y - 6), (22, y + 6)],
            color.mix(*opacity).filled(),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            name.clone(),
            (30, y - 7),
            (FONT, 13).into_font().color(&BLACK),
        ))
        .map_err(err)?;
        y += 20;
    }
    y += 6;
    for note in notes {
        area.draw(&Text::new(
            note.clone(),
            (8, y - 7),
            (FONT, 12).into_font().color(&RGBColor(80, 80, 80)),
        ))
        .map_err(err)?;
        y += 17;
    }
    Ok(())
}

/// Draws a grouped bar chart.
///
/// # Errors
/// Plotting failed (no categories or series is not an error: the frame is drawn empty).
pub fn bars(spec: &Bars) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let values = spec.series.iter().flat_map(|s| {
            s.bars.iter().flatten().flat_map(|b| {
                [Some(b.value), b.range.map(|r| r.0), b.range.map(|r| r.1)]
                    .into_iter()
                    .flatten()
            })
        });
        let band = spec.band.iter().flat_map(|b| {
            std::iter::once(b.at).chain(b.ranges.iter().flatten().flat_map(|r| [r.0, r.1]))
        });
        let (lo, hi) = y_range(values.chain(band), spec.y_axis != Axis::Linear);
        match spec.y_axis {
            Axis::Linear => bars_on(&plot, spec, linear(lo..hi), 0.0)?,
            Axis::Log | Axis::LogBytes => {
                let ticks = log_ticks(lo, hi, spec.y_axis == Axis::LogBytes);
                bars_on(&plot, spec, ticked(log(lo..hi), ticks), lo)?
            }
        }
        let entries: Vec<(String, RGBColor, f64)> = spec
            .series
            .iter()
            .map(|s| (s.name.clone(), s.color, s.opacity))
            .collect();
        legend(&side, &entries, &spec.legend_notes)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn bars_on<Y>(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    spec: &Bars,
    y: Y,
    base: f64,
) -> Drawn
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let n = spec.categories.len().max(1);
    let ticks: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, (FONT, 17))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(72)
        .build_cartesian_2d(ticked(linear(0.0..n as f64), ticks), y)
        .map_err(err)?;
    let categories = &spec.categories;
    let x_fmt = |x: &f64| {
        categories
            .get(x.floor().max(0.0) as usize)
            .cloned()
            .unwrap_or_default()
    };
    let y_fmt = |v: &f64| (spec.y_format)(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_desc(spec.y_label.as_str())
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(err)?;
    if let Some(Band { at, ranges }) = &spec.band {
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(ranges.iter().enumerate().filter_map(|(i, b)| {
                let (lo, hi) = (*b)?;
                Some(Rectangle::new(
                    [(i as f64, lo), (i as f64 + 1.0, hi)],
                    grey.mix(0.15).filled(),
                ))
            }))
            .map_err(err)?;
        chart
            .draw_series([PathElement::new(
                vec![(0.0, *at), (n as f64, *at)],
                grey.stroke_width(1),
            )])
            .map_err(err)?;
    }
    let slots = spec.series.len().max(1) as f64;
    let width = 0.8 / slots;
    for (j, s) in spec.series.iter().enumerate() {
        let style = s.color.mix(s.opacity).filled();
        let mut rects = Vec::new();
        let mut whiskers = Vec::new();
        for (i, bar) in s.bars.iter().enumerate() {
            let Some(bar) = bar else { continue };
            let x0 = i as f64 + 0.1 + j as f64 * width;
            rects.push(Rectangle::new([(x0, base), (x0 + width, bar.value)], style));
            if let Some((lo, hi)) = bar.range {
                // A spread wider than the value would reach below the axis.
                let lo = lo.max(base);
                let (xc, cap) = (x0 + width / 2.0, width / 4.0);
                for points in [
                    vec![(xc, lo), (xc, hi)],
                    vec![(xc - cap, lo), (xc + cap, lo)],
                    vec![(xc - cap, hi), (xc + cap, hi)],
                ] {
                    whiskers.push(PathElement::new(points, BLACK.stroke_width(1)));
                }
            }
        }
        chart.draw_series(rects).map_err(err)?;
        chart.draw_series(whiskers).map_err(err)?;
    }
    Ok(())
}

/// Draws a line chart.
///
/// # Errors
/// Plotting failed.
pub fn lines(spec: &Lines) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let xs = spec
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = spec
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let (x_lo, x_hi) = {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for x in xs.chain(spec.x_ticks.iter().map(|t| t.0)) {
                if x.is_finite() && (!spec.log_x || x > 0.0) {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
            if !lo.is_finite() {
                (1.0, 10.0)
            } else if spec.log_x {
                (lo / 1.3, hi * 1.3)
            } else {
                let pad = ((hi - lo) * 0.04).max(0.5);
                (lo - pad, hi + pad)
            }
        };
        let log_y = spec.y_axis != Axis::Linear;
        let (y_lo, y_hi) = y_range(ys, log_y);
        let ticks: Vec<f64> = spec.x_ticks.iter().map(|t| t.0).collect();
        let y_ticks = log_ticks(y_lo, y_hi, spec.y_axis == Axis::LogBytes);
        let (xs, ys) = (x_lo..x_hi, y_lo..y_hi);
        match (spec.log_x, log_y) {
            (true, true) => lines_on(
                &plot,
                spec,
                ticked(log(xs), ticks),
                ticked(log(ys), y_ticks),
            )?,
            (true, false) => lines_on(&plot, spec, ticked(log(xs), ticks), linear(ys))?,
            (false, true) => lines_on(
                &plot,
                spec,
                ticked(linear(xs), ticks),
                ticked(log(ys), y_ticks),
            )?,
            (false, false) => lines_on(&plot, spec, ticked(linear(xs), ticks), linear(ys))?,
        }
        let entries: Vec<(String, RGBColor, f64)> = spec
            .series
            .iter()
            .map(|s| (s.name.clone(), s.color, 1.0))
            .collect();
        legend(&side, &entries, &spec.legend_notes)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn lines_on<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    spec: &Lines,
    x: X,
    y: Y,
) -> Drawn
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, (FONT, 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    let ticks = &spec.x_ticks;
    let x_fmt = |x: &f64| {
        ticks
            .iter()
            .min_by(|a, b| (a.0 - x).abs().total_cmp(&(b.0 - x).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    };
    let y_fmt = |v: &f64| (spec.y_format)(*v);
    chart
        .configure_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(err)?;
    for s in &spec.series {
        let mut points = s.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), s.color.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, s.color.filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}
