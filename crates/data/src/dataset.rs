//! Merged datasets: weighted rows, stats, and their form in the store.

use std::collections::BTreeMap;
use std::fmt;

use cairn_store::{Manifest, ObjectId, Store, canonical};
use serde::{Deserialize, Serialize};

use crate::example::{Example, normalize};

/// A training row: the example plus its final training weight and the input it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRow {
    #[serde(flatten)]
    pub example: Example,
    /// `weight_multiplier` × the experiment's boost for new data (1 for base rows).
    pub weight: f64,
    /// The name of the input file the row came from.
    pub origin: String,
}

impl DatasetRow {
    pub fn key(&self) -> String {
        normalize(&self.example.text)
    }
}

/// Rows and summed weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub rows: u64,
    pub weight: f64,
}

impl Tally {
    fn add(&mut self, weight: f64) {
        self.rows += 1;
        self.weight += weight;
    }
}

/// Counts per family, label, source and context, with weight totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub rows: u64,
    pub weight: f64,
    pub families: BTreeMap<String, Tally>,
    pub labels: BTreeMap<String, Tally>,
    pub sources: BTreeMap<String, Tally>,
    pub contexts: BTreeMap<String, Tally>,
}

impl DatasetStats {
    /// Stats of rows, summed in the given order (so the floats are deterministic).
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a DatasetRow>) -> Self {
        let mut s = Self::default();
        for row in rows {
            let e = &row.example;
            s.rows += 1;
            s.weight += row.weight;
            s.families
                .entry(e.family.clone())
                .or_default()
                .add(row.weight);
            s.labels
                .entry(e.label.to_string())
                .or_default()
                .add(row.weight);
            s.sources
                .entry(e.source.clone())
                .or_default()
                .add(row.weight);
            s.contexts
                .entry(e.context.clone())
                .or_default()
                .add(row.weight);
        }
        s
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows {}   total weight {:.2}", self.rows, self.weight)?;
        let attacks = self.labels.get("1").map(|t| t.rows).unwrap_or(0);
        let benign = self.labels.get("0").map(|t| t.rows).unwrap_or(0);
        writeln!(
            f,
            "labels: {} attack ({:.1}%), {} benign ({:.1}%)",
            attacks,
            pct(attacks, self.rows),
            benign,
            pct(benign, self.rows)
        )?;
        for (title, table) in [
            ("family", &self.families),
            ("source", &self.sources),
            ("context", &self.contexts),
        ] {
            writeln!(f)?;
            let width = table
                .keys()
                .map(|k| k.chars().count())
                .max()
                .unwrap_or(0)
                .max(title.len());
            writeln!(
                f,
                "{title:<width$}  {:>8}  {:>6}  {:>12}",
                "rows", "%", "weight"
            )?;
            for (name, t) in table {
                writeln!(
                    f,
                    "{name:<width$}  {:>8}  {:>5.1}%  {:>12.2}",
                    t.rows,
                    pct(t.rows, self.rows),
                    t.weight
                )?;
            }
        }
        Ok(())
    }
}

/// How an input took part in a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// `base` or `addition`.
    pub role: String,
    /// The file name the user gave.
    pub name: String,
    pub object: ObjectId,
    /// Valid rows in the file.
    pub rows: u64,
}

/// The parameters of a merge, recorded so that it can be repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeParams {
    /// Multiplies each addition row's `weight_multiplier`.
    pub new_data_boost: f64,
    /// Sample this many base rows, stratified by family (all when absent).
    pub base_sample: Option<u64>,
    /// Seeds sampling and the split.
    pub seed: u64,
    /// Fraction of rows held out for validation, stratified by family (none when absent).
    pub validation_fraction: Option<f64>,
    pub max_text_chars: u64,
}

impl Default for MergeParams {
    fn default() -> Self {
        Self {
            new_data_boost: 1.0,
            base_sample: None,
            seed: 0,
            validation_fraction: None,
            max_text_chars: 8192,
        }
    }
}

/// What happened to rows during a merge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeCounts {
    pub base_rows: u64,
    /// Base rows left out by `base_sample`.
    pub base_sampled_out: u64,
    pub addition_rows: u64,
    /// Base rows replaced by an addition with the same normalized text (the addition wins).
    pub base_replaced_by_additions: u64,
    /// Addition rows replaced by a later addition with the same normalized text.
    pub additions_replaced: u64,
}

/// A dataset in the store: row objects (canonical JSONL) plus everything needed to say where
/// each row came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// Training rows, canonical JSONL sorted by normalized text.
    pub train: ObjectId,
    pub train_rows: u64,
    /// Held-out rows, when a split was asked for.
    pub validation: Option<ObjectId>,
    pub validation_rows: u64,
    /// Stats of train + validation.
    pub stats: DatasetStats,
    pub counts: MergeCounts,
    pub inputs: Vec<InputRecord>,
    pub params: MergeParams,
    /// The taxonomy the rows were validated against (TOML).
    pub taxonomy: ObjectId,
}

impl Manifest for DatasetManifest {
    const KIND: &'static str = "dataset";
}

/// What `cairn data merge --json` prints about a stored dataset.
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary<'a> {
    pub dataset: String,
    pub train: String,
    pub validation: Option<String>,
    pub train_rows: u64,
    pub validation_rows: u64,
    pub counts: &'a MergeCounts,
    pub stats: &'a DatasetStats,
}

impl DatasetManifest {
    /// The summary of this manifest, stored as `id`.
    pub fn summary(&self, id: &ObjectId) -> MergeSummary<'_> {
        MergeSummary {
            dataset: id.to_hex(),
            train: self.train.to_hex(),
            validation: self.validation.map(|v| v.to_hex()),
            train_rows: self.train_rows,
            validation_rows: self.validation_rows,
            counts: &self.counts,
            stats: &self.stats,
        }
    }
}

/// The canonical JSONL bytes of rows.
pub fn rows_to_jsonl(rows: &[DatasetRow]) -> Result<Vec<u8>, cairn_store::StoreError> {
    let mut out = Vec::with_capacity(rows.len() * 320);
    for row in rows {
        out.extend(canonical::to_vec(row)?);
        out.push(b'\n');
    }
    Ok(out)
}

/// Reads a rows object written by [`rows_to_jsonl`] (hash-verified).
pub fn load_rows(store: &Store, id: &ObjectId) -> Result<Vec<DatasetRow>, crate::DataError> {
    let bytes = store.read(id)?;
    let mut rows = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let row = serde_json::from_slice(line).map_err(|e| {
            crate::DataError::Param(format!(
                "object {id} line {}: not a dataset row: {e}",
                i + 1
            ))
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// Train and validation rows of a stored dataset.
pub fn load_dataset(
    store: &Store,
    id: &ObjectId,
) -> Result<(DatasetManifest, Vec<DatasetRow>, Vec<DatasetRow>), crate::DataError> {
    let manifest: DatasetManifest = store.get_manifest(id)?;
    let train = load_rows(store, &manifest.train)?;
    let validation = match &manifest.validation {
        Some(v) => load_rows(store, v)?,
        None => Vec::new(),
    };
    Ok((manifest, train, validation))
}
