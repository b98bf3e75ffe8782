//! `cairn reproduce`: re-execute a registered run's recipe from the store and compare
//! every output, byte for byte or within the backend's promised tolerance.

use cairn_spec::{Environment, Recipe};
use cairn_store::{ObjectId, Store};
use serde::Serialize;

use crate::config::{backend, hardware};
use crate::error::PipelineError;
use crate::event::Event;
use crate::execute::execute;
use crate::loaded::LoadedModel;
use crate::stages::export::flips;
use crate::versions::load_run;

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
    let flips = flips(&before, &after, model.run.threshold);
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
    let backend = backend(&recipe)?;
    let now = Environment {
        cairn_version: cairn_version.to_string(),
        device: backend.device_name(),
        ..recipe.environment.clone()
    };
    let recorded = &manifest.environment;
    // The hardware behind the device: a run recorded before cairn noted it is taken as
    // unknown, not as different.
    let hardware_now = hardware(backend).to_string();
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
