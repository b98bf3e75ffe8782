//! `cairn regress <ref> --backends …`: one version evaluated on every backend asked for —
//! the burn backends this build has, and ONNX Runtime on the version's export — against the
//! backend it was trained on. The table is stored as a `backend-snapshot` manifest under
//! `backends/<run>`, which `cairn show` reads. A backend that is not built in, or cannot run
//! here, is a row that says so.

use std::collections::BTreeMap;

use cairn_metrics::Confusion;
use cairn_model::Prediction;
use cairn_spec::{BackendRow, BackendSnapshot, OPTIONAL_BACKENDS, backend_snapshot_ref};
use cairn_store::{Expect, ObjectId, Store};

use crate::error::PipelineError;
use crate::loaded::LoadedModel;

/// The ONNX Runtime row's name.
pub const ONNX: &str = "onnx";

/// What a backend made of the test set, or why it made nothing.
enum Outcome {
    Ran {
        note: String,
        predictions: Vec<Prediction>,
    },
    Unavailable(String),
}

fn run_backend(
    model: &LoadedModel<'_>,
    name: &str,
    ids: &[Vec<u32>],
) -> Result<Outcome, PipelineError> {
    if name == ONNX {
        if model.run.outputs.onnx.is_none() {
            return Ok(Outcome::Unavailable(
                "no ONNX export (the version was trained with [export] onnx = false)".into(),
            ));
        }
        let runtime = match cairn_onnx::runtime_name() {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::Unavailable(e.to_string())),
        };
        // One intra-op thread, as the run's parity check: figures that do not depend on the
        // machine's core count.
        let mut session = cairn_onnx::OnnxModel::load(&model.onnx()?, 1)?;
        return Ok(Outcome::Ran {
            note: runtime,
            predictions: session.predict_all(ids, 256)?,
        });
    }
    if let Some((_, feature)) = OPTIONAL_BACKENDS.iter().find(|(n, _)| *n == name)
        && !cairn_model::Backend::BUILT.iter().any(|b| b.name() == name)
    {
        return Ok(Outcome::Unavailable(format!(
            "not built into this cairn (rebuild with `--features {feature}`)"
        )));
    }
    // The backend it was trained on runs on the device it was trained on.
    let backend = match &model.substituted {
        None if model.backend.name() == name => model.backend,
        _ => cairn_model::Backend::select(name, None)?,
    };
    Ok(Outcome::Ran {
        note: backend.device_name().to_string(),
        predictions: cairn_model::predict(&model.config, backend, model.weights()?, ids, 256)?,
    })
}

/// Checks the names asked for: known backends, each once.
fn check_names(backends: &[String]) -> Result<(), PipelineError> {
    let known: Vec<&str> = cairn_spec::BACKENDS
        .iter()
        .copied()
        .chain(OPTIONAL_BACKENDS.iter().map(|(n, _)| *n))
        .chain([ONNX])
        .collect();
    if backends.is_empty() {
        return Err(PipelineError::Invalid {
            field: "--backends".into(),
            problem: format!("name at least one of {}", known.join(", ")),
        });
    }
    for (i, name) in backends.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(PipelineError::Invalid {
                field: "--backends".into(),
                problem: format!("unknown backend `{name}` (known: {})", known.join(", ")),
            });
        }
        if backends[..i].contains(name) {
            return Err(PipelineError::Invalid {
                field: "--backends".into(),
                problem: format!("`{name}` is named twice"),
            });
        }
    }
    Ok(())
}

/// Evaluates `reference` on each of `backends` (in that order) and stores the table; returns
/// its id and the table.
pub fn backend_snapshot(
    store: &Store,
    reference: &str,
    backends: &[String],
) -> Result<(ObjectId, BackendSnapshot), PipelineError> {
    check_names(backends)?;
    let model = LoadedModel::load(store, reference)?;
    let (rows, ids) = model.test_set()?;
    let threshold = model.run.threshold;
    let at = threshold.map(|t| t as f32);
    let trained_on = model.run.environment.backend.clone();

    // The trained backend's predictions are the reference when this build has it.
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    for name in backends {
        outcomes.push((name.clone(), run_backend(&model, name, &ids)?));
    }
    let reference_outcome = match outcomes.iter().find(|(n, _)| *n == trained_on) {
        Some((_, Outcome::Ran { predictions, .. })) => {
            Some((trained_on.clone(), predictions.clone()))
        }
        _ => match run_backend(&model, &trained_on, &ids)? {
            Outcome::Ran { predictions, .. } => Some((trained_on.clone(), predictions)),
            Outcome::Unavailable(_) => outcomes.iter().find_map(|(n, o)| match o {
                Outcome::Ran { predictions, .. } => Some((n.clone(), predictions.clone())),
                Outcome::Unavailable(_) => None,
            }),
        },
    };
    let (reference_name, reference_predictions) =
        reference_outcome.unwrap_or_else(|| (trained_on.clone(), Vec::new()));

    let table = outcomes
        .into_iter()
        .map(|(backend, outcome)| match outcome {
            Outcome::Unavailable(note) => BackendRow {
                backend,
                available: false,
                note,
                metrics: BTreeMap::new(),
                max_abs_deviation: BTreeMap::new(),
                flips: None,
            },
            Outcome::Ran { note, predictions } => {
                let binary = Confusion::of(
                    rows.iter()
                        .zip(&predictions)
                        .map(|(r, p)| (r.example.label == 1, p.is_attack_at(at))),
                )
                .binary();
                let d = cairn_onnx::deviation(&reference_predictions, &predictions);
                let flips =
                    crate::stages::export::flips(&reference_predictions, &predictions, threshold);
                BackendRow {
                    backend,
                    available: true,
                    note,
                    metrics: binary
                        .named()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                    max_abs_deviation: d.by_output(),
                    flips: Some(flips),
                }
            }
        })
        .collect();
    let snapshot = BackendSnapshot {
        version: model.version.clone(),
        run: model.run_id,
        trained_on,
        reference: reference_name,
        test: model.recipe.data.test.object,
        examples: rows.len() as u64,
        threshold: threshold.unwrap_or(0.5),
        rows: table,
    };
    let id = store.put_manifest(&snapshot)?;
    let name = backend_snapshot_ref(&model.run_id).map_err(|e| PipelineError::Invalid {
        field: "backend snapshot ref".into(),
        problem: e.to_string(),
    })?;
    store.set_ref(&name, id, Expect::Any)?;
    Ok((id, snapshot))
}
