//! The regression gate: is a candidate model at least as right as its baseline on the
//! examples the baseline got right?
//!
//! Input is model-agnostic: for every test example, its truth and each model's binary
//! prediction and attack score ([`Outcome`]). [`compare`] counts regressions (baseline
//! right, candidate wrong), improvements (the reverse) and unchanged examples, overall, per
//! family and per source, and the deltas of the binary metrics. [`decide`] applies the
//! workflow's rules. The resulting [`Report`] is plain data with stable ordering
//! (`BTreeMap`s, examples in input order); its canonical JSON is stored as an object and its
//! Markdown is rendered from it with fixed number formats, so equal inputs give equal bytes
//! and the reports can be pinned by snapshot tests.
//!
//! This crate knows nothing about burn or tokenizers: the pipeline runs the models.

mod history;
mod html;
mod render;
mod table;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use history::{
    AddedFile, GateCounts, HistoryInput, HistoryVersion, RedteamLine, gate_colours, history_html,
    tally,
};
pub use html::{
    BackendFigures, BackendLine, ComparedCurve, EpochPoint, FamilyRecall, HtmlError, HtmlInput,
    StepPoint, escape, html,
};
pub use render::markdown;

/// One model's call on one test example, as the regression report stores it: attack or not
/// at that model's threshold, and its score (the compact record of a `cairn_metrics::Verdict`;
/// the field names are the stored reports' format).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub attack: bool,
    /// Attack probability in [0, 1].
    pub score: f64,
}

impl Scored {
    /// `attack (0.912)`, as the reports print it.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:.3})",
            if self.attack { "attack" } else { "benign" },
            self.score
        )
    }
}

/// One test example with both models' verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub text: String,
    /// True label: 1 attack, 0 benign.
    pub label: u8,
    pub family: String,
    pub source: String,
    pub baseline: Scored,
    pub candidate: Scored,
}

impl Outcome {
    fn right(&self, v: &Scored) -> bool {
        v.attack == (self.label == 1)
    }
}

/// The gate's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Reject above this regression rate.
    pub reject_rate: f64,
    /// Reject above this rate unless improvements outnumber regressions.
    pub caution_rate: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            reject_rate: 0.05,
            caution_rate: 0.02,
        }
    }
}

/// Regressions, improvements and unchanged examples of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub examples: u64,
    pub regressions: u64,
    pub improvements: u64,
    pub unchanged: u64,
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        self.examples += 1;
        match (o.right(&o.baseline), o.right(&o.candidate)) {
            (true, false) => self.regressions += 1,
            (false, true) => self.improvements += 1,
            _ => self.unchanged += 1,
        }
    }

    pub fn regression_rate(&self) -> f64 {
        cairn_metrics::ratio(self.regressions, self.examples)
    }

    pub fn improvement_rate(&self) -> f64 {
        cairn_metrics::ratio(self.improvements, self.examples)
    }
}

pub use cairn_metrics::Binary;

/// The binary metrics of one model's verdicts on the outcomes.
fn binary<'a>(outcomes: impl Iterator<Item = (&'a Outcome, &'a Scored)>) -> Binary {
    cairn_metrics::Confusion::of(outcomes.map(|(o, v)| (o.label == 1, v.attack))).binary()
}

/// A metric before and after.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub baseline: f64,
    pub candidate: f64,
    pub delta: f64,
}

/// An example that changed, for the report's lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changed {
    /// Cut to 100 characters, whitespace folded.
    pub text: String,
    pub label: u8,
    pub family: String,
    pub baseline: Scored,
    pub candidate: Scored,
}

/// accept, or reject with the rule that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    Accept,
    Reject,
}

/// The decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: Gate,
    /// `no-baseline`, `within-thresholds`, `caution-outweighed`, `caution`, `regression-rate`.
    pub rule: String,
    pub reason: String,
}

impl Decision {
    pub fn accepted(&self) -> bool {
        self.decision == Gate::Accept
    }
}

/// A whole regression report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub baseline: Option<String>,
    pub candidate: String,
    /// The backend both models were run on for this report.
    pub backend: String,
    pub thresholds: Thresholds,
    pub overall: Counts,
    pub families: BTreeMap<String, Counts>,
    pub sources: BTreeMap<String, Counts>,
    pub metrics: BTreeMap<String, Delta>,
    pub regressions: Vec<Changed>,
    pub improvements: Vec<Changed>,
    pub decision: Decision,
}

