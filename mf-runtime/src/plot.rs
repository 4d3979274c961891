//! Training curves: loss and validation metric of one or several runs.
//!
//! [`CurvePlot::write`] draws, from the [`History`] of each run, the loss
//! against the step (or against elapsed seconds, [`XAxis`]) and, when any run
//! recorded a validation metric, a second panel below with the validation
//! metric against the same axis. Each run is one coloured line, labelled in
//! a legend. The output format follows the path's extension: `.svg` or
//! `.png`.
//!
//! The loss axis is logarithmic by default ([`CurvePlot::log_loss`]), when
//! every plotted loss is positive; it falls back to linear otherwise.
//! Non-finite values (a diverged step) are left out.
//!
//! **Text needs no system font.** PNG text is rasterised with `ab_glyph`
//! from DejaVu Sans, which is compiled in (the `dejavu` crate; the DejaVu
//! fonts' licence is the Bitstream Vera one, which allows embedding and
//! redistribution), so labels render on a machine with no font installed.
//! SVG files name the `sans-serif` family and leave rendering to the viewer.
//!
//! ```
//! use mf_runtime::plot::{CurvePlot, XAxis};
//! use mf_runtime::{History, Record};
//! let run = |scale: f64| History::from((0..50).map(|step| Record {
//!     step, loss: scale / (1.0 + step as f64), grad_norm: 1.0, elapsed: 0.01 * step as f64,
//!     evaluations: step + 1, train_metric: None,
//!     validation: (step % 10 == 0).then(|| 1.0 + scale / (10.0 + step as f64)),
//! }).collect::<Vec<_>>());
//! let (adam, lbfgs) = (run(100.0), run(10.0));
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("curves.svg");
//! CurvePlot::new().x_axis(XAxis::Seconds).write(&path, &[("Adam", &adam), ("L-BFGS", &lbfgs)])?;
//! let svg = std::fs::read_to_string(&path)?;
//! assert!(svg.contains("Adam") && svg.contains("L-BFGS"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::History;

/// What the horizontal axis of the curves is.
///
/// ```
/// use mf_runtime::plot::XAxis;
/// assert_eq!(XAxis::default(), XAxis::Step);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XAxis {
    /// The optimizer step ([`Record::step`](crate::Record::step)).
    #[default]
    Step,
    /// Seconds since the run started ([`Record::elapsed`](crate::Record::elapsed)).
    Seconds,
}

/// Errors of [`CurvePlot::write`].
///
/// ```
/// use mf_runtime::plot::{CurvePlot, PlotError};
/// let err = CurvePlot::new().write("curves.pdf", &[]).unwrap_err();
/// assert!(matches!(err, PlotError::Format { .. }));
/// ```
#[derive(thiserror::Error)]
pub enum PlotError {
    /// The path's extension is neither `svg` nor `png`.
    #[error("{}: unsupported plot format; use a path ending in .svg or .png", path.display())]
    Format {
        /// The path asked for.
        path: PathBuf,
    },
    /// No run has a finite loss to draw.
    #[error("{}: nothing to plot: no run has a finite loss", path.display())]
    Empty {
        /// The path asked for.
        path: PathBuf,
    },
    /// The embedded font could not be loaded (never expected).
    #[error("the embedded DejaVu Sans font could not be loaded for text rendering")]
    Font,
    /// Drawing or writing the file failed.
    #[error("{}: {message}", path.display())]
    Draw {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

debug_as_display!(PlotError);

/// Settings of a training-curve figure; [`CurvePlot::write`] draws it.
///
/// ```
/// use mf_runtime::plot::{CurvePlot, XAxis};
/// let plot = CurvePlot::new()
///     .x_axis(XAxis::Step)
///     .log_loss(true)
///     .size(1000, 700)
///     .title("ml-100k, k = 10")
///     .validation_label("validation RMSE");
/// assert_eq!(plot, plot.clone());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePlot {
    x: XAxis,
    log_loss: bool,
    width: u32,
    height: u32,
    title: String,
    validation_label: String,
}

impl Default for CurvePlot {
    fn default() -> Self {
        Self::new()
    }
}

/// Distinct colours for the runs (Tableau 10), reused past ten runs.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One run's points in one panel.
type Series = Vec<(f64, f64)>;

impl CurvePlot {
    /// The defaults: loss against step, log-scale loss, 900 × 600 pixels,
    /// title "Training curves", validation axis "validation metric".
    ///
    /// ```
    /// # use mf_runtime::plot::CurvePlot;
    /// assert_eq!(CurvePlot::new(), CurvePlot::default());
    /// ```
    pub fn new() -> Self {
        CurvePlot {
            x: XAxis::Step,
            log_loss: true,
            width: 900,
            height: 600,
            title: "Training curves".into(),
            validation_label: "validation metric".into(),
        }
    }

