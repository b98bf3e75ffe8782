//! `run_recipe` (with its cache), the `run` and `plan` wrappers for experiment files,
//! `reproduce`, and what reads a registered run back.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use cairn_spec::{
    Decision, Environment, Ingest, LoadedExperiment, Outputs, Recipe, RunManifest, RunState,
};
use cairn_store::{Expect, ObjectId, RefName, Store};
use serde::Serialize;

use crate::execute::execute;
use crate::{Event, LoadedModel, PipelineError, Stage};
use cairn_model::{Backend, SelectError};

/// How a `cairn run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// A new version was registered.
    Registered,
    /// `name@version` already holds a run of this recipe: nothing was done.
    UpToDate,
    /// The regression gate refused the version (stored, not registered).
    Rejected,
    /// Accepted (or forced) and stored, with no ref set ([`RunOptions::stored_only`]).
    Stored,
}

/// What `run_recipe` (and `cairn run`) did.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub status: RunStatus,
    pub reference: RefName,
    pub run: ObjectId,
    pub recipe: ObjectId,
    pub manifest: RunManifest,
    /// Where `metadata.json` was written (by the experiment wrapper, after registration).
    pub metadata: Option<PathBuf>,
    /// The regression report (absent when nothing ran).
    pub report: Option<cairn_report::Report>,
}

/// The machine-readable summary of a [`RunResult`] (`cairn run --json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary<'a> {
    pub status: RunStatus,
    #[serde(rename = "ref")]
    pub reference: &'a str,
    pub run: String,
    pub recipe: String,
    pub metrics: &'a BTreeMap<String, f64>,
    pub decision: Option<&'a cairn_report::Decision>,
    pub forced: bool,
}

impl RunResult {
    pub fn summary(&self) -> RunSummary<'_> {
        RunSummary {
            status: self.status,
            reference: self.reference.as_str(),
            run: self.run.to_hex(),
            recipe: self.recipe.to_hex(),
            metrics: &self.manifest.metrics,
            decision: self.report.as_ref().map(|r| &r.decision),
            forced: self.manifest.forced,
        }
    }
}

/// How to run a recipe.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Register the version even if the regression gate rejects it (recorded in the run).
    pub force: bool,
    /// Store the run but set no ref here: the caller publishes it elsewhere (a worker sets
    /// the version's ref on the remote, which is the only publication that counts).
    pub stored_only: bool,
}

impl RunOptions {
    /// Registered here, gate or no gate when `force`: what `cairn run` does.
    pub fn forced(force: bool) -> Self {
        RunOptions {
            force,
            ..RunOptions::default()
        }
    }
}

/// A resolved recipe and its hash (`cairn plan`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanResult {
    /// The recipe hash (hex).
    pub recipe: String,
    pub resolved: Recipe,
    /// Whether the recipe and its inputs were stored (`cairn plan --save`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub saved: bool,
}

/// Resolves an experiment; the environment's device is the one its backend computes on.
pub fn resolve_experiment(
    store: Option<&Store>,
    experiment: &LoadedExperiment,
    ingest: Ingest,
    cairn_version: &str,
) -> Result<Recipe, PipelineError> {
    // A pretrained encoder's config.json is checked before any input is stored.
    let model = &experiment.experiment.model;
    if let Some(p) = &model.pretrained {
        let path = experiment.base_dir().join(&p.config);
        let bytes = std::fs::read(&path).map_err(|e| {
            experiment.error_at(
                "model",
                "pretrained",
                format!("cannot read `{}`: {e}", path.display()),
            )
        })?;
        crate::execute::check_pretrained_config(
            &model.architecture,
            &model.sizes,
            &bytes,
            &p.config,
        )
        .map_err(|m| experiment.error_at("model", "pretrained", m))?;
    }
    let train = &experiment.experiment.train;
    Backend::select(&train.backend, train.device.as_deref()).map_err(|e| {
        let key = match e {
            SelectError::BadDevice(_) | SelectError::WrongDevice { .. } => "device",
            _ => "backend",
        };
        experiment.error_at("train", key, e.to_string())
    })?;
    let mut recipe = experiment.resolve(store, ingest, cairn_version)?;
    settle_device(&mut recipe)?;
    Ok(recipe)
}

/// Spells the recipe's device canonically (the backend's default when none was written), so
/// `cuda` and `cuda:0` are one recipe.
fn settle_device(recipe: &mut Recipe) -> Result<(), PipelineError> {
    let written = std::mem::take(&mut recipe.environment.device);
    let backend = Backend::select(
        &recipe.train.backend,
        (!written.is_empty()).then_some(written.as_str()),
    )?;
    recipe.environment.device = backend.device_name();
    Ok(())
}

