//! `cairn redteam run|show|retrain` through the binary, on two tiny models: one at a
//! threshold so high it misses attacks, one at a threshold so low it flags everything (so
//! it has no failures).

mod common;

use std::path::PathBuf;

use common::{Env, MINI_SUITE as SUITE, code, json, red_team_setup as setup, stderr, stdout};
use serde_json::Value;

fn refs(env: &Env) -> String {
    stdout(&env.run(&["ref", "list"]))
}

#[test]
fn red_team_finds_failures_and_retrains_only_the_models_that_failed() {
    let (env, suite) = setup();
    let suite = suite.to_str().expect("utf-8");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "redteam",
            "run",
            "--suite",
            suite,
            "--models",
            "tiny@1.0.0,alert@1.0.0",
        ];
        args.extend_from_slice(extra);
        json(&env, &args)
    };
    let result = run(&[]);
    let hash = result["result"].as_str().expect("result").to_string();
    assert!(hash.starts_with("blake3:"), "{hash}");
    // Seeded: the same suite and seed give the same attacks and the same outcome.
    let again = run(&["--batch-size", "3"]);
    assert_eq!(again["attack_set"], result["attack_set"]);
    assert_eq!(again["models"], result["models"]);
    let other_seed = run(&["--seed", "12"]);
    assert_ne!(other_seed["attack_set"], result["attack_set"]);

    let models = result["models"].as_array().expect("models");
    assert_eq!(models.len(), 2);
    for m in models {
        let (attacks, detected, failures) = (
            m["attacks"].as_u64().expect("attacks"),
            m["detected"].as_u64().expect("detected"),
            m["failures"].as_u64().expect("failures"),
        );
        assert_eq!(attacks, 10);
        assert_eq!(attacks, detected + failures);
        assert_eq!(
            m["missed"].as_array().expect("missed").len() as u64,
            failures
        );
        let rate = m["detection_rate"].as_f64().expect("rate");
        assert!((rate - detected as f64 / attacks as f64).abs() < 1e-12);
        let b = &m["buckets"];
        let in_buckets: u64 = ["critical", "high", "medium", "low"]
            .iter()
            .map(|k| b[k].as_u64().expect("bucket"))
            .sum();
        assert_eq!(in_buckets, failures);
        for f in m["missed"].as_array().expect("missed") {
            let want = if f["entry"] == "pi-quiet" {
                "critical"
            } else {
                "medium"
            };
            assert_eq!(f["bucket"], want, "{f}");
        }
        assert_eq!(m["probes"], 4);
    }
    let tiny = &models[0];
    let alert = &models[1];
    assert_eq!(tiny["ref"], "tiny@1.0.0");
    assert!(tiny["failures"].as_u64().expect("n") > 0, "{tiny}");
    assert_eq!(alert["failures"], 0, "{alert}");
    assert_eq!(
        alert["false_alarms"], 4,
        "a threshold of 0.0001 flags every probe"
    );

    // show: by prefix and by ref, the same document; the text names each model.
    let short = &hash["blake3:".len()..][..12];
    assert_eq!(json(&env, &["redteam", "show", short]), result);
    let text = stdout(&env.run(&["redteam", "show", &hash]));
    assert!(
        text.contains("tiny@1.0.0") && text.contains("prompt_injection"),
        "{text}"
    );
    assert!(refs(&env).contains(&format!("redteam/results/{}", &short[..12])));

    // A dry run plans tiny's retraining and registers nothing.
    let before = refs(&env);
    let plan = json(
        &env,
        &[
            "redteam",
            "retrain",
            short,
            "--dry-run",
            "--base-sample",
            "100",
        ],
    );
    assert_eq!(plan["retrained"][0]["status"], "planned");
    assert_eq!(refs(&env), before);

    let retrain = || {
        env.run(&[
            "--json",
            "redteam",
            "retrain",
            short,
            "--base-sample",
            "100",
        ])
    };
    let out = retrain();
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let retrained = report["retrained"].as_array().expect("retrained");
    assert_eq!(retrained.len(), 1, "{report}");
    let r = &retrained[0];
    assert_eq!(r["ref"], "tiny@1.0.0");
    assert_eq!(r["new_ref"], "tiny@1.0.1");
    assert_eq!(r["failures"], tiny["failures"]);
    assert_eq!(report["skipped"][0]["ref"], "alert@1.0.0");
    assert_eq!(
        r["recipe"], plan["retrained"][0]["recipe"],
        "the dry run planned this recipe"
    );
    // Training is deterministic, so this fine-tune passes its gate on every machine.
    assert_eq!(r["status"], "registered", "{report}\n{}", stderr(&out));
    assert_eq!(code(&out), 0);
    assert_eq!(r["gate"], "accept");
    let after = r["detection_after"].as_f64().expect("after");
    assert!((0.0..=1.0).contains(&after));
    let failures_after = r["failures_after"].as_u64().expect("n") as f64;
    assert!((failures_after - (1.0 - after) * 10.0).abs() < 1e-9);
    // The re-test is stored too, on the same attack set.
    let retest = report["retest"].as_str().expect("retest");
    let shown = json(&env, &["redteam", "show", retest]);
    assert_eq!(shown["attack_set"], result["attack_set"]);
    assert_eq!(shown["models"][0]["ref"], "tiny@1.0.1");
    // The lineage names the cause and the failures that were added.
    let shown = json(&env, &["show", "tiny@1.0.1"]);
    assert_eq!(shown["resolved_recipe"]["cause"]["kind"], "redteam");
    assert_eq!(
        shown["resolved_recipe"]["cause"]["object"],
        result["result"]
    );
    assert_eq!(
        shown["resolved_recipe"]["model"]["parent"]["name"],
        "tiny@1.0.0"
    );
    let log = stdout(&env.run(&["log", "tiny"]));
    assert!(
        log.contains(&format!("cause redteam {}", &short[..12])),
        "{log}"
    );
    let diff = stdout(&env.run(&["diff", "tiny@1.0.0", "tiny@1.0.1"]));
    assert!(diff.contains("-failures.jsonl"), "{diff}");
    let graph = stdout(&env.run(&["graph", "tiny@1.0.1", "--format", "dot"]));
    assert!(graph.contains("caused"), "{graph}");

    // The same result retrained again is the same version: up to date, nothing published.
    let versions = refs(&env);
    let out = retrain();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(again["retrained"][0]["new_ref"], "tiny@1.0.1", "{again}");
    assert_eq!(again["retrained"][0]["status"], "up-to-date", "{again}");
    assert_eq!(again["retrained"][0]["recipe"], r["recipe"]);
    let now = refs(&env);
    assert!(!now.contains("tiny@1.0.2"), "{now}");
    assert_eq!(
        now.lines().filter(|l| l.contains("tiny@")).count(),
        versions.lines().filter(|l| l.contains("tiny@")).count(),
        "no new version: {now}"
    );
}

