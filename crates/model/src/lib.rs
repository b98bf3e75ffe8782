//! `cairn-model`: the prompt-injection / jailbreak detector model.
//!
//! - [`train`]: deterministic training (and fine-tuning from existing [`Weights`]);
//! - [`predict`]: batched inference;
//! - [`evaluate`]: metrics from predictions and ground truth;
//! - [`Weights`], [`safetensors`], [`tensors`]: canonical weight bytes and exports.
//!
//! Built on burn 0.22 (device-dispatched tensors). The backend is chosen at run time by
//! [`Backend`]; new backends (wgpu, tch, flex, ...) are added as Cargo features plus an enum
//! variant, without changing this API.
//!
//! # Determinism
//!
//! Same inputs + same seed + same backend + same thread count give byte-identical
//! [`Weights`], in-process and across processes:
//! - parameter initialization and dropout masks use this crate's own ChaCha8 streams
//!   derived from the seed (never burn's process-global backend RNG), so concurrent trainings
//!   in one process cannot disturb each other;
//! - every parameter is initialized eagerly, in module traversal order, right after the model
//!   is built, and is given a deterministic [`burn::module::ParamId`] from a counter;
//! - [`Weights`] bytes are written by this crate (name, shape, little-endian `f32` values, in
//!   traversal order), not burn's record format, so they depend only on the values;
//! - batches are shuffled with a seeded ChaCha8 stream, built in a fixed order, no loader
//!   threads; training runs inside a dedicated rayon pool of `threads` threads.

pub mod arch;
mod backend;
pub mod hashing;
mod layers;
mod metrics;
mod net;
mod tensor;
mod weights;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use metrics::{evaluate, evaluate_at};

/// `(name, shape, row-major f32 values)` of one parameter, as returned by [`tensors`].
pub type NamedParameter = (String, Vec<usize>, Vec<f32>);
pub use tensor::NamedTensor;
/// How far two sets of weights of one model are apart ([`weights::deviation`]).
pub use weights::deviation as weight_deviation;
pub use weights::{safetensors, tensors};

/// Encoder architecture: a registered [`arch::ArchitectureDef`] and its sizes.
///
/// Serialized as `{"kind": "<name>", "<size>": n, ...}`, the sizes in the architecture's
/// [`arch::ArchitectureDef::sizes`] order (this is the weights header's and the ONNX
/// metadata's format); deserializing refuses an unknown kind, a missing size and an unknown
/// key.
#[derive(Clone)]
pub struct Architecture {
    def: &'static dyn arch::ArchitectureDef,
    /// In `def.sizes()` order.
    values: Vec<usize>,
}

impl Architecture {
    /// The registered architecture `kind` with these sizes (every size key of the
    /// architecture exactly once, in any order).
    pub fn new(kind: &str, sizes: &[(&str, usize)]) -> Result<Self, ModelError> {
        let def = arch::architecture(kind).ok_or_else(|| {
            ModelError::InvalidConfig(format!(
                "unknown architecture `{kind}` (this build has: {})",
                arch::registry()
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if let Some((key, _)) = sizes
            .iter()
            .find(|(k, _)| !def.sizes().iter().any(|(own, _)| own == k))
        {
            return Err(ModelError::InvalidConfig(format!(
                "{kind}: unknown size `{key}`"
            )));
        }
        let values = def
            .sizes()
            .iter()
            .map(|(key, _)| {
                let mut given = sizes.iter().filter(|(k, _)| k == key);
                match (given.next(), given.next()) {
                    (Some((_, v)), None) => Ok(*v),
                    (None, _) => Err(ModelError::InvalidConfig(format!(
                        "{kind}: missing size `{key}`"
                    ))),
                    (Some(_), Some(_)) => Err(ModelError::InvalidConfig(format!(
                        "{kind}: size `{key}` given twice"
                    ))),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { def, values })
    }

    /// The registered architecture `kind` with its default sizes.
    pub fn with_defaults(kind: &str) -> Result<Self, ModelError> {
        let defaults: Vec<(&str, usize)> = arch::architecture(kind)
            .map(|def| def.sizes().iter().map(|(k, v)| (*k, *v as usize)).collect())
            .unwrap_or_default();
        Self::new(kind, &defaults)
    }

    /// The architecture's name (`kind`).
    pub fn kind(&self) -> &'static str {
        self.def.name()
    }

    /// The registry entry.
    pub fn def(&self) -> &'static dyn arch::ArchitectureDef {
        self.def
    }

    /// `(key, value)` of every size, in the architecture's order.
    pub fn sizes(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.def
            .sizes()
            .iter()
            .zip(&self.values)
            .map(|((k, _), v)| (*k, *v))
    }

    /// The size `key`.
    ///
    /// # Panics
    /// When `key` is not one of the architecture's size keys (a bug in its module).
    pub fn size(&self, key: &str) -> usize {
        self.sizes()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("the {} architecture has no size `{key}`", self.kind()))
    }

    /// `name(key=value, ...)`.
    pub fn describe(&self) -> String {
        self.def.describe(self)
    }
}

impl PartialEq for Architecture {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.values == other.values
    }
}

impl std::fmt::Debug for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct(self.kind());
        for (k, v) in self.sizes() {
            s.field(k, &v);
        }
        s.finish()
    }
}

