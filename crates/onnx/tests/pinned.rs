//! Pins the bytes of every output an architecture produces — canonical weights (header JSON
//! and tensors), safetensors, predictions and the ONNX export (graph, initializers and
//! `cairn.model_config` metadata) — for a tiny model of each architecture, so a refactor
//! of how architectures are wired in cannot change them.
//!
//! The models are built from JSON, not Rust constructors, so this test does not depend on
//! how `ModelConfig` is represented in Rust.
//!
//! `untrained` (0 epochs: only the seeded initialization): its weights, safetensors and
//! ONNX hashes involve no float arithmetic beyond the initializer, so they are the same on
//! every machine. `trained` runs two epochs of AdamW with dropout, so its hashes (and every
//! predictions hash) also pin the forward and backward passes; they were recorded on x86-64
//! with the ndarray backend and one thread, and a CPU whose float kernels round
//! differently would need them re-recorded (from the code before any change under test).

use cairn_model::{Backend, Encoded, ModelConfig, TrainConfig, Weights};
use cairn_onnx::{Provenance, export};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 50;

fn examples(n: usize, seed: u64) -> Vec<Encoded> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let label = (i % 2) as u8;
            let len = rng.random_range(0..20);
            let ids = (0..len)
                .map(|_| {
                    if label == 1 && rng.random_bool(0.4) {
                        rng.random_range(30..VOCAB as u32)
                    } else {
                        rng.random_range(1..VOCAB as u32)
                    }
                })
                .collect();
            Encoded {
                ids,
                label,
                family: i % 3,
                severity: (i % 4) as f32 / 3.0,
                context: i % 2,
                weight: if i % 7 == 0 { 2.0 } else { 1.0 },
            }
        })
        .collect()
}

fn model(architecture: &str) -> ModelConfig {
    serde_json::from_str(&format!(
        r#"{{"architecture":{architecture},"vocab_size":{VOCAB},"max_length":12,"families":3,"contexts":2,"dropout":0.2}}"#
    ))
    .expect("model config")
}

fn bag() -> ModelConfig {
    model(r#"{"kind":"bag","embed_dim":6,"hidden":10,"buckets":97}"#)
}

fn transformer() -> ModelConfig {
    model(r#"{"kind":"transformer","d_model":8,"heads":2,"layers":2,"d_ff":12}"#)
}

fn train_config(epochs: usize) -> TrainConfig {
    serde_json::from_str(&format!(
        r#"{{"seed":11,"epochs":{epochs},"batch_size":8,"learning_rate":0.01,"weight_decay":0.001,
            "head_weights":{{"binary":1.0,"family":0.5,"severity":0.25,"context":0.25}},
            "threads":1,"backend":"ndarray"}}"#
    ))
    .expect("train config")
}

fn provenance() -> Provenance {
    Provenance {
        cairn_version: "pinned".into(),
        model: "tiny@0.1.0".into(),
        recipe: "blake3:aa".into(),
        weights: "blake3:bb".into(),
        tokenizer: "blake3:cc".into(),
        families: vec!["f0".into(), "f1".into(), "f2".into()],
        contexts: vec!["c0".into(), "c1".into()],
        threshold: None,
    }
}

fn hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Hashes of (weights, fine-tuned weights, safetensors, predictions, ONNX) and the weights
/// header JSON.
fn outputs(model: &ModelConfig, epochs: usize) -> ([String; 5], String) {
    let data = examples(40, 3);
    let validation = examples(10, 4);
    let cfg = train_config(epochs);
    let trained =
        cairn_model::train(model, &cfg, &data, &validation, None, &mut |_| {}).expect("training");
    let weights: Weights = trained.weights;
    let tuned = cairn_model::train(model, &cfg, &data, &[], Some(&weights), &mut |_| {})
        .expect("fine-tuning");
    let safetensors = cairn_model::safetensors(model, &weights).expect("safetensors");
    let mut ids: Vec<Vec<u32>> = examples(12, 5).into_iter().map(|e| e.ids).collect();
    ids.push(vec![]);
    ids.push((1..40).collect());
    let predictions =
        cairn_model::predict(model, Backend::Ndarray, &weights, &ids, 5).expect("predict");
    let mut predicted = Vec::new();
    for p in &predictions {
        for v in p
            .binary_logits
            .iter()
            .chain(&p.family_logits)
            .chain([&p.severity])
            .chain(&p.context_logits)
        {
            predicted.extend_from_slice(&v.to_le_bytes());
        }
    }
    let onnx = export(model, &weights, &provenance()).expect("export");
    let n = u32::from_le_bytes(weights.0[8..12].try_into().expect("4 bytes")) as usize;
    let header = String::from_utf8(weights.0[12..12 + n].to_vec()).expect("utf-8");
    (
        [
            hex(&weights.0),
            hex(&tuned.weights.0),
            hex(&safetensors),
            hex(&predicted),
            hex(&onnx),
        ],
        header,
    )
}

