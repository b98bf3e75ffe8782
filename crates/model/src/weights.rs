//! Canonical weight bytes, safetensors export, tensor listing.
//!
//! Format (all integers little-endian):
//! ```text
//! b"CAIRNW01"
//! u32 header_len, header_len bytes of JSON {architecture, vocab_size, max_length, families, contexts}
//! u32 tensor_count
//! per tensor, in module traversal order:
//!   u32 name_len, name (UTF-8), u32 rank, rank × u64 dims, product(dims) × f32
//! ```
//! Nothing in it depends on process state (no ParamIds, no hash-map order).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::net::{Net, param_path};
pub use crate::tensor::NamedTensor;
use crate::{Architecture, ModelConfig, ModelError, Weights};

const MAGIC: &[u8; 8] = b"CAIRNW01";

/// Shape-determining part of a [`ModelConfig`], stored in the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub max_length: usize,
    pub families: usize,
    pub contexts: usize,
}

impl Header {
    fn of(model: &ModelConfig) -> Self {
        Header {
            architecture: model.architecture.clone(),
            vocab_size: model.vocab_size,
            max_length: model.max_length,
            families: model.families,
            contexts: model.contexts,
        }
    }
}

/// Decoded [`Weights`].
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub header: Header,
    pub tensors: Vec<NamedTensor>,
}

/// Err(Incompatible) naming every field that differs between the weights and `model`.
pub fn check_compatible(model: &ModelConfig, stored: &Header) -> Result<(), ModelError> {
    let wanted = Header::of(model);
    let mut diffs = Vec::new();
    if stored.architecture != wanted.architecture {
        diffs.push(format!(
            "architecture: weights {}, config {}",
            stored.architecture.describe(),
            wanted.architecture.describe()
        ));
    }
    for (name, s, w) in [
        ("vocab_size", stored.vocab_size, wanted.vocab_size),
        ("max_length", stored.max_length, wanted.max_length),
        ("families", stored.families, wanted.families),
        ("contexts", stored.contexts, wanted.contexts),
    ] {
        if s != w {
            diffs.push(format!("{name}: weights {s}, config {w}"));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(ModelError::Incompatible {
            reason: diffs.join("; "),
        })
    }
}

struct Collector {
    path: Vec<String>,
    architecture: &'static str,
    tensors: Vec<NamedTensor>,
    error: Option<ModelError>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.error.is_some() {
            return;
        }
        let data = param.val().into_data();
        let shape = data.shape().to_vec();
        match data.try_into_vec_as::<f32>() {
            Ok(values) => self.tensors.push(NamedTensor {
                name: param_path(self.architecture, &self.path),
                shape,
                values,
            }),
            Err(e) => self.error = Some(ModelError::Backend(format!("reading weights: {e:?}"))),
        }
    }
}

/// Every float parameter of `net`, in traversal order.
pub fn collect<A: Arch>(arch: &A, net: &Net<A::Encoder>) -> Result<Vec<NamedTensor>, ModelError> {
    let mut c = Collector {
        path: Vec::new(),
        architecture: arch.name(),
        tensors: Vec::new(),
        error: None,
    };
    net.visit(&mut c);
    match c.error {
        Some(e) => Err(e),
        None => Ok(c.tensors),
    }
}

