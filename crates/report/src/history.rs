//! One self-contained HTML page for a model's history (`cairn report <model> --html`): its
//! metric trends over versions, the gate's decision and counts per version, what each
//! version added, red-team detection rates, and the lineage picture. Charts are SVG drawn by
//! plotters and inlined; the page loads nothing from the network.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use plotters::prelude::*;

use crate::html::{HtmlError, STYLE, err, escape, legend};
use crate::table::{Align, Cell, Table};

/// A gate outcome's stroke and fill colours (`accepted`, `forced` or `rejected`): the same
/// in the history page and the lineage picture.
pub fn gate_colours(gate: &str) -> (&'static str, &'static str) {
    match gate {
        "forced" => ("#b26a00", "#fff3e0"),
        "rejected" => ("#c62828", "#fdecea"),
        _ => ("#2e7d32", "#e9f5ea"),
    }
}

/// An input file a version added, with its rows per family and per source.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AddedFile {
    pub name: String,
    pub rows: u64,
    pub families: BTreeMap<String, u64>,
    pub sources: BTreeMap<String, u64>,
}

/// A red-team test a version took.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RedteamLine {
    pub suite: String,
    pub started: String,
    pub attacks: u64,
    pub detected: u64,
    pub detection_rate: f64,
    pub probes: u64,
    pub false_alarms: u64,
}

/// The gate's counts against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCounts {
    pub baseline: Option<String>,
    pub rule: String,
    pub regressions: u64,
    pub improvements: u64,
    pub examples: u64,
}

/// One run of the model, oldest first on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryVersion {
    /// `name@version`.
    pub version: String,
    /// Its section's id on the page.
    pub anchor: String,
    /// Where its own report is, relative to the page.
    pub link: Option<String>,
    pub started: String,
    pub mode: String,
    pub parent: Option<String>,
    pub backend: String,
    /// `accepted`, `forced` or `rejected`.
    pub gate: String,
    pub gate_counts: Option<GateCounts>,
    /// Headline test metrics (f1, fpr, fnr, recall, …).
    pub metrics: BTreeMap<String, f64>,
    pub family_recall: BTreeMap<String, f64>,
    /// `1 file, 600 rows`.
    pub base: Option<String>,
    pub additions: Vec<AddedFile>,
    pub changes: Vec<String>,
    pub redteam: Vec<RedteamLine>,
    /// The version on other backends (`cairn regress --backends`): a line per backend.
    pub backends: Vec<String>,
}

/// Everything the history page shows.
#[derive(Debug, Clone)]
pub struct HistoryInput {
    pub model: String,
    pub versions: Vec<HistoryVersion>,
    /// The version-centric lineage picture (SVG), drawn by the lineage crate.
    pub lineage_svg: String,
}

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 320;
const F1: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const FPR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const FNR: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const REJECTED: RGBColor = RGBColor(0xc6, 0x28, 0x28);

/// A named line over the versions: `None` where a version has no value.
type Trend = (String, RGBColor, Vec<Option<f64>>);

/// The short label of a version on the x axis (`1.1.0` of `tiny@1.1.0`).
fn tick(version: &str) -> &str {
    version.rsplit('@').next().unwrap_or(version)
}

/// One chart of `trends` over the versions (x = position, labelled by version), y in
/// [0, 1]. The lines join the versions that were registered; a rejected run's values are
/// crosses off the line.
fn trend_chart(
    caption: &str,
    versions: &[HistoryVersion],
    trends: Vec<Trend>,
) -> Result<String, HtmlError> {
    let e = err("history");
    let n = versions.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..1.05)
            .map_err(&e)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            versions
                .get(i as usize)
                .map(|v| tick(&v.version).to_string())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(n.min(24))
            .x_label_formatter(&label)
            .label_style(("sans-serif", 13))
            .x_desc("version")
            .draw()
            .map_err(&e)?;
        let shipped = |i: usize| versions[i].gate != "rejected";
        for (name, colour, values) in trends {
            let line: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|_| shipped(i)).map(|v| (i as f64, v)))
                .collect();
            let crosses: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|_| !shipped(i)).map(|v| (i as f64, v)))
                .collect();
            if line.is_empty() && crosses.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
                .map_err(&e)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                .map_err(&e)?;
            chart
                .draw_series(
                    crosses
                        .into_iter()
                        .map(|p| Cross::new(p, 5, REJECTED.stroke_width(2))),
                )
                .map_err(&e)?;
        }
        legend(&mut chart, Some(SeriesLabelPosition::LowerRight), "history")?;
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn figure(x: Option<&f64>) -> String {
    x.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into())
}