impl Serialize for Architecture {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1 + self.values.len()))?;
        map.serialize_entry("kind", self.kind())?;
        for (k, v) in self.sizes() {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Architecture {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ArchitectureVisitor)
    }
}

struct ArchitectureVisitor;

impl<'de> serde::de::Visitor<'de> for ArchitectureVisitor {
    type Value = Architecture;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an architecture: {\"kind\": name, sizes...}")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Architecture, M::Error> {
        use serde::de::Error;
        let mut kind: Option<String> = None;
        let mut sizes: Vec<(String, usize)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "kind" {
                if kind.is_some() {
                    return Err(M::Error::duplicate_field("kind"));
                }
                kind = Some(map.next_value()?);
            } else {
                sizes.push((key, map.next_value()?));
            }
        }
        let kind = kind.ok_or_else(|| M::Error::missing_field("kind"))?;
        let one_of = |names: Vec<&str>| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(def) = arch::architecture(&kind) else {
            let names = arch::registry().iter().map(|a| a.name()).collect();
            return Err(M::Error::custom(format!(
                "unknown architecture `{kind}`, expected one of {}",
                one_of(names)
            )));
        };
        let keys: Vec<&str> = def.sizes().iter().map(|(k, _)| *k).collect();
        for (k, _) in &sizes {
            if !keys.contains(&k.as_str()) {
                return Err(M::Error::custom(format!(
                    "unknown field `{k}` of the {kind} architecture, expected one of {}",
                    one_of(keys)
                )));
            }
        }
        for key in &keys {
            match sizes.iter().filter(|(k, _)| k == key).count() {
                0 => return Err(M::Error::custom(format!("missing field `{key}`"))),
                1 => {}
                _ => return Err(M::Error::custom(format!("duplicate field `{key}`"))),
            }
        }
        let sizes: Vec<(&str, usize)> = sizes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        Architecture::new(&kind, &sizes).map_err(M::Error::custom)
    }
}

/// Shape-determining model configuration (plus dropout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub max_length: usize,
    pub families: usize,
    pub contexts: usize,
    pub dropout: f64,
}

/// Weight of each head's loss in the total loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadWeights {
    pub binary: f64,
    pub family: f64,
    pub severity: f64,
    pub context: f64,
}

/// Training hyper-parameters and execution environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub head_weights: HeadWeights,
    /// Size of the dedicated rayon pool training runs in (must be >= 1).
    pub threads: usize,
    pub backend: Backend,
    /// Train only the top K layers of the encoder (and the heads): `Some(0)` freezes the
    /// whole encoder, `None` trains everything. Needs an architecture with layers
    /// ([`arch::ArchitectureDef::layers`]) and weights to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainable_layers: Option<usize>,
    /// Learning rate of the encoder's parameters; `learning_rate` when `None` (the heads
    /// always use `learning_rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_learning_rate: Option<f64>,
    /// Linear warm-up: the learning rates grow from 1/warmup_steps of their value to all of
    /// it over the first `warmup_steps` optimizer steps.
    #[serde(default)]
    pub warmup_steps: usize,
}

