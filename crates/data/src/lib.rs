//! cairn's training data: the example schema, validation, the weighted merge, dataset
//! objects, stats and diffs.
//!
//! The key decision is that a merged dataset is stored as **canonical JSONL** — one
//! canonical-JSON row per line, sorted by normalized text — rather than Parquet: the bytes
//! depend only on the rows (not on a writer's version, compression or row-group layout), so
//! the same inputs give the same object hash on every machine and every release; the object
//! can be read with `cairn cat` and diffed with standard tools; and rows stream line by line.
//! Sorting by normalized text makes the dataset independent of input order and makes diffs
//! a merge join. Tabular import of users' CSV / Parquet files lives in `cairn-import`
//! (polars), outside this crate, so the pipeline does not compile polars.
//!
//! Validation never stops at the first problem: it reports every problem on every line
//! (`file:line: field: message`), and nothing is merged or stored when there is any.

mod dataset;
mod diff;
mod error;
mod example;
mod merge;
mod source;
mod taxonomy;
mod validate;

pub use dataset::{
    DatasetManifest, DatasetRow, DatasetStats, InputRecord, MergeCounts, MergeParams, MergeSummary,
    Tally, load_dataset, load_rows, rows_to_jsonl,
};
pub use diff::{DataDiff, FamilyDiff, FieldChange, RowBrief, RowChange, diff};
pub use error::DataError;
pub use example::{Example, OPTIONAL_FIELDS, REQUIRED_FIELDS, normalize};
pub use merge::{MergeInputs, Merged, merge, split, store_merged, store_result, stratified_sample};
pub use source::{DatasetSource, LoadedRows};
pub use taxonomy::{BENIGN, Taxonomy};
pub use validate::{
    FileSummary, Input, ParsedFile, Problem, ValidateOptions, ValidationReport, validate,
    validated_rows,
};
