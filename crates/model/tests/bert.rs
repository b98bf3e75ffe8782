//! The `bert` architecture: the pretrained loader against reference numbers, freezing, and
//! determinism on a tiny model.

mod common;

use cairn_model::{
    Architecture, Encoded, Features, Frozen, Init, ModelConfig, NamedTensor, frozen_features,
    frozen_fingerprint, tensors, train_from, train_with,
};
use common::{encoder_dir, synthetic, tiny_bert, train_config};

fn minilm(max_length: usize) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::with_defaults("bert").expect("bert"),
        vocab_size: 30522,
        max_length,
        families: 8,
        contexts: 6,
        dropout: 0.1,
    }
}

fn example(ids: Vec<u32>) -> Encoded {
    Encoded {
        ids,
        label: 0,
        family: 0,
        severity: 0.0,
        context: 0,
        weight: 1.0,
    }
}

/// Mean-pooled embeddings of all-MiniLM-L6-v2 match Hugging Face transformers' within 1e-5,
/// one text at a time and padded together in one batch.
#[test]
fn minilm_embeddings_match_the_reference_implementation() {
    let dir = encoder_dir();
    let weights = std::fs::read(dir.join("model.safetensors")).expect("model.safetensors");
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm-reference.json"))
            .expect("reference json");
    let rows = reference["texts"].as_array().expect("texts");
    let data: Vec<Encoded> = rows
        .iter()
        .map(|r| {
            example(
                r["ids"]
                    .as_array()
                    .expect("ids")
                    .iter()
                    .map(|v| v.as_u64().expect("id") as u32)
                    .collect(),
            )
        })
        .collect();
    let model = minilm(128);
    for batch_size in [1, 4] {
        let mut cfg = train_config(0, 1);
        cfg.batch_size = batch_size;
        cfg.trainable_layers = Some(0);
        let features = frozen_features(&model, &cfg, Init::Pretrained(&weights), &data)
            .expect("features")
            .expect("frozen");
        assert_eq!(features.len(), rows.len());
        for (f, r) in features.iter().zip(rows) {
            let want: Vec<f32> = r["pooled"]
                .as_array()
                .expect("pooled")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect();
            assert_eq!(f.rows, 1);
            assert_eq!(f.values.len(), 384);
            let worst = f
                .values
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-5,
                "batch {batch_size}, `{}`: max |diff| {worst}",
                r["text"]
            );
        }
    }
}

#[test]
fn pretrained_checkpoints_are_checked_by_name_shape_and_dtype() {
    let model = tiny_bert();
    let e = frozen_features(
        &model,
        &{
            let mut c = train_config(0, 1);
            c.trainable_layers = Some(0);
            c
        },
        Init::Pretrained(b"not safetensors"),
        &synthetic(4, 1),
    )
    .expect_err("garbage");
    assert!(e.to_string().contains("not a safetensors file"), "{e}");
}

fn frozen_part(tensors: &[NamedTensor], layer_below: usize) -> Vec<NamedTensor> {
    tensors
        .iter()
        .filter(|t| {
            t.name.starts_with("bert.")
                && t.name.strip_prefix("bert.layers.").is_none_or(|rest| {
                    rest.split('.').next().and_then(|i| i.parse::<usize>().ok()) < Some(layer_below)
                })
        })
        .cloned()
        .collect()
}

/// Training the top layer only leaves the embeddings and the bottom layer bit-identical, and
/// features given by the caller (a cache) give the same weights as features computed inside.
#[test]
fn frozen_layers_stay_put_and_cached_features_change_nothing() {
    let model = tiny_bert();
    let data = synthetic(96, 3);
    let validation = synthetic(24, 4);
    let base = train_from(
        &model,
        &train_config(7, 2),
        &data,
        &validation,
        Init::Scratch,
        &mut |_| {},
    )
    .expect("from scratch");
    let mut cfg = train_config(8, 2);
    cfg.trainable_layers = Some(1);
    cfg.encoder_learning_rate = Some(1e-3);
    cfg.warmup_steps = 3;
    let tuned = train_from(
        &model,
        &cfg,
        &data,
        &validation,
        Init::Weights(&base.weights),
        &mut |_| {},
    )
    .expect("top layer");
    let before = tensors(&model, &base.weights).expect("tensors");
    let after = tensors(&model, &tuned.weights).expect("tensors");
    let to_named = |v: Vec<(String, Vec<usize>, Vec<f32>)>| -> Vec<NamedTensor> {
        v.into_iter()
            .map(|(name, shape, values)| NamedTensor {
                name,
                shape,
                values,
            })
            .collect()
    };
    let (before, after) = (to_named(before), to_named(after));
    assert_eq!(frozen_part(&before, 1), frozen_part(&after, 1));
    let top = |t: &[NamedTensor]| -> Vec<NamedTensor> {
        t.iter()
            .filter(|t| t.name.starts_with("bert.layers.1."))
            .cloned()
            .collect()
    };
    assert_ne!(top(&before), top(&after), "the top layer trains");

    let init = Init::Weights(&base.weights);
    let train_features: Vec<Features> = frozen_features(&model, &cfg, init, &data)
        .expect("features")
        .expect("frozen");
    let validation_features = frozen_features(&model, &cfg, init, &validation)
        .expect("features")
        .expect("frozen");
    let cached = train_with(
        &model,
        &cfg,
        &data,
        &validation,
        init,
        Some(Frozen {
            train: &train_features,
            validation: &validation_features,
        }),
        &mut |_| {},
    )
    .expect("with cached features");
    assert_eq!(cached.weights, tuned.weights);

    // Same frozen bottom, same fingerprint; another bottom, another one.
    let a = frozen_fingerprint(&model, &cfg, init)
        .expect("fp")
        .expect("frozen");
    let b = frozen_fingerprint(&model, &cfg, Init::Weights(&tuned.weights))
        .expect("fp")
        .expect("frozen");
    assert_eq!(
        a, b,
        "training the top layer keeps the bottom's fingerprint"
    );
    let mut all = cfg.clone();
    all.trainable_layers = Some(0);
    let c = frozen_fingerprint(&model, &all, init)
        .expect("fp")
        .expect("frozen");
    assert_ne!(a, c);
}

#[test]
fn freezing_is_refused_where_it_cannot_work() {
    let data = synthetic(16, 1);
    let mut cfg = train_config(1, 1);
    cfg.trainable_layers = Some(0);
    let e = train_from(&tiny_bert(), &cfg, &data, &[], Init::Scratch, &mut |_| {})
        .expect_err("nothing to start from");
    assert!(e.to_string().contains("never trained"), "{e}");
    let e = train_from(&common::bag(), &cfg, &data, &[], Init::Scratch, &mut |_| {})
        .expect_err("bag has no layers");
    assert!(e.to_string().contains("no layers to freeze"), "{e}");
}

/// Same inputs, same bytes; the whole model trains from scratch too.
#[test]
fn tiny_bert_trains_deterministically() {
    let model = tiny_bert();
    let data = synthetic(64, 5);
    let cfg = train_config(3, 2);
    let a = train_from(&model, &cfg, &data, &[], Init::Scratch, &mut |_| {}).expect("a");
    let b = train_from(&model, &cfg, &data, &[], Init::Scratch, &mut |_| {}).expect("b");
    assert_eq!(a.weights, b.weights);
    assert!(a.epochs[1].train_loss < a.epochs[0].train_loss * 1.5);
}
