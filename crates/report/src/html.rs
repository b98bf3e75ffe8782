//! One self-contained HTML page for a version: training curves, per-family recall against
//! the baseline, the confusion matrix, and the regression table. Charts are SVG drawn by
//! plotters and inlined; the page loads nothing from the network.

use std::fmt::Write;

use plotters::prelude::*;

use crate::Report;
use crate::table::{Align, Cell, Table};

/// One epoch's numbers.
#[derive(Debug, Clone)]
pub struct EpochPoint {
    pub epoch: u64,
    pub train_loss: f64,
    pub validation_loss: Option<f64>,
    pub validation_accuracy: Option<f64>,
}

/// The training loss at an optimizer step (or the mean over a span ending there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPoint {
    pub step: u64,
    pub epoch: u64,
    pub loss: f64,
}

/// Another version's training curve, drawn beside this one's (`cairn report a --compare b`).
#[derive(Debug, Clone)]
pub struct ComparedCurve {
    pub version: String,
    pub steps: Vec<StepPoint>,
    pub epochs: Vec<EpochPoint>,
}

/// A family's recall for the candidate and, when there is one, the baseline.
#[derive(Debug, Clone)]
pub struct FamilyRecall {
    pub family: String,
    pub candidate: f64,
    pub baseline: Option<f64>,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct HtmlInput<'a> {
    pub title: String,
    pub subtitle: String,
    pub metrics: Vec<(String, f64)>,
    pub epochs: Vec<EpochPoint>,
    /// The training loss per optimizer step (empty for runs recorded before cairn kept it:
    /// the chart is then per epoch).
    pub steps: Vec<StepPoint>,
    /// A second version's curve on the same chart.
    pub compare: Option<ComparedCurve>,
    pub family_recall: Vec<FamilyRecall>,
    /// `[true][predicted]`, 0 = benign, 1 = attack.
    pub confusion: [[u64; 2]; 2],
    pub report: Option<&'a Report>,
    /// The version on every backend (`cairn regress --backends`): a caption and the rows.
    pub backends: Option<(String, Vec<BackendLine>)>,
}

/// One backend's row of the cross-backend table.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendLine {
    pub backend: String,
    /// `None`: not available here; `note` says why.
    pub figures: Option<BackendFigures>,
    pub note: String,
}

/// What one backend made of the test set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackendFigures {
    pub f1: f64,
    pub fpr: f64,
    pub fnr: f64,
    /// Largest |Δ| of any output against the reference backend.
    pub max_deviation: f64,
    pub flips: u64,
}

/// A chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {chart} chart: {reason}")]
pub struct HtmlError {
    pub chart: &'static str,
    pub reason: String,
}

pub(crate) fn err<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> HtmlError {
    move |e| HtmlError {
        chart,
        reason: e.to_string(),
    }
}

/// Draws a chart's legend (series labels on a white box), at `position` or plotters'
/// default place.
pub(crate) fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: Option<SeriesLabelPosition>,
    name: &'static str,
) -> Result<(), HtmlError>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    let mut labels = chart.configure_series_labels();
    if let Some(position) = position {
        labels.position(position);
    }
    labels
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err(name))
}

/// HTML-escapes text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const CANDIDATE: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const BASELINE: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);
const VALIDATION: RGBColor = RGBColor(0xff, 0x7f, 0x0e);

/// How a series is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// Joined points (a loss per step).
    Line,
    /// Points only (a figure per epoch on the step axis).
    Dots,
    /// Joined points, each marked (a figure per epoch on the epoch axis).
    Marked,
}

/// A labelled, coloured set of (x, y) points and how to draw them.
type Series = (String, RGBColor, Vec<(f64, f64)>, Style);

