//! `cairn graph`: the DAG behind a version — runs, datasets, input files, tokenizers,
//! reports — as DOT, Mermaid, JSON or an SVG picture laid out by `layout-rs`.

use std::collections::BTreeSet;

use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use serde::Serialize;

use crate::{LineageError, version, version_names};

/// A node of the lineage graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Node {
    /// `n` + the first 12 hex digits of the object.
    pub id: String,
    /// `run`, `dataset`, `input`, `tokenizer` or `report`.
    pub kind: String,
    pub label: String,
    pub object: String,
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
        let mut out = String::from("digraph lineage {\n  rankdir=LR;\n");
        for n in &self.nodes {
            let shape = match n.kind.as_str() {
                "run" => "box",
                "input" => "note",
                "report" => "component",
                _ => "ellipse",
            };
            out.push_str(&format!(
                "  {} [label=\"{}\", shape={shape}];\n",
                n.id,
                n.label.replace('"', "'")
            ));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  {} -> {} [label=\"{}\"];\n",
                e.from, e.to, e.label
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for n in &self.nodes {
            let label = n.label.replace('"', "'");
            match n.kind.as_str() {
                "run" => out.push_str(&format!("  {}[\"{label}\"]\n", n.id)),
                "input" => out.push_str(&format!("  {}[/\"{label}\"/]\n", n.id)),
                _ => out.push_str(&format!("  {}([\"{label}\"])\n", n.id)),
            }
        }
        for e in &self.edges {
            out.push_str(&format!("  {} -->|{}| {}\n", e.from, e.label, e.to));
        }
        out
    }

    /// An SVG picture (layout by `layout-rs`, no external program).
    pub fn to_svg(&self) -> Result<String, LineageError> {
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

/// The lineage of a version: its chain of parents and everything each run used and made.
pub fn graph(store: &Store, reference: &str) -> Result<Graph, LineageError> {
    let names = version_names(store)?;
    let mut g = Graph::default();
    let start = version(store, reference)?;
    let mut stack = vec![start.run_id];
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
        let full = format!("{label}\\n{}", run.mode);
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
            format!("dataset {}\\n{rows} rows", run.outputs.dataset.short()),
        );
        g.edge(&dataset_node, &run_node, "trains");
        for (role, input) in recipe.inputs() {
            let file = input
                .name
                .rsplit('/')
                .next()
                .unwrap_or(&input.name)
                .to_string();
            let input_node = g.node(&input.object, "input", format!("{file}\\n{role}"));
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
                format!("regression report\\n{}", run.decision),
            );
            g.edge(&run_node, &report_node, "gate");
        }
        if let Some((id, snapshot)) = cairn_spec::BackendSnapshot::of_run(store, &run_id)? {
            let node = g.node(
                &id,
                "backends",
                format!("backends\\n{}", snapshot.summary()),
            );
            g.edge(&run_node, &node, "evaluated on");
        }
        if let Some(cause) = &recipe.cause
            && let Some(object) = cause.object
        {
            let cause_node = g.node(
                &object,
                &cause.kind,
                format!("{} {}\\n{}", cause.kind, object.short(), cause.note),
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
