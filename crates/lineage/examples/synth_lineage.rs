//! Builds a synthetic store for `just bench lineage`: 100 generations of one model, each a
//! fine-tune of the one before, with 100k-row training sets (the first and last differ by
//! 1,000 rows). Usage: `synth_lineage <store>`.

use std::collections::BTreeMap;

use cairn_data::{
    DatasetManifest, DatasetRow, DatasetStats, Example, InputRecord, MergeCounts, MergeParams,
    rows_to_jsonl,
};
use cairn_spec::{
    DataRecipe, Environment, EpochRecord, ExportRecipe, ModelRecipe, NamedObject, Outputs, Recipe,
    RegressionRecipe, RunManifest, TokenizerRecipe, TrainSection, VersionRef,
};
use cairn_store::{Expect, Store};

const ROWS: usize = 100_000;
const GENERATIONS: usize = 100;

fn row(i: usize, variant: usize) -> DatasetRow {
    let attack = i % 2 == 1;
    let family = if attack { "PI" } else { "benign" };
    DatasetRow {
        example: Example {
            text: format!("synthetic example {i} variant {variant} with a few words of padding"),
            label: u8::from(attack),
            family: family.into(),
            // The built-in taxonomy's indices (datasets/taxonomy.toml): PI = 4, benign = 7.
            family_idx: if attack { 4 } else { 7 },
            severity_score: if attack { 0.7 } else { 0.0 },
            context: "conversational".into(),
            context_idx: 1,
            weight_multiplier: 1.0,
            confidence: 1.0,
            source: "synthetic".into(),
            sub_category: None,
            rule_id: None,
            notes: None,
        },
        weight: 1.0,
        origin: "synthetic.jsonl".into(),
    }
}

fn dataset(
    store: &Store,
    changed: usize,
) -> Result<cairn_store::ObjectId, Box<dyn std::error::Error>> {
    let mut rows: Vec<DatasetRow> = (0..ROWS)
        .map(|i| row(i, usize::from(i < changed)))
        .collect();
    rows.sort_by_cached_key(DatasetRow::key);
    let train = store.put_bytes(&rows_to_jsonl(&rows)?)?.id;
    let taxonomy = store.put_bytes(cairn_spec::BUILTIN_TAXONOMY)?.id;
    let manifest = DatasetManifest {
        train,
        train_rows: ROWS as u64,
        validation: None,
        validation_rows: 0,
        stats: DatasetStats::of(&rows),
        counts: MergeCounts::default(),
        inputs: vec![InputRecord {
            role: "base".into(),
            name: "synthetic.jsonl".into(),
            object: train,
            rows: ROWS as u64,
        }],
        params: MergeParams::default(),
        taxonomy,
    };
    Ok(store.put_manifest(&manifest)?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: synth_lineage <store>")?;
    let store = Store::open_or_init(root)?;
    let first = dataset(&store, 0)?;
    let last = dataset(&store, 1_000)?;
    let blob = |s: &str| store.put_bytes(s.as_bytes()).map(|p| p.id);
    let input = NamedObject {
        name: "synthetic.jsonl".into(),
        object: blob("input")?,
        size: 5,
    };
    let taxonomy = NamedObject {
        name: "<built-in taxonomy>".into(),
        object: store.put_bytes(cairn_spec::BUILTIN_TAXONOMY)?.id,
        size: 0,
    };
    let mut parent: Option<VersionRef> = None;
    for g in 0..GENERATIONS {
        let version = format!("0.0.{g}");
        let recipe = Recipe {
            name: "synth".into(),
            version: version.clone(),
            description: String::new(),
            changes: vec![format!("generation {g}")],
            data: DataRecipe {
                base: vec![input.clone()],
                additions: Vec::new(),
                test: input.clone(),
                new_data_boost: 1.0,
                base_sample: None,
                validation_split: 0.0,
                seed: g as u64,
                taxonomy: taxonomy.clone(),
                max_text_chars: 8192,
                min_train_rows: cairn_spec::DEFAULT_MIN_ROWS,
                min_test_rows: cairn_spec::DEFAULT_MIN_ROWS,
            },
            tokenizer: TokenizerRecipe {
                vocab_size: 4000,
                min_frequency: 2,
                max_length: 96,
                file: None,
            },
            model: ModelRecipe {
                architecture: "bag".into(),
                sizes: BTreeMap::new(),
                dropout: 0.1,
                parent: parent.clone(),
                pretrained: None,
            },
            train: TrainSection {
                learning_rate: 0.001 + g as f64 * 1e-5,
                ..TrainSection::default()
            },
            regression: RegressionRecipe {
                baseline: None,
                extra_sets: Vec::new(),
                reject_rate: 0.05,
                caution_rate: 0.02,
            },
            evaluate: Default::default(),
            export: ExportRecipe::default(),
            environment: Environment {
                cairn_version: "synthetic".into(),
                backend: "ndarray".into(),
                device: "cpu".into(),
                threads: 1,
            },
            cause: None,
        };
        let recipe_id = store.put_manifest(&recipe)?;
        let run = RunManifest {
            recipe: recipe_id,
            name: "synth".into(),
            version: version.clone(),
            mode: if parent.is_some() {
                cairn_spec::Mode::FineTune
            } else {
                cairn_spec::Mode::Retrain
            },
            parent: parent.as_ref().map(|p| p.run),
            outputs: Outputs {
                features: Vec::new(),
                dataset: if g + 1 == GENERATIONS { last } else { first },
                tokenizer: blob("tokenizer")?,
                weights: blob(&format!("weights {g}"))?,
                evaluation: blob("{}")?,
                onnx: None,
                report: None,
                report_markdown: None,
            },
            metrics: [("f1".to_string(), 0.5 + g as f64 / 400.0)]
                .into_iter()
                .collect(),
            epochs: vec![EpochRecord {
                epoch: 1,
                train_loss: 1.0,
                validation_loss: None,
                validation_accuracy: None,
            }],
            environment: recipe.environment.clone(),
            status: cairn_spec::RunState::Registered,
            decision: cairn_spec::Decision::Accept,
            forced: false,
            threshold: None,
            started: format!("2026-01-01T00:{:02}:{:02}Z", g / 60, g % 60),
            duration_ms: 1,
            train_examples_per_second: 0.0,
            reproducibility: None,
            hardware: None,
            steps: Vec::new(),
            onnx_parity: None,
        };
        let run_id = store.put_manifest(&run)?;
        let name = cairn_store::RefName::versioned("synth", &version)?;
        store.set_ref(&name, run_id, Expect::Any)?;
        parent = Some(VersionRef {
            name: name.to_string(),
            run: run_id,
        });
    }
    println!("wrote {GENERATIONS} generations with {ROWS}-row training sets");
    Ok(())
}
