//! Versioned migrations: `schema_version` holds the newest applied. They run in one
//! transaction that holds the database's write lock, so a crash leaves the previous version
//! and two cairns opening a new database at once migrate it once. The SQL is the subset both
//! databases share; `{text}` is each one's text type (see [`Db::text_type`]).

use crate::TrackError;
use crate::db::{Db, DbError, Value};

/// The newest schema this binary knows.
pub const SCHEMA_VERSION: i64 = 2;

/// The index tables, in dump order, and the key each dump is ordered by.
pub(crate) const TABLES: [&str; 4] = [
    "runs",
    "red_team_tests",
    "model_failure_analysis",
    "model_retraining_log",
];
pub(crate) const KEYS: [&str; 4] = ["run_id", "test_id, model", "test_id, model", "job_id"];

const MIGRATIONS: [&str; 2] = [
    r"
CREATE TABLE runs (
    run_id {text} PRIMARY KEY,
    ref {text} NOT NULL,
    name {text} NOT NULL,
    version {text} NOT NULL,
    recipe {text} NOT NULL,
    parent {text},
    mode {text} NOT NULL,
    backend {text} NOT NULL,
    f1 DOUBLE PRECISION,
    fpr DOUBLE PRECISION,
    fnr DOUBLE PRECISION,
    roc_auc DOUBLE PRECISION,
    threshold DOUBLE PRECISION,
    metrics {text} NOT NULL,
    decision {text} NOT NULL,
    status {text} NOT NULL,
    forced BIGINT NOT NULL,
    cause_kind {text},
    cause_object {text},
    started {text} NOT NULL,
    finished {text} NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX runs_name ON runs (name, started);
CREATE TABLE red_team_tests (
    test_id {text} NOT NULL,
    model {text} NOT NULL,
    run_id {text} NOT NULL,
    suite {text} NOT NULL,
    suite_object {text} NOT NULL,
    attack_set {text} NOT NULL,
    seed BIGINT NOT NULL,
    attacks BIGINT NOT NULL,
    detection_rate DOUBLE PRECISION NOT NULL,
    vulnerabilities_found BIGINT NOT NULL,
    category_counts {text} NOT NULL,
    probes BIGINT NOT NULL,
    false_alarms BIGINT NOT NULL,
    tested_at {text} NOT NULL,
    PRIMARY KEY (test_id, model)
);
CREATE TABLE model_failure_analysis (
    test_id {text} NOT NULL,
    model {text} NOT NULL,
    failure_count BIGINT NOT NULL,
    failure_rate DOUBLE PRECISION NOT NULL,
    critical BIGINT NOT NULL,
    high BIGINT NOT NULL,
    medium BIGINT NOT NULL,
    low BIGINT NOT NULL,
    PRIMARY KEY (test_id, model)
);
CREATE TABLE model_retraining_log (
    job_id {text} PRIMARY KEY,
    model {text} NOT NULL,
    new_ref {text} NOT NULL,
    failure_count BIGINT NOT NULL,
    training_data {text} NOT NULL,
    test_id {text} NOT NULL,
    started {text} NOT NULL,
    status {text} NOT NULL,
    duration_seconds DOUBLE PRECISION,
    run_id {text}
);
",
    r"
CREATE TABLE run_requests (
    id BIGINT PRIMARY KEY,
    recipe {text} NOT NULL,
    ref {text} NOT NULL,
    remote {text} NOT NULL,
    force BIGINT NOT NULL,
    state {text} NOT NULL,
    submitted {text} NOT NULL,
    worker {text},
    attempts BIGINT NOT NULL,
    lease_until BIGINT,
    heartbeat BIGINT,
    started {text},
    finished {text},
    run_id {text},
    note {text}
);
CREATE INDEX run_requests_state ON run_requests (state, id);
",
];

/// Applies every migration newer than the database's version; refuses a newer database.
pub(crate) fn migrate(db: &mut Db, location: &str) -> Result<(), TrackError> {
    let sql = |source: DbError| TrackError::from((location, source));
    // Most opens find the database current: one read, no write lock. (A new database has
    // no `schema_version` yet, and the read fails.)
    if version(db).is_ok_and(|v| v == SCHEMA_VERSION) {
        return Ok(());
    }
    let found = db
        .transaction(true, |db| {
            db.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
            let found = version(db)?;
            let text = db.text_type();
            for (i, migration) in MIGRATIONS.iter().enumerate() {
                let version = i as i64 + 1;
                if version <= found {
                    continue;
                }
                db.batch(&migration.replace("{text}", text))?;
                db.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[Value::Int(version)],
                )?;
            }
            Ok(found)
        })
        .map_err(sql)?;
    if found > SCHEMA_VERSION {
        return Err(TrackError::NewerSchema {
            location: location.to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// The newest version applied, 0 for a new database.
fn version(db: &mut Db) -> Result<i64, DbError> {
    let rows = db.query(
        "SELECT CAST(MAX(version) AS BIGINT) FROM schema_version",
        &[],
    )?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Value::Int(v)) => *v,
        _ => 0,
    })
}