/// Counts by name as `a 3, b 2`: largest first, ties by name.
pub fn tally(counts: &BTreeMap<String, u64>) -> String {
    let mut pairs: Vec<(&String, &u64)> = counts.iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn gate_cell(v: &HistoryVersion) -> String {
    let (stroke, fill) = gate_colours(&v.gate);
    format!(
        "<td class=\"gate\" style=\"color:{stroke};background:{fill}\">{}</td>",
        escape(&v.gate)
    )
}

fn version_link(v: &HistoryVersion) -> String {
    format!(
        "<a href=\"#{}\">{}</a>",
        escape(&v.anchor),
        escape(&v.version)
    )
}

/// The page.
pub fn history_html(input: &HistoryInput) -> Result<String, HtmlError> {
    let versions = &input.versions;
    let mut out = String::new();
    let title = format!("{}: history", input.model);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}{HISTORY_STYLE}</style></head><body>\n",
        escape(&title)
    );
    let rejected = versions.iter().filter(|v| v.gate == "rejected").count();
    let forced = versions.iter().filter(|v| v.gate == "forced").count();
    let _ = writeln!(
        out,
        "<h1>{}</h1><p>{} runs from {} to {}: {} registered ({forced} forced past the gate), {rejected} rejected by the gate.</p>",
        escape(&title),
        versions.len(),
        escape(versions.first().map(|v| v.started.as_str()).unwrap_or("–")),
        escape(versions.last().map(|v| v.started.as_str()).unwrap_or("–")),
        versions.len() - rejected,
    );

    let _ = writeln!(out, "<h2>Metrics over versions</h2><div class=\"charts\">");
    let metric = |name: &str| -> Vec<Option<f64>> {
        versions
            .iter()
            .map(|v| v.metrics.get(name).copied())
            .collect()
    };
    out.push_str(&trend_chart(
        "test F1, FPR and FNR (× a rejected run)",
        versions,
        vec![
            ("F1".into(), F1, metric("f1")),
            ("FPR".into(), FPR, metric("fpr")),
            ("FNR".into(), FNR, metric("fnr")),
        ],
    )?);
    let families: BTreeSet<&String> = versions
        .iter()
        .flat_map(|v| v.family_recall.keys())
        .collect();
    let trends = families
        .iter()
        .enumerate()
        .map(|(i, family)| {
            let colour = Palette99::pick(i).to_rgba();
            (
                (*family).clone(),
                RGBColor(colour.0, colour.1, colour.2),
                versions
                    .iter()
                    .map(|v| v.family_recall.get(*family).copied())
                    .collect(),
            )
        })
        .collect();
    out.push_str(&trend_chart("test recall per family", versions, trends)?);
    let tested = versions.iter().any(|v| !v.redteam.is_empty());
    if tested {
        let latest: Vec<Option<f64>> = versions
            .iter()
            .map(|v| v.redteam.last().map(|t| t.detection_rate))
            .collect();
        out.push_str(&trend_chart(
            "red-team detection rate (latest test of each version)",
            versions,
            vec![("detection rate".into(), F1, latest)],
        )?);
    }
    let _ = writeln!(out, "</div>");

    out.push_str("<h2>Versions</h2>");
    let mut table = Table::new([
        ("version", Align::Left),
        ("started", Align::Left),
        ("mode", Align::Left),
        ("from", Align::Left),
        ("gate", Align::Left),
        ("regressions", Align::Right),
        ("improvements", Align::Right),
        ("F1", Align::Right),
        ("FPR", Align::Right),
        ("FNR", Align::Right),
        ("rows added", Align::Right),
        ("red-team detection", Align::Right),
        ("backends", Align::Left),
    ]);
    for v in versions {
        let (regressions, improvements) = match &v.gate_counts {
            Some(g) => (g.regressions.to_string(), g.improvements.to_string()),
            None => ("–".into(), "–".into()),
        };
        let added: u64 = v.additions.iter().map(|a| a.rows).sum();
        let redteam = v
            .redteam
            .last()
            .map(|t| pct(t.detection_rate))
            .unwrap_or_else(|| "–".into());
        let backends = match v.backends.as_slice() {
            [] => "–".to_string(),
            lines => escape(&lines.join(", ")),
        };
        table.row([
            Cell::Text(version_link(v)),
            Cell::Text(escape(&v.started)),
            Cell::Text(escape(&v.mode)),
            Cell::Text(escape(v.parent.as_deref().unwrap_or("–"))),
            Cell::Html(gate_cell(v)),
            Cell::Text(regressions),
            Cell::Text(improvements),
            Cell::Text(figure(v.metrics.get("f1"))),
            Cell::Text(figure(v.metrics.get("fpr"))),
            Cell::Text(figure(v.metrics.get("fnr"))),
            Cell::Text(added.to_string()),
            Cell::Text(redteam),
            Cell::Text(backends),
        ]);
    }
    out.push_str(&table.html());

    let _ = writeln!(
        out,
        "<h2>Lineage</h2><div class=\"lineage\">{}</div>",
        input.lineage_svg
    );

    let _ = writeln!(out, "<h2>Each version</h2>");
    for v in versions.iter().rev() {
        let (stroke, _) = gate_colours(&v.gate);
        let own = v
            .link
            .as_ref()
            .map(|l| format!(" · <a href=\"{}\">its report</a>", escape(l)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<section id=\"{}\" class=\"version\" style=\"border-color:{stroke}\"><h3>{} <span style=\"color:{stroke}\">{}</span></h3><p>{} · {} on {} · started {}{own}</p>",
            escape(&v.anchor),
            escape(&v.version),
            escape(&v.gate),
            escape(&v.mode),
            escape(
                &v.parent
                    .as_ref()
                    .map(|p| format!("from {p}"))
                    .unwrap_or_else(|| "from scratch".into())
            ),
            escape(&v.backend),
            escape(&v.started),
        );
        if !v.changes.is_empty() {
            let _ = writeln!(
                out,
                "<ul>{}</ul>",
                v.changes
                    .iter()
                    .map(|c| format!("<li>{}</li>", escape(c)))
                    .collect::<String>()
            );
        }
        if let Some(g) = &v.gate_counts {
            let _ = writeln!(
                out,
                "<p>gate against {}: {} ({}), {} regressions and {} improvements of {} test rows.</p>",
                escape(g.baseline.as_deref().unwrap_or("no baseline")),
                escape(&v.gate),
                escape(&g.rule),
                g.regressions,
                g.improvements,
                g.examples
            );
        }
        let base = v
            .base
            .as_ref()
            .map(|b| format!("base: {}. ", escape(b)))
            .unwrap_or_default();
        if v.additions.is_empty() {
            let _ = writeln!(out, "<p>{base}No additions.</p>");
        } else {
            let _ = write!(out, "<p>{base}Added:</p>");
            let mut table = Table::new([
                ("file", Align::Left),
                ("rows", Align::Right),
                ("per family", Align::Left),
                ("per source", Align::Left),
            ]);
            for a in &v.additions {
                table.row([
                    escape(&a.name),
                    a.rows.to_string(),
                    escape(&tally(&a.families)),
                    escape(&tally(&a.sources)),
                ]);
            }
            out.push_str(&table.html());
        }
        if !v.redteam.is_empty() {
            out.push_str("<p>Red-team tests:</p>");
            let mut table = Table::new([
                ("suite", Align::Left),
                ("started", Align::Left),
                ("detected", Align::Right),
                ("rate", Align::Right),
                ("false alarms", Align::Right),
            ]);
            for t in &v.redteam {
                table.row([
                    escape(&t.suite),
                    escape(&t.started),
                    format!("{} of {}", t.detected, t.attacks),
                    pct(t.detection_rate),
                    format!("{} of {}", t.false_alarms, t.probes),
                ]);
            }
            out.push_str(&table.html());
        }
        let _ = writeln!(out, "</section>");
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

const HISTORY_STYLE: &str = "td.gate{font-weight:bold}.lineage{overflow-x:auto}\
section.version{border-left:4px solid;padding:.1em 1em;margin:1em 0}h3{font-size:1.05em}";

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str, gate: &str, f1: f64) -> HistoryVersion {
        HistoryVersion {
            version: format!("m@{v}"),
            anchor: format!("m@{v}"),
            link: None,
            started: "2026-01-01T00:00:00Z".into(),
            mode: "fine-tune".into(),
            parent: None,
            backend: "ndarray".into(),
            gate: gate.into(),
            gate_counts: None,
            metrics: BTreeMap::from([("f1".into(), f1), ("fpr".into(), 0.1)]),
            family_recall: BTreeMap::from([("PI".into(), f1)]),
            base: None,
            additions: Vec::new(),
            changes: Vec::new(),
            redteam: Vec::new(),
            backends: Vec::new(),
        }
    }

    #[test]
    fn tallies_put_the_largest_first() {
        let counts = BTreeMap::from([("b".to_string(), 2), ("a".into(), 2), ("c".into(), 5)]);
        assert_eq!(tally(&counts), "c 5, a 2, b 2", "ties by name");
    }

    #[test]
    fn rejected_runs_are_crosses_off_the_line() {
        let versions = vec![
            version("1.0.0", "accepted", 0.8),
            version("1.1.0", "rejected", 0.5),
            version("1.2.0", "forced", 0.7),
        ];
        let svg = trend_chart(
            "f1",
            &versions,
            vec![(
                "F1".into(),
                F1,
                versions
                    .iter()
                    .map(|v| v.metrics.get("f1").copied())
                    .collect(),
            )],
        )
        .expect("chart");
        // The line joins the two registered versions (two points, each a dot); the
        // rejected one is a cross of two strokes in the rejected colour; each version
        // names its tick.
        let line = svg
            .lines()
            .find(|l| l.starts_with("<polyline") && l.contains("#1F77B4"))
            .expect("the F1 line");
        assert_eq!(
            line.split("points=\"")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .map(|p| p.split_whitespace().count()),
            Some(2),
            "{line}"
        );
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert_eq!(svg.matches("stroke=\"#C62828\"").count(), 2, "{svg}");
        for v in ["1.0.0", "1.1.0", "1.2.0"] {
            assert!(svg.contains(&format!("\n{v}\n</text>")), "{v}: {svg}");
        }
    }
}
