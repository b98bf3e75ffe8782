//! The burn model: encoders, heads, deterministic parameter initialization, loss.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu, sigmoid};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hashing::{bigram_bucket, unigram_bucket};
use crate::weights::Parsed;
use crate::{Architecture, Encoded, HeadWeights, ModelConfig, ModelError, Prediction, TrainConfig};

/// Hashed uni+bi-gram embedding bag + MLP trunk.
#[derive(Module, Debug)]
pub struct BagEncoder {
    /// `[buckets, embed_dim]`.
    pub embedding: Param<Tensor<2>>,
    /// `[embed_dim, hidden]` (burn's row layout: `y = x · W + b`).
    pub trunk: Linear,
}

/// Transformer encoder with learned positions and masked mean pooling.
#[derive(Module, Debug)]
pub struct TransformerEnc {
    /// `[vocab_size, d_model]`.
    pub token_embedding: Param<Tensor<2>>,
    /// `[max_length, d_model]`.
    pub position_embedding: Param<Tensor<2>>,
    pub encoder: TransformerEncoder,
    pub norm: LayerNorm,
}

/// Encoder + four heads.
#[derive(Module, Debug)]
pub struct Net {
    pub bag: Option<BagEncoder>,
    pub transformer: Option<TransformerEnc>,
    pub binary: Linear,
    pub family: Linear,
    pub severity: Linear,
    pub context: Linear,
}

/// Where parameter values come from.
pub enum Source<'a> {
    /// Fresh initialization from a seed (own ChaCha8 stream).
    Random(u64),
    /// Values from parsed weights (names and shapes must match, in order).
    Loaded(&'a Parsed),
}