/// Builds a recipe made in code (inputs that are store objects or files, a cause) for the
/// architectures and backends of this build; the environment's device is the backend's.
pub fn build_recipe(
    store: &Store,
    builder: &cairn_spec::RecipeBuilder,
    cairn_version: &str,
) -> Result<Recipe, PipelineError> {
    let mut recipe = builder.build_checked(
        Some(store),
        Ingest::Store,
        cairn_version,
        &crate::architectures::schemas(),
    )?;
    settle_device(&mut recipe)?;
    Ok(recipe)
}

/// Resolves an experiment without running it or writing anything.
pub fn plan(
    store: Option<&Store>,
    path: &Path,
    cairn_version: &str,
) -> Result<PlanResult, PipelineError> {
    let loaded = LoadedExperiment::load(path, &crate::architectures::schemas())?;
    let recipe = resolve_experiment(store, &loaded, Ingest::HashOnly, cairn_version)?;
    Ok(PlanResult {
        recipe: recipe.id()?.to_hex(),
        resolved: recipe,
        saved: false,
    })
}

/// Resolves an experiment and stores its inputs and recipe, so that `run_stored` (`cairn
/// run --recipe`) can run it later, here or on another machine, with no file on disk.
pub fn save_plan(
    store: &Store,
    path: &Path,
    cairn_version: &str,
) -> Result<PlanResult, PipelineError> {
    let loaded = LoadedExperiment::load(path, &crate::architectures::schemas())?;
    let recipe = resolve_experiment(Some(store), &loaded, Ingest::Store, cairn_version)?;
    let id = store.put_manifest(&recipe)?;
    Ok(PlanResult {
        recipe: id.to_hex(),
        resolved: recipe,
        saved: true,
    })
}

fn version_ref(recipe: &Recipe) -> Result<RefName, PipelineError> {
    recipe.version_ref().map_err(|e| PipelineError::Invalid {
        field: "[experiment] name/version".into(),
        problem: e.to_string(),
    })
}

/// The run a version name points to, if it is one.
pub fn load_run(
    store: &Store,
    reference: &str,
) -> Result<(RefName, ObjectId, RunManifest), PipelineError> {
    let name: RefName = reference
        .parse()
        .map_err(|_| PipelineError::UnknownVersion(reference.to_string()))?;
    let id = store
        .get_ref(&name)?
        .ok_or_else(|| PipelineError::UnknownVersion(reference.to_string()))?;
    let manifest: RunManifest = store.get_manifest(&id)?;
    Ok((name, id, manifest))
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// `cairn run x.toml`: resolve the file into a recipe (inputs ingested), [`run_recipe`] it,
/// then write `<[export] dir>/<name>/<version>/metadata.json` when it was registered.
pub fn run(
    store: &Store,
    path: &Path,
    cairn_version: &str,
    force: bool,
    events: &mut dyn FnMut(Event),
) -> Result<RunResult, PipelineError> {
    let loaded = LoadedExperiment::load(path, &crate::architectures::schemas())?;
    let dir = Path::new(&loaded.experiment.export.dir);
    let metadata_dir = dir
        .join(&loaded.experiment.experiment.name)
        .join(&loaded.experiment.experiment.version);
    creatable(&metadata_dir)?;
    check_files(store, &loaded, cairn_version)?;
    let recipe = resolve_experiment(Some(store), &loaded, Ingest::Store, cairn_version)?;
    run_with_metadata(store, &recipe, Some(dir), force, cairn_version, events)
}

/// [`run_recipe`] as `cairn run` does it (`force` registers a version the gate rejected),
/// then `metadata.json` under `metadata_dir` when given.
fn run_with_metadata(
    store: &Store,
    recipe: &Recipe,
    metadata_dir: Option<&Path>,
    force: bool,
    cairn_version: &str,
    events: &mut dyn FnMut(Event),
) -> Result<RunResult, PipelineError> {
    let mut result = run_recipe(
        store,
        recipe,
        RunOptions::forced(force),
        cairn_version,
        events,
    )?;
    if let Some(dir) = metadata_dir {
        crate::pause_point("metadata");
        result.metadata = derive_metadata(dir, recipe, &result)?;
    }
    Ok(result)
}

/// Checks that the model fits the machine, then the experiment's data files as its run
/// will (validation, merge, enough rows of both labels), before any of them is stored: a
/// run that fails here writes nothing to the store.
fn check_files(
    store: &Store,
    loaded: &LoadedExperiment,
    cairn_version: &str,
) -> Result<(), PipelineError> {
    let recipe = resolve_experiment(Some(store), loaded, Ingest::HashOnly, cairn_version)?;
    let builder = loaded.builder(Some(store))?;
    let read = |source: &cairn_spec::InputSource| match source {
        cairn_spec::InputSource::File { path, name } => Ok(cairn_data::Input {
            name: name.clone(),
            bytes: std::fs::read(path).map_err(|e| PipelineError::io(path, e))?,
        }),
        cairn_spec::InputSource::Object { id, name } => Ok(cairn_data::Input {
            name: name.clone(),
            bytes: store.read(id)?,
        }),
    };
    let all = |sources: &[cairn_spec::InputSource]| {
        sources
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, PipelineError>>()
    };
    let taxonomy = match &builder.taxonomy {
        Some(source) => {
            let file = read(source)?;
            cairn_data::Taxonomy::parse(&String::from_utf8_lossy(&file.bytes), &file.name)?
        }
        None => cairn_data::Taxonomy::builtin(),
    };
    // What does not fit the machine is refused before the data is read.
    crate::execute::check_fits(&recipe, &taxonomy)
        .map_err(|(key, message)| loaded.error_at("model", &key, message))?;
    let inputs = cairn_data::MergeInputs {
        base: all(&builder.base)?,
        additions: all(&builder.additions)?,
    };
    let Some(test) = &builder.test else {
        return Ok(());
    };
    crate::stages::data::checked(&recipe, &inputs, read(test)?, &taxonomy)?;
    Ok(())
}

/// Fails, naming the path in the way, when `dir` cannot be created because a file sits
/// where one of its folders would go: checked before any work, so a run is not published
/// and then unable to write its `metadata.json`.
fn creatable(dir: &Path) -> Result<(), PipelineError> {
    for ancestor in dir.ancestors() {
        match std::fs::metadata(ancestor) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(PipelineError::Invalid {
                    field: "[export] dir".into(),
                    problem: format!(
                        "`{}` is a file where the folder for `{}` must go (move it away or set another [export] dir)",
                        ancestor.display(),
                        dir.display()
                    ),
                });
            }
            Err(_) => continue,
        }
    }
    Ok(())
}

