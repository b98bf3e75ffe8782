//! `bert`: the BERT encoder (word + position + token-type embeddings and their LayerNorm,
//! post-norm layers of self-attention and an exact-erf GELU feed-forward block), masked mean
//! pooling over the real tokens. Built to load pretrained checkpoints as Hugging Face writes
//! them (`model.safetensors`, with or without a `bert.` prefix), e.g. all-MiniLM-L6-v2.
//!
//! The encoder can be partly frozen: [`Arch::features`] runs the embeddings and the first
//! `frozen` layers once (no autodiff), and [`Arch::forward_features`] runs the rest, so
//! training a few top layers, or only the heads, does not pay for the frozen part again on
//! every epoch (and the pipeline caches those features as store objects).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::{
    Arch, AttentionGraph, Attr, Features, GraphSink, Init, dtype, layer_norm_eps, linear,
    mean_pool, token_and_position,
};
use crate::layers::{apply_dropout, placeholder};
use crate::tensor::NamedTensor;
use crate::{Encoded, ModelConfig};

/// The value masked attention scores are set to before the softmax (its weight is exactly 0
/// in f32 whenever a row has one real position, as with Hugging Face's additive mask).
const MASKED_SCORE: f32 = -1.0e4;

/// The architecture.
#[derive(Debug, Clone, Copy)]
pub struct Bert;

/// One post-norm encoder layer.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_output: Linear,
    pub attention_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: LayerNorm,
}

/// The encoder.
#[derive(Module, Debug)]
pub struct BertEnc {
    /// `[vocab_size, hidden]`.
    pub word_embeddings: Param<Tensor<2>>,
    /// `[max_position, hidden]`.
    pub position_embeddings: Param<Tensor<2>>,
    /// `[type_vocab, hidden]`; every token has type 0.
    pub token_type_embeddings: Param<Tensor<2>>,
    pub embeddings_norm: LayerNorm,
    pub layers: Vec<BertLayer>,
}

/// The sizes of a `bert` model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_position: usize,
    pub type_vocab: usize,
    /// LayerNorm epsilon = 10^-eps_exponent.
    pub eps_exponent: usize,
}

impl Sizes {
    pub fn of(model: &ModelConfig) -> Self {
        let a = &model.architecture;
        Sizes {
            hidden: a.size("hidden"),
            layers: a.size("layers"),
            heads: a.size("heads"),
            intermediate: a.size("intermediate"),
            max_position: a.size("max_position"),
            type_vocab: a.size("type_vocab"),
            eps_exponent: a.size("eps_exponent"),
        }
    }

    pub fn epsilon(&self) -> f64 {
        10f64.powi(-(self.eps_exponent as i32))
    }
}

impl Arch for Bert {
    type Encoder = BertEnc;

