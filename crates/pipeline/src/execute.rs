//! Executing a recipe: the stages in order (`stages/`), reading only the store.

use std::collections::BTreeMap;

use cairn_data::DatasetRow;
use cairn_model::{Metrics, ModelConfig, Prediction, Weights};
use cairn_spec::{EpochRecord, Mode, Recipe, RunManifest};
use cairn_store::{ObjectId, Store};

use crate::config::{check_fits, check_pretrained_config, model_config, taxonomy_of};
use crate::error::PipelineError;
use crate::event::Event;
use crate::stages::{data, export, tokenizer, train};

/// What executing a recipe produced.
#[derive(Debug, Clone)]
pub struct Executed {
    pub dataset: ObjectId,
    pub tokenizer: ObjectId,
    pub weights: ObjectId,
    pub evaluation: ObjectId,
    pub metrics: BTreeMap<String, f64>,
    pub full_metrics: Metrics,
    pub epochs: Vec<EpochRecord>,
    pub steps: Vec<cairn_spec::StepRecord>,
    pub mode: Mode,
    pub parent: Option<ObjectId>,
    pub train_rows: usize,
    pub train_seconds: f64,
    /// Test rows and the candidate's predictions on them, in test-file order (the regression
    /// gate compares these against the baseline's).
    pub test_rows: Vec<DatasetRow>,
    pub test_predictions: Vec<Prediction>,
    pub model_config: ModelConfig,
    /// The regression gate's report (against the parent or the named baseline).
    pub report: cairn_report::Report,
    pub report_json: ObjectId,
    pub report_markdown: ObjectId,
    /// The ONNX export and its parity check (`[export] onnx`).
    pub onnx: Option<(ObjectId, cairn_spec::OnnxParity)>,
    /// The operating point (`[evaluate]`).
    pub threshold: Option<f64>,
    /// Cached frozen-layer features the training used.
    pub features: Vec<ObjectId>,
}

