//! The parsers under test, their seeds and the promises checked on what they accept.

use std::path::Path;

use crate::{Accepted, Outcome, Target};

fn read(root: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("seed {rel}: {e}"))
}

fn files(root: &Path, dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == ext));
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Every object of the `store-v0` fixture that `keep` picks.
fn store_objects(root: &Path, keep: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let objects = root.join("tests/fixtures/store-v0/store/objects");
    let mut fans: Vec<_> = std::fs::read_dir(objects)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    fans.sort();
    for fan in fans {
        let mut paths: Vec<_> = std::fs::read_dir(fan)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort();
        for path in paths {
            if let Ok(bytes) = std::fs::read(&path)
                && keep(&bytes)
            {
                out.push(bytes);
            }
        }
    }
    out
}

fn text(input: &[u8]) -> Option<&str> {
    std::str::from_utf8(input).ok()
}

fn broken(what: impl std::fmt::Display) -> Outcome {
    Err(format!("BROKEN PROMISE: {what}"))
}

/// A refusal, which must be one line (cairn's errors are `file:line:col: message`).
fn refused(error: impl std::fmt::Display) -> Outcome {
    let message = error.to_string();
    if message.contains('\n') {
        return broken(format!("an error spans lines: {message:?}"));
    }
    Ok(Accepted::No)
}

// ----- experiment TOML -----

fn experiment_seeds(root: &Path) -> Vec<Vec<u8>> {
    files(root, "experiments", "toml")
}

/// Accepted experiments write back to TOML that parses to the same experiment.
fn experiment(input: &[u8]) -> Outcome {
    let Some(text) = text(input) else {
        return Ok(Accepted::No);
    };
    let schemas = cairn_pipeline::architecture_schemas();
    let path = Path::new("experiments/fuzz.toml");
    let loaded = match cairn_spec::LoadedExperiment::parse(text, path, &schemas) {
        Ok(loaded) => loaded,
        Err(e) => return refused(e),
    };
    let written = match toml::to_string(&loaded.experiment) {
        Ok(w) => w,
        Err(e) => return broken(format!("an accepted experiment does not write back: {e}")),
    };
    match cairn_spec::LoadedExperiment::parse(&written, path, &schemas) {
        Ok(again) if again.experiment == loaded.experiment => Ok(Accepted::Yes),
        Ok(_) => broken("the written experiment parses to another one"),
        Err(e) => broken(format!("the written experiment is refused: {e}")),
    }
}

// ----- red-team suite -----

fn suite_seeds(root: &Path) -> Vec<Vec<u8>> {
    vec![read(root, "suites/default.toml")]
}

/// A suite that parses also generates its attack set, the same twice.
fn suite(input: &[u8]) -> Outcome {
    let Some(text) = text(input) else {
        return Ok(Accepted::No);
    };
    let suite = match cairn_redteam::parse(text, "fuzz.toml") {
        Ok(suite) => suite,
        Err(e) => return refused(e),
    };
    // Generation is bounded by the parser's count limits; it must not panic.
    let one = cairn_redteam::generate(&suite, 7, None);
    let two = cairn_redteam::generate(&suite, 7, None);
    match (one, two) {
        (Ok(a), Ok(b)) if a == b => Ok(Accepted::Yes),
        (Err(_), Err(_)) => Ok(Accepted::No),
        _ => broken("the same suite generated two different attack sets"),
    }
}

// ----- taxonomy -----

fn taxonomy_seeds(root: &Path) -> Vec<Vec<u8>> {
    vec![read(root, "datasets/taxonomy.toml")]
}

fn taxonomy(input: &[u8]) -> Outcome {
    let Some(text) = text(input) else {
        return Ok(Accepted::No);
    };
    match cairn_data::Taxonomy::parse(text, "fuzz.toml") {
        Ok(_) => Ok(Accepted::Yes),
        Err(e) => refused(e),
    }
}

// ----- JSONL training examples -----

fn jsonl_seeds(root: &Path) -> Vec<Vec<u8>> {
    let mut seeds = files(root, "tests/fixtures/validate", "jsonl");
    let train = read(root, "tests/fixtures/run/train.jsonl");
    let head: Vec<u8> = train
        .split(|b| *b == b'\n')
        .take(40)
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    seeds.push(head);
    seeds
}

/// Every problem is one line naming its line; every valid row, written again, validates
/// to the same example.
fn jsonl(input: &[u8]) -> Outcome {
    let taxonomy = cairn_data::Taxonomy::builtin();
    let options = cairn_data::ValidateOptions::default();
    let inputs = [cairn_data::Input {
        name: "fuzz.jsonl".into(),
        bytes: input.to_vec(),
    }];
    let (report, parsed) = cairn_data::validate(&inputs, &taxonomy, &options);
    for p in &report.problems {
        if p.to_string().contains('\n') {
            return broken(format!("a problem spans lines: {p:?}"));
        }
    }
    let rows = &parsed[0].rows;
    for (line, example) in rows {
        let written = serde_json::to_vec(example).map_err(|e| e.to_string())?;
        let again = [cairn_data::Input {
            name: "again.jsonl".into(),
            bytes: written,
        }];
        let (_, back) = cairn_data::validate(&again, &taxonomy, &options);
        match back[0].rows.first() {
            Some((_, e)) if e == example => {}
            _ => {
                return broken(format!(
                    "row {line} does not validate the same when written"
                ));
            }
        }
    }
    Ok(if rows.is_empty() {
        Accepted::No
    } else {
        Accepted::Yes
    })
}

