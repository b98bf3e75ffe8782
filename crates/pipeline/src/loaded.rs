//! The one way a registered model is loaded from the store: the regression gate, `cairn
//! regress`, `cairn scan` and `export` all start here (and red-team scoring will).

use std::sync::OnceLock;

use cairn_data::{DatasetRow, Taxonomy};
use cairn_metrics::Verdict;
use cairn_model::{Backend, ModelConfig, Prediction, Weights};
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use cairn_tokenize::CairnTokenizer;

use crate::config::{backend, model_config, taxonomy_of};
use crate::error::PipelineError;
use crate::stages::data::test_rows;
use crate::versions::load_run;

/// A run's model as the store holds it: recipe, taxonomy, tokenizer and model configuration,
/// with the weights read (and hash-checked) on first use, so a caller that only needs the
/// ONNX export never reads them.
pub struct LoadedModel<'s> {
    store: &'s Store,
    /// `name@version` of the run.
    pub version: String,
    pub run_id: ObjectId,
    pub run: RunManifest,
    pub recipe: Recipe,
    pub taxonomy: Taxonomy,
    pub tokenizer: CairnTokenizer,
    pub config: ModelConfig,
    /// What this build evaluates it on: the backend and device it was trained on, or
    /// ndarray when this build lacks that backend ([`LoadedModel::substituted`]).
    pub backend: Backend,
    /// The backend it was trained on, when this build lacks it and evaluates on ndarray.
    pub substituted: Option<String>,
    weights: OnceLock<Weights>,
}

/// Verdicts of predictions at an operating point (`None`: P(attack) > 0.5), with the
/// family and context named from the taxonomy's lists: how scan, eval and red-team read a
/// model's outputs.
pub(crate) fn verdicts(
    predictions: &[Prediction],
    threshold: Option<f32>,
    families: &[String],
    contexts: &[String],
) -> Vec<Verdict> {
    let name = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_default();
    predictions
        .iter()
        .map(|p| Verdict {
            threat: p.is_attack_at(threshold),
            probability: p.attack_probability(),
            family: name(families, p.family()),
            severity: p.severity,
            context: name(contexts, p.context()),
            latency_ms: None,
            version: None,
        })
        .collect()
}

impl<'s> LoadedModel<'s> {
    /// [`verdicts`] of this version's predictions, at its operating point.
    pub fn verdicts(&self, predictions: &[Prediction]) -> Vec<Verdict> {
        verdicts(
            predictions,
            self.run.threshold.map(|t| t as f32),
            &self.taxonomy.families,
            &self.taxonomy.contexts,
        )
    }

    /// The model a version name (`name@version`, `name/latest`) points to.
    pub fn load(store: &'s Store, reference: &str) -> Result<Self, PipelineError> {
        let (_, run_id, run) = load_run(store, reference)?;
        Self::of_run(store, run_id, run)
    }

    /// The model of a stored run (registered or not).
    pub fn of_run(
        store: &'s Store,
        run_id: ObjectId,
        run: RunManifest,
    ) -> Result<Self, PipelineError> {
        let recipe: Recipe = store.get_manifest(&run.recipe)?;
        let taxonomy = taxonomy_of(store, &recipe)?;
        let tokenizer = CairnTokenizer::from_json(
            &store.read(&run.outputs.tokenizer)?,
            recipe.tokenizer.max_length as usize,
        )?;
        let config = model_config(&recipe, tokenizer.vocab_size(), &taxonomy)?;
        // A version trained on a GPU backend stays usable in a CPU-only build: inference on
        // ndarray agrees within the backend's tolerance (`cairn regress --backends` measures
        // by how much).
        let (backend, substituted) = match backend(&recipe) {
            Ok(b) => (b, None),
            Err(PipelineError::Backend(cairn_model::SelectError::NotBuilt(name))) => {
                (Backend::Ndarray, Some(name))
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            store,
            version: format!("{}@{}", run.name, run.version),
            run_id,
            backend,
            substituted,
            run,
            recipe,
            taxonomy,
            tokenizer,
            config,
            weights: OnceLock::new(),
        })
    }

    /// The weights, read and hash-checked once.
    pub fn weights(&self) -> Result<&Weights, PipelineError> {
        if let Some(w) = self.weights.get() {
            return Ok(w);
        }
        let read = Weights(self.store.read(&self.run.outputs.weights)?);
        Ok(self.weights.get_or_init(|| read))
    }

    /// The backend its predictions come from, as reports name it: `ndarray (trained on
    /// wgpu, not built in)` when this build substitutes.
    pub fn evaluated_on(&self) -> String {
        match &self.substituted {
            Some(trained) => format!("ndarray (trained on {trained}, not built in)"),
            None => self.backend.name().to_string(),
        }
    }

    /// The version's test set (as its recipe names it) and its texts tokenized.
    pub fn test_set(&self) -> Result<(Vec<DatasetRow>, Vec<Vec<u32>>), PipelineError> {
        let rows = test_rows(
            self.store,
            &self.recipe.data.test,
            &self.taxonomy,
            self.recipe.data.max_text_chars,
        )?;
        let texts: Vec<&str> = rows.iter().map(|r| r.example.text.as_str()).collect();
        let ids = self.tokenizer.encode_all(&texts)?;
        Ok((rows, ids))
    }

    /// Predictions for dataset rows, in order.
    pub fn predict(&self, rows: &[DatasetRow]) -> Result<Vec<Prediction>, PipelineError> {
        let texts: Vec<&str> = rows.iter().map(|r| r.example.text.as_str()).collect();
        self.predict_texts(&texts)
    }

    /// Predictions for texts, in order.
    pub fn predict_texts(&self, texts: &[&str]) -> Result<Vec<Prediction>, PipelineError> {
        self.predict_ids(&self.tokenizer.encode_all(texts)?)
    }

    /// Predictions for texts already tokenized with this model's tokenizer.
    pub fn predict_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Prediction>, PipelineError> {
        Ok(cairn_model::predict(
            &self.config,
            self.backend,
            self.weights()?,
            ids,
            256,
        )?)
    }

    /// The run's ONNX export, hash-checked.
    pub fn onnx(&self) -> Result<Vec<u8>, PipelineError> {
        let id = self
            .run
            .outputs
            .onnx
            .ok_or_else(|| PipelineError::NoOnnx(self.version.clone()))?;
        Ok(self.store.read(&id)?)
    }
}
