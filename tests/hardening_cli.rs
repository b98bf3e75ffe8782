//! The store under concurrent use and crashes, through the binary: `gc --grace 0s` while two
//! runs train never breaks a version (temporary roots, and registration that checks what it
//! publishes); two runs of the same experiment at once both succeed — one registers, the other
//! is up to date with the run that won; `reproduce --repair` heals a damaged output; and
//! `kill -9` at seeded random instants of `run`, `deploy`, `deploy --rollback` and `redteam
//! retrain` leaves a store
//! that `fsck` passes and a rerun completes.

mod common;

use std::process::{Child, Stdio};

use common::{Env, code, json, stderr};

/// Trials of the gc race; each is a fresh store.
const GC_TRIALS: usize = 20;

fn spawn_run(env: &Env, experiment: &str) -> Child {
    env.cairn()
        .args(["--json", "run", experiment])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn run")
}

fn experiments(env: &Env, names: &[&str]) {
    common::copy_run_fixtures(env);
    for name in names {
        let text = common::tiny_experiment("1.0.0", None, None, 2, "0.01")
            .replace("name = \"tiny\"", &format!("name = \"{name}\""));
        std::fs::write(env.path(&format!("{name}.toml")), text).expect("write");
    }
}

#[test]
fn gc_with_no_grace_during_two_runs_never_breaks_a_version() {
    for trial in 0..GC_TRIALS {
        let env = Env::new();
        experiments(&env, &["one", "two"]);
        // The store exists before the runs start, so gc has something to sweep from the first
        // instant.
        assert_eq!(code(&env.run(&["add", "one.toml"])), 0);
        let mut runs = [spawn_run(&env, "one.toml"), spawn_run(&env, "two.toml")];
        let mut sweeps = 0;
        while runs
            .iter_mut()
            .any(|r| r.try_wait().expect("wait").is_none())
        {
            let out = env.run(&["gc", "--grace", "0s"]);
            assert_eq!(code(&out), 0, "trial {trial}: {}", stderr(&out));
            sweeps += 1;
        }
        for (name, run) in ["one", "two"].iter().zip(runs) {
            let out = run.wait_with_output().expect("run");
            assert_eq!(
                code(&out),
                0,
                "trial {trial}, {name} after {sweeps} sweeps: {}",
                stderr(&out)
            );
            let shown = json(&env, &["show", &format!("{name}@1.0.0")]);
            assert_eq!(shown["name"], *name);
        }
        let fsck = env.run(&["fsck"]);
        assert_eq!(code(&fsck), 0, "trial {trial}: {}", stderr(&fsck));
        // Once no cairn runs, nothing is held any more.
        let out = json(&env, &["gc", "--grace", "0s"]);
        assert_eq!(out["held"], 0, "{out}");
        assert_eq!(code(&env.run(&["reproduce", "one@1.0.0"])), 0);
    }
}

#[test]
fn two_runs_of_the_same_experiment_both_succeed() {
    for trial in 0..4 {
        let env = Env::new();
        experiments(&env, &["same"]);
        let runs = [spawn_run(&env, "same.toml"), spawn_run(&env, "same.toml")];
        let outs: Vec<_> = runs
            .into_iter()
            .map(|r| r.wait_with_output().expect("run"))
            .collect();
        let mut statuses = Vec::new();
        let mut ids = Vec::new();
        for out in &outs {
            assert_eq!(code(out), 0, "trial {trial}: {}", stderr(out));
            let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            statuses.push(result["status"].as_str().expect("status").to_string());
            ids.push(result["run"].clone());
        }
        statuses.sort();
        assert_eq!(statuses, ["registered", "up-to-date"], "trial {trial}");
        assert_eq!(ids[0], ids[1], "both name the run that won");
        assert_eq!(
            json(&env, &["show", "same@1.0.0"])["run"],
            ids[0],
            "trial {trial}"
        );
    }
}

