//! `transformer`: learned token + position embeddings, burn's pre-norm transformer encoder,
//! a final LayerNorm and masked mean pooling.

use burn::module::{Module, Param};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::{
    Arch, AttentionGraph, Attr, GraphSink, Init, dtype, layer_norm, linear, mean_pool,
    token_and_position,
};
use crate::layers::{apply_dropout, placeholder};
use crate::{Encoded, ModelConfig};

/// The value burn's attention writes into masked scores before the softmax.
const MASKED_SCORE: f32 = -1.0e4;

/// The architecture.
#[derive(Debug, Clone, Copy)]
pub struct Transformer;

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

struct Sizes {
    d_model: usize,
    heads: usize,
    layers: usize,
    d_ff: usize,
}

fn sizes(model: &ModelConfig) -> Sizes {
    let a = &model.architecture;
    Sizes {
        d_model: a.size("d_model"),
        heads: a.size("heads"),
        layers: a.size("layers"),
        d_ff: a.size("d_ff"),
    }
}

impl Arch for Transformer {
    type Encoder = TransformerEnc;

    fn name(&self) -> &'static str {
        "transformer"
    }

    fn sizes(&self) -> &'static [(&'static str, u64)] {
        &[("d_model", 64), ("heads", 4), ("layers", 2), ("d_ff", 128)]
    }

    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        let (d_model, heads) = (size("d_model"), size("heads"));
        if heads == 0 || !d_model.is_multiple_of(heads) {
            return Err((
                "heads",
                format!("heads {heads} must divide d_model {d_model}"),
            ));
        }
        Ok(())
    }

    fn validate(&self, model: &ModelConfig) -> Result<(), String> {
        let Sizes {
            d_model,
            heads,
            d_ff,
            ..
        } = sizes(model);
        if d_model == 0 || heads == 0 || d_ff == 0 {
            return Err("transformer: d_model, heads and d_ff must be >= 1".into());
        }
        if d_model % heads != 0 {
            return Err(format!(
                "transformer: d_model ({d_model}) must be divisible by heads ({heads})"
            ));
        }
        if model.vocab_size == 0 {
            return Err("transformer: vocab_size must be >= 1".into());
        }
        Ok(())
    }

    /// Token ids index the embedding table: they must be < vocab_size.
    fn check_ids(&self, model: &ModelConfig, ids: &[u32]) -> Result<(), String> {
        super::check_vocab(model, ids)
    }

    fn rep_dim(&self, model: &ModelConfig) -> usize {
        sizes(model).d_model
    }

    fn encoder_parameters(&self, model: &ModelConfig) -> usize {
        let Sizes {
            d_model: d,
            layers,
            d_ff,
            ..
        } = sizes(model);
        let layer = 4 * (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d) + 2 * 2 * d;
        model.vocab_size * d + model.max_length * d + layers * layer + 2 * d
    }

    fn build(&self, model: &ModelConfig, device: &Device) -> TransformerEnc {
        let s = sizes(model);
        TransformerEnc {
            token_embedding: placeholder([model.vocab_size, s.d_model], device),
            position_embedding: placeholder([model.max_length, s.d_model], device),
            // Dropout inside the encoder is disabled (it would draw from burn's global
            // RNG); dropout is applied by this crate on embeddings and pooled output.
            encoder: TransformerEncoderConfig::new(s.d_model, s.d_ff, s.heads, s.layers)
                .with_dropout(0.0)
                .with_norm_first(true)
                .init(device),
            norm: LayerNormConfig::new(s.d_model).init(device),
        }
    }

    fn init(&self, name: &str, _shape: &[usize]) -> Option<Init> {
        matches!(
            name,
            "transformer.token_embedding" | "transformer.position_embedding"
        )
        .then_some(Init::Uniform(0.1))
    }

    fn forward(
        &self,
        t: &TransformerEnc,
        model: &ModelConfig,
        examples: &[&Encoded],
        device: &Device,
        mut dropout: Option<&mut ChaCha8Rng>,
    ) -> Tensor<2> {
        let b = examples.len();
        let p = model.dropout;
        let d = sizes(model).d_model;
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

    fn onnx(
        &self,
        g: &mut dyn GraphSink,
        model: &ModelConfig,
        ids: &str,
        mask: &str,
    ) -> Result<String, String> {
        let s = sizes(model);
        onnx(g, model.max_length, s.d_model, s.heads, s.layers, ids, mask)
    }
}

