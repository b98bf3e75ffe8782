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

fn write_tiny(env: &Env, file: &str, version: &str, parent: Option<&str>, lr: &str) {
    std::fs::write(
        env.path(file),
        common::tiny_experiment(version, parent, None, 2, lr),
    )
    .expect("write");
}

fn ref_file(env: &Env, name: &str) -> std::path::PathBuf {
    env.store().join("refs").join(name.replace('/', "%2F"))
}

#[test]
fn registration_is_one_step_and_a_rerun_re_derives_latest_and_metadata() {
    let env = Env::new();
    common::copy_run_fixtures(&env);
    write_tiny(&env, "tiny.toml", "1.0.0", None, "0.01");
    // A file where the metadata folder must go: refused before any work, nothing published.
    std::fs::create_dir_all(env.path("models")).expect("mkdir");
    std::fs::write(env.path("models/tiny"), b"in the way").expect("write");
    let out = env.run(&["run", "tiny.toml"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("models/tiny` is a file") && err.contains("[export] dir"),
        "{err}"
    );
    assert!(!ref_file(&env, "tiny@1.0.0").exists(), "nothing published");
    std::fs::remove_file(env.path("models/tiny")).expect("rm");
    let out = env.run(&["run", "tiny.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let metadata = env.path("models/tiny/1.0.0/metadata.json");
    let written = std::fs::read_to_string(&metadata).expect("metadata");

    // A crash after the version ref (the commit point) and before what is derived from it:
    // the rerun finds the version up to date and derives `latest` and metadata.json again.
    std::fs::remove_file(ref_file(&env, "tiny/latest")).expect("rm latest");
    std::fs::remove_file(&metadata).expect("rm metadata");
    let out = env.run(&["run", "tiny.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("up to date"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&metadata).expect("metadata"),
        written
    );
    assert_eq!(
        json(&env, &["show", "tiny/latest"])["run"],
        json(&env, &["show", "tiny@1.0.0"])["run"]
    );
    // A stale metadata.json is rewritten too; an intact one is left alone.
    std::fs::write(&metadata, "{}").expect("stale");
    assert_eq!(code(&env.run(&["run", "tiny.toml"])), 0);
    assert_eq!(
        std::fs::read_to_string(&metadata).expect("metadata"),
        written
    );
}

#[test]
fn latest_never_moves_backwards_and_a_new_root_version_is_gated() {
    let env = trained();
    // A newer root version trained to be useless: gated against 1.0.0 (the version below
    // it), rejected, and `latest` stays.
    write_tiny(&env, "bad.toml", "2.0.0", None, "0.0000001");
    let out = env.run(&["run", "bad.toml"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("against tiny@1.0.0"),
        "{}",
        stderr(&out)
    );
    assert!(!ref_file(&env, "tiny@2.0.0").exists());
    let v1 = run_object(&env, "tiny@1.0.0");
    assert_eq!(run_object(&env, "tiny/latest"), v1);
    let plan = json(&env, &["plan", "bad.toml"]);
    assert_eq!(
        plan["resolved"]["regression"]["baseline"]["name"],
        "tiny@1.0.0"
    );

    // A lower version registered after a higher one does not take `latest` from it.
    write_tiny(&env, "next.toml", "1.2.0", Some("tiny@1.0.0"), "0.01");
    assert_eq!(code(&env.run(&["run", "next.toml"])), 0);
    let v12 = run_object(&env, "tiny@1.2.0");
    assert_eq!(run_object(&env, "tiny/latest"), v12);
    write_tiny(&env, "older.toml", "1.1.0", Some("tiny@1.0.0"), "0.01");
    let out = env.run(&["run", "older.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        run_object(&env, "tiny/latest"),
        v12,
        "latest stays on 1.2.0"
    );
    // Moved back by hand, the next run of the model puts it on the highest version again.
    let out = env.run(&["ref", "set", "tiny/latest", &v1]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&env.run(&["run", "older.toml"])), 0);
    assert_eq!(run_object(&env, "tiny/latest"), v12);
}

/// tiny@1.0.0 and tiny@1.1.0 (fine-tuned from it).
fn two_versions() -> Env {
    let env = trained();
    write_tiny(&env, "next.toml", "1.1.0", Some("tiny@1.0.0"), "0.01");
    let out = env.run(&["run", "--force", "next.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    env
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn deploy_switches_one_link_keeps_the_newest_releases_and_cleans_stale_files() {
    let env = two_versions();
    let prod = env.path("prod");
    // Leftovers of older interrupted changes and an older cairn's backups.
    std::fs::create_dir_all(prod.join(".cairn-backups/0000-old")).expect("mkdir");
    std::fs::create_dir_all(prod.join(".cairn-backups/0001-old")).expect("mkdir");
    for stale in [
        "..cairn-deploy.pending.4242.tmp",
        ".metadata.json.restore",
        ".model.onnx.incoming",
    ] {
        std::fs::write(prod.join(stale), b"stale").expect("write");
    }
    for i in 0..5 {
        let version = if i % 2 == 0 {
            "tiny@1.0.0"
        } else {
            "tiny@1.1.0"
        };
        let out = env.run(&["deploy", version, "--to", "prod", "--keep", "2"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // Deploying what is already served changes nothing.
    let out = env.run(&["deploy", "tiny@1.0.0", "--to", "prod", "--keep", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already serves tiny@1.0.0"),
        "{}",
        stderr(&out)
    );
    let names = names_in(&prod);
    assert_eq!(
        names,
        [
            ".cairn-backups",
            ".cairn-current",
            ".cairn-deploy.lock",
            ".cairn-releases",
            "metadata.json",
            "model.onnx",
            "tokenizer.json"
        ],
        "stale files removed"
    );
    assert_eq!(names_in(&prod.join(".cairn-releases")).len(), 2, "kept 2");
    assert_eq!(
        names_in(&prod.join(".cairn-backups")).len(),
        0,
        "old backups pruned too"
    );
    let current = std::fs::read_link(prod.join(".cairn-current")).expect("link");
    assert!(prod.join(&current).join("model.onnx").is_file());
    for f in ["model.onnx", "tokenizer.json", "metadata.json"] {
        assert_eq!(
            std::fs::read_link(prod.join(f)).expect("link"),
            std::path::Path::new(".cairn-current").join(f)
        );
    }
    // The previous release is there to roll back to; one further back was pruned, and the
    // rollback says so instead of half-restoring.
    let out = env.run(&["deploy", "--rollback", "--to", "prod", "--keep", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["deploy", "--rollback", "--to", "prod", "--keep", "2"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("--keep"), "{}", stderr(&out));
    assert_eq!(code(&env.run(&["fsck"])), 0);

    // A file named as the folder.
    std::fs::write(env.path("afile"), b"x").expect("write");
    let out = env.run(&["deploy", "tiny@1.0.0", "--to", "afile"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("`afile` is a file; --to names the production folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(env.path("afile")).expect("read"), b"x");
}
