//! Merge: base (optionally sampled) + additions → one weighted, deduplicated dataset.

use std::collections::BTreeMap;

use cairn_store::{ObjectId, Store};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::{
    DatasetManifest, DatasetRow, DatasetStats, InputRecord, MergeCounts, MergeParams, rows_to_jsonl,
};
use crate::error::DataError;
use crate::example::normalize;
use crate::taxonomy::Taxonomy;
use crate::validate::{Input, ParsedFile, ValidateOptions, ValidationReport, validate};

/// The files of a merge.
#[derive(Debug, Clone, Default)]
pub struct MergeInputs {
    pub base: Vec<Input>,
    pub additions: Vec<Input>,
}

/// The result of a merge, before it is stored.
#[derive(Debug, Clone)]
pub struct Merged {
    pub train: Vec<DatasetRow>,
    pub validation: Vec<DatasetRow>,
    pub counts: MergeCounts,
    pub report: ValidationReport,
}

fn check_params(params: &MergeParams) -> Result<(), DataError> {
    if !(params.new_data_boost.is_finite() && params.new_data_boost > 0.0) {
        return Err(DataError::Param(format!(
            "new_data_boost {} must be a number greater than 0",
            params.new_data_boost
        )));
    }
    if let Some(f) = params.validation_fraction
        && !(f > 0.0 && f < 1.0)
    {
        return Err(DataError::Param(format!(
            "validation fraction {f} must be between 0 and 1 (exclusive)"
        )));
    }
    if params.base_sample == Some(0) {
        return Err(DataError::Param(
            "base_sample must be at least 1 (leave it out to use every base row)".into(),
        ));
    }
    Ok(())
}

/// Validates everything, then merges. Nothing is merged when any input has a problem.
pub fn merge(
    inputs: &MergeInputs,
    taxonomy: &Taxonomy,
    params: &MergeParams,
) -> Result<Merged, DataError> {
    check_params(params)?;
    let all: Vec<Input> = inputs
        .base
        .iter()
        .chain(&inputs.additions)
        .cloned()
        .collect();
    let options = ValidateOptions {
        max_text_chars: params.max_text_chars as usize,
        strict: false,
    };
    let (report, parsed) = validate(&all, taxonomy, &options);
    report.ensure_ok()?;
    // An additions file is there to add rows: an empty one is a mistake, not a no-op.
    if let Some(empty) = parsed[inputs.base.len()..].iter().find(|f| f.lines == 0) {
        return Err(DataError::Invalid {
            problems: 1,
            first: format!(
                "{}:1: the additions file is empty (add the new rows, or remove it from [data] additions)",
                empty.name
            ),
        });
    }
    let (base_files, addition_files) = parsed.split_at(inputs.base.len());
    let mut counts = MergeCounts::default();

    let mut base: Vec<DatasetRow> = rows_of(base_files, 1.0);
    counts.base_rows = base.len() as u64;
    if let Some(n) = params.base_sample {
        base = stratified_sample(base, n as usize, params.seed);
        counts.base_sampled_out = counts.base_rows - base.len() as u64;
    }
    // Keyed by normalized text; BTreeMap order is the dataset's row order.
    let mut rows: BTreeMap<String, (DatasetRow, bool)> =
        base.into_iter().map(|r| (r.key(), (r, false))).collect();
    for row in rows_of(addition_files, params.new_data_boost) {
        counts.addition_rows += 1;
        match rows.insert(row.key(), (row, true)) {
            Some((_, true)) => counts.additions_replaced += 1,
            Some((_, false)) => counts.base_replaced_by_additions += 1,
            None => {}
        }
    }
    let rows: Vec<DatasetRow> = rows.into_values().map(|(r, _)| r).collect();
    let (train, validation) = match params.validation_fraction {
        Some(f) => split(rows, f, params.seed),
        None => (rows, Vec::new()),
    };
    Ok(Merged {
        train,
        validation,
        counts,
        report,
    })
}

fn rows_of(files: &[ParsedFile], boost: f64) -> Vec<DatasetRow> {
    files
        .iter()
        .flat_map(|file| {
            file.rows.iter().map(move |(_, example)| DatasetRow {
                weight: example.weight_multiplier * boost,
                example: example.clone(),
                origin: file.name.clone(),
            })
        })
        .collect()
}

/// Rows grouped by family, each group sorted by normalized text (so the result does not
/// depend on input order).
fn by_family(rows: Vec<DatasetRow>) -> BTreeMap<String, Vec<DatasetRow>> {
    let mut groups: BTreeMap<String, Vec<DatasetRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry(row.example.family.clone())
            .or_default()
            .push(row);
    }
    for group in groups.values_mut() {
        group.sort_by_cached_key(|r| (normalize(&r.example.text), r.example.text.clone()));
    }
    groups
}

