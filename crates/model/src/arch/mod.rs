//! The architecture registry: every encoder the model crate can build, each in its own
//! module.
//!
//! An architecture module implements [`Arch`]: its size keys and defaults, the checks on
//! them, its burn encoder (built from the sizes, run to the pooled `[batch, r]`
//! representation the four shared heads read) and its ONNX graph (written through
//! [`GraphSink`], so this crate has no protobuf dependency). Everything else — the heads,
//! loss, training loop, canonical weights, safetensors, the ONNX inputs/outputs/metadata —
//! is shared and reads the registry instead of matching names.
//!
//! **Adding an architecture = its module + one line in [`registry`].**
//!
//! Every `A: Arch` is also an [`ArchitectureDef`], the object-safe view that
//! [`registry`] lists and [`crate::Architecture`] points to (the blanket impl is in
//! `net.rs`: its loops run on the network `Net<A::Encoder>`).

pub mod bag;
pub mod bert;
mod graph;
pub mod transformer;

use std::sync::mpsc::Sender;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

pub use graph::{
    AttentionGraph, Attr, GraphSink, dtype, layer_norm, layer_norm_eps, linear, mean_pool,
    token_and_position,
};

use crate::tensor::NamedTensor;
use crate::{
    Architecture, Backend, Encoded, ModelConfig, ModelError, Prediction, Progress, TrainConfig,
    Trained,
};

/// Every architecture this build knows, in a fixed order (the order error messages list them
/// in). One line per architecture.
pub fn registry() -> &'static [&'static dyn ArchitectureDef] {
    &[
        &bag::Bag,                 // hashed uni+bi-gram embedding bag + MLP
        &transformer::Transformer, // small pre-norm transformer, masked mean pooling
        &bert::Bert,               // BERT encoder (pretrained checkpoints), masked mean pooling
    ]
}

/// The registered architecture called `name`.
pub fn architecture(name: &str) -> Option<&'static dyn ArchitectureDef> {
    registry().iter().copied().find(|a| a.name() == name)
}

/// How a parameter is initialized when training from scratch (drawn from the crate's own
/// seeded ChaCha8 stream, in traversal order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    Zeros,
    Ones,
    /// `U(-a, a)`.
    Uniform(f64),
}

/// The output of an encoder's frozen bottom for one example: the hidden states after the
/// frozen layers (`rows` = sequence length, `rows × width` values), or, when every layer is
/// frozen, the pooled representation (`rows` = 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub rows: usize,
    pub values: Vec<f32>,
}

/// The check of architectures whose token ids index an embedding table: every id the
/// model reads (the first `max_length`) must be below `vocab_size`.
pub fn check_vocab(model: &ModelConfig, ids: &[u32]) -> Result<(), String> {
    let n = ids.len().min(model.max_length);
    if let Some(id) = ids[..n].iter().find(|&&id| id as usize >= model.vocab_size) {
        return Err(format!(
            "token id {id} out of range (vocab_size = {})",
            model.vocab_size
        ));
    }
    Ok(())
}

/// The default rule: biases and LayerNorm `beta` 0, `gamma` 1, any other parameter is a
/// Linear weight `[d_in, d_out]` drawn from `U(-1/sqrt(d_in), 1/sqrt(d_in))`.
pub fn default_init(name: &str, shape: &[usize]) -> Init {
    match name.rsplit('.').next().unwrap_or(name) {
        "bias" | "beta" => Init::Zeros,
        "gamma" => Init::Ones,
        _ => {
            let fan_in = shape.first().copied().unwrap_or(1).max(1);
            Init::Uniform(1.0 / (fan_in as f64).sqrt())
        }
    }
}

