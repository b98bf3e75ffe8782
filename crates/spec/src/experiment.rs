//! The experiment file as a person writes it: sections, keys, defaults and checks.

use std::collections::BTreeMap;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize};

/// `[experiment]`: what this version is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// The model's name; versions are registered as `name@version`.
    pub name: String,
    /// Semantic version, e.g. `1.2.1`.
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// What changed, for `metadata.json` and `cairn log`.
    #[serde(default)]
    pub changes: Vec<String>,
}

/// `[data]`: what to train and test on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Base JSONL files or folders of them.
    pub base: Vec<String>,
    /// New examples; their weights get `new_data_boost`.
    #[serde(default)]
    pub additions: Vec<String>,
    /// The test set (JSONL).
    pub test: String,
    #[serde(default = "one")]
    pub new_data_boost: f64,
    /// Use a seeded sample of this many base rows, stratified by family.
    pub base_sample: Option<u64>,
    /// Fraction held out for validation (per-epoch metrics), stratified by family.
    #[serde(default = "default_validation")]
    pub validation_split: f64,
    /// Seed for sampling and the split; the training seed when absent.
    pub seed: Option<u64>,
    /// A taxonomy TOML; the built-in one when absent.
    pub taxonomy: Option<String>,
    #[serde(default = "default_max_chars")]
    pub max_text_chars: u64,
    /// A run refuses to train on fewer rows than this (after the validation split), or on
    /// rows of one label only.
    #[serde(default = "default_min_rows")]
    pub min_train_rows: u64,
    /// A run refuses a test set with fewer rows than this, or with rows of one label only:
    /// the gate and the metrics would measure nothing.
    #[serde(default = "default_min_rows")]
    pub min_test_rows: u64,
}

/// The default of `[data] min_train_rows` and `min_test_rows`.
pub const DEFAULT_MIN_ROWS: u64 = 10;

fn default_min_rows() -> u64 {
    DEFAULT_MIN_ROWS
}

/// `[tokenizer]`: trained from the training texts, or a given `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerSection {
    #[serde(default = "default_vocab")]
    pub vocab_size: u64,
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    #[serde(default = "default_max_length")]
    pub max_length: u64,
    /// A `tokenizer.json` to use instead of training one.
    pub file: Option<String>,
}

impl Default for TokenizerSection {
    fn default() -> Self {
        Self {
            vocab_size: default_vocab(),
            min_frequency: default_min_frequency(),
            max_length: default_max_length(),
            file: None,
        }
    }
}

/// `[model]`: architecture, sizes, and the parent version to fine-tune.
///
/// The size keys (`embed_dim = 64`, `d_model = 128`, ...) belong to the architectures the
/// caller registers ([`crate::ArchitectureSchema`]): parsing keeps every other key with its
/// value, and [`crate::LoadedExperiment::parse`] refuses the ones no architecture has,
/// checks the values, and fills in the architecture's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSection {
    /// A registered architecture: `bag` (hashed n-gram embedding bag + MLP, fast, the
    /// default) or `transformer` in this build.
    pub architecture: String,
    /// The architecture's sizes; after [`crate::LoadedExperiment::parse`], every size of the
    /// architecture, defaults filled in.
    #[serde(flatten)]
    pub sizes: BTreeMap<String, u64>,
    pub dropout: f64,
    /// Fine-tune from this registered version (`name@version` or `name/latest`); retrain
    /// from scratch when absent.
    pub parent: Option<String>,
    /// A pretrained encoder to start from (architectures that load checkpoints: `bert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PretrainedPaths>,
    /// Keys that are not `architecture`, `dropout` or `parent`, as written, in file order
    /// (checked and moved into `sizes` by [`crate::LoadedExperiment::parse`]).
    #[serde(skip)]
    pub(crate) other: Vec<(String, SizeValue)>,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            architecture: default_architecture(),
            sizes: BTreeMap::new(),
            dropout: default_dropout(),
            parent: None,
            pretrained: None,
            other: Vec::new(),
        }
    }
}

/// `[model] pretrained = { weights = "…/model.safetensors", config = "…/config.json",
/// tokenizer = "…/tokenizer.json" }`: a pretrained encoder as Hugging Face saves it. The
/// three files become store objects, so a version names its exact encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainedPaths {
    pub weights: String,
    pub config: String,
    pub tokenizer: String,
}

