//! The burn model: an architecture's encoder + four heads, deterministic parameter
//! initialization, loss.

use burn::module::{Module, ModuleDisplay, ModuleMapper, Param, ParamId};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use std::sync::mpsc::Sender;

use crate::arch::{Arch, ArchitectureDef, Features, GraphSink, Init, Start, default_init};
use crate::tensor::NamedTensor;
use crate::{
    Backend, Encoded, HeadWeights, ModelConfig, ModelError, Prediction, Progress, TrainConfig,
    Trained,
};

/// Encoder + four heads. The encoder's parameters are named after the architecture
/// (`bag.embedding`, not `encoder.embedding`): see [`param_path`].
#[derive(Module, Debug)]
pub struct Net<E: Module + ModuleDisplay> {
    pub encoder: E,
    pub binary: Linear,
    pub family: Linear,
    pub severity: Linear,
    pub context: Linear,
}

/// The stored name of the parameter at module `path`: the `encoder` field is named after
/// the architecture, so names stay `<architecture>.<field path>`.
pub fn param_path(architecture: &str, path: &[String]) -> String {
    match path.split_first() {
        Some((first, rest)) if first == "encoder" => std::iter::once(architecture)
            .chain(rest.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("."),
        _ => path.join("."),
    }
}

/// Where parameter values come from.
pub enum Source<'a> {
    /// Fresh initialization from a seed (own ChaCha8 stream); the named tensors, when
    /// given (pretrained weights), replace the seeded values of their parameters.
    Random(u64, &'a [NamedTensor]),
    /// Values from stored weights (names and shapes must match, in order).
    Loaded(&'a [NamedTensor]),
}

/// The parameter source of a training start.
pub fn source<'a>(start: crate::arch::Start<'a>, seed: u64) -> Source<'a> {
    match start {
        crate::arch::Start::Scratch => Source::Random(seed, &[]),
        crate::arch::Start::Pretrained(t) => Source::Random(seed, t),
        crate::arch::Start::Weights(t) => Source::Loaded(t),
    }
}

/// Raw head outputs for a batch.
pub struct Outputs {
    pub binary: Tensor<2>,
    pub family: Tensor<2>,
    /// After sigmoid, `[batch]`.
    pub severity: Tensor<1>,
    pub context: Tensor<2>,
}

impl<E: Module + ModuleDisplay> Net<E> {
    /// Build the model and set every parameter eagerly, in traversal order, with
    /// deterministic ids.
    pub fn build<A: Arch<Encoder = E>>(
        arch: &A,
        model: &ModelConfig,
        device: &Device,
        source: &Source,
    ) -> Result<Self, ModelError> {
        let r = arch.rep_dim(model);
        let net = Net {
            encoder: arch.build(model, device),
            binary: LinearConfig::new(r, 2).init(device),
            family: LinearConfig::new(r, model.families).init(device),
            severity: LinearConfig::new(r, 1).init(device),
            context: LinearConfig::new(r, model.contexts).init(device),
        };
        let mut setter = Setter {
            path: Vec::new(),
            architecture: arch.name(),
            init: &|name, shape| arch.init(name, shape),
            source,
            rng: match source {
                Source::Random(seed, _) => {
                    let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                    rng.set_stream(1);
                    Some(rng)
                }
                Source::Loaded(_) => None,
            },
            index: 0,
            device: device.clone(),
            error: None,
        };
        let net = net.map(&mut setter);
        if let Some(e) = setter.error {
            return Err(e);
        }
        if let Source::Loaded(tensors) = source
            && setter.index != tensors.len()
        {
            return Err(ModelError::Incompatible {
                reason: format!(
                    "weights hold {} tensors, the model has {}",
                    tensors.len(),
                    setter.index
                ),
            });
        }
        Ok(net)
    }

    /// Forward a batch. `dropout`: `Some(rng)` in training (masks drawn from `rng`).
    pub fn forward<A: Arch<Encoder = E>>(
        &self,
        arch: &A,
        model: &ModelConfig,
        examples: &[&Encoded],
        device: &Device,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Outputs {
        let rep = arch.forward(&self.encoder, model, examples, device, dropout);
        self.heads(rep)
    }

    /// The four heads on a pooled representation `[batch, rep_dim]`.
    pub fn heads(&self, rep: Tensor<2>) -> Outputs {
        let b = rep.dims()[0];
        Outputs {
            binary: self.binary.forward(rep.clone()),
            family: self.family.forward(rep.clone()),
            severity: sigmoid(self.severity.forward(rep.clone()).reshape([b])),
            context: self.context.forward(rep),
        }
    }
}

/// Replaces every float parameter, in traversal order, with a value from the [`Source`] and
/// a deterministic id.
struct Setter<'a> {
    path: Vec<String>,
    /// The architecture's name, the stored prefix of the encoder's parameters.
    architecture: &'static str,
    /// The architecture's initialization overrides ([`Arch::init`]).
    init: &'a dyn Fn(&str, &[usize]) -> Option<Init>,
    source: &'a Source<'a>,
    rng: Option<ChaCha8Rng>,
    index: usize,
    device: Device,
    error: Option<ModelError>,
}