#[test]
fn reproduce_names_a_damaged_output_and_repair_rewrites_it() {
    let env = Env::new();
    experiments(&env, &["tiny"]);
    let out = env.run(&["run", "tiny.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let weights = json(&env, &["show", "tiny@1.0.0"])["outputs"]["weights"]
        .as_str()
        .expect("weights")
        .to_string();
    common::damage(&common::object_path(&env.store(), &weights));

    // The re-run matches the record, but the stored copy is bad: said, and a failure.
    let out = env.run(&["reproduce", "tiny@1.0.0"]);
    assert_eq!(code(&out), 1);
    let text = common::stdout(&out);
    assert!(
        text.contains("the stored copy is corrupt") && text.contains("--repair"),
        "{text}"
    );
    // fsck names the damage and, asked, the way to repair it.
    let out = env.run(&["fsck", "--repair"]);
    assert_eq!(code(&out), 1);
    assert!(
        common::stdout(&out).contains("`cairn reproduce tiny@1.0.0 --repair` rewrites"),
        "{}",
        common::stdout(&out)
    );

    let out = env.run(&["--json", "reproduce", "tiny@1.0.0", "--repair"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let repaired: Vec<&str> = report["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter(|o| o["stored"] == "repaired")
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(repaired, ["weights"], "{report}");
    assert_eq!(code(&env.run(&["fsck"])), 0);
    assert_eq!(code(&env.run(&["reproduce", "tiny@1.0.0"])), 0);
}

/// `kill -9` trials per command in the suite; `just crash-test N` runs N.
fn crash_trials() -> u64 {
    std::env::var("CAIRN_CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

/// How long `args` takes uninterrupted, in milliseconds (at least 1): kills are drawn
/// uniformly within it, so they land mid-way.
fn duration_ms(env: &Env, args: &[&str]) -> u64 {
    let clock = std::time::Instant::now();
    let out = env.run(args);
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    (clock.elapsed().as_millis() as u64).max(1)
}

/// Starts `args`, kills it (SIGKILL) after `delay_ms` unless it ended first; whether it ended.
fn kill_after(env: &Env, args: &[&str], delay_ms: u64) -> bool {
    let mut child = env
        .cairn()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    let ended = child.try_wait().expect("wait").is_some();
    if !ended {
        child.kill().expect("kill -9");
    }
    child.wait().expect("wait");
    ended
}

/// The store is valid after the kill (a kill before the store existed leaves none, which the
/// rerun creates), and running the command again finishes the work.
fn check_recovers(env: &Env, trial: u64, again: &[&str]) {
    if !env.store().join("CAIRN_STORE").exists() {
        let out = env.run(again);
        assert_eq!(code(&out), 0, "trial {trial}: {}", stderr(&out));
        return;
    }
    let fsck = env.run(&["fsck"]);
    assert_eq!(
        code(&fsck),
        0,
        "trial {trial}: {}{}",
        common::stdout(&fsck),
        stderr(&fsck)
    );
    let out = env.run(again);
    assert_eq!(code(&out), 0, "trial {trial}: {}", stderr(&out));
}

/// The version in the production folder `prod`, after checking the folder holds it whole:
/// its ONNX export byte for byte, and its metadata.
fn deployed_whole(env: &Env, trial: u64) -> String {
    let metadata: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.path("prod/metadata.json")).expect("metadata.json"),
    )
    .expect("metadata json");
    let version = metadata["version"].as_str().expect("version").to_string();
    let shown = json(env, &["show", &format!("tiny@{version}")]);
    let onnx = shown["outputs"]["onnx"].as_str().expect("onnx");
    let stored = env.run(&["cat", onnx]).stdout;
    let deployed = std::fs::read(env.path("prod/model.onnx")).expect("model.onnx");
    assert!(
        stored == deployed,
        "trial {trial}: model.onnx is not tiny@{version}'s"
    );
    version
}

/// `next.toml`: tiny@1.0.1, fine-tuned from tiny@1.0.0.
fn write_next(env: &Env) {
    std::fs::write(
        env.path("next.toml"),
        common::tiny_experiment("1.0.1", Some("tiny@1.0.0"), None, 1, "0.01"),
    )
    .expect("write");
}

#[test]
fn kill_9_at_random_instants_of_run_deploy_and_rollback_leaves_a_valid_store() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut killed = [0u64; 3];
    // Each command's length, from one uninterrupted pass.
    let (run_ms, deploy_ms, rollback_ms) = {
        let env = Env::new();
        experiments(&env, &["tiny"]);
        write_next(&env);
        let prod = env.path("prod");
        let prod = prod.to_str().expect("utf-8");
        let run = duration_ms(&env, &["run", "tiny.toml"]);
        let deploy = duration_ms(&env, &["deploy", "tiny@1.0.0", "--to", prod]);
        duration_ms(&env, &["run", "--force", "next.toml"]);
        duration_ms(&env, &["deploy", "tiny@1.0.1", "--to", prod]);
        let rollback = duration_ms(&env, &["deploy", "--rollback", "--to", prod]);
        (run, deploy, rollback)
    };
    for trial in 0..crash_trials() {
        let env = Env::new();
        experiments(&env, &["tiny"]);
        killed[0] += u64::from(!kill_after(
            &env,
            &["run", "tiny.toml"],
            rng.random_range(0..run_ms),
        ));
        check_recovers(&env, trial, &["run", "tiny.toml"]);
        assert_eq!(json(&env, &["show", "tiny@1.0.0"])["name"], "tiny");

        let prod = env.path("prod");
        let prod = prod.to_str().expect("utf-8");
        killed[1] += u64::from(!kill_after(
            &env,
            &["deploy", "tiny@1.0.0", "--to", prod],
            rng.random_range(0..deploy_ms),
        ));
        check_recovers(&env, trial, &["deploy", "tiny@1.0.0", "--to", prod]);
        assert_eq!(deployed_whole(&env, trial), "1.0.0");

        // A second version deployed, then a rollback killed anywhere: the folder holds one
        // version whole; if the rollback had not happened, running it again does it.
        write_next(&env);
        assert_eq!(code(&env.run(&["run", "--force", "next.toml"])), 0);
        assert_eq!(code(&env.run(&["deploy", "tiny@1.0.1", "--to", prod])), 0);
        killed[2] += u64::from(!kill_after(
            &env,
            &["deploy", "--rollback", "--to", prod],
            rng.random_range(0..rollback_ms),
        ));
        if deployed_whole(&env, trial) == "1.0.1" {
            check_recovers(&env, trial, &["deploy", "--rollback", "--to", prod]);
        }
        assert_eq!(deployed_whole(&env, trial), "1.0.0");
        // The killed processes' temporary roots expire; nothing held remains.
        let gc = json(&env, &["gc", "--grace", "0s"]);
        assert_eq!(gc["held"], 0, "{gc}");
        assert_eq!(code(&env.run(&["fsck"])), 0);
    }
    eprintln!(
        "kill -9: {} trials; killed mid-way: run {}, deploy {}, rollback {}",
        crash_trials(),
        killed[0],
        killed[1],
        killed[2]
    );
}

#[test]
fn kill_9_at_random_instants_of_redteam_retrain_leaves_a_valid_store() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let mut killed = 0;
    let retrain_ms = {
        let (env, suite) = common::red_team_setup();
        let result = common::red_team_all(&env, &suite);
        duration_ms(&env, &["redteam", "retrain", &result])
    };
    for trial in 0..crash_trials() {
        let (env, suite) = common::red_team_setup();
        let result = common::red_team_all(&env, &suite);
        let result = result.as_str();
        killed += u64::from(!kill_after(
            &env,
            &["redteam", "retrain", result],
            rng.random_range(0..retrain_ms),
        ));
        // Valid after the kill; the rerun finishes the fine-tune (or finds it done).
        check_recovers(&env, trial, &["redteam", "retrain", result]);
        assert_eq!(json(&env, &["show", "tiny@1.0.1"])["name"], "tiny");
        let gc = json(&env, &["gc", "--grace", "0s"]);
        assert_eq!(gc["held"], 0, "{gc}");
        assert_eq!(code(&env.run(&["fsck"])), 0);
    }
    eprintln!(
        "kill -9: {} trials; killed mid-way: redteam retrain {killed}",
        crash_trials()
    );
}

/// Starts `args` with `CAIRN_PAUSE_AT=point`, waits until it says it paused there, and
/// kills it (SIGKILL) at exactly that instant.
fn kill_at(env: &Env, args: &[&str], point: &str) {
    use std::io::BufRead;
    let mut child = env
        .cairn()
        .args(args)
        .env("CAIRN_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("read stderr");
        if line.contains(&format!("paused at {point}")) {
            child.kill().expect("kill -9");
            child.wait().expect("wait");
            return;
        }
        seen.push(line);
    }
    child.wait().expect("wait");
    panic!(
        "{args:?} ended without reaching {point}: {}",
        seen.join("\n")
    );
}

/// The version whose deployment record the folder's ref holds, as `cairn show` reports it.
fn shown_deployed(env: &Env, version: &str) -> bool {
    json(env, &["show", &format!("tiny@{version}")])["deployments"]
        .as_array()
        .is_some_and(|d| !d.is_empty())
}

#[test]
fn kill_9_in_the_register_window_and_between_deploy_steps_leaves_it_whole() {
    for trial in 0..crash_trials() {
        let env = Env::new();
        experiments(&env, &["tiny"]);
        assert_eq!(code(&env.run(&["run", "tiny.toml"])), 0);
        // Killed after the version ref (the commit point) and before what is derived from
        // it: the version is published, and the rerun derives `latest` and metadata.json.
        write_next(&env);
        let point = ["register", "metadata"][trial as usize % 2];
        kill_at(&env, &["run", "next.toml"], point);
        check_recovers(&env, trial, &["run", "next.toml"]);
        let v101 = json(&env, &["show", "tiny@1.0.1"])["run"].clone();
        assert_eq!(
            json(&env, &["show", "tiny/latest"])["run"],
            v101,
            "trial {trial}"
        );
        assert!(
            env.path("models/tiny/1.0.1/metadata.json").is_file(),
            "trial {trial}"
        );

        // A folder an older cairn wrote (plain files), adopted with a kill between its links:
        // it serves tiny@1.0.0 whole throughout.
        let prod = env.path("prod");
        std::fs::create_dir_all(&prod).expect("mkdir");
        let shown = json(&env, &["show", "tiny@1.0.0"]);
        let onnx = env.run(&["cat", shown["outputs"]["onnx"].as_str().expect("onnx")]);
        let tokenizer = env.run(&["cat", shown["outputs"]["tokenizer"].as_str().expect("tok")]);
        std::fs::write(prod.join("model.onnx"), onnx.stdout).expect("write");
        std::fs::write(prod.join("tokenizer.json"), tokenizer.stdout).expect("write");
        std::fs::copy(
            env.path("models/tiny/1.0.0/metadata.json"),
            prod.join("metadata.json"),
        )
        .expect("copy");
        let prod = prod.to_str().expect("utf-8");
        kill_at(
            &env,
            &["deploy", "tiny@1.0.1", "--to", prod],
            "deploy-adopt",
        );
        assert_eq!(deployed_whole(&env, trial), "1.0.0");

        // Killed before the switch: the old version whole; after it: the new one whole, and
        // `show` (which finishes the change) says so before any deploy runs again.
        let point = ["deploy-switch", "deploy-ref"][trial as usize % 2];
        kill_at(&env, &["deploy", "tiny@1.0.1", "--to", prod], point);
        let served = deployed_whole(&env, trial);
        assert_eq!(
            served,
            if point == "deploy-switch" {
                "1.0.0"
            } else {
                "1.0.1"
            },
            "trial {trial}"
        );
        if served == "1.0.1" {
            assert!(
                shown_deployed(&env, "1.0.1"),
                "trial {trial}: show names it"
            );
        }
        check_recovers(&env, trial, &["deploy", "tiny@1.0.1", "--to", prod]);
        assert_eq!(deployed_whole(&env, trial), "1.0.1");
        assert!(shown_deployed(&env, "1.0.1"));
        // And a rollback killed after its switch is whole and recorded the same way.
        kill_at(&env, &["deploy", "--rollback", "--to", prod], "deploy-ref");
        assert_eq!(deployed_whole(&env, trial), "1.0.0");
        // (Back to the adopted files, which cairn did not deploy: no version is deployed.)
        assert!(!shown_deployed(&env, "1.0.0") && !shown_deployed(&env, "1.0.1"));
        assert_eq!(code(&env.run(&["fsck"])), 0, "trial {trial}");
    }
    eprintln!(
        "kill -9: {} trials, each killed at register or metadata, between adopted links, before or after a deploy switch, and after a rollback switch",
        crash_trials()
    );
}