impl TrainConfig {
    /// How many bottom layers of the encoder stay frozen (`None`: none).
    pub fn frozen_layers(&self, model: &ModelConfig) -> Result<Option<usize>, ModelError> {
        let Some(k) = self.trainable_layers else {
            return Ok(None);
        };
        let def = model.architecture.def();
        let layers = def.layers(model).ok_or_else(|| {
            ModelError::InvalidTrainConfig(format!(
                "the {} architecture has no layers to freeze; remove trainable_layers",
                def.name()
            ))
        })?;
        Ok((k < layers).then_some(layers - k))
    }
}

/// Precomputed outputs of an encoder's frozen bottom ([`frozen_features`]) for the training
/// and validation examples, in their order.
#[derive(Debug, Clone, Copy)]
pub struct Frozen<'a> {
    pub train: &'a [arch::Features],
    pub validation: &'a [arch::Features],
}

pub use arch::Features;

pub use backend::{Backend, DeviceName, Hardware, SelectError};

/// One tokenized example. `ids` are already truncated to max_length (not padded); pad id is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub label: u8,
    pub family: usize,
    pub severity: f32,
    pub context: usize,
    pub weight: f32,
}

/// Opaque, canonical weight bytes: identical weights give identical bytes.
#[derive(Clone, PartialEq)]
pub struct Weights(pub Vec<u8>);

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Weights({} bytes)", self.0.len())
    }
}

/// Per-epoch summary.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean of the batch losses (each batch loss is Σ(w·ℓ)/Σw).
    pub train_loss: f64,
    pub validation_loss: Option<f64>,
    /// Binary accuracy on the validation set.
    pub validation_accuracy: Option<f64>,
}

/// Result of [`train`].
#[derive(Debug, Clone)]
pub struct Trained {
    pub weights: Weights,
    pub epochs: Vec<EpochReport>,
}

/// Progress callback payload, sent after every optimizer step.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based index of the batch just finished.
    pub batch: usize,
    pub batches: usize,
    /// Mean batch loss so far in this epoch.
    pub running_loss: f64,
    /// This batch's loss (`None`: the batch had nothing to learn from).
    pub loss: Option<f64>,
}

/// Model outputs for one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// `[benign, attack]`.
    pub binary_logits: [f32; 2],
    pub family_logits: Vec<f32>,
    /// In `[0, 1]` (sigmoid output).
    pub severity: f32,
    pub context_logits: Vec<f32>,
}

impl Prediction {
    /// Per-example predictions from a batch's row-major outputs: `binary` `[b, 2]`, `family`
    /// `[b, families]`, `severity` `[b]`, `context` `[b, contexts]` (`b` = `severity.len()`).
    pub fn from_batch(
        binary: &[f32],
        family: &[f32],
        severity: &[f32],
        context: &[f32],
    ) -> Vec<Prediction> {
        let b = severity.len();
        let (nf, nc) = (family.len() / b.max(1), context.len() / b.max(1));
        (0..b)
            .map(|i| Prediction {
                binary_logits: [binary[2 * i], binary[2 * i + 1]],
                family_logits: family[i * nf..(i + 1) * nf].to_vec(),
                severity: severity[i],
                context_logits: context[i * nc..(i + 1) * nc].to_vec(),
            })
            .collect()
    }

    /// Softmax probability of the attack class.
    pub fn attack_probability(&self) -> f32 {
        let [b, a] = self.binary_logits;
        // softmax([b, a])[1] = sigmoid(a - b), computed stably.
        let d = a - b;
        if d >= 0.0 {
            1.0 / (1.0 + (-d).exp())
        } else {
            let e = d.exp();
            e / (1.0 + e)
        }
    }

    /// `true` when the attack logit is strictly greater than the benign one.
    pub fn is_attack(&self) -> bool {
        self.binary_logits[1] > self.binary_logits[0]
    }

    /// At an operating point: P(attack) >= `threshold`; [`Prediction::is_attack`] without
    /// one.
    pub fn is_attack_at(&self, threshold: Option<f32>) -> bool {
        match threshold {
            Some(t) => self.attack_probability() >= t,
            None => self.is_attack(),
        }
    }

