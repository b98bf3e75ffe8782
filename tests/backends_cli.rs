//! The cross-backend regression snapshot through the binary: `cairn regress <ref>
//! --backends …` evaluates one version on every backend asked for, says which are not built
//! in, stores the table, and `cairn show` lists it.

mod common;

use common::{Env, code, json, stderr};

// Without the wgpu feature: its row says it is not built in (the wgpu build has its own test).
#[cfg(not(feature = "wgpu"))]
#[test]
fn one_version_on_every_backend_is_a_table_in_its_lineage() {
    let env = common::trained_tiny();
    let args = [
        "regress",
        "tiny@1.0.0",
        "--backends",
        "ndarray,onnx,wgpu,tch",
    ];
    let out = env.run(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut settings = insta::Settings::clone_current();
    // ONNX Runtime's kernels depend on the CPU, and its library's name on the install.
    settings.add_filter(r"\d\.\d\de-\d+", "[deviation]");
    settings.add_filter(r"libonnxruntime[^\s,]*", "[onnxruntime]");
    settings.bind(|| insta::assert_snapshot!("backends", common::stdout(&out)));

    let table = json(&env, &args);
    let rows = table["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["backend"].as_str()).collect();
    assert_eq!(
        names,
        ["ndarray", "onnx", "wgpu", "tch"],
        "in the order asked"
    );
    assert_eq!(table["trained_on"], "ndarray");
    assert_eq!(table["reference"], "ndarray");
    let ndarray = &rows[0];
    assert_eq!(ndarray["available"], true);
    assert_eq!(ndarray["flips"], 0);
    for v in ndarray["max_abs_deviation"]
        .as_object()
        .expect("deviations")
        .values()
    {
        assert_eq!(v.as_f64(), Some(0.0), "the trained backend against itself");
    }
    let shown = json(&env, &["show", "tiny@1.0.0"]);
    assert_eq!(
        ndarray["metrics"]["f1"], shown["metrics"]["f1"],
        "the same figure the run recorded"
    );
    let onnx = &rows[1];
    assert_eq!(onnx["available"], true);
    let worst = onnx["max_abs_deviation"]
        .as_object()
        .expect("deviations")
        .values()
        .filter_map(|v| v.as_f64())
        .fold(0.0, f64::max);
    assert!(worst < 1e-4, "{worst}");
    for row in &rows[2..] {
        assert_eq!(row["available"], false, "{row}");
        let note = row["note"].as_str().expect("note");
        assert!(note.contains("--features"), "{note}");
    }

    // The run records what its backend promises a re-run, and reproduce reports it.
    assert_eq!(
        shown["reproducibility"],
        serde_json::json!({"class": "bitwise"})
    );
    let again = json(&env, &["reproduce", "tiny@1.0.0"]);
    assert_eq!(again["promised"], serde_json::json!({"class": "bitwise"}));
    assert_eq!(again["identical"], true);

    // The version's lineage links the table.
    assert_eq!(shown["backends"], table);
    let text = common::stdout(&env.run(&["show", "tiny@1.0.0"]));
    assert!(
        text.contains("reproduces  bit for bit on the same backend, device and thread count"),
        "{text}"
    );
    assert!(
        text.contains("backends    tiny@1.0.0 on 100 test rows"),
        "{text}"
    );
    assert!(
        text.contains("wgpu     unavailable: not built into this cairn"),
        "{text}"
    );
    // And its graph.
    let graph = json(&env, &["graph", "tiny@1.0.0", "--format", "json"]);
    let node = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["kind"] == "backends")
        .expect("a backends node");
    assert_eq!(
        node["label"],
        "backends\\nndarray 0 flips\\nonnx 0 flips\\nwgpu unavailable\\ntch unavailable"
    );

    // And its HTML report.
    let out = env.run(&["report", "tiny@1.0.0", "--html", "report.html"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let html = std::fs::read_to_string(env.path("report.html")).expect("report.html");
    assert!(html.contains("<h2>Backends</h2>"), "{html}");
    assert!(
        html.contains("<tr><td>ndarray</td><td class=\"n\">"),
        "{html}"
    );
    assert!(
        html.contains("<tr><td>tch</td><td colspan=\"6\">unavailable: not built into this cairn"),
        "{html}"
    );
    assert_eq!(code(&env.run(&["fsck"])), 0);

    // Names that are no backend are refused, with nothing stored.
    let out = env.run(&["regress", "tiny@1.0.0", "--backends", "ndarray,cuda"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("unknown backend `cuda`"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["regress", "tiny@1.0.0", "--backends", "onnx,onnx"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("`onnx` is named twice"),
        "{}",
        stderr(&out)
    );
}

/// `cairn run` of the tiny experiment with `[train] backend = "wgpu"`.
fn run_on_wgpu() -> (Env, std::process::Output) {
    let env = Env::new();
    common::copy_run_fixtures(&env);
    let text = common::tiny_experiment("1.0.0", None, None, 2, "0.01")
        .replace("[train]", "[train]\nbackend = \"wgpu\"");
    std::fs::write(env.path("gpu.toml"), text).expect("write");
    let out = env.run(&["run", "gpu.toml"]);
    (env, out)
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn an_experiment_on_a_backend_not_built_in_names_the_feature() {
    let (_env, out) = run_on_wgpu();
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("backend `wgpu` is not built into this cairn")
            && err.contains("--features wgpu")
            && err.contains("gpu.toml:"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The wgpu backend (on Mesa's lavapipe where there is no GPU; `just test-wgpu`): a version
/// trains on it, records where it ran and its reproducibility class, and the cross-backend
/// table compares it with ndarray and ONNX Runtime.
#[cfg(feature = "wgpu")]
#[test]
fn a_version_trained_on_wgpu_is_compared_with_the_cpu_backends() {
    let (env, out) = run_on_wgpu();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let shown = json(&env, &["show", "tiny@1.0.0"]);
    assert_eq!(shown["environment"]["backend"], "wgpu");
    assert_eq!(shown["reproducibility"]["class"], "within-tolerance");
    let table = json(
        &env,
        &["regress", "tiny@1.0.0", "--backends", "wgpu,ndarray,onnx"],
    );
    eprintln!("{table:#}");
    assert_eq!(table["reference"], "wgpu");
    for row in table["rows"].as_array().expect("rows") {
        assert_eq!(row["available"], true, "{row}");
        let worst = row["max_abs_deviation"]
            .as_object()
            .expect("deviations")
            .values()
            .filter_map(|v| v.as_f64())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "{row}");
    }
}
