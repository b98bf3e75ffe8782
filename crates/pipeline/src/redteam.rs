//! `cairn redteam run` and `show`: a suite's attacks and probes scored by each model's ONNX
//! export (the production path), every miss attributed to the model with its category and
//! severity bucket, and the whole result stored as a `redteam` manifest under
//! `redteam/results/<hash>`.

use std::path::Path;

use cairn_redteam::{Category, RedteamResult, Suite};
use cairn_store::{Expect, ObjectId, RefName, Store};
use serde::Serialize;

use crate::error::PipelineError;
use crate::event::now_rfc3339;
use crate::loaded::LoadedModel;
use crate::run::{RunOptions, RunStatus, run_recipe};
use crate::scan::Scanner;
use crate::versions::load_run;

/// Where red-team results are named.
pub const REDTEAM_REF_PREFIX: &str = "redteam/results/";

/// Which models a test covers.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelScope {
    /// These versions (`name@version` or `name/latest`).
    These(Vec<String>),
    /// The latest version of every model in the store.
    All,
}

/// How `redteam run` runs.
#[derive(Debug, Clone)]
pub struct RedteamOptions {
    pub models: ModelScope,
    /// Texts per ONNX Runtime call.
    pub batch_size: usize,
    /// Only these categories (default: all the suite has).
    pub categories: Option<Vec<Category>>,
    /// Overrides the suite's seed.
    pub seed: Option<u64>,
    /// ONNX Runtime threads per model.
    pub threads: usize,
}

/// A stored red-team result and its hash.
#[derive(Debug, Clone, Serialize)]
pub struct RedteamReport {
    /// The result object (`blake3:<hex>`).
    pub result: ObjectId,
    #[serde(flatten)]
    pub body: RedteamResult,
}

/// The ref a result is kept under (so gc keeps it and what it names).
pub fn result_ref(id: &ObjectId) -> Result<RefName, PipelineError> {
    short_ref(REDTEAM_REF_PREFIX, id)
}

/// `<prefix><the first 16 hex digits of id>`.
fn short_ref(prefix: &str, id: &ObjectId) -> Result<RefName, PipelineError> {
    format!("{prefix}{}", &id.to_hex()[..16])
        .parse()
        .map_err(|e: cairn_store::RefNameError| PipelineError::Invalid {
            field: format!("{prefix} ref"),
            problem: e.to_string(),
        })
}

/// Reads and checks a suite file.
pub fn load_suite(path: &Path) -> Result<(Suite, Vec<u8>), PipelineError> {
    let bytes = std::fs::read(path).map_err(|e| PipelineError::io(path, e))?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| PipelineError::InvalidLine {
        file: path.to_path_buf(),
        line: None,
        message: "the suite is not UTF-8 text: save it as UTF-8".into(),
    })?;
    let suite = cairn_redteam::parse(&text, &path.display().to_string())?;
    Ok((suite, bytes))
}

/// The versions `scope` names, resolved to `name@version`, in the order given (`All`: model
/// names in order).
fn resolve_models(store: &Store, scope: &ModelScope) -> Result<Vec<String>, PipelineError> {
    let given: Vec<String> = match scope {
        ModelScope::These(refs) => refs.clone(),
        ModelScope::All => crate::scan::latest_refs(store)?,
    };
    if given.is_empty() {
        return Err(PipelineError::NotFound {
            what: "model",
            name: "<name>/latest".into(),
            fix: "no model is registered in this store: run an experiment first".into(),
        });
    }
    let mut out: Vec<String> = Vec::new();
    for reference in given {
        let (_, _, run) = load_run(store, &reference)?;
        let version = format!("{}@{}", run.name, run.version);
        if !out.contains(&version) {
            out.push(version);
        }
    }
    Ok(out)
}

