//! Encode, train (from scratch or from the parent's weights) and evaluate on the test set.

use std::time::Instant;

use cairn_data::{DatasetRow, Taxonomy};
use cairn_model::{
    Encoded, Features, Frozen, HeadWeights, Init, Metrics, ModelConfig, Prediction, TrainConfig,
    Weights,
};
use cairn_spec::{EpochRecord, Mode, Recipe};
use cairn_store::{ObjectId, Store, canonical};
use cairn_tokenize::CairnTokenizer;
use serde::Serialize;

use crate::config::backend;
use crate::error::PipelineError;
use crate::event::{Event, Stage};

/// Token ids and targets of dataset rows, in order.
pub(crate) fn encode(
    tokenizer: &CairnTokenizer,
    rows: &[DatasetRow],
) -> Result<Vec<Encoded>, PipelineError> {
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

/// The training configuration a recipe asks for.
pub(crate) fn train_config(recipe: &Recipe) -> Result<TrainConfig, PipelineError> {
    let t = &recipe.train;
    Ok(TrainConfig {
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
        backend: backend(recipe)?,
        trainable_layers: t.trainable_layers.map(|k| k as usize),
        encoder_learning_rate: t.encoder_learning_rate,
        warmup_steps: t.warmup_steps as usize,
    })
}

/// What training produced.
pub(crate) struct TrainOut {
    pub weights: Weights,
    pub weights_id: ObjectId,
    /// The cached frozen-layer features used (train, validation), when layers were frozen.
    pub features: Vec<ObjectId>,
    pub epochs: Vec<EpochRecord>,
    pub steps: Vec<cairn_spec::StepRecord>,
    pub mode: Mode,
    pub seconds: f64,
}

/// Where training starts: the parent's weights, a pretrained encoder's checkpoint, or the
/// seed.
pub(crate) enum Start {
    Parent(Weights),
    Pretrained(Vec<u8>),
    Scratch,
}

impl Start {
    fn init(&self) -> Init<'_> {
        match self {
            Start::Parent(w) => Init::Weights(w),
            Start::Pretrained(bytes) => Init::Pretrained(bytes),
            Start::Scratch => Init::Scratch,
        }
    }
}

/// The frozen bottom's features of `rows` (their dataset object names them), from the cache
/// when an earlier run computed them: an object named in the store's index by (frozen
/// layers' fingerprint, tokenizer, rows, max_length). Returns the features and their object.
fn cached_features(
    store: &Store,
    model: &ModelConfig,
    config: &TrainConfig,
    start: &Start,
    fingerprint: &blake3::Hash,
    (rows_key, rows): (&str, &[Encoded]),
    events: &mut dyn FnMut(Event),
) -> Result<(Vec<Features>, ObjectId), PipelineError> {
    let mut key = blake3::Hasher::new();
    key.update(b"cairn frozen features v1\n");
    key.update(fingerprint.as_bytes());
    key.update(rows_key.as_bytes());
    key.update(&(model.max_length as u64).to_le_bytes());
    for e in rows {
        key.update(&(e.ids.len() as u64).to_le_bytes());
        for id in &e.ids {
            key.update(&id.to_le_bytes());
        }
    }
    let key = key.finalize().to_hex().to_string();
    if let Some(id) = store.index_get("features", &key)
        && let Ok(bytes) = store.read(&id)
        && let Ok(features) = cairn_model::decode_features(&bytes)
        && features.len() == rows.len()
    {
        events(Event::Stage(
            Stage::Train,
            format!("frozen layers: {} cached features ({rows_key})", rows.len()),
        ));
        return Ok((features, id));
    }
    events(Event::Stage(
        Stage::Train,
        format!(
            "frozen layers: computing features of {} rows ({rows_key})",
            rows.len()
        ),
    ));
    let features =
        cairn_model::frozen_features(model, config, start.init(), rows)?.unwrap_or_default();
    let id = store
        .put_bytes(&cairn_model::encode_features(&features))?
        .id;
    store.index_put("features", &key, &id)?;
    Ok((features, id))
}

