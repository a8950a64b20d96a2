//! Line plots as PNG (plotters, bitmap backend): one or more panels side by side, each with
//! named series, axis labels, a legend, and an optional shaded band per series.
//!
//! Text is drawn with `ab_glyph` from a TrueType file read at run time: plotters' default
//! text backend would link fontconfig and FreeType, and a bundled font would add a binary
//! blob to the repository. Debian's `fonts-dejavu-core` puts DejaVu Sans at
//! [`FONT_PATHS`]`[0]`; `scripts/ensure-deps.sh` installs it, and `RELAX_FONT` overrides it.

use crate::Result;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// Where the plot font is looked for, in order (after `$RELAX_FONT`): Debian/Ubuntu, Arch,
/// Fedora, then Liberation Sans on Debian.
pub const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

const FAMILY: &str = "sans-serif";

/// Largest font file read, bytes (DejaVu Sans is 740 kB).
const MAX_FONT_BYTES: u64 = 32 << 20;

/// Reads a TrueType/OpenType file: a regular file of at most [`MAX_FONT_BYTES`] that starts
/// with a font signature; the error says which of these it is not.
fn read_font(path: &str) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FONT_BYTES {
        return Err(format!(
            "{} bytes, more than a font ({MAX_FONT_BYTES})",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FONT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    let signatures: [&[u8]; 4] = [&[0, 1, 0, 0], b"OTTO", b"true", b"ttcf"];
    if !signatures.iter().any(|s| bytes.starts_with(s)) {
        return Err("not a TrueType or OpenType font".into());
    }
    Ok(bytes)
}

/// Registers the plot font once per process: `$RELAX_FONT` when set (an error if that file
/// is not a usable font: no silent fallback), else the first of [`FONT_PATHS`] found; the
/// error says how to install one. Experiments call it before their work.
pub fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    let r = REGISTERED.get_or_init(|| {
        let register = |path: &str| -> std::result::Result<(), String> {
            let bytes = read_font(path)?;
            // plotters keeps fonts for the life of the process and wants `&'static`;
            // this runs once, so leaking the file is the simplest correct ownership.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
                .map_err(|_| "not a font plotters can read".to_string())
        };
        if let Some(path) = std::env::var_os("RELAX_FONT") {
            let shown = path.to_string_lossy().escape_debug().to_string();
            return register(&path.to_string_lossy())
                .map(|()| shown.clone())
                .map_err(|e| format!("RELAX_FONT={shown}: {e}"));
        }
        for path in FONT_PATHS {
            if register(path).is_ok() {
                return Ok(path.to_string());
            }
        }
        Err(format!(
            "no TrueType font for the plots: install Debian's fonts-dejavu-core \
             (apt-get install fonts-dejavu-core) or set RELAX_FONT to a .ttf file; tried {FONT_PATHS:?}"
        ))
    });
    r.clone().map(|_| ()).map_err(Into::into)
}

/// One named curve.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values (same length as `x`; non-finite points are skipped).
    pub y: Vec<f64>,
    /// Optional `(lower, upper)` band drawn shaded behind the line.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    /// Colour as RGB; `None` takes the palette colour of the series' index.
    pub color: Option<(u8, u8, u8)>,
    /// Dashed line (for a reference curve that may lie on top of another).
    pub dashed: bool,
}

impl Series {
    /// A plain line.
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            x,
            y,
            band: None,
            color: None,
            dashed: false,
        }
    }

    /// Adds a shaded band.
    pub fn with_band(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Self {
        self.band = Some((lower, upper));
        self
    }

    /// Draws the line dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// Fixes the colour.
    pub fn with_color(mut self, rgb: (u8, u8, u8)) -> Self {
        self.color = Some(rgb);
        self
    }
}

/// A horizontal dashed reference line at `y` from `x0` to `x1` (a threshold, a target), in
/// grey unless recoloured, named `name` in the legend.
pub fn hline(name: impl Into<String>, y: f64, (x0, x1): (f64, f64)) -> Series {
    Series::new(name, vec![x0, x1], vec![y, y])
        .dashed()
        .with_color((90, 90, 90))
}

/// Where a panel's legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegendAt {
    /// Upper right corner.
    UpperRight,
    /// Lower left corner.
    LowerLeft,
    /// Lower right corner.
    LowerRight,
    /// Upper left corner.
    UpperLeft,
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Fixed y range; `None` fits the data (with 5% padding).
    pub y_range: Option<(f64, f64)>,
    /// Legend position.
    pub legend: LegendAt,
    /// Extra room above the data for the legend, as a fraction of the data's y span (0 for
    /// none); ignored with a fixed `y_range`.
    pub headroom: f64,
}

