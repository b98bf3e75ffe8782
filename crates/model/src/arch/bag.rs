//! `bag`: hashed token uni+bi-gram embedding bag (mean over the features of non-pad tokens)
//! + ReLU MLP trunk. Fast; the default.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::{Arch, Attr, GraphSink, Init, dtype, linear};
use crate::hashing::{BIGRAM_SALT, MIX, MUL1, MUL2, SHIFTS, bigram_bucket, unigram_bucket};
use crate::layers::{apply_dropout, placeholder};
use crate::{Encoded, ModelConfig};

/// The architecture.
#[derive(Debug, Clone, Copy)]
pub struct Bag;

/// Hashed uni+bi-gram embedding bag + MLP trunk.
#[derive(Module, Debug)]
pub struct BagEncoder {
    /// `[buckets, embed_dim]`.
    pub embedding: Param<Tensor<2>>,
    /// `[embed_dim, hidden]` (burn's row layout: `y = x · W + b`).
    pub trunk: Linear,
}

struct Sizes {
    embed_dim: usize,
    hidden: usize,
    buckets: usize,
}

fn sizes(model: &ModelConfig) -> Sizes {
    let a = &model.architecture;
    Sizes {
        embed_dim: a.size("embed_dim"),
        hidden: a.size("hidden"),
        buckets: a.size("buckets"),
    }
}

impl Arch for Bag {
    type Encoder = BagEncoder;

