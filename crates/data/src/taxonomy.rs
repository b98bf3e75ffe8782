//! The family and context vocabularies: data, declared once in a TOML file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, toml_error};

/// The family every label-0 row must have, and only label-0 rows.
pub const BENIGN: &str = "benign";

/// The project's default taxonomy, `datasets/taxonomy.toml`, compiled in.
const BUILTIN: &str = include_str!("../../../datasets/taxonomy.toml");

/// Families and contexts; a name's index is its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    pub families: Vec<String>,
    pub contexts: Vec<String>,
}

impl Taxonomy {
    /// The default vocabulary (`datasets/taxonomy.toml`).
    pub fn builtin() -> Self {
        Self::parse(BUILTIN, "datasets/taxonomy.toml")
            .unwrap_or_else(|e| unreachable!("the built-in taxonomy is valid: {e}"))
    }

    /// Reads and checks a taxonomy file.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks taxonomy TOML; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DataError> {
        let taxonomy: Taxonomy = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        let invalid = |reason: String| DataError::Taxonomy {
            origin: origin.to_string(),
            reason,
        };
        if !taxonomy.families.iter().any(|f| f == BENIGN) {
            return Err(invalid(format!(
                "`families` must contain \"{BENIGN}\" (label-0 rows use it)"
            )));
        }
        for (field, names) in [
            ("families", &taxonomy.families),
            ("contexts", &taxonomy.contexts),
        ] {
            if names.is_empty() {
                return Err(invalid(format!("`{field}` is empty")));
            }
            for (i, name) in names.iter().enumerate() {
                if name.trim().is_empty() {
                    return Err(invalid(format!("`{field}` entry {i} is empty")));
                }
                if names[..i].contains(name) {
                    return Err(invalid(format!("`{field}` lists \"{name}\" twice")));
                }
            }
        }
        Ok(taxonomy)
    }

    pub fn family_index(&self, name: &str) -> Option<usize> {
        self.families.iter().position(|f| f == name)
    }

    pub fn context_index(&self, name: &str) -> Option<usize> {
        self.contexts.iter().position(|c| c == name)
    }

    /// The TOML form, for storing the taxonomy as an object.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| unreachable!("a taxonomy always serializes: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matches_the_documented_vocabulary() {
        let t = Taxonomy::builtin();
        assert_eq!(
            t.families,
            ["CMD", "ENC", "JB", "HC", "PI", "PII", "RAG", "benign"]
        );
        // The seed workflow's indices: a team's existing files validate unchanged.
        assert_eq!(
            ["benign", "JB", "PI"].map(|f| t.family_index(f)),
            [Some(7), Some(2), Some(4)]
        );
        assert_eq!(
            ["conversational", "attack"].map(|c| t.context_index(c)),
            [Some(1), Some(3)]
        );
        assert_eq!(Taxonomy::parse(&t.to_toml(), "round trip").ok(), Some(t));
    }

    #[test]
    fn rejects_bad_taxonomies_with_location() {
        let e = Taxonomy::parse("families = [\"PI\"]\ncontexts = [\"x\"]\n", "t.toml")
            .expect_err("no benign");
        assert!(e.to_string().contains("benign"), "{e}");
        let e = Taxonomy::parse(
            "families = [\"benign\", \"PI\", \"PI\"]\ncontexts = [\"x\"]\n",
            "t.toml",
        )
        .expect_err("dup");
        assert!(e.to_string().contains("twice"), "{e}");
        let e = Taxonomy::parse(
            "families = [\"benign\"]\ncontexts = [\"x\"]\ncolours = 1\n",
            "t.toml",
        )
        .expect_err("unknown");
        assert!(e.to_string().starts_with("t.toml:3:"), "{e}");
    }
}