/// One line chart of `series` (empty ones skipped) over `x` from 1, `y` from 0.
fn line_chart(
    caption: &str,
    x_desc: &str,
    x_labels: Option<usize>,
    series: Vec<Series>,
) -> Result<String, HtmlError> {
    let e = err("training curves");
    let points = || series.iter().flat_map(|(_, _, p, _)| p.iter());
    let last = points().map(|p| p.0).fold(2.0f64, f64::max);
    let top = points().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(1f64..last, 0f64..top)
            .map_err(&e)?;
        let whole = |x: &f64| format!("{x:.0}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc).x_label_formatter(&whole);
        if let Some(n) = x_labels {
            mesh.x_labels(n);
        }
        mesh.draw().map_err(&e)?;
        for (label, color, points, style) in series {
            if points.is_empty() {
                continue;
            }
            let legend = move |(x, y): (i32, i32)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            };
            let marks = |size: i32| {
                points
                    .clone()
                    .into_iter()
                    .map(move |p| Circle::new(p, size, color.filled()))
            };
            if style == Style::Dots {
                chart
                    .draw_series(marks(4))
                    .map_err(&e)?
                    .label(label)
                    .legend(legend);
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(&e)?
                .label(label)
                .legend(legend);
            if style == Style::Marked {
                chart.draw_series(marks(3)).map_err(&e)?;
            }
        }
        legend(&mut chart, None, "training curves")?;
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

/// Loss and validation accuracy per epoch: the chart of runs recorded before cairn kept the
/// loss per step.
fn curves(epochs: &[EpochPoint]) -> Result<String, HtmlError> {
    let per_epoch = |value: fn(&EpochPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|p| value(p).map(|v| (p.epoch as f64, v)))
            .collect()
    };
    line_chart(
        "loss and validation accuracy per epoch",
        "epoch",
        Some(epochs.len().max(2)),
        vec![
            (
                "train loss".into(),
                CANDIDATE,
                per_epoch(|p| Some(p.train_loss)),
                Style::Marked,
            ),
            (
                "validation loss".into(),
                VALIDATION,
                per_epoch(|p| p.validation_loss),
                Style::Marked,
            ),
            (
                "validation accuracy".into(),
                GREEN,
                per_epoch(|p| p.validation_accuracy),
                Style::Marked,
            ),
        ],
    )
}

/// `(last step of each epoch, value)` for an epoch figure, so per-epoch validation numbers sit
/// on the step axis where their epoch ended.
fn at_epoch_ends(
    steps: &[StepPoint],
    epochs: &[EpochPoint],
    value: impl Fn(&EpochPoint) -> Option<f64>,
) -> Vec<(f64, f64)> {
    epochs
        .iter()
        .filter_map(|e| {
            let end = steps
                .iter()
                .filter(|s| s.epoch == e.epoch)
                .map(|s| s.step)
                .max()?;
            value(e).map(|v| (end as f64, v))
        })
        .collect()
}

/// The training loss per optimizer step, validation loss and accuracy where each epoch ended,
/// and, with `compare`, the other version's on the same axes.
fn step_curves(input: &HtmlInput<'_>) -> Result<String, HtmlError> {
    let line = |steps: &[StepPoint]| -> Vec<(f64, f64)> {
        steps.iter().map(|s| (s.step as f64, s.loss)).collect()
    };
    let mut series: Vec<Series> = vec![
        (
            "train loss".into(),
            CANDIDATE,
            line(&input.steps),
            Style::Line,
        ),
        (
            "validation loss".into(),
            VALIDATION,
            at_epoch_ends(&input.steps, &input.epochs, |p| p.validation_loss),
            Style::Dots,
        ),
        (
            "validation accuracy".into(),
            GREEN,
            at_epoch_ends(&input.steps, &input.epochs, |p| p.validation_accuracy),
            Style::Dots,
        ),
    ];
    if let Some(c) = &input.compare {
        series.push((
            format!("{} train loss", c.version),
            BASELINE,
            line(&c.steps),
            Style::Line,
        ));
        series.push((
            format!("{} validation loss", c.version),
            BASELINE,
            at_epoch_ends(&c.steps, &c.epochs, |p| p.validation_loss),
            Style::Dots,
        ));
    }
    line_chart("training loss per optimizer step", "step", None, series)
}

fn recall_bars(families: &[FamilyRecall]) -> Result<String, HtmlError> {
    let e = err("per-family recall");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let n = families.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "recall per family: candidate (blue) vs baseline (grey)",
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..n as f64, -0.08f64..1.05f64)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .draw()
            .map_err(&e)?;
        // Family names under each pair of bars (a numeric axis has no category labels).
        chart
            .draw_series(families.iter().enumerate().map(|(i, f)| {
                Text::new(
                    f.family.clone(),
                    (i as f64 + 0.3, -0.01),
                    ("sans-serif", 12),
                )
            }))
            .map_err(&e)?;
        for (i, f) in families.iter().enumerate() {
            let x = i as f64;
            chart
                .draw_series([Rectangle::new(
                    [(x + 0.12, 0.0), (x + 0.48, f.candidate)],
                    CANDIDATE.filled(),
                )])
                .map_err(&e)?;
            if let Some(b) = f.baseline {
                chart
                    .draw_series([Rectangle::new(
                        [(x + 0.52, 0.0), (x + 0.88, b)],
                        BASELINE.filled(),
                    )])
                    .map_err(&e)?;
            }
        }
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

fn confusion(m: &[[u64; 2]; 2]) -> Result<String, HtmlError> {
    let e = err("confusion matrix");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (300, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let max = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
        let labels = ["benign", "attack"];
        root.draw(&Text::new("predicted →", (130, 8), ("sans-serif", 13)))
            .map_err(&e)?;
        for (t, row) in m.iter().enumerate() {
            root.draw(&Text::new(
                format!("true {}", labels[t]),
                (4, 90 + 110 * t as i32),
                ("sans-serif", 13),
            ))
            .map_err(&e)?;
            for (p, &count) in row.iter().enumerate() {
                let (x, y) = (90 + 100 * p as i32, 30 + 110 * t as i32);
                let shade = 1.0 - 0.75 * (count as f64 / max);
                let color = RGBColor((255.0 * shade) as u8, (255.0 * shade) as u8, 255);
                root.draw(&Rectangle::new([(x, y), (x + 96, y + 106)], color.filled()))
                    .map_err(&e)?;
                root.draw(&Text::new(
                    format!("{count}"),
                    (x + 34, y + 46),
                    ("sans-serif", 18),
                ))
                .map_err(&e)?;
                if t == 0 {
                    root.draw(&Text::new(labels[p], (x + 26, 270), ("sans-serif", 13)))
                        .map_err(&e)?;
                }
            }
        }
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

pub(crate) const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.5em}.charts{display:flex;flex-wrap:wrap;gap:1em}\
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}\
td.n{text-align:right}.accept{color:#1a7f37;font-weight:bold}.reject{color:#c62828;font-weight:bold}";

/// The page.
pub fn html(input: &HtmlInput) -> Result<String, HtmlError> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&input.title)
    );
    let _ = writeln!(
        out,
        "<h1>{}</h1><p>{}</p>",
        escape(&input.title),
        escape(&input.subtitle)
    );
    let _ = writeln!(
        out,
        "<table><tr>{}</tr><tr>{}</tr></table>",
        input
            .metrics
            .iter()
            .map(|(k, _)| format!("<th>{}</th>", escape(k)))
            .collect::<String>(),
        input
            .metrics
            .iter()
            .map(|(_, v)| format!("<td class=\"n\">{v:.4}</td>"))
            .collect::<String>()
    );
    if let Some(r) = input.report {
        let class = if r.decision.accepted() {
            "accept"
        } else {
            "reject"
        };
        let _ = writeln!(
            out,
            "<h2>Regression gate</h2><p>against {}: <span class=\"{class}\">{}</span> ({}: {}); {} regressions, {} improvements, {} unchanged of {} examples.</p>",
            escape(r.baseline.as_deref().unwrap_or("no baseline")),
            class.to_uppercase(),
            escape(&r.decision.rule),
            escape(&r.decision.reason),
            r.overall.regressions,
            r.overall.improvements,
            r.overall.unchanged,
            r.overall.examples
        );
    }
    if let Some((caption, rows)) = &input.backends {
        let _ = write!(out, "<h2>Backends</h2><p>{}</p>", escape(caption));
        let mut table = Table::new([
            ("backend", Align::Left),
            ("F1", Align::Right),
            ("FPR", Align::Right),
            ("FNR", Align::Right),
            ("max |&Delta;|", Align::Right),
            ("flips", Align::Right),
            ("on", Align::Left),
        ]);
        for row in rows {
            match &row.figures {
                Some(f) => table.row([
                    escape(&row.backend),
                    format!("{:.4}", f.f1),
                    format!("{:.4}", f.fpr),
                    format!("{:.4}", f.fnr),
                    format!("{:.2e}", f.max_deviation),
                    f.flips.to_string(),
                    escape(&row.note),
                ]),
                None => table.row([
                    Cell::Text(escape(&row.backend)),
                    Cell::Html(format!(
                        "<td colspan=\"6\">unavailable: {}</td>",
                        escape(&row.note)
                    )),
                ]),
            }
        }
        out.push_str(&table.html());
    }
    let _ = writeln!(
        out,
        "<h2>Training and evaluation</h2><div class=\"charts\">"
    );
    if input.steps.is_empty() {
        out.push_str(&curves(&input.epochs)?);
    } else {
        out.push_str(&step_curves(input)?);
    }
    out.push_str(&recall_bars(&input.family_recall)?);
    out.push_str(&confusion(&input.confusion)?);
    let _ = writeln!(out, "</div>");
    if let Some(r) = input.report {
        for (title, rows) in [
            ("Regressions", &r.regressions),
            ("Improvements", &r.improvements),
        ] {
            let _ = writeln!(out, "<h2>{title} (first {})</h2>", crate::LISTED);
            if rows.is_empty() {
                let _ = writeln!(out, "<p>none</p>");
                continue;
            }
            out.push_str(&crate::table::changed(rows, escape, escape).html());
        }
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(steps: Vec<StepPoint>) -> String {
        let input = HtmlInput {
            title: "t@1.0.0".into(),
            subtitle: String::new(),
            metrics: vec![("f1".into(), 0.5)],
            epochs: vec![EpochPoint {
                epoch: 1,
                train_loss: 0.7,
                validation_loss: Some(0.6),
                validation_accuracy: Some(0.8),
            }],
            steps,
            compare: None,
            family_recall: Vec::new(),
            confusion: [[1, 0], [0, 1]],
            report: None,
            backends: None,
        };
        html(&input).expect("page")
    }

    #[test]
    fn runs_without_steps_keep_the_per_epoch_chart() {
        let old = page(Vec::new());
        assert!(old.contains("loss and validation accuracy per epoch"));
        assert!(!old.contains("per optimizer step"));
        let steps = (1..=5)
            .map(|step| StepPoint {
                step,
                epoch: 1,
                loss: 1.0 / step as f64,
            })
            .collect();
        let new = page(steps);
        assert!(new.contains("training loss per optimizer step"));
        assert!(!new.contains("per epoch"));
    }
}
