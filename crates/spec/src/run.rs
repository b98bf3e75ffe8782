//! The run manifest: what a run did, pointing at its recipe and every output.

use std::collections::BTreeMap;

use cairn_store::{Manifest, ObjectId};
use serde::{Deserialize, Serialize};

use crate::Environment;

/// The training loss at an optimizer step, or averaged over a span of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based optimizer step over the whole run (the last step of the span it stands for).
    pub step: u64,
    pub epoch: u64,
    /// The training loss: the mean batch loss over the steps this record stands for.
    pub loss: f64,
}

/// About this many [`StepRecord`]s per run at most (one more per epoch boundary that splits
/// a span): longer runs average consecutive steps.
pub const MAX_STEP_RECORDS: usize = 256;

impl StepRecord {
    /// `(epoch, batch loss)` of every step, in order, as about [`MAX_STEP_RECORDS`] records: consecutive steps of one epoch averaged in equal spans, so a one-epoch
    /// fine-tune still draws a curve and a long run stays small.
    pub fn summarize(losses: &[(u64, f64)]) -> Vec<StepRecord> {
        let span = losses.len().div_ceil(MAX_STEP_RECORDS).max(1);
        let mut out: Vec<StepRecord> = Vec::new();
        let mut i = 0;
        while i < losses.len() {
            let epoch = losses[i].0;
            let mut j = i;
            while j < losses.len() && j - i < span && losses[j].0 == epoch {
                j += 1;
            }
            let mean = losses[i..j].iter().map(|(_, l)| l).sum::<f64>() / (j - i) as f64;
            out.push(StepRecord {
                step: j as u64,
                epoch,
                loss: mean,
            });
            i = j;
        }
        out
    }
}

/// One epoch's summary.
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
    /// Model weights (the model crate's canonical bytes).
    pub weights: ObjectId,
    /// Full evaluation on the test set (JSON: headline metrics, per-family recall, confusion
    /// matrices).
    pub evaluation: ObjectId,
    /// The ONNX export (`[export] onnx`), checked against burn on the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<ObjectId>,
    /// The regression report (canonical JSON) and its Markdown rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_markdown: Option<ObjectId>,
    /// The frozen encoder layers' outputs on the training and validation rows
    /// (`[train] trainable_layers`), kept so the next run on the same data reuses them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<ObjectId>,
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
    pub mode: Mode,
    /// The parent run, when fine-tuned.
    pub parent: Option<ObjectId>,
    pub outputs: Outputs,
    /// Headline test-set metrics (accuracy, precision, recall, f1, fpr, fnr, …).
    pub metrics: BTreeMap<String, f64>,
    pub epochs: Vec<EpochRecord>,
    /// The training loss per optimizer step ([`StepRecord::summarize`]; absent in runs
    /// recorded before it was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// Where it actually ran.
    pub environment: Environment,
    pub status: RunState,
    /// The regression gate's decision.
    pub decision: Decision,
    /// Registered although the gate rejected it (`cairn run --force`).
    #[serde(default)]
    pub forced: bool,
    /// RFC 3339 UTC.
    pub started: String,
    pub duration_ms: u64,
    /// Examples seen per second of training.
    pub train_examples_per_second: f64,
    /// The operating point chosen by `[evaluate]` (P(attack) at or above it is an attack);
    /// absent: P(attack) > 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// ONNX Runtime's outputs on the test set against burn's (when the run exports ONNX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx_parity: Option<OnnxParity>,
    /// What its backend promises a re-run on the same backend, device and thread count
    /// (absent in runs recorded before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducibility: Option<Reproducibility>,
    /// The processor or adapter the device turned out to be (absent in runs recorded before
    /// it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
}

/// The hardware behind a run's device, as its backend reported it: a CPU model, a GPU
/// adapter, libtorch's build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    pub name: String,
    /// What else decides its numerics: the kernel target, the library and its build.
    pub detail: String,
}

impl std::fmt::Display for Hardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.detail)
    }
}