/// Learned token + position embeddings, pre-norm encoder layers (burn's layout: `norm_2`
/// before attention, `norm_1` before the feed-forward block; masked scores set to -1e4;
/// exact erf GELU), final LayerNorm, masked mean pooling. A sequence with no real position
/// attends to and pools its first position, as the burn model does.
fn onnx(
    g: &mut dyn GraphSink,
    max_length: usize,
    d_model: usize,
    heads: usize,
    layers: usize,
    ids: &str,
    mask: &str,
) -> Result<String, String> {
    let zero_i = g.i64s(&[0], true);
    let float = || Attr::Int("to", dtype::FLOAT);
    let axis0 = g.i64s(&[0], false);
    let axis1 = g.i64s(&[1], false);
    let axes12 = g.i64s(&[1, 2], false);
    let axis2 = g.i64s(&[2], false);

    // Which positions are real; an all-pad row keeps its first position.
    let pad = g.node("Equal", &[mask, &zero_i], "tf.pad", vec![]);
    let real = g.node("Not", &[&pad], "tf.real", vec![]);
    let realf = g.node("Cast", &[&real], "tf.real_f", vec![float()]);
    let count = g.node(
        "ReduceSum",
        &[&realf, &axis1],
        "tf.count",
        vec![Attr::Int("keepdims", 1)],
    );
    let zero_f = g.f32s(&[], &[0.0]);
    let empty = g.node("Equal", &[&count, &zero_f], "tf.empty", vec![]);
    let emptyf = g.node("Cast", &[&empty], "tf.empty_f", vec![float()]);
    let shape = g.node("Shape", &[ids], "tf.shape", vec![]);
    let one_i = g.i64s(&[1], false);
    let two_i = g.i64s(&[2], false);
    let len = g.node("Slice", &[&shape, &one_i, &two_i], "tf.len", vec![]);
    // One entry per row of the position table.
    let mut first = vec![0.0f32; max_length.max(1)];
    first[0] = 1.0;
    let first_all = g.f32s(&[first.len()], &first);
    let first = g.node(
        "Slice",
        &[&first_all, &axis0, &len, &axis0],
        "tf.first",
        vec![],
    );
    let first = g.node("Mul", &[&emptyf, &first], "tf.first_if_empty", vec![]);
    let keep = g.node("Max", &[&realf, &first], "tf.keep", vec![]);
    let masked = g.node("Equal", &[&keep, &zero_f], "tf.masked", vec![]);
    let masked = g.node("Unsqueeze", &[&masked, &axes12], "tf.masked_4d", vec![]);

    // Embeddings.
    let (tok, pos) = token_and_position(
        g,
        ids,
        &len,
        &axis0,
        (
            "transformer.token_embedding",
            "transformer.position_embedding",
        ),
        ("tf.tokens", "tf.positions"),
    )?;
    let mut x = g.node("Add", &[&tok, &pos], "tf.embedded", vec![]);

    let attention = AttentionGraph::new(g, heads, d_model, MASKED_SCORE);
    for i in 0..layers {
        let l = format!("transformer.encoder.layers.{i}");
        // Attention block.
        let r = layer_norm(g, &x, &format!("{l}.norm_2"))?;
        let c = attention.attend(g, &r, &masked, &format!("{l}.mha"))?;
        let o = linear(g, &c, &format!("{l}.mha.output"))?;
        x = g.node("Add", &[&x, &o], &format!("{l}.attention_residual"), vec![]);
        // Feed-forward block, exact (erf) GELU.
        let r = layer_norm(g, &x, &format!("{l}.norm_1"))?;
        let h = linear(g, &r, &format!("{l}.pwff.linear_inner"))?;
        let gelu = attention.gelu(g, &h, &l);
        let f = linear(g, &gelu, &format!("{l}.pwff.linear_outer"))?;
        x = g.node("Add", &[&x, &f], &format!("{l}.ff_residual"), vec![]);
    }
    let x = layer_norm(g, &x, "transformer.norm")?;

    // Masked mean pooling.
    Ok(mean_pool(g, &x, &keep, (&axis1, &axis2), "tf"))
}
