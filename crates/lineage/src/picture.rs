//! The version-centric lineage as an SVG picture, laid out by hand: one row per version,
//! oldest at the top; its additions files (and its base, where that base first appears) to
//! the left with arrows into it; its card in the middle (name, mode, backend, F1, FPR, gate
//! outcome as colour, badges); parent → child arrows straight down between neighbours and
//! in lanes on the right otherwise. 1,200 px wide however many versions there are, text at
//! 12–15 px: readable without zooming on a 1,400 px page.

use std::collections::HashMap;
use std::fmt::Write;

use crate::LineageError;
use crate::graph::VERSIONS;
use crate::graph::{
    ADDITIONS_FILL, ADDITIONS_STROKE, BASE_FILL, BASE_STROKE, Badge, Graph, Node, figure,
    gate_colours,
};
use crate::history::GateOutcome;

impl Graph {
    /// An SVG picture: version-centric graphs laid out by cairn (a column of versions,
    /// oldest at the top, 1,200 px wide whatever their number); `--full` graphs by
    /// `layout-rs`.
    pub fn to_svg(&self) -> Result<String, LineageError> {
        if self.view == VERSIONS {
            return Ok(svg(self));
        }
        let dot = self.to_dot();
        let mut parser = layout::gv::DotParser::new(&dot);
        let ast = parser.process().map_err(LineageError::Graph)?;
        let mut builder = layout::gv::GraphBuilder::new();
        builder.visit_graph(&ast);
        let mut visual = builder.get();
        let mut svg = layout::backends::svg::SVGWriter::new();
        visual.do_it(false, false, false, &mut svg);
        Ok(svg.finalize())
    }
}

/// The picture's width.
pub const WIDTH: f64 = 1200.0;
const MARGIN: f64 = 16.0;
const HEADER: f64 = 64.0;
const INPUT_X: f64 = MARGIN;
const INPUT_W: f64 = 400.0;
const INPUT_H: f64 = 64.0;
const CARD_X: f64 = 480.0;
const CARD_W: f64 = 480.0;
const CARD_H: f64 = 112.0;
const LANE_X: f64 = CARD_X + CARD_W + 24.0;
const LANE_STEP: f64 = 14.0;
const GAP: f64 = 36.0;
/// Roughly the width of a character of sans-serif text, per px of font size (a little over
/// the average, so cut text never overruns its box).
const CHAR_EM: f64 = 0.55;

fn esc(text: &str) -> String {
    cairn_report::escape(text)
}

/// `text` cut to what fits in `width` px at font `size`.
fn fit(text: &str, width: f64, size: u32) -> String {
    let max = (width / (CHAR_EM * size as f64)) as usize;
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!(
            "{}…",
            text.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    }
}

struct Row<'a> {
    card: &'a Node,
    inputs: Vec<&'a Node>,
    top: f64,
    height: f64,
}

impl Row<'_> {
    fn card_top(&self) -> f64 {
        self.top + (self.height - CARD_H) / 2.0
    }
}

fn text(out: &mut String, x: f64, y: f64, size: u32, weight: &str, fill: &str, content: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.0}" y="{y:.0}" font-size="{size}" font-weight="{weight}" fill="{fill}">{}</text>"#,
        esc(content)
    );
}

fn input_box(out: &mut String, node: &Node, x: f64, y: f64) {
    let (stroke, fill) = if node.kind == "base" {
        (BASE_STROKE, BASE_FILL)
    } else {
        (ADDITIONS_STROKE, ADDITIONS_FILL)
    };
    let _ = writeln!(
        out,
        r#"<rect class="{}" x="{x:.0}" y="{y:.0}" width="{INPUT_W:.0}" height="{INPUT_H:.0}" rx="4" fill="{fill}" stroke="{stroke}"/>"#,
        node.kind
    );
    for (i, line) in node.label.lines().take(3).enumerate() {
        let (size, weight, colour) = if i == 0 {
            (14, "bold", "#222")
        } else {
            (12, "normal", "#444")
        };
        text(
            out,
            x + 10.0,
            y + 20.0 + 18.0 * i as f64,
            size,
            weight,
            colour,
            &fit(line, INPUT_W - 20.0, size),
        );
    }
}

