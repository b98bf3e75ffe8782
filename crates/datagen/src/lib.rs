//! cairn-datagen: a deterministic generator of synthetic training and test
//! data for cairn's prompt-injection / jailbreak detector.
//!
//! Every row comes from a hand-written template of `datasets/templates/*.toml`
//! (see [`templates`]; [`families`] groups them per family) whose
//! `{slot}` placeholders are filled from per-slot vocabularies, then passed
//! through surface noise ([`noise`]) and, sometimes, a container
//! ([`wrappers`]). One seed fully determines every file:
//! [`generate`] builds them in memory, [`write_all`] writes them.
//!
//! Guarantees (checked by the tests): label 0 iff family `benign`; no two
//! rows of the whole data set share a normalized text, except a handful of
//! deliberate same-label copies between `base/` and
//! `additions/confirmed_detections.jsonl`; in particular the test file shares
//! no normalized text with any training file.

pub mod encode;
pub mod families;
pub mod noise;
pub mod rng;
pub mod taxonomy;
pub mod template;
pub mod templates;
pub mod wrappers;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::path::Path;

pub use cairn_data::Example;

use crate::families::Spec;
use crate::rng::Gen;
use crate::template::{Split, Vocab};
use crate::wrappers::Containers;

/// The default seed of the committed data.
pub const DEFAULT_SEED: u64 = 20261123;
/// Longest text a row may have, in characters.
pub const MAX_CHARS: usize = 2000;

/// Every output file's rows, keyed by path relative to the data directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Datasets {
    pub files: BTreeMap<String, Vec<Example>>,
}

/// What [`write_all`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub files: Vec<FileSummary>,
}

/// One written file: its rows, size and rows per family.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSummary {
    pub path: String,
    pub rows: usize,
    pub bytes: usize,
    pub per_family: BTreeMap<String, usize>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut total = 0;
        for file in &self.files {
            total += file.rows;
            let fams: Vec<String> = file
                .per_family
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(
                f,
                "{:<48} {:>6} rows {:>9} bytes  {}",
                file.path,
                file.rows,
                file.bytes,
                fams.join(" ")
            )?;
        }
        write!(f, "total: {total} rows in {} files", self.files.len())
    }
}