    /// The horizontal axis of both panels: steps or elapsed seconds.
    ///
    /// ```
    /// # use mf_runtime::plot::{CurvePlot, XAxis};
    /// let plot = CurvePlot::new().x_axis(XAxis::Seconds);
    /// assert_ne!(plot, CurvePlot::new());
    /// ```
    pub fn x_axis(mut self, x: XAxis) -> Self {
        self.x = x;
        self
    }

    /// Whether the loss axis is logarithmic (default true; linear anyway
    /// when a plotted loss is not positive).
    ///
    /// ```
    /// # use mf_runtime::plot::CurvePlot;
    /// assert_ne!(CurvePlot::new().log_loss(false), CurvePlot::new());
    /// ```
    pub fn log_loss(mut self, log: bool) -> Self {
        self.log_loss = log;
        self
    }

    /// The size of the figure in pixels (for SVG, its nominal size).
    ///
    /// ```
    /// # use mf_runtime::plot::CurvePlot;
    /// assert_ne!(CurvePlot::new().size(640, 480), CurvePlot::new());
    /// ```
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// The title above the loss panel.
    ///
    /// ```
    /// # use mf_runtime::plot::CurvePlot;
    /// assert_ne!(CurvePlot::new().title("Adam vs L-BFGS"), CurvePlot::new());
    /// ```
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The name of the validation metric, on its axis (e.g. "validation RMSE").
    ///
    /// ```
    /// # use mf_runtime::plot::CurvePlot;
    /// assert_ne!(CurvePlot::new().validation_label("validation MAE"), CurvePlot::new());
    /// ```
    pub fn validation_label(mut self, label: impl Into<String>) -> Self {
        self.validation_label = label.into();
        self
    }

    /// Draws the curves of `runs`, each `(label, history)`, to `path`: SVG
    /// or PNG after the path's extension (case-insensitive).
    ///
    /// # Errors
    ///
    /// [`PlotError::Format`] for another extension, [`PlotError::Empty`]
    /// when no run has a finite loss, [`PlotError::Draw`] when drawing or
    /// writing fails.
    ///
    /// ```
    /// use mf_runtime::plot::CurvePlot;
    /// use mf_runtime::{History, Record};
    /// let history = History::from(vec![
    ///     Record { step: 0, loss: 10.0, grad_norm: 1.0, elapsed: 0.0, evaluations: 1,
    ///              train_metric: None, validation: None },
    ///     Record { step: 1, loss: 2.0, grad_norm: 0.5, elapsed: 0.1, evaluations: 2,
    ///              train_metric: None, validation: None },
    /// ]);
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("loss.png");
    /// CurvePlot::new().size(400, 300).write(&path, &[("gd", &history)])?;
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(
        &self,
        path: impl AsRef<Path>,
        runs: &[(&str, &History)],
    ) -> Result<(), PlotError> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let draw_error = |message: String| PlotError::Draw {
            path: path.to_path_buf(),
            message,
        };
        match extension.as_deref() {
            Some("svg") => {
                register_font()?;
                let root = SVGBackend::new(path, (self.width, self.height)).into_drawing_area();
                self.draw(&root, path, runs)?;
                root.present().map_err(|e| draw_error(e.to_string()))
            }
            Some("png") => {
                register_font()?;
                let root = BitMapBackend::new(path, (self.width, self.height)).into_drawing_area();
                self.draw(&root, path, runs)?;
                root.present().map_err(|e| draw_error(e.to_string()))
            }
            _ => Err(PlotError::Format {
                path: path.to_path_buf(),
            }),
        }
    }

    fn x_of(&self, r: &crate::Record) -> f64 {
        match self.x {
            XAxis::Step => r.step as f64,
            XAxis::Seconds => r.elapsed,
        }
    }

