//! The regression gate inside a run: the baseline (the parent, or `[regression] baseline`)
//! and the candidate are both run on the test set and the extra regression sets, and
//! `cairn-report` compares them example by example.

use cairn_data::{DatasetRow, Taxonomy};
use cairn_model::{Backend, ModelConfig, Prediction, Weights};
use cairn_report::{Outcome, Report, Thresholds, Verdict};
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store, canonical};
use cairn_tokenize::CairnTokenizer;

use crate::PipelineError;
use crate::execute::{backend, model_config};

/// A registered model, ready to predict.
pub(crate) struct LoadedModel {
    pub config: ModelConfig,
    pub tokenizer: CairnTokenizer,
    pub weights: Weights,
    pub backend: Backend,
}

impl LoadedModel {
    pub(crate) fn of_run(store: &Store, run: &RunManifest) -> Result<Self, PipelineError> {
        let recipe: Recipe = store.get_manifest(&run.recipe)?;
        let taxonomy = Taxonomy::parse(
            &String::from_utf8_lossy(&store.read(&recipe.data.taxonomy.object)?),
            &recipe.data.taxonomy.name,
        )?;
        let tokenizer = CairnTokenizer::from_json(
            &store.read(&run.outputs.tokenizer)?,
            recipe.tokenizer.max_length as usize,
        )?;
        let config = model_config(&recipe, tokenizer.vocab_size(), &taxonomy)?;
        Ok(Self {
            config,
            tokenizer,
            weights: Weights(store.read(&run.outputs.weights)?),
            backend: backend(&recipe.train.backend)?,
        })
    }

    pub(crate) fn predict(&self, rows: &[DatasetRow]) -> Result<Vec<Prediction>, PipelineError> {
        let texts: Vec<&str> = rows.iter().map(|r| r.example.text.as_str()).collect();
        self.predict_ids(&self.tokenizer.encode_all(&texts)?)
    }

    /// Predictions for texts already tokenized with this model's tokenizer.
    pub(crate) fn predict_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Prediction>, PipelineError> {
        Ok(cairn_model::predict(
            &self.config,
            self.backend,
            &self.weights,
            ids,
            256,
        )?)
    }
}

pub(crate) fn verdict(p: &Prediction) -> Verdict {
    // Scores are rounded so the stored report does not depend on the last bits of a float.
    Verdict {
        attack: p.is_attack(),
        score: (f64::from(p.attack_probability()) * 1e6).round() / 1e6,
    }
}

/// Pairs rows with both models' predictions.
pub(crate) fn outcomes(
    rows: &[DatasetRow],
    baseline: &[Prediction],
    candidate: &[Prediction],
) -> Vec<Outcome> {
    rows.iter()
        .zip(baseline.iter().zip(candidate))
        .map(|(r, (b, c))| Outcome {
            text: r.example.text.clone(),
            label: r.example.label,
            family: r.example.family.clone(),
            source: r.example.source.clone(),
            baseline: verdict(b),
            candidate: verdict(c),
        })
        .collect()
}

/// The stored forms of a report: canonical JSON and Markdown objects.
pub(crate) fn store_report(
    store: &Store,
    report: &Report,
) -> Result<(ObjectId, ObjectId), PipelineError> {
    let json = store
        .put_bytes(&canonical::to_vec(report).map_err(cairn_store::StoreError::from)?)?
        .id;
    let markdown = store
        .put_bytes(cairn_report::markdown(report).as_bytes())?
        .id;
    Ok((json, markdown))
}

pub(crate) fn thresholds(recipe: &Recipe) -> Thresholds {
    Thresholds {
        reject_rate: recipe.regression.reject_rate,
        caution_rate: recipe.regression.caution_rate,
    }
}