    /// Arg-max family (first on ties, 0 if empty).
    pub fn family(&self) -> usize {
        argmax(&self.family_logits)
    }

    /// Arg-max context (first on ties, 0 if empty).
    pub fn context(&self) -> usize {
        argmax(&self.context_logits)
    }
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Evaluation metrics. The positive class is "attack" (label 1). Ratios with a zero
/// denominator are defined as 0.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub fpr: f64,
    pub fnr: f64,
    /// `[true label][predicted label]`.
    pub binary_confusion: [[u64; 2]; 2],
    /// Over all examples.
    pub family_accuracy: f64,
    /// Per true family present in the truth: correct / count.
    pub family_recall: BTreeMap<usize, f64>,
    /// `[true family][predicted family]`, square, size max(logits, max true family + 1).
    pub family_confusion: Vec<Vec<u64>>,
    pub severity_mae: f64,
    pub context_accuracy: f64,
    pub examples: u64,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    #[error("invalid training configuration: {0}")]
    InvalidTrainConfig(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("weights are incompatible with the model configuration: {reason}")]
    Incompatible { reason: String },
    #[error("corrupt weights: {0}")]
    CorruptWeights(String),
    #[error("backend error: {0}")]
    Backend(String),
}

impl ModelConfig {
    /// Checks sizes are usable.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: &str| Err(ModelError::InvalidConfig(m.to_string()));
        if self.families == 0 {
            return bad("families must be >= 1");
        }
        if self.contexts == 0 {
            return bad("contexts must be >= 1");
        }
        if self.max_length == 0 {
            return bad("max_length must be >= 1");
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return bad("dropout must be in [0, 1)");
        }
        self.architecture
            .def()
            .validate(self)
            .map_err(ModelError::InvalidConfig)?;
        Ok(())
    }
}

/// Number of scalar parameters of the model.
pub fn parameter_count(model: &ModelConfig) -> usize {
    let heads = |r: usize| {
        (r * 2 + 2)
            + (r * model.families + model.families)
            + (r + 1)
            + (r * model.contexts + model.contexts)
    };
    let def = model.architecture.def();
    def.encoder_parameters(model) + heads(def.rep_dim(model))
}

