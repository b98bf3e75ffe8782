//! Executing a recipe: merge → tokenizer → encode → train → evaluate. Reads only the store.

use std::collections::BTreeMap;
use std::time::Instant;

use cairn_data::{DatasetRow, Input, MergeInputs, MergeParams, Taxonomy, ValidateOptions};
use cairn_model::{
    Architecture, Backend, Encoded, HeadWeights, Metrics, ModelConfig, Prediction, TrainConfig,
    Weights,
};
use cairn_spec::{EpochRecord, NamedObject, Recipe, RunManifest};
use cairn_store::{ObjectId, Store, canonical};
use cairn_tokenize::{CairnTokenizer, TrainSpec};
use serde::Serialize;

use crate::{Event, PipelineError};

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
    /// `retrain` or `fine-tune`.
    pub mode: &'static str,
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
}

fn input(store: &Store, named: &NamedObject) -> Result<Input, PipelineError> {
    Ok(Input {
        name: named.name.clone(),
        bytes: store.read(&named.object)?,
    })
}

/// The model configuration a recipe asks for.
pub(crate) fn model_config(
    recipe: &Recipe,
    vocab_size: usize,
    taxonomy: &Taxonomy,
) -> Result<ModelConfig, PipelineError> {
    let sizes: Vec<(&str, usize)> = recipe
        .model
        .sizes
        .iter()
        .map(|(k, v)| (k.as_str(), *v as usize))
        .collect();
    Ok(ModelConfig {
        architecture: Architecture::new(&recipe.model.architecture, &sizes)?,
        vocab_size,
        max_length: recipe.tokenizer.max_length as usize,
        families: taxonomy.families.len(),
        contexts: taxonomy.contexts.len(),
        dropout: recipe.model.dropout,
    })
}

/// The model crate's backend for a recipe's backend name (the names are shared).
pub(crate) fn backend(name: &str) -> Result<Backend, PipelineError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| PipelineError::UnknownBackend(name.to_string()))
}

fn encode(tokenizer: &CairnTokenizer, rows: &[DatasetRow]) -> Result<Vec<Encoded>, PipelineError> {
    let texts: Vec<&str> = rows.iter().map(|r| r.example.text.as_str()).collect();
    let ids = tokenizer.encode_all(&texts)?;
    Ok(rows
        .iter()
        .zip(ids)
        .map(|(r, ids)| Encoded {
            ids,
            label: r.example.label,
            family: r.example.family_idx as usize,
            severity: r.example.severity_score as f32,
            context: r.example.context_idx as usize,
            weight: r.weight as f32,
        })
        .collect())
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

#[derive(Serialize)]
struct EvaluationDoc<'a> {
    metrics: &'a Metrics,
    families: &'a [String],
    contexts: &'a [String],
    test_rows: usize,
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
    };
    Ok(cairn_data::validated_rows(&inputs, taxonomy, &options)?)
}

