//! A small builder over the ONNX protobuf messages: nodes with generated output names,
//! initializers from Rust slices, and the typed graph inputs/outputs.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::type_proto::{self, Tensor as TensorType};
use onnx_protobuf::{
    AttributeProto, GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// An attribute of a node.
pub(crate) enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Str(&'static str, &'static str),
}

impl Attr {
    fn proto(self) -> AttributeProto {
        let mut a = AttributeProto::new();
        match self {
            Attr::Int(name, v) => {
                a.name = name.into();
                a.type_ = AttributeType::INT.into();
                a.i = v;
            }
            Attr::Ints(name, v) => {
                a.name = name.into();
                a.type_ = AttributeType::INTS.into();
                a.ints = v;
            }
            Attr::Float(name, v) => {
                a.name = name.into();
                a.type_ = AttributeType::FLOAT.into();
                a.f = v;
            }
            Attr::Str(name, v) => {
                a.name = name.into();
                a.type_ = AttributeType::STRING.into();
                a.s = v.as_bytes().to_vec();
            }
        }
        a
    }
}

/// One dimension of a graph input or output.
pub(crate) enum Dim {
    Fixed(i64),
    Named(&'static str),
}

/// Nodes and initializers of one graph, in insertion order (the export is deterministic).
#[derive(Default)]
pub(crate) struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    constants: usize,
    used: std::collections::HashMap<String, usize>,
}

impl Builder {
    /// Adds a node with one output and returns the output's name: `name`, or `name_<k>` when
    /// `name` is already taken.
    pub(crate) fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        name: &str,
        attrs: Vec<Attr>,
    ) -> String {
        let name = name.to_string();
        let seen = self.used.entry(name.clone()).or_insert(0);
        *seen += 1;
        let name = if *seen == 1 {
            name
        } else {
            format!("{name}_{}", *seen - 1)
        };
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = name.clone();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![name.clone()];
        n.attribute = attrs.into_iter().map(Attr::proto).collect();
        self.nodes.push(n);
        name
    }

    /// Renames the output of the last node added (graph outputs get their fixed names).
    pub(crate) fn rename_last_output(&mut self, name: &str) {
        if let Some(n) = self.nodes.last_mut() {
            n.output = vec![name.to_string()];
        }
    }

    fn initializer(&mut self, name: String, dims: &[usize], data_type: DataType, raw: Vec<u8>) {
        let mut t = TensorProto::new();
        t.name = name;
        t.dims = dims.iter().map(|&d| d as i64).collect();
        t.data_type = data_type as i32;
        t.raw_data = raw;
        self.initializers.push(t);
    }

    /// An `f32` initializer named `name`.
    pub(crate) fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name.to_string(), dims, DataType::FLOAT, raw);
        name.to_string()
    }

    fn next_constant(&mut self) -> String {
        self.constants += 1;
        format!("const_{}", self.constants)
    }

    /// An `int64` constant (1-D, or a scalar when `scalar`).
    pub(crate) fn i64s(&mut self, values: &[i64], scalar: bool) -> String {
        let name = self.next_constant();
        let dims: &[usize] = if scalar { &[] } else { &[values.len()] };
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name.clone(), dims, DataType::INT64, raw);
        name
    }

    /// A scalar `uint64` constant.
    pub(crate) fn u64_scalar(&mut self, value: u64) -> String {
        let name = self.next_constant();
        self.initializer(
            name.clone(),
            &[],
            DataType::UINT64,
            value.to_le_bytes().to_vec(),
        );
        name
    }

    /// An `f32` constant (a scalar when `dims` is empty).
    pub(crate) fn f32s(&mut self, dims: &[usize], values: &[f32]) -> String {
        let name = self.next_constant();
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name.clone(), dims, DataType::FLOAT, raw);
        name
    }

    /// An `int64` lookup table named `name`.
    pub(crate) fn table(&mut self, name: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name.to_string(), &[values.len()], DataType::INT64, raw);
        name.to_string()
    }

    pub(crate) fn finish(
        self,
        name: &str,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        let mut g = GraphProto::new();
        g.name = name.into();
        g.node = self.nodes;
        g.initializer = self.initializers;
        g.input = inputs;
        g.output = outputs;
        g
    }
}

/// A typed graph input or output.
pub(crate) fn value_info(name: &str, elem: DataType, dims: &[Dim]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    shape.dim = dims
        .iter()
        .map(|d| {
            let mut dim = Dimension::new();
            dim.value = Some(match d {
                Dim::Fixed(v) => dimension::Value::DimValue(*v),
                Dim::Named(n) => dimension::Value::DimParam((*n).to_string()),
            });
            dim
        })
        .collect();
    let mut tensor = TensorType::new();
    tensor.elem_type = elem as i32;
    tensor.shape = protobuf::MessageField::some(shape);
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(tensor));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = protobuf::MessageField::some(ty);
    v
}