impl<'a> Source<'a> {
    pub fn for_training(seed: u64, init: Option<&'a Parsed>) -> Self {
        match init {
            Some(p) => Source::Loaded(p),
            None => Source::Random(seed),
        }
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

/// Validate a sequence against the model config: every architecture accepts any length
/// (sequences are truncated to `max_length`), the transformer needs ids < vocab_size.
pub fn check_ids(model: &ModelConfig, ids: &[u32]) -> Result<(), String> {
    if let Architecture::Transformer { .. } = model.architecture {
        let n = ids.len().min(model.max_length);
        if let Some(id) = ids[..n].iter().find(|&&id| id as usize >= model.vocab_size) {
            return Err(format!(
                "token id {id} out of range (vocab_size = {})",
                model.vocab_size
            ));
        }
    }
    Ok(())
}

fn rep_dim(model: &ModelConfig) -> usize {
    match model.architecture {
        Architecture::Bag { hidden, .. } => hidden,
        Architecture::Transformer { d_model, .. } => d_model,
    }
}

impl Net {
    /// Build the model and set every parameter eagerly, in traversal order, with
    /// deterministic ids.
    pub fn build(
        model: &ModelConfig,
        device: &Device,
        source: &Source,
    ) -> Result<Self, ModelError> {
        let r = rep_dim(model);
        let (bag, transformer) = match &model.architecture {
            Architecture::Bag {
                embed_dim,
                hidden,
                buckets,
            } => (
                Some(BagEncoder {
                    embedding: placeholder([*buckets, *embed_dim], device),
                    trunk: LinearConfig::new(*embed_dim, *hidden).init(device),
                }),
                None,
            ),
            Architecture::Transformer {
                d_model,
                heads,
                layers,
                d_ff,
            } => (
                None,
                Some(TransformerEnc {
                    token_embedding: placeholder([model.vocab_size, *d_model], device),
                    position_embedding: placeholder([model.max_length, *d_model], device),
                    // Dropout inside the encoder is disabled (it would draw from burn's global
                    // RNG); dropout is applied by this crate on embeddings and pooled output.
                    encoder: TransformerEncoderConfig::new(*d_model, *d_ff, *heads, *layers)
                        .with_dropout(0.0)
                        .with_norm_first(true)
                        .init(device),
                    norm: LayerNormConfig::new(*d_model).init(device),
                }),
            ),
        };
        let net = Net {
            bag,
            transformer,
            binary: LinearConfig::new(r, 2).init(device),
            family: LinearConfig::new(r, model.families).init(device),
            severity: LinearConfig::new(r, 1).init(device),
            context: LinearConfig::new(r, model.contexts).init(device),
        };
        let mut setter = Setter {
            path: Vec::new(),
            source,
            rng: match source {
                Source::Random(seed) => {
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
        if let Source::Loaded(p) = source
            && setter.index != p.tensors.len()
        {
            return Err(ModelError::Incompatible {
                reason: format!(
                    "weights hold {} tensors, the model has {}",
                    p.tensors.len(),
                    setter.index
                ),
            });
        }
        Ok(net)
    }

    /// Forward a batch. `dropout`: `Some(rng)` in training (masks drawn from `rng`).
    pub fn forward(
        &self,
        model: &ModelConfig,
        examples: &[&Encoded],
        device: &Device,
        mut dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<Outputs, ModelError> {
        let b = examples.len();
        let p = model.dropout;
        let rep = match (&model.architecture, &self.bag, &self.transformer) {
            (Architecture::Bag { buckets, .. }, Some(bag), _) => {
                let (indices, weights, f) = bag_features(examples, *buckets, model.max_length);
                let idx = Tensor::<2, Int>::from_data(TensorData::new(indices, [b, f]), device);
                let w = Tensor::<3>::from_data(TensorData::new(weights, [b, f, 1]), device);
                let emb = burn::tensor::module::embedding(bag.embedding.val(), idx);
                let e = emb.dims()[2];
                let pooled = (emb * w).sum_dim(1).reshape([b, e]);
                let h = relu(bag.trunk.forward(pooled));
                apply_dropout(h, p, dropout.as_deref_mut(), device)
            }
            (Architecture::Transformer { d_model, .. }, _, Some(t)) => {
                let d = *d_model;
                let l = examples
                    .iter()
                    .map(|e| e.ids.len().min(model.max_length))
                    .max()
                    .unwrap_or(1)
                    .max(1);
                let mut ids = vec![0i64; b * l];
                let mut pad = vec![true; b * l];
                let mut pool = vec![0f32; b * l];
                for (i, e) in examples.iter().enumerate() {
                    let n = e.ids.len().min(model.max_length);
                    for (j, &id) in e.ids[..n].iter().enumerate() {
                        ids[i * l + j] = i64::from(id);
                        pad[i * l + j] = false;
                    }
                    // An empty sequence attends to (and pools) one pad position.
                    let n = n.max(1);
                    pad[i * l] = false;
                    for j in 0..n {
                        pool[i * l + j] = 1.0 / n as f32;
                    }
                }
                let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, l]), device);
                let pad = Tensor::<2, Bool>::from_data(TensorData::new(pad, [b, l]), device);
                let pool = Tensor::<3>::from_data(TensorData::new(pool, [b, l, 1]), device);
                let tok = burn::tensor::module::embedding(t.token_embedding.val(), ids);
                let pos = t
                    .position_embedding
                    .val()
                    .slice([0..l, 0..d])
                    .reshape([1, l, d]);
                let x = apply_dropout(tok + pos, p, dropout.as_deref_mut(), device);
                let x = t
                    .encoder
                    .forward(TransformerEncoderInput::new(x).mask_pad(pad));
                let x = t.norm.forward(x);
                let pooled = (x * pool).sum_dim(1).reshape([b, d]);
                apply_dropout(pooled, p, dropout, device)
            }
            _ => {
                return Err(ModelError::Incompatible {
                    reason: "model structure does not match the architecture".into(),
                });
            }
        };
        Ok(Outputs {
            binary: self.binary.forward(rep.clone()),
            family: self.family.forward(rep.clone()),
            severity: sigmoid(self.severity.forward(rep.clone()).reshape([b])),
            context: self.context.forward(rep),
        })
    }
}

/// Lazy placeholder; its value is always replaced by [`Setter`] before use.
fn placeholder<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::from(0),
        move |device: &Device, _| Tensor::<D>::zeros(shape, device),
        device.clone(),
        true,
        shape.into(),
    )
}

fn apply_dropout<const D: usize>(
    x: Tensor<D>,
    p: f64,
    rng: Option<&mut ChaCha8Rng>,
    device: &Device,
) -> Tensor<D> {
    let Some(rng) = rng else { return x };
    if p <= 0.0 {
        return x;
    }
    let shape = x.dims();
    let n: usize = shape.iter().product();
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < keep {
                scale
            } else {
                0.0
            }
        })
        .collect();
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), device)
}