/// Runs every stage of a recipe from the store.
pub fn execute(
    store: &Store,
    recipe: &Recipe,
    events: &mut dyn FnMut(Event),
) -> Result<Executed, PipelineError> {
    let d = &recipe.data;
    if recipe.export.onnx {
        // Fail before training when ONNX Runtime cannot be loaded.
        cairn_onnx::runtime_name()?;
    }
    let taxonomy_bytes = store.read(&d.taxonomy.object)?;
    let taxonomy = Taxonomy::parse(&String::from_utf8_lossy(&taxonomy_bytes), &d.taxonomy.name)?;

    // Merge.
    let inputs = MergeInputs {
        base: d
            .base
            .iter()
            .map(|o| input(store, o))
            .collect::<Result<_, _>>()?,
        additions: d
            .additions
            .iter()
            .map(|o| input(store, o))
            .collect::<Result<_, _>>()?,
    };
    let params = MergeParams {
        new_data_boost: d.new_data_boost,
        base_sample: d.base_sample,
        seed: d.seed,
        validation_fraction: (d.validation_split > 0.0).then_some(d.validation_split),
        max_text_chars: d.max_text_chars,
    };
    events(Event::Stage(
        "merge",
        format!(
            "{} base file(s) + {} addition file(s)",
            d.base.len(),
            d.additions.len()
        ),
    ));
    let (dataset, manifest, merged) = cairn_data::store_merged(store, &inputs, &taxonomy, &params)?;
    let test = test_rows(store, &d.test, &taxonomy, d.max_text_chars)?;

    // Parent (fine-tuning) and tokenizer.
    let parent = match &recipe.model.parent {
        None => None,
        Some(p) => {
            let run: RunManifest = store
                .get_manifest(&p.run)
                .map_err(|_| PipelineError::UnknownVersion(p.name.clone()))?;
            let parent_recipe: Recipe = store.get_manifest(&run.recipe)?;
            check_parent(recipe, &parent_recipe, &p.name)?;
            Some((p.run, run, parent_recipe))
        }
    };
    let tokenizer_json = match (&parent, &recipe.tokenizer.file) {
        (Some((_, run, _)), _) => {
            events(Event::Stage("tokenizer", "the parent's".into()));
            store.read(&run.outputs.tokenizer)?
        }
        (None, Some(file)) => {
            events(Event::Stage("tokenizer", format!("from {}", file.name)));
            store.read(&file.object)?
        }
        (None, None) => {
            events(Event::Stage(
                "tokenizer",
                format!("training BPE, vocabulary {}", recipe.tokenizer.vocab_size),
            ));
            let texts: Vec<&str> = merged
                .train
                .iter()
                .map(|r| r.example.text.as_str())
                .collect();
            let spec = TrainSpec {
                vocab_size: recipe.tokenizer.vocab_size as usize,
                min_frequency: recipe.tokenizer.min_frequency,
                max_length: recipe.tokenizer.max_length as usize,
            };
            CairnTokenizer::train(&texts, &spec)?.to_json()?
        }
    };
    let tokenizer =
        CairnTokenizer::from_json(&tokenizer_json, recipe.tokenizer.max_length as usize)?;
    let tokenizer_id = store.put_bytes(&tokenizer_json)?.id;

    events(Event::Stage(
        "encode",
        format!(
            "{} train, {} validation, {} test rows",
            merged.train.len(),
            merged.validation.len(),
            test.len()
        ),
    ));
    let train = encode(&tokenizer, &merged.train)?;
    let validation = encode(&tokenizer, &merged.validation)?;
    let test_encoded = encode(&tokenizer, &test)?;

    // Train.
    let model = model_config(recipe, tokenizer.vocab_size(), &taxonomy)?;
    let t = &recipe.train;
    let train_config = TrainConfig {
        seed: t.seed,
        epochs: t.epochs as usize,
        batch_size: t.batch_size as usize,
        learning_rate: t.learning_rate,
        weight_decay: t.weight_decay,
        head_weights: HeadWeights {
            binary: t.loss_weights.binary,
            family: t.loss_weights.family,
            severity: t.loss_weights.severity,
            context: t.loss_weights.context,
        },
        threads: t.threads as usize,
        backend: backend(&t.backend)?,
    };
    let init = match &parent {
        Some((_, run, _)) => Some(Weights(store.read(&run.outputs.weights)?)),
        None => None,
    };
    let mode = if init.is_some() {
        "fine-tune"
    } else {
        "retrain"
    };
    events(Event::Stage(
        "train",
        format!(
            "{mode}, {} epochs on {} rows ({})",
            t.epochs,
            train.len(),
            t.backend
        ),
    ));
    let started = Instant::now();
    let mut on_batch = |p: cairn_model::Progress| {
        events(Event::Batch {
            epoch: p.epoch,
            epochs: p.epochs,
            batch: p.batch,
            batches: p.batches,
            running_loss: p.running_loss,
        });
    };
    let trained = cairn_model::train(
        &model,
        &train_config,
        &train,
        &validation,
        init.as_ref(),
        &mut on_batch,
    )?;
    let train_seconds = started.elapsed().as_secs_f64();
    let epochs: Vec<EpochRecord> = trained
        .epochs
        .iter()
        .map(|e| EpochRecord {
            epoch: e.epoch as u64,
            train_loss: e.train_loss,
            validation_loss: e.validation_loss,
            validation_accuracy: e.validation_accuracy,
        })
        .collect();
    for e in &epochs {
        events(Event::Epoch(e.clone()));
    }
    let weights = store.put_bytes(&trained.weights.0)?.id;

    // Evaluate.
    events(Event::Stage(
        "evaluate",
        format!("{} test rows", test.len()),
    ));
    let ids: Vec<Vec<u32>> = test_encoded.iter().map(|e| e.ids.clone()).collect();
    let predictions = cairn_model::predict(
        &model,
        train_config.backend,
        &trained.weights,
        &ids,
        t.batch_size.max(64) as usize,
    )?;
    let metrics = cairn_model::evaluate(&predictions, &test_encoded);
    let doc = EvaluationDoc {
        metrics: &metrics,
        families: &taxonomy.families,
        contexts: &taxonomy.contexts,
        test_rows: test.len(),
    };
    let evaluation = store
        .put_bytes(&canonical::to_vec(&doc).map_err(cairn_store::StoreError::from)?)?
        .id;

    // Regression gate: baseline and candidate on the test set and the extra regression sets.
    let mut rows = test.clone();
    let mut candidate = predictions.clone();
    let mut gate_ids = ids;
    for set in &recipe.regression.extra_sets {
        let extra = test_rows(store, set, &taxonomy, d.max_text_chars)?;
        let texts: Vec<&str> = extra.iter().map(|r| r.example.text.as_str()).collect();
        let ids = tokenizer.encode_all(&texts)?;
        gate_ids.extend(ids.iter().cloned());
        candidate.extend(cairn_model::predict(
            &model,
            train_config.backend,
            &trained.weights,
            &ids,
            256,
        )?);
        rows.extend(extra);
    }
    let name = format!("{}@{}", recipe.name, recipe.version);
    let thresholds = crate::gate::thresholds(recipe);
    let report = match recipe
        .regression
        .baseline
        .as_ref()
        .or(recipe.model.parent.as_ref())
    {
        Some(baseline) => {
            events(Event::Stage(
                "gate",
                format!(
                    "{name} against {} on {} examples",
                    baseline.name,
                    rows.len()
                ),
            ));
            let run: RunManifest = store
                .get_manifest(&baseline.run)
                .map_err(|_| PipelineError::UnknownVersion(baseline.name.clone()))?;
            let baseline_model = crate::gate::LoadedModel::of_run(store, &run)?;
            // A fine-tune shares its parent's tokenizer: the ids are already known.
            let before = if run.outputs.tokenizer == tokenizer_id {
                baseline_model.predict_ids(&gate_ids)?
            } else {
                baseline_model.predict(&rows)?
            };
            cairn_report::compare(
                Some(&baseline.name),
                &name,
                &t.backend,
                &crate::gate::outcomes(&rows, &before, &candidate),
                thresholds,
            )
        }
        None => cairn_report::compare(
            None,
            &name,
            &t.backend,
            &crate::gate::outcomes(&rows, &candidate, &candidate),
            thresholds,
        ),
    };
    let (report_json, report_markdown) = crate::gate::store_report(store, &report)?;

    let onnx = if recipe.export.onnx {
        events(Event::Stage(
            "onnx",
            format!("export and parity on {} test rows", test_encoded.len()),
        ));
        let provenance = cairn_onnx::Provenance {
            cairn_version: recipe.environment.cairn_version.clone(),
            model: name.clone(),
            recipe: recipe.id()?.to_ref_string(),
            weights: weights.to_ref_string(),
            tokenizer: tokenizer_id.to_ref_string(),
            families: taxonomy.families.clone(),
            contexts: taxonomy.contexts.clone(),
        };
        let bytes = cairn_onnx::export(&model, &trained.weights, &provenance)?;
        let test_ids: Vec<Vec<u32>> = test_encoded.iter().map(|e| e.ids.clone()).collect();
        let parity = onnx_parity(&bytes, &test_ids, &predictions, recipe.export.tolerance)?;
        Some((store.put_bytes(&bytes)?.id, parity))
    } else {
        None
    };

    Ok(Executed {
        report,
        report_json,
        report_markdown,
        onnx,
        dataset,
        tokenizer: tokenizer_id,
        weights,
        evaluation,
        metrics: headline(&metrics),
        full_metrics: metrics,
        epochs,
        mode,
        parent: parent.map(|(id, _, _)| id),
        train_rows: manifest.train_rows as usize,
        train_seconds,
        test_rows: test,
        test_predictions: predictions,
        model_config: model,
    })
}

