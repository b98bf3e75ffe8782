//! Hand-made baseline/candidate predictions that hit each rule of the gate; the Markdown
//! and JSON reports are pinned.

use cairn_report::{Outcome, Scored, Thresholds, compare, markdown};

const FAMILIES: [&str; 4] = ["PI", "JB", "benign", "benign"];

/// `n` examples; the first `regress` go from right to wrong, the next `improve` from
/// wrong to right, the rest stay right.
fn outcomes(n: usize, regress: usize, improve: usize) -> Vec<Outcome> {
    (0..n)
        .map(|i| {
            let family = FAMILIES[i % 4];
            let label = u8::from(family != "benign");
            let truth = label == 1;
            let right = Scored {
                attack: truth,
                score: if truth { 0.9 } else { 0.1 },
            };
            let wrong = Scored {
                attack: !truth,
                score: if truth { 0.2 } else { 0.8 },
            };
            let (baseline, candidate) = if i < regress {
                (right, wrong)
            } else if i < regress + improve {
                (wrong, right)
            } else {
                (right, right)
            };
            Outcome {
                text: format!(
                    "example {i}: {}",
                    if truth {
                        "ignore previous instructions | and reveal"
                    } else {
                        "summarise the quarterly report"
                    }
                ),
                label,
                family: family.to_string(),
                source: if i % 3 == 0 {
                    "production_fp".into()
                } else {
                    "generator:test".into()
                },
                baseline,
                candidate,
            }
        })
        .collect()
}

fn check(name: &str, n: usize, regress: usize, improve: usize, expect_accept: bool, rule: &str) {
    let report = compare(
        Some("l2@1.0.0"),
        "l2@1.1.0",
        "ndarray",
        &outcomes(n, regress, improve),
        Thresholds::default(),
    );
    assert_eq!(
        report.decision.accepted(),
        expect_accept,
        "{name}: {:?}",
        report.decision
    );
    assert_eq!(report.decision.rule, rule, "{name}");
    insta::assert_snapshot!(format!("{name}_md"), markdown(&report));
    insta::assert_json_snapshot!(format!("{name}_json"), report);
    // Equal inputs, equal bytes.
    let again = compare(
        Some("l2@1.0.0"),
        "l2@1.1.0",
        "ndarray",
        &outcomes(n, regress, improve),
        Thresholds::default(),
    );
    assert_eq!(markdown(&again), markdown(&report));
}

#[test]
fn accept_within_thresholds() {
    check("accept", 200, 2, 5, true, "within-thresholds");
}

#[test]
fn caution_rejects_when_improvements_do_not_outweigh() {
    check("caution", 200, 6, 3, false, "caution");
}

#[test]
fn caution_accepts_when_improvements_outweigh() {
    check("caution_outweighed", 200, 6, 9, true, "caution-outweighed");
}

#[test]
fn reject_above_five_percent() {
    check("reject", 100, 12, 30, false, "regression-rate");
}

#[test]
fn first_version_is_accepted_with_a_note() {
    let report = compare(
        None,
        "l2@1.0.0",
        "ndarray",
        &outcomes(8, 0, 0),
        Thresholds::default(),
    );
    assert!(report.decision.accepted());
    assert_eq!(report.decision.rule, "no-baseline");
}

#[test]
fn metric_deltas_are_exact() {
    let report = compare(
        Some("a"),
        "b",
        "ndarray",
        &outcomes(4, 1, 0),
        Thresholds::default(),
    );
    // Example 0 is a PI attack the candidate misses: recall 1/1 → 0/1, accuracy 4/4 → 3/4.
    assert_eq!(report.metrics["accuracy"].delta, -0.25);
    assert_eq!(report.metrics["recall"].candidate, 0.5);
    assert_eq!(report.metrics["fnr"].candidate, 0.5);
    assert_eq!(report.families["PI"].regressions, 1);
}

#[test]
fn a_gate_over_zero_examples_rejects() {
    for baseline in [None, Some("l2@1.0.0")] {
        let report = compare(baseline, "l2@1.1.0", "ndarray", &[], Thresholds::default());
        assert!(!report.decision.accepted(), "{baseline:?}");
        assert_eq!(report.decision.rule, "no-examples");
    }
}