    fn name(&self) -> &'static str {
        "bert"
    }

    /// all-MiniLM-L6-v2's sizes.
    fn sizes(&self) -> &'static [(&'static str, u64)] {
        &[
            ("hidden", 384),
            ("layers", 6),
            ("heads", 12),
            ("intermediate", 1536),
            ("max_position", 512),
            ("type_vocab", 2),
            ("eps_exponent", 12),
        ]
    }

    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        let (hidden, heads) = (size("hidden"), size("heads"));
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err((
                "heads",
                format!("heads {heads} must divide hidden {hidden}"),
            ));
        }
        if size("eps_exponent") > 30 {
            return Err((
                "eps_exponent",
                "LayerNorm epsilon is 10^-eps_exponent; give 1..=30 (BERT: 12)".into(),
            ));
        }
        Ok(())
    }

    fn validate(&self, model: &ModelConfig) -> Result<(), String> {
        let s = Sizes::of(model);
        if s.hidden == 0 || s.heads == 0 || s.intermediate == 0 || s.type_vocab == 0 {
            return Err("bert: hidden, heads, intermediate and type_vocab must be >= 1".into());
        }
        if !s.hidden.is_multiple_of(s.heads) {
            return Err(format!(
                "bert: hidden ({}) must be divisible by heads ({})",
                s.hidden, s.heads
            ));
        }
        if model.max_length > s.max_position {
            return Err(format!(
                "bert: max_length {} is longer than the {} positions the encoder has",
                model.max_length, s.max_position
            ));
        }
        if model.vocab_size == 0 {
            return Err("bert: vocab_size must be >= 1".into());
        }
        Ok(())
    }

    fn check_ids(&self, model: &ModelConfig, ids: &[u32]) -> Result<(), String> {
        super::check_vocab(model, ids)
    }

    fn rep_dim(&self, model: &ModelConfig) -> usize {
        Sizes::of(model).hidden
    }

    fn encoder_parameters(&self, model: &ModelConfig) -> usize {
        let s = Sizes::of(model);
        let h = s.hidden;
        let layer = 4 * (h * h + h)
            + 2 * h
            + (h * s.intermediate + s.intermediate)
            + (s.intermediate * h + h)
            + 2 * h;
        (model.vocab_size + s.max_position + s.type_vocab) * h + 2 * h + s.layers * layer
    }

    fn layers(&self, model: &ModelConfig) -> Option<usize> {
        Some(Sizes::of(model).layers)
    }

    fn length_sorted_batches(&self) -> bool {
        true
    }

    fn is_frozen(&self, name: &str, frozen: usize) -> bool {
        match name.strip_prefix("bert.layers.") {
            Some(rest) => rest
                .split('.')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i < frozen),
            None => name.starts_with("bert."),
        }
    }

    fn build(&self, model: &ModelConfig, device: &Device) -> BertEnc {
        let s = Sizes::of(model);
        let h = s.hidden;
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(s.epsilon())
                .init(device)
        };
        BertEnc {
            word_embeddings: placeholder([model.vocab_size, h], device),
            position_embeddings: placeholder([s.max_position, h], device),
            token_type_embeddings: placeholder([s.type_vocab, h], device),
            embeddings_norm: norm(),
            layers: (0..s.layers)
                .map(|_| BertLayer {
                    query: LinearConfig::new(h, h).init(device),
                    key: LinearConfig::new(h, h).init(device),
                    value: LinearConfig::new(h, h).init(device),
                    attention_output: LinearConfig::new(h, h).init(device),
                    attention_norm: norm(),
                    intermediate: LinearConfig::new(h, s.intermediate).init(device),
                    output: LinearConfig::new(s.intermediate, h).init(device),
                    output_norm: norm(),
                })
                .collect(),
        }
    }

    /// BERT's initializer: embeddings `U(-0.05, 0.05)` (about N(0, 0.02)'s spread); the rest
    /// by the default rule.
    fn init(&self, name: &str, _shape: &[usize]) -> Option<Init> {
        name.ends_with("_embeddings").then_some(Init::Uniform(0.05))
    }

    fn takes_pretrained(&self) -> bool {
        true
    }

    /// The checkpoint's `config.json` must describe the model the sizes build: the exact
    /// (erf) GELU, and every size and the LayerNorm epsilon equal.
    fn check_pretrained_config(
        &self,
        size: &dyn Fn(&str) -> u64,
        config: &[u8],
        name: &str,
    ) -> Result<(), String> {
        let json: serde_json::Value =
            serde_json::from_slice(config).map_err(|e| format!("{name} is not JSON: {e}"))?;
        let get = |key: &str| json.get(key).and_then(serde_json::Value::as_f64);
        if let Some(act) = json.get("hidden_act").and_then(|v| v.as_str())
            && act != "gelu"
        {
            return Err(format!(
                "{name}: hidden_act is `{act}`; cairn's bert uses the exact (erf) `gelu`"
            ));
        }
        for (json_key, key) in [
            ("hidden_size", "hidden"),
            ("num_hidden_layers", "layers"),
            ("num_attention_heads", "heads"),
            ("intermediate_size", "intermediate"),
            ("max_position_embeddings", "max_position"),
            ("type_vocab_size", "type_vocab"),
        ] {
            let want = size(key);
            match get(json_key) {
                Some(v) if v as u64 == want => {}
                Some(v) => {
                    return Err(format!(
                        "{name} has {json_key} = {v}, the experiment has {key} = {want}: write `{key} = {v}` in [model]"
                    ));
                }
                None => return Err(format!("{name} has no `{json_key}`")),
            }
        }
        if let Some(eps) = get("layer_norm_eps") {
            let exponent = size("eps_exponent");
            let ours = 10f64.powi(-(exponent as i32));
            if ((eps - ours) / eps).abs() > 1e-6 {
                return Err(format!(
                    "{name} has layer_norm_eps = {eps}, the experiment has eps_exponent = {exponent}: write `eps_exponent = {}`",
                    (-eps.log10()).round()
                ));
            }
        }
        Ok(())
    }

    fn pretrained(&self, model: &ModelConfig, bytes: &[u8]) -> Result<Vec<NamedTensor>, String> {
        load_pretrained(model, bytes)
    }

    fn forward(
        &self,
        enc: &BertEnc,
        model: &ModelConfig,
        examples: &[&Encoded],
        device: &Device,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Tensor<2> {
        let batch = Batch::of(examples.iter().map(|e| e.ids.as_slice()), model);
        let x = embed(enc, &batch, device);
        let masks = batch.masks(device);
        let x = run_layers(enc, x, &masks, 0, Sizes::of(model).heads);
        let pooled = pool(x, &masks);
        apply_dropout(pooled, model.dropout, dropout, device)
    }

    fn features(
        &self,
        enc: &BertEnc,
        model: &ModelConfig,
        examples: &[&Encoded],
        frozen: usize,
        device: &Device,
    ) -> Vec<Features> {
        let s = Sizes::of(model);
        let batch = Batch::of(examples.iter().map(|e| e.ids.as_slice()), model);
        let x = embed(enc, &batch, device);
        let masks = batch.masks(device);
        let frozen = frozen.min(s.layers);
        let mut x = x;
        for layer in &enc.layers[..frozen] {
            x = layer_forward(layer, x, &masks, s.heads);
        }
        if frozen == s.layers {
            // Everything is frozen: keep only the pooled vectors.
            let pooled = pool(x, &masks);
            let values = to_vec(pooled);
            return values
                .chunks(s.hidden)
                .map(|v| Features {
                    rows: 1,
                    values: v.to_vec(),
                })
                .collect();
        }
        let values = to_vec(x);
        let l = batch.len;
        (0..examples.len())
            .map(|i| {
                let n = batch.lens[i];
                let start = i * l * s.hidden;
                Features {
                    rows: n,
                    values: values[start..start + n * s.hidden].to_vec(),
                }
            })
            .collect()
    }

    fn forward_features(
        &self,
        enc: &BertEnc,
        model: &ModelConfig,
        features: &[&Features],
        frozen: usize,
        device: &Device,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Tensor<2> {
        let s = Sizes::of(model);
        let b = features.len();
        let h = s.hidden;
        if frozen >= s.layers {
            let values: Vec<f32> = features.iter().flat_map(|f| f.values.clone()).collect();
            let pooled = Tensor::<2>::from_data(TensorData::new(values, [b, h]), device);
            return apply_dropout(pooled, model.dropout, dropout, device);
        }
        let lens: Vec<usize> = features.iter().map(|f| f.rows.max(1)).collect();
        let l = lens.iter().copied().max().unwrap_or(1);
        let mut values = vec![0f32; b * l * h];
        for (i, f) in features.iter().enumerate() {
            values[i * l * h..i * l * h + f.values.len()].copy_from_slice(&f.values);
        }
        let batch = Batch {
            lens,
            len: l,
            ids: Vec::new(),
        };
        let masks = batch.masks(device);
        let x = Tensor::<3>::from_data(TensorData::new(values, [b, l, h]), device);
        let x = run_layers(enc, x, &masks, frozen, s.heads);
        let pooled = pool(x, &masks);
        apply_dropout(pooled, model.dropout, dropout, device)
    }

    fn onnx(
        &self,
        g: &mut dyn GraphSink,
        model: &ModelConfig,
        ids: &str,
        mask: &str,
    ) -> Result<String, String> {
        onnx(g, Sizes::of(model), ids, mask)
    }
}

/// Lengths of a batch's sequences (each truncated to `max_length`, at least 1) and the
/// padded length.
struct Batch {
    lens: Vec<usize>,
    len: usize,
    ids: Vec<i64>,
}

/// The masks of a batch: `pad` `[b, 1, 1, l]` for the attention scores, `pool` `[b, l, 1]`
/// with `1/n` on the real positions.
struct Masks {
    pad: Tensor<4, Bool>,
    pool: Tensor<3>,
}

impl Batch {
    fn of<'a>(seqs: impl Iterator<Item = &'a [u32]>, model: &ModelConfig) -> Self {
        let seqs: Vec<&[u32]> = seqs.map(|s| &s[..s.len().min(model.max_length)]).collect();
        let lens: Vec<usize> = seqs.iter().map(|s| s.len().max(1)).collect();
        let len = lens.iter().copied().max().unwrap_or(1);
        let mut ids = vec![0i64; seqs.len() * len];
        for (i, s) in seqs.iter().enumerate() {
            for (j, &id) in s.iter().enumerate() {
                ids[i * len + j] = i64::from(id);
            }
        }
        Batch { lens, len, ids }
    }

    fn masks(&self, device: &Device) -> Masks {
        let (b, l) = (self.lens.len(), self.len);
        let mut pad = vec![true; b * l];
        let mut pool = vec![0f32; b * l];
        for (i, &n) in self.lens.iter().enumerate() {
            for j in 0..n {
                pad[i * l + j] = false;
                pool[i * l + j] = 1.0 / n as f32;
            }
        }
        Masks {
            pad: Tensor::<4, Bool>::from_data(TensorData::new(pad, [b, 1, 1, l]), device),
            pool: Tensor::<3>::from_data(TensorData::new(pool, [b, l, 1]), device),
        }
    }
}