/// What an architecture module implements. The encoder's parameters are named
/// `<name>.<field path>` in weights, safetensors and ONNX initializers.
pub trait Arch: Send + Sync + 'static {
    /// The burn module of the encoder.
    type Encoder: Module + ModuleDisplay;

    /// The value of `[model] architecture` and of the weights header's `kind`.
    fn name(&self) -> &'static str;

    /// Size keys (experiment keys, recipe `sizes` keys, weights header fields) and their
    /// defaults, in a fixed order: the order of the fields in the weights header.
    fn sizes(&self) -> &'static [(&'static str, u64)];

    /// Checks of an experiment's sizes (defaults filled in) beyond "every size >= 1", which
    /// the experiment checker does for every architecture: `Err((key, message))`.
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        let _ = size;
        Ok(())
    }

    /// Checks a model configuration before anything is built (`invalid model
    /// configuration: <message>`).
    fn validate(&self, model: &ModelConfig) -> Result<(), String>;

    /// Checks one token id sequence (the model reads only its first `max_length` ids);
    /// every architecture accepts any length.
    fn check_ids(&self, model: &ModelConfig, ids: &[u32]) -> Result<(), String> {
        let _ = (model, ids);
        Ok(())
    }

    /// Width of the pooled representation the heads read.
    fn rep_dim(&self, model: &ModelConfig) -> usize;

    /// Number of scalar parameters of the encoder (the heads are counted by the caller).
    fn encoder_parameters(&self, model: &ModelConfig) -> usize;

    /// The number of stacked layers whose bottom part can be frozen (`[train]
    /// trainable_layers`); `None`: the architecture cannot be partly frozen.
    fn layers(&self, model: &ModelConfig) -> Option<usize> {
        let _ = model;
        None
    }

    /// Whether inference batches group examples of similar length (less padding; results
    /// keep input order). Off for the architectures whose stored outputs predate it.
    fn length_sorted_batches(&self) -> bool {
        false
    }

    /// Whether parameter `name` belongs to the part frozen when the bottom `frozen` layers
    /// are (the embeddings and those layers).
    fn is_frozen(&self, name: &str, frozen: usize) -> bool {
        let _ = (name, frozen);
        false
    }

    /// The frozen bottom's output for a batch (no autodiff): see [`Features`]. Only called
    /// when [`Arch::layers`] is `Some`.
    fn features(
        &self,
        encoder: &Self::Encoder,
        model: &ModelConfig,
        examples: &[&Encoded],
        frozen: usize,
        device: &Device,
    ) -> Vec<Features> {
        let _ = (encoder, model, examples, frozen, device);
        Vec::new()
    }

    /// The pooled representation from [`Arch::features`], running the layers above
    /// `frozen`. Only called when [`Arch::layers`] is `Some`.
    fn forward_features(
        &self,
        encoder: &Self::Encoder,
        model: &ModelConfig,
        features: &[&Features],
        frozen: usize,
        device: &Device,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Tensor<2> {
        let _ = (encoder, features, frozen, dropout);
        Tensor::<2>::zeros([0, self.rep_dim(model)], device)
    }

    /// Builds the encoder with placeholder parameters; every float parameter is then set in
    /// traversal order (from the seed, pretrained tensors or stored weights).
    fn build(&self, model: &ModelConfig, device: &Device) -> Self::Encoder;

    /// How the parameter `name` (full name, e.g. `bag.embedding`) is initialized from
    /// scratch; `None` for [`default_init`].
    fn init(&self, name: &str, shape: &[usize]) -> Option<Init> {
        let _ = (name, shape);
        None
    }

    /// Whether `[model] pretrained` can name a checkpoint for this architecture.
    fn takes_pretrained(&self) -> bool {
        false
    }

    /// Checks a pretrained checkpoint's `config.json` (`config`, from the file `name`)
    /// against the experiment's sizes before any work: each difference named with the key
    /// to write. Only called when [`Arch::takes_pretrained`].
    fn check_pretrained_config(
        &self,
        size: &dyn Fn(&str) -> u64,
        config: &[u8],
        name: &str,
    ) -> Result<(), String> {
        let _ = (size, config, name);
        Ok(())
    }

    /// Decodes pretrained weights (an object's bytes, e.g. a checkpoint) into initial
    /// tensors, by full parameter name; parameters it does not name are initialized from the
    /// seed. No architecture takes any yet.
    fn pretrained(&self, model: &ModelConfig, bytes: &[u8]) -> Result<Vec<NamedTensor>, String> {
        let _ = (model, bytes);
        Err(format!(
            "the {} architecture takes no pretrained weights",
            self.name()
        ))
    }

    /// The pooled representation `[batch, rep_dim]` of a batch. `dropout`: `Some(rng)` in
    /// training: draw dropout masks from `rng` (the crate's `net::apply_dropout`), never from
    /// burn's global RNG.
    fn forward(
        &self,
        encoder: &Self::Encoder,
        model: &ModelConfig,
        examples: &[&Encoded],
        device: &Device,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Tensor<2>;

    /// Writes the encoder's ONNX nodes from the (already truncated) `int64 [batch, seq]`
    /// tensors `ids` and `mask`; returns the name of the pooled `[batch, rep_dim]` output.
    fn onnx(
        &self,
        g: &mut dyn GraphSink,
        model: &ModelConfig,
        ids: &str,
        mask: &str,
    ) -> Result<String, String>;
}

/// The object-safe view of an architecture: what the registry lists and the rest of the
/// workspace calls. Implemented for every [`Arch`]; the `run_*` methods are the crate's
/// training and inference loops, monomorphized for the architecture's encoder.
pub trait ArchitectureDef: Send + Sync {
    fn name(&self) -> &'static str;
    /// See [`Arch::sizes`].
    fn sizes(&self) -> &'static [(&'static str, u64)];
    /// See [`Arch::check`].
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)>;
    /// See [`Arch::validate`].
    fn validate(&self, model: &ModelConfig) -> Result<(), String>;
    /// See [`Arch::check_ids`].
    fn check_ids(&self, model: &ModelConfig, ids: &[u32]) -> Result<(), String>;
    /// See [`Arch::rep_dim`].
    fn rep_dim(&self, model: &ModelConfig) -> usize;
    /// See [`Arch::encoder_parameters`].
    fn encoder_parameters(&self, model: &ModelConfig) -> usize;
    /// See [`Arch::layers`].
    fn layers(&self, model: &ModelConfig) -> Option<usize>;
    /// See [`Arch::is_frozen`].
    fn is_frozen(&self, name: &str, frozen: usize) -> bool;
    /// See [`Arch::takes_pretrained`].
    fn takes_pretrained(&self) -> bool;
    /// See [`Arch::check_pretrained_config`].
    fn check_pretrained_config(
        &self,
        size: &dyn Fn(&str) -> u64,
        config: &[u8],
        name: &str,
    ) -> Result<(), String>;
    /// See [`Arch::pretrained`].
    fn pretrained(&self, model: &ModelConfig, bytes: &[u8]) -> Result<Vec<NamedTensor>, String>;
    /// See [`Arch::onnx`].
    fn onnx(
        &self,
        g: &mut dyn GraphSink,
        model: &ModelConfig,
        ids: &str,
        mask: &str,
    ) -> Result<String, String>;

    /// `name(key=value, ...)`, in [`Self::sizes`] order.
    fn describe(&self, architecture: &Architecture) -> String {
        let sizes: Vec<String> = architecture
            .sizes()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}({})", self.name(), sizes.join(", "))
    }

    /// The training loop (the configuration and data are already checked). `frozen`: the
    /// number of bottom layers frozen, with their precomputed features when the caller has
    /// them (otherwise they are computed here).
    #[allow(clippy::too_many_arguments)]
    fn run_training(
        &self,
        model: &ModelConfig,
        cfg: &TrainConfig,
        data: &[Encoded],
        validation: &[Encoded],
        start: Start<'_>,
        frozen: Option<(usize, Option<crate::Frozen<'_>>)>,
        progress: &Sender<Progress>,
    ) -> Result<Trained, ModelError>;

    /// The frozen bottom's [`Features`] of `data`, from `tensors` (every parameter).
    #[allow(clippy::too_many_arguments)]
    fn run_features(
        &self,
        model: &ModelConfig,
        backend: Backend,
        start: Start<'_>,
        seed: u64,
        data: &[Encoded],
        frozen: usize,
        batch_size: usize,
    ) -> Result<Vec<Features>, ModelError>;

    /// Predictions from stored tensors (already checked against the header).
    fn run_prediction(
        &self,
        model: &ModelConfig,
        backend: Backend,
        tensors: &[NamedTensor],
        ids: &[Vec<u32>],
        batch_size: usize,
    ) -> Result<Vec<Prediction>, ModelError>;

    /// Builds the model from `tensors` on the CPU, which checks every name and shape.
    fn run_check(&self, model: &ModelConfig, tensors: &[NamedTensor]) -> Result<(), ModelError>;
}

/// Where training starts from.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// Every parameter from the seed.
    Scratch,
    /// Fine-tuning: every parameter from stored weights.
    Weights(&'a [NamedTensor]),
    /// The named tensors from an architecture's pretrained weights, the rest from the seed.
    Pretrained(&'a [NamedTensor]),
}