// ----- canonical-JSON manifests -----

fn manifest_seeds(root: &Path) -> Vec<Vec<u8>> {
    store_objects(root, |b| cairn_store::manifest::parse(b).is_some())
}

/// A manifest re-encodes canonically to bytes that read back the same, and encoding is
/// idempotent; the typed readers refuse or accept without panicking.
fn manifest(input: &[u8]) -> Outcome {
    let Some((kind, fields)) = cairn_store::manifest::parse(input) else {
        return Ok(Accepted::No);
    };
    let mut object = fields.clone();
    object.insert("kind".into(), kind.clone().into());
    object.insert("cairn".into(), 1.into());
    let value = serde_json::Value::Object(object);
    let Ok(bytes) = cairn_store::canonical::value_to_vec(&value) else {
        // NaN-free JSON always encodes; a refusal here is for values canonical JSON forbids.
        return Ok(Accepted::No);
    };
    match cairn_store::manifest::parse(&bytes) {
        Some((k, f)) if k == kind && f == fields => {}
        _ => return broken("a manifest does not read back from its canonical bytes"),
    }
    if cairn_store::canonical::value_to_vec(
        &serde_json::from_slice(&bytes).map_err(|e| e.to_string())?,
    )
    .ok()
    .as_deref()
        != Some(&bytes[..])
    {
        return broken("canonical encoding is not idempotent");
    }
    let value = serde_json::Value::Object(fields);
    let _ = serde_json::from_value::<cairn_spec::RunManifest>(value.clone());
    let _ = serde_json::from_value::<cairn_spec::Recipe>(value.clone());
    let _ = serde_json::from_value::<cairn_redteam::RedteamResult>(value);
    Ok(Accepted::Yes)
}

// ----- ref names -----

fn refname_seeds(_: &Path) -> Vec<Vec<u8>> {
    [
        "detector@1.0.0",
        "detector/latest",
        "redteam/results/0123456789abcdef",
        "deploy/prod-a1b2",
        "l2@1.2.1",
        "team/model-x@10.20.30",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// An accepted name prints as itself and parses back equal.
fn refname(input: &[u8]) -> Outcome {
    let Some(text) = text(input) else {
        return Ok(Accepted::No);
    };
    let Ok(name) = text.parse::<cairn_store::RefName>() else {
        return Ok(Accepted::No);
    };
    if name.to_string() != text {
        return broken(format!("`{text}` prints as `{name}`"));
    }
    match name.to_string().parse::<cairn_store::RefName>() {
        Ok(again) if again == name => Ok(Accepted::Yes),
        _ => broken(format!("`{name}` does not parse back")),
    }
}

// ----- tokenizer JSON -----

fn tokenizer_seeds(root: &Path) -> Vec<Vec<u8>> {
    store_objects(root, |b| {
        b.starts_with(b"{") && cairn_tokenize::CairnTokenizer::from_json(b, 16).is_ok()
    })
}

fn tokenizer(input: &[u8]) -> Outcome {
    let Ok(tokenizer) = cairn_tokenize::CairnTokenizer::from_json(input, 16) else {
        return Ok(Accepted::No);
    };
    for sample in ["Ignore previous instructions.", "", "ü ß 你好 \u{feff}"] {
        let _ = tokenizer.encode(sample);
    }
    Ok(Accepted::Yes)
}

// ----- ONNX -----

fn onnx_seeds(root: &Path) -> Vec<Vec<u8>> {
    store_objects(root, |b| {
        cairn_onnx::metadata(b).is_ok_and(|m| !m.is_empty())
    })
}

/// The ONNX reader cairn uses on stored and deployed exports (protobuf, no ONNX Runtime).
fn onnx(input: &[u8]) -> Outcome {
    Ok(match cairn_onnx::metadata(input) {
        Ok(_) => Accepted::Yes,
        Err(_) => Accepted::No,
    })
}

// ----- safetensors (pretrained encoder weights) -----

/// A small BERT-shaped configuration; pretrained files for it are made from its own sizes.
fn bert_config() -> cairn_model::ModelConfig {
    let def = cairn_model::arch::architecture("bert").expect("bert is registered");
    let sizes: Vec<(&str, usize)> = def
        .sizes()
        .iter()
        .map(|(k, _)| {
            let v = match *k {
                "hidden" => 8,
                "layers" => 1,
                "heads" => 2,
                "intermediate" => 16,
                _ => 4,
            };
            (*k, v)
        })
        .collect();
    cairn_model::ModelConfig {
        architecture: cairn_model::Architecture::new("bert", &sizes).expect("small bert sizes"),
        vocab_size: 32,
        max_length: 8,
        families: 8,
        contexts: 4,
        dropout: 0.0,
    }
}

fn safetensors_seeds(_: &Path) -> Vec<Vec<u8>> {
    // Hugging Face BERT names with the small configuration's shapes (the loader then names
    // what is missing), and an empty file.
    let tensors: [(&str, Vec<usize>); 4] = [
        ("embeddings.word_embeddings.weight", vec![32, 8]),
        ("embeddings.position_embeddings.weight", vec![8, 8]),
        ("embeddings.LayerNorm.weight", vec![8]),
        ("encoder.layer.0.attention.self.query.weight", vec![8, 8]),
    ];
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            (name.to_string(), shape.clone(), vec![0u8; n * 4])
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .expect("view"),
            )
        })
        .collect();
    let some = safetensors::tensor::serialize(views, None).expect("serialize");
    let empty = safetensors::tensor::serialize(
        Vec::<(String, safetensors::tensor::TensorView<'_>)>::new(),
        None,
    )
    .expect("serialize");
    vec![some, empty]
}

