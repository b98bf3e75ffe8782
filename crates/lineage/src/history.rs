//! A model's history: every run of it the store holds — the registered versions and the runs
//! the gate rejected (stored, with no ref) — oldest first, each with what it added, how the
//! gate judged it, its per-family recall and the red-team tests it took. `cairn graph
//! <model>` and `cairn report <model> --html` draw it.

use std::collections::{BTreeMap, HashMap};

use cairn_redteam::RedteamResult;
use cairn_spec::{Recipe, RunManifest, RunState};
use cairn_store::{ObjectId, Store};
use serde::{Deserialize, Serialize};

use crate::{GateLine, LineageError, gate_line, optional_manifest, stored_report, version_names};

/// How the regression gate left a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateOutcome {
    /// Accepted and registered.
    Accepted,
    /// Rejected, and registered anyway (`cairn run --force`).
    Forced,
    /// Rejected: stored, with no version ref.
    Rejected,
}

impl GateOutcome {
    pub fn of(run: &RunManifest) -> Self {
        match (run.status, run.forced) {
            (RunState::Rejected, _) => GateOutcome::Rejected,
            (RunState::Registered, true) => GateOutcome::Forced,
            (RunState::Registered, false) => GateOutcome::Accepted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GateOutcome::Accepted => "accepted",
            GateOutcome::Forced => "forced",
            GateOutcome::Rejected => "rejected",
        }
    }
}

/// What a run was: a retrain, a fine-tune, or a fine-tune a red-team test asked for.
pub fn mode_label(run: &RunManifest, recipe: &Recipe) -> String {
    match &recipe.cause {
        Some(cause) if cause.kind == cairn_spec::CauseKind::Redteam => "red-team retrain".into(),
        _ => run.mode.to_string(),
    }
}

/// One additions file of a dataset (its name, valid rows, rows per family and per source)
/// and its object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRows {
    #[serde(flatten)]
    pub file: cairn_report::AddedFile,
    pub object: ObjectId,
}

/// The base files of a dataset, collapsed into one: how many, how many rows in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaseRows {
    /// The dataset they were merged into.
    pub dataset: ObjectId,
    pub files: usize,
    pub rows: u64,
    /// The base files' objects, sorted: two datasets on the same base share it.
    pub objects: Vec<ObjectId>,
}

impl BaseRows {
    /// `10 files, 20,150 rows`.
    pub fn describe(&self) -> String {
        format!(
            "{} file{}, {} rows",
            self.files,
            if self.files == 1 { "" } else { "s" },
            thousands(self.rows)
        )
    }
}

/// A red-team test a version took: the stored result and the version's line of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedteamRate {
    pub test: ObjectId,
    #[serde(flatten)]
    pub line: cairn_report::RedteamLine,
}

/// One run of a model.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// `name@version`: the version it holds or, rejected, would have held.
    pub version: String,
    pub run_id: ObjectId,
    pub gate: GateOutcome,
    pub mode: String,
    /// The parent's `name@version` (a run id's short form when it holds none).
    pub parent: Option<String>,
    pub started: String,
    pub metrics: BTreeMap<String, f64>,
    /// Test-set recall per family, from the stored evaluation.
    pub family_recall: BTreeMap<String, f64>,
    pub gate_line: Option<GateLine>,
    pub backend: String,
    pub base: Option<BaseRows>,
    pub additions: Vec<FileRows>,
    pub redteam: Vec<RedteamRate>,
    /// The newest cross-backend table (`cairn regress <ref> --backends …`), a line per
    /// backend: `onnx 0 flips`, `wgpu unavailable`.
    pub backends: Vec<String>,
    #[serde(skip)]
    pub run: RunManifest,
    #[serde(skip)]
    pub recipe: Recipe,
}

impl HistoryEntry {
    /// A name for HTML anchors and file names: the version, and the run for a rejected one
    /// (a version can be rejected more than once).
    pub fn anchor(&self) -> String {
        match self.gate {
            GateOutcome::Rejected => format!("{}-rejected-{}", self.version, self.run_id.short()),
            _ => self.version.clone(),
        }
    }
}

/// A model's runs, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub model: String,
    pub entries: Vec<HistoryEntry>,
}

/// The part of a stored evaluation the history reads.
#[derive(Deserialize)]
struct StoredEvaluation {
    families: Vec<String>,
    metrics: StoredMetrics,
}

#[derive(Deserialize)]
struct StoredMetrics {
    #[serde(default)]
    family_recall: BTreeMap<usize, f64>,
}

/// The two fields of a stored example the history counts by.
#[derive(Deserialize)]
struct RowKinds {
    family: String,
    source: String,
}

/// Valid rows of a stored JSONL input, counted per family and per source (lines that do not
/// parse were refused by validation and are not counted).
fn file_rows(
    store: &Store,
    name: &str,
    object: ObjectId,
    rows: u64,
) -> Result<FileRows, LineageError> {
    let bytes = store.read(&object)?;
    let mut families = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for line in bytes.split(|&b| b == b'\n') {
        if let Ok(row) = serde_json::from_slice::<RowKinds>(line) {
            *families.entry(row.family).or_insert(0) += 1;
            *sources.entry(row.source).or_insert(0) += 1;
        }
    }
    Ok(FileRows {
        file: cairn_report::AddedFile {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            rows,
            families,
            sources,
        },
        object,
    })
}

