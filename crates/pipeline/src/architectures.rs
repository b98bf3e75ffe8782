//! The model crate's architecture registry, as the experiment checker sees it (`spec` does
//! not depend on `model`).

use cairn_model::arch::{ArchitectureDef, registry};
use cairn_spec::ArchitectureSchema;

/// One registered architecture, for [`cairn_spec::LoadedExperiment::load`].
#[derive(Clone, Copy)]
pub struct Schema(&'static dyn ArchitectureDef);

impl ArchitectureSchema for Schema {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn sizes(&self) -> &[(&'static str, u64)] {
        self.0.sizes()
    }
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        self.0.check(size)
    }
}

/// Every architecture this build can train, in registry order.
pub fn schemas() -> Vec<Schema> {
    registry().iter().map(|a| Schema(*a)).collect()
}
