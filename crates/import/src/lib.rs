//! Importers that turn a user's own data into cairn's example schema.
//!
//! Four formats:
//!
//! - **JSONL** (`.jsonl`, `.ndjson`): one JSON object per line, with the user's own field
//!   names, tied to the schema by a [`Mapping`].
//! - **CSV** (`.csv`) and **Parquet** (`.parquet`), read with polars, with the same
//!   [`Mapping`]. CSV cells are read as text and parsed per field; Parquet cells keep their
//!   types (booleans, integers, floats, strings).
//! - **Rule packs** (`.yaml`, `.yml`): detection rules with their positive and negative
//!   examples; see [`rules`].
//!
//! # Mapping rules (JSONL, CSV, Parquet)
//!
//! - `text` must be mapped to a column. Empty or whitespace-only text is a row problem.
//! - `label` is mapped or set. Accepted values: booleans, the integers 0 and 1, and the
//!   strings in [`ATTACK_LABELS`] (→ 1) and [`BENIGN_LABELS`] (→ 0), case-insensitive.
//!   Anything else is a row problem. With no `label` binding but a mapped `family` column,
//!   the label is derived from the family (`benign` → 0, anything else → 1).
//! - `family`: a mapped column must name a taxonomy family (an exact match, else the one
//!   that matches ignoring ASCII case) that agrees with the label. Unmapped: label-0 rows get
//!   `benign`, label-1 rows get `--set family=NAME` or are a row problem. A set family only
//!   applies to attack rows; benign rows are always `benign`.
//! - `context`: a taxonomy context; default `conversational` for label 0, `attack` for 1.
//! - `severity_score`: a number in [0, 1] or a word of [`SEVERITY_WORDS`]; default 0 for
//!   label 0 and [`DEFAULT_ATTACK_SEVERITY`] for label 1.
//! - `weight_multiplier` (> 0) defaults to 1, `confidence` (in [0, 1]) to 1, `source` to
//!   `import:<file stem>`. `sub_category`, `rule_id` and `notes` are optional.
//! - `family_idx` and `context_idx` are always derived from the taxonomy.
//!
//! Rows that cannot be converted are returned as [`RowProblem`]s next to the examples that
//! could; the caller decides whether to write anything.

mod convert;
mod error;
mod jsonl;
mod mapping;
pub mod rules;
mod table;

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use cairn_data::{Example, Taxonomy};

pub use convert::{
    ATTACK_LABELS, BENIGN_LABELS, DEFAULT_ATTACK_CONTEXT, DEFAULT_ATTACK_SEVERITY,
    DEFAULT_BENIGN_CONTEXT, SEVERITY_WORDS,
};
pub use error::ImportError;
pub use mapping::{Binding, Field, Mapping};

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
    Rules,
}

impl Format {
    /// The format a file's extension names (case-insensitive): `.jsonl`/`.ndjson`, `.csv`,
    /// `.parquet`, `.yaml`/`.yml` (rule packs).
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            "yaml" | "yml" => Some(Format::Rules),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Rules => "rules",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ImportError;

    /// `jsonl` (or `ndjson`), `csv`, `parquet`, `rules` (or `yaml`, `yml`); case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            "rules" | "yaml" | "yml" => Ok(Format::Rules),
            _ => Err(ImportError::FormatName(s.to_string())),
        }
    }
}

/// How to import one file.
#[derive(Debug, Clone)]
pub struct ImportOptions<'a> {
    pub format: Format,
    /// Columns and constants for JSONL/CSV/Parquet. Rule packs accept only
    /// `--set source|weight_multiplier|confidence`.
    pub mapping: Mapping,
    /// Names families and contexts and gives their indices.
    pub taxonomy: &'a Taxonomy,
}

/// One row that could not be converted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// 1-based: the data row for CSV and Parquet (the header is not counted), the line
    /// number for JSONL.
    pub row: usize,
    /// The schema field at fault; `None` when the whole row is unreadable.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "row {}: {field}: {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

/// What an import produced: the examples of the rows that converted, and the problems of
/// those that did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOutcome {
    pub examples: Vec<Example>,
    pub problems: Vec<RowProblem>,
}

/// The stem of `path`, for default `source` names.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "input".to_string(), |s| s.to_string_lossy().into_owned())
}

/// Imports one file. File-level failures (unreadable file, bad mapping, missing column,
/// parse errors, invalid rule packs) are errors; row-level ones are in the outcome.
pub fn import_file(path: &Path, options: &ImportOptions) -> Result<ImportOutcome, ImportError> {
    match options.format {
        Format::Jsonl => jsonl::import(path, &options.mapping, options.taxonomy),
        Format::Csv => table::import(path, table::Kind::Csv, &options.mapping, options.taxonomy),
        Format::Parquet => table::import(
            path,
            table::Kind::Parquet,
            &options.mapping,
            options.taxonomy,
        ),
        Format::Rules => rules::import(path, &options.mapping, options.taxonomy),
    }
}

/// `examples` as JSONL bytes: one compact JSON object per line, fields in schema order
/// (what [`write_jsonl`] writes).
pub fn to_jsonl(examples: &[Example]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for example in examples {
        // An `Example` is plain data: serializing it into memory cannot fail.
        if serde_json::to_writer(&mut bytes, example).is_ok() {
            bytes.push(b'\n');
        }
    }
    bytes
}

/// Writes `examples` as JSONL: one compact JSON object per line, fields in schema order.
/// The file is written next to `path` under a temporary name and renamed into place, so a
/// reader never sees half a file.
pub fn write_jsonl(examples: &[Example], path: &Path) -> Result<(), ImportError> {
    cairn_store::write_atomic(path, |out| {
        for example in examples {
            serde_json::to_writer(&mut *out, example)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(|source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_paths_and_names() {
        assert_eq!(
            Format::from_path(Path::new("a/b.JSONL")),
            Some(Format::Jsonl)
        );
        assert_eq!(
            Format::from_path(Path::new("b.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("b.csv")), Some(Format::Csv));
        assert_eq!(
            Format::from_path(Path::new("b.parquet")),
            Some(Format::Parquet)
        );
        assert_eq!(
            Format::from_path(Path::new("rules.yml")),
            Some(Format::Rules)
        );
        assert_eq!(
            Format::from_path(Path::new("rules.yaml")),
            Some(Format::Rules)
        );
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("noext")), None);
        assert_eq!("Parquet".parse::<Format>().ok(), Some(Format::Parquet));
        assert_eq!("yaml".parse::<Format>().ok(), Some(Format::Rules));
        assert!("xlsx".parse::<Format>().is_err());
        for f in [Format::Jsonl, Format::Csv, Format::Parquet, Format::Rules] {
            assert_eq!(f.to_string().parse::<Format>().ok(), Some(f));
        }
    }
}
