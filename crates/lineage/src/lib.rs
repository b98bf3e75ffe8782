//! Lineage: the graph the run manifests already form, made readable.
//!
//! Every run manifest names its recipe, its parent run and its outputs by hash, and every
//! recipe names its inputs by hash, so the history of a model — which data, which
//! parameters, which parent — can be walked, compared and drawn from the store alone, with
//! no database. [`log`] lists a model's versions; [`diff`] compares two versions: their
//! nearest common ancestor, the parameters that differ, the training rows added, removed
//! and relabelled (reusing `cairn_data::diff`), metric deltas, regression-report deltas and
//! environment changes.
//!
//! This crate has no ML dependencies.

mod graph;
mod history;
mod page;
mod picture;

use std::collections::{BTreeMap, HashMap};

use cairn_data::{DataDiff, load_dataset};
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, RefName, Store, StoreError};
use serde::Serialize;
use serde_json::Value;

pub use graph::{Badge, Edge, Graph, Node, VersionFacts, graph};
pub use history::{
    BaseRows, FileRows, GateOutcome, History, HistoryEntry, RedteamRate, history, is_model,
    mode_label,
};
pub use page::history_html;

/// Why lineage could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error(transparent)]
    Data(#[from] cairn_data::DataError),
    /// A name that is not a registered version.
    #[error("`{0}` is not a registered version (see `cairn log` or `cairn ref list`)")]
    UnknownVersion(String),
    /// The graph could not be laid out.
    #[error("cannot lay out the lineage graph: {0}")]
    Graph(String),
    /// A chart of the history page could not be drawn.
    #[error(transparent)]
    Chart(#[from] cairn_report::HtmlError),
    /// No version of that model is registered.
    #[error("no versions of `{0}` are registered (see `cairn ref list`)")]
    UnknownModel(String),
    /// A stored regression report that does not parse (its bytes hash correctly, so it was
    /// written wrong, not damaged).
    #[error("regression report {id} cannot be read: {reason}")]
    BadReport { id: ObjectId, reason: String },
}

/// A manifest that may be of another kind (older runs); a missing, corrupt or unreadable
/// object is an error, never "absent".
pub(crate) fn optional_manifest<M: cairn_store::Manifest>(
    store: &Store,
    id: &ObjectId,
) -> Result<Option<M>, LineageError> {
    match store.get_manifest(id) {
        Ok(m) => Ok(Some(m)),
        Err(cairn_store::StoreError::NotAManifest { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A run's regression report, when it has one; a corrupt report is an error.
fn stored_report(
    store: &Store,
    run: &RunManifest,
) -> Result<Option<cairn_report::Report>, LineageError> {
    let Some(id) = run.outputs.report else {
        return Ok(None);
    };
    let bytes = store.read(&id)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| LineageError::BadReport {
            id,
            reason: e.to_string(),
        })
}

/// A registered version and its run.
#[derive(Debug, Clone)]
pub struct Version {
    pub name: RefName,
    pub run_id: ObjectId,
    pub run: RunManifest,
}

/// The run a version name points to.
pub fn version(store: &Store, reference: &str) -> Result<Version, LineageError> {
    let name: RefName = reference
        .parse()
        .map_err(|_| LineageError::UnknownVersion(reference.to_string()))?;
    let run_id = store
        .get_ref(&name)?
        .ok_or_else(|| LineageError::UnknownVersion(reference.to_string()))?;
    let run: RunManifest = store.get_manifest(&run_id)?;
    Ok(Version { name, run_id, run })
}

/// Run id → `name@version`, for every published version in the store.
fn version_names(store: &Store) -> Result<HashMap<ObjectId, String>, LineageError> {
    Ok(store
        .list_refs()?
        .into_iter()
        .filter(|(name, _)| name.is_immutable())
        .map(|(name, id)| (id, name.to_string()))
        .collect())
}

/// One line of `cairn log`.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub version: String,
    pub run: String,
    /// What is wrong when the version's run manifest cannot be read (missing, corrupt, not
    /// a run); the fields below are then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
    pub date: String,
    pub parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<cairn_spec::Mode>,
    /// Additions files (name, valid rows).
    pub additions: Vec<(String, u64)>,
    pub f1: Option<f64>,
    pub fpr: Option<f64>,
    pub fnr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<cairn_spec::Decision>,
    pub forced: bool,
    pub backend: String,
    /// The pretrained encoder the version's weights descend from (`[model] pretrained` of
    /// it or of an ancestor): the weights file's name and object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<(String, ObjectId)>,
    /// What asked for the run when no person's experiment did (a red-team result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<cairn_spec::Cause>,
}

impl LogEntry {
    /// A version whose run manifest cannot be read.
    fn damaged(name: &RefName, run: ObjectId, error: &StoreError) -> Self {
        LogEntry {
            version: name.to_string(),
            run: run.to_hex(),
            damaged: Some(format!(
                "{error} (`cairn fsck` lists every problem; restore the object from a copy of the store)"
            )),
            date: String::new(),
            parent: None,
            mode: None,
            additions: Vec::new(),
            f1: None,
            fpr: None,
            fnr: None,
            decision: None,
            forced: false,
            backend: String::new(),
            encoder: None,
            cause: None,
        }
    }
}

/// The pretrained encoder behind a run: its recipe's, or the nearest ancestor's.
pub fn encoder_of(
    store: &Store,
    run: &RunManifest,
) -> Result<Option<(String, ObjectId)>, LineageError> {
    let mut run = run.clone();
    // A parent chain is finite (each run names an older one); the bound guards a damaged store.
    for _ in 0..10_000 {
        let recipe: Recipe = store.get_manifest(&run.recipe)?;
        if let Some(p) = &recipe.model.pretrained {
            return Ok(Some((p.weights.name.clone(), p.weights.object)));
        }
        match run.parent {
            Some(parent) => run = store.get_manifest(&parent)?,
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// A model's versions, newest first (by start time, then version name).
pub fn log(store: &Store, model: Option<&str>) -> Result<Vec<LogEntry>, LineageError> {
    let names = version_names(store)?;
    let mut entries = Vec::new();
    for (name, id) in store.list_refs()? {
        if !name.is_immutable() || model.is_some_and(|m| m != name.path()) {
            continue;
        }
        let run = match store.get_manifest::<RunManifest>(&id) {
            Ok(run) => run,
            Err(
                e @ (StoreError::NotFound(_)
                | StoreError::Corrupt { .. }
                | StoreError::NotAManifest { .. }),
            ) => {
                entries.push(LogEntry::damaged(&name, id, &e));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let dataset = load_dataset_manifest(store, &run.outputs.dataset)?;
        let additions = dataset
            .map(|d| {
                d.inputs
                    .into_iter()
                    .filter(|i| i.role == "addition")
                    .map(|i| (i.name, i.rows))
                    .collect()
            })
            .unwrap_or_default();
        entries.push(LogEntry {
            version: name.to_string(),
            run: id.to_hex(),
            date: run.started.clone(),
            parent: run
                .parent
                .map(|p| names.get(&p).cloned().unwrap_or_else(|| p.short())),
            damaged: None,
            mode: Some(run.mode),
            additions,
            f1: run.metrics.get("f1").copied(),
            fpr: run.metrics.get("fpr").copied(),
            fnr: run.metrics.get("fnr").copied(),
            decision: Some(run.decision),
            forced: run.forced,
            backend: run.environment.backend.clone(),
            encoder: encoder_of(store, &run)?,
            cause: store.get_manifest::<Recipe>(&run.recipe)?.cause,
        });
    }
    if entries.is_empty()
        && let Some(m) = model
    {
        return Err(LineageError::UnknownModel(m.to_string()));
    }
    entries.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| b.version.cmp(&a.version)));
    Ok(entries)
}

fn load_dataset_manifest(
    store: &Store,
    id: &ObjectId,
) -> Result<Option<cairn_data::DatasetManifest>, LineageError> {
    optional_manifest(store, id)
}

/// A parameter that differs.
#[derive(Debug, Clone, Serialize)]
pub struct ParamChange {
    pub key: String,
    pub a: Value,
    pub b: Value,
}

/// A metric before and after.
#[derive(Debug, Clone, Serialize)]
pub struct MetricChange {
    pub name: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub delta: Option<f64>,
}

/// What `cairn diff` reports.
#[derive(Debug, Clone, Serialize)]
pub struct LineageDiff {
    pub a: String,
    pub b: String,
    /// The nearest run both descend from (a version name when it has one).
    pub common_ancestor: Option<String>,
    /// From the common ancestor to each side, oldest first.
    pub chain_a: Vec<String>,
    pub chain_b: Vec<String>,
    pub params: Vec<ParamChange>,
    pub additions_a: Vec<String>,
    pub additions_b: Vec<String>,
    pub data: DataDiff,
    pub metrics: Vec<MetricChange>,
    /// Regression report counts of each side (regressions, improvements, decision).
    pub reports: Vec<ParamChange>,
    pub environment: Vec<ParamChange>,
}

/// Flattens JSON into `a.b.c` → leaf value, skipping the input objects (compared as data).
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), value.clone());
        }
    }
}

/// Hyper-parameters of a recipe: everything but the version's identity, its inputs (compared
/// row by row) and the environment (listed on its own).
fn params(recipe: &Recipe) -> BTreeMap<String, Value> {
    let mut value = serde_json::to_value(recipe).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for skip in ["name", "version", "description", "changes", "environment"] {
            map.remove(skip);
        }
        if let Some(Value::Object(data)) = map.get_mut("data") {
            for skip in ["base", "additions", "test"] {
                data.remove(skip);
            }
        }
    }
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

fn changes(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Vec<ParamChange> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        // A section present on one side only shows up as its leaves; skip the bare null.
        .filter(|k| {
            !matches!(
                (a.get(*k), b.get(*k)),
                (Some(Value::Null) | None, Some(Value::Null) | None)
            )
        })
        .map(|k| ParamChange {
            key: k.clone(),
            a: a.get(k).cloned().unwrap_or(Value::Null),
            b: b.get(k).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// The runs from `id` back to the first version, newest first.
fn ancestry(store: &Store, id: ObjectId) -> Result<Vec<ObjectId>, LineageError> {
    let mut chain = vec![id];
    let mut current: RunManifest = store.get_manifest(&id)?;
    while let Some(parent) = current.parent {
        if chain.contains(&parent) {
            break;
        }
        chain.push(parent);
        current = store.get_manifest(&parent)?;
    }
    Ok(chain)
}

fn rows(store: &Store, run: &RunManifest) -> Result<Vec<cairn_data::DatasetRow>, LineageError> {
    let (_, mut train, validation) = load_dataset(store, &run.outputs.dataset)?;
    train.extend(validation);
    Ok(train)
}

fn report_summary(
    store: &Store,
    run: &RunManifest,
) -> Result<BTreeMap<String, Value>, LineageError> {
    let mut out = BTreeMap::new();
    if let Some(r) = stored_report(store, run)? {
        out.insert(
            "baseline".into(),
            r.baseline.clone().map(Value::from).unwrap_or(Value::Null),
        );
        out.insert("decision".into(), Value::from(r.decision.rule.clone()));
        out.insert("regressions".into(), Value::from(r.overall.regressions));
        out.insert("improvements".into(), Value::from(r.overall.improvements));
    }
    Ok(out)
}

/// Compares two versions; `examples` rows of each kind are listed in the data diff.
pub fn diff(store: &Store, a: &str, b: &str, examples: usize) -> Result<LineageDiff, LineageError> {
    let (va, vb) = (version(store, a)?, version(store, b)?);
    let names = version_names(store)?;
    let label = |id: &ObjectId| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("run {}", id.short()))
    };
    let (chain_a, chain_b) = (ancestry(store, va.run_id)?, ancestry(store, vb.run_id)?);
    let common = chain_a.iter().find(|id| chain_b.contains(id)).copied();
    let path = |chain: &[ObjectId]| -> Vec<String> {
        let mut path: Vec<String> = match common {
            Some(c) => chain
                .iter()
                .take_while(|id| **id != c)
                .map(&label)
                .collect(),
            None => chain.iter().map(&label).collect(),
        };
        path.reverse();
        path
    };
    let (ra, rb): (Recipe, Recipe) = (
        store.get_manifest(&va.run.recipe)?,
        store.get_manifest(&vb.run.recipe)?,
    );
    let names_of = |r: &Recipe| {
        r.data
            .additions
            .iter()
            .map(|o| o.name.clone())
            .collect::<Vec<_>>()
    };
    let data = cairn_data::diff(&rows(store, &va.run)?, &rows(store, &vb.run)?, examples);
    let metric_names: std::collections::BTreeSet<&String> =
        va.run.metrics.keys().chain(vb.run.metrics.keys()).collect();
    let metrics = metric_names
        .into_iter()
        .map(|m| {
            let (x, y) = (
                va.run.metrics.get(m).copied(),
                vb.run.metrics.get(m).copied(),
            );
            MetricChange {
                name: m.clone(),
                a: x,
                b: y,
                delta: x.zip(y).map(|(x, y)| y - x),
            }
        })
        .collect();
    let env = |r: &RunManifest| -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        flatten(
            "",
            &serde_json::to_value(&r.environment).unwrap_or(Value::Null),
            &mut out,
        );
        out
    };
    Ok(LineageDiff {
        a: va.name.to_string(),
        b: vb.name.to_string(),
        common_ancestor: common.map(|c| label(&c)),
        chain_a: path(&chain_a),
        chain_b: path(&chain_b),
        params: changes(&params(&ra), &params(&rb)),
        additions_a: names_of(&ra),
        additions_b: names_of(&rb),
        data,
        metrics,
        reports: changes(
            &report_summary(store, &va.run)?,
            &report_summary(store, &vb.run)?,
        ),
        environment: changes(&env(&va.run), &env(&vb.run)),
    })
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

fn short_value(v: &Value) -> String {
    match v {
        Value::String(s) if s.starts_with(cairn_store::REF_PREFIX) => {
            s.chars().skip(7).take(12).collect()
        }
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `cairn log` as text.
pub fn render_log(entries: &[LogEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        if let Some(problem) = &e.damaged {
            out.push_str(&format!(
                "{}  DAMAGED  run {}\n    {problem}\n",
                e.version, e.run
            ));
            continue;
        }
        let parent = e
            .parent
            .as_deref()
            .map(|p| format!(" from {p}"))
            .unwrap_or_default();
        let forced = if e.forced { " (forced)" } else { "" };
        let mode = e.mode.map(|m| m.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{}  {}  {mode}{parent}  [{}]\n",
            e.version, e.date, e.backend
        ));
        out.push_str(&format!(
            "    f1 {}  fpr {}  fnr {}  gate {}{forced}\n",
            opt(e.f1),
            opt(e.fpr),
            opt(e.fnr),
            e.decision.map(|d| d.to_string()).unwrap_or_default()
        ));
        if let Some((name, id)) = &e.encoder {
            out.push_str(&format!("    encoder {name} {}\n", id.short()));
        }
        if let Some(c) = &e.cause {
            let object = c
                .object
                .map(|o| format!(" {}", o.short()))
                .unwrap_or_default();
            out.push_str(&format!("    cause {}{object}: {}\n", c.kind, c.note));
        }
        for (name, rows) in &e.additions {
            out.push_str(&format!("    + {name} ({rows} rows)\n"));
        }
    }
    out
}

/// `  key: a -> b` lines.
fn push_changes(out: &mut String, changes: &[ParamChange]) {
    for c in changes {
        out.push_str(&format!(
            "  {}: {} -> {}\n",
            c.key,
            short_value(&c.a),
            short_value(&c.b)
        ));
    }
}

/// `cairn diff` as text.
pub fn render_diff(d: &LineageDiff) -> String {
    let mut out = format!("{} -> {}\n", d.a, d.b);
    match &d.common_ancestor {
        Some(c) => out.push_str(&format!("common ancestor: {c}\n")),
        None => out.push_str("common ancestor: none (unrelated versions; compared anyway)\n"),
    }
    let chain = |c: &[String]| match c.len() {
        0 => "(the ancestor itself)".to_string(),
        n if n > 8 => format!(
            "{} -> … ({} more) … -> {}",
            c[..3].join(" -> "),
            n - 6,
            c[n - 3..].join(" -> ")
        ),
        _ => c.join(" -> "),
    };
    out.push_str(&format!(
        "  {}: {}\n  {}: {}\n",
        d.a,
        chain(&d.chain_a),
        d.b,
        chain(&d.chain_b)
    ));
    out.push_str("\nparameters:\n");
    if d.params.is_empty() {
        out.push_str("  (no differences)\n");
    }
    push_changes(&mut out, &d.params);
    let files = |f: &[String]| {
        if f.is_empty() {
            "none".to_string()
        } else {
            f.join(", ")
        }
    };
    out.push_str("\nadditions:\n");
    out.push_str(&format!("  {}: {}\n", d.a, files(&d.additions_a)));
    out.push_str(&format!("  {}: {}\n", d.b, files(&d.additions_b)));
    out.push_str("\ntraining data:\n");
    for line in d.data.to_string().lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nmetrics:\n");
    for m in &d.metrics {
        let delta = m
            .delta
            .map(|x| format!("{x:+.4}"))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "  {:<17} {} -> {}  ({delta})\n",
            m.name,
            opt(m.a),
            opt(m.b)
        ));
    }
    for (title, items) in [
        ("regression report", &d.reports),
        ("environment", &d.environment),
    ] {
        if !items.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            push_changes(&mut out, items);
        }
    }
    out
}

