//! `cairn-onnx`: ONNX export of cairn's models, written by hand (burn imports ONNX but has
//! no exporter), and inference with ONNX Runtime.
//!
//! - [`export`] writes an ONNX `ModelProto` (opset [`OPSET`]) for every architecture the
//!   model crate trains, with the weights as initializers and the run's provenance in
//!   `metadata_props`;
//! - [`OnnxModel`] runs an export with ONNX Runtime (loaded dynamically, see
//!   [`library_path`]);
//! - [`deviation`] compares ONNX Runtime's outputs with burn's: every run checks its export
//!   on the whole test set.

mod export;
mod graph;
mod runtime;

use cairn_model::Prediction;
use serde::{Deserialize, Serialize};

pub use export::{OPSET, Provenance, export};
pub use runtime::{OnnxModel, library_path, metadata, runtime_name};

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error(transparent)]
    Model(#[from] cairn_model::ModelError),
    #[error("ONNX export: {0}")]
    Export(String),
    /// ONNX Runtime failed on a model or input.
    #[error("{0}")]
    Runtime(String),
    /// The ONNX Runtime library cannot be found or started (the message names the fix).
    #[error("{0}")]
    Unavailable(String),
}

/// How far one set of predictions is from another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    pub examples: u64,
    /// Largest absolute difference per output (`binary_logits`, `family_logits`,
    /// `severity_score`, `context_logits`).
    pub binary_logits: f64,
    pub family_logits: f64,
    pub severity_score: f64,
    pub context_logits: f64,
    /// Examples whose attack / benign decision differs.
    pub binary_disagreements: u64,
}

impl Deviation {
    /// The largest absolute difference per output, by output name.
    pub fn by_output(&self) -> std::collections::BTreeMap<String, f64> {
        [
            ("binary_logits", self.binary_logits),
            ("family_logits", self.family_logits),
            ("severity_score", self.severity_score),
            ("context_logits", self.context_logits),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The largest deviation over every output.
    pub fn max(&self) -> f64 {
        self.binary_logits
            .max(self.family_logits)
            .max(self.severity_score)
            .max(self.context_logits)
    }
}

/// `|x - y|`, infinite when either is NaN (a NaN output is never "close").
fn abs_diff(x: f32, y: f32) -> f64 {
    let d = f64::from((x - y).abs());
    if d.is_nan() { f64::INFINITY } else { d }
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| abs_diff(*x, *y))
        .fold(0.0, f64::max)
}

/// Compares two prediction lists example by example (a length mismatch is an infinite
/// deviation).
pub fn deviation(reference: &[Prediction], other: &[Prediction]) -> Deviation {
    let mut d = Deviation {
        examples: reference.len() as u64,
        binary_logits: 0.0,
        family_logits: 0.0,
        severity_score: 0.0,
        context_logits: 0.0,
        binary_disagreements: 0,
    };
    if reference.len() != other.len() {
        d.binary_logits = f64::INFINITY;
        return d;
    }
    for (a, b) in reference.iter().zip(other) {
        d.binary_logits = d
            .binary_logits
            .max(max_abs(&a.binary_logits, &b.binary_logits));
        d.family_logits = d
            .family_logits
            .max(max_abs(&a.family_logits, &b.family_logits));
        d.severity_score = d.severity_score.max(abs_diff(a.severity, b.severity));
        d.context_logits = d
            .context_logits
            .max(max_abs(&a.context_logits, &b.context_logits));
        d.binary_disagreements += u64::from(a.is_attack() != b.is_attack());
    }
    d
}