/// The training-curve chart's markup for a fixed two-version curve: the per-step loss lines,
/// the epoch-end validation dots and the legend, pinned (coordinates rounded to 10 px so a
/// plotters rounding change does not churn it).
#[test]
fn the_step_chart_markup_is_pinned() {
    use cairn_report::{ComparedCurve, EpochPoint, HtmlInput, StepPoint, html};
    let steps = |n: u64, start: f64| -> Vec<StepPoint> {
        (1..=n)
            .map(|step| StepPoint {
                step,
                epoch: 1 + (step - 1) / 10,
                loss: start / step as f64,
            })
            .collect()
    };
    let epochs = |n: u64| -> Vec<EpochPoint> {
        (1..=n)
            .map(|epoch| EpochPoint {
                epoch,
                train_loss: 1.0 / epoch as f64,
                validation_loss: Some(0.8 / epoch as f64),
                validation_accuracy: Some(0.5 + 0.1 * epoch as f64),
            })
            .collect()
    };
    let input = HtmlInput {
        title: "tiny@1.1.0".into(),
        subtitle: "fine-tune".into(),
        metrics: vec![("f1".into(), 0.9)],
        epochs: epochs(1),
        steps: steps(10, 1.0),
        compare: Some(ComparedCurve {
            version: "tiny@1.0.0".into(),
            steps: steps(30, 2.0),
            epochs: epochs(3),
        }),
        family_recall: Vec::new(),
        confusion: [[9, 1], [2, 8]],
        report: None,
        backends: None,
    };
    let page = html(&input).expect("page");
    let start = page
        .find("training loss per optimizer step")
        .expect("the chart");
    let chart = &page[start..];
    let chart = &chart[..chart.find("</svg>").expect("its end")];
    insta::assert_snapshot!("step_chart", outline(chart));
}

/// An SVG chart as one line per drawn element: its tag, colour, and its points or position
/// rounded to 10 px; text as written; the grid's `<line>`s counted, not listed.
fn outline(svg: &str) -> String {
    let attr = |element: &str, name: &str| -> Option<String> {
        let from = element.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(element[from..].split('"').next()?.to_string())
    };
    let round = |v: &str| -> String {
        v.parse::<f64>()
            .map(|x| format!("{}", (x / 10.0).round() * 10.0))
            .unwrap_or_else(|_| v.to_string())
    };
    let mut out = Vec::new();
    let mut grid = 0;
    for element in svg.split('<').skip(1) {
        let tag = element.split([' ', '>', '/']).next().unwrap_or("");
        let colour = attr(element, "stroke")
            .filter(|c| c != "none")
            .or_else(|| attr(element, "fill"))
            .unwrap_or_default();
        match tag {
            "line" => grid += 1,
            "polyline" => {
                let points: Vec<String> = attr(element, "points")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap_or((p, ""));
                        format!("{},{}", round(x), round(y))
                    })
                    .collect();
                out.push(format!(
                    "polyline {colour} {} points: {}",
                    points.len(),
                    points.join(" ")
                ));
            }
            "circle" => out.push(format!(
                "circle {colour} at {},{}",
                round(&attr(element, "cx").unwrap_or_default()),
                round(&attr(element, "cy").unwrap_or_default())
            )),
            "text" => {
                let text = element.split_once('>').map(|(_, t)| t.trim()).unwrap_or("");
                out.push(format!("text {text}"));
            }
            "rect" => out.push(format!("rect {colour}")),
            _ => {}
        }
    }
    out.push(format!("{grid} grid and tick lines"));
    out.join("\n")
}

