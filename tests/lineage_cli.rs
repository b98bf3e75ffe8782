//! `cairn log`, `cairn show` and `cairn diff` over a fixture lineage made by running four tiny
//! experiments: a retrain, a fine-tune with additions, a sibling fine-tune with other
//! additions, and a retrain with another learning rate. Outputs are pinned by snapshots with
//! dates and run hashes (which include start times) redacted.

mod common;

use common::{Env, code, stderr, stdout};

fn run(env: &Env, version: &str, parent: Option<&str>, additions: Option<&str>, lr: &str) {
    let text = common::tiny_experiment(version, parent, additions, 1, lr);
    let path = env.path(&format!("{version}.toml"));
    std::fs::write(&path, text).expect("write experiment");
    let out = env
        .cairn()
        .current_dir(env.dir.path())
        .args(["run", "--force"])
        .arg(format!("{version}.toml"))
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{version}: {}", stderr(&out));
}

/// Four versions of `tiny`; `--force` keeps the fixture independent of the gate's verdicts.
fn lineage() -> Env {
    let env = Env::new();
    common::copy_run_fixtures(&env);
    let additions = std::fs::read_to_string(env.path("additions.jsonl")).expect("read");
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (i, line) in additions.lines().enumerate() {
        if i % 2 == 0 {
            first.push(line)
        } else {
            second.push(line)
        }
    }
    std::fs::write(env.path("week1.jsonl"), first.join("\n") + "\n").expect("write");
    std::fs::write(env.path("week2.jsonl"), second.join("\n") + "\n").expect("write");
    run(&env, "1.0.0", None, None, "0.01");
    run(
        &env,
        "1.1.0",
        Some("tiny@1.0.0"),
        Some("week1.jsonl"),
        "0.005",
    );
    run(
        &env,
        "1.2.0",
        Some("tiny@1.0.0"),
        Some("week2.jsonl"),
        "0.005",
    );
    run(&env, "2.0.0", None, None, "0.02");
    env
}

/// The kinds of a JSON graph's nodes, sorted.
fn node_kinds(graph: &serde_json::Value) -> Vec<String> {
    let kinds: std::collections::BTreeSet<String> = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["kind"].as_str().map(String::from))
        .collect();
    kinds.into_iter().collect()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[date]");
    s.add_filter(r"(blake3:)?[0-9a-f]{64}", "[hash]");
    s.add_filter(r"\bn[0-9a-f]{12}\b", "n[id]");
    s.add_filter(r"\b[0-9a-f]{12}\b", "[short]");
    s.add_filter(r"\(\d+ ms\)", "([ms] ms)");
    // The machine's CPU, as the backend reports it.
    s.add_filter(r"(?m)^  hardware    .*$", "  hardware    [hardware]");
    s.add_filter(r#""duration_ms":\s*\d+"#, r#""duration_ms": [ms]"#);
    // ONNX Runtime's kernels depend on the CPU: the deviation's last digits may too.
    s.add_filter(r"\|onnx - burn\| [0-9.e+-]+", "|onnx - burn| [deviation]");
    s.add_filter(r"libonnxruntime[^\s,]*", "[onnxruntime]");
    s.add_filter(
        r#""train_examples_per_second":\s*[0-9.e+-]+"#,
        r#""train_examples_per_second": [rate]"#,
    );
    s
}