fn card(out: &mut String, node: &Node, x: f64, y: f64) {
    let Some(v) = &node.version else {
        return;
    };
    let (stroke, fill) = gate_colours(v.gate);
    let dash = if v.gate == GateOutcome::Rejected {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = writeln!(
        out,
        r#"<rect class="version {}" x="{x:.0}" y="{y:.0}" width="{CARD_W:.0}" height="{CARD_H:.0}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="2"{dash}/>"#,
        v.gate.as_str()
    );
    text(
        out,
        x + 12.0,
        y + 22.0,
        15,
        "bold",
        "#111",
        &fit(&v.name, CARD_W - 120.0, 15),
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.0}" y="{:.0}" font-size="13" font-weight="bold" fill="{stroke}" text-anchor="end">{}</text>"#,
        x + CARD_W - 12.0,
        y + 22.0,
        v.gate.as_str()
    );
    text(
        out,
        x + 12.0,
        y + 42.0,
        13,
        "normal",
        "#333",
        &fit(&format!("{} · {}", v.mode, v.backend), CARD_W - 24.0, 13),
    );
    text(
        out,
        x + 12.0,
        y + 62.0,
        13,
        "normal",
        "#111",
        &format!("F1 {} · FPR {}", figure(v.f1), figure(v.fpr)),
    );
    // The gate's figures and what else judged it; then the small objects it names.
    let (judged, named): (Vec<&Badge>, Vec<&Badge>) = v
        .badges
        .iter()
        .partition(|b| !matches!(b.kind.as_str(), "tokenizer" | "test"));
    let mut small: Vec<String> = named.iter().map(|b| b.label.clone()).collect();
    if let Some(at) = &v.base_as_in {
        small.push(format!("base as in {at}"));
    }
    for (i, line) in [
        judged
            .iter()
            .map(|b| match b.kind.as_str() {
                "report" => format!("gate: {}", b.label),
                _ => b.label.clone(),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        small.join(" · "),
    ]
    .iter()
    .filter(|line| !line.is_empty())
    .enumerate()
    {
        text(
            out,
            x + 12.0,
            y + 82.0 + 18.0 * i as f64,
            12,
            "normal",
            "#555",
            &fit(line, CARD_W - 24.0, 12),
        );
    }
}

/// An arrowhead at the end of a path, as a marker.
const DEFS: &str = r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##;

/// The version-centric graph `g` as SVG.
pub fn svg(g: &Graph) -> String {
    let nodes: HashMap<&str, &Node> = g.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    // Rows in the graph's order (oldest version first); an input sits in the row of the
    // first version it feeds.
    let mut rows: Vec<Row> = Vec::new();
    let mut placed: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut top = HEADER;
    for n in g.nodes.iter().filter(|n| n.kind == "version") {
        let row = rows.len();
        let mut inputs = Vec::new();
        for e in g.edges.iter().filter(|e| e.to == n.id) {
            if let Some(input) = nodes.get(e.from.as_str())
                && input.kind != "version"
                && !placed.contains_key(input.id.as_str())
            {
                placed.insert(&input.id, (row, inputs.len()));
                inputs.push(*input);
            }
        }
        let stacked = inputs.len() as f64 * (INPUT_H + 8.0) - 8.0;
        let height = CARD_H.max(stacked);
        rows.push(Row {
            card: n,
            inputs,
            top,
            height,
        });
        top += height + GAP;
    }
    let row_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.card.id.as_str(), i))
        .collect();
    let height = top - GAP + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{height:.0}" viewBox="0 0 {WIDTH:.0} {height:.0}" font-family="sans-serif">"#
    );
    out.push_str(DEFS);
    out.push('\n');
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH:.0}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let versions = rows.len();
    let rejected = rows
        .iter()
        .filter(|r| {
            r.card
                .version
                .as_ref()
                .is_some_and(|v| v.gate == GateOutcome::Rejected)
        })
        .count();
    text(
        &mut out,
        MARGIN,
        28.0,
        16,
        "bold",
        "#111",
        &format!(
            "lineage of {} · {versions} version{}{}",
            g.of,
            if versions == 1 { "" } else { "s" },
            match rejected {
                0 => String::new(),
                n => format!(" ({n} rejected)"),
            }
        ),
    );
    // The legend: the gate outcomes' colours, and the inputs'.
    let mut x = MARGIN;
    for gate in [
        GateOutcome::Accepted,
        GateOutcome::Forced,
        GateOutcome::Rejected,
    ] {
        let (stroke, fill) = gate_colours(gate);
        let _ = writeln!(
            out,
            r#"<rect x="{x:.0}" y="40" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="2"/>"#
        );
        text(
            &mut out,
            x + 20.0,
            52.0,
            12,
            "normal",
            "#333",
            gate.as_str(),
        );
        x += 100.0;
    }
    for (label, stroke, fill) in [
        ("additions file", ADDITIONS_STROKE, ADDITIONS_FILL),
        ("base files", BASE_STROKE, BASE_FILL),
    ] {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.0}" y="40" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}"/>"#
        );
        text(&mut out, x + 20.0, 52.0, 12, "normal", "#333", label);
        x += 130.0;
    }

    // Edges first, so boxes sit on top of them.
    let mut lanes: Vec<(usize, usize)> = Vec::new();
    for e in &g.edges {
        let Some(&to_row) = row_of.get(e.to.as_str()) else {
            continue;
        };
        let to = &rows[to_row];
        let card_mid = to.card_top() + CARD_H / 2.0;
        if let Some(&from_row) = row_of.get(e.from.as_str()) {
            let from = &rows[from_row];
            let from_top = from.card_top();
            if from_row + 1 == to_row {
                let (x, y0, y1) = (CARD_X + CARD_W / 2.0, from_top + CARD_H, to.card_top());
                let _ = writeln!(
                    out,
                    r##"<path class="edge parent" d="M{x:.0},{y0:.0} V{y1:.0}" stroke="#555" stroke-width="1.5" fill="none" marker-end="url(#arrow)"/>"##
                );
                text(
                    &mut out,
                    x + 8.0,
                    (y0 + y1) / 2.0 + 4.0,
                    12,
                    "normal",
                    "#555",
                    &e.label,
                );
            } else {
                // The first lane free over the rows it spans.
                let (lo, hi) = (from_row.min(to_row), from_row.max(to_row));
                let lane = (0..)
                    .find(|k| {
                        !lanes
                            .iter()
                            .any(|&(l, busy)| busy == *k && l >= lo && l <= hi)
                    })
                    .unwrap_or(0);
                lanes.extend((lo..=hi).map(|r| (r, lane)));
                let x = LANE_X + LANE_STEP * lane as f64;
                let (y0, y1) = (from_top + CARD_H / 2.0, card_mid);
                let right = CARD_X + CARD_W;
                let _ = writeln!(
                    out,
                    r##"<path class="edge parent" d="M{right:.0},{y0:.0} H{x:.0} V{y1:.0} H{right:.0}" stroke="#555" stroke-width="1.5" fill="none" marker-end="url(#arrow)"/>"##
                );
                text(
                    &mut out,
                    right + 6.0,
                    y1 - 6.0,
                    12,
                    "normal",
                    "#555",
                    &e.label,
                );
            }
        } else if let Some(&(row, slot)) = placed.get(e.from.as_str()) {
            // A base drawn at an older version: the card says so (no line across the rows).
            if row != to_row && nodes.get(e.from.as_str()).is_some_and(|n| n.kind == "base") {
                continue;
            }
            let from = &rows[row];
            let y0 = from.top + slot as f64 * (INPUT_H + 8.0) + INPUT_H / 2.0;
            let x0 = INPUT_X + INPUT_W;
            let y1 = card_mid;
            let dashed = if row == to_row {
                ""
            } else {
                r#" stroke-dasharray="4 3""#
            };
            let _ = writeln!(
                out,
                r##"<path class="edge input" d="M{x0:.0},{y0:.0} C{:.0},{y0:.0} {:.0},{y1:.0} {CARD_X:.0},{y1:.0}" stroke="#888" stroke-width="1.2" fill="none"{dashed} marker-end="url(#arrow)"/>"##,
                x0 + 40.0,
                CARD_X - 40.0
            );
        }
    }
    for row in &rows {
        for (slot, input) in row.inputs.iter().enumerate() {
            input_box(
                &mut out,
                input,
                INPUT_X,
                row.top + slot as f64 * (INPUT_H + 8.0),
            );
        }
        card(&mut out, row.card, CARD_X, row.card_top());
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::graph::{Edge, RowCounts, VERSIONS, VersionFacts};

    fn version(id: &str, name: &str, gate: GateOutcome, base_as_in: Option<&str>) -> Node {
        Node {
            id: id.into(),
            kind: "version".into(),
            label: name.into(),
            object: String::new(),
            version: Some(VersionFacts {
                name: name.into(),
                mode: "fine-tune".into(),
                gate,
                f1: Some(0.9),
                fpr: Some(0.05),
                backend: "ndarray".into(),
                base_as_in: base_as_in.map(String::from),
                badges: vec![Badge {
                    kind: "report".into(),
                    label: "1 regressions, 2 improvements of 100".into(),
                    object: String::new(),
                }],
            }),
            rows: None,
        }
    }

    fn input(id: &str, kind: &str, label: &str) -> Node {
        Node {
            id: id.into(),
            kind: kind.into(),
            label: label.into(),
            object: String::new(),
            version: None,
            rows: Some(RowCounts {
                files: 1,
                rows: 2,
                families: BTreeMap::new(),
                sources: BTreeMap::new(),
            }),
        }
    }

    fn edge(from: &str, to: &str, label: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            label: label.into(),
        }
    }

    /// Four versions: a retrain on a base, a fine-tune with two additions files, a rejected
    /// fine-tune and a forced sibling fine-tuned from the first (an edge round the side).
    fn fixture() -> Graph {
        Graph {
            of: "m".into(),
            view: VERSIONS.into(),
            nodes: vec![
                input("b", "base", "base\n1 file, 600 rows"),
                version("v1", "m@1.0.0", GateOutcome::Accepted, None),
                input(
                    "a1",
                    "additions",
                    "week1.jsonl\n2 rows: PI 2\nsources: research 2",
                ),
                input(
                    "a2",
                    "additions",
                    "week1b.jsonl\n1 rows: JB 1\nsources: research 1",
                ),
                version("v2", "m@1.1.0", GateOutcome::Accepted, Some("m@1.0.0")),
                input(
                    "a3",
                    "additions",
                    "week2.jsonl\n2 rows: benign 2\nsources: production_fp 2",
                ),
                version("v3", "m@1.2.0", GateOutcome::Rejected, Some("m@1.0.0")),
                version("v4", "m@1.3.0", GateOutcome::Forced, Some("m@1.0.0")),
            ],
            edges: vec![
                edge("b", "v1", "base"),
                edge("b", "v2", "base"),
                edge("a1", "v2", "adds"),
                edge("a2", "v2", "adds"),
                edge("v1", "v2", "fine-tune"),
                edge("b", "v3", "base"),
                edge("a3", "v3", "adds"),
                edge("v2", "v3", "fine-tune"),
                edge("b", "v4", "base"),
                edge("v1", "v4", "fine-tune"),
            ],
        }
    }

    /// The picture as one line per drawn element: tag, class, colour, position rounded to
    /// 10 px; text as written.
    fn outline(svg: &str) -> String {
        let attr = |element: &str, name: &str| -> String {
            element
                .find(&format!(" {name}=\""))
                .and_then(|at| element[at + name.len() + 3..].split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let round = |v: String| -> String {
            v.parse::<f64>()
                .map(|x| format!("{}", (x / 10.0).round() * 10.0))
                .unwrap_or(v)
        };
        let mut out = Vec::new();
        for element in svg.split('<').skip(1) {
            let tag = element.split([' ', '>', '/']).next().unwrap_or("");
            match tag {
                "rect" => out.push(format!(
                    "rect {} {} at {},{} size {}x{}{}",
                    attr(element, "class"),
                    attr(element, "stroke"),
                    round(attr(element, "x")),
                    round(attr(element, "y")),
                    round(attr(element, "width")),
                    round(attr(element, "height")),
                    if element.contains("stroke-dasharray") {
                        " dashed"
                    } else {
                        ""
                    }
                )),
                "path" if element.contains("class=") => out.push(format!(
                    "path {} {}",
                    attr(element, "class"),
                    attr(element, "d")
                        .split_whitespace()
                        .map(|p| {
                            let (cmd, rest) = p.split_at(1);
                            let nums: Vec<String> =
                                rest.split(',').map(|n| round(n.to_string())).collect();
                            format!("{cmd}{}", nums.join(","))
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                )),
                "text" => out.push(format!(
                    "text {}px {}",
                    attr(element, "font-size"),
                    element.split_once('>').map(|(_, t)| t).unwrap_or("")
                )),
                _ => {}
            }
        }
        out.join("\n")
    }

    #[test]
    fn the_lineage_picture_is_pinned() {
        let svg = svg(&fixture());
        insta::assert_snapshot!("lineage_picture", outline(&svg));
    }

    #[test]
    fn text_is_readable_and_the_picture_fits_the_page() {
        let svg = svg(&fixture());
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200""#));
        for size in svg.split("font-size=\"").skip(1) {
            let px: u32 = size
                .split('"')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("px");
            assert!(px >= 12, "text at {px} px");
        }
        // Every line of every input box fits inside it (at the widest a character gets).
        assert!(!svg.contains("week1b.jsonl…"));
        let long = "x".repeat(200);
        assert_eq!(fit(&long, INPUT_W - 20.0, 12).chars().count(), 57);
    }
}
