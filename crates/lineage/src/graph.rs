//! `cairn graph`: the lineage behind a version or a whole model, as DOT, Mermaid, JSON or
//! SVG.
//!
//! By default the picture is version-centric: the versions are the spine, oldest first, each
//! showing its mode, F1, FPR, gate outcome and backend; each additions file is a node with
//! its rows per family; a dataset's base files collapse into one node; tokenizer, test set,
//! encoder and reports are badges on their version. `--full` draws every object instead
//! (runs, datasets, each input file, tokenizers, reports), laid out by `layout-rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use serde::Serialize;

use crate::history::{GateOutcome, HistoryEntry, entry, history, is_model, thousands};
use crate::{LineageError, version, version_names};

/// A node of the lineage graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `n` + the first 12 hex digits of the object.
    pub id: String,
    /// Version-centric: `version`, `additions` or `base`; `--full`: `run`, `dataset`,
    /// `input`, `tokenizer`, `report`, `backends` or a cause's kind.
    pub kind: String,
    /// What the picture writes in the node, one line per line.
    pub label: String,
    pub object: String,
    /// A version's figures (version-centric graphs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionFacts>,
    /// An additions file's or a base's rows (version-centric graphs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowCounts>,
}

/// What a version node shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionFacts {
    pub name: String,
    /// `retrain`, `fine-tune` or `red-team retrain`.
    pub mode: String,
    pub gate: GateOutcome,
    pub f1: Option<f64>,
    pub fpr: Option<f64>,
    pub backend: String,
    /// The base when it is drawn at another version (same base files): that version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_as_in: Option<String>,
    pub badges: Vec<Badge>,
}

/// A small object shown on its version rather than as a node of its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Badge {
    /// `tokenizer`, `test`, `encoder`, `report`, `backends` or a cause's kind.
    pub kind: String,
    pub label: String,
    pub object: String,
}

/// Rows of an additions file or a base.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowCounts {
    pub files: usize,
    pub rows: u64,
    /// Rows per family and per source (additions files; empty for a base).
    pub families: BTreeMap<String, u64>,
    pub sources: BTreeMap<String, u64>,
}

/// An edge: `from` went into `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    /// What it is the lineage of: `name@version`, or a model's name.
    pub of: String,
    /// `versions` (version-centric) or `full`.
    pub view: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn node_id(id: &ObjectId) -> String {
    format!("n{}", id.short())
}

impl Graph {
    fn node(&mut self, id: &ObjectId, kind: &str, label: String) -> String {
        let key = node_id(id);
        if !self.nodes.iter().any(|n| n.id == key) {
            self.nodes.push(Node {
                id: key.clone(),
                kind: kind.into(),
                label,
                object: id.to_hex(),
                version: None,
                rows: None,
            });
        }
        key
    }

    fn edge(&mut self, from: &str, to: &str, label: &str) {
        let e = Edge {
            from: from.into(),
            to: to.into(),
            label: label.into(),
        };
        if !self.edges.contains(&e) {
            self.edges.push(e);
        }
    }