/// How many of each group to take so that the total is `n` and each group keeps its share
/// (largest-remainder rounding; ties go to the group that sorts first).
fn allocate(sizes: &[usize], n: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if n >= total {
        return sizes.to_vec();
    }
    let exact: Vec<f64> = sizes
        .iter()
        .map(|&s| s as f64 * n as f64 / total as f64)
        .collect();
    let mut take: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut left = n - take.iter().sum::<usize>();
    for i in order {
        if left == 0 {
            break;
        }
        if take[i] < sizes[i] {
            take[i] += 1;
            left -= 1;
        }
    }
    take
}

/// A seeded sample of `n` rows that keeps each family's share.
pub fn stratified_sample(rows: Vec<DatasetRow>, n: usize, seed: u64) -> Vec<DatasetRow> {
    let groups = by_family(rows);
    let sizes: Vec<usize> = groups.values().map(Vec::len).collect();
    let take = allocate(&sizes, n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for (mut group, k) in groups.into_values().zip(take) {
        group.shuffle(&mut rng);
        group.truncate(k);
        out.extend(group);
    }
    out
}

/// A seeded train/validation split, stratified by family; both parts sorted by normalized text.
pub fn split(
    rows: Vec<DatasetRow>,
    fraction: f64,
    seed: u64,
) -> (Vec<DatasetRow>, Vec<DatasetRow>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0053_504c_4954_u64);
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for mut group in by_family(rows).into_values() {
        group.shuffle(&mut rng);
        let held = ((group.len() as f64) * fraction).round() as usize;
        let rest = group.split_off(held.min(group.len()));
        validation.extend(group);
        train.extend(rest);
    }
    train.sort_by_cached_key(DatasetRow::key);
    validation.sort_by_cached_key(DatasetRow::key);
    (train, validation)
}

/// Validates, merges and stores a dataset: the inputs, the rows, the taxonomy and the
/// manifest become objects. Nothing is written when validation fails.
pub fn store_merged(
    store: &Store,
    inputs: &MergeInputs,
    taxonomy: &Taxonomy,
    params: &MergeParams,
) -> Result<(ObjectId, DatasetManifest, Merged), DataError> {
    let merged = merge(inputs, taxonomy, params)?;
    store_result(store, inputs, taxonomy, params, merged)
}

/// Stores what [`merge`] returned for these inputs and parameters (a caller that checks
/// the merged rows before anything is written merges, checks, then stores).
pub fn store_result(
    store: &Store,
    inputs: &MergeInputs,
    taxonomy: &Taxonomy,
    params: &MergeParams,
    merged: Merged,
) -> Result<(ObjectId, DatasetManifest, Merged), DataError> {
    let mut records = Vec::new();
    for (role, files) in [("base", &inputs.base), ("addition", &inputs.additions)] {
        for input in files {
            let object = store.put_bytes(&input.bytes)?.id;
            let rows = merged
                .report
                .files
                .iter()
                .find(|f| f.file == input.name)
                .map(|f| f.valid_rows as u64)
                .unwrap_or(0);
            records.push(InputRecord {
                role: role.into(),
                name: input.name.clone(),
                object,
                rows,
            });
        }
    }
    let train = store.put_bytes(&rows_to_jsonl(&merged.train)?)?.id;
    let validation = if merged.validation.is_empty() {
        None
    } else {
        Some(store.put_bytes(&rows_to_jsonl(&merged.validation)?)?.id)
    };
    let taxonomy_id = store.put_bytes(taxonomy.to_toml().as_bytes())?.id;
    let manifest = DatasetManifest {
        train,
        train_rows: merged.train.len() as u64,
        validation,
        validation_rows: merged.validation.len() as u64,
        stats: DatasetStats::of(merged.train.iter().chain(&merged.validation)),
        counts: merged.counts.clone(),
        inputs: records,
        params: params.clone(),
        taxonomy: taxonomy_id,
    };
    let id = store.put_manifest(&manifest)?;
    Ok((id, manifest, merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_keeps_shares_and_total() {
        assert_eq!(allocate(&[50, 30, 20], 10), vec![5, 3, 2]);
        assert_eq!(allocate(&[1, 1, 1], 2), vec![1, 1, 0]);
        assert_eq!(allocate(&[7, 3], 100), vec![7, 3]);
        assert_eq!(allocate(&[333, 333, 334], 100).iter().sum::<usize>(), 100);
    }
}