fn validate_examples(model: &ModelConfig, data: &[Encoded], what: &str) -> Result<(), ModelError> {
    for (i, e) in data.iter().enumerate() {
        let bad = |m: String| Err(ModelError::InvalidInput(format!("{what} example {i}: {m}")));
        if e.label > 1 {
            return bad(format!("label {} is not 0 or 1", e.label));
        }
        if e.family >= model.families {
            return bad(format!(
                "family {} out of range (families = {})",
                e.family, model.families
            ));
        }
        if e.context >= model.contexts {
            return bad(format!(
                "context {} out of range (contexts = {})",
                e.context, model.contexts
            ));
        }
        if !e.severity.is_finite() {
            return bad("severity is not finite".into());
        }
        if !(e.weight.is_finite() && e.weight >= 0.0) {
            return bad(format!("weight {} is not finite and >= 0", e.weight));
        }
        model
            .architecture
            .def()
            .check_ids(model, &e.ids)
            .map_err(|m| ModelError::InvalidInput(format!("{what} example {i}: {m}")))?;
    }
    Ok(())
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, ModelError> {
    if threads == 0 {
        return Err(ModelError::InvalidTrainConfig(
            "threads must be >= 1".into(),
        ));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cairn-model-{i}"))
        .build()
        .map_err(|e| ModelError::Backend(format!("cannot build a {threads}-thread pool: {e}")))
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Train a model (from scratch, or fine-tune from `init`).
///
/// Deterministic: see the crate docs. `on_batch` is called on the calling thread after every
/// optimizer step.
pub fn train(
    model: &ModelConfig,
    train: &TrainConfig,
    data: &[Encoded],
    validation: &[Encoded],
    init: Option<&Weights>,
    on_batch: &mut dyn FnMut(Progress),
) -> Result<Trained, ModelError> {
    let init = match init {
        Some(w) => Init::Weights(w),
        None => Init::Scratch,
    };
    train_from(model, train, data, validation, init, on_batch)
}

/// Where [`train_from`] starts.
#[derive(Debug, Clone, Copy)]
pub enum Init<'a> {
    /// Every parameter from the seed.
    Scratch,
    /// Fine-tune: every parameter from existing weights (checked against the config).
    Weights(&'a Weights),
    /// An architecture's pretrained weights (an object's bytes, decoded by
    /// [`arch::ArchitectureDef::pretrained`]); the parameters they do not name come from
    /// the seed.
    Pretrained(&'a [u8]),
}

/// [`train`], from scratch, existing weights or pretrained weights.
pub fn train_from(
    model: &ModelConfig,
    train: &TrainConfig,
    data: &[Encoded],
    validation: &[Encoded],
    init: Init<'_>,
    on_batch: &mut dyn FnMut(Progress),
) -> Result<Trained, ModelError> {
    train_with(model, train, data, validation, init, None, on_batch)
}

/// The tensors an [`Init`] starts from (checked against `model`).
fn init_tensors(
    model: &ModelConfig,
    init: Init<'_>,
) -> Result<Option<Vec<NamedTensor>>, ModelError> {
    Ok(match init {
        Init::Scratch => None,
        Init::Weights(w) => {
            let parsed = weights::parse(w)?;
            weights::check_compatible(model, &parsed.header)?;
            Some(parsed.tensors)
        }
        Init::Pretrained(bytes) => Some(
            model
                .architecture
                .def()
                .pretrained(model, bytes)
                .map_err(ModelError::InvalidInput)?,
        ),
    })
}

fn start_of<'a>(init: Init<'_>, tensors: &'a Option<Vec<NamedTensor>>) -> arch::Start<'a> {
    match (init, tensors) {
        (Init::Weights(_), Some(t)) => arch::Start::Weights(t),
        (Init::Pretrained(_), Some(t)) => arch::Start::Pretrained(t),
        _ => arch::Start::Scratch,
    }
}

/// The number of frozen bottom layers `train` asks for, refused when there are no weights to
/// start from.
fn frozen_of(
    model: &ModelConfig,
    train: &TrainConfig,
    init: Init<'_>,
) -> Result<Option<usize>, ModelError> {
    let frozen = train.frozen_layers(model)?;
    if frozen.is_some() && matches!(init, Init::Scratch) {
        return Err(ModelError::InvalidTrainConfig(
            "trainable_layers freezes layers that were never trained: give pretrained weights or a parent".into(),
        ));
    }
    Ok(frozen)
}

/// The bytes that identify an encoder's frozen bottom (names, shapes and values of its
/// parameters, in order): equal bytes give equal [`frozen_features`]. `None` when nothing
/// is frozen.
pub fn frozen_fingerprint(
    model: &ModelConfig,
    train: &TrainConfig,
    init: Init<'_>,
) -> Result<Option<Vec<u8>>, ModelError> {
    model.validate()?;
    let Some(frozen) = frozen_of(model, train, init)? else {
        return Ok(None);
    };
    let tensors = init_tensors(model, init)?.unwrap_or_default();
    let def = model.architecture.def();
    let mut out = format!("{}\n{frozen}\n", model.architecture.describe()).into_bytes();
    for t in tensors.iter().filter(|t| def.is_frozen(&t.name, frozen)) {
        out.extend_from_slice(t.name.as_bytes());
        out.push(0);
        for d in &t.shape {
            out.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        for v in &t.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(Some(out))
}

/// The frozen bottom's [`Features`] of `data` (what [`train_with`] would compute), in order;
/// `None` when `train` freezes nothing.
pub fn frozen_features(
    model: &ModelConfig,
    train: &TrainConfig,
    init: Init<'_>,
    data: &[Encoded],
) -> Result<Option<Vec<Features>>, ModelError> {
    model.validate()?;
    validate_examples(model, data, "training")?;
    let Some(frozen) = frozen_of(model, train, init)? else {
        return Ok(None);
    };
    let tensors = init_tensors(model, init)?;
    let start = start_of(init, &tensors);
    let pool = thread_pool(train.threads)?;
    let def = model.architecture.def();
    pool.install(|| {
        def.run_features(
            model,
            train.backend,
            start,
            train.seed,
            data,
            frozen,
            train.batch_size.max(1),
        )
    })
    .map(Some)
}

/// Encodes features for storage: `CAIRNF01`, u64 count, then per example u64 rows, u64
/// values, the f32 values (little-endian).
pub fn encode_features(features: &[Features]) -> Vec<u8> {
    let total: usize = features.iter().map(|f| 16 + 4 * f.values.len()).sum();
    let mut out = Vec::with_capacity(16 + total);
    out.extend_from_slice(b"CAIRNF01");
    out.extend_from_slice(&(features.len() as u64).to_le_bytes());
    for f in features {
        out.extend_from_slice(&(f.rows as u64).to_le_bytes());
        out.extend_from_slice(&(f.values.len() as u64).to_le_bytes());
        for v in &f.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Decodes [`encode_features`]' bytes.
pub fn decode_features(bytes: &[u8]) -> Result<Vec<Features>, ModelError> {
    let bad = |m: &str| ModelError::CorruptWeights(format!("features: {m}"));
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], ModelError> {
        let s = bytes.get(at..at + n).ok_or_else(|| bad("truncated"))?;
        at += n;
        Ok(s)
    };
    if take(8)? != b"CAIRNF01" {
        return Err(bad("not a features object"));
    }
    let u64_at = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])) as usize;
    let count = u64_at(take(8)?);
    let mut out = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let rows = u64_at(take(8)?);
        let n = u64_at(take(8)?);
        let raw = take(n.checked_mul(4).ok_or_else(|| bad("too large"))?)?;
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push(Features { rows, values });
    }
    if at != bytes.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

/// [`train_from`], with the frozen bottom's features precomputed (e.g. from a cache) when
/// `train.trainable_layers` freezes layers; computed here when `frozen` is `None`.
pub fn train_with(
    model: &ModelConfig,
    train: &TrainConfig,
    data: &[Encoded],
    validation: &[Encoded],
    init: Init<'_>,
    frozen: Option<Frozen<'_>>,
    on_batch: &mut dyn FnMut(Progress),
) -> Result<Trained, ModelError> {
    model.validate()?;
    if train.batch_size == 0 {
        return Err(ModelError::InvalidTrainConfig(
            "batch_size must be >= 1".into(),
        ));
    }
    if !(train.learning_rate.is_finite() && train.learning_rate > 0.0) {
        return Err(ModelError::InvalidTrainConfig(
            "learning_rate must be finite and > 0".into(),
        ));
    }
    if let Some(lr) = train.encoder_learning_rate
        && !(lr.is_finite() && lr >= 0.0)
    {
        return Err(ModelError::InvalidTrainConfig(
            "encoder_learning_rate must be finite and >= 0".into(),
        ));
    }
    if !(train.weight_decay.is_finite() && train.weight_decay >= 0.0) {
        return Err(ModelError::InvalidTrainConfig(
            "weight_decay must be finite and >= 0".into(),
        ));
    }
    let hw = &train.head_weights;
    for (n, v) in [
        ("binary", hw.binary),
        ("family", hw.family),
        ("severity", hw.severity),
        ("context", hw.context),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(ModelError::InvalidTrainConfig(format!(
                "head weight {n} must be finite and >= 0"
            )));
        }
    }
    validate_examples(model, data, "training")?;
    validate_examples(model, validation, "validation")?;
    let def = model.architecture.def();
    let frozen_layers = frozen_of(model, train, init)?;
    if let Some(f) = &frozen
        && (f.train.len() != data.len() || f.validation.len() != validation.len())
    {
        return Err(ModelError::InvalidInput(format!(
            "precomputed features for {} + {} examples, the data has {} + {}",
            f.train.len(),
            f.validation.len(),
            data.len(),
            validation.len()
        )));
    }
    let frozen = frozen_layers.map(|n| (n, frozen));
    let tensors = init_tensors(model, init)?;
    let start = start_of(init, &tensors);
    let pool = thread_pool(train.threads)?;

    let (tx, rx) = std::sync::mpsc::channel::<Progress>();
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            pool.install(|| def.run_training(model, train, data, validation, start, frozen, &tx))
        });
        for progress in rx {
            on_batch(progress);
        }
        match handle.join() {
            Ok(result) => result,
            Err(p) => Err(ModelError::Backend(format!(
                "training panicked: {}",
                panic_message(p)
            ))),
        }
    })
}

