//! Hardening, part 2, through the binary: gc refuses when a ref's closure cannot be read,
//! registration is one step whose derived state (`latest`, `metadata.json`) any later run
//! re-derives, `latest` never moves backwards or past the gate, deploys switch atomically,
//! empty data is refused, limits are checked before work, damaged objects heal on re-add,
//! the store's format marker is checked, and the messages name the real problem.

mod common;

use common::{Env, code, json, stderr, stdout};

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
        let env = common::trained_tiny();
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
    let env = common::trained_tiny();
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
    // `latest` cannot be moved back by hand; left behind (as a run killed between
    // registering and moving it leaves it), the next run of the model moves it up again.
    let out = env.run(&["ref", "set", "tiny/latest", &v1]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("highest registered version"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        env.store().join("refs").join("tiny%2Flatest"),
        format!("{}\n", v1.trim().trim_start_matches("blake3:")),
    )
    .expect("leave latest behind");
    let out = env.run(&["fsck"]);
    assert_eq!(
        code(&out),
        0,
        "a lagging latest is not damage: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("lags"), "{}", stderr(&out));
    assert_eq!(code(&env.run(&["run", "older.toml"])), 0);
    assert_eq!(run_object(&env, "tiny/latest"), v12);
}

/// tiny@1.0.0 and tiny@1.1.0 (fine-tuned from it).
fn two_versions() -> Env {
    let env = common::trained_tiny();
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

fn store_object_count(env: &Env) -> usize {
    object_count(env)
}

#[test]
fn empty_or_one_label_data_is_refused_before_anything_is_stored() {
    let env = common::trained_tiny();
    let before = store_object_count(&env);
    let train = std::fs::read_to_string(env.path("train.jsonl")).expect("train");
    let attacks: String = train
        .lines()
        .filter(|l| l.contains("\"label\":1") || l.contains("\"label\": 1"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!attacks.is_empty());
    std::fs::write(env.path("empty.jsonl"), b"").expect("write");
    std::fs::write(env.path("attacks.jsonl"), &attacks).expect("write");
    for (file, base, test, message) in [
        (
            "a.toml",
            "empty.jsonl",
            "test.jsonl",
            "the training set has 0 row(s); a run needs at least 10 (add rows, or lower [data] min_train_rows)",
        ),
        (
            "b.toml",
            "train.jsonl",
            "empty.jsonl",
            "the test set has 0 row(s); a run needs at least 10 (add rows, or lower [data] min_test_rows)",
        ),
        (
            "c.toml",
            "attacks.jsonl",
            "test.jsonl",
            "benign row(s); a run needs both labels",
        ),
    ] {
        let text = common::tiny_experiment("2.0.0", None, None, 2, "0.01")
            .replace("base = [\"train.jsonl\"]", &format!("base = [\"{base}\"]"))
            .replace("test = \"test.jsonl\"", &format!("test = \"{test}\""));
        std::fs::write(env.path(file), text).expect("write");
        let out = env.run(&["run", file]);
        assert_eq!(code(&out), 1, "{file}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{file}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(store_object_count(&env), before, "{file}: nothing stored");
    }
    // The minimum is a setting.
    let text = common::tiny_experiment("2.0.0", None, None, 2, "0.01")
        .replace("[data]", "[data]\nmin_train_rows = 0");
    std::fs::write(env.path("d.toml"), text).expect("write");
    let out = env.run(&["run", "d.toml"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("min_train_rows must be at least 1"),
        "{}",
        stderr(&out)
    );
    // A bad line in a big file: nothing of it is stored either.
    let mut bad = train.clone();
    bad.push_str("{\"text\": 5}\n");
    std::fs::write(env.path("bad.jsonl"), bad).expect("write");
    let text = common::tiny_experiment("2.0.0", None, None, 2, "0.01")
        .replace("base = [\"train.jsonl\"]", "base = [\"bad.jsonl\"]");
    std::fs::write(env.path("e.toml"), text).expect("write");
    let out = env.run(&["run", "e.toml"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("bad.jsonl:601"), "{}", stderr(&out));
    assert_eq!(store_object_count(&env), before, "nothing stored");
}

#[test]
fn limits_are_checked_before_any_work() {
    let env = common::trained_tiny();
    let before = object_count(&env);
    for (key, value, message) in [
        (
            "epochs",
            "4000000000",
            "epochs 4000000000 must be in [1, 100000]",
        ),
        (
            "buckets",
            "1000000000000",
            "`buckets` = 1000000000000 is more than 1048576",
        ),
        (
            "hidden",
            "4000000000",
            "`hidden` = 4000000000 is more than 1048576",
        ),
        (
            "learning_rate",
            "inf",
            "learning_rate inf must be a finite number greater than 0",
        ),
        (
            "batch_size",
            "100000000",
            "batch_size 100000000 must be in [1, 65536]",
        ),
    ] {
        let text = common::tiny_experiment("2.0.0", None, None, 2, "0.01");
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(str::to_string)
            .collect();
        let section = if ["buckets", "hidden"].contains(&key) {
            "[model]"
        } else {
            "[train]"
        };
        let at = lines.iter().position(|l| l == section).expect("section");
        lines.insert(at + 1, format!("{key} = {value}"));
        std::fs::write(env.path("big.toml"), lines.join("\n")).expect("write");
        let out = env.run(&["run", "big.toml"]);
        assert_eq!(code(&out), 1, "{key}");
        let err = stderr(&out);
        assert!(err.contains(message), "{key}: {err}");
        assert!(err.contains("big.toml:"), "file:line:col: {err}");
        assert_eq!(object_count(&env), before, "{key}: nothing stored");
    }
    // Within every range, but too big for any machine: refused from the parameter count.
    let text = common::tiny_experiment("2.0.0", None, None, 2, "0.01")
        .replace("embed_dim = 16", "embed_dim = 1048576")
        .replace("hidden = 32", "hidden = 1048576");
    assert!(text.contains("embed_dim = 1048576"));
    std::fs::write(env.path("huge.toml"), text).expect("write");
    let out = env.run(&["run", "huge.toml"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("GiB to train") && err.contains("GiB available") && err.contains("huge.toml:"),
        "{err}"
    );
    assert_eq!(object_count(&env), before, "nothing stored");
    let out = env.run(&["scan", "--threads", "100000", "hello"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("100000 is not in 1..=256"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn re_adding_a_file_heals_its_damaged_copy_and_log_lists_damaged_versions() {
    let env = common::trained_tiny();
    let train = env.path("train.jsonl");
    let out = env.run(&["add", train.to_str().expect("utf-8")]);
    let hash = stdout(&out)
        .split_whitespace()
        .next()
        .expect("hash")
        .to_string();
    let path = common::object_path(&env.store(), &hash);
    common::damage(&path);
    assert_eq!(code(&env.run(&["fsck"])), 1);
    let out = env.run(&["add", train.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&path).expect("object"),
        std::fs::read(&train).expect("train"),
        "the stored copy is whole again"
    );
    assert_eq!(code(&env.run(&["fsck"])), 0);

    // A version whose run manifest is gone is listed, marked, and fails --strict.
    write_tiny(&env, "next.toml", "1.1.0", Some("tiny@1.0.0"), "0.01");
    assert_eq!(code(&env.run(&["run", "--force", "next.toml"])), 0);
    let run = run_object(&env, "tiny@1.1.0");
    std::fs::remove_file(common::object_path(&env.store(), &run)).expect("rm");
    let out = env.run(&["log", "tiny"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("tiny@1.1.0  DAMAGED") && text.contains("tiny@1.0.0"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("1 version(s) damaged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&env.run(&["log", "tiny", "--strict"])), 1);
    let entries = json(&env, &["log", "tiny"]);
    let damaged: Vec<&serde_json::Value> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["damaged"].is_string())
        .collect();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0]["version"], "tiny@1.1.0");
}

#[test]
fn the_store_format_marker_is_checked_and_no_folder_becomes_a_store_by_accident() {
    let env = common::trained_tiny();
    let marker = env.store().join("CAIRN_STORE");
    std::fs::write(&marker, "cairn store, format 2\n").expect("write");
    let out = env.run(&["log"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is format 2; this cairn reads format 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&env.run(&["run", "tiny.toml"])), 1, "run refuses too");
    std::fs::write(&marker, "garbage").expect("write");
    let out = env.run(&["fsck"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is not a cairn store marker (it holds `garbage`)"),
        "{}",
        stderr(&out)
    );
    // Without the marker, run does not quietly make the folder a store again.
    std::fs::remove_file(&marker).expect("rm");
    let out = env.run(&["run", "tiny.toml"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is not empty and is not a cairn store"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists());
    let out = env.run(&["init"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&env.run(&["fsck"])), 0);
    assert_eq!(code(&env.run(&["run", "tiny.toml"])), 0, "up to date again");
    // A folder of other files is not a store either, until `cairn init`.
    std::fs::create_dir_all(env.path("photos")).expect("mkdir");
    std::fs::write(env.path("photos/cat.jpg"), b"cat").expect("write");
    let out = env
        .cairn_at(&env.path("photos"))
        .args(["add", "tiny.toml"])
        .output()
        .expect("run");
    assert_eq!(code(&out), 1);
    assert!(!env.path("photos/CAIRN_STORE").exists());
}

#[test]
fn messages_name_the_real_problem() {
    let env = common::trained_tiny();
    let out = env.run(&["add", env.path("models").to_str().expect("utf-8")]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is a folder; `cairn add` stores files"),
        "{}",
        stderr(&out)
    );
    let out = env
        .cairn()
        .env("CAIRN_STORE", "")
        .args(["log"])
        .output()
        .expect("run");
    // --store wins over the variable; without it the empty variable is named.
    assert_eq!(code(&out), 0);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("cairn"))
        .env("CAIRN_STORE", "")
        .arg("log")
        .current_dir(env.dir.path())
        .output()
        .expect("run");
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("CAIRN_STORE is set but empty"),
        "{}",
        stderr(&out)
    );
    let run = run_object(&env, "tiny@1.0.0");
    let long = format!("{}@1.0.0", vec!["a"; 70].join("/"));
    let out = env.run(&["ref", "set", &long, &run]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("longer than 200 characters"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["ref", "set", "tiny@banana", &run]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("`banana` is not a semantic version"),
        "{}",
        stderr(&out)
    );
    assert!(!ref_file(&env, "tiny@banana").exists());
}

/// A database password never reaches a message, in any of the forms a URL can carry it:
/// every command that opens the tracking database is asked to use an unreachable one.
#[test]
fn database_passwords_are_never_printed() {
    let env = common::trained_tiny();
    let secret = "s3cret-pw-4711";
    let forms = [
        format!("postgres://cairn:{secret}@127.0.0.1:1/track"),
        format!("postgres://cairn@127.0.0.1:1/track?sslmode=disable&password={secret}"),
        format!("host=127.0.0.1 port=1 user=cairn password={secret} dbname=track"),
        format!("postgresql://cairn@127.0.0.1:1/track?password='{secret}'"),
    ];
    for db in &forms {
        for args in [
            &["stats", "models"][..],
            &["reindex"][..],
            &["queue"][..],
            &["serve", "--addr", "127.0.0.1:0"][..],
            &["run", "tiny.toml"][..],
        ] {
            let out = env
                .cairn()
                .arg("--db")
                .arg(db)
                .args(args)
                .output()
                .expect("cairn");
            let said = format!("{}{}", stdout(&out), stderr(&out));
            assert!(
                !said.contains(secret),
                "`cairn --db {db} {}` printed the password: {said}",
                args.join(" ")
            );
        }
    }
}
