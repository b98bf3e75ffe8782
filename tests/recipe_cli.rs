//! End-to-end tests of recipes as the core's unit of work: one hash for the same experiment
//! wherever and from whichever folder it is planned, recipes saved to the store and run
//! with no input file on disk, and store damage reported as damage.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, code, damage, object_path, stderr, stdout};

/// A project folder at `root`: `datasets/` (a base folder, a test file, additions) and
/// `experiments/tiny.toml` naming them relative to itself.
fn project(env: &Env, root: &str, export_dir: &str) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/run");
    let root = env.path(root);
    std::fs::create_dir_all(root.join("datasets/base")).expect("mkdir");
    std::fs::create_dir_all(root.join("experiments")).expect("mkdir");
    for (from, to) in [
        ("train.jsonl", "datasets/base/train.jsonl"),
        ("test.jsonl", "datasets/test.jsonl"),
        ("additions.jsonl", "datasets/additions.jsonl"),
    ] {
        std::fs::copy(fixtures.join(from), root.join(to)).expect("copy fixture");
    }
    let text = common::tiny_experiment("1.0.0", None, None, 1, "0.01")
        .replace(
            "base = [\"train.jsonl\"]",
            "base = [\"./../datasets/base/\"]\nadditions = [\"../experiments/../datasets/additions.jsonl\"]",
        )
        .replace("test = \"test.jsonl\"", "test = \"../datasets/test.jsonl\"")
        + &format!("\n[export]\ndir = \"{export_dir}\"\n");
    let path = root.join("experiments/tiny.toml");
    std::fs::write(&path, text).expect("write experiment");
    path
}

/// `cairn --json plan <experiment>` run in `cwd`: the recipe hash and the resolved recipe.
fn plan(env: &Env, cwd: &Path, experiment: &str) -> (String, serde_json::Value) {
    let out = env
        .cairn()
        .current_dir(cwd)
        .args(["--json", "plan", experiment])
        .output()
        .expect("plan");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        doc["recipe"].as_str().expect("recipe").to_string(),
        doc["resolved"].clone(),
    )
}

#[test]
fn the_recipe_hash_does_not_depend_on_the_working_directory_or_the_project_folder() {
    let env = Env::new();
    let one = project(&env, "one", "models");
    project(&env, "deep/in/two", "elsewhere/models");
    let (hash, recipe) = plan(&env, &env.path("one"), "experiments/tiny.toml");
    let names: Vec<&str> = ["base", "additions"]
        .iter()
        .flat_map(|k| recipe["data"][k].as_array().expect("inputs"))
        .chain([&recipe["data"]["test"]])
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "../datasets/base/train.jsonl",
            "../datasets/additions.jsonl",
            "../datasets/test.jsonl"
        ],
        "input names are the paths as written, relative to the experiment, normalized"
    );
    assert!(
        recipe["export"].get("dir").is_none(),
        "{}",
        recipe["export"]
    );
    assert_eq!(recipe["environment"]["device"], "cpu");
    for (cwd, experiment) in [
        (env.path("one/experiments"), "tiny.toml".to_string()),
        (
            env.path("one/datasets/base"),
            "../../experiments/tiny.toml".into(),
        ),
        (
            env.dir.path().to_path_buf(),
            "one/experiments/../experiments/tiny.toml".into(),
        ),
        (PathBuf::from("/"), one.display().to_string()),
        // Another copy of the project, elsewhere, with another `[export] dir`.
        (env.path("deep/in/two"), "experiments/tiny.toml".into()),
        (env.path("deep"), "in/two/experiments/tiny.toml".into()),
    ] {
        assert_eq!(
            plan(&env, &cwd, &experiment).0,
            hash,
            "planned from {} as {experiment}",
            cwd.display()
        );
    }
}

