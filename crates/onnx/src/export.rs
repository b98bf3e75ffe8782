//! The ONNX export: the shared parts (inputs, truncation to `max_length`, the four heads,
//! outputs, metadata) around the encoder graph that the architecture writes
//! ([`cairn_model::arch::ArchitectureDef::onnx`]) through a [`GraphSink`] over [`Builder`].
//!
//! Inputs are `input_ids` and `attention_mask` (`int64 [batch, sequence]`, both axes
//! dynamic; a position is real where the mask is non-zero). Both are truncated to the model's
//! `max_length` inside the graph, as the burn model truncates. Outputs are `binary_logits`
//! `[batch, 2]`, `family_logits` `[batch, families]`, `severity_score` `[batch]` (after the
//! sigmoid) and `context_logits` `[batch, contexts]`.

use std::collections::BTreeMap;

use cairn_model::arch::{self, GraphSink};
use cairn_model::{ModelConfig, Weights};
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{Message, ModelProto, OperatorSetIdProto, StringStringEntryProto};

use crate::OnnxError;
use crate::graph::{Attr, Builder, Dim, value_info};

/// The opset the export targets (`BitwiseXor` needs 18).
pub const OPSET: i64 = 18;
/// ONNX IR version matching [`OPSET`].
const IR_VERSION: i64 = 8;

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
    /// The operating point (P(attack) at or above it is an attack), when the run chose one.
    pub threshold: Option<f64>,
}

impl Provenance {
    fn props(&self, model: &ModelConfig) -> Result<Vec<(String, String)>, OnnxError> {
        let mut props = vec![
            ("cairn.version".into(), self.cairn_version.clone()),
            ("cairn.model".into(), self.model.clone()),
            ("cairn.recipe".into(), self.recipe.clone()),
            ("cairn.weights".into(), self.weights.clone()),
            ("cairn.tokenizer".into(), self.tokenizer.clone()),
            ("cairn.families".into(), json(&self.families)?),
            ("cairn.contexts".into(), json(&self.contexts)?),
            ("cairn.model_config".into(), json(model)?),
        ];
        if let Some(t) = self.threshold {
            props.push(("cairn.threshold".into(), json(&t)?));
        }
        Ok(props)
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, OnnxError> {
    serde_json::to_string(value).map_err(|e| OnnxError::Export(e.to_string()))
}

/// The graph being built and the model's parameters by name.
struct Sink {
    b: Builder,
    params: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl GraphSink for Sink {
    fn node(&mut self, op: &str, inputs: &[&str], name: &str, attrs: Vec<arch::Attr>) -> String {
        let attrs = attrs
            .into_iter()
            .map(|a| match a {
                arch::Attr::Int(n, v) => Attr::Int(n, v),
                arch::Attr::Ints(n, v) => Attr::Ints(n, v),
                arch::Attr::Float(n, v) => Attr::Float(n, v),
                arch::Attr::Str(n, v) => Attr::Str(n, v),
            })
            .collect();
        self.b.node(op, inputs, name, attrs)
    }

    /// Adds the parameter `name` as an initializer and returns its name.
    fn weight(&mut self, name: &str) -> Result<String, String> {
        let (shape, values) = self.params.get(name).ok_or_else(|| {
            format!(
                "the weights have no parameter `{name}` (they have: {})",
                self.params.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        Ok(self.b.weight(name, shape, values))
    }

    fn i64s(&mut self, values: &[i64], scalar: bool) -> String {
        self.b.i64s(values, scalar)
    }

    fn u64_scalar(&mut self, value: u64) -> String {
        self.b.u64_scalar(value)
    }

    fn f32s(&mut self, dims: &[usize], values: &[f32]) -> String {
        self.b.f32s(dims, values)
    }

    fn table(&mut self, name: &str, values: &[i64]) -> String {
        self.b.table(name, values)
    }
}

/// Serialized ONNX `ModelProto` bytes for a model and its weights. Deterministic: the same
/// weights and provenance give the same bytes.
pub fn export(
    model: &ModelConfig,
    weights: &Weights,
    provenance: &Provenance,
) -> Result<Vec<u8>, OnnxError> {
    let params = cairn_model::tensors(model, weights)?
        .into_iter()
        .map(|(name, shape, values)| (name, (shape, values)))
        .collect();
    let mut g = Sink {
        b: Builder::default(),
        params,
    };
    let max_len = g.i64s(&[model.max_length as i64], false);
    let zero = g.i64s(&[0], false);
    let one = g.i64s(&[1], false);
    let ids = g.node(
        "Slice",
        &["input_ids", &zero, &max_len, &one],
        "ids",
        vec![],
    );
    let mask = g.node(
        "Slice",
        &["attention_mask", &zero, &max_len, &one],
        "mask",
        vec![],
    );
    let rep = model
        .architecture
        .def()
        .onnx(&mut g, model, &ids, &mask)
        .map_err(OnnxError::Export)?;
    let heads = |g: &mut Sink| -> Result<(), String> {
        arch::linear(g, &rep, "binary")?;
        g.b.rename_last_output("binary_logits");
        arch::linear(g, &rep, "family")?;
        g.b.rename_last_output("family_logits");
        let severity = arch::linear(g, &rep, "severity")?;
        let severity = g.node("Sigmoid", &[&severity], "severity.sigmoid", vec![]);
        let axis1 = g.i64s(&[1], false);
        g.node("Squeeze", &[&severity, &axis1], "severity_score", vec![]);
        arch::linear(g, &rep, "context")?;
        g.b.rename_last_output("context_logits");
        Ok(())
    };
    heads(&mut g).map_err(OnnxError::Export)?;
    let b = g.b;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_crates_type_codes_are_onnxs() {
        assert_eq!(arch::dtype::FLOAT, DataType::FLOAT as i64);
        assert_eq!(arch::dtype::INT64, DataType::INT64 as i64);
        assert_eq!(arch::dtype::UINT64, DataType::UINT64 as i64);
    }
}
