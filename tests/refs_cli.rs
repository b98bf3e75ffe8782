//! Refs that cannot lie: a version ref holds a run of that name and version, and a model's
//! `latest` its highest registered version — refused by `ref set`, found by `fsck`, refused
//! when a version is loaded, and refused by `clone` and `pull` from a remote whose refs
//! were rewritten.

mod common;

use std::path::Path;

use common::{Env, code, stderr, stdout, trained_tiny};

fn run_of(env: &Env, reference: &str) -> String {
    let out = env.run(&["ref", "get", reference]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// Writes a ref file as someone with access to the folder would, around cairn.
fn forge(store: &Path, name: &str, target: &str) {
    let file = store.join("refs").join(name.replace('/', "%2F"));
    std::fs::write(file, format!("{target}\n")).expect("forge ref");
}

#[test]
fn ref_set_refuses_a_version_ref_or_latest_that_would_lie() {
    let env = trained_tiny();
    let run = run_of(&env, "tiny@1.0.0");
    // Another model's name, and another version of this one.
    for name in ["other@1.0.0", "tiny@2.0.0"] {
        let out = env.run(&["ref", "set", name, &run]);
        assert_eq!(code(&out), 1, "{name}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("ref `{name}`")) && err.contains("tiny@1.0.0"),
            "{err}"
        );
        assert_eq!(
            env.run(&["ref", "get", name]).status.code(),
            Some(1),
            "{name} was set"
        );
    }
    // A model's `latest` names its highest registered version, nothing else.
    let blob = stdout(&env.run(&["add", "tiny.toml"]));
    let blob = blob.split_whitespace().next().expect("hash").to_string();
    let out = env.run(&["ref", "set", "tiny/latest", &blob]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("highest registered version"),
        "{}",
        stderr(&out)
    );
    // A plain ref (no model of that name) may still point anywhere.
    let out = env.run(&["ref", "set", "notes/latest", &blob]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn fsck_finds_and_loading_refuses_a_forged_version_ref() {
    let env = trained_tiny();
    let run = run_of(&env, "tiny@1.0.0");
    forge(&env.store(), "tiny@9.9.9", &run);
    let out = env.run(&["fsck"]);
    assert_eq!(code(&out), 1, "fsck passed a forged ref: {}", stderr(&out));
    let found = stdout(&out);
    assert!(
        found.contains(
            "ref `tiny@9.9.9` names version 9.9.9 of `tiny` but holds the run of tiny@1.0.0"
        ),
        "{found}"
    );
    // Loading the forged version is refused, naming both.
    let out = env.run(&[
        "export",
        "tiny@9.9.9",
        "--safetensors",
        &env.path("out").display().to_string(),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("tiny@9.9.9") && stderr(&out).contains("tiny@1.0.0"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path("out").join("model.safetensors").exists());
}

#[test]
fn clone_and_pull_refuse_a_rewritten_ref_on_the_remote() {
    let env = trained_tiny();
    let remote = env.path("remote");
    let url = format!("file://{}", remote.display());
    let out = env.run(&["remote", "add", "origin", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["push"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Someone with write access to the remote points a version at another run.
    let run = run_of(&env, "tiny@1.0.0");
    forge(&remote, "tiny@3.0.0", &run);
    let clone = env.path("clone");
    let out = env
        .cairn_at(&clone)
        .args(["clone", &url])
        .output()
        .expect("clone");
    assert_eq!(code(&out), 1, "clone accepted a forged ref");
    assert!(
        stderr(&out).contains(
            "ref `tiny@3.0.0` names version 3.0.0 of `tiny` but holds the run of tiny@1.0.0"
        ),
        "{}",
        stderr(&out)
    );
    let listed = env
        .cairn_at(&clone)
        .args(["ref", "list"])
        .output()
        .expect("list");
    assert!(
        !stdout(&listed).contains("tiny@3.0.0"),
        "{}",
        stdout(&listed)
    );
}