#[test]
fn a_saved_recipe_runs_with_no_input_file_on_disk() {
    let env = Env::new();
    let experiment = project(&env, "p", "models");
    let (planned, _) = plan(&env, &env.path("p"), "experiments/tiny.toml");
    let out = env
        .cairn()
        .args(["--json", "plan", "--save"])
        .arg(&experiment)
        .output()
        .expect("plan --save");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let saved: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        saved["recipe"],
        planned.as_str(),
        "saving does not change the hash"
    );
    assert_eq!(saved["saved"], true);

    std::fs::remove_dir_all(env.path("p")).expect("delete the project");
    let out = env.run(&["--json", "run", "--recipe", &planned]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["status"], "registered");
    assert_eq!(run["ref"], "tiny@1.0.0");
    assert_eq!(run["recipe"], planned.as_str());
    assert!(
        !env.path("models").exists(),
        "no metadata.json without --metadata-dir"
    );

    let out = env.run(&["--json", "run", "--recipe", &planned]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(again["status"], "up-to-date");
    let out = env.run(&["reproduce", "tiny@1.0.0"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    // A recipe hash the store does not hold is a clear error.
    let missing = "0".repeat(64);
    let out = env.run(&["run", "--recipe", &missing]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!("object {missing} is not in the store")),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["run"]);
    assert_eq!(code(&out), 2, "an experiment or --recipe is required");
}

#[test]
fn a_corrupt_parent_is_reported_as_corrupt_never_as_unregistered() {
    let env = Env::new();
    common::copy_run_fixtures(&env);
    std::fs::write(
        env.path("base.toml"),
        common::tiny_experiment("1.0.0", None, None, 1, "0.01"),
    )
    .expect("write");
    std::fs::write(
        env.path("next.toml"),
        common::tiny_experiment(
            "1.1.0",
            Some("tiny@1.0.0"),
            Some("additions.jsonl"),
            1,
            "0.005",
        ),
    )
    .expect("write");
    let out = env.run(&["--json", "run", "base.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let run_id = run["run"].as_str().expect("run").to_string();
    let show: serde_json::Value =
        serde_json::from_slice(&env.run(&["--json", "show", "tiny@1.0.0"]).stdout).expect("show");
    let weights = show["outputs"]["weights"]
        .as_str()
        .expect("weights")
        .to_string();

    let weights_path = object_path(&env.store(), &weights);
    damage(&weights_path);
    let out = env.run(&["run", "next.toml"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(weights.trim_start_matches("blake3:"))
            && err.contains("corrupt")
            && !err.contains("not a registered version"),
        "{err}"
    );

    // The parent's run manifest itself damaged: still corrupt, with its hash.
    damage(&object_path(&env.store(), &run_id));
    let out = env.run(&["run", "next.toml"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains(&run_id) && err.contains("corrupt") && !err.contains("not a registered"),
        "{err}"
    );
    assert_eq!(
        env.run(&["ref", "get", "tiny@1.1.0"]).status.code(),
        Some(1),
        "nothing registered"
    );
}

/// The recipe hash of every shipped experiment that plans on a fresh store, pinned: a
/// change to how recipes are resolved or encoded shows here first (and would make every
/// stored version of those experiments look new). The incremental experiments name a
/// parent version, so they plan only once it is registered; their recipes are the same
/// structure with `model.parent` set.
#[test]
fn shipped_experiments_keep_their_recipe_hashes() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (experiment, pinned) in [
        (
            "experiments/quickstart.toml",
            "c12193d3807292bf67c03fee9f7b9939a3fb4fe3fa177aae09cbb2f164e05361",
        ),
        (
            "experiments/sensitive.toml",
            "bafcf72c49d6b065c14750db14a78cc86af59c48394f69b489e5594999101b1f",
        ),
        (
            "experiments/encoder.toml",
            "f65780591285c19461b979b1fc99a84c7711fbf8225a95aca044308fcf7065be",
        ),
    ] {
        let (hash, _) = plan(&env, &root, experiment);
        assert_eq!(hash, pinned, "{experiment}: its recipe hash changed");
    }
}
