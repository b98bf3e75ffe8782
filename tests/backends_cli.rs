//! The cross-backend regression snapshot through the binary: `cairn regress <ref>
//! --backends …` evaluates one version on every backend asked for, says which are not built
//! in, stores the table, and `cairn show` lists it.

mod common;

use common::{Env, code, json, stderr};

/// A backend row's largest |Δ| over its outputs.
fn worst_deviation(row: &serde_json::Value) -> f64 {
    row["max_abs_deviation"]
        .as_object()
        .expect("deviations")
        .values()
        .filter_map(|v| v.as_f64())
        .fold(0.0, f64::max)
}

/// Whether this test build has `backend` built into its cairn.
fn built_in(backend: &str) -> bool {
    match backend {
        "wgpu" => cfg!(feature = "wgpu"),
        "tch" => cfg!(feature = "tch"),
        _ => true,
    }
}

/// The optional backend this build lacks (the table and error tests name it).
#[cfg(not(all(feature = "wgpu", feature = "tch")))]
const MISSING: &str = if cfg!(feature = "wgpu") {
    "tch"
} else {
    "wgpu"
};

// Every backend, built in or not: a row each; those not built in say so (tch builds have
// their own tests). CI builds wgpu in, so there its row is a measured one.
#[cfg(not(feature = "tch"))]
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
    // The adapter wgpu ran on names this machine's driver.
    settings.add_filter(r"(?m)^(  wgpu .* \d+  ).*$", "$1[adapter]");
    let name = if built_in("wgpu") {
        "backends-wgpu-built"
    } else {
        "backends"
    };
    settings.bind(|| insta::assert_snapshot!(name, common::stdout(&out)));

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
    let worst = worst_deviation(onnx);
    assert!(worst < 1e-4, "{worst}");
    // The summary each picture shows: flips where the backend ran, else unavailable.
    let mut summary = Vec::new();
    for row in rows {
        let name = row["backend"].as_str().expect("name");
        assert_eq!(row["available"], built_in(name), "{row}");
        if built_in(name) {
            assert!(worst_deviation(row) < 1e-3, "{row}");
            summary.push(format!("{name} {} flips", row["flips"]));
        } else {
            let note = row["note"].as_str().expect("note");
            assert!(note.contains("--features"), "{note}");
            summary.push(format!("{name} unavailable"));
        }
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
        text.contains("tch      unavailable: not built into this cairn"),
        "{text}"
    );
    // And its graph.
    let graph = json(&env, &["graph", "tiny@1.0.0", "--format", "json"]);
    let badge = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["kind"] == "version")
        .flat_map(|n| n["version"]["badges"].as_array().expect("badges"))
        .find(|b| b["kind"] == "backends")
        .expect("a backends badge");
    assert_eq!(badge["label"], format!("backends: {}", summary.join(", ")));
    let graph = json(&env, &["graph", "tiny@1.0.0", "--format", "json", "--full"]);
    let node = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["kind"] == "backends")
        .expect("a backends node");
    assert_eq!(node["label"], format!("backends\n{}", summary.join("\n")));

    // And its HTML report.
    let out = env.run(&["report", "tiny@1.0.0", "--html", "report.html"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let html = std::fs::read_to_string(env.path("report.html")).expect("report.html");
    assert!(html.contains("<h2>Backends</h2>"), "{html}");
    // And the model's history page, in its version's row.
    let out = env.run(&["report", "tiny", "--html", "history.html"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let history = std::fs::read_to_string(env.path("history.html")).expect("history.html");
    assert!(
        history.contains(&format!("<td>{}</td>", summary.join(", "))),
        "{history}"
    );
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

/// `cairn run` of the tiny experiment with `[train] backend = "<backend>"`.
fn run_on(backend: &str) -> (Env, std::process::Output) {
    let env = Env::new();
    common::copy_run_fixtures(&env);
    let text = common::tiny_experiment("1.0.0", None, None, 2, "0.01")
        .replace("[train]", &format!("[train]\nbackend = \"{backend}\""));
    std::fs::write(env.path("gpu.toml"), text).expect("write");
    let out = env.run(&["run", "gpu.toml"]);
    (env, out)
}

#[cfg(not(all(feature = "wgpu", feature = "tch")))]
#[test]
fn an_experiment_on_a_backend_not_built_in_names_the_feature() {
    let (_env, out) = run_on(MISSING);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("backend `{MISSING}` is not built into this cairn"))
            && err.contains(&format!("--features {MISSING}"))
            && err.contains("gpu.toml:"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A version trained on `backend` (wgpu on Mesa's lavapipe where there is no GPU, tch on
/// libtorch's CPU device): it records where it ran, its hardware and its reproducibility
/// class; it reproduces within that class; and the cross-backend table compares it with
/// ndarray and ONNX Runtime.
#[cfg(any(feature = "wgpu", feature = "tch"))]
fn trained_elsewhere_is_compared_with_the_cpu_backends(backend: &str, detail: &str) {
    let (env, out) = run_on(backend);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let shown = json(&env, &["show", "tiny@1.0.0"]);
    eprintln!("{backend}: hardware {}", shown["hardware"]);
    assert_eq!(shown["environment"]["backend"], backend);
    assert_eq!(shown["reproducibility"]["class"], "within-tolerance");
    assert!(
        shown["hardware"]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(detail)),
        "{shown}"
    );
    let again = json(&env, &["reproduce", "tiny@1.0.0"]);
    eprintln!("{backend}: reproduce {again:#}");
    assert_eq!(again["reproduced"], true, "{again}");
    assert_eq!(again["environment"], serde_json::json!([]), "{again}");
    let table = json(
        &env,
        &[
            "regress",
            "tiny@1.0.0",
            "--backends",
            &format!("{backend},ndarray,onnx"),
        ],
    );
    eprintln!("{table:#}");
    assert_eq!(table["reference"], backend);
    for row in table["rows"].as_array().expect("rows") {
        assert_eq!(row["available"], true, "{row}");
        assert!(worst_deviation(row) < 1e-3, "{row}");
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn a_version_trained_on_wgpu_is_compared_with_the_cpu_backends() {
    trained_elsewhere_is_compared_with_the_cpu_backends("wgpu", "wgpu (WGSL), kernels for");
}

#[cfg(feature = "tch")]
#[test]
fn a_version_trained_on_tch_is_compared_with_the_cpu_backends() {
    trained_elsewhere_is_compared_with_the_cpu_backends("tch", "libtorch 2.9");
}

/// A copy of `tiny@1.0.0`'s run, changed by `edit`, registered as `tiny@<version>`.
fn forged(
    env: &Env,
    version: &str,
    edit: impl FnOnce(&cairn_store::Store, &mut cairn_spec::RunManifest),
) -> String {
    let store = cairn_store::Store::open(env.store()).expect("store");
    let name: cairn_store::RefName = "tiny@1.0.0".parse().expect("ref");
    let id = store.get_ref(&name).expect("ref").expect("registered");
    let mut run: cairn_spec::RunManifest = store.get_manifest(&id).expect("run");
    // The run records the version it is registered as (a version ref must hold its own run).
    run.version = version.to_string();
    edit(&store, &mut run);
    let forged = store.put_manifest(&run).expect("manifest");
    let reference = format!("tiny@{version}");
    let name: cairn_store::RefName = reference.parse().expect("ref");
    store
        .set_ref(&name, forged, cairn_store::Expect::Absent)
        .expect("set ref");
    reference
}

/// `tiny@1.0.0` as `tiny@<version>` with recorded weights that are the real ones with `delta`
/// added to the last parameter, and a backend that promised `promised`: what a re-run on a
/// GPU backend finds when its kernels summed in another order.
fn recorded_elsewhere(
    env: &Env,
    version: &str,
    delta: f32,
    promised: cairn_spec::Reproducibility,
) -> String {
    forged(env, version, |store, run| {
        let mut weights = store.read(&run.outputs.weights).expect("weights");
        // The format ends with the last tensor's last float32, little-endian.
        let at = weights.len() - 4;
        let last = f32::from_le_bytes(weights[at..].try_into().expect("4 bytes"));
        weights[at..].copy_from_slice(&(last + delta).to_le_bytes());
        run.outputs.weights = store.put_bytes(&weights).expect("put").id;
        run.reproducibility = Some(promised);
    })
}

/// A version trained on a backend this build lacks stays usable: it is evaluated on ndarray.
#[cfg(not(all(feature = "wgpu", feature = "tch")))]
#[test]
fn a_version_trained_on_a_backend_this_build_lacks_is_evaluated_on_ndarray() {
    let env = common::trained_tiny();
    let gpu = forged(&env, "1.0.9", |store, run| {
        let mut recipe: cairn_spec::Recipe = store.get_manifest(&run.recipe).expect("recipe");
        for env in [&mut recipe.environment, &mut run.environment] {
            env.backend = MISSING.into();
            env.device = "default".into();
        }
        recipe.train.backend = MISSING.into();
        run.recipe = store.put_manifest(&recipe).expect("recipe");
    });
    let backends = format!("ndarray,onnx,{MISSING}");
    let table = json(&env, &["regress", &gpu, "--backends", &backends]);
    assert_eq!(table["trained_on"], MISSING);
    assert_eq!(table["reference"], "ndarray", "{table}");
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows[0]["available"], true);
    assert_eq!(rows[1]["flips"], 0, "{table}");
    assert_eq!(rows[2]["available"], false);
    // The gate between it and a CPU version runs too, and says what it ran on.
    let out = env.run(&["regress", "tiny@1.0.0", &gpu]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = common::stdout(&out);
    assert!(
        text.contains(&format!(
            "backend: ndarray (trained on {MISSING}, not built in)"
        )),
        "{text}"
    );
}

#[test]
fn reproduce_measures_a_rerun_against_the_tolerance_its_backend_promised() {
    use cairn_spec::Reproducibility::{Bitwise, WithinTolerance};
    let env = common::trained_tiny();
    let within = WithinTolerance {
        max_abs_deviation: 1e-4,
    };

    // Within the promise: the weights differ by 2e-6, so do the outputs at most as much.
    let close = recorded_elsewhere(&env, "1.0.1", 2e-6, within);
    let out = env.run(&["reproduce", &close]);
    let text = common::stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert!(text.contains("weights     DIFFERS"), "{text}");
    assert!(
        text.contains("reproduced within the tolerance its backend promises"),
        "{text}"
    );
    let report = json(&env, &["reproduce", &close]);
    assert_eq!(report["identical"], false);
    assert_eq!(report["reproduced"], true);
    let d = &report["deviation"];
    let w = d["max_weight_deviation"].as_f64().expect("weights");
    assert!(w > 1e-6 && w < 3e-6, "{d}");
    assert!(
        d["max_output_deviation"].as_f64().expect("outputs") <= w * 64.0,
        "{d}"
    );
    assert_eq!(d["tolerance"], 1e-4);
    assert_eq!(d["within"], true);

    // The same re-run against a bit-for-bit promise fails, and says by how much.
    let strict = recorded_elsewhere(&env, "1.0.2", 2e-6, Bitwise);
    let out = env.run(&["reproduce", &strict]);
    let text = common::stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(
        text.contains("deviation   weights max |Δ| 1.9") || text.contains("|Δ| 2.0"),
        "{text}"
    );
    assert!(
        text.contains("not reproduced, although its backend promises bit for bit"),
        "{text}"
    );

    // Past the tolerance: refused.
    let far = recorded_elsewhere(&env, "1.0.3", 0.5, within);
    let out = env.run(&["--json", "reproduce", &far]);
    assert_eq!(code(&out), 1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["reproduced"], false);
    assert_eq!(report["deviation"]["within"], false);
}

#[test]
fn a_device_is_checked_at_its_line_and_recorded_with_its_hardware() {
    let env = common::trained_tiny();
    let shown = json(&env, &["show", "tiny@1.0.0"]);
    assert_eq!(shown["environment"]["device"], "cpu");
    let hardware = &shown["hardware"];
    assert!(
        hardware["name"].as_str().is_some_and(|n| !n.is_empty())
            && hardware["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("burn-ndarray")),
        "{shown}"
    );
    let text = common::stdout(&env.run(&["show", "tiny@1.0.0"]));
    assert!(text.contains("  hardware    "), "{text}");

    // Writing the default device is the same recipe: nothing new runs.
    let base = std::fs::read_to_string(env.path("tiny.toml")).expect("read");
    let with = |device: &str| base.replace("[train]", &format!("[train]\ndevice = \"{device}\""));
    std::fs::write(env.path("cpu.toml"), with("cpu")).expect("write");
    let out = env.run(&["run", "cpu.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&env, &["show", "tiny@1.0.0"])["recipe"],
        shown["recipe"]
    );

    // A device the backend does not drive, or no device at all, is one line at its place.
    let line = base.lines().position(|l| l == "[train]").expect("[train]") + 2;
    for (device, says) in [
        (
            "cuda:0",
            "backend `ndarray` does not run on device `cuda:0` (its devices: cpu)",
        ),
        ("gpu", "unknown device `gpu`"),
        ("cuda:x", "the device index must be a number"),
    ] {
        std::fs::write(env.path("bad.toml"), with(device)).expect("write");
        let out = env.run(&["run", "bad.toml"]);
        assert_eq!(code(&out), 1, "{device}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("bad.toml:{line}:")) && err.contains(says),
            "{device}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert_eq!(code(&env.run(&["fsck"])), 0);
}