/// An input of a run, as `cairn show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct InputLine {
    pub role: String,
    pub name: String,
    pub object: String,
    pub size: u64,
}

/// The regression gate's verdict, as `cairn show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct GateLine {
    pub baseline: Option<String>,
    pub decision: cairn_spec::Decision,
    pub rule: String,
    pub regressions: u64,
    pub improvements: u64,
    pub examples: u64,
}

/// The gate's verdict in a stored regression report.
pub(crate) fn gate_line(r: &cairn_report::Report) -> GateLine {
    GateLine {
        baseline: r.baseline.clone(),
        decision: if r.decision.accepted() {
            cairn_spec::Decision::Accept
        } else {
            cairn_spec::Decision::Reject
        },
        rule: r.decision.rule.clone(),
        regressions: r.overall.regressions,
        improvements: r.overall.improvements,
        examples: r.overall.examples,
    }
}

/// Everything `cairn show` prints about a version.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    #[serde(rename = "ref")]
    pub reference: String,
    pub run_id: String,
    pub parent_version: Option<String>,
    pub run: RunManifest,
    pub recipe: Recipe,
    pub inputs: Vec<InputLine>,
    pub gate: Option<GateLine>,
    /// Production folders this version is deployed in now (`cairn deploy`).
    pub deployments: Vec<DeploymentLine>,
    /// The newest cross-backend snapshot (`cairn regress <ref> --backends …`).
    pub backends: Option<cairn_spec::BackendSnapshot>,
}