impl Setter<'_> {
    fn values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let n: usize = shape.iter().product();
        match self.source {
            Source::Loaded(tensors) => {
                let Some(t) = tensors.get(self.index) else {
                    return Err(ModelError::Incompatible {
                        reason: format!(
                            "weights hold {} tensors, the model needs more (missing {name})",
                            tensors.len()
                        ),
                    });
                };
                if t.name != name || t.shape != shape {
                    return Err(ModelError::Incompatible {
                        reason: format!(
                            "tensor #{}: weights have {} {:?}, the model needs {} {:?}",
                            self.index, t.name, t.shape, name, shape
                        ),
                    });
                }
                Ok(t.values.clone())
            }
            Source::Random(_, pretrained) => {
                // A pretrained value replaces the seeded one and draws nothing from the
                // stream.
                if let Some(t) = pretrained.iter().find(|t| t.name == name) {
                    if t.shape != shape {
                        return Err(ModelError::Incompatible {
                            reason: format!(
                                "pretrained {name} is {:?}, the model needs {shape:?}",
                                t.shape
                            ),
                        });
                    }
                    return Ok(t.values.clone());
                }
                let rng = self
                    .rng
                    .as_mut()
                    .ok_or_else(|| ModelError::Backend("initialization RNG missing".to_string()))?;
                let init = (self.init)(name, shape).unwrap_or_else(|| default_init(name, shape));
                Ok(match init {
                    Init::Zeros => vec![0.0; n],
                    Init::Ones => vec![1.0; n],
                    Init::Uniform(a) => uniform(rng, n, a),
                })
            }
        }
    }
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, a: f64) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * a) as f32)
        .collect()
}

