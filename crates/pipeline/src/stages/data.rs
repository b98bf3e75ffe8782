//! Merge: validate base + additions and store the dataset; read the test set.

use cairn_data::{DatasetManifest, DatasetRow, Input, MergeInputs, MergeParams, Merged, Taxonomy};
use cairn_spec::{NamedObject, Recipe};
use cairn_store::{ObjectId, Store};

use crate::execute::test_rows;
use crate::{Event, PipelineError, Stage};

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
    let params = MergeParams {
        new_data_boost: d.new_data_boost,
        base_sample: d.base_sample,
        seed: d.seed,
        validation_fraction: (d.validation_split > 0.0).then_some(d.validation_split),
        max_text_chars: d.max_text_chars,
    };
    events(Event::Stage(
        Stage::Merge,
        format!(
            "{} base file(s) + {} addition file(s)",
            d.base.len(),
            d.additions.len()
        ),
    ));
    let (dataset, manifest, merged) = cairn_data::store_merged(store, &inputs, taxonomy, &params)?;
    let test = test_rows(store, &d.test, taxonomy, d.max_text_chars)?;
    Ok(DataOut {
        dataset,
        manifest,
        merged,
        test,
    })
}
