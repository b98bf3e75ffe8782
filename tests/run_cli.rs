//! End-to-end tests of `cairn run | plan | show | reproduce | export` on a tiny dataset and
//! the small architecture.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, code, stderr, stdout};

fn setup(env: &Env) {
    common::copy_run_fixtures(env);
}

fn experiment(
    env: &Env,
    file: &str,
    version: &str,
    parent: Option<&str>,
    additions: bool,
    epochs: u32,
) -> PathBuf {
    let text = common::tiny_experiment(
        version,
        parent,
        additions.then_some("additions.jsonl"),
        epochs,
        "0.01",
    );
    let path = env.path(file);
    std::fs::write(&path, text).expect("write experiment");
    path
}

fn run_json(env: &Env, store: &Path, experiment: &Path) -> serde_json::Value {
    let out = env
        .cairn_at(store)
        .args(["--json", "run"])
        .arg(experiment)
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn show(env: &Env, store: &Path, reference: &str) -> serde_json::Value {
    let out = env
        .cairn_at(store)
        .args(["--json", "show", reference])
        .output()
        .expect("show");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn run_registers_a_version_and_is_reproducible_across_processes() {
    let env = Env::new();
    setup(&env);
    let exp = experiment(&env, "tiny.toml", "1.0.0", None, false, 2);
    let first = run_json(&env, &env.path("a"), &exp);
    assert_eq!(first["status"], "registered");
    assert_eq!(first["ref"], "tiny@1.0.0");
    let accuracy = first["metrics"]["accuracy"].as_f64().expect("accuracy");
    assert!((0.0..=1.0).contains(&accuracy), "{accuracy}");

    // Another process, another store: the same weights, bit for bit.
    let second = run_json(&env, &env.path("b"), &exp);
    assert_eq!(first["recipe"], second["recipe"]);
    let (a, b) = (
        show(&env, &env.path("a"), "tiny@1.0.0"),
        show(&env, &env.path("b"), "tiny@1.0.0"),
    );
    assert_eq!(
        a["outputs"], b["outputs"],
        "dataset, tokenizer, weights and evaluation are identical"
    );
    assert_eq!(show(&env, &env.path("a"), "tiny/latest")["run"], a["run"]);
    let epochs = a["epochs"].as_array().expect("epochs");
    assert_eq!(epochs.len(), 2);
    let loss = |i: usize| epochs[i]["train_loss"].as_f64().expect("loss");
    assert!(loss(1) < loss(0), "training lowers the loss: {epochs:?}");

    // metadata.json for the deploy step.
    let metadata: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.path("models/tiny/1.0.0/metadata.json")).expect("metadata"),
    )
    .expect("json");
    assert_eq!(metadata["version"], "1.0.0");
    assert_eq!(metadata["changes"], serde_json::json!(["a test"]));
    assert_eq!(
        metadata["performance"]["accuracy"],
        first["metrics"]["accuracy"]
    );
}