/// How exactly a backend's training repeats; recorded in the run, checked by `cairn
/// reproduce`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "class")]
pub enum Reproducibility {
    /// The same backend, device and thread count give the same bytes.
    Bitwise,
    /// Outputs agree within `max_abs_deviation` (kernels that may sum in another order).
    WithinTolerance { max_abs_deviation: f64 },
}

impl std::fmt::Display for Reproducibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reproducibility::Bitwise => write!(f, "bit for bit"),
            Reproducibility::WithinTolerance { max_abs_deviation } => {
                write!(f, "within {max_abs_deviation:e}")
            }
        }
    }
}

/// Whether a run trained from scratch or continued from its parent's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Retrain,
    FineTune,
}

/// Whether a stored run holds a version ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// `name@version` points at it.
    Registered,
    /// The regression gate refused it: stored, with no version ref.
    Rejected,
}

/// The regression gate's decision on a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Accept,
    Reject,
}

display_as_serialized!(
    Mode => { Retrain => "retrain", FineTune => "fine-tune" },
    RunState => { Registered => "registered", Rejected => "rejected" },
    Decision => { Accept => "accept", Reject => "reject" }
);

/// The parity check of a run's ONNX export: ONNX Runtime and burn on every test example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxParity {
    /// The ONNX Runtime library that ran the export (its file name carries the version).
    pub runtime: String,
    pub examples: u64,
    /// Largest absolute difference per output: `binary_logits`, `family_logits`,
    /// `severity_score`, `context_logits`.
    pub max_abs_deviation: BTreeMap<String, f64>,
    /// Examples whose attack / benign decision differs.
    pub binary_disagreements: u64,
    /// `[export] tolerance`: a larger deviation fails the run.
    pub tolerance: f64,
}

impl OnnxParity {
    /// The largest deviation over every output.
    pub fn max_deviation(&self) -> f64 {
        self.max_abs_deviation.values().copied().fold(0.0, f64::max)
    }
}

impl Manifest for RunManifest {
    const KIND: &'static str = "run";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_store_the_words_older_runs_used() {
        for (value, word) in [
            (serde_json::to_value(Mode::FineTune), "fine-tune"),
            (serde_json::to_value(Mode::Retrain), "retrain"),
            (serde_json::to_value(RunState::Registered), "registered"),
            (serde_json::to_value(RunState::Rejected), "rejected"),
            (serde_json::to_value(Decision::Accept), "accept"),
            (serde_json::to_value(Decision::Reject), "reject"),
        ] {
            assert_eq!(value.ok(), Some(serde_json::Value::from(word)));
        }
        assert_eq!(Mode::FineTune.to_string(), "fine-tune");
        let parsed: Decision = serde_json::from_str("\"reject\"").unwrap_or(Decision::Accept);
        assert_eq!(parsed, Decision::Reject);
    }

    #[test]
    fn steps_are_kept_whole_when_few_and_averaged_within_epochs_when_many() {
        let few: Vec<(u64, f64)> = (0..17).map(|i| (1, f64::from(i))).collect();
        let kept = StepRecord::summarize(&few);
        assert_eq!(kept.len(), 17);
        assert_eq!((kept[16].step, kept[16].loss), (17, 16.0));

        // 3 epochs of 300 steps: spans of 4 (900 / 256, rounded up), cut at each epoch's end.
        let many: Vec<(u64, f64)> = (0..900u32)
            .map(|i| (u64::from(i / 300) + 1, f64::from(i)))
            .collect();
        let kept = StepRecord::summarize(&many);
        assert!(kept.len() <= MAX_STEP_RECORDS + 3, "{}", kept.len());
        assert!(kept.windows(2).all(|w| w[0].step < w[1].step));
        assert_eq!(kept[0].step, 4);
        assert_eq!(kept[0].loss, 1.5, "the mean of steps 1-4");
        let first_of_epoch_2 = kept.iter().find(|r| r.epoch == 2).map(|r| r.step);
        assert_eq!(
            first_of_epoch_2,
            Some(304),
            "epoch 1's last span (297-300) stops at its end"
        );
        assert_eq!(kept.last().map(|r| r.step), Some(900));
        assert!(StepRecord::summarize(&[]).is_empty());
    }
}
