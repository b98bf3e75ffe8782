//! Merge: validate base + additions and store the dataset; read the test set.

use cairn_data::{
    DatasetManifest, DatasetRow, Input, MergeInputs, MergeParams, Merged, Taxonomy, ValidateOptions,
};
use cairn_spec::{DataRecipe, NamedObject, Recipe};
use cairn_store::{ObjectId, Store};

use crate::error::PipelineError;
use crate::event::{Event, Stage};

/// An input object as the data crate reads it.
pub(crate) fn input(store: &Store, named: &NamedObject) -> Result<Input, PipelineError> {
    Ok(Input {
        name: named.name.clone(),
        bytes: store.read(&named.object)?,
    })
}

/// The merged dataset and the test rows.
pub(crate) struct DataOut {
    pub dataset: ObjectId,
    pub manifest: DatasetManifest,
    pub merged: Merged,
    pub test: Vec<DatasetRow>,
}

/// The merge parameters of a recipe.
fn merge_params(d: &DataRecipe) -> MergeParams {
    MergeParams {
        new_data_boost: d.new_data_boost,
        base_sample: d.base_sample,
        seed: d.seed,
        validation_fraction: (d.validation_split > 0.0).then_some(d.validation_split),
        max_text_chars: d.max_text_chars,
    }
}

/// Validates and merges the inputs and reads the test rows, and checks that there is
/// enough of each to train and to measure: at least `[data] min_train_rows` training rows
/// and `min_test_rows` test rows, each with both labels. Writes nothing; `cairn run` calls
/// it on the files before any of them is stored, and every run again on the stored inputs.
pub(crate) fn checked(
    recipe: &Recipe,
    inputs: &MergeInputs,
    test: Input,
    taxonomy: &Taxonomy,
) -> Result<(Merged, Vec<DatasetRow>), PipelineError> {
    let d = &recipe.data;
    let merged = cairn_data::merge(inputs, taxonomy, &merge_params(d))?;
    let options = ValidateOptions {
        max_text_chars: d.max_text_chars as usize,
        ..ValidateOptions::default()
    };
    let test_name = test.name.clone();
    let test_rows = cairn_data::validated_rows(&[test], taxonomy, &options)?;
    let base = inputs
        .base
        .first()
        .map_or("[data] base", |i| i.name.as_str());
    enough(
        &merged.train,
        d.min_train_rows,
        "training set",
        "min_train_rows",
        base,
    )?;
    enough(
        &test_rows,
        d.min_test_rows,
        "test set",
        "min_test_rows",
        &test_name,
    )?;
    Ok((merged, test_rows))
}

/// Refuses a set that is too small to learn from or to measure, or that has one label.
fn enough(
    rows: &[DatasetRow],
    min: u64,
    what: &str,
    key: &str,
    file: &str,
) -> Result<(), PipelineError> {
    let attacks = rows.iter().filter(|r| r.example.label == 1).count();
    let benign = rows.len() - attacks;
    let problem = if (rows.len() as u64) < min {
        format!(
            "the {what} has {} row(s); a run needs at least {min} (add rows, or lower [data] {key})",
            rows.len()
        )
    } else if attacks == 0 || benign == 0 {
        format!(
            "the {what} has {attacks} attack and {benign} benign row(s); a run needs both labels (add rows of the missing label)"
        )
    } else {
        return Ok(());
    };
    Err(PipelineError::InvalidLine {
        file: file.into(),
        line: None,
        message: problem,
    })
}

/// Merges a recipe's stored inputs (checked, see [`checked`]), stores the dataset, and
/// reads the test rows.
pub(crate) fn merge(
    store: &Store,
    recipe: &Recipe,
    taxonomy: &Taxonomy,
    events: &mut dyn FnMut(Event),
) -> Result<DataOut, PipelineError> {
    let d = &recipe.data;
    let read = |objects: &[NamedObject]| {
        objects
            .iter()
            .map(|o| input(store, o))
            .collect::<Result<Vec<_>, _>>()
    };
    let inputs = MergeInputs {
        base: read(&d.base)?,
        additions: read(&d.additions)?,
    };
    events(Event::Stage(
        Stage::Merge,
        format!(
            "{} base file(s) + {} addition file(s)",
            d.base.len(),
            d.additions.len()
        ),
    ));
    let (merged, test) = checked(recipe, &inputs, input(store, &d.test)?, taxonomy)?;
    let (dataset, manifest, merged) =
        cairn_data::store_result(store, &inputs, taxonomy, &merge_params(d), merged)?;
    Ok(DataOut {
        dataset,
        manifest,
        merged,
        test,
    })
}

/// Test rows of a recipe, validated against its taxonomy.
pub(crate) fn test_rows(
    store: &Store,
    test: &NamedObject,
    taxonomy: &Taxonomy,
    max_chars: u64,
) -> Result<Vec<DatasetRow>, PipelineError> {
    let inputs = [input(store, test)?];
    let options = ValidateOptions {
        max_text_chars: max_chars as usize,
        ..ValidateOptions::default()
    };
    Ok(cairn_data::validated_rows(&inputs, taxonomy, &options)?)
}