/// `metadata.json` is derived from a registered version: written when the version is
/// registered, and rewritten by the rerun that finds it up to date when it is missing or
/// stale (a crash or a failure after the version was published). `None` when the run was
/// not registered, or the file already holds what it should.
fn derive_metadata(
    dir: &Path,
    recipe: &Recipe,
    result: &RunResult,
) -> Result<Option<PathBuf>, PipelineError> {
    if result.status == RunStatus::Rejected {
        return Ok(None);
    }
    let path = dir
        .join(&recipe.name)
        .join(&recipe.version)
        .join("metadata.json");
    // An up-to-date version's recipe is `recipe` (another recipe would have been refused).
    let text = metadata_json(recipe, &result.manifest, result.run)?;
    if result.status == RunStatus::UpToDate
        && std::fs::read_to_string(&path).is_ok_and(|have| have == text)
    {
        return Ok(None);
    }
    write_metadata(&path, &text)?;
    Ok(Some(path))
}

/// Re-derives `name/latest`: the highest registered version of the model (registered
/// includes `--force`d ones; a rejected run has no version ref). It only ever names a
/// published version, so it never moves backwards or past the gate, and a run that died
/// between publishing its version and moving `latest` is corrected by the next run of the
/// model (or the rerun that finds it up to date). Returns the ref it points to, if any.
pub fn settle_latest(store: &Store, name: &str) -> Result<Option<RefName>, PipelineError> {
    let latest = cairn_spec::latest_ref(name).map_err(|e| PipelineError::Invalid {
        field: "[experiment] name".into(),
        problem: e.to_string(),
    })?;
    // Compare-and-swap against what was read; a concurrent run moving it too makes us
    // read again, so the last writer always wrote the highest version.
    loop {
        let versions = cairn_spec::registered_versions(store, name)?;
        let Some((_, highest, run)) = versions.into_iter().next_back() else {
            return Ok(None);
        };
        let current = store.get_ref(&latest)?;
        if current == Some(run) {
            return Ok(Some(highest));
        }
        let expect = Expect::current(current);
        match store.set_ref(&latest, run, expect) {
            Ok(_) => return Ok(Some(highest)),
            Err(cairn_store::StoreError::RefConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `cairn run --recipe <hash>`: run a recipe already in the store (from `cairn plan --save`,
/// or built from objects); `metadata.json` goes under `metadata_dir` when given.
pub fn run_stored(
    store: &Store,
    recipe_id: &ObjectId,
    metadata_dir: Option<&Path>,
    force: bool,
    cairn_version: &str,
    events: &mut dyn FnMut(Event),
) -> Result<RunResult, PipelineError> {
    let recipe: Recipe = store.get_manifest(recipe_id)?;
    // A recipe written by an older cairn may re-encode to another id; running it would
    // register a run under a recipe nobody asked for.
    let reencoded = recipe.id()?;
    if reencoded != *recipe_id {
        return Err(PipelineError::Invalid {
            field: format!("recipe {recipe_id}"),
            problem: format!(
                "it re-encodes to {reencoded} (it was written by an older cairn; plan its experiment again)"
            ),
        });
    }
    if let Some(dir) = metadata_dir {
        creatable(&dir.join(&recipe.name).join(&recipe.version))?;
    }
    run_with_metadata(store, &recipe, metadata_dir, force, cairn_version, events)
}

/// The core of every run: store the recipe → (up to date?) → execute (including the
/// regression gate) → register, or store the run unregistered when the gate rejects it
/// (unless `force`). Reads only the store: the recipe's inputs are objects.
/// The version `reference` if it is registered already: up to date when its recipe is
/// `recipe_id`, [`PipelineError::VersionTaken`] when it is another; `None` while it is free.
fn registered_already(
    store: &Store,
    reference: &RefName,
    recipe_id: ObjectId,
) -> Result<Option<RunResult>, PipelineError> {
    let Some(existing) = store.get_ref(reference)? else {
        return Ok(None);
    };
    let manifest: RunManifest = store.get_manifest(&existing)?;
    if manifest.recipe != recipe_id {
        return Err(PipelineError::VersionTaken {
            reference: reference.to_string(),
            existing: manifest.recipe.to_hex(),
            new: recipe_id.to_hex(),
        });
    }
    Ok(Some(RunResult {
        status: RunStatus::UpToDate,
        reference: reference.clone(),
        run: existing,
        recipe: recipe_id,
        manifest,
        metadata: None,
        report: None,
    }))
}

pub fn run_recipe(
    store: &Store,
    recipe: &Recipe,
    options: RunOptions,
    cairn_version: &str,
    events: &mut dyn FnMut(Event),
) -> Result<RunResult, PipelineError> {
    let recipe_id = store.put_manifest(recipe)?;
    let reference = version_ref(recipe)?;
    if let Some(done) = registered_already(store, &reference, recipe_id)? {
        settle_latest(store, &recipe.name)?;
        return Ok(done);
    }

    let started = now_rfc3339();
    let clock = Instant::now();
    let done = execute(store, recipe, recipe_id, events)?;
    let accepted = done.report.decision.accepted();
    let backend = crate::execute::backend(recipe)?;
    let manifest = RunManifest {
        recipe: recipe_id,
        name: recipe.name.clone(),
        version: recipe.version.clone(),
        mode: done.mode,
        parent: done.parent,
        outputs: Outputs {
            dataset: done.dataset,
            tokenizer: done.tokenizer,
            weights: done.weights,
            evaluation: done.evaluation,
            onnx: done.onnx.as_ref().map(|(id, _)| *id),
            report: Some(done.report_json),
            report_markdown: Some(done.report_markdown),
            features: done.features.clone(),
        },
        metrics: done.metrics.clone(),
        epochs: done.epochs.clone(),
        steps: done.steps.clone(),
        // Where it actually ran.
        environment: Environment {
            cairn_version: cairn_version.to_string(),
            backend: recipe.environment.backend.clone(),
            device: backend.device_name(),
            threads: recipe.environment.threads,
        },
        status: if accepted || options.force {
            RunState::Registered
        } else {
            RunState::Rejected
        },
        decision: if accepted {
            Decision::Accept
        } else {
            Decision::Reject
        },
        forced: !accepted && options.force,
        started,
        duration_ms: clock.elapsed().as_millis() as u64,
        train_examples_per_second: if done.train_seconds > 0.0 {
            (done.train_rows as f64 * recipe.train.epochs as f64) / done.train_seconds
        } else {
            0.0
        },
        onnx_parity: done.onnx.as_ref().map(|(_, p)| p.clone()),
        reproducibility: Some(crate::execute::reproducibility(backend)),
        hardware: Some(crate::execute::hardware(backend)),
        threshold: done.threshold,
    };
    let run = store.put_manifest(&manifest)?;
    if !accepted && !options.force {
        events(Event::Rejected {
            run,
            rule: done.report.decision.rule.clone(),
            reason: done.report.decision.reason.clone(),
        });
        return Ok(RunResult {
            status: RunStatus::Rejected,
            reference,
            run,
            recipe: recipe_id,
            manifest,
            metadata: None,
            report: Some(done.report),
        });
    }
    if options.stored_only {
        return Ok(RunResult {
            status: RunStatus::Stored,
            reference,
            run,
            recipe: recipe_id,
            manifest,
            metadata: None,
            report: Some(done.report),
        });
    }
    events(Event::Stage(Stage::Register, reference.to_string()));
    // Everything the version will name must be whole before it is published.
    store.verify_closure(&run)?;
    if let Err(e) = store.set_ref(&reference, run, Expect::Absent) {
        // Another run registered this version while we trained: the same recipe is the same
        // version (up to date, naming the run that won); another recipe is refused.
        if matches!(
            e,
            cairn_store::StoreError::RefConflict { .. }
                | cairn_store::StoreError::ImmutableRef { .. }
        ) && let Some(done) = registered_already(store, &reference, recipe_id)?
        {
            settle_latest(store, &recipe.name)?;
            return Ok(done);
        }
        return Err(e.into());
    }
    crate::pause_point("register");
    // The version ref was the commit point; what follows is derived from it.
    settle_latest(store, &recipe.name)?;
    events(Event::Registered {
        reference: reference.to_string(),
        run,
    });
    Ok(RunResult {
        status: RunStatus::Registered,
        reference,
        run,
        recipe: recipe_id,
        manifest,
        metadata: None,
        report: Some(done.report),
    })
}

#[derive(Serialize)]
struct Performance {
    accuracy: f64,
    fpr: f64,
    fnr: f64,
    f1: f64,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    version: &'a str,
    date: &'a str,
    description: &'a str,
    changes: &'a [String],
    performance: Performance,
    /// The operating point: P(attack) at or above it is an attack (absent: above 0.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_fpr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roc_auc: Option<f64>,
    run: String,
    recipe: String,
    mode: &'a str,
    onnx: Option<String>,
    tokenizer: String,
}

/// `metadata.json` of a run: version, date, changes, test performance and hashes.
pub(crate) fn metadata_json(
    recipe: &Recipe,
    manifest: &RunManifest,
    run: ObjectId,
) -> Result<String, PipelineError> {
    let metric = |k: &str| manifest.metrics.get(k).copied().unwrap_or(0.0);
    let doc = Metadata {
        name: &recipe.name,
        version: &recipe.version,
        date: &manifest.started,
        description: &recipe.description,
        changes: &recipe.changes,
        performance: Performance {
            accuracy: metric("accuracy"),
            fpr: metric("fpr"),
            fnr: metric("fnr"),
            f1: metric("f1"),
        },
        threshold: manifest.threshold,
        target_fpr: recipe.evaluate.target_fpr,
        roc_auc: manifest.metrics.get("roc_auc").copied(),
        run: run.to_hex(),
        recipe: manifest.recipe.to_hex(),
        mode: manifest.mode.as_str(),
        onnx: manifest.outputs.onnx.map(|id| id.to_hex()),
        tokenizer: manifest.outputs.tokenizer.to_hex(),
    };
    let mut text = serde_json::to_string_pretty(&doc)
        .map_err(|e| PipelineError::io(Path::new("metadata.json"), e.into()))?;
    text.push('\n');
    Ok(text)
}

/// Writes `metadata.json` (for the deploy step, `<dir>/<name>/<version>/metadata.json`)
/// atomically.
fn write_metadata(path: &Path, text: &str) -> Result<(), PipelineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    }
    cairn_store::write_atomic(path, |w| w.write_all(text.as_bytes()))
        .map_err(|e| PipelineError::io(path, e))
}

/// One output compared by `reproduce`.
#[derive(Debug, Clone, Serialize)]
pub struct OutputCheck {
    pub name: String,
    pub recorded: ObjectId,
    pub reproduced: ObjectId,
    pub identical: bool,
    /// The stored copy of the recorded object: `intact`, `corrupt` (its bytes no longer
    /// hash to its id), `missing`, or `repaired` (rewritten from the re-run).
    pub stored: &'static str,
}

/// One environment field that differs between the recorded run and this machine.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentChange {
    pub field: String,
    pub recorded: String,
    pub now: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReproduceReport {
    pub reference: String,
    pub run: ObjectId,
    pub outputs: Vec<OutputCheck>,
    pub environment: Vec<EnvironmentChange>,
    pub identical: bool,
    /// Some stored output is still corrupt or missing (`--repair` rewrites what the re-run
    /// reproduced).
    pub damaged: bool,
    /// What the run's backend promised a re-run in the same environment.
    pub promised: Option<cairn_spec::Reproducibility>,
    /// How far the re-run's weights and test-set outputs are from the recorded ones, when
    /// they are not the same bytes.
    pub deviation: Option<RerunDeviation>,
    /// The verdict: bit for bit, or within the promised tolerance, with every stored output
    /// intact.
    pub reproduced: bool,
}

/// A re-run that did not give the recorded bytes, measured against the recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RerunDeviation {
    /// Largest |Δ| of any weight.
    pub max_weight_deviation: f64,
    /// Largest |Δ| of any output on the version's test set.
    pub max_output_deviation: f64,
    /// Test examples whose attack / benign decision differs.
    pub flips: u64,
    /// The promised tolerance, when the backend promises one.
    pub tolerance: Option<f64>,
    /// Both deviations at most the tolerance.
    pub within: bool,
}

/// Measures a re-run's weights against the recorded run's, and both models' outputs on the
/// test set; `None` when the recorded weights cannot be read.
fn rerun_deviation(
    store: &Store,
    reference: &str,
    reproduced_weights: &ObjectId,
    promised: Option<cairn_spec::Reproducibility>,
) -> Result<Option<RerunDeviation>, PipelineError> {
    let model = LoadedModel::load(store, reference)?;
    let Ok(recorded) = model.weights() else {
        return Ok(None);
    };
    let again = cairn_model::Weights(store.read(reproduced_weights)?);
    let max_weight_deviation = cairn_model::weight_deviation(recorded, &again)?;
    let (_, ids) = model.test_set()?;
    let before = model.predict_ids(&ids)?;
    let after = cairn_model::predict(&model.config, model.backend, &again, &ids, 256)?;
    let flips = crate::execute::flips(&before, &after, model.run.threshold);
    let max_output_deviation = cairn_onnx::deviation(&before, &after).max();
    let tolerance = match promised {
        Some(cairn_spec::Reproducibility::WithinTolerance { max_abs_deviation }) => {
            Some(max_abs_deviation)
        }
        _ => None,
    };
    Ok(Some(RerunDeviation {
        max_weight_deviation,
        max_output_deviation,
        flips,
        tolerance,
        within: tolerance.is_some_and(|t| max_weight_deviation <= t && max_output_deviation <= t),
    }))
}

/// The state of a stored object, as [`OutputCheck::stored`] names it.
fn stored_state(store: &Store, id: &ObjectId) -> Result<&'static str, PipelineError> {
    match store.open_object(id) {
        Ok(_) => Ok("intact"),
        Err(cairn_store::StoreError::Corrupt { .. }) => Ok("corrupt"),
        Err(cairn_store::StoreError::NotFound(_)) => Ok("missing"),
        Err(e) => Err(e.into()),
    }
}

/// `cairn reproduce`: re-execute a registered run's recipe from the store and compare every
/// output byte for byte (equal object ids ⇔ equal bytes), and check that each stored output
/// still hashes to its id. With `repair`, a stored output that is corrupt is rewritten from
/// the re-run — which can only happen when the re-run made exactly the recorded bytes.
pub fn reproduce(
    store: &Store,
    reference: &str,
    cairn_version: &str,
    repair: bool,
    events: &mut dyn FnMut(Event),
) -> Result<ReproduceReport, PipelineError> {
    let (name, run, manifest) = load_run(store, reference)?;
    let before: Vec<(&'static str, ObjectId, &'static str)> = manifest
        .outputs
        .named()
        .into_iter()
        .map(|(output, id)| Ok((output, id, stored_state(store, &id)?)))
        .collect::<Result<_, PipelineError>>()?;
    let recipe: Recipe = store.get_manifest(&manifest.recipe)?;
    let backend = crate::execute::backend(&recipe)?;
    let now = Environment {
        cairn_version: cairn_version.to_string(),
        device: backend.device_name(),
        ..recipe.environment.clone()
    };
    let recorded = &manifest.environment;
    // The hardware behind the device: a run recorded before cairn noted it is taken as
    // unknown, not as different.
    let hardware_now = crate::execute::hardware(backend).to_string();
    let hardware_then = manifest
        .hardware
        .as_ref()
        .map_or_else(|| hardware_now.clone(), ToString::to_string);
    let mut environment = Vec::new();
    for (field, a, b) in [
        ("cairn_version", &recorded.cairn_version, &now.cairn_version),
        ("backend", &recorded.backend, &now.backend),
        ("device", &recorded.device, &now.device),
        (
            "threads",
            &recorded.threads.to_string(),
            &now.threads.to_string(),
        ),
        ("hardware", &hardware_then, &hardware_now),
    ] {
        if a != b {
            environment.push(EnvironmentChange {
                field: field.into(),
                recorded: a.clone(),
                now: b.clone(),
            });
        }
    }
    // A run recorded without an export (`[export] onnx = false`) is reproduced without one,
    // so it needs no ONNX Runtime.
    let mut recipe = recipe;
    recipe.export.onnx = manifest.outputs.onnx.is_some();
    let runner = if repair {
        store.repairing()
    } else {
        store.clone()
    };
    let done = execute(&runner, &recipe, manifest.recipe, events)?;
    let mut reproduced = vec![
        ("dataset", done.dataset),
        ("tokenizer", done.tokenizer),
        ("weights", done.weights),
        ("evaluation", done.evaluation),
        ("report", done.report_json),
        ("report_markdown", done.report_markdown),
    ];
    reproduced.extend(done.onnx.as_ref().map(|(id, _)| ("onnx", *id)));
    let mut outputs = Vec::new();
    for (output, recorded, state) in before {
        let Some((_, again)) = reproduced.iter().find(|(n, _)| *n == output) else {
            continue;
        };
        let stored = match (state, stored_state(store, &recorded)?) {
            ("intact", _) => "intact",
            (_, "intact") => "repaired",
            (_, now) => now,
        };
        outputs.push(OutputCheck {
            name: output.to_string(),
            recorded,
            reproduced: *again,
            identical: recorded == *again,
            stored,
        });
    }
    let identical = outputs.iter().all(|o| o.identical);
    let damaged = outputs
        .iter()
        .any(|o| o.stored == "corrupt" || o.stored == "missing");
    let deviation = if identical {
        None
    } else {
        rerun_deviation(store, reference, &done.weights, manifest.reproducibility)?
    };
    let reproduced = !damaged && (identical || deviation.as_ref().is_some_and(|d| d.within));
    Ok(ReproduceReport {
        reference: name.to_string(),
        run,
        outputs,
        environment,
        identical,
        damaged,
        promised: manifest.reproducibility,
        deviation,
        reproduced,
    })
}

/// Writes a registered version's weights as `model.safetensors` into `dir`.
pub fn export_safetensors(
    store: &Store,
    reference: &str,
    dir: &Path,
) -> Result<PathBuf, PipelineError> {
    let model = LoadedModel::load(store, reference)?;
    let bytes = cairn_model::safetensors(&model.config, model.weights()?)?;
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    let path = dir.join("model.safetensors");
    std::fs::write(&path, bytes).map_err(|e| PipelineError::io(&path, e))?;
    Ok(path)
}

/// `cairn regress`: the regression report of `candidate` against `baseline` on the
/// candidate's test set (or `test`), with the candidate's thresholds.
pub fn regress(
    store: &Store,
    baseline: &str,
    candidate: &str,
    test: Option<&Path>,
) -> Result<cairn_report::Report, PipelineError> {
    let base = LoadedModel::load(store, baseline)?;
    let cand = LoadedModel::load(store, candidate)?;
    let (recipe, taxonomy) = (&cand.recipe, &cand.taxonomy);
    let rows = match test {
        Some(path) => {
            let loaded =
                cairn_data::DatasetSource::Path(path.to_path_buf()).load(None, taxonomy)?;
            loaded.rows
        }
        None => crate::execute::test_rows(
            store,
            &recipe.data.test,
            taxonomy,
            recipe.data.max_text_chars,
        )?,
    };
    let before = base.predict(&rows)?;
    let after = cand.predict(&rows)?;
    let outcomes = crate::gate::outcomes(
        &rows,
        (&before, base.run.threshold),
        (&after, cand.run.threshold),
    );
    Ok(cairn_report::compare(
        Some(baseline),
        &cand.version,
        &cand.evaluated_on(),
        &outcomes,
        crate::gate::thresholds(recipe),
    ))
}

/// A run's training curve as the report draws it: per step, and per epoch.
fn curve_of(run: &RunManifest) -> (Vec<cairn_report::StepPoint>, Vec<cairn_report::EpochPoint>) {
    let steps = run
        .steps
        .iter()
        .map(|s| cairn_report::StepPoint {
            step: s.step,
            epoch: s.epoch,
            loss: s.loss,
        })
        .collect();
    let epochs = run
        .epochs
        .iter()
        .map(|e| cairn_report::EpochPoint {
            epoch: e.epoch,
            train_loss: e.train_loss,
            validation_loss: e.validation_loss,
            validation_accuracy: e.validation_accuracy,
        })
        .collect();
    (steps, epochs)
}

/// The evaluation document a run stored: metrics plus the family names.
#[derive(serde::Deserialize)]
struct EvaluationDoc {
    metrics: cairn_model::Metrics,
    families: Vec<String>,
}

fn evaluation(store: &Store, run: &RunManifest) -> Result<EvaluationDoc, PipelineError> {
    let bytes = store.read(&run.outputs.evaluation)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::io(&store.object_path(&run.outputs.evaluation), e.into()))
}