/// The headline numbers kept in the run manifest.
pub(crate) fn headline(m: &Metrics) -> BTreeMap<String, f64> {
    [
        ("accuracy", m.accuracy),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("fpr", m.fpr),
        ("fnr", m.fnr),
        ("family_accuracy", m.family_accuracy),
        ("severity_mae", m.severity_mae),
        ("context_accuracy", m.context_accuracy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Runs every stage of a recipe from the store. `recipe_id` is the id the recipe is stored
/// under (the ONNX export names it).
pub fn execute(
    store: &Store,
    recipe: &Recipe,
    recipe_id: ObjectId,
    events: &mut dyn FnMut(Event),
) -> Result<Executed, PipelineError> {
    if recipe.export.onnx {
        // Fail before training when ONNX Runtime cannot be loaded.
        cairn_onnx::runtime_name()?;
    }
    let taxonomy = taxonomy_of(store, recipe)?;
    check_fits(recipe, &taxonomy).map_err(|(key, problem)| PipelineError::Invalid {
        field: format!("[model] {key}"),
        problem,
    })?;
    if let Some(p) = &recipe.model.pretrained {
        check_pretrained_config(
            &recipe.model.architecture,
            &recipe.model.sizes,
            &store.read(&p.config.object)?,
            &p.config.name,
        )
        .map_err(|problem| PipelineError::Invalid {
            field: "[model] pretrained".into(),
            problem,
        })?;
    }
    let data = data::merge(store, recipe, &taxonomy, events)?;

    // The parent: a corrupt or missing run is reported as such, never as "not registered".
    let parent = match &recipe.model.parent {
        None => None,
        Some(p) => {
            let run: RunManifest = store.get_manifest(&p.run)?;
            let parent_recipe: Recipe = store.get_manifest(&run.recipe)?;
            check_parent(recipe, &parent_recipe, &p.name)?;
            Some((p.run, run))
        }
    };
    let (tokenizer, tokenizer_id) = tokenizer::tokenizer(
        store,
        recipe,
        parent.as_ref().map(|(_, run)| run),
        &data.merged.train,
        events,
    )?;

    events(Event::Stage(
        crate::event::Stage::Encode,
        format!(
            "{} train, {} validation, {} test rows",
            data.merged.train.len(),
            data.merged.validation.len(),
            data.test.len()
        ),
    ));
    let train_rows = train::encode(&tokenizer, &data.merged.train)?;
    let validation = train::encode(&tokenizer, &data.merged.validation)?;
    let test_encoded = train::encode(&tokenizer, &data.test)?;

    let model = model_config(recipe, tokenizer.vocab_size(), &taxonomy)?;
    let config = train::train_config(recipe)?;
    let start = match (&parent, &recipe.model.pretrained) {
        (Some((_, run)), _) => train::Start::Parent(Weights(store.read(&run.outputs.weights)?)),
        (None, Some(p)) => train::Start::Pretrained(store.read(&p.weights.object)?),
        (None, None) => train::Start::Scratch,
    };
    let trained = train::train(
        store,
        &model,
        &config,
        &train_rows,
        &validation,
        start,
        events,
    )?;
    let threshold = operating_point(
        recipe,
        &model,
        &config,
        &trained.weights,
        &validation,
        events,
    )?;
    let evaluated = train::evaluate(
        store,
        &model,
        &config,
        &trained.weights,
        (&test_encoded, threshold),
        &taxonomy,
        events,
    )?;
    let mut metrics = headline(&evaluated.metrics);
    let scored: Vec<(f64, bool)> = evaluated
        .predictions
        .iter()
        .zip(&test_encoded)
        .map(|(p, e)| (f64::from(p.attack_probability()), e.label == 1))
        .collect();
    if let Some(auc) = cairn_metrics::roc_auc(&scored) {
        metrics.insert("roc_auc".into(), auc);
    }
    let test_ids: Vec<Vec<u32>> = test_encoded.iter().map(|e| e.ids.clone()).collect();

    let name = format!("{}@{}", recipe.name, recipe.version);
    let report = crate::gate::gate(
        store,
        recipe,
        &name,
        crate::gate::Candidate {
            model: &model,
            config: &config,
            weights: &trained.weights,
            tokenizer: &tokenizer,
            tokenizer_id,
            threshold,
        },
        (&data.test, &test_ids, &evaluated.predictions),
        &taxonomy,
        events,
    )?;
    let (report_json, report_markdown) = crate::gate::store_report(store, &report)?;

    let onnx = if recipe.export.onnx {
        let provenance = cairn_onnx::Provenance {
            cairn_version: recipe.environment.cairn_version.clone(),
            model: name.clone(),
            recipe: recipe_id.to_ref_string(),
            weights: trained.weights_id.to_ref_string(),
            tokenizer: tokenizer_id.to_ref_string(),
            families: taxonomy.families.clone(),
            contexts: taxonomy.contexts.clone(),
            threshold,
        };
        Some(export::export(
            store,
            recipe,
            &provenance,
            (&model, &trained.weights),
            &test_ids,
            &evaluated.predictions,
            events,
        )?)
    } else {
        None
    };

    Ok(Executed {
        report,
        report_json,
        report_markdown,
        onnx,
        dataset: data.dataset,
        tokenizer: tokenizer_id,
        weights: trained.weights_id,
        evaluation: evaluated.evaluation,
        metrics,
        full_metrics: evaluated.metrics,
        threshold,
        features: trained.features,
        epochs: trained.epochs,
        steps: trained.steps,
        mode: trained.mode,
        parent: parent.map(|(id, _)| id),
        train_rows: data.manifest.train_rows as usize,
        train_seconds: trained.seconds,
        test_rows: data.test,
        test_predictions: evaluated.predictions,
        model_config: model,
    })
}

/// The operating point `[evaluate]` asks for: a given threshold, or the lowest one whose
/// false-positive rate on the validation rows is at most `target_fpr` (just above the
/// score of the first benign row past the budget).
fn operating_point(
    recipe: &Recipe,
    model: &ModelConfig,
    config: &cairn_model::TrainConfig,
    weights: &Weights,
    validation: &[cairn_model::Encoded],
    events: &mut dyn FnMut(Event),
) -> Result<Option<f64>, PipelineError> {
    if let Some(t) = recipe.evaluate.threshold {
        return Ok(Some(t));
    }
    let Some(target) = recipe.evaluate.target_fpr else {
        return Ok(None);
    };
    let ids: Vec<Vec<u32>> = validation.iter().map(|e| e.ids.clone()).collect();
    let predictions = cairn_model::predict(model, config.backend, weights, &ids, 256)?;
    let mut benign: Vec<f32> = predictions
        .iter()
        .zip(validation)
        .filter(|(_, e)| e.label == 0)
        .map(|(p, _)| p.attack_probability())
        .collect();
    if benign.is_empty() {
        return Err(PipelineError::Invalid {
            field: "[evaluate] target_fpr".into(),
            problem: "the validation split has no benign rows to choose a threshold on (raise validation_split)".into(),
        });
    }
    benign.sort_by(|a, b| b.total_cmp(a));
    let allowed = (target * benign.len() as f64).floor() as usize;
    let threshold = match benign.get(allowed) {
        // The next float above the first benign score past the budget.
        Some(&s) if s < 1.0 => f32::from_bits(s.max(0.0).to_bits() + 1),
        Some(_) => 1.0,
        None => 0.0,
    };
    let threshold = f64::from(threshold);
    events(Event::Stage(
        crate::event::Stage::Evaluate,
        format!(
            "operating point {threshold:.6}: at most {allowed} of {} validation benign rows flagged (target FPR {target})",
            benign.len()
        ),
    ));
    Ok(Some(threshold))
}

/// Fine-tuning needs the parent's architecture, sizes, vocabularies and tokenizer settings.
fn check_parent(recipe: &Recipe, parent: &Recipe, name: &str) -> Result<(), PipelineError> {
    let fail = |reason: String| {
        Err(PipelineError::IncompatibleParent {
            parent: name.to_string(),
            reason,
        })
    };
    let (m, p) = (&recipe.model, &parent.model);
    if m.architecture != p.architecture {
        return fail(format!(
            "it is a `{}` model and this experiment asks for `{}` (retrain from scratch: remove `parent`)",
            p.architecture, m.architecture
        ));
    }
    if m.sizes != p.sizes {
        let differ: Vec<String> = m
            .sizes
            .iter()
            .filter(|(k, v)| p.sizes.get(*k) != Some(v))
            .map(|(k, v)| {
                format!(
                    "{k} {} -> {v}",
                    p.sizes.get(k).map(|x| x.to_string()).unwrap_or_default()
                )
            })
            .collect();
        return fail(format!("model sizes differ ({})", differ.join(", ")));
    }
    if recipe.tokenizer.max_length != parent.tokenizer.max_length {
        return fail(format!(
            "tokenizer max_length differs ({} -> {})",
            parent.tokenizer.max_length, recipe.tokenizer.max_length
        ));
    }
    if recipe.tokenizer.file.is_some() && recipe.tokenizer.file != parent.tokenizer.file {
        return fail("a fine-tune keeps the parent's tokenizer; remove [tokenizer] file".into());
    }
    if recipe.data.taxonomy.object != parent.data.taxonomy.object {
        return fail(
            "the taxonomy differs from the parent's (a new family or context needs a retrain)"
                .into(),
        );
    }
    Ok(())
}
