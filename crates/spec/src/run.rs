//! The run manifest: what a run did, pointing at its recipe and every output.

use std::collections::BTreeMap;

use cairn_store::{Manifest, ObjectId};
use serde::{Deserialize, Serialize};

use crate::Environment;

/// Per-epoch numbers recorded during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub train_loss: f64,
    pub validation_loss: Option<f64>,
    pub validation_accuracy: Option<f64>,
}

/// The objects a run produced. Later stages (ONNX export, regression report) add theirs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// The merged dataset manifest.
    pub dataset: ObjectId,
    /// `tokenizer.json`.
    pub tokenizer: ObjectId,
    /// Model weights (burn record bytes).
    pub weights: ObjectId,
    /// Full evaluation on the test set (JSON: headline metrics, per-family recall, confusion
    /// matrices).
    pub evaluation: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<ObjectId>,
    /// The regression report (canonical JSON) and its Markdown rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_markdown: Option<ObjectId>,
}

impl Outputs {
    /// Name → object, in a fixed order.
    pub fn named(&self) -> Vec<(&'static str, ObjectId)> {
        let mut out = vec![
            ("dataset", self.dataset),
            ("tokenizer", self.tokenizer),
            ("weights", self.weights),
            ("evaluation", self.evaluation),
        ];
        out.extend(self.onnx.map(|o| ("onnx", o)));
        out.extend(self.report.map(|o| ("report", o)));
        out.extend(self.report_markdown.map(|o| ("report_markdown", o)));
        out
    }
}

/// A run: one execution of a recipe, registered (or not) as `name@version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// The recipe (its id is the cache key).
    pub recipe: ObjectId,
    pub name: String,
    pub version: String,
    /// `retrain` or `fine-tune`.
    pub mode: String,
    /// The parent run, when fine-tuned.
    pub parent: Option<ObjectId>,
    pub outputs: Outputs,
    /// Headline test-set metrics (accuracy, precision, recall, f1, fpr, fnr, …).
    pub metrics: BTreeMap<String, f64>,
    pub epochs: Vec<EpochRecord>,
    /// Where it actually ran.
    pub environment: Environment,
    /// `registered` or `rejected`.
    pub status: String,
    /// The regression gate's decision: `accept` or `reject`.
    pub decision: String,
    /// Registered although the gate rejected it (`cairn run --force`).
    #[serde(default)]
    pub forced: bool,
    /// RFC 3339 UTC.
    pub started: String,
    pub duration_ms: u64,
    /// Examples seen per second of training.
    pub train_examples_per_second: f64,
}

impl Manifest for RunManifest {
    const KIND: &'static str = "run";
}
