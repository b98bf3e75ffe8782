//! Every architecture's export, run by ONNX Runtime, computes what the burn model computes.

use cairn_model::{Architecture, Backend, Encoded, HeadWeights, ModelConfig, TrainConfig, Weights};
use cairn_onnx::{OnnxModel, Provenance, deviation, export, metadata};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 300;

fn examples(n: usize, seed: u64) -> Vec<Encoded> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let len = rng.random_range(0..40);
            let label = (i % 2) as u8;
            // Attacks use the upper half of the vocabulary more often: something to learn.
            let ids = (0..len)
                .map(|_| {
                    if label == 1 && rng.random_bool(0.5) {
                        rng.random_range(150..VOCAB as u32)
                    } else {
                        rng.random_range(2..VOCAB as u32)
                    }
                })
                .collect();
            Encoded {
                ids,
                label,
                family: i % 3,
                severity: (i % 5) as f32 / 4.0,
                context: i % 2,
                weight: 1.0,
            }
        })
        .collect()
}

fn trained(architecture: Architecture) -> (ModelConfig, Weights) {
    let model = ModelConfig {
        architecture,
        vocab_size: VOCAB,
        max_length: 32,
        families: 3,
        contexts: 2,
        dropout: 0.1,
    };
    let config = TrainConfig {
        seed: 7,
        epochs: 2,
        batch_size: 16,
        learning_rate: 3e-3,
        weight_decay: 0.0,
        head_weights: HeadWeights {
            binary: 1.0,
            family: 0.5,
            severity: 0.5,
            context: 0.5,
        },
        threads: 1,
        backend: Backend::Ndarray,
        trainable_layers: None,
        encoder_learning_rate: None,
        warmup_steps: 0,
    };
    let data = examples(160, 1);
    let trained =
        cairn_model::train(&model, &config, &data, &[], None, &mut |_| {}).expect("training");
    (model, trained.weights)
}

fn provenance() -> Provenance {
    Provenance {
        cairn_version: "test".into(),
        model: "tiny@1.0.0".into(),
        recipe: "blake3:00".into(),
        weights: "blake3:11".into(),
        tokenizer: "blake3:22".into(),
        families: vec!["a".into(), "b".into(), "c".into()],
        contexts: vec!["x".into(), "y".into()],
        threshold: None,
    }
}

fn check(architecture: Architecture) {
    let (model, weights) = trained(architecture);
    let onnx = export(&model, &weights, &provenance()).expect("export");
    assert_eq!(
        onnx,
        export(&model, &weights, &provenance()).expect("export"),
        "the export is deterministic"
    );
    // Sequences longer than max_length, empty ones, and a batch with mixed lengths.
    let mut ids: Vec<Vec<u32>> = examples(90, 2).into_iter().map(|e| e.ids).collect();
    ids.push(vec![]);
    ids.push((2..60).collect());
    ids.push(vec![5]);
    let burn = cairn_model::predict(&model, Backend::Ndarray, &weights, &ids, 16).expect("burn");
    let mut session = OnnxModel::load(&onnx, 1).expect("onnxruntime loads the export");
    for batch in [1, 7, 64] {
        let ort = session
            .predict_all(&ids, batch)
            .expect("onnxruntime runs it");
        let d = deviation(&burn, &ort);
        assert!(d.max() < 1e-5, "batch {batch}: {d:?}");
        assert_eq!(d.binary_disagreements, 0);
    }
    let props = metadata(&onnx).expect("metadata");
    let get = |k: &str| {
        props
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("cairn.model").as_deref(), Some("tiny@1.0.0"));
    assert_eq!(get("cairn.families").as_deref(), Some(r#"["a","b","c"]"#));
    assert_eq!(get("cairn.tokenizer").as_deref(), Some("blake3:22"));
}

#[test]
fn bag_export_matches_burn() {
    check(
        Architecture::new(
            "bag",
            &[("embed_dim", 16), ("hidden", 24), ("buckets", 4096)],
        )
        .expect("architecture"),
    );
}

#[test]
fn transformer_export_matches_burn() {
    check(
        Architecture::new(
            "transformer",
            &[("d_model", 16), ("heads", 2), ("layers", 2), ("d_ff", 32)],
        )
        .expect("architecture"),
    );
}

#[test]
fn different_weights_are_caught() {
    let (model, weights) = trained(
        Architecture::new("bag", &[("embed_dim", 8), ("hidden", 8), ("buckets", 1024)])
            .expect("architecture"),
    );
    let onnx = export(&model, &weights, &provenance()).expect("export");
    let ids: Vec<Vec<u32>> = examples(20, 3).into_iter().map(|e| e.ids).collect();
    let burn = cairn_model::predict(&model, Backend::Ndarray, &weights, &ids, 16).expect("burn");
    let mut session = OnnxModel::load(&onnx, 1).expect("load");
    let mut ort = session.predict_all(&ids, 8).expect("run");
    ort[3].binary_logits[1] += 0.5;
    let d = deviation(&burn, &ort);
    assert!(d.binary_logits >= 0.49, "{d:?}");
    ort[5].severity = f32::NAN;
    assert!(
        deviation(&burn, &ort).max().is_infinite(),
        "NaN is never within tolerance"
    );
}
