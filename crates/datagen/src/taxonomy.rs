//! The label vocabularies: `datasets/taxonomy.toml`, read by cairn-data. Every
//! family and context name and index the generator writes comes from here.

use std::sync::LazyLock;

use cairn_data::Taxonomy;

/// The built-in taxonomy (`datasets/taxonomy.toml`), parsed once.
pub fn taxonomy() -> &'static Taxonomy {
    static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(Taxonomy::builtin);
    &TAXONOMY
}
