//! The tokenizer: the parent's (a fine-tune keeps its vocabulary), a given file, or trained
//! from the training texts.

use cairn_data::DatasetRow;
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use cairn_tokenize::{CairnTokenizer, TrainSpec};

use crate::error::PipelineError;
use crate::event::{Event, Stage};

pub(crate) fn tokenizer(
    store: &Store,
    recipe: &Recipe,
    parent: Option<&RunManifest>,
    train: &[DatasetRow],
    events: &mut dyn FnMut(Event),
) -> Result<(CairnTokenizer, ObjectId), PipelineError> {
    let json = match (parent, &recipe.tokenizer.file, &recipe.model.pretrained) {
        (Some(run), _, _) => {
            events(Event::Stage(Stage::Tokenizer, "the parent's".into()));
            store.read(&run.outputs.tokenizer)?
        }
        (None, _, Some(p)) => {
            events(Event::Stage(
                Stage::Tokenizer,
                format!("the encoder's, from {}", p.tokenizer.name),
            ));
            // Stored as cairn uses it: truncation at max_length, no fixed padding (batches
            // pad to their longest), so Python's tokenizers reads the deployed file the same.
            CairnTokenizer::from_json(
                &store.read(&p.tokenizer.object)?,
                recipe.tokenizer.max_length as usize,
            )?
            .to_json()?
        }
        (None, Some(file), None) => {
            events(Event::Stage(
                Stage::Tokenizer,
                format!("from {}", file.name),
            ));
            store.read(&file.object)?
        }
        (None, None, None) => {
            events(Event::Stage(
                Stage::Tokenizer,
                format!("training BPE, vocabulary {}", recipe.tokenizer.vocab_size),
            ));
            let texts: Vec<&str> = train.iter().map(|r| r.example.text.as_str()).collect();
            let spec = TrainSpec {
                vocab_size: recipe.tokenizer.vocab_size as usize,
                min_frequency: recipe.tokenizer.min_frequency,
                max_length: recipe.tokenizer.max_length as usize,
            };
            CairnTokenizer::train(&texts, &spec)?.to_json()?
        }
    };
    let tokenizer = CairnTokenizer::from_json(&json, recipe.tokenizer.max_length as usize)?;
    let id = store.put_bytes(&json)?.id;
    Ok((tokenizer, id))
}
