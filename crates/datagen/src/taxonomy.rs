//! Label vocabularies, in the order of `datasets/taxonomy.toml` (a test checks
//! that they agree).

/// Threat families; the discriminant is the family index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Benign = 0,
    Pi = 1,
    Jb = 2,
    Cmd = 3,
    Pii = 4,
    Enc = 5,
    Rag = 6,
    Hc = 7,
}

/// Family names in taxonomy order.
pub const FAMILIES: [&str; 8] = ["benign", "PI", "JB", "CMD", "PII", "ENC", "RAG", "HC"];

/// Context names in taxonomy order.
pub const CONTEXTS: [&str; 6] = [
    "conversational",
    "technical",
    "educational",
    "business",
    "creative",
    "attack",
];

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Benign,
        Family::Pi,
        Family::Jb,
        Family::Cmd,
        Family::Pii,
        Family::Enc,
        Family::Rag,
        Family::Hc,
    ];

    pub fn idx(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        FAMILIES[self as usize]
    }

    /// 0 for benign, 1 for every attack family.
    pub fn label(self) -> u8 {
        u8::from(self != Family::Benign)
    }
}

/// The setting a prompt is written in; the discriminant is the context index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Conversational = 0,
    Technical = 1,
    Educational = 2,
    Business = 3,
    Creative = 4,
    Attack = 5,
}

impl Context {
    pub fn idx(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        CONTEXTS[self as usize]
    }
}

/// The built-in taxonomy (`datasets/taxonomy.toml`, read by cairn-data), parsed once.
pub fn taxonomy() -> &'static cairn_data::Taxonomy {
    static TAXONOMY: std::sync::LazyLock<cairn_data::Taxonomy> =
        std::sync::LazyLock::new(cairn_data::Taxonomy::builtin);
    &TAXONOMY
}
