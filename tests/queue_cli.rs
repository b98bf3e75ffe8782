//! The run queue through the binary: `cairn submit` queues ten runs in PostgreSQL (their
//! inputs sent to a remote: the S3 test server when running, else a shared folder); three
//! `cairn worker`s, each with its own store, claim and run them; one is killed with SIGKILL
//! in the middle of a run, and its request is run again by another once its lease runs out.
//! Every run is registered exactly once, and fsck is clean on every store and the remote.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, code, stderr, stdout};

const RUNS: usize = 10;

/// `cairn` on `store` with the queue's database and the S3 settings.
fn cairn(env: &Env, store: &std::path::Path) -> Command {
    let mut cmd = env.cairn_at(store);
    common::s3_env(&mut cmd);
    cmd
}

fn ok(out: &std::process::Output) -> String {
    assert_eq!(code(out), 0, "{}", stderr(out));
    stdout(out)
}

fn requests(env: &Env) -> Vec<serde_json::Value> {
    let out = cairn(env, &env.store())
        .args(["--json", "queue"])
        .output()
        .expect("queue");
    serde_json::from_str::<serde_json::Value>(&ok(&out))
        .expect("json")
        .as_array()
        .cloned()
        .expect("requests")
}

fn worker(env: &Env, name: &str) -> Child {
    let store = env.path(&format!("{name}-store"));
    cairn(env, &store)
        .args([
            "worker",
            "--name",
            name,
            "--lease",
            "3s",
            "--poll",
            "100ms",
            "--idle-exit",
            "6s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker")
}

/// A store tracking into `db`, with `origin` at the URL `remote` gives for it.
fn queue_env(db: &common::PgDatabase, remote: impl FnOnce(&Env) -> String) -> (Env, String) {
    let env = Env::with_db(Some(db));
    common::copy_run_fixtures(&env);
    let url = remote(&env);
    let store = env.store();
    ok(&cairn(&env, &store).args(["init"]).output().expect("init"));
    ok(&cairn(&env, &store)
        .args(["remote", "add", "origin", &url])
        .output()
        .expect("remote"));
    (env, url)
}

/// `cairn submit` of a tiny experiment; the request id it prints.
fn submit(env: &Env, version: &str, epochs: u32, lr: &str) -> String {
    let file = env.path(&format!("{version}-{lr}.toml"));
    std::fs::write(
        &file,
        common::tiny_experiment(version, None, None, epochs, lr),
    )
    .expect("write");
    let out = cairn(env, &env.store())
        .current_dir(env.dir.path())
        .args(["submit", file.to_str().expect("utf-8")])
        .output()
        .expect("submit");
    ok(&out).trim().to_string()
}

fn shared(env: &Env) -> String {
    format!("file://{}", env.path("shared").display())
}

#[test]
fn three_workers_register_ten_runs_once_though_one_is_killed() {
    let Some(db) = common::postgres() else {
        return;
    };
    let (env, remote) = queue_env(&db, |env| match common::s3() {
        Some((_, bucket)) => format!("s3://{bucket}/queue-{}", std::process::id()),
        None => shared(env),
    });
    let store = env.store();
    // Ten retrains, long enough (40 epochs) that a run can be caught in the middle.
    for i in 0..RUNS {
        let id = submit(&env, &format!("1.{i}.0"), 40, "0.01");
        assert_eq!(id, (i + 1).to_string(), "request ids count up");
    }
    let queued = requests(&env);
    assert_eq!(queued.len(), RUNS);
    assert!(queued.iter().all(|r| r["state"] == "queued"));

    // Three workers; the first to be seen running a request is killed mid-run.
    let mut workers: Vec<(String, Child)> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| (n.to_string(), worker(&env, n)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (victim, killed_request) = loop {
        assert!(Instant::now() < deadline, "no request started");
        let running = requests(&env).into_iter().find(|r| r["state"] == "running");
        if let Some(r) = running {
            break (
                r["worker"].as_str().expect("worker").to_string(),
                r["id"].as_i64().expect("id"),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let index = workers
        .iter()
        .position(|(n, _)| *n == victim)
        .expect("the victim");
    let (_, mut child) = workers.remove(index);
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    for (name, child) in workers {
        let out = child.wait_with_output().expect("worker");
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
    }
    let done = requests(&env);
    for r in &done {
        assert_eq!(r["state"], "done", "{r}");
    }
    let again = done
        .iter()
        .find(|r| r["id"] == killed_request)
        .expect("the killed request");
    assert!(
        again["attempts"].as_i64().unwrap_or(0) >= 2,
        "the killed worker's request ran again: {again}"
    );
    assert_ne!(again["worker"], victim.as_str());

    // The remote holds each version once, pointing at the run its request recorded.
    let clone = env.path("clone");
    ok(&cairn(&env, &clone)
        .args(["clone", &remote])
        .output()
        .expect("clone"));
    for r in &done {
        let reference = r["ref"].as_str().expect("ref");
        let out = cairn(&env, &clone)
            .args(["ref", "get", reference])
            .output()
            .expect("ref get");
        assert_eq!(
            ok(&out).trim(),
            r["run"].as_str().expect("run"),
            "{reference}"
        );
    }
    let versions = ok(&cairn(&env, &clone)
        .args(["ref", "list"])
        .output()
        .expect("refs"));
    assert_eq!(
        versions.lines().filter(|l| l.contains("tiny@")).count(),
        RUNS
    );
    ok(&cairn(&env, &clone).args(["fsck"]).output().expect("fsck"));
    // Registration by workers moves the remote's `latest` to the highest version.
    let highest = done
        .iter()
        .max_by_key(|r| {
            let v = r["ref"].as_str().expect("ref").trim_start_matches("tiny@");
            v.split('.')
                .map(|n| n.parse::<u64>().expect("semver"))
                .collect::<Vec<_>>()
        })
        .expect("a request");
    let latest = match remote.strip_prefix("file://") {
        Some(folder) => std::fs::read_to_string(
            std::path::Path::new(folder)
                .join("refs")
                .join("tiny%2Flatest"),
        )
        .expect("the remote's latest"),
        None => {
            let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cairn"));
            common::s3_env(&mut cmd);
            ok(&cmd
                .env("CAIRN_CACHE", env.path("facade-cache"))
                .env_remove("CAIRN_STORE")
                .args(["--store", &remote, "ref", "get", "tiny/latest"])
                .output()
                .expect("ref get"))
        }
    };
    assert_eq!(
        latest.trim(),
        highest["run"].as_str().expect("run"),
        "the remote's tiny/latest is {}",
        highest["ref"]
    );
    ok(&cairn(&env, &store)
        .args(["fsck", "--remote", "origin"])
        .output()
        .expect("fsck remote"));
    // Workers' stores are caches: runs and inputs, no version refs (the remote's are the
    // only publication), so a run a worker abandoned can never refuse a later one.
    for name in ["w1", "w2", "w3"] {
        let store = env.path(&format!("{name}-store"));
        ok(&cairn(&env, &store).args(["fsck"]).output().expect("fsck"));
        let refs = ok(&cairn(&env, &store)
            .args(["ref", "list"])
            .output()
            .expect("refs"));
        assert!(!refs.contains("tiny@"), "{name}: {refs}");
    }
}

#[test]
fn a_cancelled_request_never_runs() {
    let Some(db) = common::postgres() else {
        return;
    };
    let (env, _) = queue_env(&db, shared);
    let store = env.store();
    for i in 0..2 {
        submit(&env, &format!("1.{i}.0"), 1, "0.01");
    }
    let out = cairn(&env, &store)
        .args(["queue", "cancel", "1"])
        .output()
        .expect("cancel");
    ok(&out);
    assert!(stderr(&out).contains("cancelled request 1 (it was queued)"));
    let out = cairn(&env, &env.path("w-store"))
        .args(["worker", "--idle-exit", "0s", "--poll", "50ms"])
        .output()
        .expect("worker");
    ok(&out);
    let states: Vec<String> = requests(&env)
        .iter()
        .map(|r| r["state"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(states, ["cancelled", "done"]);
    // Cancelling what has ended, or what does not exist, is an error naming it.
    for (id, message) in [
        ("2", "request 2 has ended already (done): nothing to cancel"),
        ("9", "no request 9 (see `cairn queue`)"),
    ] {
        let out = cairn(&env, &store)
            .args(["queue", "cancel", id])
            .output()
            .expect("cancel");
        assert_eq!(code(&out), 1);
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
}

/// Two requests for the same version from different experiments: the first worker's run
/// is published; the second worker finds the version taken by another recipe and fails its
/// request, saying so, instead of calling the other run its answer.
#[test]
fn a_version_published_from_another_recipe_fails_its_request() {
    let Some(db) = common::postgres() else {
        return;
    };
    let (env, shared) = queue_env(&db, shared);
    for lr in ["0.01", "0.02"] {
        submit(&env, "1.0.0", 1, lr);
    }
    for name in ["w1", "w2"] {
        ok(&cairn(&env, &env.path(&format!("{name}-store")))
            .args(["worker", "--once", "--name", name])
            .output()
            .expect("worker"));
    }
    let done = requests(&env);
    assert_eq!(done[0]["state"], "done", "{}", done[0]);
    assert_eq!(done[1]["state"], "failed", "{}", done[1]);
    let note = done[1]["note"].as_str().unwrap_or("");
    assert!(
        note.contains("tiny@1.0.0 is published already from another recipe")
            && note.contains("submit this experiment as another version"),
        "{note}"
    );
    // The remote keeps the first request's run.
    let clone = env.path("clone");
    ok(&cairn(&env, &clone)
        .args(["clone", &shared])
        .output()
        .expect("clone"));
    let published = ok(&cairn(&env, &clone)
        .args(["ref", "get", "tiny@1.0.0"])
        .output()
        .expect("ref"));
    assert_eq!(published.trim(), done[0]["run"].as_str().expect("run"));
}