fn embed(enc: &BertEnc, batch: &Batch, device: &Device) -> Tensor<3> {
    let (b, l) = (batch.lens.len(), batch.len);
    let h = enc.word_embeddings.val().dims()[1];
    let ids = Tensor::<2, Int>::from_data(TensorData::new(batch.ids.clone(), [b, l]), device);
    let words = burn::tensor::module::embedding(enc.word_embeddings.val(), ids);
    let positions = enc
        .position_embeddings
        .val()
        .slice([0..l, 0..h])
        .reshape([1, l, h]);
    let types = enc
        .token_type_embeddings
        .val()
        .slice([0..1, 0..h])
        .reshape([1, 1, h]);
    enc.embeddings_norm.forward(words + positions + types)
}

fn run_layers(
    enc: &BertEnc,
    mut x: Tensor<3>,
    masks: &Masks,
    from: usize,
    heads: usize,
) -> Tensor<3> {
    for layer in &enc.layers[from.min(enc.layers.len())..] {
        x = layer_forward(layer, x, masks, heads);
    }
    x
}

fn layer_forward(layer: &BertLayer, x: Tensor<3>, masks: &Masks, heads: usize) -> Tensor<3> {
    let [b, l, h] = x.dims();
    let d = h / heads;
    let split = |t: Tensor<3>| t.reshape([b, l, heads, d]).swap_dims(1, 2);
    let q = split(layer.query.forward(x.clone()));
    let k = split(layer.key.forward(x.clone()));
    let v = split(layer.value.forward(x.clone()));
    let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f32).sqrt());
    let scores = scores.mask_fill(masks.pad.clone().expand([b, heads, l, l]), MASKED_SCORE);
    let weights = softmax(scores, 3);
    let context = weights.matmul(v).swap_dims(1, 2).reshape([b, l, h]);
    let x = layer
        .attention_norm
        .forward(x + layer.attention_output.forward(context));
    let inner = gelu(layer.intermediate.forward(x.clone()));
    layer.output_norm.forward(x + layer.output.forward(inner))
}