/// Runs `suite_path` against the models of `options` and stores the result.
pub fn redteam_run(
    store: &Store,
    suite_path: &Path,
    options: &RedteamOptions,
) -> Result<RedteamReport, PipelineError> {
    let (suite, suite_bytes) = load_suite(suite_path)?;
    let categories = match &options.categories {
        Some(wanted) => {
            for c in wanted {
                if !suite.categories().contains(c) {
                    return Err(PipelineError::Invalid {
                        field: "--categories".into(),
                        problem: format!(
                            "the suite has no `{c}` attacks: use some of {}",
                            names(&suite.categories())
                        ),
                    });
                }
            }
            wanted.clone()
        }
        None => suite.categories(),
    };
    let versions = resolve_models(store, &options.models)?;
    // Every model is loaded and checked before anything is generated, scored or stored.
    for version in &versions {
        let loaded = LoadedModel::load(store, version)?;
        if loaded.run.outputs.onnx.is_none() {
            return Err(PipelineError::NoOnnx(version.clone()));
        }
        for c in &categories {
            if !loaded.taxonomy.families.iter().any(|f| f == c.family()) {
                return Err(PipelineError::Invalid {
                    field: "suite".into(),
                    problem: format!(
                        "category `{c}` is scored as family `{}`, which {version}'s taxonomy does not have: leave it out with --categories",
                        c.family()
                    ),
                });
            }
        }
    }
    let seed = options.seed.unwrap_or(suite.seed);
    let rows = cairn_redteam::generate(&suite, seed, Some(&categories))?;
    let results = score(
        store,
        &suite,
        &rows,
        &versions,
        options.batch_size,
        options.threads,
    )?;

    let suite_id = store.put_bytes(&suite_bytes)?.id;
    let attack_set = store
        .put_bytes(cairn_datagen::to_jsonl(&rows).as_bytes())?
        .id;
    let body = RedteamResult {
        started: now_rfc3339(),
        suite_name: suite.name.clone(),
        suite: suite_id,
        seed,
        attack_set,
        categories: categories.iter().map(|c| c.name().to_string()).collect(),
        models: results,
    };
    let result = store.put_manifest(&body)?;
    store.set_ref(&result_ref(&result)?, result, Expect::Any)?;
    Ok(RedteamReport { result, body })
}

fn names(categories: &[Category]) -> String {
    categories
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stored result named by its hash (`blake3:<hex>` or hex), a unique hex prefix of at
/// least 8 digits, or its ref.
pub fn load_result(store: &Store, name: &str) -> Result<RedteamReport, PipelineError> {
    let id = find_result(store, name)?;
    let body: RedteamResult = store.get_manifest(&id)?;
    Ok(RedteamReport { result: id, body })
}

fn find_result(store: &Store, name: &str) -> Result<ObjectId, PipelineError> {
    if let Some(id) = ObjectId::from_ref_str(name).or_else(|| name.parse::<ObjectId>().ok()) {
        return Ok(id);
    }
    if let Ok(reference) = name.parse::<RefName>()
        && let Some(id) = store.get_ref(&reference)?
    {
        return Ok(id);
    }
    let hex = name.strip_prefix("blake3:").unwrap_or(name);
    let matches: Vec<ObjectId> = if hex.len() >= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        store
            .list_refs()?
            .into_iter()
            .filter(|(r, id)| {
                r.as_str().starts_with(REDTEAM_REF_PREFIX) && id.to_hex().starts_with(hex)
            })
            .map(|(_, id)| id)
            .collect()
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(PipelineError::NotFound {
            what: "red-team result",
            name: name.to_string(),
            fix: "give the `result` hash `cairn redteam run` printed, or see `cairn ref list redteam/`".into(),
        }),
        _ => Err(PipelineError::Invalid {
            field: "result".into(),
            problem: format!("`{name}` matches several results: give more digits"),
        }),
    }
}