/// Unicode lowercase, whitespace runs collapsed to one space, trimmed.
pub fn normalize(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Serializes rows as JSONL (one object per line, `\n` endings).
pub fn to_jsonl(rows: &[Example]) -> String {
    let mut out = String::new();
    for row in rows {
        // Serializing a plain struct of strings and numbers cannot fail.
        if let Ok(line) = serde_json::to_string(row) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// How the rows of one output file are made.
struct FileParams {
    split: Split,
    source: &'static str,
    weight: f64,
    confidence: (f64, f64),
    wrap_p: f64,
    /// Which containers wrap a row (drawn with probability `wrap_p`).
    containers: Containers,
    /// Whether the shared openers and closers ("Hi!", "Thanks.") may frame a row.
    openers: bool,
    rule_prefix: Option<&'static str>,
    notes: Option<&'static str>,
}

/// Generates up to `count` rows of `spec` not yet in `seen`.
fn gen_rows(
    spec: &Spec,
    count: usize,
    p: &FileParams,
    seen: &mut BTreeSet<String>,
    g: &mut Gen,
) -> Vec<Example> {
    let vocab = Vocab::new(families::all_tables());
    let weights: Vec<u32> = spec.subs.iter().map(|s| s.weight).collect();
    let mut rows = Vec::with_capacity(count);
    let mut attempts = 0;
    while rows.len() < count && attempts < count * 80 {
        attempts += 1;
        let sub = &spec.subs[g.weighted(&weights)];
        let tpl = g.pick(sub.templates(p.split));
        let mut text = vocab.fill(tpl, p.split, g);
        if sub.noise {
            text = noise::apply(&text, g);
        }
        if p.openers && g.chance(0.2) {
            text = format!("{} {}", vocab.fill("{opener}", p.split, g), text);
        }
        if p.openers && g.chance(0.15) {
            text = format!("{} {}", text, vocab.fill("{closer}", p.split, g));
        }
        if sub.wrap && g.chance(p.wrap_p) {
            text = wrappers::wrap(&text, p.containers, g);
        }
        let text = text.trim().to_string();
        if text.is_empty() || text.chars().count() > MAX_CHARS {
            continue;
        }
        let norm = normalize(&text);
        if seen.contains(&norm) {
            continue;
        }
        seen.insert(norm);
        let severity = if spec.is_benign() {
            0.0
        } else {
            round2((sub.severity + (g.unit() - 0.5) * 0.1).clamp(0.05, 1.0))
        };
        let (context, context_idx) = families::context(&sub.context);
        let (lo, hi) = p.confidence;
        let confidence = round2(lo + g.unit() * (hi - lo));
        rows.push(Example {
            text,
            label: u8::from(!spec.is_benign()),
            family: spec.family.to_string(),
            family_idx: spec.family_idx,
            severity_score: severity,
            context: context.to_string(),
            context_idx,
            weight_multiplier: p.weight,
            confidence,
            source: p.source.to_string(),
            sub_category: Some(sub.name.clone()),
            rule_id: p
                .rule_prefix
                .map(|pre| format!("{pre}-{}-{:03}", spec.family, g.int(1, 240))),
            notes: p.notes.map(str::to_string),
        });
    }
    rows
}

/// Base rows per family.
pub const BASE_BENIGN: usize = 10_000;
pub const BASE_ATTACK: usize = 1_450;
/// Held-out rows per family.
pub const TEST_BENIGN: usize = 1_240;
pub const TEST_ATTACK: usize = 180;
/// Additions.
pub const PROD_FP_ROWS: usize = 400;
pub const RESEARCH_ROWS: usize = 400;
pub const CONFIRMED_ROWS: usize = 300;
/// Rows of `transfer.jsonl` (styles held out of training entirely).
pub const TRANSFER_ROWS: usize = 980;
/// Rows of `confirmed_detections.jsonl` copied from `base/` on purpose.
pub const CONFIRMED_DUPLICATES: usize = 10;

/// `total` rows spread as evenly as possible over `specs` (the first ones get the
/// remainder), spec `i` drawing from its own stream `first_stream + i`.
fn spread(
    specs: &[Spec],
    total: usize,
    params: &FileParams,
    (seed, first_stream): (u64, u64),
    seen: &mut BTreeSet<String>,
) -> Vec<Example> {
    let mut rows = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let share = total / specs.len() + usize::from(i < total % specs.len());
        let mut g = Gen::new(seed, first_stream + i as u64);
        rows.extend(gen_rows(spec, share, params, seen, &mut g));
    }
    rows
}

/// Builds every output file in memory.
pub fn generate(seed: u64) -> Datasets {
    let mut files = BTreeMap::new();
    let mut seen = BTreeSet::new();

    let base = FileParams {
        split: Split::Train,
        source: "generator:base",
        weight: 1.0,
        confidence: (0.9, 1.0),
        wrap_p: 0.12,
        containers: Containers::Train,
        openers: true,
        rule_prefix: None,
        notes: None,
    };
    let mut base_attacks: Vec<Example> = Vec::new();
    for spec in families::base_specs() {
        let count = if spec.is_benign() {
            BASE_BENIGN
        } else {
            BASE_ATTACK
        };
        let mut g = Gen::new(seed, 1 + u64::from(spec.stream));
        let rows = gen_rows(&spec, count, &base, &mut seen, &mut g);
        if !spec.is_benign() {
            base_attacks.extend(rows.iter().cloned());
        }
        if spec.is_benign() {
            // Benign is half the data: it is split in four files by kind so
            // that no file grows far past ~1.5 MB.
            for row in rows {
                let rel = families::benign_base_file(row.sub_category.as_deref().unwrap_or(""));
                files
                    .entry(rel.to_string())
                    .or_insert_with(Vec::new)
                    .push(row);
            }
        } else {
            files.insert(format!("base/{}.jsonl", spec.family), rows);
        }
    }

    let test = FileParams {
        split: Split::Test,
        source: "generator:test",
        containers: Containers::Test,
        ..base
    };
    let mut test_rows = Vec::new();
    for spec in families::base_specs() {
        let count = if spec.is_benign() {
            TEST_BENIGN
        } else {
            TEST_ATTACK
        };
        let mut g = Gen::new(seed, 101 + u64::from(spec.stream));
        test_rows.extend(gen_rows(&spec, count, &test, &mut seen, &mut g));
    }
    files.insert("test.jsonl".to_string(), test_rows);

    let fp = FileParams {
        split: Split::Train,
        source: "production_fp",
        weight: 2.0,
        confidence: (0.95, 1.0),
        wrap_p: 0.2,
        containers: Containers::Train,
        openers: true,
        rule_prefix: Some("prod-filter"),
        notes: Some("flagged by the production filter; reviewed as benign"),
    };
    let mut g = Gen::new(seed, 201);
    let fp_rows = gen_rows(
        &families::production_fp_spec(),
        PROD_FP_ROWS,
        &fp,
        &mut seen,
        &mut g,
    );
    files.insert(
        "additions/production_false_positives.jsonl".to_string(),
        fp_rows,
    );

    let research = FileParams {
        split: Split::Train,
        source: "research",
        weight: 3.0,
        confidence: (0.9, 1.0),
        wrap_p: 0.1,
        containers: Containers::Train,
        openers: true,
        rule_prefix: None,
        notes: None,
    };
    let research_rows = spread(
        &families::research_specs(),
        RESEARCH_ROWS,
        &research,
        (seed, 301),
        &mut seen,
    );
    files.insert(
        "additions/research_attacks.jsonl".to_string(),
        research_rows,
    );

    let confirmed = FileParams {
        split: Split::Train,
        source: "confirmed_detection",
        weight: 1.5,
        confidence: (0.95, 1.0),
        wrap_p: 0.15,
        containers: Containers::Train,
        openers: true,
        rule_prefix: Some("prod-detector"),
        notes: None,
    };
    let mut confirmed_rows = spread(
        &families::confirmed_specs(),
        CONFIRMED_ROWS - CONFIRMED_DUPLICATES,
        &confirmed,
        (seed, 401),
        &mut seen,
    );
    // A few detections that are exact copies of base rows (same label), so
    // that downstream dedup has something to find.
    let mut g = Gen::new(seed, 499);
    let step = (base_attacks.len() / CONFIRMED_DUPLICATES).max(1);
    for k in 0..CONFIRMED_DUPLICATES.min(base_attacks.len()) {
        let idx = (k * step + g.below(step)).min(base_attacks.len() - 1);
        let mut row = base_attacks[idx].clone();
        row.source = "confirmed_detection".to_string();
        row.weight_multiplier = 1.5;
        row.confidence = round2(0.95 + g.unit() * 0.05);
        row.rule_id = Some(format!("prod-detector-{}-{:03}", row.family, g.int(1, 240)));
        row.notes = Some("same text as a generator:base row (dedup check)".to_string());
        let at = g.below(confirmed_rows.len() + 1);
        confirmed_rows.insert(at, row);
    }
    files.insert(
        "additions/confirmed_detections.jsonl".to_string(),
        confirmed_rows,
    );

    // Last, so no other file changes: styles, fills and containers that no other file
    // uses, and none of the shared openers and closers.
    let transfer = FileParams {
        split: Split::Test,
        source: "generator:transfer",
        weight: 1.0,
        confidence: (0.9, 1.0),
        wrap_p: 0.25,
        containers: Containers::Transfer,
        openers: false,
        rule_prefix: None,
        notes: None,
    };
    let transfer_rows = spread(
        &families::transfer_specs(),
        TRANSFER_ROWS,
        &transfer,
        (seed, 601),
        &mut seen,
    );
    files.insert("transfer.jsonl".to_string(), transfer_rows);

    Datasets { files }
}

/// Writes every file of `generate(seed)` under `out_dir` (folders created,
/// each file written to a temporary name and renamed into place).
pub fn write_all(out_dir: &Path, seed: u64) -> std::io::Result<Summary> {
    let data = generate(seed);
    let mut files = Vec::new();
    for (rel, rows) in &data.files {
        let path = out_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let body = to_jsonl(rows);
        let tmp = path.with_extension("jsonl.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        let mut per_family = BTreeMap::new();
        for row in rows {
            *per_family.entry(row.family.clone()).or_insert(0) += 1;
        }
        files.push(FileSummary {
            path: rel.clone(),
            rows: rows.len(),
            bytes: body.len(),
            per_family,
        });
    }
    Ok(Summary { files })
}
