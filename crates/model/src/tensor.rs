//! The plain tensor that weights, pretrained checkpoints and the network exchange (a leaf).

/// One named tensor (`name` is the full parameter name, e.g. `bag.trunk.weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}