/// The result as people read it.
pub fn render_result(report: &RedteamReport) -> String {
    let r = &report.body;
    let mut out = format!(
        "red-team {} — suite `{}` (seed {}), categories: {}\n",
        report.result.short(),
        r.suite_name,
        r.seed,
        r.categories.join(", ")
    );
    for m in &r.models {
        out.push_str(&format!(
            "\n{}  detection {:.1}% ({} of {} attacks), {} failure(s): critical {}, high {}, medium {}, low {}; false alarms {} of {} probes\n",
            m.reference,
            m.detection_rate * 100.0,
            m.detected,
            m.attacks,
            m.failures,
            m.buckets.critical,
            m.buckets.high,
            m.buckets.medium,
            m.buckets.low,
            m.false_alarms,
            m.probes,
        ));
        for (category, count) in &m.categories {
            out.push_str(&format!(
                "  {category:<20} {:>4} of {:>4} missed\n",
                count.failures, count.attacks
            ));
        }
    }
    out
}

/// How `redteam retrain` retrains.
#[derive(Debug, Clone)]
pub struct RetrainOptions {
    /// Rows of the model's own base data kept beside its failures (seeded sample).
    pub base_sample: u64,
    /// Multiplies the failures' weight (`[data] new_data_boost`).
    pub boost: f64,
    /// Build and print the recipes; run nothing, register nothing.
    pub dry_run: bool,
    /// Epochs of each fine-tune (default: a quarter of the model's own, at least 1).
    pub epochs: Option<u64>,
    /// Learning rate of each fine-tune (default: a quarter of the model's own): adjust the
    /// model, don't overwrite it.
    pub learning_rate: Option<f64>,
    /// For the re-test: texts per ONNX Runtime call, and threads.
    pub batch_size: usize,
    pub threads: usize,
}

/// One model that failed and was retrained (or would be, with `dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct Retrained {
    #[serde(rename = "ref")]
    pub reference: String,
    pub new_ref: String,
    pub recipe: String,
    pub failures: u64,
    pub detection_before: f64,
    /// On the same attack set, after (absent with `dry_run` or when the run failed).
    pub detection_after: Option<f64>,
    pub failures_after: Option<u64>,
    pub status: RetrainStatus,
    /// The gate's decision (`accept` / `reject`), when it ran.
    pub gate: Option<String>,
    pub error: Option<String>,
}

/// How one model's red-team fine-tune ended; written as the words `registered`,
/// `up-to-date`, `rejected`, `stored`, `planned` and `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetrainStatus {
    /// `--dry-run`: the recipe was built, nothing ran.
    Planned,
    Registered,
    /// The same recipe had registered the version already.
    UpToDate,
    /// The regression gate refused it (stored, not registered).
    Rejected,
    /// Accepted and stored with no ref set.
    Stored,
    /// It ended in an error (stored as a `retrain-failure` record).
    Failed,
}

impl RetrainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RetrainStatus::Planned => "planned",
            RetrainStatus::Registered => "registered",
            RetrainStatus::UpToDate => "up-to-date",
            RetrainStatus::Rejected => "rejected",
            RetrainStatus::Stored => "stored",
            RetrainStatus::Failed => "failed",
        }
    }

    /// A new version exists for the re-test to score.
    pub fn has_version(self) -> bool {
        matches!(self, RetrainStatus::Registered | RetrainStatus::UpToDate)
    }
}

impl From<RunStatus> for RetrainStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Registered => RetrainStatus::Registered,
            RunStatus::UpToDate => RetrainStatus::UpToDate,
            RunStatus::Rejected => RetrainStatus::Rejected,
            RunStatus::Stored => RetrainStatus::Stored,
        }
    }
}

impl std::fmt::Display for RetrainStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A model left alone, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    #[serde(rename = "ref")]
    pub reference: String,
    pub reason: String,
    pub detection_before: f64,
}

/// What `redteam retrain` did.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainReport {
    /// The red-team result the retraining answers.
    pub result: ObjectId,
    /// The re-test of the new versions on the same attack set (a `redteam` result).
    pub retest: Option<ObjectId>,
    pub retrained: Vec<Retrained>,
    pub skipped: Vec<Skipped>,
}

