//! `cairn eval`: registered versions scored side by side on any labelled JSONL (the
//! example schema), overall and per family or per source.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_data::{DatasetRow, DatasetSource, Taxonomy};
use cairn_metrics::Verdict;
use cairn_metrics::{Binary, Confusion, recall_at_fpr, roc_auc};
use cairn_store::Store;
use serde::Serialize;

use crate::error::PipelineError;
use crate::loaded::LoadedModel;

/// How `cairn eval --by` groups the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupBy {
    Family,
    Source,
}

/// A version's numbers on a set of rows. The operating point is the model's decision (attack
/// when P(attack) > `threshold`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalMetrics {
    pub examples: u64,
    pub attacks: u64,
    pub benign: u64,
    /// Accuracy, precision, recall, F1, FPR, FNR.
    #[serde(flatten)]
    pub binary: Binary,
    /// Area under the ROC curve of P(attack); absent when the rows hold one class only.
    pub roc_auc: Option<f64>,
    /// The ranking's recall at 1 % and 5 % false positives on these rows (whatever the
    /// threshold): versions with different calibrations compared at the same budget.
    pub recall_at_fpr_1pct: Option<f64>,
    pub recall_at_fpr_5pct: Option<f64>,
    pub threshold: f64,
}

impl EvalMetrics {
    fn of(rows: &[&DatasetRow], verdicts: &[&Verdict], threshold: Option<f64>) -> Self {
        let confusion = Confusion::of(
            rows.iter()
                .zip(verdicts)
                .map(|(r, v)| (r.example.label == 1, v.threat)),
        );
        let scored: Vec<(f64, bool)> = rows
            .iter()
            .zip(verdicts)
            .map(|(r, v)| (v.score(), r.example.label == 1))
            .collect();
        EvalMetrics {
            examples: confusion.examples(),
            attacks: confusion.true_positives + confusion.false_negatives,
            benign: confusion.true_negatives + confusion.false_positives,
            binary: confusion.binary(),
            roc_auc: roc_auc(&scored),
            recall_at_fpr_1pct: recall_at_fpr(&scored, 0.01),
            recall_at_fpr_5pct: recall_at_fpr(&scored, 0.05),
            threshold: threshold.unwrap_or(0.5),
        }
    }
}

/// One group's numbers (`--by family|source`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMetrics {
    pub group: String,
    #[serde(flatten)]
    pub metrics: EvalMetrics,
}

/// One version on the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionEval {
    /// `name@version`.
    pub version: String,
    pub run: String,
    pub overall: EvalMetrics,
    pub groups: Vec<GroupMetrics>,
}

/// `cairn eval`'s result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// The data, as given.
    pub data: String,
    pub rows: usize,
    pub by: Option<GroupBy>,
    pub versions: Vec<VersionEval>,
}

/// Scores every version in `references` on the rows of `data` (a JSONL file or a folder of
/// them, validated against `taxonomy`, else the first version's taxonomy), overall and, with
/// `by`, per group in name order.
pub fn eval(
    store: &Store,
    references: &[String],
    data: &Path,
    taxonomy: Option<&Taxonomy>,
    by: Option<GroupBy>,
) -> Result<EvalReport, PipelineError> {
    eval_from(store, references, Data::Path(data), taxonomy, by)
}

/// [`eval`] on rows already in memory: `bytes` is JSONL in the example schema (e.g. what an
/// importer converted from a team's own columns), named `name` in errors and the report.
pub fn eval_jsonl(
    store: &Store,
    references: &[String],
    name: &str,
    bytes: Vec<u8>,
    taxonomy: Option<&Taxonomy>,
    by: Option<GroupBy>,
) -> Result<EvalReport, PipelineError> {
    eval_from(store, references, Data::Bytes(name, bytes), taxonomy, by)
}

