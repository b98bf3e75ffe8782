//! Properties of the generated data and of the committed copy in datasets/.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use cairn_datagen::encode::{base64_decode, hex_decode};
use cairn_datagen::taxonomy::taxonomy;
use cairn_datagen::template::{Split, placeholders};
use cairn_datagen::{DEFAULT_SEED, Datasets, families, generate, normalize, to_jsonl, write_all};

fn data() -> &'static Datasets {
    static DATA: OnceLock<Datasets> = OnceLock::new();
    DATA.get_or_init(|| generate(DEFAULT_SEED))
}

fn datasets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

fn is_test(path: &str) -> bool {
    path == "test.jsonl"
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(&generate(DEFAULT_SEED), data());
    assert_ne!(generate(7).files, data().files, "seed must matter");
}

#[test]
fn write_all_is_byte_identical_across_runs() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let sa = write_all(a.path(), DEFAULT_SEED).expect("write a");
    let sb = write_all(b.path(), DEFAULT_SEED).expect("write b");
    assert_eq!(sa, sb);
    for f in &sa.files {
        let x = std::fs::read(a.path().join(&f.path)).expect("read a");
        let y = std::fs::read(b.path().join(&f.path)).expect("read b");
        assert_eq!(x, y, "{} differs", f.path);
        assert_eq!(x.len(), f.bytes);
        assert!(!a.path().join(format!("{}.tmp", f.path)).exists());
    }
}

#[test]
fn family_counts_and_mix() {
    let mut per_family: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for (path, rows) in &data().files {
        if path.starts_with("base/") {
            total += rows.len();
            for r in rows {
                *per_family.entry(r.family.as_str()).or_default() += 1;
                assert_eq!(r.source, "generator:base");
                assert_eq!(r.weight_multiplier, 1.0);
                assert!((0.9..=1.0).contains(&r.confidence));
            }
        }
    }
    assert!(total >= 20_000, "only {total} base rows");
    for fam in &taxonomy().families {
        let n = per_family.get(fam.as_str()).copied().unwrap_or(0);
        assert!(n >= 1_200, "{fam} has only {n} base rows");
    }
    let benign = per_family["benign"] as f64 / total as f64;
    assert!((0.45..=0.5).contains(&benign), "benign share {benign}");
    let hard = data().files["base/benign_hard_negatives.jsonl"].len();
    assert!(hard >= 3_000, "only {hard} hard negatives");

    let test = &data().files["test.jsonl"];
    assert!((2_300..=2_700).contains(&test.len()));
    for fam in &taxonomy().families {
        assert!(test.iter().any(|r| &r.family == fam), "test lacks {fam}");
    }
    let expect = [
        (
            "additions/production_false_positives.jsonl",
            "production_fp",
            2.0,
            400,
        ),
        ("additions/research_attacks.jsonl", "research", 3.0, 400),
        (
            "additions/confirmed_detections.jsonl",
            "confirmed_detection",
            1.5,
            300,
        ),
    ];
    for (path, source, weight, n) in expect {
        let rows = &data().files[path];
        assert_eq!(rows.len(), n, "{path}");
        assert!(
            rows.iter()
                .all(|r| r.source == source && r.weight_multiplier == weight)
        );
    }
    assert!(
        data().files["additions/production_false_positives.jsonl"]
            .iter()
            .all(|r| r.label == 0
                && r.sub_category
                    .as_deref()
                    .is_some_and(|s| s.starts_with("hard_negative")))
    );
    assert!(
        data().files["additions/research_attacks.jsonl"]
            .iter()
            .chain(&data().files["additions/confirmed_detections.jsonl"])
            .all(|r| r.label == 1)
    );
}