pub(crate) fn train(
    store: &Store,
    model: &ModelConfig,
    config: &TrainConfig,
    train: &[Encoded],
    validation: &[Encoded],
    start: Start,
    events: &mut dyn FnMut(Event),
) -> Result<TrainOut, PipelineError> {
    let mode = if matches!(start, Start::Parent(_)) {
        Mode::FineTune
    } else {
        Mode::Retrain
    };
    events(Event::Stage(
        Stage::Train,
        format!(
            "{mode}, {} epochs on {} rows ({})",
            config.epochs,
            train.len(),
            config.backend.name()
        ),
    ));
    let started = Instant::now();
    let mut features = Vec::new();
    let frozen = match cairn_model::frozen_fingerprint(model, config, start.init())? {
        Some(fp) => {
            let fp = blake3::hash(&fp);
            let (t, tid) = cached_features(
                store,
                model,
                config,
                &start,
                &fp,
                ("train", train),
                &mut *events,
            )?;
            let (v, vid) = cached_features(
                store,
                model,
                config,
                &start,
                &fp,
                ("validation", validation),
                &mut *events,
            )?;
            features = vec![tid, vid];
            Some((t, v))
        }
        None => None,
    };
    let mut losses: Vec<(u64, f64)> = Vec::new();
    let mut on_batch = |p: cairn_model::Progress| {
        if let Some(loss) = p.loss {
            losses.push((p.epoch as u64, loss));
        }
        events(Event::Batch {
            epoch: p.epoch,
            epochs: p.epochs,
            batch: p.batch,
            batches: p.batches,
            running_loss: p.running_loss,
        });
    };
    let trained = cairn_model::train_with(
        model,
        config,
        train,
        validation,
        start.init(),
        frozen.as_ref().map(|(t, v)| Frozen {
            train: t,
            validation: v,
        }),
        &mut on_batch,
    )?;
    let seconds = started.elapsed().as_secs_f64();
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
    let weights_id = store.put_bytes(&trained.weights.0)?.id;
    Ok(TrainOut {
        weights: trained.weights,
        weights_id,
        features,
        epochs,
        steps: cairn_spec::StepRecord::summarize(&losses),
        mode,
        seconds,
    })
}

#[derive(Serialize)]
struct EvaluationDoc<'a> {
    metrics: &'a Metrics,
    families: &'a [String],
    contexts: &'a [String],
    test_rows: usize,
}

/// The model's predictions and metrics on the test set, and the stored evaluation object.
pub(crate) struct EvaluateOut {
    pub predictions: Vec<Prediction>,
    pub metrics: Metrics,
    pub evaluation: ObjectId,
}

pub(crate) fn evaluate(
    store: &Store,
    model: &ModelConfig,
    config: &TrainConfig,
    weights: &Weights,
    (test, threshold): (&[Encoded], Option<f64>),
    taxonomy: &Taxonomy,
    events: &mut dyn FnMut(Event),
) -> Result<EvaluateOut, PipelineError> {
    events(Event::Stage(
        Stage::Evaluate,
        format!("{} test rows", test.len()),
    ));
    let ids: Vec<Vec<u32>> = test.iter().map(|e| e.ids.clone()).collect();
    let predictions = cairn_model::predict(
        model,
        config.backend,
        weights,
        &ids,
        config.batch_size.max(64),
    )?;
    let metrics = cairn_model::evaluate_at(&predictions, test, threshold.map(|t| t as f32));
    let doc = EvaluationDoc {
        metrics: &metrics,
        families: &taxonomy.families,
        contexts: &taxonomy.contexts,
        test_rows: test.len(),
    };
    let evaluation = store
        .put_bytes(&canonical::to_vec(&doc).map_err(cairn_store::StoreError::from)?)?
        .id;
    Ok(EvaluateOut {
        predictions,
        metrics,
        evaluation,
    })
}
