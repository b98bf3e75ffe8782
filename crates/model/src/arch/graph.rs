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

/// burn's `LayerNorm` at `prefix` over the last axis (burn's default epsilon).
pub fn layer_norm(g: &mut dyn GraphSink, x: &str, prefix: &str) -> Result<String, String> {
    layer_norm_eps(g, x, prefix, LAYER_NORM_EPSILON)
}

/// [`layer_norm`] with the given epsilon.
pub fn layer_norm_eps(
    g: &mut dyn GraphSink,
    x: &str,
    prefix: &str,
    epsilon: f32,
) -> Result<String, String> {
    let gamma = g.weight(&format!("{prefix}.gamma"))?;
    let beta = g.weight(&format!("{prefix}.beta"))?;
    Ok(g.node(
        "LayerNormalization",
        &[x, &gamma, &beta],
        prefix,
        vec![Attr::Int("axis", -1), Attr::Float("epsilon", epsilon)],
    ))
}

/// Masked mean pooling of `x` `[batch, seq, d]` with the float weights `keep` `[batch, seq]`
/// (1 on the positions pooled): `[batch, d]`. `axis1`/`axis2` are the `[1]`/`[2]` axis
/// constants; nodes are named `<prefix>.kept`, `<prefix>.pool_weights`, … `<prefix>.pooled`.
pub fn mean_pool(
    g: &mut dyn GraphSink,
    x: &str,
    keep: &str,
    (axis1, axis2): (&str, &str),
    prefix: &str,
) -> String {
    let kept = g.node(
        "ReduceSum",
        &[keep, axis1],
        &format!("{prefix}.kept"),
        vec![Attr::Int("keepdims", 1)],
    );
    let w = g.node(
        "Div",
        &[keep, &kept],
        &format!("{prefix}.pool_weights"),
        vec![],
    );
    let w = g.node(
        "Unsqueeze",
        &[&w, axis2],
        &format!("{prefix}.pool_weights_3d"),
        vec![],
    );
    let xw = g.node("Mul", &[x, &w], &format!("{prefix}.weighted"), vec![]);
    g.node(
        "ReduceSum",
        &[&xw, axis1],
        &format!("{prefix}.pooled"),
        vec![Attr::Int("keepdims", 0)],
    )
}

/// The constants of multi-head self-attention and the exact GELU, added once per graph (in
/// this order: their names and order are part of the export's bytes).
pub struct AttentionGraph {
    split: String,
    merge: String,
    scale: String,
    fill: String,
    sqrt2: String,
    half: String,
    one: String,
}

impl AttentionGraph {
    /// For `heads` heads over a model width `d_model`; masked scores are set to `fill`.
    pub fn new(g: &mut dyn GraphSink, heads: usize, d_model: usize, fill: f32) -> Self {
        let d_k = d_model / heads;
        Self {
            split: g.i64s(&[0, 0, heads as i64, d_k as i64], false),
            merge: g.i64s(&[0, 0, d_model as i64], false),
            scale: g.f32s(&[], &[(d_k as f32).sqrt()]),
            fill: g.f32s(&[], &[fill]),
            sqrt2: g.f32s(&[], &[std::f32::consts::SQRT_2]),
            half: g.f32s(&[], &[0.5]),
            one: g.f32s(&[], &[1.0]),
        }
    }

    /// Self-attention of `x` `[batch, seq, d_model]` with the Linears `<base>.query`,
    /// `<base>.key`, `<base>.value`; `masked` (bool `[batch, 1, 1, seq]`) marks the
    /// positions no query attends to. Returns the heads' merged context (before the output
    /// projection); nodes are named `<base>.scores`, `<base>.context`, ….
    pub fn attend(
        &self,
        g: &mut dyn GraphSink,
        x: &str,
        masked: &str,
        base: &str,
    ) -> Result<String, String> {
        let project = |g: &mut dyn GraphSink, which: &str, perm: Vec<i64>| {
            let y = linear(g, x, &format!("{base}.{which}"))?;
            let y = g.node(
                "Reshape",
                &[&y, &self.split],
                &format!("{base}.{which}.heads"),
                vec![],
            );
            Ok::<_, String>(g.node(
                "Transpose",
                &[&y],
                &format!("{base}.{which}.t"),
                vec![Attr::Ints("perm", perm)],
            ))
        };
        let q = project(g, "query", vec![0, 2, 1, 3])?;
        let k = project(g, "key", vec![0, 2, 3, 1])?;
        let v = project(g, "value", vec![0, 2, 1, 3])?;
        let s = g.node("MatMul", &[&q, &k], &format!("{base}.scores"), vec![]);
        let s = g.node("Div", &[&s, &self.scale], &format!("{base}.scaled"), vec![]);
        let s = g.node(
            "Where",
            &[masked, &self.fill, &s],
            &format!("{base}.masked"),
            vec![],
        );
        let w = g.node(
            "Softmax",
            &[&s],
            &format!("{base}.weights"),
            vec![Attr::Int("axis", -1)],
        );
        let c = g.node("MatMul", &[&w, &v], &format!("{base}.context"), vec![]);
        let c = g.node(
            "Transpose",
            &[&c],
            &format!("{base}.context.t"),
            vec![Attr::Ints("perm", vec![0, 2, 1, 3])],
        );
        Ok(g.node(
            "Reshape",
            &[&c, &self.merge],
            &format!("{base}.merged"),
            vec![],
        ))
    }

    /// Exact (erf) GELU of `h`: `0.5 · h · (1 + erf(h / √2))`, nodes named `<prefix>.gelu…`.
    pub fn gelu(&self, g: &mut dyn GraphSink, h: &str, prefix: &str) -> String {
        let e = g.node(
            "Div",
            &[h, &self.sqrt2],
            &format!("{prefix}.gelu.scaled"),
            vec![],
        );
        let e = g.node("Erf", &[&e], &format!("{prefix}.gelu.erf"), vec![]);
        let e = g.node(
            "Add",
            &[&e, &self.one],
            &format!("{prefix}.gelu.plus1"),
            vec![],
        );
        let e = g.node("Mul", &[h, &e], &format!("{prefix}.gelu.mul"), vec![]);
        g.node("Mul", &[&e, &self.half], &format!("{prefix}.gelu"), vec![])
    }
}

/// The embedding lookup both encoders start with: row `id` of the token table `tables.0`
/// for every id (`Gather`), and the first `len` rows of the position table `tables.1`
/// (`Slice` along `axis0`). `names` are the two nodes' names; returns their outputs.
pub fn token_and_position(
    g: &mut dyn GraphSink,
    ids: &str,
    len: &str,
    axis0: &str,
    tables: (&str, &str),
    names: (&str, &str),
) -> Result<(String, String), String> {
    let table = g.weight(tables.0)?;
    let tokens = g.node(
        "Gather",
        &[&table, ids],
        names.0,
        vec![Attr::Int("axis", 0)],
    );
    let table = g.weight(tables.1)?;
    let positions = g.node("Slice", &[&table, axis0, len, axis0], names.1, vec![]);
    Ok((tokens, positions))
}
