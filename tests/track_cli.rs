//! The tracking database through the binary, each test against both the store's SQLite file
//! and a PostgreSQL server (`CAIRN_DB`): rows written as runs, red-team tests and retrainings
//! happen; `cairn stats`; a dropped database rebuilt identical by `cairn reindex`, and the
//! same rows in both kinds; a newer schema refused; an unusable database never fails a run.

mod common;

use common::{Env, PgDatabase, code, json, stderr, stdout};
use serde_json::Value;

fn stats(env: &Env) -> Vec<Value> {
    ["failures", "retraining", "tests", "models"]
        .iter()
        .map(|what| json(env, &["stats", what]))
        .collect()
}

fn dump(env: &Env) -> String {
    env.tracker().dump().expect("dump")
}

/// Drops the tracking database: deletes the SQLite file, or recreates the PostgreSQL one empty.
fn drop_index(env: &Env, db: Option<&PgDatabase>) {
    match db {
        Some(db) => db.recreate(),
        None => std::fs::remove_file(env.store().join(cairn_track::DB_FILE)).expect("drop"),
    }
}

sqlite_and_postgres!(
    the_sqlite_index_follows_the_store_and_comes_back_identical,
    the_postgres_index_follows_the_store_and_comes_back_identical,
    the_index_follows_the_store_and_comes_back_identical
);

fn the_index_follows_the_store_and_comes_back_identical(db: Option<&PgDatabase>) {
    let (env, suite) = common::red_team_setup_on(db);
    let result = common::red_team_all(&env, &suite);
    let result = result.as_str();
    let retrain = json(&env, &["redteam", "retrain", result]);
    assert_eq!(retrain["retrained"][0]["status"], "registered", "{retrain}");

    let [failures, retraining, tests, models] = <[Value; 4]>::try_from(stats(&env)).expect("four");
    // Worst first: tiny missed attacks, alert flagged everything.
    assert_eq!(failures[0]["model"], "tiny@1.0.0", "{failures}");
    assert!(failures[0]["average_failures"].as_f64().expect("avg") > 0.0);
    assert_eq!(
        failures.as_array().expect("rows").last().expect("row")["average_failures"],
        0.0
    );
    // The retraining job went started -> succeeded, with its duration.
    let job = &retraining[0];
    assert_eq!(job["model"], "tiny@1.0.0");
    assert_eq!(job["new_ref"], "tiny@1.0.1");
    assert_eq!(job["status"], "succeeded");
    assert_eq!(
        job["test_id"].as_str().map(|t| format!("blake3:{t}")),
        Some(result.to_string())
    );
    assert!(job["duration_seconds"].as_f64().expect("duration") > 0.0);
    // One test of both models, then the re-test of the new version.
    let tested: Vec<&str> = tests
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|t| t["model"].as_str())
        .collect();
    assert_eq!(tested, ["alert@1.0.0", "tiny@1.0.0", "tiny@1.0.1"]);
    let versions: Vec<&str> = models
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|m| m["ref"].as_str())
        .collect();
    assert_eq!(versions, ["alert@1.0.0", "tiny@1.0.0", "tiny@1.0.1"]);
    assert_eq!(models[2]["cause"], "redteam");
    assert!(models[2]["detection_rate"].as_f64().is_some());
    let text = stdout(&env.run(&["stats", "failures"]));
    assert!(text.contains("tiny@1.0.0"), "{text}");

    // Dropped, then rebuilt from the store alone: the same rows, the same answers.
    let before = dump(&env);
    assert!(before.contains("tiny@1.0.1"));
    drop_index(&env, db);
    let rebuilt = json(&env, &["reindex"]);
    assert_eq!(rebuilt["runs"], 3);
    assert_eq!(rebuilt["red_team_tests"], 2);
    assert_eq!(rebuilt["retraining"], 1);
    assert_eq!(dump(&env), before);
    assert_eq!(stats(&env), [failures, retraining, tests, models]);

    // The same store indexed into the other kind of database holds the same rows.
    if db.is_some() {
        let sqlite = Env {
            dir: tempfile::tempdir().expect("dir"),
            db: None,
        };
        let out = sqlite.cairn_at(&env.store()).args(["reindex"]).output();
        assert_eq!(code(&out.expect("reindex")), 0);
        let store = cairn_store::Store::open(env.store()).expect("store");
        let mut local = cairn_track::Tracker::open_in_store(&store).expect("sqlite");
        assert_eq!(local.dump().expect("dump"), before);
    }
}

sqlite_and_postgres!(
    an_unusable_sqlite_index_never_fails_a_run_and_a_newer_schema_is_refused,
    an_unusable_postgres_index_never_fails_a_run_and_a_newer_schema_is_refused,
    an_unusable_index_never_fails_a_run_and_a_newer_schema_is_refused
);