/// A value written for a size key: a `u64`, or why it is not one (serde's message).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SizeValue {
    Size(u64),
    Invalid(String),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

impl SizeVisitor {
    fn invalid(unexpected: Unexpected) -> SizeValue {
        SizeValue::Invalid(format!("invalid type: {unexpected}, expected u64"))
    }
}

impl<'de> Visitor<'de> for SizeVisitor {
    type Value = SizeValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("u64")
    }
    fn visit_u64<E>(self, v: u64) -> Result<SizeValue, E> {
        Ok(SizeValue::Size(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<SizeValue, E> {
        Ok(u64::try_from(v).map_or_else(
            |_| SizeValue::Invalid(format!("invalid value: integer `{v}`, expected u64")),
            SizeValue::Size,
        ))
    }
    fn visit_f64<E>(self, v: f64) -> Result<SizeValue, E> {
        Ok(Self::invalid(Unexpected::Float(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<SizeValue, E> {
        Ok(Self::invalid(Unexpected::Bool(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<SizeValue, E> {
        Ok(Self::invalid(Unexpected::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SizeValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::invalid(Unexpected::Seq))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SizeValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::invalid(Unexpected::Map))
    }
}

impl<'de> Deserialize<'de> for ModelSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ModelVisitor)
    }
}

struct ModelVisitor;

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = ModelSection;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct ModelSection")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelSection, A::Error> {
        let mut m = ModelSection::default();
        let (mut architecture, mut dropout, mut parent) = (None, None, None);
        let mut pretrained = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "architecture" if architecture.is_none() => {
                    architecture = Some(map.next_value::<String>()?);
                }
                "dropout" if dropout.is_none() => dropout = Some(map.next_value::<f64>()?),
                "parent" if parent.is_none() => {
                    parent = Some(map.next_value::<Option<String>>()?);
                }
                "pretrained" if pretrained.is_none() => {
                    pretrained = Some(map.next_value::<PretrainedPaths>()?);
                }
                "architecture" | "dropout" | "parent" | "pretrained" => {
                    return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                }
                _ => {
                    let value = map.next_value::<SizeValue>()?;
                    m.other.push((key, value));
                }
            }
        }
        m.architecture = architecture.unwrap_or_else(default_architecture);
        m.dropout = dropout.unwrap_or_else(default_dropout);
        m.parent = parent.flatten();
        m.pretrained = pretrained;
        Ok(m)
    }
}

/// `[train.loss_weights]`: Σ head weight × head loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossWeights {
    #[serde(default = "one")]
    pub binary: f64,
    #[serde(default = "half")]
    pub family: f64,
    #[serde(default = "quarter")]
    pub severity: f64,
    #[serde(default = "quarter")]
    pub context: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            binary: 1.0,
            family: 0.5,
            severity: 0.25,
            context: 0.25,
        }
    }
}

/// `[train]`: optimisation and the numerics environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_epochs")]
    pub epochs: u64,
    #[serde(default = "default_batch")]
    pub batch_size: u64,
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default)]
    pub loss_weights: LossWeights,
    /// `ndarray` (CPU, default); `wgpu` and `tch` when built with those features.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// The backend's device: `cpu`; for wgpu `default` (its pick), `cpu`, `discrete:N`,
    /// `integrated:N`, `virtual:N`; for tch `cpu`, `cuda:N`, `mps`, `vulkan`. The backend's
    /// default when absent. Recipes carry it, spelled canonically, as the environment's
    /// device, never here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// CPU threads for training; part of the environment (it can change numerics).
    #[serde(default = "default_threads")]
    pub threads: u64,
    /// Train only the encoder's top K layers and the heads (0: the encoder is frozen);
    /// everything trains when absent. Frozen layers' outputs are cached in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainable_layers: Option<u64>,
    /// The encoder's learning rate (the heads use `learning_rate`); `learning_rate` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_learning_rate: Option<f64>,
    /// Linear learning-rate warm-up over this many optimizer steps.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_steps: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `[evaluate]`: the operating point. `target_fpr` picks the decision threshold on the
