//! A store written by an older cairn (`tests/fixtures/store-v0`, made by commit 0158b74:
//! before recipes were built from objects, before the architecture registry, the typed
//! manifest enums and the seed-workflow taxonomy). Today's cairn reads it, verifies it and
//! reproduces every version in it bit for bit; a fine-tune of an old version continues on
//! the old taxonomy when the experiment names it.

mod common;

use std::path::Path;

use common::{Env, code, stderr, stdout};

/// Copies the fixture store into the test's own store folder.
fn old_store(env: &Env) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read fixture") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/store-v0");
    copy(&fixture.join("store"), &env.store());
}

#[test]
fn an_older_store_is_read_verified_and_reproduced_bit_for_bit() {
    let env = Env::new();
    old_store(&env);
    let out = env.run(&["fsck"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    let out = env.run(&["--json", "log"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let versions: Vec<(&str, &str)> = log
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["version"].as_str().unwrap_or_default(),
                e["mode"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("tiny@1.0.0", "retrain"),
        ("tiny@1.1.0", "fine-tune"),
        ("tinyt@1.0.0", "retrain"),
    ] {
        assert!(versions.contains(&expected), "{versions:?}");
    }
    let out = env.run(&["show", "tiny@1.1.0"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("fine-tune from tiny@1.0.0"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["diff", "tiny@1.0.0", "tiny@1.1.0"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // An old recipe (it still names `[export] dir`) is not run under another recipe id.
    let show: serde_json::Value =
        serde_json::from_slice(&env.run(&["--json", "show", "tiny@1.0.0"]).stdout).expect("show");
    let recipe = show["recipe"].as_str().expect("recipe");
    let refs_before = stdout(&env.run(&["ref", "list"]));
    let out = env.run(&["run", "--recipe", recipe.trim_start_matches("blake3:")]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("re-encodes to"), "{}", stderr(&out));
    assert_eq!(
        stdout(&env.run(&["ref", "list"])),
        refs_before,
        "nothing registered"
    );

    // Weights, ONNX export, dataset, tokenizer, evaluation and regression report: the
    // bag, its fine-tune and the transformer come out byte for byte as the older cairn
    // wrote them.
    for version in ["tiny@1.0.0", "tiny@1.1.0", "tinyt@1.0.0"] {
        let out = env.run(&["reproduce", version]);
        assert_eq!(code(&out), 0, "{version}: {}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("weights     identical")
                && text.contains("onnx        identical")
                && text.ends_with(&format!("{version}: bit-for-bit identical\n")),
            "{text}"
        );
    }
}

#[test]
fn an_old_version_is_fine_tuned_on_the_taxonomy_it_was_trained_on() {
    let env = Env::new();
    old_store(&env);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/store-v0");
    for f in ["taxonomy-v0.toml", "additions-v0.jsonl", "test-v0.jsonl"] {
        std::fs::copy(fixture.join(f), env.path(f)).expect("copy");
    }
    let experiment = |taxonomy: &str| {
        format!(
            "[experiment]\nname = \"tiny\"\nversion = \"1.2.0\"\n\n[data]\nbase = [\"additions-v0.jsonl\"]\ntest = \"test-v0.jsonl\"\n{taxonomy}\n[tokenizer]\nmax_length = 32\n\n[model]\narchitecture = \"bag\"\nembed_dim = 8\nhidden = 16\nbuckets = 512\nparent = \"tiny@1.1.0\"\n\n[train]\nseed = 7\nepochs = 1\nlearning_rate = 0.001\n\n[regression]\nreject_rate = 1.0\ncaution_rate = 1.0\n"
        )
    };
    // The built-in taxonomy has moved on: the old rows no longer validate against it, and
    // the parent was trained on another one.
    std::fs::write(env.path("next.toml"), experiment("")).expect("write");
    let out = env.run(&["run", "next.toml"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("does not match family"),
        "{}",
        stderr(&out)
    );
    // Naming the old taxonomy continues the old line.
    std::fs::write(
        env.path("next.toml"),
        experiment("taxonomy = \"taxonomy-v0.toml\"\n"),
    )
    .expect("write");
    let out = env.run(&["--json", "run", "next.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(run["ref"], "tiny@1.2.0");
}