/// `cairn show --json`: the run manifest's own fields at the top level, plus what `show`
/// adds.
#[derive(Debug, Clone, Serialize)]
pub struct ShowDocument<'a> {
    #[serde(flatten)]
    pub manifest: &'a RunManifest,
    #[serde(rename = "ref")]
    pub reference: &'a str,
    pub run: &'a str,
    pub parent_version: Option<&'a str>,
    pub resolved_recipe: &'a Recipe,
    pub inputs: &'a [InputLine],
    pub gate: Option<&'a GateLine>,
    pub deployments: &'a [DeploymentLine],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backends: Option<&'a cairn_spec::BackendSnapshot>,
}

impl Provenance {
    pub fn document(&self) -> ShowDocument<'_> {
        ShowDocument {
            manifest: &self.run,
            reference: &self.reference,
            run: &self.run_id,
            parent_version: self.parent_version.as_deref(),
            resolved_recipe: &self.recipe,
            inputs: &self.inputs,
            gate: self.gate.as_ref(),
            deployments: &self.deployments,
            backends: self.backends.as_ref(),
        }
    }
}

/// A production folder a version is deployed in.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentLine {
    pub target: String,
    /// When it was put there (RFC 3339).
    pub since: String,
    pub action: cairn_spec::DeployAction,
}