/// The lowest `major.minor.patch` above `version` (same major and minor) that `name` has not
/// published.
fn next_patch(store: &Store, name: &str, version: &str) -> Result<String, PipelineError> {
    let parts: Vec<&str> = version
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    let parsed: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    let Some([major, minor, patch]) = parsed.as_deref().and_then(|p| <[u64; 3]>::try_from(p).ok())
    else {
        return Err(PipelineError::Invalid {
            field: "version".into(),
            problem: format!(
                "{name}@{version} is not `major.minor.patch`, so there is no next patch version"
            ),
        });
    };
    let mut next = patch + 1;
    loop {
        let candidate = format!("{major}.{minor}.{next}");
        let reference =
            RefName::versioned(name, &candidate).map_err(|e| PipelineError::Invalid {
                field: "version".into(),
                problem: e.to_string(),
            })?;
        if store.get_ref(&reference)?.is_none() {
            return Ok(candidate);
        }
        next += 1;
    }
}

/// The rows of a stored attack set.
fn attack_rows(store: &Store, id: &ObjectId) -> Result<Vec<cairn_data::Example>, PipelineError> {
    let bytes = store.read(id)?;
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| PipelineError::Invalid {
                field: "attack set".into(),
                problem: format!("object {id} is not an attack set: {e}"),
            })
        })
        .collect()
}

/// Scores `rows` with each version's ONNX export.
fn score(
    store: &Store,
    suite: &Suite,
    rows: &[cairn_data::Example],
    versions: &[String],
    batch_size: usize,
    threads: usize,
) -> Result<Vec<cairn_redteam::ModelResult>, PipelineError> {
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let mut results = Vec::new();
    for version in versions {
        let loaded = LoadedModel::load(store, version)?;
        let reference = loaded.version.clone();
        let run_id = loaded.run_id;
        let threshold = loaded.run.threshold.unwrap_or(0.5);
        let mut scanner = Scanner::of_model(loaded, threads)?;
        let mut verdicts = Vec::with_capacity(texts.len());
        for batch in texts.chunks(batch_size.max(1)) {
            verdicts.extend(scanner.scan(batch)?);
        }
        results.push(cairn_redteam::attribute(
            suite, rows, &verdicts, threshold, &reference, run_id,
        ));
    }
    Ok(results)
}

/// The fine-tune recipe of one failing model: its own failures (weighted as red-team
/// examples, times `boost`) plus a seeded sample of its own base data, from the model,
/// `cause` = the result.
fn retrain_recipe(
    store: &Store,
    report: &RedteamReport,
    model: &cairn_redteam::ModelResult,
    rows: &[cairn_data::Example],
    options: &RetrainOptions,
    cairn_version: &str,
) -> Result<cairn_spec::Recipe, PipelineError> {
    let loaded = LoadedModel::load(store, &model.reference)?;
    let failures: Vec<cairn_data::Example> = model
        .missed
        .iter()
        .filter_map(|f| rows.get(f.row as usize).cloned())
        .collect();
    let short = &report.result.to_hex()[..12];
    let failures_object = store
        .put_bytes(cairn_datagen::to_jsonl(&failures).as_bytes())?
        .id;
    let parent = &loaded.recipe;
    let how = cairn_spec::Derivation {
        version: next_patch(store, &loaded.run.name, &loaded.run.version)?,
        additions: vec![cairn_spec::NamedObject {
            size: store.size(&failures_object)?,
            name: format!("redteam/{short}/{}-failures.jsonl", loaded.run.name),
            object: failures_object,
        }],
        description: format!(
            "Red-team retrain of {} on its own {} failure(s) from suite `{}`.",
            model.reference, model.failures, report.body.suite_name
        ),
        changes: vec![
            format!(
                "{} red-team failure(s) from result {short} (weight x{} x boost {})",
                model.failures,
                cairn_redteam::FAILURE_WEIGHT,
                options.boost
            ),
            format!(
                "a seeded sample of {} rows of its own base data",
                options.base_sample
            ),
        ],
        cause: cairn_spec::Cause {
            kind: cairn_spec::CauseKind::Redteam,
            object: Some(report.result),
            note: format!(
                "{} failure(s) of {} on suite `{}`",
                model.failures, model.reference, report.body.suite_name
            ),
        },
        overrides: cairn_spec::Overrides {
            base_sample: Some(options.base_sample),
            new_data_boost: Some(options.boost),
            epochs: Some(
                options
                    .epochs
                    .unwrap_or_else(|| parent.train.epochs.div_ceil(4).max(1)),
            ),
            learning_rate: Some(
                options
                    .learning_rate
                    .unwrap_or(parent.train.learning_rate / 4.0),
            ),
            // The parent's operating point is kept: a few hundred rows cannot choose a
            // better one.
            evaluate: Some(cairn_spec::EvaluateSection {
                target_fpr: None,
                threshold: loaded.run.threshold,
            }),
        },
    };
    let parent_ref = cairn_spec::VersionRef {
        name: model.reference.clone(),
        run: loaded.run_id,
    };
    let recipe = parent.fine_tune(parent_ref, how, cairn_version);
    // The same retrain of the same parent on the same result is the same version: a rerun
    // (after a crash too) finds the one registered before and is up to date, instead of
    // publishing the same weights again as the next patch.
    Ok(match registered_retrain(store, &recipe)? {
        Some(version) => cairn_spec::Recipe { version, ..recipe },
        None => recipe,
    })
}