impl Report {
    /// The gate's outcome as a command prints it under a run: the decision, its rule and
    /// reason, the counts, then up to `listed` regressed examples, one line each.
    pub fn gate_lines(&self, listed: usize) -> Vec<String> {
        let o = &self.overall;
        let mut lines = vec![format!(
            "  gate: {} ({}): {}; {} regressions, {} improvements in {} examples",
            if self.decision.accepted() {
                "accept"
            } else {
                "reject"
            },
            self.decision.rule,
            self.decision.reason,
            o.regressions,
            o.improvements,
            o.examples
        )];
        lines.extend(
            self.regressions
                .iter()
                .take(listed)
                .map(|r| format!("    regressed [{} {}] {}", r.label, r.family, r.text)),
        );
        lines
    }
}

/// How many examples of each kind the report lists.
pub const LISTED: usize = 10;

fn cut(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 100 {
        flat
    } else {
        format!("{}…", flat.chars().take(99).collect::<String>())
    }
}

fn changed(o: &Outcome) -> Changed {
    Changed {
        text: cut(&o.text),
        label: o.label,
        family: o.family.clone(),
        baseline: o.baseline,
        candidate: o.candidate,
    }
}

/// Compares the candidate with the baseline on every outcome and decides.
pub fn compare(
    baseline: Option<&str>,
    candidate: &str,
    backend: &str,
    outcomes: &[Outcome],
    thresholds: Thresholds,
) -> Report {
    let mut overall = Counts::default();
    let mut families: BTreeMap<String, Counts> = BTreeMap::new();
    let mut sources: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut regressions, mut improvements) = (Vec::new(), Vec::new());
    for o in outcomes {
        overall.add(o);
        families.entry(o.family.clone()).or_default().add(o);
        sources.entry(o.source.clone()).or_default().add(o);
        match (o.right(&o.baseline), o.right(&o.candidate)) {
            (true, false) if regressions.len() < LISTED => regressions.push(changed(o)),
            (false, true) if improvements.len() < LISTED => improvements.push(changed(o)),
            _ => {}
        }
    }
    let before = binary(outcomes.iter().map(|o| (o, &o.baseline)));
    let after = binary(outcomes.iter().map(|o| (o, &o.candidate)));
    let metrics = [
        ("accuracy", before.accuracy, after.accuracy),
        ("precision", before.precision, after.precision),
        ("recall", before.recall, after.recall),
        ("f1", before.f1, after.f1),
        ("fpr", before.fpr, after.fpr),
        ("fnr", before.fnr, after.fnr),
    ]
    .into_iter()
    .map(|(k, b, c)| {
        (
            k.to_string(),
            Delta {
                baseline: b,
                candidate: c,
                delta: c - b,
            },
        )
    })
    .collect();
    let decision = decide(baseline.is_some(), &overall, thresholds);
    Report {
        baseline: baseline.map(str::to_string),
        candidate: candidate.to_string(),
        backend: backend.to_string(),
        thresholds,
        overall,
        families,
        sources,
        metrics,
        regressions,
        improvements,
        decision,
    }
}

/// The workflow's rules: reject above `reject_rate` regressions; reject above
/// `caution_rate` when improvements do not outnumber regressions; otherwise accept.
pub fn decide(has_baseline: bool, overall: &Counts, t: Thresholds) -> Decision {
    let rate = overall.regression_rate();
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let (decision, rule, reason) = if overall.examples == 0 {
        (
            Gate::Reject,
            "no-examples",
            "the gate compared 0 examples: nothing was measured (give a test set with rows)"
                .to_string(),
        )
    } else if !has_baseline {
        (
            Gate::Accept,
            "no-baseline",
            "first version: nothing to regress against".to_string(),
        )
    } else if rate > t.reject_rate {
        (
            Gate::Reject,
            "regression-rate",
            format!(
                "regression rate {} is above {}",
                pct(rate),
                pct(t.reject_rate)
            ),
        )
    } else if rate > t.caution_rate && overall.improvements <= overall.regressions {
        (
            Gate::Reject,
            "caution",
            format!(
                "regression rate {} is above {} and {} improvements do not outnumber {} regressions",
                pct(rate),
                pct(t.caution_rate),
                overall.improvements,
                overall.regressions
            ),
        )
    } else if rate > t.caution_rate {
        (
            Gate::Accept,
            "caution-outweighed",
            format!(
                "regression rate {} is above {} but {} improvements outnumber {} regressions",
                pct(rate),
                pct(t.caution_rate),
                overall.improvements,
                overall.regressions
            ),
        )
    } else {
        (
            Gate::Accept,
            "within-thresholds",
            format!(
                "regression rate {} is at most {}",
                pct(rate),
                pct(t.caution_rate)
            ),
        )
    };
    Decision {
        decision,
        rule: rule.into(),
        reason,
    }
}