#[test]
fn an_unchanged_experiment_is_up_to_date_and_a_changed_one_needs_a_new_version() {
    let env = Env::new();
    setup(&env);
    let exp = experiment(&env, "tiny.toml", "1.0.0", None, false, 1);
    let first = run_json(&env, &env.store(), &exp);
    let started = std::time::Instant::now();
    let again = env.run(&["run", exp.to_str().expect("p")]);
    assert_eq!(code(&again), 0);
    assert!(started.elapsed().as_secs_f64() < 5.0);
    let recipe = first["recipe"].as_str().expect("recipe");
    assert_eq!(
        stderr(&again).trim(),
        format!("up to date: tiny@1.0.0 (recipe {})", &recipe[..12])
    );
    let json = run_json(&env, &env.store(), &exp);
    assert_eq!(
        (json["status"].as_str(), json["run"].as_str()),
        (Some("up-to-date"), first["run"].as_str())
    );

    // Same version, other hyper-parameters: refused, naming both recipes.
    let changed = experiment(&env, "tiny.toml", "1.0.0", None, false, 2);
    let out = env.run(&["run", changed.to_str().expect("p")]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("tiny@1.0.0 is already registered with recipe") && err.contains(recipe),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn reproduce_works_from_the_store_alone_and_names_tampering() {
    let env = Env::new();
    setup(&env);
    let exp = experiment(&env, "tiny.toml", "1.0.0", None, false, 1);
    run_json(&env, &env.store(), &exp);
    for f in ["train.jsonl", "test.jsonl", "additions.jsonl", "tiny.toml"] {
        std::fs::remove_file(env.path(f)).expect("delete input");
    }
    let out = env.run(&["reproduce", "tiny@1.0.0"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).ends_with("tiny@1.0.0: bit-for-bit identical\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("weights     identical"),
        "{}",
        stdout(&out)
    );

    // Tamper with the stored training file: reproduce refuses, naming the object and its path.
    let manifest = show(&env, &env.store(), "tiny@1.0.0");
    let recipe = manifest["recipe"]
        .as_str()
        .expect("recipe")
        .trim_start_matches("blake3:")
        .to_string();
    let recipe: serde_json::Value =
        serde_json::from_slice(&env.run(&["cat", &recipe]).stdout).expect("recipe json");
    let base = recipe["data"]["base"][0]["object"]
        .as_str()
        .expect("object")
        .trim_start_matches("blake3:")
        .to_string();
    let path = env.store().join("objects").join(&base[..2]).join(&base);
    let mut perms = std::fs::metadata(&path).expect("stat").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).expect("chmod");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[10] ^= 0x20;
    std::fs::write(&path, bytes).expect("tamper");
    let out = env.run(&["reproduce", "tiny@1.0.0"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(&base) && err.contains("corrupt") && err.contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn fine_tune_records_the_parent_and_changes_the_weights() {
    let env = Env::new();
    setup(&env);
    let base = experiment(&env, "base.toml", "1.0.0", None, false, 1);
    let parent = run_json(&env, &env.store(), &base);
    let tune = experiment(&env, "tune.toml", "1.1.0", Some("tiny@1.0.0"), true, 1);
    let child = run_json(&env, &env.store(), &tune);
    assert_eq!(child["status"], "registered");
    let (p, c) = (
        show(&env, &env.store(), "tiny@1.0.0"),
        show(&env, &env.store(), "tiny@1.1.0"),
    );
    assert_eq!(c["mode"], "fine-tune");
    assert_eq!(
        c["parent"],
        format!("blake3:{}", parent["run"].as_str().expect("run"))
    );
    assert_eq!(
        c["outputs"]["tokenizer"], p["outputs"]["tokenizer"],
        "a fine-tune keeps the parent's tokenizer"
    );
    assert_ne!(c["outputs"]["weights"], p["outputs"]["weights"]);
    assert_eq!(show(&env, &env.store(), "tiny/latest")["version"], "1.1.0");
    // Its report: the stored Markdown, and one self-contained HTML page with inline charts.
    let markdown = env.run(&["report", "tiny@1.1.0"]);
    assert!(
        stdout(&markdown).starts_with("# Regression report: tiny@1.1.0\n\n- baseline: tiny@1.0.0"),
        "{}",
        stdout(&markdown)
    );
    let html_path = env.path("report.html");
    let out = env.run(&[
        "report",
        "tiny@1.1.0",
        "--html",
        html_path.to_str().expect("p"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let html = std::fs::read_to_string(&html_path).expect("html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.matches("<svg").count() == 3,
        "three inline charts"
    );
    for needle in [
        "training loss per optimizer step",
        "recall per family",
        "Regression gate",
        "against tiny@1.0.0",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    let recall_chart = html
        .split("recall per family")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("recall chart");
    assert!(
        recall_chart.contains("benign") && recall_chart.contains("PI"),
        "family names label the bars"
    );
    assert!(
        !html
            .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
            .contains("http"),
        "nothing is loaded from the network"
    );
    // The run keeps its training loss per optimizer step, so a one-epoch fine-tune draws a
    // curve, not a dot.
    let steps = c["steps"].as_array().expect("steps");
    assert!(steps.len() >= 10, "{steps:?}");
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["step"], i + 1, "one record per step");
        assert_eq!(s["epoch"], 1);
        assert!(s["loss"].as_f64().is_some_and(|l| l.is_finite() && l > 0.0));
    }
    let curve = html
        .split("training loss per optimizer step")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("curve");
    // The loss lines are the chart's coloured polylines of more than two points (the axes
    // are black, the legend's marks two points).
    let lines = |curve: &str| -> Vec<usize> {
        curve
            .split("<polyline")
            .skip(1)
            .filter_map(|l| l.split("/>").next())
            .filter(|l| !l.contains("stroke=\"#000000\""))
            .filter_map(|l| l.split("points=\"").nth(1)?.split('"').next())
            .map(|points| points.split_whitespace().count())
            .filter(|&n| n > 2)
            .collect()
    };
    assert_eq!(lines(curve), [steps.len()], "{curve}");
    // Both versions' curves on one chart.
    let both = env.path("both.html");
    let out = env.run(&[
        "report",
        "tiny@1.1.0",
        "--html",
        both.to_str().expect("p"),
        "--compare",
        "tiny@1.0.0",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let both = std::fs::read_to_string(&both).expect("html");
    let curve = both
        .split("training loss per optimizer step")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("curve");
    assert_eq!(lines(curve).len(), 2, "two loss lines: {curve}");
    assert!(curve.contains("tiny@1.0.0 train loss"), "{curve}");
    let out = env.run(&["report", "tiny@1.1.0", "--compare", "tiny@1.0.0"]);
    assert_eq!(code(&out), 2, "--compare needs --html");
    // The fine-tune reproduces too (it reads the parent's weights from the store).
    let out = env.run(&["reproduce", "tiny@1.1.0"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn fine_tune_from_a_missing_or_incompatible_parent_is_a_clear_error() {
    let env = Env::new();
    setup(&env);
    let orphan = experiment(&env, "orphan.toml", "1.1.0", Some("tiny@9.9.9"), true, 1);
    let out = env.run(&["run", orphan.to_str().expect("p")]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("orphan.toml:") && err.contains("`tiny@9.9.9` is not a registered version"),
        "{err}"
    );

    let base = experiment(&env, "base.toml", "1.0.0", None, false, 1);
    run_json(&env, &env.store(), &base);
    let wider = std::fs::read_to_string(experiment(
        &env,
        "wide.toml",
        "1.1.0",
        Some("tiny@1.0.0"),
        true,
        1,
    ))
    .expect("read")
    .replace("hidden = 32", "hidden = 48");
    std::fs::write(env.path("wide.toml"), wider).expect("write");
    let out = env.run(&["run", env.path("wide.toml").to_str().expect("p")]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot fine-tune from tiny@1.0.0: model sizes differ (hidden 32 -> 48)"),
        "{err}"
    );
    assert!(
        env.run(&["ref", "get", "tiny@1.1.0"]).status.code() == Some(1),
        "nothing registered"
    );
}

#[test]
fn export_writes_safetensors() {
    let env = Env::new();
    setup(&env);
    run_json(
        &env,
        &env.store(),
        &experiment(&env, "tiny.toml", "1.0.0", None, false, 1),
    );
    let out = env.run(&[
        "export",
        "tiny@1.0.0",
        "--safetensors",
        env.path("out").to_str().expect("p"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let bytes = std::fs::read(env.path("out/model.safetensors")).expect("file");
    // safetensors: 8-byte little-endian header length, then a JSON header.
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header json");
    assert!(
        header
            .as_object()
            .expect("object")
            .keys()
            .filter(|k| *k != "__metadata__")
            .count()
            >= 6,
        "{header}"
    );
}

/// Experiment errors name file:line:col and the fix; pinned by snapshots.
#[test]
fn experiment_errors_are_snapshotted() {
    let env = Env::new();
    setup(&env);
    let good = experiment(&env, "good.toml", "1.0.0", None, false, 1);
    let good = std::fs::read_to_string(good).expect("read");
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown_key",
            "learning_rate = 0.01",
            "learning_rate = 0.01\nlearning_rat = 0.1",
        ),
        ("out_of_range", "epochs = 1", "epochs = 0"),
        ("bad_version", "version = \"1.0.0\"", "version = \"1.0\""),
        (
            "unknown_architecture",
            "architecture = \"bag\"",
            "architecture = \"lstm\"",
        ),
        (
            "key_of_other_architecture",
            "buckets = 4096",
            "buckets = 4096\nheads = 2",
        ),
        (
            "missing_file",
            "test = \"test.jsonl\"",
            "test = \"nope.jsonl\"",
        ),
        ("wrong_type", "seed = 7", "seed = \"seven\""),
        (
            "unknown_backend",
            "batch_size = 32",
            "batch_size = 32\nbackend = \"cuda\"",
        ),
        ("missing_section_key", "test = \"test.jsonl\"", ""),
    ];
    for (name, from, to) in cases {
        let text = good.replacen(from, to, 1);
        assert_ne!(text, good, "{name}: the case must change the file");
        std::fs::write(env.path("bad.toml"), text).expect("write");
        let out = env
            .cairn()
            .current_dir(env.dir.path())
            .args(["plan", "bad.toml"])
            .output()
            .expect("plan");
        assert_eq!(code(&out), 1, "{name}");
        insta::assert_snapshot!(format!("experiment_{name}"), stderr(&out));
    }
    let plan = env
        .cairn()
        .current_dir(env.dir.path())
        .args(["--json", "plan", "good.toml"])
        .output()
        .expect("plan");
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    assert_eq!(
        json["resolved"]["train"]["weight_decay"], 0.01,
        "defaults are filled in"
    );
    assert_eq!(json["resolved"]["model"]["sizes"]["buckets"], 4096);
}

/// The shipped experiments, on the shipped data: the quickstart retrain, the weekly
/// fine-tune on top of it, and a bit-for-bit reproduction of the fine-tune.
#[test]
fn quickstart_and_incremental_experiments_run() {
    let env = Env::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = |file: &str| -> serde_json::Value {
        let out = env
            .cairn()
            .current_dir(env.dir.path())
            .args(["--json", "run"])
            .arg(repo.join("experiments").join(file))
            .output()
            .expect("run");
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let quick = run("quickstart.toml");
    assert_eq!(
        (quick["status"].as_str(), quick["ref"].as_str()),
        (Some("registered"), Some("detector@1.0.0"))
    );
    let accuracy = quick["metrics"]["accuracy"].as_f64().expect("accuracy");
    assert!(accuracy > 0.7, "held-out test accuracy {accuracy}");
    let incremental = run("incremental.toml");
    assert_eq!(incremental["ref"], "detector@1.1.0");
    assert_eq!(
        show(&env, &env.store(), "detector@1.1.0")["mode"],
        "fine-tune"
    );
    assert!(env.path("models/detector/1.1.0/metadata.json").is_file());
    let out = env.run(&["reproduce", "detector@1.1.0"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn a_given_tokenizer_json_is_used_as_is() {
    let env = Env::new();
    setup(&env);
    run_json(
        &env,
        &env.store(),
        &experiment(&env, "a.toml", "1.0.0", None, false, 1),
    );
    let tokenizer = show(&env, &env.store(), "tiny@1.0.0")["outputs"]["tokenizer"]
        .as_str()
        .expect("hash")
        .trim_start_matches("blake3:")
        .to_string();
    let json = env.run(&["cat", &tokenizer]);
    assert_eq!(code(&json), 0);
    std::fs::write(env.path("tok.json"), &json.stdout).expect("write tokenizer.json");
    let text = std::fs::read_to_string(experiment(&env, "b.toml", "2.0.0", None, false, 1))
        .expect("read")
        .replace("max_length = 32", "max_length = 32\nfile = \"tok.json\"");
    std::fs::write(env.path("b.toml"), text).expect("write");
    run_json(&env, &env.store(), &env.path("b.toml"));
    let second = show(&env, &env.store(), "tiny@2.0.0");
    assert_eq!(
        second["outputs"]["tokenizer"],
        format!("blake3:{tokenizer}")
    );
}

/// Additions that flip the labels of many attacks make the candidate regress: `cairn run`
/// exits 3 and registers nothing, though the run is stored; `--force` registers it and says so.
#[test]
fn the_regression_gate_rejects_a_regressing_version() {
    let env = Env::new();
    setup(&env);
    let base = experiment(&env, "base.toml", "1.0.0", None, false, 3);
    run_json(&env, &env.store(), &base);
    // The test set's attacks, relabelled benign, as "additions".
    let flipped: String = std::fs::read_to_string(env.path("test.jsonl"))
        .expect("test set")
        .lines()
        .filter_map(|l| {
            let mut row: serde_json::Value = serde_json::from_str(l).expect("row");
            (row["label"] == 1).then(|| {
                row["label"] = 0.into();
                row["family"] = "benign".into();
                row["family_idx"] = 7.into();
                row["severity_score"] = 0.0.into();
                format!("{row}\n")
            })
        })
        .collect();
    std::fs::write(env.path("additions.jsonl"), flipped).expect("write");
    let text = std::fs::read_to_string(experiment(
        &env,
        "bad.toml",
        "1.1.0",
        Some("tiny@1.0.0"),
        true,
        4,
    ))
    .expect("read")
    .replace("new_data_boost = 2.0", "new_data_boost = 5.0")
    .replace("learning_rate = 0.01", "learning_rate = 0.03");
    std::fs::write(env.path("bad.toml"), text).expect("write");

    let out = env
        .cairn()
        .args(["--json", "run"])
        .arg(env.path("bad.toml"))
        .output()
        .expect("run");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["status"], "rejected");
    assert_eq!(json["decision"]["decision"], "reject");
    assert_eq!(
        env.run(&["ref", "get", "tiny@1.1.0"]).status.code(),
        Some(1),
        "no version ref"
    );
    assert_eq!(
        show(&env, &env.store(), "tiny/latest")["version"],
        "1.0.0",
        "latest did not move"
    );
    let run = json["run"].as_str().expect("run");
    let stored: serde_json::Value =
        serde_json::from_slice(&env.run(&["cat", run]).stdout).expect("run manifest");
    assert_eq!(
        (stored["status"].as_str(), stored["decision"].as_str()),
        (Some("rejected"), Some("reject"))
    );
    let report = stored["outputs"]["report_markdown"]
        .as_str()
        .expect("report")
        .trim_start_matches("blake3:")
        .to_string();
    let markdown = stdout(&env.run(&["cat", &report]));
    assert!(
        markdown.starts_with("# Regression report: tiny@1.1.0") && markdown.contains("**REJECT**"),
        "{markdown}"
    );

    // `cairn regress` gives the same verdict for the two versions once both exist.
    let forced = env
        .cairn()
        .args(["--json", "run", "--force"])
        .arg(env.path("bad.toml"))
        .output()
        .expect("run");
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    // The rejected run is stored under the same recipe: `--force` registers it as it is,
    // with no training.
    assert!(
        !stderr(&forced).contains("train"),
        "--force trained again: {}",
        stderr(&forced)
    );
    let forced: serde_json::Value = serde_json::from_slice(&forced.stdout).expect("json");
    assert_eq!(
        (forced["status"].as_str(), forced["forced"].as_bool()),
        (Some("registered"), Some(true))
    );
    assert_eq!(forced["recipe"], json["recipe"], "the same recipe");
    let registered: serde_json::Value = serde_json::from_slice(
        &env.run(&["cat", forced["run"].as_str().expect("run")])
            .stdout,
    )
    .expect("run manifest");
    assert_eq!(
        registered["outputs"], stored["outputs"],
        "the rejected run's outputs, registered"
    );
    assert_eq!(show(&env, &env.store(), "tiny@1.1.0")["forced"], true);
    let regress = env.run(&["regress", "tiny@1.0.0", "tiny@1.1.0"]);
    assert_eq!(code(&regress), 3, "{}", stderr(&regress));
    assert!(
        stdout(&regress).contains("- decision: **REJECT**"),
        "{}",
        stdout(&regress)
    );
    let flipped_set = env.run(&[
        "--json",
        "regress",
        "tiny@1.0.0",
        "tiny@1.1.0",
        "--test",
        env.path("additions.jsonl").to_str().expect("p"),
    ]);
    let flipped_set: serde_json::Value = serde_json::from_slice(&flipped_set.stdout).expect("json");
    assert_eq!(
        flipped_set["decision"]["decision"], "accept",
        "on the flipped labels the candidate only improves"
    );
    let same = env.run(&["regress", "tiny@1.0.0", "tiny@1.0.0"]);
    assert_eq!(code(&same), 0);
    assert!(
        stdout(&same).contains("regressions 0 (0.00%)"),
        "{}",
        stdout(&same)
    );
}

/// `cairn eval`: versions side by side on any labelled JSONL; on a version's own test set
/// its numbers are the run's recorded test metrics.
#[test]
fn eval_scores_versions_side_by_side() {
    let env = Env::new();
    setup(&env);
    let base = experiment(&env, "a.toml", "1.0.0", None, false, 2);
    run_json(&env, &env.store(), &base);
    let next = experiment(&env, "b.toml", "1.1.0", Some("tiny@1.0.0"), true, 1);
    run_json(&env, &env.store(), &next);
    let out = env
        .cairn()
        .args([
            "--json",
            "eval",
            "tiny@1.0.0",
            "tiny@1.1.0",
            "--by",
            "family",
            "--data",
        ])
        .arg(env.path("test.jsonl"))
        .output()
        .expect("eval");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = report["rows"].as_u64().expect("rows");
    for (i, version) in ["tiny@1.0.0", "tiny@1.1.0"].iter().enumerate() {
        let v = &report["versions"][i];
        assert_eq!(v["version"], *version);
        let recorded = &show(&env, &env.store(), version)["metrics"];
        for k in ["accuracy", "precision", "recall", "f1", "fpr", "fnr"] {
            assert_eq!(v["overall"][k], recorded[k], "{version} {k}");
        }
        let auc = v["overall"]["roc_auc"].as_f64().expect("auc");
        assert!((0.0..=1.0).contains(&auc), "{auc}");
        // Recall at a false-positive budget grows with the budget.
        let at1 = v["overall"]["recall_at_fpr_1pct"].as_f64().expect("r@1%");
        let at5 = v["overall"]["recall_at_fpr_5pct"].as_f64().expect("r@5%");
        assert!(0.0 <= at1 && at1 <= at5 && at5 <= 1.0, "{at1} {at5}");
        let groups = v["groups"].as_array().expect("groups");
        let names: Vec<&str> = groups.iter().filter_map(|g| g["group"].as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "groups in name order");
        assert_eq!(
            groups
                .iter()
                .filter_map(|g| g["examples"].as_u64())
                .sum::<u64>(),
            rows
        );
        let benign = groups
            .iter()
            .find(|g| g["group"] == "benign")
            .expect("benign");
        assert_eq!(benign["attacks"], 0);
        assert!(benign["roc_auc"].is_null(), "one class: no AUC");
        assert!(benign["recall_at_fpr_5pct"].is_null(), "one class: no ROC");
    }
    let out = env
        .cairn()
        .args([
            "eval",
            "tiny@1.0.0",
            "tiny@1.1.0",
            "--by",
            "source",
            "--data",
        ])
        .arg(env.path("test.jsonl"))
        .output()
        .expect("eval");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("tiny@1.0.0") && text.contains("tiny@1.1.0") && text.contains("roc_auc"),
        "{text}"
    );
    // Bad data is a file:line error; an unknown version is named.
    std::fs::write(env.path("bad.jsonl"), "{\"text\": 1}\n").expect("write");
    let out = env.run(&["eval", "tiny@1.0.0", "--data", "bad.jsonl"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("bad.jsonl:1"), "{}", stderr(&out));
    let out = env.run(&["eval", "tiny@9.0.0", "--data", "test.jsonl"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("tiny@9.0.0"), "{}", stderr(&out));
    // An empty set (or a CSV with only its header) has no metrics: refused, not all zeros.
    std::fs::write(env.path("empty.jsonl"), "").expect("write");
    std::fs::write(env.path("empty.csv"), "prompt,is_attack\n").expect("write");
    for args in [
        &["eval", "tiny@1.0.0", "--data", "empty.jsonl"][..],
        &[
            "eval",
            "tiny@1.0.0",
            "--data",
            "empty.csv",
            "--map",
            "text=prompt",
            "--map",
            "label=is_attack",
        ][..],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("no rows"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // A team's own field names, mapped as `cairn data import` maps them: the same scores.
    let theirs: String = std::fs::read_to_string(env.path("test.jsonl"))
        .expect("read")
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("json");
            let mut own = serde_json::json!({
                "prompt": row["text"],
                "is_attack": row["label"] == 1,
                "category": row["family"],
            });
            own["origin"] = row["source"].clone();
            format!("{own}\n")
        })
        .collect();
    std::fs::write(env.path("theirs.jsonl"), theirs).expect("write");
    let mapped = |extra: &[&str]| {
        let mut args = vec!["--json", "eval", "tiny@1.0.0", "--data", "theirs.jsonl"];
        args.extend(extra);
        env.run(&args)
    };
    let out = mapped(&[
        "--map",
        "text=prompt",
        "--map",
        "label=is_attack",
        "--map",
        "family=category",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mapped_report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for k in ["accuracy", "precision", "recall", "fpr", "fnr", "roc_auc"] {
        assert_eq!(
            mapped_report["versions"][0]["overall"][k], report["versions"][0]["overall"][k],
            "{k}"
        );
    }
    let out = mapped(&["--map", "text=prompt", "--map", "label=nope"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}