impl ModuleMapper for Setter<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = param_path(self.architecture, &self.path);
        let shape: [usize; D] = param.lazy_shape().dims::<D>();
        match self.values(&name, &shape) {
            Ok(values) => {
                self.index += 1;
                let t = Tensor::<D>::from_data(TensorData::new(values, shape), &self.device);
                let t = if self.device.is_autodiff() {
                    t.require_grad()
                } else {
                    t
                };
                Param::initialized(ParamId::from(self.index as u64), t)
            }
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

fn targets(values: Vec<i64>, device: &Device) -> Tensor<2, Int> {
    let b = values.len();
    Tensor::<2, Int>::from_data(TensorData::new(values, [b, 1]), device)
}

fn cross_entropy(logits: Tensor<2>, target: Tensor<2, Int>) -> Tensor<1> {
    let b = logits.dims()[0];
    log_softmax(logits, 1).gather(1, target).reshape([b]).neg()
}

/// Per-example combined loss `[batch]`.
fn per_example(
    out: Outputs,
    examples: &[&Encoded],
    hw: &HeadWeights,
    device: &Device,
) -> Tensor<1> {
    let b = examples.len();
    let bin = targets(
        examples.iter().map(|e| i64::from(e.label)).collect(),
        device,
    );
    let fam = targets(examples.iter().map(|e| e.family as i64).collect(), device);
    let ctx = targets(examples.iter().map(|e| e.context as i64).collect(), device);
    let sev = Tensor::<1>::from_data(
        TensorData::new(examples.iter().map(|e| e.severity).collect::<Vec<_>>(), [b]),
        device,
    );
    cross_entropy(out.binary, bin).mul_scalar(hw.binary)
        + cross_entropy(out.family, fam).mul_scalar(hw.family)
        + (out.severity - sev).powi_scalar(2).mul_scalar(hw.severity)
        + cross_entropy(out.context, ctx).mul_scalar(hw.context)
}

/// Batch loss Σ(w·ℓ)/Σw and its value; `None` when the batch's weights sum to 0.
pub fn loss(
    out: Outputs,
    examples: &[&Encoded],
    hw: &HeadWeights,
    device: &Device,
) -> Result<Option<(Tensor<1>, f64)>, ModelError> {
    let b = examples.len();
    let wsum: f64 = examples.iter().map(|e| f64::from(e.weight)).sum();
    if b == 0 || wsum <= 0.0 {
        return Ok(None);
    }
    let w = Tensor::<1>::from_data(
        TensorData::new(examples.iter().map(|e| e.weight).collect::<Vec<_>>(), [b]),
        device,
    );
    let loss = (per_example(out, examples, hw, device) * w)
        .sum()
        .div_scalar(wsum);
    let value = scalar(loss.clone())?;
    Ok(Some((loss, value)))
}

fn scalar(t: Tensor<1>) -> Result<f64, ModelError> {
    let v = to_f32(t.into_data())?;
    v.first()
        .map(|x| f64::from(*x))
        .ok_or_else(|| ModelError::Backend("empty loss tensor".into()))
}

fn to_f32(data: TensorData) -> Result<Vec<f32>, ModelError> {
    data.try_into_vec_as::<f32>()
        .map_err(|e| ModelError::Backend(format!("reading tensor data: {e:?}")))
}

/// Validation loss (weighted like training) and binary accuracy. `features`: the frozen
/// bottom's outputs for `data` and the number of frozen layers.
pub fn validate<A: Arch>(
    arch: &A,
    net: &Net<A::Encoder>,
    model: &ModelConfig,
    data: &[Encoded],
    features: Option<(&[crate::arch::Features], usize)>,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<(f64, f64), ModelError> {
    let mut weighted = 0.0f64;
    let mut wsum = 0.0f64;
    let mut correct = 0u64;
    for (c, chunk) in data.chunks(cfg.batch_size).enumerate() {
        let examples: Vec<&Encoded> = chunk.iter().collect();
        let out = match features {
            Some((features, frozen)) => {
                let start = c * cfg.batch_size;
                let f: Vec<&crate::arch::Features> =
                    features[start..start + chunk.len()].iter().collect();
                net.heads(arch.forward_features(&net.encoder, model, &f, frozen, device, None))
            }
            None => net.forward(arch, model, &examples, device, None),
        };
        let binary = to_f32(out.binary.clone().into_data())?;
        for (i, e) in examples.iter().enumerate() {
            let pred = u8::from(binary[2 * i + 1] > binary[2 * i]);
            correct += u64::from(pred == e.label);
        }
        let cw: f64 = examples.iter().map(|e| f64::from(e.weight)).sum();
        if let Some((_, value)) = loss(out, &examples, &cfg.head_weights, device)? {
            weighted += value * cw;
            wsum += cw;
        }
    }
    let l = if wsum > 0.0 { weighted / wsum } else { 0.0 };
    Ok((l, correct as f64 / data.len().max(1) as f64))
}

/// Split batch outputs into per-example predictions.
pub fn to_predictions(out: Outputs) -> Result<Vec<Prediction>, ModelError> {
    let binary = to_f32(out.binary.into_data())?;
    let family = to_f32(out.family.into_data())?;
    let severity = to_f32(out.severity.into_data())?;
    let context = to_f32(out.context.into_data())?;
    Ok(Prediction::from_batch(
        &binary, &family, &severity, &context,
    ))
}

/// Every architecture's object-safe view: its loops run on `Net<A::Encoder>`.
impl<A: Arch> ArchitectureDef for A {
    fn name(&self) -> &'static str {
        Arch::name(self)
    }
    fn sizes(&self) -> &'static [(&'static str, u64)] {
        Arch::sizes(self)
    }
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        Arch::check(self, size)
    }
    fn validate(&self, model: &ModelConfig) -> Result<(), String> {
        Arch::validate(self, model)
    }
    fn check_ids(&self, model: &ModelConfig, ids: &[u32]) -> Result<(), String> {
        Arch::check_ids(self, model, ids)
    }
    fn rep_dim(&self, model: &ModelConfig) -> usize {
        Arch::rep_dim(self, model)
    }
    fn encoder_parameters(&self, model: &ModelConfig) -> usize {
        Arch::encoder_parameters(self, model)
    }
    fn layers(&self, model: &ModelConfig) -> Option<usize> {
        Arch::layers(self, model)
    }
    fn is_frozen(&self, name: &str, frozen: usize) -> bool {
        Arch::is_frozen(self, name, frozen)
    }
    fn takes_pretrained(&self) -> bool {
        Arch::takes_pretrained(self)
    }
    fn check_pretrained_config(
        &self,
        size: &dyn Fn(&str) -> u64,
        config: &[u8],
        name: &str,
    ) -> Result<(), String> {
        Arch::check_pretrained_config(self, size, config, name)
    }
    fn pretrained(&self, model: &ModelConfig, bytes: &[u8]) -> Result<Vec<NamedTensor>, String> {
        Arch::pretrained(self, model, bytes)
    }
    fn onnx(
        &self,
        g: &mut dyn GraphSink,
        model: &ModelConfig,
        ids: &str,
        mask: &str,
    ) -> Result<String, String> {
        Arch::onnx(self, g, model, ids, mask)
    }
    fn run_training(
        &self,
        model: &ModelConfig,
        cfg: &TrainConfig,
        data: &[Encoded],
        validation: &[Encoded],
        start: Start<'_>,
        frozen: Option<(usize, Option<crate::Frozen<'_>>)>,
        progress: &Sender<Progress>,
    ) -> Result<Trained, ModelError> {
        crate::train_loop(self, model, cfg, data, validation, start, frozen, progress)
    }
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
    ) -> Result<Vec<Features>, ModelError> {
        let device = backend.device();
        let net = Net::build(self, model, &device, &source(start, seed))?;
        Ok(crate::features_loop(
            self, &net, model, data, frozen, batch_size, &device,
        ))
    }
    fn run_prediction(
        &self,
        model: &ModelConfig,
        backend: Backend,
        tensors: &[NamedTensor],
        ids: &[Vec<u32>],
        batch_size: usize,
    ) -> Result<Vec<Prediction>, ModelError> {
        crate::predict_loop(self, model, backend, tensors, ids, batch_size)
    }
    fn run_check(&self, model: &ModelConfig, tensors: &[NamedTensor]) -> Result<(), ModelError> {
        let device = Backend::Ndarray.device();
        Net::build(self, model, &device, &Source::Loaded(tensors))?;
        Ok(())
    }
}
