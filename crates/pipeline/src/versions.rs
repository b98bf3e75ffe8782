//! Registered versions: what a version name points to, registration (the commit point of
//! a run), `name/latest`, and the `metadata.json` derived from a version.

use std::io::Write;
use std::path::Path;

use cairn_spec::{Recipe, RunManifest};
use cairn_store::{Expect, ObjectId, RefName, Store, StoreError};
use serde::Serialize;

use crate::error::PipelineError;

/// What [`register`] found or did.
#[derive(Debug, Clone)]
pub(crate) enum Registration {
    /// `run` now holds the version.
    Registered,
    /// The version was registered already by a run of the same recipe: `run`, `manifest`.
    Already(ObjectId, Box<RunManifest>),
}

/// The run registered as `reference`, when it is registered already: `Some` when its recipe
/// is `recipe_id`, [`PipelineError::VersionTaken`] when it is another; `None` while the
/// version is free.
pub(crate) fn registered(
    store: &Store,
    reference: &RefName,
    recipe_id: ObjectId,
) -> Result<Option<(ObjectId, RunManifest)>, PipelineError> {
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
    Ok(Some((existing, manifest)))
}

/// Publishes `run` (of recipe `recipe_id`, model `name`) as `reference`: its closure is
/// verified, then the version ref is set by compare-and-swap (it must be absent) — the
/// commit point of a run — and `name/latest` re-derived. A run of the same recipe that
/// registered the version first is the answer ([`Registration::Already`]); another recipe
/// is refused.
pub(crate) fn register(
    store: &Store,
    reference: &RefName,
    name: &str,
    run: ObjectId,
    recipe_id: ObjectId,
) -> Result<Registration, PipelineError> {
    // Everything the version will name must be whole before it is published.
    store.verify_closure(&run)?;
    if let Err(e) = store.set_ref(reference, run, Expect::Absent) {
        // Another run registered this version while we trained: the same recipe is the same
        // version (up to date, naming the run that won); another recipe is refused.
        if matches!(
            e,
            StoreError::RefConflict { .. } | StoreError::ImmutableRef { .. }
        ) && let Some((existing, manifest)) = registered(store, reference, recipe_id)?
        {
            settle_latest(store, name)?;
            return Ok(Registration::Already(existing, Box::new(manifest)));
        }
        return Err(e.into());
    }
    crate::event::pause_point("register");
    // The version ref was the commit point; what follows is derived from it.
    settle_latest(store, name)?;
    Ok(Registration::Registered)
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
    // A version ref holds a run of that name and version; `latest` a run of that model.
    if let Some(m) = cairn_spec::check_run(&name, id, &manifest.name, &manifest.version) {
        return Err(PipelineError::MisnamedRef(m));
    }
    Ok((name, id, manifest))
}

/// Re-derives `name/latest`: the highest registered version of the model (registered
/// includes `--force`d ones; a rejected run has no version ref). It only ever names a
/// published version, so it never moves backwards or past the gate, and a run that died
/// between publishing its version and moving `latest` is corrected by the next run of the
/// model (or the rerun that finds it up to date). Returns the ref it points to, if any.
pub fn settle_latest(store: &Store, name: &str) -> Result<Option<RefName>, PipelineError> {
    cairn_spec::latest_ref(name).map_err(|e| PipelineError::Invalid {
        field: "[experiment] name".into(),
        problem: e.to_string(),
    })?;
    Ok(cairn_spec::settle_latest(store, name)?)
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
pub(crate) fn write_metadata(path: &Path, text: &str) -> Result<(), PipelineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    }
    cairn_store::write_atomic(path, |w| w.write_all(text.as_bytes()))
        .map_err(|e| PipelineError::io(path, e))
}