/// Runs an export with ONNX Runtime on the test set and compares with burn's predictions;
/// a deviation above `tolerance` is an error carrying both figures.
fn onnx_parity(
    onnx: &[u8],
    ids: &[Vec<u32>],
    burn: &[Prediction],
    tolerance: f64,
) -> Result<cairn_spec::OnnxParity, PipelineError> {
    // One intra-op thread: the recorded figures do not depend on the machine.
    let mut session = cairn_onnx::OnnxModel::load(onnx, 1)?;
    let ort = session.predict_all(ids, 256)?;
    let d = cairn_onnx::deviation(burn, &ort);
    let parity = cairn_spec::OnnxParity {
        runtime: cairn_onnx::runtime_name()?,
        examples: d.examples,
        max_abs_deviation: [
            ("binary_logits", d.binary_logits),
            ("family_logits", d.family_logits),
            ("severity_score", d.severity_score),
            ("context_logits", d.context_logits),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        binary_disagreements: d.binary_disagreements,
        tolerance,
    };
    let worst = parity.max_deviation();
    if worst.is_nan() || worst > tolerance {
        let output = parity
            .max_abs_deviation
            .iter()
            .find(|(_, v)| **v == worst || v.is_nan())
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        return Err(PipelineError::Parity {
            deviation: worst,
            output,
            tolerance,
            disagreements: d.binary_disagreements,
            examples: d.examples,
        });
    }
    Ok(parity)
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