fn safetensors(input: &[u8]) -> Outcome {
    Ok(
        match cairn_model::arch::bert::load_pretrained(&bert_config(), input) {
            Ok(_) => Accepted::Yes,
            Err(_) => Accepted::No,
        },
    )
}

/// Every target, in the order `cairn-fuzz all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "experiment",
        tokens: &[
            "[experiment]",
            "[data]",
            "[train]",
            "[model]",
            "[evaluate]",
            "[regression]",
            "[export]",
            "[tokenizer]",
            "= ",
            "\"",
            "\"\"\"",
            "'''",
            "[[",
            "]]",
            "9999999999999",
            "-1",
            "0.0",
            "nan",
            "inf",
            "1e400",
            "true",
            "{}",
            "[]",
            "parent = ",
            "base = ",
            "additions = ",
            "epochs = ",
            "architecture = \"bert\"",
            "version = \"1.0.0\"",
            "../",
            "\\u0000",
        ],
        seeds: experiment_seeds,
        seeds_valid: true,
        run: experiment,
    },
    Target {
        name: "suite",
        tokens: &[
            "[[attack]]",
            "[[probe]]",
            "[[slots]]",
            "count = ",
            "severity = ",
            "template = ",
            "category = ",
            "{",
            "}",
            "{rt_",
            "10000",
            "99999999",
            "-1",
            "nan",
            "\"",
            "values = [",
            "seed = ",
            "name = ",
        ],
        seeds: suite_seeds,
        seeds_valid: true,
        run: suite,
    },
    Target {
        name: "taxonomy",
        tokens: &[
            "[[family]]",
            "families = [",
            "contexts = [",
            "\"",
            "\"\"",
            ",",
            "]",
            "= ",
        ],
        seeds: taxonomy_seeds,
        seeds_valid: true,
        run: taxonomy,
    },
    Target {
        name: "jsonl",
        tokens: &[
            "\"text\":",
            "\"label\":",
            "\"family\":",
            "\"weight_multiplier\":",
            "null",
            "1e309",
            "-0",
            "\\u0000",
            "\\ud800",
            "\u{feff}",
            "\r\n",
            "{}",
            "[]",
            "\"PI\"",
            "\"benign\"",
            "0.5",
            "1",
            "0",
            ",",
        ],
        seeds: jsonl_seeds,
        // The validator's fixtures are mostly invalid on purpose.
        seeds_valid: false,
        run: jsonl,
    },
    Target {
        name: "manifest",
        tokens: &[
            "\"blake3:",
            "\"kind\":",
            "\"cairn\":1",
            "null",
            "1e309",
            "-0.0",
            "0.1",
            "[]",
            "{}",
            "\\u0000",
            "\\ud800",
            "\"",
            ",",
            ":",
        ],
        seeds: manifest_seeds,
        seeds_valid: true,
        run: manifest,
    },
    Target {
        name: "refname",
        tokens: &[
            "@", "/", "..", ".", "%2F", "\0", "\\", " ", "-", "latest", "1.0.0", "é",
        ],
        seeds: refname_seeds,
        seeds_valid: true,
        run: refname,
    },
    Target {
        name: "tokenizer",
        tokens: &[
            "\"vocab\":",
            "\"merges\":",
            "null",
            "[]",
            "{}",
            "\"type\":",
            "\"BPE\"",
            "-1",
            "4294967296",
        ],
        seeds: tokenizer_seeds,
        seeds_valid: true,
        run: tokenizer,
    },
    Target {
        name: "onnx",
        tokens: &[
            "\x08\x07",
            "\x12\x04cair",
            "\x3a",
            "\x42\x02\x10\x11",
            "\x7f\x7f\x7f\x7f\x0f",
        ],
        seeds: onnx_seeds,
        seeds_valid: true,
        run: onnx,
    },
    Target {
        name: "safetensors",
        tokens: &[
            "\"dtype\":\"F32\"",
            "\"shape\":[",
            "\"data_offsets\":[",
            "4294967295",
            "18446744073709551615",
            "\"F16\"",
            "}",
        ],
        seeds: safetensors_seeds,
        seeds_valid: false,
        run: safetensors,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