/// What a run's history entry says, read from the store.
pub(crate) fn entry(
    store: &Store,
    names: &HashMap<ObjectId, String>,
    run_id: ObjectId,
    run: RunManifest,
    redteam: &[(ObjectId, RedteamResult)],
) -> Result<HistoryEntry, LineageError> {
    let recipe: Recipe = store.get_manifest(&run.recipe)?;
    let dataset = optional_manifest::<cairn_data::DatasetManifest>(store, &run.outputs.dataset)?;
    let mut base = None;
    let mut additions = Vec::new();
    if let Some(d) = &dataset {
        let mut objects = Vec::new();
        let mut rows = 0;
        for input in &d.inputs {
            match input.role.as_str() {
                "base" => {
                    objects.push(input.object);
                    rows += input.rows;
                }
                "addition" => {
                    additions.push(file_rows(store, &input.name, input.object, input.rows)?)
                }
                _ => {}
            }
        }
        objects.sort();
        base = Some(BaseRows {
            dataset: run.outputs.dataset,
            files: objects.len(),
            rows,
            objects,
        });
    }
    let family_recall = match store.read(&run.outputs.evaluation) {
        Ok(bytes) => match serde_json::from_slice::<StoredEvaluation>(&bytes) {
            Ok(e) => e
                .metrics
                .family_recall
                .into_iter()
                .filter_map(|(i, r)| e.families.get(i).map(|f| (f.clone(), r)))
                .collect(),
            Err(_) => BTreeMap::new(),
        },
        Err(e) => return Err(e.into()),
    };
    let gate_line = stored_report(store, &run)?.map(|r| gate_line(&r));
    let version = names
        .get(&run_id)
        .cloned()
        .unwrap_or_else(|| format!("{}@{}", run.name, run.version));
    let redteam = redteam
        .iter()
        .flat_map(|(id, result)| {
            result
                .models
                .iter()
                .filter(|m| m.run == run_id)
                .map(|m| RedteamRate {
                    test: *id,
                    line: cairn_report::RedteamLine {
                        suite: result.suite_name.clone(),
                        started: result.started.clone(),
                        attacks: m.attacks,
                        detected: m.detected,
                        detection_rate: m.detection_rate,
                        probes: m.probes,
                        false_alarms: m.false_alarms,
                    },
                })
        })
        .collect();
    let backends = cairn_spec::BackendSnapshot::of_run(store, &run_id)?
        .map(|(_, snapshot)| snapshot.summary())
        .unwrap_or_default();
    Ok(HistoryEntry {
        backends,
        version,
        run_id,
        gate: GateOutcome::of(&run),
        mode: mode_label(&run, &recipe),
        parent: run
            .parent
            .map(|p| names.get(&p).cloned().unwrap_or_else(|| p.short())),
        started: run.started.clone(),
        metrics: run.metrics.clone(),
        family_recall,
        gate_line,
        backend: run.environment.backend.clone(),
        base,
        additions,
        redteam,
        run,
        recipe,
    })
}

/// Every run of `model` in the store — registered versions and rejected runs — oldest first
/// (by start time, then version). A rejected run repeated with the same recipe is listed once,
/// as its latest attempt.
pub fn history(store: &Store, model: &str) -> Result<History, LineageError> {
    let names = version_names(store)?;
    let mut runs: Vec<(ObjectId, RunManifest)> = Vec::new();
    let mut rejected: BTreeMap<ObjectId, (ObjectId, RunManifest)> = BTreeMap::new();
    let mut redteam = Vec::new();
    for (id, kind) in store.manifests_of(&["run", "redteam"])? {
        match kind.as_str() {
            "run" => {
                let run: RunManifest = store.get_manifest(&id)?;
                if run.name != model {
                    continue;
                }
                if names.contains_key(&id) {
                    runs.push((id, run));
                } else if run.status == RunState::Rejected {
                    let newer = rejected
                        .get(&run.recipe)
                        .is_none_or(|(_, have)| have.started < run.started);
                    if newer {
                        rejected.insert(run.recipe, (id, run));
                    }
                }
            }
            "redteam" => redteam.push((id, store.get_manifest::<RedteamResult>(&id)?)),
            _ => {}
        }
    }
    if runs.is_empty() && rejected.is_empty() {
        return Err(LineageError::UnknownModel(model.to_string()));
    }
    redteam.sort_by(|a, b| (&a.1.started, a.0).cmp(&(&b.1.started, b.0)));
    runs.extend(rejected.into_values());
    runs.sort_by_cached_key(|(id, run)| chronological(&run.started, &run.version, *id));
    let entries = runs
        .into_iter()
        .map(|(id, run)| entry(store, &names, id, run, &redteam))
        .collect::<Result<_, _>>()?;
    Ok(History {
        model: model.to_string(),
        entries,
    })
}

/// The order of runs in a history: by start time (to the second), then by version as
/// semver orders it (runs started within one second), then by run.
pub(crate) fn chronological(
    started: &str,
    version: &str,
    run: ObjectId,
) -> (String, Option<semver::Version>, ObjectId) {
    (
        started.to_string(),
        semver::Version::parse(version).ok(),
        run,
    )
}

/// Whether `reference` names a model (some version `reference@…` is registered, or a run of
/// it is stored) rather than a ref.
pub fn is_model(store: &Store, reference: &str) -> Result<bool, LineageError> {
    if reference.contains('@') {
        return Ok(false);
    }
    if let Ok(name) = reference.parse::<cairn_store::RefName>()
        && store.get_ref(&name)?.is_some()
    {
        return Ok(false);
    }
    Ok(store
        .list_refs()?
        .iter()
        .any(|(name, _)| name.is_immutable() && name.path() == reference))
}

/// 20150 → `20,150`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
