//! A model's history page: the history, its trend charts and the lineage picture.

use cairn_store::Store;

use crate::LineageError;
use crate::history::{BaseRows, HistoryEntry, history};

/// `cairn report <model> --html`: the model's history page. `link` names the file of a
/// run's own report, relative to the page, where there is one.
pub fn history_html(
    store: &Store,
    model: &str,
    link: &dyn Fn(&HistoryEntry) -> Option<String>,
) -> Result<String, LineageError> {
    let history = history(store, model)?;
    let lineage_svg = crate::graph(store, model, false)?.to_svg()?;
    let versions = history
        .entries
        .iter()
        .map(|e| cairn_report::HistoryVersion {
            version: e.version.clone(),
            anchor: e.anchor(),
            link: link(e),
            started: e.started.clone(),
            mode: e.mode.clone(),
            parent: e.parent.clone(),
            backend: e.backend.clone(),
            gate: e.gate.as_str().into(),
            gate_counts: e.gate_line.as_ref().map(|g| cairn_report::GateCounts {
                baseline: g.baseline.clone(),
                rule: g.rule.clone(),
                regressions: g.regressions,
                improvements: g.improvements,
                examples: g.examples,
            }),
            metrics: e.metrics.clone(),
            family_recall: e.family_recall.clone(),
            base: e.base.as_ref().map(BaseRows::describe),
            additions: e.additions.iter().map(|a| a.file.clone()).collect(),
            changes: e.recipe.changes.clone(),
            backends: e.backends.clone(),
            redteam: e.redteam.iter().map(|t| t.line.clone()).collect(),
        })
        .collect();
    Ok(cairn_report::history_html(&cairn_report::HistoryInput {
        model: history.model,
        versions,
        lineage_svg,
    })?)
}