fn check(model: ModelConfig, epochs: usize, header: &str, expected: [&str; 5]) {
    let (got, got_header) = outputs(&model, epochs);
    assert_eq!(got_header, header);
    // (weights, fine-tuned weights, safetensors, predictions, onnx)
    assert_eq!(got, expected.map(String::from));
}

const BAG_HEADER: &str = r#"{"architecture":{"kind":"bag","embed_dim":6,"hidden":10,"buckets":97},"vocab_size":50,"max_length":12,"families":3,"contexts":2}"#;
const TRANSFORMER_HEADER: &str = r#"{"architecture":{"kind":"transformer","d_model":8,"heads":2,"layers":2,"d_ff":12},"vocab_size":50,"max_length":12,"families":3,"contexts":2}"#;

#[test]
fn bag_untrained() {
    check(
        bag(),
        0,
        BAG_HEADER,
        [
            "0eafa4e34dd6790afdaef5d2267d9753b911088a57746d987e3eb5621f4280c6",
            "0eafa4e34dd6790afdaef5d2267d9753b911088a57746d987e3eb5621f4280c6",
            "f7525c6c8c9f586d185b8f5c46f558e94e15089f59825f6ac5c83a244a73d4e1",
            "79e3c06fa5e98ced20d5619e4ef2aa73d035cef2e5f0c45a645b936236053698",
            "516ce51ffa07d0602bdf264340af90896fce4ae53c930814f3c4fb08cc33b690",
        ],
    );
}

#[test]
fn bag_trained() {
    check(
        bag(),
        2,
        BAG_HEADER,
        [
            "f15ba5ef8695f1a184528c85fa56803ba2b09526f096e4866da5940bfe5fbb58",
            "dab89423791a932f2681cfa8303faa976d153f9189b0e8e97375ecaf89934902",
            "a841f67e40e86da7562646215a6afeb04af19246d44e69b56a3fef7746a809c2",
            "4f2b7addf209a55a727b0d3cb6c854c6cd3787abd9dccb93bda83fe009e5a6fc",
            "8bcc2a181bf346f478216ca85a5ea69b3dc116758442ee55c2da48fc67cde935",
        ],
    );
}

#[test]
fn transformer_untrained() {
    check(
        transformer(),
        0,
        TRANSFORMER_HEADER,
        [
            "c6539dc67faea6bb8c3786633c4774f6a4fdb4a53765fd81d346bb85f095f37a",
            "c6539dc67faea6bb8c3786633c4774f6a4fdb4a53765fd81d346bb85f095f37a",
            "6cd924b333843d37d0e6b36b128f1b20bad27f7473ec763240fcf65fe6bde262",
            "185dfbf8ed8da2978518dc8de58021e961330a2c642f00049b0a11e39f4a3843",
            "81cf24124319fdc1cac68fb7c4c2c50a05bc2262650f2ce2b406dc68e01aa823",
        ],
    );
}

#[test]
fn transformer_trained() {
    check(
        transformer(),
        2,
        TRANSFORMER_HEADER,
        [
            "09715097b0d06fcb25913aca0fbfcd694946c93e1367f3867cc7a3d39381bd88",
            "bc194257dd9852a6a777c783b3e14331433568ca9fa867084761cec0cd564e04",
            "cacf215a1828d9ab5530929a091a625c52e620e22d340017809c69e334a495a3",
            "27bf97a972151949ee6d9fdc2ca5eef7f24fd9846478f5715e7ff39dabd3dc7e",
            "48720827d90b4e0f4b47b2417a80335baf0af6b2d6b7e097ee32fa5c487c6269",
        ],
    );
}