/// The frozen bottom's features of `data`, in batches (no autodiff).
fn features_loop<A: arch::Arch>(
    arch: &A,
    net: &net::Net<A::Encoder>,
    model: &ModelConfig,
    data: &[Encoded],
    frozen: usize,
    batch_size: usize,
    device: &burn::tensor::Device,
) -> Vec<Features> {
    let order = batch_order(arch, model, data.iter().map(|e| e.ids.len()));
    let mut out: Vec<Option<Features>> = vec![None; data.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let examples: Vec<&Encoded> = chunk.iter().map(|&i| &data[i]).collect();
        let features = arch.features(&net.encoder, model, &examples, frozen, device);
        for (&i, f) in chunk.iter().zip(features) {
            out[i] = Some(f);
        }
    }
    out.into_iter().flatten().collect()
}

/// The training loop of architecture `A` (called through [`arch::ArchitectureDef`]).
#[allow(clippy::too_many_arguments)]
fn train_loop<A: arch::Arch>(
    arch: &A,
    model: &ModelConfig,
    cfg: &TrainConfig,
    data: &[Encoded],
    validation: &[Encoded],
    start: arch::Start<'_>,
    frozen: Option<(usize, Option<Frozen<'_>>)>,
    progress: &std::sync::mpsc::Sender<Progress>,
) -> Result<Trained, ModelError> {
    use burn::module::Module;
    use burn::optim::{AdamWConfig, GradientsParams};

    let device = cfg.backend.device().autodiff();
    // Not used for numerics by this crate (we draw our own random numbers), but seed it anyway
    // in case a backend op draws from it.
    device.seed(cfg.seed);
    let source = net::source(start, cfg.seed);
    let mut net = net::Net::build(arch, model, &device, &source)?;

    // The frozen bottom runs once, before the first epoch.
    let computed: Option<(Vec<Features>, Vec<Features>)> = match frozen {
        Some((n, None)) => {
            let valid = net.valid();
            let inner = device.clone().inner();
            Some((
                features_loop(arch, &valid, model, data, n, cfg.batch_size, &inner),
                features_loop(arch, &valid, model, validation, n, cfg.batch_size, &inner),
            ))
        }
        _ => None,
    };
    let features: Option<(usize, &[Features], &[Features])> = match (frozen, &computed) {
        (Some((n, Some(f))), _) => Some((n, f.train, f.validation)),
        (Some((n, None)), Some((t, v))) => Some((n, t, v)),
        _ => None,
    };

    let mut optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay as f32)
        .init();
    // A separate optimizer (its own state) for the encoder when it has its own rate.
    let mut encoder_optim = cfg.encoder_learning_rate.map(|_| {
        AdamWConfig::new()
            .with_weight_decay(cfg.weight_decay as f32)
            .init()
    });
    let mut step = 0usize;

    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    shuffle_rng.set_stream(2);
    let mut dropout_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    dropout_rng.set_stream(3);

    let batches = data.len().div_ceil(cfg.batch_size);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut reports = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        order.sort_unstable();
        order.shuffle(&mut shuffle_rng);
        let mut loss_sum = 0.0f64;
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let examples: Vec<&Encoded> = chunk.iter().map(|&i| &data[i]).collect();
            let out = match features {
                Some((n, train_features, _)) => {
                    let f: Vec<&Features> = chunk.iter().map(|&i| &train_features[i]).collect();
                    net.heads(arch.forward_features(
                        &net.encoder,
                        model,
                        &f,
                        n,
                        &device,
                        Some(&mut dropout_rng),
                    ))
                }
                None => net.forward(arch, model, &examples, &device, Some(&mut dropout_rng)),
            };
            let mut batch_loss = None;
            if let Some((loss, value)) = net::loss(out, &examples, &cfg.head_weights, &device)? {
                loss_sum += value;
                batch_loss = Some(value);
                step += 1;
                let warm = if cfg.warmup_steps > 0 {
                    (step as f64 / cfg.warmup_steps as f64).min(1.0)
                } else {
                    1.0
                };
                let mut grads = loss.backward();
                if let (Some(lr), Some(encoder_optim)) =
                    (cfg.encoder_learning_rate, encoder_optim.as_mut())
                {
                    let encoder_grads = GradientsParams::from_module(&mut grads, &net.encoder);
                    if lr > 0.0 {
                        net = encoder_optim.step(lr * warm, net, encoder_grads);
                    }
                }
                let grads = GradientsParams::from_grads(grads, &net);
                net = optim.step(cfg.learning_rate * warm, net, grads);
            }
            // The receiver lives until training returns; a send error cannot happen.
            let _ = progress.send(Progress {
                epoch,
                epochs: cfg.epochs,
                batch: b + 1,
                batches,
                running_loss: loss_sum / (b + 1) as f64,
                loss: batch_loss,
            });
        }
        let train_loss = if batches == 0 {
            0.0
        } else {
            loss_sum / batches as f64
        };
        let (validation_loss, validation_accuracy) = if validation.is_empty() {
            (None, None)
        } else {
            let valid = net.valid();
            let (l, a) = net::validate(
                arch,
                &valid,
                model,
                validation,
                features.map(|(n, _, v)| (v, n)),
                cfg,
                &device.clone().inner(),
            )?;
            (Some(l), Some(a))
        };
        reports.push(EpochReport {
            epoch,
            train_loss,
            validation_loss,
            validation_accuracy,
        });
    }
    let weights = weights::serialize(arch, model, &net)?;
    Ok(Trained {
        weights,
        epochs: reports,
    })
}