#[test]
fn bad_red_team_input_is_refused_with_nothing_stored() {
    let (env, suite) = setup();
    let suite_arg = suite.to_str().expect("utf-8").to_string();
    let mut before = refs(&env);
    let fails = |args: &[&str], want: &str| {
        let out = env.run(args);
        assert_ne!(code(&out), 0, "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: {err}\nwant: {want}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    };
    let on_suite = |rest: &[&str]| -> Vec<String> {
        ["redteam", "run", "--suite", suite_arg.as_str()]
            .iter()
            .chain(rest)
            .map(|s| s.to_string())
            .collect()
    };
    let fails_on = |rest: &[&str], want: &str| {
        let args = on_suite(rest);
        fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), want);
    };
    let cases: [(&[&str], &str); 3] = [
        (
            &["--models", "nope@1.0.0"],
            "`nope@1.0.0` is not a registered version",
        ),
        (
            &["--models", "tiny@1.0.0", "--categories", "jailbreak"],
            "the suite has no `jailbreak` attacks",
        ),
        (
            &["--models", "tiny@1.0.0", "--categories", "jail"],
            "unknown category `jail`",
        ),
    ];
    for (rest, want) in cases {
        fails_on(rest, want);
    }
    // Bad suite files, each against every model.
    let bad = env.path("bad.toml");
    let bad_arg = bad.to_str().expect("utf-8");
    let bad_suites = [
        (
            SUITE.replace("\"command_injection\"", "\"shell\""),
            "bad.toml:14:12: unknown category `shell`",
        ),
        ("name = \"empty\"\n".to_string(), "the suite has no attacks"),
        (
            SUITE.replace("count = 6", "count = 60"),
            "entry `pi-quiet` makes only 16 distinct texts of the 60",
        ),
    ];
    for (text, want) in bad_suites {
        std::fs::write(&bad, text).expect("write");
        fails(&["redteam", "run", "--suite", bad_arg, "--all"], want);
    }
    assert_eq!(refs(&env), before, "nothing was stored under a ref");
    // A version registered without an ONNX export cannot be scored the production way.
    let no_onnx = common::tiny_experiment("1.0.0", None, None, 1, "0.01")
        .replace("name = \"tiny\"", "name = \"plain\"")
        + "\n[export]\nonnx = false\n";
    std::fs::write(env.path("plain.toml"), no_onnx).expect("write");
    let out = env.run(&["run", env.path("plain.toml").to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    fails_on(
        &["--models", "tiny@1.0.0,plain@1.0.0"],
        "plain@1.0.0 has no ONNX export",
    );
    // A model whose taxonomy has no CMD family cannot be scored on command_injection.
    let taxonomy = "families = [\"PI\", \"benign\"]\ncontexts = [\"business\", \"conversational\", \"creative\", \"attack\", \"educational\", \"technical\"]\n";
    std::fs::write(env.path("small-taxonomy.toml"), taxonomy).expect("write");
    for file in ["train.jsonl", "test.jsonl"] {
        let text = std::fs::read_to_string(env.path(file)).expect("read");
        let kept: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let mut row: Value = serde_json::from_str(l).ok()?;
                let idx = ["PI", "benign"].iter().position(|f| row["family"] == *f)?;
                row["family_idx"] = idx.into();
                Some(row.to_string())
            })
            .collect();
        std::fs::write(env.path(&format!("small-{file}")), kept.join("\n") + "\n").expect("write");
    }
    let small = common::tiny_experiment("1.0.0", None, None, 1, "0.01")
        .replace("name = \"tiny\"", "name = \"small\"")
        .replace("\"train.jsonl\"", "\"small-train.jsonl\"")
        .replace(
            "\"test.jsonl\"",
            "\"small-test.jsonl\"\ntaxonomy = \"small-taxonomy.toml\"",
        );
    std::fs::write(env.path("small.toml"), small).expect("write");
    let out = env.run(&["run", env.path("small.toml").to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    before = refs(&env);
    fails_on(
        &["--models", "small@1.0.0"],
        "category `command_injection` is scored as family `CMD`, which small@1.0.0's taxonomy does not have",
    );
    // A run manifest is not a red-team result.
    let run = json(&env, &["show", "tiny@1.0.0"]);
    let run_id = run["run"].as_str().expect("run id").to_string();
    fails(&["redteam", "show", &run_id], "not a `redteam` manifest");
    fails(
        &["redteam", "retrain", "0123456789ab"],
        "red-team result 0123456789ab does not exist",
    );
    assert_eq!(refs(&env), before, "nothing was stored under a ref");
}

/// The shipped suite parses, generates every category, and is seeded.
#[test]
fn the_default_suite_generates_every_category() {
    let (env, _) = setup();
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../suites/default.toml");
    let suite = suite.to_str().expect("utf-8");
    let a = json(
        &env,
        &["redteam", "run", "--suite", suite, "--models", "tiny@1.0.0"],
    );
    let categories = a["categories"].as_array().expect("categories");
    assert_eq!(categories.len(), 7, "{categories:?}");
    let b = json(
        &env,
        &["redteam", "run", "--suite", suite, "--models", "tiny@1.0.0"],
    );
    assert_eq!(a["attack_set"], b["attack_set"]);
    let m = &a["models"][0];
    assert_eq!(m["categories"].as_object().expect("per category").len(), 7);
}