#[test]
fn log_show_and_diff_of_a_fixture_lineage() {
    let env = lineage();
    let settings = settings();
    let _guard = settings.bind_to_scope();

    let log = env.run(&["log", "tiny"]);
    assert_eq!(code(&log), 0, "{}", stderr(&log));
    let text = stdout(&log);
    let order: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tiny@"))
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        order,
        ["tiny@2.0.0", "tiny@1.2.0", "tiny@1.1.0", "tiny@1.0.0"],
        "newest first"
    );
    insta::assert_snapshot!("log", text);
    let json: serde_json::Value =
        serde_json::from_slice(&env.run(&["--json", "log", "tiny"]).stdout).expect("json");
    assert_eq!(json[2]["parent"], "tiny@1.0.0");
    assert_eq!(
        json[2]["additions"],
        serde_json::json!([["week1.jsonl", 28]])
    );
    insta::assert_json_snapshot!("log_json", json);

    let show = env.run(&["show", "tiny@1.1.0"]);
    assert_eq!(code(&show), 0);
    insta::assert_snapshot!("show", stdout(&show));

    // Siblings: common ancestor 1.0.0, each with its own additions.
    let siblings = env.run(&["diff", "tiny@1.1.0", "tiny@1.2.0", "--examples", "2"]);
    assert_eq!(code(&siblings), 0, "{}", stderr(&siblings));
    insta::assert_snapshot!("diff_siblings", stdout(&siblings));
    let json: serde_json::Value = serde_json::from_slice(
        &env.run(&["--json", "diff", "tiny@1.1.0", "tiny@1.2.0"])
            .stdout,
    )
    .expect("json");
    assert_eq!(json["common_ancestor"], "tiny@1.0.0");
    assert!(
        json["data"]["added"].as_u64().expect("added") > 0
            && json["data"]["removed"].as_u64().expect("removed") > 0
    );
    insta::assert_json_snapshot!("diff_siblings_json", json);

    // Unrelated retrains: no common ancestor, compared anyway; the learning rate differs,
    // and 2.0.0, a new root version, was gated against the version below it.
    let unrelated = env.run(&["--json", "diff", "tiny@1.0.0", "tiny@2.0.0"]);
    let json: serde_json::Value = serde_json::from_slice(&unrelated.stdout).expect("json");
    assert_eq!(json["common_ancestor"], serde_json::Value::Null);
    let params = json["params"].as_array().expect("params");
    let keys: Vec<&str> = params.iter().filter_map(|p| p["key"].as_str()).collect();
    assert_eq!(
        keys,
        [
            "regression.baseline.name",
            "regression.baseline.run",
            "train.learning_rate"
        ]
    );
    assert_eq!(params[0]["b"], "tiny@1.2.0");
    assert_eq!(
        params[2],
        serde_json::json!({"key": "train.learning_rate", "a": 0.01, "b": 0.02})
    );
    assert_eq!(json["data"]["added"], 0);
    let text = stdout(&env.run(&["diff", "tiny@1.0.0", "tiny@2.0.0"]));
    assert!(
        text.contains("common ancestor: none (unrelated versions; compared anyway)"),
        "{text}"
    );

    // The lineage of a version, version-centric, in every format: its chain of parents,
    // each with its additions file, the base collapsed into one node.
    let dot = env.run(&["graph", "tiny@1.1.0"]);
    assert_eq!(code(&dot), 0, "{}", stderr(&dot));
    assert!(
        stdout(&dot).contains("label=\"fine-tune\""),
        "{}",
        stdout(&dot)
    );
    insta::assert_snapshot!("graph_dot", stdout(&dot));
    insta::assert_snapshot!(
        "graph_mermaid",
        stdout(&env.run(&["graph", "tiny@1.1.0", "--format", "mermaid"]))
    );
    let json = common::json(&env, &["graph", "tiny@1.1.0", "--format", "json"]);
    assert_eq!(node_kinds(&json), ["additions", "base", "version"]);
    let version = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["version"]["name"] == "tiny@1.1.0")
        .expect("tiny@1.1.0's node");
    assert_eq!(version["version"]["mode"], "fine-tune");
    assert_eq!(version["version"]["gate"], "accepted");
    assert_eq!(version["version"]["backend"], "ndarray");
    assert_eq!(version["version"]["base_as_in"], "tiny@1.0.0");
    insta::assert_json_snapshot!("graph_json", json);
    let svg = stdout(&env.run(&["graph", "tiny@1.1.0", "--format", "svg"]));
    assert!(
        svg.starts_with("<svg") && svg.contains("tiny@1.1.0") && svg.contains("week1.jsonl"),
        "an SVG picture: {svg}"
    );

    // `--full`: every object as a node, as before.
    let full = common::json(&env, &["graph", "tiny@1.1.0", "--format", "json", "--full"]);
    assert_eq!(
        node_kinds(&full),
        ["dataset", "input", "report", "run", "tokenizer"]
    );
    insta::assert_snapshot!(
        "graph_full_dot",
        stdout(&env.run(&["graph", "tiny@1.1.0", "--full"]))
    );

    // A model's name: every version, siblings and unrelated retrains included.
    let model = common::json(&env, &["graph", "tiny", "--format", "json"]);
    let versions: Vec<&str> = model["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["version"]["name"].as_str())
        .collect();
    assert_eq!(
        versions,
        ["tiny@1.0.0", "tiny@1.1.0", "tiny@1.2.0", "tiny@2.0.0"]
    );
    let parents = model["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["label"] == "fine-tune")
        .count();
    assert_eq!(parents, 2, "1.1.0 and 1.2.0 from 1.0.0; 2.0.0 a retrain");
    let svg = stdout(&env.run(&["graph", "tiny", "--format", "svg"]));
    assert_eq!(svg.matches(r#"class="version "#).count(), 4, "{svg}");
    // 1.0.0 → 1.1.0 straight down, 1.0.0 → 1.2.0 round the side.
    assert_eq!(svg.matches(r#"class="edge parent""#).count(), 2, "{svg}");
    assert!(svg.contains(r#"width="1200""#), "{svg}");

    let missing = env.run(&["diff", "tiny@1.0.0", "tiny@9.0.0"]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("`tiny@9.0.0` is not a registered version"),
        "{}",
        stderr(&missing)
    );
}