    fn x_label(&self) -> &'static str {
        match self.x {
            XAxis::Step => "step",
            XAxis::Seconds => "elapsed seconds",
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        path: &Path,
        runs: &[(&str, &History)],
    ) -> Result<(), PlotError> {
        let draw_error = |e: &dyn std::fmt::Display| PlotError::Draw {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let finite = |(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
        let losses: Vec<Series> = runs
            .iter()
            .map(|(_, h)| {
                let points = h.records().iter().map(|r| (self.x_of(r), r.loss));
                points.filter(finite).collect()
            })
            .collect();
        let validations: Vec<Series> = runs
            .iter()
            .map(|(_, h)| {
                let points = h
                    .records()
                    .iter()
                    .filter_map(|r| Some((self.x_of(r), r.validation?)));
                points.filter(finite).collect()
            })
            .collect();
        if losses.iter().all(|p| p.is_empty()) {
            return Err(PlotError::Empty {
                path: path.to_path_buf(),
            });
        }
        root.fill(&WHITE).map_err(|e| draw_error(&e))?;
        // The legend has a column of its own: inside a panel, many runs
        // hid the curves and overflowed it.
        let labels: Vec<&str> = runs.iter().map(|(label, _)| *label).collect();
        let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
        let legend_width = (widest * 8 + 56).clamp(120, self.width * 2 / 5);
        let (plots, legend_area) = root.split_horizontally(self.width - legend_width);
        legend(&legend_area, &labels).map_err(|e| draw_error(&e))?;
        let has_validation = validations.iter().any(|p| !p.is_empty());
        let (top, bottom) = if has_validation {
            let (top, bottom) = plots.split_vertically(self.height * 3 / 5);
            (top, Some(bottom))
        } else {
            (plots, None)
        };

        let x_range = padded(all(&losses, |p| p.0).chain(all(&validations, |p| p.0)));
        let loss_values = || all(&losses, |p| p.1);
        let log = self.log_loss && loss_values().all(|y| y > 0.0);
        if log {
            let (lo, hi) = bounds(loss_values());
            let (lo, hi) = if lo == hi {
                (lo / 2.0, hi * 2.0)
            } else {
                (lo / 1.2, hi * 1.2)
            };
            panel(
                &top,
                &self.title,
                self.x_label(),
                "loss (log scale)",
                x_range.clone(),
                (lo..hi).log_scale(),
                &losses,
            )
        } else {
            panel(
                &top,
                &self.title,
                self.x_label(),
                "loss",
                x_range.clone(),
                padded(loss_values()),
                &losses,
            )
        }
        .map_err(|e| draw_error(&e))?;
        if let Some(bottom) = bottom {
            let y = padded(all(&validations, |p| p.1));
            panel(
                &bottom,
                "",
                self.x_label(),
                &self.validation_label,
                x_range,
                y,
                &validations,
            )
            .map_err(|e| draw_error(&e))?;
        }
        Ok(())
    }
}

/// Every coordinate `pick` takes from the points of every series.
fn all<'s>(series: &'s [Series], pick: fn(&(f64, f64)) -> f64) -> impl Iterator<Item = f64> + 's {
    series.iter().flat_map(move |p| p.iter().map(pick))
}

/// Smallest and largest value (`(inf, -inf)` when there is none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// The range of `values` with 5 % margins, never empty.
fn padded(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = bounds(values);
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1.0)
    };
    lo - pad..hi + pad
}

/// The line style of series `index`: one of ten colours, solid for the
/// first ten series, dashed for the next ten, and so on alternately.
fn line_style(index: usize) -> (ShapeStyle, bool) {
    let colour = COLOURS[index % COLOURS.len()];
    (colour.stroke_width(2), (index / COLOURS.len()) % 2 == 1)
}

/// The legend column: a line sample and the label of every run, in order,
/// spaced (and sized) to fit the column's height.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[&str],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (_, height) = area.dim_in_pixel();
    let step = ((height.saturating_sub(40)) / labels.len().max(1) as u32).clamp(6, 22) as i32;
    let font = ("sans-serif", (step as f64 * 0.75).min(15.0));
    for (index, label) in labels.iter().enumerate() {
        let y = 40 + step * index as i32;
        let (style, dashed) = line_style(index);
        let segments: &[(i32, i32)] = match dashed {
            true => &[(6, 14), (20, 28)],
            false => &[(6, 28)],
        };
        for &(a, b) in segments {
            area.draw(&PathElement::new(vec![(a, y), (b, y)], style))?;
        }
        area.draw(&Text::new(
            label.to_string(),
            (34, y - step / 3),
            font.into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

/// One chart: a mesh with axis labels and a line per series (the legend is
/// drawn once, beside the panels). The `i`-th series has the `i`-th style
/// in every panel; steps are labelled as whole numbers.
fn panel<DB, Y>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_label: &str,
    y_label: &str,
    x: Range<f64>,
    y: Y,
    series: &[Series],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if !caption.is_empty() {
        builder.caption(caption, ("sans-serif", 22));
    }
    let mut chart = builder.build_cartesian_2d(x, y)?;
    let whole = |x: &f64| format!("{x:.0}");
    let mut mesh = chart.configure_mesh();
    if x_label == "step" {
        mesh.x_label_formatter(&whole);
    }
    mesh.x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (index, points) in series.iter().enumerate() {
        if points.is_empty() {
            continue; // no legend entry for a run with nothing in this panel
        }
        let (style, dashed) = line_style(index);
        let points = points.iter().copied();
        match dashed {
            true => chart.draw_series(DashedLineSeries::new(points, 8, 5, style))?,
            false => chart.draw_series(LineSeries::new(points, style))?,
        };
    }
    Ok(())
}

/// Registers the embedded DejaVu Sans as the `sans-serif` family, once.
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}