/// `cairn report --html`: one self-contained page for a registered version.
pub fn html_report(
    store: &Store,
    reference: &str,
    compare: Option<&str>,
) -> Result<String, PipelineError> {
    let (name, run, manifest) = load_run(store, reference)?;
    let compare = match compare {
        Some(other) => {
            let (other_name, _, other_run) = load_run(store, other)?;
            let (steps, epochs) = curve_of(&other_run);
            Some(cairn_report::ComparedCurve {
                version: other_name.to_string(),
                steps,
                epochs,
            })
        }
        None => None,
    };
    let (steps, epochs) = curve_of(&manifest);
    let eval = evaluation(store, &manifest)?;
    let baseline = match manifest.parent {
        Some(parent) => Some(evaluation(
            store,
            &store.get_manifest::<RunManifest>(&parent)?,
        )?),
        None => None,
    };
    let report: Option<cairn_report::Report> = match manifest.outputs.report {
        Some(id) => Some(
            serde_json::from_slice(&store.read(&id)?)
                .map_err(|e| PipelineError::io(&store.object_path(&id), e.into()))?,
        ),
        None => None,
    };
    let family_recall = eval
        .families
        .iter()
        .enumerate()
        .filter_map(|(i, family)| {
            eval.metrics
                .family_recall
                .get(&i)
                .map(|&candidate| cairn_report::FamilyRecall {
                    family: family.clone(),
                    candidate,
                    baseline: baseline
                        .as_ref()
                        .and_then(|b| b.metrics.family_recall.get(&i).copied()),
                })
        })
        .collect();
    let input = cairn_report::HtmlInput {
        title: format!("{name}"),
        subtitle: format!(
            "run {run} · {} · {} on {}, {} thread(s) · started {}",
            manifest.mode,
            manifest.environment.backend,
            manifest.environment.device,
            manifest.environment.threads,
            manifest.started
        ),
        metrics: manifest
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        epochs,
        steps,
        compare,
        family_recall,
        confusion: eval.metrics.binary_confusion,
        report: report.as_ref(),
        backends: cairn_spec::BackendSnapshot::of_run(store, &run)?.map(|(_, s)| {
            let caption = format!(
                "{} test rows at threshold {}, trained on {}; |Δ| and flips against {}",
                s.examples, s.threshold, s.trained_on, s.reference
            );
            let rows = s
                .rows
                .into_iter()
                .map(|row| {
                    let metric = |k: &str| row.metrics.get(k).copied().unwrap_or(0.0);
                    cairn_report::BackendLine {
                        figures: row.available.then(|| cairn_report::BackendFigures {
                            f1: metric("f1"),
                            fpr: metric("fpr"),
                            fnr: metric("fnr"),
                            max_deviation: row.max_deviation(),
                            flips: row.flips.unwrap_or(0),
                        }),
                        backend: row.backend,
                        note: row.note,
                    }
                })
                .collect();
            (caption, rows)
        }),
    };
    cairn_report::html(&input).map_err(|e| {
        PipelineError::io(
            Path::new("report.html"),
            std::io::Error::other(e.to_string()),
        )
    })
}

/// The stored Markdown regression report of a version.
pub fn markdown_report(store: &Store, reference: &str) -> Result<String, PipelineError> {
    let (_, _, manifest) = load_run(store, reference)?;
    let id = manifest
        .outputs
        .report_markdown
        .ok_or_else(|| PipelineError::NotFound {
            what: "regression report of",
            name: reference.to_string(),
            fix: "it was registered before the gate existed; `cairn regress` computes one".into(),
        })?;
    Ok(String::from_utf8_lossy(&store.read(&id)?).into_owned())
}