#[test]
fn every_row_follows_the_label_rules() {
    for (path, rows) in &data().files {
        assert!(!rows.is_empty(), "{path} is empty");
        for r in rows {
            let ctx = format!("{path}: {:?}", r.text);
            assert!(!r.text.trim().is_empty(), "{ctx}");
            assert!(r.text.chars().count() <= 2_000, "{ctx}");
            assert_eq!(r.label == 0, r.family == "benign", "{ctx}");
            assert!(r.label <= 1);
            assert_eq!(
                taxonomy().families[r.family_idx as usize],
                r.family,
                "{ctx}"
            );
            assert_eq!(
                taxonomy().contexts[r.context_idx as usize],
                r.context,
                "{ctx}"
            );
            assert!((0.0..=1.0).contains(&r.severity_score), "{ctx}");
            assert!((0.0..=1.0).contains(&r.confidence), "{ctx}");
            assert!(r.weight_multiplier > 0.0);
            assert_eq!((r.severity_score * 100.0).round() / 100.0, r.severity_score);
            if r.label == 0 {
                assert_eq!(r.severity_score, 0.0, "{ctx}");
            } else {
                assert!(r.severity_score > 0.0, "{ctx}");
            }
            let sub = r.sub_category.as_deref().unwrap_or_default();
            assert!(!sub.is_empty());
            assert!(
                sub.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
            assert!(!r.text.contains('\r'), "{ctx}");
            for name in placeholders(&r.text) {
                assert!(
                    !families::all_tables()
                        .iter()
                        .any(|t| t.iter().any(|s| s.name == name)),
                    "unfilled slot {{{name}}} in {ctx}"
                );
            }
        }
    }
}

#[test]
fn json_lines_have_the_documented_key_order() {
    let rows = &data().files["additions/confirmed_detections.jsonl"];
    let text = to_jsonl(rows);
    assert!(text.ends_with('\n'));
    // The schema's order (cairn-data), with the optional fields these rows carry.
    let keys = cairn_data::REQUIRED_FIELDS
        .into_iter()
        .chain(["sub_category", "rule_id"]);
    let line = text.lines().next().expect("a line");
    let mut at = 0;
    for k in keys {
        let pos = line[at..]
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} missing or out of order in {line}"));
        at += pos;
    }
    let base_line = to_jsonl(&data().files["base/PI.jsonl"][..1]);
    assert!(base_line.starts_with("{\"text\":"));
    assert!(!base_line.contains("rule_id") && !base_line.contains("notes"));
}

#[test]
fn no_duplicate_normalized_text_within_a_file() {
    for (path, rows) in &data().files {
        let mut seen = BTreeSet::new();
        for r in rows {
            assert!(
                seen.insert(normalize(&r.text)),
                "{path}: duplicate {:?}",
                r.text
            );
        }
    }
}

#[test]
fn test_file_shares_no_text_with_training_files() {
    let test: BTreeSet<String> = data().files["test.jsonl"]
        .iter()
        .map(|r| normalize(&r.text))
        .collect();
    for (path, rows) in &data().files {
        if is_test(path) {
            continue;
        }
        for r in rows {
            assert!(
                !test.contains(&normalize(&r.text)),
                "{path} leaks into test: {:?}",
                r.text
            );
        }
    }
}

#[test]
fn no_text_has_two_labels_and_dedup_copies_exist() {
    let mut labels: BTreeMap<String, (u8, String)> = BTreeMap::new();
    let mut repeats = 0;
    for (path, rows) in &data().files {
        for r in rows {
            let n = normalize(&r.text);
            if let Some((label, other)) = labels.get(&n) {
                assert_eq!(*label, r.label, "{path} vs {other}: {:?}", r.text);
                repeats += 1;
            } else {
                labels.insert(n, (r.label, path.clone()));
            }
        }
    }
    assert_eq!(repeats, cairn_datagen::CONFIRMED_DUPLICATES);
    let base: BTreeSet<String> = data()
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("base/"))
        .flat_map(|(_, rows)| rows.iter().map(|r| normalize(&r.text)))
        .collect();
    let copies = data().files["additions/confirmed_detections.jsonl"]
        .iter()
        .filter(|r| base.contains(&normalize(&r.text)))
        .count();
    assert_eq!(copies, cairn_datagen::CONFIRMED_DUPLICATES);
}

fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || "\"'`()[]<>,:;".contains(c))
        .map(|t| t.trim_end_matches(['.', '!', '?']))
}

fn readable(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            // Printable text with at least one real word in it.
            s.contains(' ')
                && !s.chars().any(|c| c.is_control() && c != '\n')
                && s.split(' ')
                    .any(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_alphabetic()))
        }
        Err(_) => false,
    }
}