enum Data<'a> {
    Path(&'a Path),
    Bytes(&'a str, Vec<u8>),
}

fn eval_from(
    store: &Store,
    references: &[String],
    data: Data<'_>,
    taxonomy: Option<&Taxonomy>,
    by: Option<GroupBy>,
) -> Result<EvalReport, PipelineError> {
    let models: Vec<LoadedModel<'_>> = references
        .iter()
        .map(|r| LoadedModel::load(store, r))
        .collect::<Result<_, _>>()?;
    let Some(first) = models.first() else {
        return Err(PipelineError::Invalid {
            field: "versions".into(),
            problem: "name at least one version to evaluate".into(),
        });
    };
    let taxonomy = taxonomy.unwrap_or(&first.taxonomy);
    let (data_name, rows) = match data {
        Data::Path(path) => (
            path.display().to_string(),
            DatasetSource::Path(path.to_path_buf())
                .load(None, taxonomy)?
                .rows,
        ),
        Data::Bytes(name, bytes) => {
            let input = cairn_data::Input {
                name: name.to_string(),
                bytes,
            };
            let rows = cairn_data::validated_rows(
                &[input],
                taxonomy,
                &cairn_data::ValidateOptions::default(),
            )?;
            (name.to_string(), rows)
        }
    };
    // All-zero metrics of nothing would pass an automated FPR check: nothing is no answer.
    if rows.is_empty() {
        return Err(PipelineError::Invalid {
            field: format!("--data {data_name}"),
            problem: "it holds no rows: give a labelled set with at least one row".into(),
        });
    }
    let key = |r: &DatasetRow| match by {
        Some(GroupBy::Family) => r.example.family.clone(),
        Some(GroupBy::Source) => r.example.source.clone(),
        None => String::new(),
    };
    let mut versions = Vec::new();
    for model in &models {
        let verdicts = model.verdicts(&model.predict(&rows)?);
        let all_rows: Vec<&DatasetRow> = rows.iter().collect();
        let all_verdicts: Vec<&Verdict> = verdicts.iter().collect();
        let mut groups: BTreeMap<String, (Vec<&DatasetRow>, Vec<&Verdict>)> = BTreeMap::new();
        if by.is_some() {
            for (r, p) in rows.iter().zip(&verdicts) {
                let g = groups.entry(key(r)).or_default();
                g.0.push(r);
                g.1.push(p);
            }
        }
        versions.push(VersionEval {
            version: model.version.clone(),
            run: model.run_id.to_hex(),
            overall: EvalMetrics::of(&all_rows, &all_verdicts, model.run.threshold),
            groups: groups
                .into_iter()
                .map(|(group, (r, p))| GroupMetrics {
                    group,
                    metrics: EvalMetrics::of(&r, &p, model.run.threshold),
                })
                .collect(),
        });
    }
    Ok(EvalReport {
        data: data_name,
        rows: rows.len(),
        by,
        versions,
    })
}

/// A figure that exists only when the rows hold both classes.
fn both_classes(value: Option<f64>) -> String {
    value
        .map(|a| format!("{a:.4}"))
        .unwrap_or_else(|| "-".into())
}

/// One metric of a version, as the table prints it.
type Cell = fn(&EvalMetrics) -> String;

/// The report as people read it: one column per version.
pub fn render_eval(report: &EvalReport) -> String {
    let mut out = String::new();
    let head = report
        .versions
        .first()
        .map(|v| &v.overall)
        .map(|o| format!(" ({} attacks, {} benign)", o.attacks, o.benign))
        .unwrap_or_default();
    out.push_str(&format!("{}: {} rows{head}\n", report.data, report.rows));
    let width = report
        .versions
        .iter()
        .map(|v| v.version.len())
        .max()
        .unwrap_or(0)
        .max(8);
    // The first column fits the longest group label (`--by source` names can be long).
    let label = |g: &GroupMetrics| {
        let what = match (g.metrics.attacks, g.metrics.benign) {
            (_, 0) => "recall",
            (0, _) => "fpr",
            _ => "f1",
        };
        format!("{} ({}, {what})", g.group, g.metrics.examples)
    };
    let first_groups = report.versions.first().map(|v| v.groups.as_slice());
    let col = first_groups
        .unwrap_or_default()
        .iter()
        .map(|g| label(g).chars().count())
        .max()
        .unwrap_or(0)
        .max(18);
    out.push_str(&format!("{:<col$}", "metric"));
    for v in &report.versions {
        out.push_str(&format!("  {:>width$}", v.version));
    }
    out.push('\n');
    let rows: [(&str, Cell); 9] = [
        ("accuracy", |m| format!("{:.4}", m.binary.accuracy)),
        ("precision", |m| format!("{:.4}", m.binary.precision)),
        ("recall", |m| format!("{:.4}", m.binary.recall)),
        ("f1", |m| format!("{:.4}", m.binary.f1)),
        ("fpr", |m| format!("{:.4}", m.binary.fpr)),
        ("fnr", |m| format!("{:.4}", m.binary.fnr)),
        ("roc_auc", |m| both_classes(m.roc_auc)),
        ("recall@fpr 1%", |m| both_classes(m.recall_at_fpr_1pct)),
        ("recall@fpr 5%", |m| both_classes(m.recall_at_fpr_5pct)),
    ];
    for (name, value) in rows {
        out.push_str(&format!("{name:<col$}"));
        for v in &report.versions {
            out.push_str(&format!("  {:>width$}", value(&v.overall)));
        }
        out.push('\n');
    }
    let Some(by) = report.by else { return out };
    let Some(first) = report.versions.first() else {
        return out;
    };
    out.push_str(&format!(
        "\nby {}: recall on attack-only groups, FPR on benign-only groups, F1 on mixed ones\n",
        match by {
            GroupBy::Family => "family",
            GroupBy::Source => "source",
        }
    ));
    for (i, g) in first.groups.iter().enumerate() {
        let m = &g.metrics;
        let pick: fn(&EvalMetrics) -> f64 = match (m.attacks, m.benign) {
            (_, 0) => |m| m.binary.recall,
            (0, _) => |m| m.binary.fpr,
            _ => |m| m.binary.f1,
        };
        out.push_str(&format!("{:<col$}", label(g)));
        for v in &report.versions {
            let value = v.groups.get(i).map(|g| pick(&g.metrics)).unwrap_or(0.0);
            out.push_str(&format!("  {:>width$.4}", value));
        }
        out.push('\n');
    }
    out
}