fn an_unusable_index_never_fails_a_run_and_a_newer_schema_is_refused(db: Option<&PgDatabase>) {
    let mut env = Env::new();
    common::copy_run_fixtures(&env);
    std::fs::write(
        env.path("tiny.toml"),
        common::tiny_experiment("1.0.0", None, None, 1, "0.01"),
    )
    .expect("write");
    // Unusable: a folder where the SQLite file should be; a database the server lacks.
    assert_eq!(code(&env.run(&["init"])), 0);
    let file = env.store().join(cairn_track::DB_FILE);
    match db {
        Some(db) => env.db = Some(format!("{}_missing", db.url)),
        None => std::fs::create_dir_all(&file).expect("a folder where the database should be"),
    }
    let out = env.run(&["run", env.path("tiny.toml").to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the tracking index is stale"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&env, &["show", "tiny@1.0.0"])["name"], "tiny");
    match db {
        Some(db) => env.db = Some(db.url.clone()),
        None => std::fs::remove_dir(&file).expect("rmdir"),
    }
    assert_eq!(json(&env, &["reindex"])["runs"], 1);
    assert_eq!(json(&env, &["stats", "models"])[0]["ref"], "tiny@1.0.0");

    // A database written by a newer cairn is refused by name, and a run still completes.
    let bump = "INSERT INTO schema_version (version) VALUES (99)";
    match db {
        Some(db) => db.execute(bump),
        None => {
            rusqlite::Connection::open(&file)
                .expect("open")
                .execute(bump, [])
                .expect("bump");
        }
    }
    let out = env.run(&["stats", "models"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(&format!(
            "schema version 99, newer than this cairn knows ({})",
            cairn_track::SCHEMA_VERSION
        )),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        env.path("tiny2.toml"),
        common::tiny_experiment("1.0.1", None, None, 1, "0.01"),
    )
    .expect("write");
    let out = env.run(&["run", env.path("tiny2.toml").to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("the tracking index is stale"));
}

sqlite_and_postgres!(
    a_failed_sqlite_retraining_is_kept_and_reindexed,
    a_failed_postgres_retraining_is_kept_and_reindexed,
    a_failed_retraining_is_kept_and_reindexed
);

fn a_failed_retraining_is_kept_and_reindexed(db: Option<&PgDatabase>) {
    let (env, suite) = common::red_team_setup_on(db);
    let result = common::red_team_all(&env, &suite);
    let result = result.as_str();
    // The failing model's weights damaged: its fine-tune starts, then fails.
    let weights = json(&env, &["show", "tiny@1.0.0"])["outputs"]["weights"]
        .as_str()
        .expect("weights")
        .to_string();
    common::damage(&common::object_path(&env.store(), &weights));
    let out = env.run(&["--json", "redteam", "retrain", result]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["retrained"][0]["status"], "failed", "{report}");

    let log = json(&env, &["stats", "retraining"]);
    let job = &log[0];
    assert_eq!(job["status"], "failed", "{log}");
    assert_eq!(job["new_ref"], "tiny@1.0.1");
    assert!(job["duration_seconds"].as_f64().expect("duration") > 0.0);
    // The store keeps the failure, so a rebuilt index still has it.
    let refs = stdout(&env.run(&["ref", "list"]));
    assert!(refs.contains("redteam/failed/"), "{refs}");
    let before = dump(&env);
    drop_index(&env, db);
    assert_eq!(json(&env, &["reindex"])["retraining"], 1);
    assert_eq!(dump(&env), before);
    assert_eq!(json(&env, &["stats", "retraining"]), log);
}

/// A damaged `track.db` is rebuilt by the command its warning names: `cairn reindex` moves
/// the unreadable file aside, says where, and builds a new one from the store.
#[test]
fn reindex_rebuilds_a_damaged_sqlite_index_and_keeps_the_old_file_aside() {
    let env = common::trained_tiny();
    let file = env.store().join(cairn_track::DB_FILE);
    std::fs::write(
        &file,
        b"this is not an SQLite database, and never was one .........",
    )
    .expect("damage the index");
    let out = env.run(&["stats", "models"]);
    assert_ne!(code(&out), 0, "a damaged index was read");
    let out = env.run(&["--json", "reindex"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(summary["runs"], 1, "{summary}");
    assert!(
        stderr(&out).contains("moved it aside to"),
        "{}",
        stderr(&out)
    );
    let aside: Vec<_> = std::fs::read_dir(env.store())
        .expect("store")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("track.db.unreadable-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept, once");
    assert_eq!(json(&env, &["stats", "models"])[0]["ref"], "tiny@1.0.0");
}
