//! The ONNX graph of each architecture, written from the model's parameters.
//!
//! Inputs are `input_ids` and `attention_mask` (`int64 [batch, sequence]`, both axes
//! dynamic; a position is real where the mask is non-zero). Both are truncated to the model's
//! `max_length` inside the graph, as the burn model truncates. Outputs are `binary_logits`
//! `[batch, 2]`, `family_logits` `[batch, families]`, `severity_score` `[batch]` (after the
//! sigmoid) and `context_logits` `[batch, contexts]`.

use std::collections::BTreeMap;

use cairn_model::hashing::{BIGRAM_SALT, MIX, MUL1, MUL2, SHIFTS, unigram_bucket};
use cairn_model::{Architecture, ModelConfig, Weights};
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{Message, ModelProto, OperatorSetIdProto, StringStringEntryProto};

use crate::OnnxError;
use crate::graph::{Attr, Builder, Dim, value_info};

/// The opset the export targets (`BitwiseXor` needs 18).
pub const OPSET: i64 = 18;
/// ONNX IR version matching [`OPSET`].
const IR_VERSION: i64 = 8;
/// The value burn's attention writes into masked scores before the softmax.
const MASKED_SCORE: f32 = -1.0e4;
/// burn's `LayerNorm` default epsilon.
const LAYER_NORM_EPSILON: f32 = 1e-5;

/// What the export records about where it came from, as `metadata_props`.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub cairn_version: String,
    /// `name@version`.
    pub model: String,
    /// The run's recipe id (the run manifest itself points at the export, so it cannot be
    /// named inside it).
    pub recipe: String,
    pub weights: String,
    pub tokenizer: String,
    pub families: Vec<String>,
    pub contexts: Vec<String>,
}

