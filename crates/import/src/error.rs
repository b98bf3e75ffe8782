//! File-level import errors: the ones that stop an import. Problems with single rows are
//! not errors; they are collected as [`crate::RowProblem`]s.

use std::path::PathBuf;

/// Why an import (or writing its output) failed as a whole. Every variant that concerns a
/// file names it, and most carry a hint on how to fix the call.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input file could not be opened or read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The output file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The format could not be told from the file's extension.
    #[error(
        "cannot tell the format of `{path}` from its extension (known: .jsonl, .ndjson, .csv, .parquet, .yaml, .yml); name it explicitly with --format jsonl|csv|parquet|rules"
    )]
    UnknownFormat { path: PathBuf },
    /// A format name that is not one of ours.
    #[error("unknown format `{0}` (expected one of: jsonl, csv, parquet, rules)")]
    FormatName(String),
    /// A `--map`/`--set` argument is malformed or contradicts another.
    #[error("bad mapping `{arg}`: {reason}")]
    MappingArg { arg: String, reason: String },
    /// The mapping does not fit this import (a required field unmapped, a constant that is
    /// not a valid value, a mapping the format cannot use).
    #[error("`{path}`: {reason}")]
    Mapping { path: PathBuf, reason: String },
    /// A mapped column (or JSON field) does not exist in the file.
    #[error(
        "`{path}`: no column `{column}` (mapped to `{field}` by --map {field}={column}); the file has: {}",
        if available.is_empty() { "no columns at all".to_string() } else { available.join(", ") }
    )]
    MissingColumn {
        path: PathBuf,
        field: String,
        column: String,
        available: Vec<String>,
    },
    /// A CSV or Parquet file that polars could not parse.
    #[error("`{path}`: not a readable {format} file: {message}")]
    Parse {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    /// A rule pack that is not valid YAML or does not have the rule-pack shape.
    #[error(
        "{}:{line}:{column}: {message} (a rule pack is `rules:`, a list of {{id, family, severity, context?, description?, examples: {{should_match, should_not_match}}}})",
        path.display()
    )]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A rule in a rule pack parses but is not usable.
    #[error("`{path}`: rule `{rule_id}`: {reason}")]
    Rule {
        path: PathBuf,
        rule_id: String,
        reason: String,
    },
}