fn pool(x: Tensor<3>, masks: &Masks) -> Tensor<2> {
    let [b, _, h] = x.dims();
    (x * masks.pool.clone()).sum_dim(1).reshape([b, h])
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap_or_default()
}

/// Decodes a Hugging Face BERT `model.safetensors` into this architecture's parameters
/// (Linear weights transposed from `[out, in]` to `[in, out]`). Every encoder parameter must
/// be present; the pooler and `embeddings.position_ids` are skipped.
pub fn load_pretrained(model: &ModelConfig, bytes: &[u8]) -> Result<Vec<NamedTensor>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a safetensors file: {e}"))?;
    let names = st.names();
    let prefix = if names.iter().any(|n| n.starts_with("bert.")) {
        "bert."
    } else {
        ""
    };
    let s = Sizes::of(model);
    let mut wanted: Vec<(String, String, bool)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            "bert.word_embeddings".into(),
            false,
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            "bert.position_embeddings".into(),
            false,
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            "bert.token_type_embeddings".into(),
            false,
        ),
        (
            "embeddings.LayerNorm.weight".into(),
            "bert.embeddings_norm.gamma".into(),
            false,
        ),
        (
            "embeddings.LayerNorm.bias".into(),
            "bert.embeddings_norm.beta".into(),
            false,
        ),
    ];
    for i in 0..s.layers {
        let hf = format!("encoder.layer.{i}");
        let own = format!("bert.layers.{i}");
        for (from, to) in [
            ("attention.self.query", "query"),
            ("attention.self.key", "key"),
            ("attention.self.value", "value"),
            ("attention.output.dense", "attention_output"),
            ("intermediate.dense", "intermediate"),
            ("output.dense", "output"),
        ] {
            wanted.push((
                format!("{hf}.{from}.weight"),
                format!("{own}.{to}.weight"),
                true,
            ));
            wanted.push((
                format!("{hf}.{from}.bias"),
                format!("{own}.{to}.bias"),
                false,
            ));
        }
        for (from, to) in [
            ("attention.output.LayerNorm", "attention_norm"),
            ("output.LayerNorm", "output_norm"),
        ] {
            wanted.push((
                format!("{hf}.{from}.weight"),
                format!("{own}.{to}.gamma"),
                false,
            ));
            wanted.push((
                format!("{hf}.{from}.bias"),
                format!("{own}.{to}.beta"),
                false,
            ));
        }
    }
    let mut out = Vec::with_capacity(wanted.len());
    for (hf, own, transpose) in wanted {
        let full = format!("{prefix}{hf}");
        let view = st.tensor(&full).map_err(|_| {
            format!(
                "the checkpoint has no tensor `{full}` (is it a BERT model with {} layers?)",
                s.layers
            )
        })?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(format!(
                "tensor `{full}` is {:?}; cairn reads float32 checkpoints",
                view.dtype()
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape = view.shape().to_vec();
        let (shape, values) = if transpose && shape.len() == 2 {
            let (rows, cols) = (shape[0], shape[1]);
            let mut t = vec![0f32; values.len()];
            for r in 0..rows {
                for c in 0..cols {
                    t[c * rows + r] = values[r * cols + c];
                }
            }
            (vec![cols, rows], t)
        } else {
            (shape, values)
        };
        out.push(NamedTensor {
            name: own,
            shape,
            values,
        });
    }
    Ok(out)
}

/// The ONNX graph of the encoder: the same computation as [`Bert::forward`].
fn onnx(g: &mut dyn GraphSink, s: Sizes, ids: &str, mask: &str) -> Result<String, String> {
    let (h, heads) = (s.hidden, s.heads);
    let eps = s.epsilon() as f32;
    let float = || Attr::Int("to", dtype::FLOAT);
    let axis0 = g.i64s(&[0], false);
    let axis1 = g.i64s(&[1], false);
    let axis2 = g.i64s(&[2], false);
    let axes12 = g.i64s(&[1, 2], false);
    let zero_i = g.i64s(&[0], true);
    let one_i = g.i64s(&[1], false);
    let two_i = g.i64s(&[2], false);

    let norm = |g: &mut dyn GraphSink, x: &str, prefix: &str| layer_norm_eps(g, x, prefix, eps);

    let pad = g.node("Equal", &[mask, &zero_i], "bert.pad", vec![]);
    let real = g.node("Not", &[&pad], "bert.real", vec![]);
    let realf = g.node("Cast", &[&real], "bert.real_f", vec![float()]);
    let pad4 = g.node("Unsqueeze", &[&pad, &axes12], "bert.pad_4d", vec![]);
    let shape = g.node("Shape", &[ids], "bert.shape", vec![]);
    let len = g.node("Slice", &[&shape, &one_i, &two_i], "bert.len", vec![]);

    let (words, positions) = token_and_position(
        g,
        ids,
        &len,
        &axis0,
        ("bert.word_embeddings", "bert.position_embeddings"),
        ("bert.words", "bert.positions"),
    )?;
    let types = g.weight("bert.token_type_embeddings")?;
    let types = g.node(
        "Slice",
        &[&types, &axis0, &one_i, &axis0],
        "bert.types",
        vec![],
    );
    let x = g.node("Add", &[&words, &positions], "bert.embedded", vec![]);
    let x = g.node("Add", &[&x, &types], "bert.embedded_typed", vec![]);
    let mut x = norm(g, &x, "bert.embeddings_norm")?;

    let attention = AttentionGraph::new(g, heads, h, MASKED_SCORE);
    for i in 0..s.layers {
        let l = format!("bert.layers.{i}");
        let c = attention.attend(g, &x, &pad4, &l)?;
        let o = linear(g, &c, &format!("{l}.attention_output"))?;
        let r = g.node("Add", &[&x, &o], &format!("{l}.attention_residual"), vec![]);
        let r = norm(g, &r, &format!("{l}.attention_norm"))?;
        let inner = linear(g, &r, &format!("{l}.intermediate"))?;
        let act = attention.gelu(g, &inner, &l);
        let o = linear(g, &act, &format!("{l}.output"))?;
        let r2 = g.node("Add", &[&r, &o], &format!("{l}.output_residual"), vec![]);
        x = norm(g, &r2, &format!("{l}.output_norm"))?;
    }

    // Masked mean pooling over the real positions.
    Ok(mean_pool(g, &x, &realf, (&axis1, &axis2), "bert"))
}