#[test]
fn encoded_payloads_decode_to_text() {
    let mut checked = 0;
    for (path, rows) in &data().files {
        for r in rows
            .iter()
            .filter(|r| matches!(r.sub_category.as_deref(), Some("base64" | "hex")))
        {
            let ok = tokens(&r.text).filter(|t| t.len() >= 16).any(|t| {
                let t = t.strip_prefix("0x").unwrap_or(t);
                let decoded = if r.sub_category.as_deref() == Some("base64") {
                    base64_decode(t)
                } else {
                    hex_decode(t)
                };
                decoded.is_some_and(|d| readable(&d))
            });
            assert!(
                ok,
                "{path}: no decodable {:?} payload in {:?}",
                r.sub_category, r.text
            );
            checked += 1;
        }
        for r in rows.iter().filter(|r| {
            r.sub_category.as_deref() == Some("hard_negative_encoding") && r.text.contains("base64")
        }) {
            // Benign base64 decodes to harmless text, never to an attack.
            for t in tokens(&r.text).filter(|t| t.len() >= 16) {
                if let Some(d) = base64_decode(t).filter(|d| readable(d)) {
                    let s = String::from_utf8_lossy(&d).to_lowercase();
                    assert!(!s.contains("ignore") && !s.contains("password"), "{s}");
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} encoded rows checked");
}

#[test]
fn names_and_indices_follow_taxonomy_toml() {
    // Every family of the taxonomy has rows, in its file, with its own index.
    for (idx, fam) in taxonomy().families.iter().enumerate() {
        let rows: Vec<_> = data()
            .files
            .values()
            .flatten()
            .filter(|r| &r.family == fam)
            .collect();
        assert!(!rows.is_empty(), "no {fam} rows");
        assert!(rows.iter().all(|r| r.family_idx as usize == idx));
    }
    for spec in families::base_specs() {
        assert_eq!(taxonomy().families[spec.family_idx as usize], spec.family);
    }
}

#[test]
fn every_placeholder_resolves_and_every_split_has_templates() {
    let tables = families::all_tables();
    let known = |name: &str| tables.iter().any(|t| t.iter().any(|s| s.name == name));
    for subs in families::all_subs() {
        for sub in subs {
            assert!(!sub.train.is_empty(), "{} has no templates", sub.name);
            for tpl in sub
                .templates(Split::Train)
                .iter()
                .chain(sub.templates(Split::Test))
            {
                for name in placeholders(tpl) {
                    assert!(known(name), "unknown slot {{{name}}} in {tpl:?}");
                }
            }
        }
    }
    for table in &tables {
        for slot in table.iter() {
            for v in slot.train.iter().chain(&slot.test) {
                for name in placeholders(v) {
                    assert!(known(name), "unknown slot {{{name}}} in slot {}", slot.name);
                }
            }
        }
    }
    // Held-out templates really are held apart.
    for spec in families::base_specs() {
        for sub in spec.subs {
            assert!(!sub.test.is_empty(), "{} has no test templates", sub.name);
            for t in &sub.test {
                assert!(
                    !sub.train.contains(t),
                    "{} test template is also a train one",
                    sub.name
                );
            }
        }
    }
}

#[test]
fn committed_files_match_the_generator() {
    let dir = datasets_dir();
    for (path, rows) in &data().files {
        let committed = std::fs::read_to_string(dir.join(path))
            .unwrap_or_else(|e| panic!("cannot read datasets/{path}: {e}; run `just datasets`"));
        assert!(
            committed == to_jsonl(rows),
            "datasets/{path} differs from generate({DEFAULT_SEED}); run `just datasets`"
        );
    }
}

/// The transfer split holds kinds of prompt no other file has: no shared text, no shared
/// sub-category, no shared source; both classes and several attack families.
#[test]
fn transfer_split_is_held_out_entirely() {
    let transfer = &data().files["transfer.jsonl"];
    let texts: BTreeSet<String> = transfer.iter().map(|r| normalize(&r.text)).collect();
    let subs: BTreeSet<&str> = transfer
        .iter()
        .filter_map(|r| r.sub_category.as_deref())
        .collect();
    for (path, rows) in &data().files {
        if path == "transfer.jsonl" {
            continue;
        }
        for r in rows {
            assert!(!texts.contains(&normalize(&r.text)), "{path}: {:?}", r.text);
            if let Some(sub) = r.sub_category.as_deref() {
                assert!(!subs.contains(sub), "{path} uses transfer style {sub}");
            }
        }
    }
    assert!(transfer.iter().all(|r| r.source == "generator:transfer"));
    let benign = transfer.iter().filter(|r| r.label == 0).count();
    assert!((400..=600).contains(&benign), "{benign} benign rows");
    let families: BTreeSet<&str> = transfer.iter().map(|r| r.family.as_str()).collect();
    assert_eq!(families.len(), taxonomy().families.len(), "{families:?}");
}

/// The transfer split's fills are its own: its templates use only the slots of
/// transfer.toml, and no other template uses one of them.
#[test]
fn transfer_fills_are_held_out_entirely() {
    let all = cairn_datagen::templates::all();
    let own: BTreeSet<&str> = all
        .files
        .iter()
        .filter(|(name, _)| *name == "transfer.toml")
        .flat_map(|(_, f)| f.slots.iter().map(|s| s.name.as_str()))
        .collect();
    assert!(own.len() > 20, "{own:?}");
    for sub in families::transfer_specs().iter().flat_map(|s| s.subs) {
        for t in &sub.train {
            for name in placeholders(t) {
                assert!(own.contains(name), "transfer {} uses {name}", sub.name);
            }
        }
    }
    for (file, f) in &all.files {
        let slot_values = f.slots.iter().flat_map(|s| s.train.iter().chain(&s.test));
        let subs = f.base.iter().chain(&f.confirmed).chain(&f.production_fp);
        let research = f.research.iter().flat_map(|g| &g.subs);
        let templates = subs
            .chain(research)
            .flat_map(|s| s.train.iter().chain(&s.test))
            .chain(slot_values.filter(|_| *file != "transfer.toml"));
        for t in templates {
            for name in placeholders(t) {
                assert!(!own.contains(name), "{file} uses the transfer fill {name}");
            }
        }
    }
}