impl Provenance {
    fn props(&self, model: &ModelConfig) -> Result<Vec<(String, String)>, OnnxError> {
        Ok(vec![
            ("cairn.version".into(), self.cairn_version.clone()),
            ("cairn.model".into(), self.model.clone()),
            ("cairn.recipe".into(), self.recipe.clone()),
            ("cairn.weights".into(), self.weights.clone()),
            ("cairn.tokenizer".into(), self.tokenizer.clone()),
            ("cairn.families".into(), json(&self.families)?),
            ("cairn.contexts".into(), json(&self.contexts)?),
            ("cairn.model_config".into(), json(model)?),
        ])
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, OnnxError> {
    serde_json::to_string(value).map_err(|e| OnnxError::Export(e.to_string()))
}

/// The model's parameters by name.
struct Params(BTreeMap<String, (Vec<usize>, Vec<f32>)>);

impl Params {
    /// Adds the parameter `name` as an initializer and returns its name.
    fn get(&self, b: &mut Builder, name: &str) -> Result<String, OnnxError> {
        let (shape, values) = self.0.get(name).ok_or_else(|| {
            OnnxError::Export(format!(
                "the weights have no parameter `{name}` (they have: {})",
                self.0.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        Ok(b.weight(name, shape, values))
    }

    /// `x · W + b` for the Linear module at `prefix`.
    fn linear(&self, b: &mut Builder, x: &str, prefix: &str) -> Result<String, OnnxError> {
        let w = self.get(b, &format!("{prefix}.weight"))?;
        let bias = self.get(b, &format!("{prefix}.bias"))?;
        let y = b.node("MatMul", &[x, &w], format!("{prefix}.matmul"), vec![]);
        Ok(b.node("Add", &[&y, &bias], prefix.to_string(), vec![]))
    }

    fn layer_norm(&self, b: &mut Builder, x: &str, prefix: &str) -> Result<String, OnnxError> {
        let gamma = self.get(b, &format!("{prefix}.gamma"))?;
        let beta = self.get(b, &format!("{prefix}.beta"))?;
        Ok(b.node(
            "LayerNormalization",
            &[x, &gamma, &beta],
            prefix.to_string(),
            vec![
                Attr::Int("axis", -1),
                Attr::Float("epsilon", LAYER_NORM_EPSILON),
            ],
        ))
    }
}

/// Serialized ONNX `ModelProto` bytes for a model and its weights. Deterministic: the same
/// weights and provenance give the same bytes.
pub fn export(
    model: &ModelConfig,
    weights: &Weights,
    provenance: &Provenance,
) -> Result<Vec<u8>, OnnxError> {
    let params = Params(
        cairn_model::tensors(model, weights)?
            .into_iter()
            .map(|(name, shape, values)| (name, (shape, values)))
            .collect(),
    );
    let mut b = Builder::default();
    let max_len = b.i64s(&[model.max_length as i64], false);
    let zero = b.i64s(&[0], false);
    let one = b.i64s(&[1], false);
    let ids = b.node(
        "Slice",
        &["input_ids", &zero, &max_len, &one],
        "ids",
        vec![],
    );
    let mask = b.node(
        "Slice",
        &["attention_mask", &zero, &max_len, &one],
        "mask",
        vec![],
    );
    let rep = match &model.architecture {
        Architecture::Bag { buckets, .. } => bag(&mut b, &params, model, *buckets, &ids, &mask)?,
        Architecture::Transformer {
            d_model,
            heads,
            layers,
            ..
        } => transformer(&mut b, &params, *d_model, *heads, *layers, &ids, &mask)?,
    };
    params.linear(&mut b, &rep, "binary")?;
    rename_last(&mut b, "binary_logits");
    params.linear(&mut b, &rep, "family")?;
    rename_last(&mut b, "family_logits");
    let severity = params.linear(&mut b, &rep, "severity")?;
    let severity = b.node("Sigmoid", &[&severity], "severity.sigmoid", vec![]);
    let axis1 = b.i64s(&[1], false);
    b.node("Squeeze", &[&severity, &axis1], "severity_score", vec![]);
    params.linear(&mut b, &rep, "context")?;
    rename_last(&mut b, "context_logits");

    let seq = || [Dim::Named("batch"), Dim::Named("sequence")];
    let graph = b.finish(
        "cairn",
        vec![
            value_info("input_ids", DataType::INT64, &seq()),
            value_info("attention_mask", DataType::INT64, &seq()),
        ],
        vec![
            value_info(
                "binary_logits",
                DataType::FLOAT,
                &[Dim::Named("batch"), Dim::Fixed(2)],
            ),
            value_info(
                "family_logits",
                DataType::FLOAT,
                &[Dim::Named("batch"), Dim::Fixed(model.families as i64)],
            ),
            value_info("severity_score", DataType::FLOAT, &[Dim::Named("batch")]),
            value_info(
                "context_logits",
                DataType::FLOAT,
                &[Dim::Named("batch"), Dim::Fixed(model.contexts as i64)],
            ),
        ],
    );
    let mut proto = ModelProto::new();
    proto.ir_version = IR_VERSION;
    let mut opset = OperatorSetIdProto::new();
    opset.version = OPSET;
    proto.opset_import = vec![opset];
    proto.producer_name = "cairn".into();
    proto.producer_version = provenance.cairn_version.clone();
    proto.doc_string = format!(
        "{} (prompt-injection / jailbreak detector)",
        provenance.model
    );
    proto.graph = protobuf::MessageField::some(graph);
    proto.metadata_props = provenance
        .props(model)?
        .into_iter()
        .map(|(key, value)| {
            let mut e = StringStringEntryProto::new();
            e.key = key;
            e.value = value;
            e
        })
        .collect();
    proto
        .write_to_bytes()
        .map_err(|e| OnnxError::Export(format!("serializing the graph: {e}")))
}

/// Renames the last node's output (a head's `Add`) to a graph output name.
fn rename_last(b: &mut Builder, name: &str) {
    b.rename_last_output(name);
}

/// SplitMix64's finalizer on a `uint64` tensor (see `cairn_model::hashing::mix`).
fn mix(b: &mut Builder, x: &str, tag: &str) -> String {
    let add = b.u64_scalar(MIX);
    let mut z = b.node("Add", &[x, &add], format!("{tag}.add"), vec![]);
    for (i, shift) in SHIFTS.iter().enumerate() {
        let s = b.u64_scalar(*shift);
        let shifted = b.node(
            "BitShift",
            &[&z, &s],
            format!("{tag}.shift{i}"),
            vec![Attr::Str("direction", "RIGHT")],
        );
        z = b.node(
            "BitwiseXor",
            &[&z, &shifted],
            format!("{tag}.xor{i}"),
            vec![],
        );
        if let Some(m) = [MUL1, MUL2].get(i) {
            let m = b.u64_scalar(*m);
            z = b.node("Mul", &[&z, &m], format!("{tag}.mul{i}"), vec![]);
        }
    }
    z
}

/// Hashed uni+bi-gram embedding bag (mean over the features of real, non-pad tokens) + ReLU
/// trunk.
fn bag(
    b: &mut Builder,
    p: &Params,
    model: &ModelConfig,
    buckets: usize,
    ids: &str,
    mask: &str,
) -> Result<String, OnnxError> {
    let zero = b.i64s(&[0], true);
    let ids_zero = b.node("Equal", &[ids, &zero], "bag.pad_id", vec![]);
    let ids_real = b.node("Not", &[&ids_zero], "bag.real_id", vec![]);
    let mask_zero = b.node("Equal", &[mask, &zero], "bag.pad_mask", vec![]);
    let mask_real = b.node("Not", &[&mask_zero], "bag.real_mask", vec![]);
    let valid = b.node("And", &[&ids_real, &mask_real], "bag.valid", vec![]);
    let float = Attr::Int("to", DataType::FLOAT as i64);
    let validf = b.node("Cast", &[&valid], "bag.valid_f", vec![float]);
    let embedding = p.get(b, "bag.embedding")?;
    let axis2 = b.i64s(&[2], false);
    let axis1 = b.i64s(&[1], false);
    let sum_keep = |b: &mut Builder, x: &str, tag: &str| {
        b.node(
            "ReduceSum",
            &[x, &axis1],
            format!("{tag}.count"),
            vec![Attr::Int("keepdims", 1)],
        )
    };
    let pooled_sum = |b: &mut Builder, buckets: &str, weight: &str, tag: &str| {
        let e = b.node(
            "Gather",
            &[&embedding, buckets],
            format!("{tag}.embed"),
            vec![Attr::Int("axis", 0)],
        );
        let w = b.node("Unsqueeze", &[weight, &axis2], format!("{tag}.w"), vec![]);
        let ew = b.node("Mul", &[&e, &w], format!("{tag}.weighted"), vec![]);
        b.node(
            "ReduceSum",
            &[&ew, &axis1],
            format!("{tag}.sum"),
            vec![Attr::Int("keepdims", 0)],
        )
    };

    // Unigrams: a lookup table of every token id's bucket.
    let table: Vec<i64> = (0..model.vocab_size as u32)
        .map(|id| unigram_bucket(id, buckets) as i64)
        .collect();
    let table = b.table("bag.unigram_buckets", &table);
    let uni = b.node(
        "Gather",
        &[&table, ids],
        "bag.unigram",
        vec![Attr::Int("axis", 0)],
    );
    let uni_sum = pooled_sum(b, &uni, &validf, "bag.unigram");
    let uni_count = sum_keep(b, &validf, "bag.unigram");

    // Bigrams of consecutive real tokens: mix(mix((prev << 32 | cur) ^ salt)) % buckets.
    let start0 = b.i64s(&[0], false);
    let start1 = b.i64s(&[1], false);
    let end_last = b.i64s(&[-1], false);
    let end_max = b.i64s(&[i64::MAX], false);
    let slice = |b: &mut Builder, x: &str, first: bool, tag: &str| {
        let (s, e) = if first {
            (&start0, &end_last)
        } else {
            (&start1, &end_max)
        };
        b.node("Slice", &[x, s, e, &axis1], tag.to_string(), vec![])
    };
    let prev = slice(b, ids, true, "bag.prev");
    let cur = slice(b, ids, false, "bag.cur");
    let prev_valid = slice(b, &valid, true, "bag.prev_valid");
    let cur_valid = slice(b, &valid, false, "bag.cur_valid");
    let bi_valid = b.node(
        "And",
        &[&prev_valid, &cur_valid],
        "bag.bigram_valid",
        vec![],
    );
    let bi_validf = b.node(
        "Cast",
        &[&bi_valid],
        "bag.bigram_valid_f",
        vec![Attr::Int("to", DataType::FLOAT as i64)],
    );
    let u64t = || Attr::Int("to", DataType::UINT64 as i64);
    let prev = b.node("Cast", &[&prev], "bag.prev_u64", vec![u64t()]);
    let cur = b.node("Cast", &[&cur], "bag.cur_u64", vec![u64t()]);
    let s32 = b.u64_scalar(32);
    let high = b.node(
        "BitShift",
        &[&prev, &s32],
        "bag.high",
        vec![Attr::Str("direction", "LEFT")],
    );
    let key = b.node("BitwiseOr", &[&high, &cur], "bag.key", vec![]);
    let salt = b.u64_scalar(BIGRAM_SALT);
    let key = b.node("BitwiseXor", &[&key, &salt], "bag.salted", vec![]);
    let h = mix(b, &key, "bag.mix1");
    let h = mix(b, &h, "bag.mix2");
    let n = b.u64_scalar(buckets as u64);
    let bucket = b.node("Mod", &[&h, &n], "bag.bigram_mod", vec![]);
    let bucket = b.node(
        "Cast",
        &[&bucket],
        "bag.bigram",
        vec![Attr::Int("to", DataType::INT64 as i64)],
    );
    let bi_sum = pooled_sum(b, &bucket, &bi_validf, "bag.bigram");
    let bi_count = sum_keep(b, &bi_validf, "bag.bigram");

    // Mean over every feature (0 when there is none), then the trunk.
    let total = b.node("Add", &[&uni_sum, &bi_sum], "bag.sum", vec![]);
    let count = b.node("Add", &[&uni_count, &bi_count], "bag.count", vec![]);
    let one = b.f32s(&[], &[1.0]);
    let count = b.node("Max", &[&count, &one], "bag.count_at_least_1", vec![]);
    let pooled = b.node("Div", &[&total, &count], "bag.pooled", vec![]);
    let h = p.linear(b, &pooled, "bag.trunk")?;
    Ok(b.node("Relu", &[&h], "bag.hidden", vec![]))
}

/// Learned token + position embeddings, pre-norm encoder layers (burn's layout: `norm_2`
/// before attention, `norm_1` before the feed-forward block), final LayerNorm, masked mean
/// pooling. A sequence with no real position attends to and pools its first position, as
/// the burn model does.
fn transformer(
    b: &mut Builder,
    p: &Params,
    d_model: usize,
    heads: usize,
    layers: usize,
    ids: &str,
    mask: &str,
) -> Result<String, OnnxError> {
    let d_k = d_model / heads;
    let zero_i = b.i64s(&[0], true);
    let float = || Attr::Int("to", DataType::FLOAT as i64);
    let axis0 = b.i64s(&[0], false);
    let axis1 = b.i64s(&[1], false);
    let axes12 = b.i64s(&[1, 2], false);
    let axis2 = b.i64s(&[2], false);

    // Which positions are real; an all-pad row keeps its first position.
    let pad = b.node("Equal", &[mask, &zero_i], "tf.pad", vec![]);
    let real = b.node("Not", &[&pad], "tf.real", vec![]);
    let realf = b.node("Cast", &[&real], "tf.real_f", vec![float()]);
    let count = b.node(
        "ReduceSum",
        &[&realf, &axis1],
        "tf.count",
        vec![Attr::Int("keepdims", 1)],
    );
    let zero_f = b.f32s(&[], &[0.0]);
    let empty = b.node("Equal", &[&count, &zero_f], "tf.empty", vec![]);
    let emptyf = b.node("Cast", &[&empty], "tf.empty_f", vec![float()]);
    let shape = b.node("Shape", &[ids], "tf.shape", vec![]);
    let one_i = b.i64s(&[1], false);
    let two_i = b.i64s(&[2], false);
    let len = b.node("Slice", &[&shape, &one_i, &two_i], "tf.len", vec![]);
    let mut first = vec![
        0.0f32;
        p.0.get("transformer.position_embedding")
            .map_or(1, |t| t.0[0])
    ];
    first[0] = 1.0;
    let first_all = b.f32s(&[first.len()], &first);
    let first = b.node(
        "Slice",
        &[&first_all, &axis0, &len, &axis0],
        "tf.first",
        vec![],
    );
    let first = b.node("Mul", &[&emptyf, &first], "tf.first_if_empty", vec![]);
    let keep = b.node("Max", &[&realf, &first], "tf.keep", vec![]);
    let masked = b.node("Equal", &[&keep, &zero_f], "tf.masked", vec![]);
    let masked = b.node("Unsqueeze", &[&masked, &axes12], "tf.masked_4d", vec![]);

    // Embeddings.
    let tok_table = p.get(b, "transformer.token_embedding")?;
    let tok = b.node(
        "Gather",
        &[&tok_table, ids],
        "tf.tokens",
        vec![Attr::Int("axis", 0)],
    );
    let pos_table = p.get(b, "transformer.position_embedding")?;
    let pos = b.node(
        "Slice",
        &[&pos_table, &axis0, &len, &axis0],
        "tf.positions",
        vec![],
    );
    let mut x = b.node("Add", &[&tok, &pos], "tf.embedded", vec![]);

    let split = b.i64s(&[0, 0, heads as i64, d_k as i64], false);
    let merge = b.i64s(&[0, 0, d_model as i64], false);
    let scale = b.f32s(&[], &[(d_k as f32).sqrt()]);
    let fill = b.f32s(&[], &[MASKED_SCORE]);
    let sqrt2 = b.f32s(&[], &[std::f32::consts::SQRT_2]);
    let half = b.f32s(&[], &[0.5]);
    let one_f = b.f32s(&[], &[1.0]);
    for i in 0..layers {
        let l = format!("transformer.encoder.layers.{i}");
        // Attention block.
        let r = p.layer_norm(b, &x, &format!("{l}.norm_2"))?;
        let project = |b: &mut Builder, which: &str, perm: Vec<i64>| {
            let y = p.linear(b, &r, &format!("{l}.mha.{which}"))?;
            let y = b.node(
                "Reshape",
                &[&y, &split],
                format!("{l}.mha.{which}.heads"),
                vec![],
            );
            Ok::<_, OnnxError>(b.node(
                "Transpose",
                &[&y],
                format!("{l}.mha.{which}.t"),
                vec![Attr::Ints("perm", perm)],
            ))
        };
        let q = project(b, "query", vec![0, 2, 1, 3])?;
        let k = project(b, "key", vec![0, 2, 3, 1])?;
        let v = project(b, "value", vec![0, 2, 1, 3])?;
        let s = b.node("MatMul", &[&q, &k], format!("{l}.mha.scores"), vec![]);
        let s = b.node("Div", &[&s, &scale], format!("{l}.mha.scaled"), vec![]);
        let s = b.node(
            "Where",
            &[&masked, &fill, &s],
            format!("{l}.mha.masked"),
            vec![],
        );
        let w = b.node(
            "Softmax",
            &[&s],
            format!("{l}.mha.weights"),
            vec![Attr::Int("axis", -1)],
        );
        let c = b.node("MatMul", &[&w, &v], format!("{l}.mha.context"), vec![]);
        let c = b.node(
            "Transpose",
            &[&c],
            format!("{l}.mha.context.t"),
            vec![Attr::Ints("perm", vec![0, 2, 1, 3])],
        );
        let c = b.node("Reshape", &[&c, &merge], format!("{l}.mha.merged"), vec![]);
        let o = p.linear(b, &c, &format!("{l}.mha.output"))?;
        x = b.node("Add", &[&x, &o], format!("{l}.attention_residual"), vec![]);
        // Feed-forward block, exact (erf) GELU.
        let r = p.layer_norm(b, &x, &format!("{l}.norm_1"))?;
        let h = p.linear(b, &r, &format!("{l}.pwff.linear_inner"))?;
        let e = b.node("Div", &[&h, &sqrt2], format!("{l}.gelu.scaled"), vec![]);
        let e = b.node("Erf", &[&e], format!("{l}.gelu.erf"), vec![]);
        let e = b.node("Add", &[&e, &one_f], format!("{l}.gelu.plus1"), vec![]);
        let e = b.node("Mul", &[&h, &e], format!("{l}.gelu.mul"), vec![]);
        let g = b.node("Mul", &[&e, &half], format!("{l}.gelu"), vec![]);
        let f = p.linear(b, &g, &format!("{l}.pwff.linear_outer"))?;
        x = b.node("Add", &[&x, &f], format!("{l}.ff_residual"), vec![]);
    }
    let x = p.layer_norm(b, &x, "transformer.norm")?;

    // Masked mean pooling.
    let kept = b.node(
        "ReduceSum",
        &[&keep, &axis1],
        "tf.kept",
        vec![Attr::Int("keepdims", 1)],
    );
    let w = b.node("Div", &[&keep, &kept], "tf.pool_weights", vec![]);
    let w = b.node("Unsqueeze", &[&w, &axis2], "tf.pool_weights_3d", vec![]);
    let xw = b.node("Mul", &[&x, &w], "tf.weighted", vec![]);
    Ok(b.node(
        "ReduceSum",
        &[&xw, &axis1],
        "tf.pooled",
        vec![Attr::Int("keepdims", 0)],
    ))
}
