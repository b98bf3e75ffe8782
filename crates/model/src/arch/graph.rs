//! An abstract ONNX graph builder: architectures write their encoder's nodes through it, and
//! `cairn-onnx` implements it over its protobuf builder (so this crate does not depend on
//! protobuf).

/// An attribute of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Str(&'static str, &'static str),
}

/// ONNX `TensorProto.DataType` values, for `Cast`'s `to` attribute.
pub mod dtype {
    pub const FLOAT: i64 = 1;
    pub const INT64: i64 = 7;
    pub const UINT64: i64 = 13;
}

/// Builds one graph; every method returns the name of the value it adds. Nodes and
/// initializers keep the order they are added in, so a writer that makes the same calls
/// gives the same bytes.
pub trait GraphSink {
    /// A node with one output, named `name` (or `name_<k>` when `name` is already taken).
    fn node(&mut self, op: &str, inputs: &[&str], name: &str, attrs: Vec<Attr>) -> String;
    /// The model parameter `name` (full name, e.g. `bag.embedding`) as an initializer.
    fn weight(&mut self, name: &str) -> Result<String, String>;
    /// An `int64` constant (1-D, or a scalar when `scalar`).
    fn i64s(&mut self, values: &[i64], scalar: bool) -> String;
    /// A scalar `uint64` constant.
    fn u64_scalar(&mut self, value: u64) -> String;
    /// An `f32` constant (a scalar when `dims` is empty).
    fn f32s(&mut self, dims: &[usize], values: &[f32]) -> String;
    /// An `int64` lookup table initializer named `name`.
    fn table(&mut self, name: &str, values: &[i64]) -> String;
}

/// burn's LayerNorm default epsilon.
const LAYER_NORM_EPSILON: f32 = 1e-5;

/// `x · W + b` for the burn `Linear` at `prefix` (weights are `[d_in, d_out]`).
pub fn linear(g: &mut dyn GraphSink, x: &str, prefix: &str) -> Result<String, String> {
    let w = g.weight(&format!("{prefix}.weight"))?;
    let bias = g.weight(&format!("{prefix}.bias"))?;
    let y = g.node("MatMul", &[x, &w], &format!("{prefix}.matmul"), vec![]);
    Ok(g.node("Add", &[&y, &bias], prefix, vec![]))
}

/// burn's `LayerNorm` at `prefix` over the last axis.
pub fn layer_norm(g: &mut dyn GraphSink, x: &str, prefix: &str) -> Result<String, String> {
    let gamma = g.weight(&format!("{prefix}.gamma"))?;
    let beta = g.weight(&format!("{prefix}.beta"))?;
    Ok(g.node(
        "LayerNormalization",
        &[x, &gamma, &beta],
        prefix,
        vec![
            Attr::Int("axis", -1),
            Attr::Float("epsilon", LAYER_NORM_EPSILON),
        ],
    ))
}