/// The registered version of `recipe`'s model whose recipe is `recipe` but for its version
/// (same parent, additions, settings and cause), if there is one.
fn registered_retrain(
    store: &Store,
    recipe: &cairn_spec::Recipe,
) -> Result<Option<String>, PipelineError> {
    for (_, _, run) in cairn_spec::registered_versions(store, &recipe.name)?
        .into_iter()
        .rev()
    {
        let manifest: cairn_spec::RunManifest = store.get_manifest(&run)?;
        let theirs: cairn_spec::Recipe = store.get_manifest(&manifest.recipe)?;
        if theirs.cause != recipe.cause || theirs.model.parent != recipe.model.parent {
            continue;
        }
        let same = cairn_spec::Recipe {
            version: theirs.version.clone(),
            ..recipe.clone()
        };
        if same == theirs {
            return Ok(Some(theirs.version));
        }
    }
    Ok(None)
}

/// What `redteam retrain` reports while it works.
#[derive(Debug)]
pub enum RetrainProgress<'a> {
    /// A stage of one model's fine-tune.
    Stage {
        model: &'a str,
        event: crate::event::Event,
    },
    /// A fine-tune is about to run.
    Started {
        model: &'a str,
        job: &'a cairn_redteam::RetrainJob,
    },
    /// It ended: with a run (registered, rejected or up to date), or with an error, stored
    /// as a `retrain-failure` manifest.
    Finished {
        recipe_id: ObjectId,
        run: Option<ObjectId>,
        failure: Option<ObjectId>,
    },
    /// The re-test of the new versions was stored.
    Retested(ObjectId),
}

/// The ref that keeps a failed fine-tune's record: `redteam/failed/<16 hex of its recipe>`.
pub fn failure_ref(recipe: &ObjectId) -> Result<RefName, PipelineError> {
    short_ref("redteam/failed/", recipe)
}

/// Stores the record of a fine-tune that failed under [`failure_ref`]. The recipe it names
/// is in the store already: `run_recipe` stores it before anything else.
fn store_failure(
    store: &Store,
    job: cairn_redteam::RetrainJob,
    duration_seconds: f64,
    error: &PipelineError,
) -> Result<ObjectId, PipelineError> {
    let record = cairn_redteam::RetrainFailure {
        job,
        duration_seconds,
        error: error.to_string().replace('\n', " "),
    };
    let id = store.put_manifest(&record)?;
    store.set_ref(&failure_ref(&record.job.recipe)?, id, Expect::Any)?;
    Ok(id)
}