    /// Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let versions = self.view == VERSIONS;
        let mut out = format!(
            "digraph lineage {{\n  rankdir={};\n  node [fontname=\"sans-serif\"];\n",
            if versions { "TB" } else { "LR" }
        );
        for n in &self.nodes {
            let label = dot_text(&n.label);
            let style = match (n.kind.as_str(), &n.version) {
                (_, Some(v)) => {
                    let (stroke, fill) = gate_colours(v.gate);
                    let dashed = if v.gate == GateOutcome::Rejected {
                        ",dashed"
                    } else {
                        ""
                    };
                    format!(
                        "shape=box, style=\"rounded,filled{dashed}\", color=\"{stroke}\", fillcolor=\"{fill}\""
                    )
                }
                ("additions", _) => {
                    format!(
                        "shape=note, style=filled, color=\"{ADDITIONS_STROKE}\", fillcolor=\"{ADDITIONS_FILL}\""
                    )
                }
                ("base", _) => {
                    format!(
                        "shape=folder, style=filled, color=\"{BASE_STROKE}\", fillcolor=\"{BASE_FILL}\""
                    )
                }
                ("run", _) => "shape=box".into(),
                ("input", _) => "shape=note".into(),
                ("report", _) => "shape=component".into(),
                _ => "shape=ellipse".into(),
            };
            out.push_str(&format!("  {} [label=\"{label}\", {style}];\n", n.id));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  {} -> {} [label=\"{}\"];\n",
                e.from,
                e.to,
                dot_text(&e.label)
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let versions = self.view == VERSIONS;
        let mut out = format!("flowchart {}\n", if versions { "TB" } else { "LR" });
        let mut classes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in &self.nodes {
            let label = n.label.replace('"', "'").replace('\n', "<br/>");
            match n.kind.as_str() {
                "run" | "version" => out.push_str(&format!("  {}[\"{label}\"]\n", n.id)),
                "input" | "additions" => out.push_str(&format!("  {}[/\"{label}\"/]\n", n.id)),
                "base" => out.push_str(&format!("  {}[(\"{label}\")]\n", n.id)),
                _ => out.push_str(&format!("  {}([\"{label}\"])\n", n.id)),
            }
            match (&n.version, n.kind.as_str()) {
                (Some(v), _) => classes.entry(v.gate.as_str()).or_default().push(&n.id),
                (None, kind @ ("additions" | "base")) => {
                    classes.entry(kind).or_default().push(&n.id)
                }
                _ => {}
            }
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  {} -->|{}| {}\n",
                e.from,
                e.label.replace('\n', " "),
                e.to
            ));
        }
        for (class, ids) in &classes {
            let (stroke, fill) = match *class {
                "additions" => (ADDITIONS_STROKE, ADDITIONS_FILL),
                "base" => (BASE_STROKE, BASE_FILL),
                "forced" => gate_colours(GateOutcome::Forced),
                "rejected" => gate_colours(GateOutcome::Rejected),
                _ => gate_colours(GateOutcome::Accepted),
            };
            let dash = if *class == "rejected" {
                ",stroke-dasharray:5 3"
            } else {
                ""
            };
            out.push_str(&format!(
                "  classDef {class} fill:{fill},stroke:{stroke}{dash}\n  class {} {class}\n",
                ids.join(",")
            ));
        }
        out
    }
}

/// The view of version-centric graphs.
pub const VERSIONS: &str = "versions";
/// The view of `--full` graphs.
pub const FULL: &str = "full";

pub(crate) const ADDITIONS_STROKE: &str = "#3f51b5";
pub(crate) const ADDITIONS_FILL: &str = "#eef0fb";
pub(crate) const BASE_STROKE: &str = "#757575";
pub(crate) const BASE_FILL: &str = "#f3f3f3";

/// A gate outcome's stroke and fill.
pub(crate) fn gate_colours(gate: GateOutcome) -> (&'static str, &'static str) {
    cairn_report::gate_colours(gate.as_str())
}

/// Text inside a DOT string: quotes made single, line breaks as `\n`.
fn dot_text(text: &str) -> String {
    text.replace('"', "'").replace('\n', "\\n")
}

/// `cairn graph <ref>`: the lineage of a version (its chain of parents), or of every run of
/// a model (a name with no `@`), version-centric or `full`.
pub fn graph(store: &Store, reference: &str, full: bool) -> Result<Graph, LineageError> {
    let names = version_names(store)?;
    let entries = if is_model(store, reference)? {
        let mut entries = history(store, reference)?.entries;
        // A parent of another model's name joins the picture, so every edge has both ends.
        let have: BTreeSet<ObjectId> = entries.iter().map(|e| e.run_id).collect();
        let mut outside = BTreeSet::new();
        for e in &entries {
            if let Some(parent) = e.run.parent
                && !have.contains(&parent)
            {
                outside.insert(parent);
            }
        }
        for parent in outside {
            let run: RunManifest = store.get_manifest(&parent)?;
            entries.insert(0, entry(store, &names, parent, run, &[])?);
        }
        entries.sort_by_cached_key(|e| {
            crate::history::chronological(&e.started, &e.run.version, e.run_id)
        });
        entries
    } else {
        let start = version(store, reference)?;
        let mut chain = Vec::new();
        let mut next = Some((start.run_id, start.run));
        let mut seen = BTreeSet::new();
        while let Some((id, run)) = next.take() {
            if !seen.insert(id) {
                break;
            }
            let parent = match run.parent {
                Some(p) => Some((p, store.get_manifest::<RunManifest>(&p)?)),
                None => None,
            };
            chain.push(entry(store, &names, id, run, &[])?);
            next = parent;
        }
        chain.reverse();
        chain
    };
    let mut g = if full {
        full_graph(store, &names, entries.iter().map(|e| e.run_id))?
    } else {
        versions_graph(store, &entries)?
    };
    g.of = reference.to_string();
    Ok(g)
}