fn put_u32(out: &mut Vec<u8>, v: usize) -> Result<(), ModelError> {
    let v = u32::try_from(v)
        .map_err(|_| ModelError::Backend(format!("{v} does not fit the weights format")))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

pub fn encode(header: &Header, tensors: &[NamedTensor]) -> Result<Weights, ModelError> {
    let json = serde_json::to_vec(header)
        .map_err(|e| ModelError::Backend(format!("encoding weights header: {e}")))?;
    let total: usize = tensors.iter().map(|t| t.values.len() * 4 + 64).sum();
    let mut out = Vec::with_capacity(16 + json.len() + total);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, json.len())?;
    out.extend_from_slice(&json);
    put_u32(&mut out, tensors.len())?;
    for t in tensors {
        put_u32(&mut out, t.name.len())?;
        out.extend_from_slice(t.name.as_bytes());
        put_u32(&mut out, t.shape.len())?;
        for d in &t.shape {
            out.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        for v in &t.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(Weights(out))
}

pub fn serialize<A: Arch>(
    arch: &A,
    model: &ModelConfig,
    net: &Net<A::Encoder>,
) -> Result<Weights, ModelError> {
    encode(&Header::of(model), &collect(arch, net)?)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                ModelError::CorruptWeights(format!(
                    "truncated: need {n} bytes at offset {}, have {}",
                    self.pos,
                    self.bytes.len()
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<usize, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u64(&mut self) -> Result<usize, ModelError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        usize::try_from(u64::from_le_bytes(a))
            .map_err(|_| ModelError::CorruptWeights("dimension too large".into()))
    }
}

/// The largest absolute difference between two sets of weights of one model, parameter by
/// parameter; infinite when their parameters differ in name or shape, or a value is NaN.
pub fn deviation(a: &Weights, b: &Weights) -> Result<f64, ModelError> {
    let (a, b) = (parse(a)?, parse(b)?);
    if a.tensors.len() != b.tensors.len() {
        return Ok(f64::INFINITY);
    }
    let mut max = 0.0f64;
    for (x, y) in a.tensors.iter().zip(&b.tensors) {
        if x.name != y.name || x.shape != y.shape || x.values.len() != y.values.len() {
            return Ok(f64::INFINITY);
        }
        for (p, q) in x.values.iter().zip(&y.values) {
            let d = f64::from((p - q).abs());
            max = if d.is_nan() {
                f64::INFINITY
            } else {
                max.max(d)
            };
        }
    }
    Ok(max)
}

/// Decode weight bytes.
pub fn parse(weights: &Weights) -> Result<Parsed, ModelError> {
    let mut r = Reader {
        bytes: &weights.0,
        pos: 0,
    };
    if r.take(8).ok() != Some(MAGIC.as_slice()) {
        return Err(ModelError::CorruptWeights(
            "not cairn model weights (bad magic)".into(),
        ));
    }
    let n = r.u32()?;
    let header: Header = serde_json::from_slice(r.take(n)?)
        .map_err(|e| ModelError::CorruptWeights(format!("header: {e}")))?;
    let count = r.u32()?;
    let mut tensors = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let n = r.u32()?;
        let name = std::str::from_utf8(r.take(n)?)
            .map_err(|_| ModelError::CorruptWeights("tensor name is not UTF-8".into()))?
            .to_string();
        let rank = r.u32()?;
        if rank > 8 {
            return Err(ModelError::CorruptWeights(format!("{name}: rank {rank}")));
        }
        let shape = (0..rank).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
        let len = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| ModelError::CorruptWeights(format!("{name}: shape overflow")))?;
        let raw = r.take(len)?;
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push(NamedTensor {
            name,
            shape,
            values,
        });
    }
    if r.pos != weights.0.len() {
        return Err(ModelError::CorruptWeights(format!(
            "{} trailing bytes",
            weights.0.len() - r.pos
        )));
    }
    Ok(Parsed { header, tensors })
}

/// Parse and check `weights` against `model`, including that the tensor list is exactly the
/// one the model has (by building it on the CPU).
fn checked(model: &ModelConfig, weights: &Weights) -> Result<Parsed, ModelError> {
    model.validate()?;
    let parsed = parse(weights)?;
    check_compatible(model, &parsed.header)?;
    // Building the model verifies every name and shape.
    model.architecture.def().run_check(model, &parsed.tensors)?;
    Ok(parsed)
}

/// Every parameter as (name, shape, row-major f32 values), in a fixed order (module traversal
/// order). Linear weights are `[d_in, d_out]` (`y = x · W + b`).
pub fn tensors(
    model: &ModelConfig,
    weights: &Weights,
) -> Result<Vec<crate::NamedParameter>, ModelError> {
    Ok(checked(model, weights)?
        .tensors
        .into_iter()
        .map(|t| (t.name, t.shape, t.values))
        .collect())
}

/// safetensors bytes: f32 tensors named by module path, plus one metadata entry
/// `cairn_model_config` holding the model configuration as JSON. Deterministic.
pub fn safetensors(model: &ModelConfig, weights: &Weights) -> Result<Vec<u8>, ModelError> {
    let parsed = checked(model, weights)?;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = parsed
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, data) in &bytes {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map_err(|e| ModelError::Backend(format!("safetensors view {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let config = serde_json::to_string(model)
        .map_err(|e| ModelError::Backend(format!("encoding model config: {e}")))?;
    // A single metadata entry keeps the (hash-map) metadata serialization deterministic.
    let metadata = std::collections::HashMap::from([("cairn_model_config".to_string(), config)]);
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| ModelError::Backend(format!("safetensors: {e}")))
}