/// Retrains every model of a result that has at least one failure — and only those — each
/// on its own failures, then re-tests the new versions on the same attack set.
pub fn redteam_retrain(
    store: &Store,
    result: &str,
    options: &RetrainOptions,
    cairn_version: &str,
    events: &mut dyn FnMut(RetrainProgress<'_>),
) -> Result<RetrainReport, PipelineError> {
    let report = load_result(store, result)?;
    let suite_bytes = store.read(&report.body.suite)?;
    let suite = cairn_redteam::parse(
        &String::from_utf8_lossy(&suite_bytes),
        &format!("<suite {}>", report.body.suite.short()),
    )?;
    let rows = attack_rows(store, &report.body.attack_set)?;
    let mut retrained = Vec::new();
    let mut skipped = Vec::new();
    for model in &report.body.models {
        if model.failures == 0 {
            skipped.push(Skipped {
                reference: model.reference.clone(),
                reason: format!("no failures: detected all {} attacks", model.attacks),
                detection_before: model.detection_rate,
            });
            continue;
        }
        let recipe = retrain_recipe(store, &report, model, &rows, options, cairn_version)?;
        let mut entry = Retrained {
            reference: model.reference.clone(),
            new_ref: format!("{}@{}", recipe.name, recipe.version),
            recipe: recipe.id()?.to_hex(),
            failures: model.failures,
            detection_before: model.detection_rate,
            detection_after: None,
            failures_after: None,
            status: RetrainStatus::Planned,
            gate: None,
            error: None,
        };
        if !options.dry_run {
            let recipe_id = recipe.id()?;
            let job = cairn_redteam::RetrainJob {
                recipe: recipe_id,
                model: model.reference.clone(),
                new_ref: entry.new_ref.clone(),
                failure_count: model.failures,
                training_data: recipe
                    .data
                    .additions
                    .first()
                    .map_or(recipe_id, |a| a.object),
                test_id: report.result,
                started: now_rfc3339(),
            };
            events(RetrainProgress::Started {
                model: &model.reference,
                job: &job,
            });
            let clock = std::time::Instant::now();
            let mut forward = |event: crate::event::Event| {
                events(RetrainProgress::Stage {
                    model: &model.reference,
                    event,
                })
            };
            let outcome = run_recipe(
                store,
                &recipe,
                RunOptions::default(),
                cairn_version,
                &mut forward,
            );
            let failure = match &outcome {
                Ok(_) => None,
                Err(e) => Some(store_failure(store, job, clock.elapsed().as_secs_f64(), e)?),
            };
            events(RetrainProgress::Finished {
                recipe_id,
                run: outcome.as_ref().ok().map(|r| r.run),
                failure,
            });
            match outcome {
                Ok(run) => {
                    entry.status = run.status.into();
                    entry.gate = Some(run.manifest.decision.to_string());
                }
                Err(e) => {
                    entry.status = RetrainStatus::Failed;
                    entry.error = Some(e.to_string());
                }
            }
        }
        retrained.push(entry);
    }
    let new_versions: Vec<String> = retrained
        .iter()
        .filter(|r| r.status.has_version())
        .map(|r| r.new_ref.clone())
        .collect();
    let mut retest = None;
    if !new_versions.is_empty() {
        let after = score(
            store,
            &suite,
            &rows,
            &new_versions,
            options.batch_size,
            options.threads,
        )?;
        for r in &mut retrained {
            if let Some(m) = after.iter().find(|m| m.reference == r.new_ref) {
                r.detection_after = Some(m.detection_rate);
                r.failures_after = Some(m.failures);
            }
        }
        let body = RedteamResult {
            started: now_rfc3339(),
            models: after,
            ..report.body.clone()
        };
        let id = store.put_manifest(&body)?;
        store.set_ref(&result_ref(&id)?, id, Expect::Any)?;
        events(RetrainProgress::Retested(id));
        retest = Some(id);
    }
    Ok(RetrainReport {
        result: report.result,
        retest,
        retrained,
        skipped,
    })
}