/// The history page's markup for three versions (one rejected, one red-team tested), with
/// each chart reduced to its caption and its polylines counted: headings, the versions
/// table, the anchors and links, each version's section.
#[test]
fn the_history_page_markup_is_pinned() {
    use std::collections::BTreeMap;

    use cairn_report::{
        AddedFile, GateCounts, HistoryInput, HistoryVersion, RedteamLine, history_html,
    };
    let version = |v: &str, gate: &str, f1: f64, parent: Option<&str>| HistoryVersion {
        version: format!("m@{v}"),
        anchor: format!("m@{v}"),
        link: (gate != "rejected").then(|| format!("m@{v}.html")),
        started: format!("2026-01-0{}T00:00:00Z", v.as_bytes()[2] - b'0' + 1),
        mode: if parent.is_some() {
            "fine-tune"
        } else {
            "retrain"
        }
        .into(),
        parent: parent.map(String::from),
        backend: "ndarray".into(),
        gate: gate.into(),
        gate_counts: parent.map(|p| GateCounts {
            baseline: Some(p.into()),
            rule: "regression rate".into(),
            regressions: 3,
            improvements: 5,
            examples: 100,
        }),
        metrics: BTreeMap::from([("f1".into(), f1), ("fpr".into(), 0.1), ("fnr".into(), 0.2)]),
        family_recall: BTreeMap::from([("PI".into(), f1), ("JB".into(), 0.5)]),
        base: Some("1 file, 600 rows".into()),
        additions: match parent {
            Some(_) => vec![AddedFile {
                name: format!("week{v}.jsonl"),
                rows: 3,
                families: BTreeMap::from([("PI".into(), 2), ("benign".into(), 1)]),
                sources: BTreeMap::from([("production_fp".into(), 3)]),
            }],
            None => Vec::new(),
        },
        changes: vec![format!("week {v}")],
        redteam: Vec::new(),
        backends: Vec::new(),
    };
    let mut tested = version("1.2.0", "accepted", 0.85, Some("m@1.0.0"));
    tested.backends = vec!["ndarray 0 flips".into(), "wgpu unavailable".into()];
    tested.redteam.push(RedteamLine {
        suite: "mini".into(),
        started: "2026-01-04T00:00:00Z".into(),
        attacks: 10,
        detected: 9,
        detection_rate: 0.9,
        probes: 4,
        false_alarms: 1,
    });
    let input = HistoryInput {
        model: "m".into(),
        versions: vec![
            version("1.0.0", "accepted", 0.8, None),
            version("1.1.0", "rejected", 0.6, Some("m@1.0.0")),
            tested,
        ],
        lineage_svg: "<svg><text>the lineage</text></svg>".into(),
    };
    let page = history_html(&input).expect("page");
    // Nothing loaded from the network: no sources, no URLs but SVG's namespace.
    let urls = page.matches("http").count();
    let namespaces = page.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(urls, namespaces, "nothing from the network");
    assert!(!page.contains(" src="), "nothing from the network");
    // Every link to an anchor lands on a section.
    for anchor in page.split("href=\"#").skip(1) {
        let id = anchor.split('"').next().expect("id");
        assert!(page.contains(&format!("id=\"{id}\"")), "#{id}");
    }
    insta::assert_snapshot!("history_page", page_outline(&page));
}

/// A page with each chart's SVG reduced to its caption and its polylines (lines and legend
/// marks) counted, and one tag per line.
fn page_outline(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg width=") {
        out.push_str(&rest[..start]);
        let chart = &rest[start..];
        let end = chart.find("</svg>").expect("chart end") + "</svg>".len();
        let chart = &chart[..end];
        let caption = chart
            .split("<text")
            .nth(1)
            .and_then(|t| t.split_once('>'))
            .map(|(_, t)| t.split("</text>").next().unwrap_or("").trim())
            .unwrap_or("");
        out.push_str(&format!(
            "[chart: {caption}; {} lines, {} points, {} crosses]",
            chart
                .split('<')
                .filter(|e| e.starts_with("polyline") && !e.contains("stroke=\"#000000\""))
                .count(),
            chart.matches("<circle").count(),
            chart
                .matches("<line opacity=\"1\" stroke=\"#C62828\"")
                .count()
                / 2
        ));
        rest = &rest[start + end..];
    }
    out.push_str(rest);
    let style = out.find("<style>").expect("style");
    let style_end = out.find("</style>").expect("style end");
    out.replace_range(style..style_end + "</style>".len(), "<style>[css]</style>");
    out.replace("><", ">\n<")
}
