//! ONNX export and parity: ONNX Runtime runs the export on the test set and its outputs are
//! compared with burn's; a deviation above `[export] tolerance` fails the run.

use cairn_model::{ModelConfig, Prediction, Weights};
use cairn_spec::{OnnxParity, Recipe};
use cairn_store::{ObjectId, Store};

use crate::error::PipelineError;
use crate::event::{Event, Stage};

pub(crate) fn export(
    store: &Store,
    recipe: &Recipe,
    provenance: &cairn_onnx::Provenance,
    (model, weights): (&ModelConfig, &Weights),
    test_ids: &[Vec<u32>],
    burn: &[Prediction],
    events: &mut dyn FnMut(Event),
) -> Result<(ObjectId, OnnxParity), PipelineError> {
    events(Event::Stage(
        Stage::Onnx,
        format!("export and parity on {} test rows", test_ids.len()),
    ));
    let bytes = cairn_onnx::export(model, weights, provenance)?;
    let parity = parity(&bytes, test_ids, burn, recipe.export.tolerance)?;
    Ok((store.put_bytes(&bytes)?.id, parity))
}

/// Runs an export with ONNX Runtime on the test set and compares with burn's predictions;
/// a deviation above `tolerance` is an error carrying both figures.
fn parity(
    onnx: &[u8],
    ids: &[Vec<u32>],
    burn: &[Prediction],
    tolerance: f64,
) -> Result<OnnxParity, PipelineError> {
    // One intra-op thread: the recorded figures do not depend on the machine.
    let mut session = cairn_onnx::OnnxModel::load(onnx, 1)?;
    let ort = session.predict_all(ids, 256)?;
    let d = cairn_onnx::deviation(burn, &ort);
    let parity = OnnxParity {
        runtime: cairn_onnx::runtime_name()?,
        examples: d.examples,
        max_abs_deviation: d.by_output(),
        binary_disagreements: d.binary_disagreements,
        tolerance,
    };
    let worst = parity.max_deviation();
    if worst.is_nan() || worst > tolerance {
        let output = parity
            .max_abs_deviation
            .iter()
            .find(|(_, v)| **v == worst || v.is_nan())
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        return Err(PipelineError::Parity {
            deviation: worst,
            output,
            tolerance,
            disagreements: d.binary_disagreements,
            examples: d.examples,
        });
    }
    Ok(parity)
}

/// Examples whose attack / benign decision differs between two prediction lists, at a run's
/// operating point (`None`: P(attack) > 0.5).
pub(crate) fn flips(a: &[Prediction], b: &[Prediction], threshold: Option<f64>) -> u64 {
    let at = threshold.map(|t| t as f32);
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.is_attack_at(at) != y.is_attack_at(at))
        .count() as u64
}
