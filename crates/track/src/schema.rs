//! Versioned migrations: `schema_version` holds the newest applied; each migration runs in
//! its own transaction, so a crash leaves the previous version.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::TrackError;

/// The newest schema this binary knows.
pub const SCHEMA_VERSION: i64 = 1;

/// The index tables, in dump order, and the key each dump is ordered by.
pub(crate) const TABLES: [&str; 4] = [
    "runs",
    "red_team_tests",
    "model_failure_analysis",
    "model_retraining_log",
];
pub(crate) const KEYS: [&str; 4] = ["run_id", "test_id, model", "test_id, model", "job_id"];

const MIGRATIONS: [&str; 1] = [r"
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    ref TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    recipe TEXT NOT NULL,
    parent TEXT,
    mode TEXT NOT NULL,
    backend TEXT NOT NULL,
    f1 REAL,
    fpr REAL,
    fnr REAL,
    roc_auc REAL,
    threshold REAL,
    metrics TEXT NOT NULL,
    decision TEXT NOT NULL,
    status TEXT NOT NULL,
    forced INTEGER NOT NULL,
    cause_kind TEXT,
    cause_object TEXT,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX runs_name ON runs (name, started);
CREATE TABLE red_team_tests (
    test_id TEXT NOT NULL,
    model TEXT NOT NULL,
    run_id TEXT NOT NULL,
    suite TEXT NOT NULL,
    suite_object TEXT NOT NULL,
    attack_set TEXT NOT NULL,
    seed INTEGER NOT NULL,
    attacks INTEGER NOT NULL,
    detection_rate REAL NOT NULL,
    vulnerabilities_found INTEGER NOT NULL,
    category_counts TEXT NOT NULL,
    probes INTEGER NOT NULL,
    false_alarms INTEGER NOT NULL,
    tested_at TEXT NOT NULL,
    PRIMARY KEY (test_id, model)
);
CREATE TABLE model_failure_analysis (
    test_id TEXT NOT NULL,
    model TEXT NOT NULL,
    failure_count INTEGER NOT NULL,
    failure_rate REAL NOT NULL,
    critical INTEGER NOT NULL,
    high INTEGER NOT NULL,
    medium INTEGER NOT NULL,
    low INTEGER NOT NULL,
    PRIMARY KEY (test_id, model)
);
CREATE TABLE model_retraining_log (
    job_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    new_ref TEXT NOT NULL,
    failure_count INTEGER NOT NULL,
    training_data TEXT NOT NULL,
    test_id TEXT NOT NULL,
    started TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_seconds REAL,
    run_id TEXT
);
"];

/// Applies every migration newer than the database's version; refuses a newer database.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), TrackError> {
    let sql = |source| TrackError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        [],
    )
    .map_err(sql)?;
    let found: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(sql)?
        .flatten()
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(TrackError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, migration) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= found {
            continue;
        }
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(migration).map_err(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    Ok(())
}