/// A colour-blind-friendly palette (Okabe & Ito), then black.
pub fn palette(i: usize) -> (u8, u8, u8) {
    const P: [(u8, u8, u8); 8] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (240, 228, 66),
        (0, 0, 0),
    ];
    P[i % P.len()]
}

fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    (lo <= hi).then_some((lo, hi))
}

fn padded(lo: f64, hi: f64) -> Range<f64> {
    let span = if hi > lo {
        hi - lo
    } else {
        lo.abs().max(1.0) * 1e-3
    };
    (lo - 0.05 * span)..(hi + 0.05 * span)
}

/// Tick labels with as many decimals as the axis span needs (the toy's loss axis spans 2e-3
/// around 0.25, where plotters' default shows identical labels).
fn tick_label(v: f64, span: f64) -> String {
    let decimals = if span > 0.0 {
        (-(span / 5.0).log10()).ceil().clamp(0.0, 8.0) as usize
    } else {
        3
    };
    format!("{v:.decimals$}")
}

/// Draws `panels` side by side into a PNG of `width` x `height` pixels.
pub fn line_plot(path: &Path, panels: &[Panel], (width, height): (u32, u32)) -> Result<()> {
    ensure_font()?;
    // Drawn under a temporary name and renamed into place, as every result file.
    let tmp = crate::output::temp_path(path);
    let drawn = (|| -> Result<()> {
        let root = BitMapBackend::new(&tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(crate::output::commit(&tmp, path)?)
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    p: &Panel,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (x0, x1) =
        finite_range(p.series.iter().flat_map(|s| s.x.iter().copied())).unwrap_or((0.0, 1.0));
    let (y0, y1) = match p.y_range {
        Some(r) => r,
        None => {
            let (lo, hi) = finite_range(p.series.iter().flat_map(|s| {
                let band = s.band.iter().flat_map(|(l, u)| l.iter().chain(u));
                s.y.iter().chain(band).copied()
            }))
            .unwrap_or((0.0, 1.0));
            (lo, hi + p.headroom.max(0.0) * (hi - lo))
        }
    };
    let xr = if x1 > x0 { x0..x1 } else { padded(x0, x1) };
    let yr = padded(y0, y1);
    let (xspan, yspan) = (xr.end - xr.start, yr.end - yr.start);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 22))
        .margin(12)
        .margin_right(30)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(xr, yr)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .x_label_formatter(&|v| tick_label(*v, xspan))
        .y_label_formatter(&|v| tick_label(*v, yspan))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, s) in p.series.iter().enumerate() {
        let (r, g, b) = s.color.unwrap_or_else(|| palette(i));
        let color = RGBColor(r, g, b);
        if let Some((lo, hi)) = &s.band {
            let mut pts: Vec<(f64, f64)> = s.x.iter().copied().zip(hi.iter().copied()).collect();
            pts.extend(s.x.iter().copied().zip(lo.iter().copied()).rev());
            pts.retain(|(x, y)| x.is_finite() && y.is_finite());
            chart
                .draw_series(std::iter::once(Polygon::new(pts, color.mix(0.18).filled())))
                .map_err(err)?;
        }
        let pts: Vec<(f64, f64)> =
            s.x.iter()
                .copied()
                .zip(s.y.iter().copied())
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
        let style = color.stroke_width(2);
        // The legend's sample: two segments, with a gap when the line is dashed.
        let gap = if s.dashed { (9, 13) } else { (11, 11) };
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(pts, 10, 6, style))
        } else {
            chart.draw_series(LineSeries::new(pts, style))
        };
        drawn
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                let seg =
                    |a: i32, b: i32| PathElement::new(vec![(a, 0), (b, 0)], color.stroke_width(3));
                EmptyElement::at((x, y)) + seg(0, gap.0) + seg(gap.1, 22)
            });
    }
    let position = match p.legend {
        LegendAt::UpperRight => SeriesLabelPosition::UpperRight,
        LegendAt::UpperLeft => SeriesLabelPosition::UpperLeft,
        LegendAt::LowerLeft => SeriesLabelPosition::LowerLeft,
        LegendAt::LowerRight => SeriesLabelPosition::LowerRight,
    };
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}
