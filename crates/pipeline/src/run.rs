//! Running a recipe: `run_recipe` (store the recipe → up to date? → execute → register or
//! store rejected), and its wrappers for experiment files (`run`) and stored recipes
//! (`run_stored`), which write `metadata.json` after registration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cairn_spec::{
    Decision, Environment, Ingest, LoadedExperiment, Outputs, Recipe, RunManifest, RunState,
};
use cairn_store::{ObjectId, RefName, Store};
use serde::Serialize;

use crate::config::{
    backend, check_fits, hardware, reproducibility, resolve_experiment, schemas, version_ref,
};
use crate::error::PipelineError;
use crate::event::{Event, Stage, now_rfc3339};
use crate::execute::execute;
use crate::versions::{
    Registration, metadata_json, register, registered, settle_latest, write_metadata,
};

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

/// `cairn run x.toml`: resolve the file into a recipe (inputs ingested), [`run_recipe`] it,
/// then write `<[export] dir>/<name>/<version>/metadata.json` when it was registered.
pub fn run(
    store: &Store,
    path: &Path,
    cairn_version: &str,
    force: bool,
    events: &mut dyn FnMut(Event),
) -> Result<RunResult, PipelineError> {
    let loaded = LoadedExperiment::load(path, &schemas())?;
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
        crate::event::pause_point("metadata");
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
    check_fits(&recipe, &taxonomy)
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

/// The version `reference` as an up-to-date result, when a run of `recipe_id` holds it
/// already ([`PipelineError::VersionTaken`] when another recipe does).
fn registered_already(
    store: &Store,
    reference: &RefName,
    recipe_id: ObjectId,
) -> Result<Option<RunResult>, PipelineError> {
    Ok(registered(store, reference, recipe_id)?
        .map(|(run, manifest)| up_to_date(reference, run, recipe_id, manifest)))
}

fn up_to_date(
    reference: &RefName,
    run: ObjectId,
    recipe: ObjectId,
    manifest: RunManifest,
) -> RunResult {
    RunResult {
        status: RunStatus::UpToDate,
        reference: reference.clone(),
        run,
        recipe,
        manifest,
        metadata: None,
        report: None,
    }
}

/// The core of every run: store the recipe → (up to date?) → execute (including the
/// regression gate) → register, or store the run unregistered when the gate rejects it
/// (unless `force`). Reads only the store: the recipe's inputs are objects.
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

    // `--force` after a rejection: the rejected run of this recipe is stored with all its
    // outputs, so it is registered as it is (recorded as forced), not trained again.
    if options.force
        && !options.stored_only
        && let Some((rejected, report)) = rejected_run(store, recipe_id)?
    {
        let manifest = RunManifest {
            status: RunState::Registered,
            forced: true,
            ..rejected
        };
        let run = store.put_manifest(&manifest)?;
        return publish(
            store, recipe, recipe_id, reference, run, manifest, report, events,
        );
    }

    let started = now_rfc3339();
    let clock = Instant::now();
    let done = execute(store, recipe, recipe_id, events)?;
    let accepted = done.report.decision.accepted();
    let backend = backend(recipe)?;
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
        reproducibility: Some(reproducibility(backend)),
        hardware: Some(hardware(backend)),
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
    publish(
        store,
        recipe,
        recipe_id,
        reference,
        run,
        manifest,
        done.report,
        events,
    )
}

/// Registers `run` (stored, of `recipe`) as `reference`; the run of the same recipe that
/// registered it first is the answer when there is one.
#[allow(clippy::too_many_arguments)]
fn publish(
    store: &Store,
    recipe: &Recipe,
    recipe_id: ObjectId,
    reference: RefName,
    run: ObjectId,
    manifest: RunManifest,
    report: cairn_report::Report,
    events: &mut dyn FnMut(Event),
) -> Result<RunResult, PipelineError> {
    events(Event::Stage(Stage::Register, reference.to_string()));
    if let Registration::Already(existing, manifest) =
        register(store, &reference, &recipe.name, run, recipe_id)?
    {
        return Ok(up_to_date(&reference, existing, recipe_id, *manifest));
    }
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
        report: Some(report),
    })
}

/// The run of `recipe_id` that the gate rejected, stored with no ref, and its report.
fn rejected_run(
    store: &Store,
    recipe_id: ObjectId,
) -> Result<Option<(RunManifest, cairn_report::Report)>, PipelineError> {
    for (id, _) in store.manifests_of(&["run"])? {
        let run: RunManifest = store.get_manifest(&id)?;
        if run.recipe != recipe_id || run.status != RunState::Rejected {
            continue;
        }
        let Some(report) = run.outputs.report else {
            continue;
        };
        let report: cairn_report::Report = serde_json::from_slice(&store.read(&report)?)
            .map_err(|e| PipelineError::io(&store.object_path(&report), e.into()))?;
        return Ok(Some((run, report)));
    }
    Ok(None)
}
