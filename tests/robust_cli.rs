//! Hardening, part 2, through the binary: gc refuses when a ref's closure cannot be read,
//! registration is one step whose derived state (`latest`, `metadata.json`) any later run
//! re-derives, `latest` never moves backwards or past the gate, deploys switch atomically,
//! empty data is refused, limits are checked before work, damaged objects heal on re-add,
//! the store's format marker is checked, and the messages name the real problem.

mod common;

use common::{Env, code, json, stderr, stdout};

/// A store with `tiny@1.0.0` trained on the fixtures.
fn trained() -> Env {
    let env = Env::new();
    common::copy_run_fixtures(&env);
    std::fs::write(
        env.path("tiny.toml"),
        common::tiny_experiment("1.0.0", None, None, 2, "0.01"),
    )
    .expect("write");
    let out = env.run(&["run", "tiny.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    env
}

fn run_object(env: &Env, reference: &str) -> String {
    json(env, &["show", reference])["run"]
        .as_str()
        .expect("run")
        .to_string()
}

fn object_count(env: &Env) -> usize {
    walkdir(&env.store().join("objects"))
}

fn walkdir(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    if e.path().is_dir() {
                        walkdir(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn gc_refuses_when_a_version_manifest_is_missing_or_empty() {
    for damage in ["delete", "truncate"] {
        let env = trained();
        let run = run_object(&env, "tiny@1.0.0");
        let path = common::object_path(&env.store(), &run);
        let mut perms = std::fs::metadata(&path).expect("stat").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).expect("chmod");
        match damage {
            "delete" => std::fs::remove_file(&path).expect("delete"),
            _ => std::fs::write(&path, b"").expect("truncate"),
        }
        let before = object_count(&env);
        let out = env.run(&["gc", "--grace", "0s"]);
        assert_eq!(code(&out), 1, "{damage}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("gc refused")
                && (err.contains("`tiny@1.0.0`") || err.contains("`tiny/latest`"))
                && err.contains(&run)
                && err.contains("--force-broken-refs"),
            "{damage}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(object_count(&env), before, "{damage}: nothing deleted");
        // Told to, it sweeps what only the broken manifest referenced.
        let out = env.run(&["gc", "--grace", "0s", "--force-broken-refs"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(object_count(&env) < before, "{damage}");
    }
}