/// The version-centric graph of `entries` (oldest first).
fn versions_graph(store: &Store, entries: &[HistoryEntry]) -> Result<Graph, LineageError> {
    let mut g = Graph {
        view: VERSIONS.into(),
        ..Graph::default()
    };
    let by_run: HashMap<ObjectId, &HistoryEntry> = entries.iter().map(|e| (e.run_id, e)).collect();
    // Where each base was first drawn.
    let mut bases: HashMap<Vec<ObjectId>, (String, String)> = HashMap::new();
    for e in entries {
        let version_id = node_id(&e.run_id);
        let mut base_as_in = None;
        if let Some(base) = &e.base {
            let key = base.objects.clone();
            let base_node = match bases.get(&key) {
                Some((node, drawn_at)) => {
                    base_as_in = Some(drawn_at.clone());
                    node.clone()
                }
                None => {
                    let hexes: Vec<String> = key.iter().map(|o| o.to_hex()).collect();
                    let id = ObjectId::of(hexes.join("\n").as_bytes());
                    let node = g.node(&id, "base", format!("base\n{}", base.describe()));
                    if let Some(n) = g.nodes.iter_mut().find(|n| n.id == node) {
                        n.rows = Some(RowCounts {
                            files: base.files,
                            rows: base.rows,
                            families: BTreeMap::new(),
                            sources: BTreeMap::new(),
                        });
                    }
                    bases.insert(key, (node.clone(), e.version.clone()));
                    node
                }
            };
            g.edge(&base_node, &version_id, "base");
        }
        for file in &e.additions {
            let node = g.node(&file.object, "additions", additions_label(&file.file));
            if let Some(n) = g.nodes.iter_mut().find(|n| n.id == node) {
                n.rows = Some(RowCounts {
                    files: 1,
                    rows: file.file.rows,
                    families: file.file.families.clone(),
                    sources: file.file.sources.clone(),
                });
            }
            g.edge(&node, &version_id, "adds");
        }
        let facts = version_facts(store, e, base_as_in)?;
        g.node(&e.run_id, "version", version_label(&facts));
        if let Some(n) = g.nodes.iter_mut().find(|n| n.id == version_id) {
            n.version = Some(facts);
        }
        if let Some(parent) = e.run.parent
            && by_run.contains_key(&parent)
        {
            g.edge(&node_id(&parent), &version_id, &e.mode);
        }
    }
    Ok(g)
}

fn additions_label(file: &cairn_report::AddedFile) -> String {
    format!(
        "{}\n{} rows: {}\nsources: {}",
        file.name,
        thousands(file.rows),
        cairn_report::tally(&file.families),
        cairn_report::tally(&file.sources)
    )
}

fn version_facts(
    store: &Store,
    e: &HistoryEntry,
    base_as_in: Option<String>,
) -> Result<VersionFacts, LineageError> {
    let (run, recipe) = (&e.run, &e.recipe);
    let mut badges = vec![
        Badge {
            kind: "tokenizer".into(),
            label: format!("tokenizer {}", run.outputs.tokenizer.short()),
            object: run.outputs.tokenizer.to_hex(),
        },
        Badge {
            kind: "test".into(),
            label: format!("test {}", recipe.data.test.object.short()),
            object: recipe.data.test.object.to_hex(),
        },
    ];
    if let Some(p) = &recipe.model.pretrained {
        badges.push(Badge {
            kind: "encoder".into(),
            label: format!(
                "encoder {}",
                p.weights.name.rsplit('/').next().unwrap_or("")
            ),
            object: p.weights.object.to_hex(),
        });
    }
    if let (Some(report), Some(gate)) = (run.outputs.report, &e.gate_line) {
        badges.push(Badge {
            kind: "report".into(),
            label: format!(
                "{} regressions, {} improvements of {}",
                gate.regressions, gate.improvements, gate.examples
            ),
            object: report.to_hex(),
        });
    }
    if let Some((id, snapshot)) = cairn_spec::BackendSnapshot::of_run(store, &e.run_id)? {
        badges.push(Badge {
            kind: "backends".into(),
            label: format!("backends: {}", snapshot.summary().join(", ")),
            object: id.to_hex(),
        });
    }
    if let Some(cause) = &recipe.cause
        && let Some(object) = cause.object
    {
        badges.push(Badge {
            kind: cause.kind.to_string(),
            label: format!("caused by {} {}", cause.kind, object.short()),
            object: object.to_hex(),
        });
    }
    Ok(VersionFacts {
        name: e.version.clone(),
        mode: e.mode.clone(),
        gate: e.gate,
        f1: e.metrics.get("f1").copied(),
        fpr: e.metrics.get("fpr").copied(),
        backend: e.backend.clone(),
        base_as_in,
        badges,
    })
}

/// A figure with three decimals, or `–`.
pub(crate) fn figure(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into())
}