/// Feature indices `[b, f]` and mean weights `[b, f]` (0 for padding) of a batch.
/// Pad tokens (id 0) and bigrams touching them are skipped.
fn bag_features(
    examples: &[&Encoded],
    buckets: usize,
    max_length: usize,
) -> (Vec<i64>, Vec<f32>, usize) {
    let feats: Vec<Vec<i64>> = examples
        .iter()
        .map(|e| {
            let ids = &e.ids[..e.ids.len().min(max_length)];
            let mut f = Vec::with_capacity(ids.len() * 2);
            for (j, &id) in ids.iter().enumerate() {
                if id == 0 {
                    continue;
                }
                f.push(unigram_bucket(id, buckets) as i64);
                if j > 0 && ids[j - 1] != 0 {
                    f.push(bigram_bucket(ids[j - 1], id, buckets) as i64);
                }
            }
            f
        })
        .collect();
    let width = feats.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut indices = vec![0i64; examples.len() * width];
    let mut weights = vec![0f32; examples.len() * width];
    for (i, f) in feats.iter().enumerate() {
        let w = if f.is_empty() {
            0.0
        } else {
            1.0 / f.len() as f32
        };
        for (j, &k) in f.iter().enumerate() {
            indices[i * width + j] = k;
            weights[i * width + j] = w;
        }
    }
    (indices, weights, width)
}

/// Replaces every float parameter, in traversal order, with a value from the [`Source`] and
/// a deterministic id.
struct Setter<'a> {
    path: Vec<String>,
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
            Source::Loaded(p) => {
                let Some(t) = p.tensors.get(self.index) else {
                    return Err(ModelError::Incompatible {
                        reason: format!(
                            "weights hold {} tensors, the model needs more (missing {name})",
                            p.tensors.len()
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
            Source::Random(_) => {
                let rng = self
                    .rng
                    .as_mut()
                    .ok_or_else(|| ModelError::Backend("initialization RNG missing".to_string()))?;
                let leaf = name.rsplit('.').next().unwrap_or(name);
                Ok(match leaf {
                    "bias" | "beta" => vec![0.0; n],
                    "gamma" => vec![1.0; n],
                    "embedding" | "token_embedding" | "position_embedding" => uniform(rng, n, 0.1),
                    _ => {
                        // Linear weight [d_in, d_out]: U(-1/sqrt(d_in), 1/sqrt(d_in)).
                        let fan_in = shape.first().copied().unwrap_or(1).max(1);
                        uniform(rng, n, 1.0 / (fan_in as f64).sqrt())
                    }
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
        let name = self.path.join(".");
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

/// Validation loss (weighted like training) and binary accuracy.
pub fn validate(
    net: &Net,
    model: &ModelConfig,
    data: &[Encoded],
    cfg: &TrainConfig,
    device: &Device,
) -> Result<(f64, f64), ModelError> {
    let mut weighted = 0.0f64;
    let mut wsum = 0.0f64;
    let mut correct = 0u64;
    for chunk in data.chunks(cfg.batch_size) {
        let examples: Vec<&Encoded> = chunk.iter().collect();
        let out = net.forward(model, &examples, device, None)?;
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