/// validation split (the lowest threshold whose false-positive rate there is at most the
/// target); `threshold` sets it. Without either, a text is an attack when P(attack) > 0.5.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_fpr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl EvaluateSection {
    /// Neither key set (recipes then carry no `evaluate`).
    pub fn is_unset(&self) -> bool {
        self.target_fpr.is_none() && self.threshold.is_none()
    }
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            seed: 0,
            epochs: default_epochs(),
            batch_size: default_batch(),
            learning_rate: default_lr(),
            weight_decay: default_weight_decay(),
            loss_weights: LossWeights::default(),
            backend: default_backend(),
            device: None,
            threads: default_threads(),
            trainable_layers: None,
            encoder_learning_rate: None,
            warmup_steps: 0,
        }
    }
}

/// `[regression]`: the gate against the parent (or a named baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionSection {
    /// Compare against this version instead of the parent.
    pub baseline: Option<String>,
    /// More JSONL sets the candidate must not regress on (e.g. earlier additions).
    #[serde(default)]
    pub extra_sets: Vec<String>,
    /// Reject above this regression rate.
    #[serde(default = "default_reject_rate")]
    pub reject_rate: f64,
    /// Reject above this rate when improvements do not outnumber regressions.
    #[serde(default = "default_caution_rate")]
    pub caution_rate: f64,
}

impl Default for RegressionSection {
    fn default() -> Self {
        Self {
            baseline: None,
            extra_sets: Vec::new(),
            reject_rate: default_reject_rate(),
            caution_rate: default_caution_rate(),
        }
    }
}

/// `[export]`: ONNX export and where `metadata.json` goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    #[serde(default = "yes")]
    pub onnx: bool,
    /// Largest accepted deviation between ONNX Runtime and the training framework.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Folder (relative to the working directory) that receives `<name>/<version>/metadata.json`.
    /// Not part of the recipe: where a file is written does not change what a run computes.
    #[serde(default = "default_models_dir")]
    pub dir: String,
}

impl Default for ExportSection {
    fn default() -> Self {
        Self {
            onnx: true,
            tolerance: default_tolerance(),
            dir: default_models_dir(),
        }
    }
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            base: Vec::new(),
            additions: Vec::new(),
            test: String::new(),
            new_data_boost: one(),
            base_sample: None,
            validation_split: default_validation(),
            seed: None,
            taxonomy: None,
            max_text_chars: default_max_chars(),
            min_train_rows: default_min_rows(),
            min_test_rows: default_min_rows(),
        }
    }
}

/// A whole experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub experiment: ExperimentSection,
    pub data: DataSection,
    #[serde(default)]
    pub tokenizer: TokenizerSection,
    #[serde(default)]
    pub model: ModelSection,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub regression: RegressionSection,
    #[serde(default)]
    pub evaluate: EvaluateSection,
    #[serde(default)]
    pub export: ExportSection,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn quarter() -> f64 {
    0.25
}
fn yes() -> bool {
    true
}
fn default_validation() -> f64 {
    0.1
}
fn default_max_chars() -> u64 {
    8192
}
fn default_vocab() -> u64 {
    4000
}
fn default_min_frequency() -> u64 {
    2
}
fn default_max_length() -> u64 {
    128
}
fn default_architecture() -> String {
    "bag".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_epochs() -> u64 {
    4
}
fn default_batch() -> u64 {
    64
}
fn default_lr() -> f64 {
    2e-3
}
fn default_weight_decay() -> f64 {
    0.01
}
fn default_backend() -> String {
    "ndarray".into()
}
fn default_threads() -> u64 {
    1
}
fn default_reject_rate() -> f64 {
    0.05
}
fn default_caution_rate() -> f64 {
    0.02
}
fn default_tolerance() -> f64 {
    1e-4
}
fn default_models_dir() -> String {
    "models".into()
}
impl Experiment {
    /// Every setting at its default, for `name@version`, with no inputs (a recipe built in
    /// code gives its inputs to [`crate::RecipeBuilder`]).
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            experiment: ExperimentSection {
                name: name.to_string(),
                version: version.to_string(),
                description: String::new(),
                changes: Vec::new(),
            },
            data: DataSection::default(),
            tokenizer: TokenizerSection::default(),
            model: ModelSection::default(),
            train: TrainSection::default(),
            regression: RegressionSection::default(),
            evaluate: EvaluateSection::default(),
            export: ExportSection::default(),
        }
    }
}