    fn name(&self) -> &'static str {
        "bag"
    }

    fn sizes(&self) -> &'static [(&'static str, u64)] {
        &[("embed_dim", 64), ("hidden", 128), ("buckets", 1 << 16)]
    }

    fn validate(&self, model: &ModelConfig) -> Result<(), String> {
        let s = sizes(model);
        if s.embed_dim == 0 || s.hidden == 0 || s.buckets == 0 {
            return Err("bag: embed_dim, hidden and buckets must be >= 1".into());
        }
        Ok(())
    }

    fn rep_dim(&self, model: &ModelConfig) -> usize {
        sizes(model).hidden
    }

    fn encoder_parameters(&self, model: &ModelConfig) -> usize {
        let s = sizes(model);
        s.buckets * s.embed_dim + s.embed_dim * s.hidden + s.hidden
    }

    fn build(&self, model: &ModelConfig, device: &Device) -> BagEncoder {
        let s = sizes(model);
        BagEncoder {
            embedding: placeholder([s.buckets, s.embed_dim], device),
            trunk: LinearConfig::new(s.embed_dim, s.hidden).init(device),
        }
    }

    fn init(&self, name: &str, _shape: &[usize]) -> Option<Init> {
        (name == "bag.embedding").then_some(Init::Uniform(0.1))
    }

    fn forward(
        &self,
        bag: &BagEncoder,
        model: &ModelConfig,
        examples: &[&Encoded],
        device: &Device,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Tensor<2> {
        let b = examples.len();
        let (indices, weights, f) = bag_features(examples, sizes(model).buckets, model.max_length);
        let idx = Tensor::<2, Int>::from_data(TensorData::new(indices, [b, f]), device);
        let w = Tensor::<3>::from_data(TensorData::new(weights, [b, f, 1]), device);
        let emb = burn::tensor::module::embedding(bag.embedding.val(), idx);
        let e = emb.dims()[2];
        let pooled = (emb * w).sum_dim(1).reshape([b, e]);
        let h = relu(bag.trunk.forward(pooled));
        apply_dropout(h, model.dropout, dropout, device)
    }

    fn onnx(
        &self,
        g: &mut dyn GraphSink,
        model: &ModelConfig,
        ids: &str,
        mask: &str,
    ) -> Result<String, String> {
        onnx(g, model, sizes(model).buckets, ids, mask)
    }
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

/// SplitMix64's finalizer on a `uint64` tensor (see `crate::hashing::mix`).
fn mix(g: &mut dyn GraphSink, x: &str, tag: &str) -> String {
    let add = g.u64_scalar(MIX);
    let mut z = g.node("Add", &[x, &add], &format!("{tag}.add"), vec![]);
    for (i, shift) in SHIFTS.iter().enumerate() {
        let s = g.u64_scalar(*shift);
        let shifted = g.node(
            "BitShift",
            &[&z, &s],
            &format!("{tag}.shift{i}"),
            vec![Attr::Str("direction", "RIGHT")],
        );
        z = g.node(
            "BitwiseXor",
            &[&z, &shifted],
            &format!("{tag}.xor{i}"),
            vec![],
        );
        if let Some(m) = [MUL1, MUL2].get(i) {
            let m = g.u64_scalar(*m);
            z = g.node("Mul", &[&z, &m], &format!("{tag}.mul{i}"), vec![]);
        }
    }
    z
}

/// The bag's hashing runs inside the graph: unigram buckets are a lookup table (one entry
/// per token id), bigram buckets are SplitMix64 in `uint64` arithmetic; the mean over the
/// features of real, non-pad tokens, then the ReLU trunk.
fn onnx(
    g: &mut dyn GraphSink,
    model: &ModelConfig,
    buckets: usize,
    ids: &str,
    mask: &str,
) -> Result<String, String> {
    let zero = g.i64s(&[0], true);
    let ids_zero = g.node("Equal", &[ids, &zero], "bag.pad_id", vec![]);
    let ids_real = g.node("Not", &[&ids_zero], "bag.real_id", vec![]);
    let mask_zero = g.node("Equal", &[mask, &zero], "bag.pad_mask", vec![]);
    let mask_real = g.node("Not", &[&mask_zero], "bag.real_mask", vec![]);
    let valid = g.node("And", &[&ids_real, &mask_real], "bag.valid", vec![]);
    let float = Attr::Int("to", dtype::FLOAT);
    let validf = g.node("Cast", &[&valid], "bag.valid_f", vec![float]);
    let embedding = g.weight("bag.embedding")?;
    let axis2 = g.i64s(&[2], false);
    let axis1 = g.i64s(&[1], false);
    let sum_keep = |g: &mut dyn GraphSink, x: &str, tag: &str| {
        g.node(
            "ReduceSum",
            &[x, &axis1],
            &format!("{tag}.count"),
            vec![Attr::Int("keepdims", 1)],
        )
    };
    let pooled_sum = |g: &mut dyn GraphSink, buckets: &str, weight: &str, tag: &str| {
        let e = g.node(
            "Gather",
            &[&embedding, buckets],
            &format!("{tag}.embed"),
            vec![Attr::Int("axis", 0)],
        );
        let w = g.node("Unsqueeze", &[weight, &axis2], &format!("{tag}.w"), vec![]);
        let ew = g.node("Mul", &[&e, &w], &format!("{tag}.weighted"), vec![]);
        g.node(
            "ReduceSum",
            &[&ew, &axis1],
            &format!("{tag}.sum"),
            vec![Attr::Int("keepdims", 0)],
        )
    };

    // Unigrams: a lookup table of every token id's bucket.
    let table: Vec<i64> = (0..model.vocab_size as u32)
        .map(|id| unigram_bucket(id, buckets) as i64)
        .collect();
    let table = g.table("bag.unigram_buckets", &table);
    let uni = g.node(
        "Gather",
        &[&table, ids],
        "bag.unigram",
        vec![Attr::Int("axis", 0)],
    );
    let uni_sum = pooled_sum(g, &uni, &validf, "bag.unigram");
    let uni_count = sum_keep(g, &validf, "bag.unigram");

    // Bigrams of consecutive real tokens: mix(mix((prev << 32 | cur) ^ salt)) % buckets.
    let start0 = g.i64s(&[0], false);
    let start1 = g.i64s(&[1], false);
    let end_last = g.i64s(&[-1], false);
    let end_max = g.i64s(&[i64::MAX], false);
    let slice = |g: &mut dyn GraphSink, x: &str, first: bool, tag: &str| {
        let (s, e) = if first {
            (&start0, &end_last)
        } else {
            (&start1, &end_max)
        };
        g.node("Slice", &[x, s, e, &axis1], tag, vec![])
    };
    let prev = slice(g, ids, true, "bag.prev");
    let cur = slice(g, ids, false, "bag.cur");
    let prev_valid = slice(g, &valid, true, "bag.prev_valid");
    let cur_valid = slice(g, &valid, false, "bag.cur_valid");
    let bi_valid = g.node(
        "And",
        &[&prev_valid, &cur_valid],
        "bag.bigram_valid",
        vec![],
    );
    let bi_validf = g.node(
        "Cast",
        &[&bi_valid],
        "bag.bigram_valid_f",
        vec![Attr::Int("to", dtype::FLOAT)],
    );
    let u64t = || Attr::Int("to", dtype::UINT64);
    let prev = g.node("Cast", &[&prev], "bag.prev_u64", vec![u64t()]);
    let cur = g.node("Cast", &[&cur], "bag.cur_u64", vec![u64t()]);
    let s32 = g.u64_scalar(32);
    let high = g.node(
        "BitShift",
        &[&prev, &s32],
        "bag.high",
        vec![Attr::Str("direction", "LEFT")],
    );
    let key = g.node("BitwiseOr", &[&high, &cur], "bag.key", vec![]);
    let salt = g.u64_scalar(BIGRAM_SALT);
    let key = g.node("BitwiseXor", &[&key, &salt], "bag.salted", vec![]);
    let h = mix(g, &key, "bag.mix1");
    let h = mix(g, &h, "bag.mix2");
    let n = g.u64_scalar(buckets as u64);
    let bucket = g.node("Mod", &[&h, &n], "bag.bigram_mod", vec![]);
    let bucket = g.node(
        "Cast",
        &[&bucket],
        "bag.bigram",
        vec![Attr::Int("to", dtype::INT64)],
    );
    let bi_sum = pooled_sum(g, &bucket, &bi_validf, "bag.bigram");
    let bi_count = sum_keep(g, &bi_validf, "bag.bigram");

    // Mean over every feature (0 when there is none), then the trunk.
    let total = g.node("Add", &[&uni_sum, &bi_sum], "bag.sum", vec![]);
    let count = g.node("Add", &[&uni_count, &bi_count], "bag.count", vec![]);
    let one = g.f32s(&[], &[1.0]);
    let count = g.node("Max", &[&count, &one], "bag.count_at_least_1", vec![]);
    let pooled = g.node("Div", &[&total, &count], "bag.pooled", vec![]);
    let h = linear(g, &pooled, "bag.trunk")?;
    Ok(g.node("Relu", &[&h], "bag.hidden", vec![]))
}