/// Run the model on token id sequences (each truncated to `max_length`), in batches of
/// `batch_size`. Output order follows input order.
pub fn predict(
    model: &ModelConfig,
    backend: Backend,
    weights: &Weights,
    ids: &[Vec<u32>],
    batch_size: usize,
) -> Result<Vec<Prediction>, ModelError> {
    model.validate()?;
    if batch_size == 0 {
        return Err(ModelError::InvalidInput("batch_size must be >= 1".into()));
    }
    for (i, seq) in ids.iter().enumerate() {
        model
            .architecture
            .def()
            .check_ids(model, seq)
            .map_err(|m| ModelError::InvalidInput(format!("sequence {i}: {m}")))?;
    }
    let parsed = weights::parse(weights)?;
    weights::check_compatible(model, &parsed.header)?;
    model
        .architecture
        .def()
        .run_prediction(model, backend, &parsed.tensors, ids, batch_size)
}

/// The inference loop of architecture `A` (called through [`arch::ArchitectureDef`]).
fn predict_loop<A: arch::Arch>(
    arch: &A,
    model: &ModelConfig,
    backend: Backend,
    tensors: &[NamedTensor],
    ids: &[Vec<u32>],
    batch_size: usize,
) -> Result<Vec<Prediction>, ModelError> {
    let device = backend.device();
    let net = net::Net::build(arch, model, &device, &net::Source::Loaded(tensors))?;
    let order = batch_order(arch, model, ids.iter().map(Vec::len));
    let mut out: Vec<Option<Prediction>> = vec![None; ids.len()];
    for chunk in order.chunks(batch_size) {
        let examples: Vec<Encoded> = chunk
            .iter()
            .map(|&i| Encoded {
                ids: ids[i].clone(),
                label: 0,
                family: 0,
                severity: 0.0,
                context: 0,
                weight: 1.0,
            })
            .collect();
        let refs: Vec<&Encoded> = examples.iter().collect();
        let o = net.forward(arch, model, &refs, &device, None);
        for (&i, p) in chunk.iter().zip(net::to_predictions(o)?) {
            out[i] = Some(p);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// The order inference batches take the examples in: input order, or, for architectures
/// that group by length ([`arch::Arch::length_sorted_batches`]), by truncated length
/// (stable), so a batch pads little. Results are always returned in input order.
fn batch_order<A: arch::Arch>(
    arch: &A,
    model: &ModelConfig,
    lens: impl Iterator<Item = usize>,
) -> Vec<usize> {
    let lens: Vec<usize> = lens.map(|n| n.min(model.max_length)).collect();
    let mut order: Vec<usize> = (0..lens.len()).collect();
    if arch.length_sorted_batches() {
        order.sort_by_key(|&i| lens[i]);
    }
    order
}