/// The lines a version node shows in DOT and Mermaid: name, mode and backend, F1 and FPR,
/// the gate's outcome and counts, then a line per badge other than tokenizer and test set.
fn version_label(v: &VersionFacts) -> String {
    let mut lines = vec![
        v.name.clone(),
        format!("{} · {}", v.mode, v.backend),
        format!("F1 {} · FPR {}", figure(v.f1), figure(v.fpr)),
    ];
    let mut gate = v.gate.as_str().to_string();
    for b in &v.badges {
        match b.kind.as_str() {
            "tokenizer" | "test" => {}
            "report" => gate = format!("{gate}: {}", b.label),
            _ => lines.push(b.label.clone()),
        }
    }
    lines.insert(3, gate);
    lines.join("\n")
}

/// Every object behind `runs` and their ancestors: runs, datasets, each input file,
/// tokenizers, reports.
fn full_graph(
    store: &Store,
    names: &HashMap<ObjectId, String>,
    runs: impl Iterator<Item = ObjectId>,
) -> Result<Graph, LineageError> {
    let mut g = Graph {
        view: FULL.into(),
        ..Graph::default()
    };
    let mut stack: Vec<ObjectId> = runs.collect();
    let mut seen = BTreeSet::new();
    while let Some(run_id) = stack.pop() {
        if !seen.insert(run_id) {
            continue;
        }
        let run: RunManifest = store.get_manifest(&run_id)?;
        let recipe: Recipe = store.get_manifest(&run.recipe)?;
        let label = names
            .get(&run_id)
            .cloned()
            .unwrap_or_else(|| format!("{}@{} ({})", run.name, run.version, run.status));
        let full = format!("{label}\n{}", run.mode);
        let run_node = g.node(&run_id, "run", full.clone());
        // A parent is added (by name only) before it is visited; give it its full label.
        if let Some(n) = g.nodes.iter_mut().find(|n| n.id == run_node) {
            n.label = full;
        }
        let dataset =
            crate::optional_manifest::<cairn_data::DatasetManifest>(store, &run.outputs.dataset)?;
        let rows = dataset
            .as_ref()
            .map(|d| d.train_rows + d.validation_rows)
            .unwrap_or(0);
        let dataset_node = g.node(
            &run.outputs.dataset,
            "dataset",
            format!("dataset {}\n{rows} rows", run.outputs.dataset.short()),
        );
        g.edge(&dataset_node, &run_node, "trains");
        for (role, input) in recipe.inputs() {
            let file = input
                .name
                .rsplit('/')
                .next()
                .unwrap_or(&input.name)
                .to_string();
            let input_node = g.node(&input.object, "input", format!("{file}\n{role}"));
            let target = if matches!(role, "base" | "addition" | "taxonomy") {
                &dataset_node
            } else {
                &run_node
            };
            g.edge(&input_node, target, role);
        }
        let tokenizer_node = g.node(
            &run.outputs.tokenizer,
            "tokenizer",
            format!("tokenizer {}", run.outputs.tokenizer.short()),
        );
        g.edge(&tokenizer_node, &run_node, "tokenizes");
        if let Some(report) = run.outputs.report {
            let report_node = g.node(
                &report,
                "report",
                format!("regression report\n{}", run.decision),
            );
            g.edge(&run_node, &report_node, "gate");
        }
        if let Some((id, snapshot)) = cairn_spec::BackendSnapshot::of_run(store, &run_id)? {
            let node = g.node(
                &id,
                "backends",
                format!("backends\n{}", snapshot.summary().join("\n")),
            );
            g.edge(&run_node, &node, "evaluated on");
        }
        if let Some(cause) = &recipe.cause
            && let Some(object) = cause.object
        {
            let cause_node = g.node(
                &object,
                cause.kind.as_str(),
                format!("{} {}\n{}", cause.kind, object.short(), cause.note),
            );
            g.edge(&cause_node, &run_node, "caused");
        }
        if let Some(parent) = run.parent {
            let parent_label = names
                .get(&parent)
                .cloned()
                .unwrap_or_else(|| parent.short());
            let parent_node = g.node(&parent, "run", parent_label);
            g.edge(&parent_node, &run_node, "fine-tune");
            stack.push(parent);
        }
    }
    // Run ids depend on start times; order by what a reader sees so output is stable.
    g.nodes
        .sort_by(|a, b| (&a.kind, &a.label, &a.object).cmp(&(&b.kind, &b.label, &b.object)));
    let label = |id: &str| {
        g.nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.label.clone())
            .unwrap_or_default()
    };
    let mut edges = std::mem::take(&mut g.edges);
    edges.sort_by_cached_key(|e| (label(&e.from), label(&e.to), e.label.clone()));
    g.edges = edges;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(20_150), "20,150");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn dot_labels_escape_quotes_and_break_lines() {
        assert_eq!(dot_text("a \"b\"\nc"), "a 'b'\\nc");
    }
}