/// The published versions that recorded `id` as one of their outputs, with the output's
/// name (`weights`, `onnx`, …): what `cairn reproduce --repair` can make again. Run
/// manifests that cannot be read are skipped — this is asked of damaged stores.
pub fn versions_with_output(
    store: &Store,
    id: &ObjectId,
) -> Result<Vec<(String, &'static str)>, LineageError> {
    let mut found = Vec::new();
    for (name, run) in store.list_refs()? {
        if !name.is_immutable() {
            continue;
        }
        let Ok(manifest) = store.get_manifest::<RunManifest>(&run) else {
            continue;
        };
        for (output, object) in manifest.outputs.named() {
            if object == *id {
                found.push((name.to_string(), output));
            }
        }
    }
    Ok(found)
}

/// The production folders whose newest deployment record holds `run`, by folder.
pub fn deployments(store: &Store, run: ObjectId) -> Result<Vec<DeploymentLine>, LineageError> {
    let mut out = Vec::new();
    for (name, id) in store.list_refs()? {
        if !name.as_str().starts_with(cairn_spec::DEPLOYMENT_REF_PREFIX) {
            continue;
        }
        let d: cairn_spec::Deployment = store.get_manifest(&id)?;
        if d.run == Some(run) {
            out.push(DeploymentLine {
                target: d.target,
                since: d.time,
                action: d.action,
            });
        }
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}

/// The cross-backend table as text (`cairn show`, `cairn regress --backends`).
pub fn render_backends(s: &cairn_spec::BackendSnapshot) -> String {
    let mut out = format!(
        "backends    {} on {} test rows at threshold {}, trained on {}; deviations against {}\n",
        s.version, s.examples, s.threshold, s.trained_on, s.reference
    );
    out.push_str(&format!(
        "  {:<8} {:>7} {:>7} {:>7} {:>12} {:>6}  {}\n",
        "backend", "f1", "fpr", "fnr", "max |Δ|", "flips", "on"
    ));
    for row in &s.rows {
        if !row.available {
            out.push_str(&format!("  {:<8} unavailable: {}\n", row.backend, row.note));
            continue;
        }
        let metric = |k: &str| {
            row.metrics
                .get(k)
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default()
        };
        let worst = row.max_deviation();
        out.push_str(&format!(
            "  {:<8} {:>7} {:>7} {:>7} {:>12.2e} {:>6}  {}\n",
            row.backend,
            metric("f1"),
            metric("fpr"),
            metric("fnr"),
            worst,
            row.flips.unwrap_or(0),
            row.note
        ));
    }
    out
}

/// The full provenance of one version.
pub fn provenance(store: &Store, reference: &str) -> Result<Provenance, LineageError> {
    let v = version(store, reference)?;
    let recipe: Recipe = store.get_manifest(&v.run.recipe)?;
    let names = version_names(store)?;
    let inputs = recipe
        .inputs()
        .into_iter()
        .map(|(role, o)| InputLine {
            role: role.to_string(),
            name: o.name.clone(),
            object: o.object.to_hex(),
            size: o.size,
        })
        .collect();
    let gate = stored_report(store, &v.run)?.map(|r| gate_line(&r));
    let deployments = deployments(store, v.run_id)?;
    Ok(Provenance {
        backends: cairn_spec::BackendSnapshot::of_run(store, &v.run_id)?.map(|(_, s)| s),
        deployments,
        reference: v.name.to_string(),
        run_id: v.run_id.to_hex(),
        parent_version: v.run.parent.map(|p| {
            names
                .get(&p)
                .cloned()
                .unwrap_or_else(|| format!("run {}", p.short()))
        }),
        run: v.run,
        recipe,
        inputs,
        gate,
    })
}

/// `cairn show` as text.
pub fn render_provenance(p: &Provenance) -> String {
    let r = &p.run;
    let env = &r.environment;
    let mut out = format!("{}  run {}\n", p.reference, p.run_id);
    out.push_str(&format!("  recipe      {}\n", r.recipe));
    let parent = p
        .parent_version
        .as_deref()
        .map(|v| format!(" from {v}"))
        .unwrap_or_default();
    out.push_str(&format!("  mode        {}{parent}\n", r.mode));
    if let Some(c) = &p.recipe.cause {
        let object = c.object.map(|o| format!(" {o}")).unwrap_or_default();
        let note = if c.note.is_empty() {
            String::new()
        } else {
            format!(": {}", c.note)
        };
        out.push_str(&format!("  cause       {}{object}{note}\n", c.kind));
    }
    out.push_str(&format!(
        "  started     {} ({} ms)\n",
        r.started, r.duration_ms
    ));
    out.push_str(&format!(
        "  environment cairn {}, {} on {}, {} thread(s)\n",
        env.cairn_version, env.backend, env.device, env.threads
    ));
    if let Some(hardware) = &r.hardware {
        out.push_str(&format!("  hardware    {hardware}\n"));
    }
    if let Some(class) = &r.reproducibility {
        out.push_str(&format!(
            "  reproduces  {class} on the same backend, device and thread count\n"
        ));
    }
    let metrics: Vec<String> = ["accuracy", "precision", "recall", "f1", "fpr", "fnr"]
        .iter()
        .filter_map(|k| r.metrics.get(*k).map(|v| format!("{k} {v:.4}")))
        .collect();
    out.push_str(&format!("  test        {}\n", metrics.join(", ")));
    if let Some(g) = &p.gate {
        let forced = if r.forced {
            ", registered with --force"
        } else {
            ""
        };
        out.push_str(&format!(
            "  gate        {} ({}) against {}: {} regressions, {} improvements of {}{forced}\n",
            g.decision,
            g.rule,
            g.baseline.as_deref().unwrap_or("nothing"),
            g.regressions,
            g.improvements,
            g.examples
        ));
    }
    let t = &p.recipe.train;
    out.push_str(&format!(
        "  training    {} {:?}, {} epochs, batch {}, lr {}, seed {}\n",
        p.recipe.model.architecture,
        p.recipe.model.sizes,
        t.epochs,
        t.batch_size,
        t.learning_rate,
        t.seed
    ));
    if let Some(e) = &p.recipe.model.pretrained {
        let how = match t.trainable_layers {
            Some(0) => "frozen".to_string(),
            Some(k) => format!("top {k} layer(s) trained"),
            None => "all layers trained".to_string(),
        };
        out.push_str(&format!(
            "  encoder     {} {} ({how})\n",
            e.weights.name, e.weights.object
        ));
    }
    if let Some(threshold) = r.threshold {
        let why = p
            .recipe
            .evaluate
            .target_fpr
            .map(|f| format!(" (chosen for validation FPR <= {f})"))
            .unwrap_or_default();
        out.push_str(&format!("  threshold   P(attack) >= {threshold:.6}{why}\n"));
    }
    out.push_str("  inputs\n");
    for i in &p.inputs {
        out.push_str(&format!(
            "    {:<17} {}  {:>9} bytes  {}\n",
            i.role, i.object, i.size, i.name
        ));
    }
    out.push_str("  outputs\n");
    for (name, id) in r.outputs.named() {
        out.push_str(&format!("    {name:<15} {id}\n"));
    }
    if let Some(parity) = &r.onnx_parity {
        out.push_str(&format!(
            "  onnx parity max |onnx - burn| {:.2e} (tolerance {:.0e}), {} of {} decisions differ, {}\n",
            parity.max_deviation(),
            parity.tolerance,
            parity.binary_disagreements,
            parity.examples,
            parity.runtime
        ));
    }
    for d in &p.deployments {
        let how = if d.action == cairn_spec::DeployAction::Rollback {
            " (rolled back)"
        } else {
            ""
        };
        out.push_str(&format!(
            "  deployed    {} since {}{how}\n",
            d.target, d.since
        ));
    }
    if let Some(b) = &p.backends {
        for line in render_backends(b).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}
