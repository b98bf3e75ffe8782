//! Executing a recipe: the stages in order (`stages/`), reading only the store.

use std::collections::BTreeMap;

use cairn_data::{DatasetRow, Taxonomy, ValidateOptions};
use cairn_model::{Architecture, Backend, Metrics, ModelConfig, Prediction, Weights};
use cairn_spec::{EpochRecord, Mode, NamedObject, Recipe, RunManifest};
use cairn_store::{ObjectId, Store};

use crate::stages::{data, export, tokenizer, train};
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

/// Bytes per parameter while training: the weights, their gradients and Adam's two
/// moments, 4 bytes each.
const TRAINING_BYTES_PER_PARAMETER: u64 = 16;

/// Memory this machine can give a run now (`MemAvailable`), when the system says.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses, before any data work, a model too big to train on this machine: its parameter
/// count (from the sizes, the tokenizer's vocabulary size and the taxonomy) times the bytes
/// training keeps per parameter, against the memory available. `Err((key, message))` names
/// the largest `[model]` size.
pub(crate) fn check_fits(recipe: &Recipe, taxonomy: &Taxonomy) -> Result<(), (String, String)> {
    let largest = recipe
        .model
        .sizes
        .iter()
        .max_by_key(|(_, v)| **v)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| "architecture".into());
    let model = model_config(recipe, recipe.tokenizer.vocab_size as usize, taxonomy)
        .map_err(|e| (largest.clone(), e.to_string()))?;
    let parameters = cairn_model::parameter_count(&model) as u64;
    let needed = parameters.saturating_mul(TRAINING_BYTES_PER_PARAMETER);
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if needed <= available {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    Err((
        largest,
        format!(
            "the model has {parameters} parameters and needs at least {:.1} GiB to train ({TRAINING_BYTES_PER_PARAMETER} bytes each for weights, gradients and optimizer state); this machine has {:.1} GiB available (lower the [model] sizes)",
            gib(needed),
            gib(available)
        ),
    ))
}

/// What a backend promises a re-run on the same backend, device and thread count: burn's
/// ndarray backend (fixed reduction order, seeded) repeats bit for bit.
pub(crate) fn reproducibility(backend: Backend) -> cairn_spec::Reproducibility {
    match backend.tolerance() {
        None => cairn_spec::Reproducibility::Bitwise,
        Some(max_abs_deviation) => {
            cairn_spec::Reproducibility::WithinTolerance { max_abs_deviation }
        }
    }
}

/// Examples whose attack / benign decision differs between two prediction lists, at a run's
/// operating point (`None`: P(attack) > 0.5).
pub(crate) fn flips(a: &[Prediction], b: &[Prediction], threshold: Option<f64>) -> u64 {
    let at = threshold.map(|t| t as f32);
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.is_attack_at(at) != y.is_attack_at(at))
        .count() as u64
}

/// What the backend's device is, in the spec's terms.
pub(crate) fn hardware(backend: Backend) -> cairn_spec::Hardware {
    let h = backend.hardware();
    cairn_spec::Hardware {
        name: h.name,
        detail: h.detail,
    }
}

/// The backend and device a recipe trains on: `[train] backend` on the environment's
/// device (which resolving the recipe spelled canonically).
pub(crate) fn backend(recipe: &Recipe) -> Result<Backend, PipelineError> {
    Ok(Backend::select(
        &recipe.train.backend,
        Some(&recipe.environment.device),
    )?)
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

/// Test rows of a recipe, validated against its taxonomy.
pub(crate) fn test_rows(
    store: &Store,
    test: &NamedObject,
    taxonomy: &Taxonomy,
    max_chars: u64,
) -> Result<Vec<DatasetRow>, PipelineError> {
    let inputs = [data::input(store, test)?];
    let options = ValidateOptions {
        max_text_chars: max_chars as usize,
        ..ValidateOptions::default()
    };
    Ok(cairn_data::validated_rows(&inputs, taxonomy, &options)?)
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
    let taxonomy = crate::loaded::taxonomy_of(store, recipe)?;
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
        crate::Stage::Encode,
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
        crate::Stage::Evaluate,
        format!(
            "operating point {threshold:.6}: at most {allowed} of {} validation benign rows flagged (target FPR {target})",
            benign.len()
        ),
    ));
    Ok(Some(threshold))
}

/// A pretrained encoder's `config.json` must describe the model the experiment's sizes
/// build: each difference is named with the key to write.
pub(crate) fn check_pretrained_config(
    architecture: &str,
    sizes: &BTreeMap<String, u64>,
    bytes: &[u8],
    name: &str,
) -> Result<(), String> {
    if architecture != "bert" {
        return Err(format!(
            "the {architecture} architecture takes no pretrained encoder (use architecture = \"bert\")"
        ));
    }
    let config: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{name} is not JSON: {e}"))?;
    let get = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
    if let Some(act) = config.get("hidden_act").and_then(|v| v.as_str())
        && act != "gelu"
    {
        return Err(format!(
            "{name}: hidden_act is `{act}`; cairn's bert uses the exact (erf) `gelu`"
        ));
    }
    for (json_key, size) in [
        ("hidden_size", "hidden"),
        ("num_hidden_layers", "layers"),
        ("num_attention_heads", "heads"),
        ("intermediate_size", "intermediate"),
        ("max_position_embeddings", "max_position"),
        ("type_vocab_size", "type_vocab"),
    ] {
        let want = sizes.get(size).copied().unwrap_or(0);
        match get(json_key) {
            Some(v) if v as u64 == want => {}
            Some(v) => {
                return Err(format!(
                    "{name} has {json_key} = {v}, the experiment has {size} = {want}: write `{size} = {v}` in [model]"
                ));
            }
            None => return Err(format!("{name} has no `{json_key}`")),
        }
    }
    if let Some(eps) = get("layer_norm_eps") {
        let exponent = sizes.get("eps_exponent").copied().unwrap_or(0);
        let ours = 10f64.powi(-(exponent as i32));
        if ((eps - ours) / eps).abs() > 1e-6 {
            return Err(format!(
                "{name} has layer_norm_eps = {eps}, the experiment has eps_exponent = {exponent}: write `eps_exponent = {}`",
                (-eps.log10()).round()
            ));
        }
    }
    Ok(())
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
