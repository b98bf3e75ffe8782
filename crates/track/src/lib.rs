//! cairn-track: the tracking database, a queryable index of the store.
//!
//! The store is the source of truth; this crate keeps an SQL index of what it holds — runs,
//! red-team tests, per-model failure analyses, the retraining log — written as things happen
//! and rebuilt from the store alone by [`Tracker::reindex`]. It is the only crate that
//! speaks SQL. The database is a SQLite file inside the store (`<store>/track.db`) by
//! default, or a PostgreSQL database a team shares (`postgres://…`); the same SQL and the
//! same code paths serve both ([`db`]). Versioned migrations run on open; a database of a
//! newer schema than this binary knows is refused.

mod db;
mod queue;
mod schema;
mod stats;

use std::path::Path;

use cairn_redteam::{RedteamResult, RetrainFailure, RetrainJob};
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};

use db::{Db, Value, values};

pub use db::DbError;
pub use queue::{Cancelled, Lease, MAX_ATTEMPTS, Request, RequestState, now};
pub use schema::SCHEMA_VERSION;
pub use stats::{FailureStats, ModelStats, RetrainingRow, TestRow};

/// The database file inside a store.
pub const DB_FILE: &str = "track.db";

/// Why the tracking database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("tracking database {location}: {source}")]
    Db {
        location: String,
        #[source]
        source: DbError,
    },
    #[error(
        "tracking database {location} has schema version {found}, newer than this cairn knows ({known}): use a newer cairn, or move it aside and run `cairn reindex`"
    )]
    NewerSchema {
        location: String,
        found: i64,
        known: i64,
    },
    #[error(
        "`{given}` is not a database this cairn opens: give postgres://user[:password]@host[:port]/database (--db or CAIRN_DB), or leave both unset for the store's SQLite file {DB_FILE}"
    )]
    BadUrl { given: String },
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    /// A damaged index file could not be moved out of the way.
    #[error("cannot move the damaged tracking database {} aside: {reason}", path.display())]
    MoveAside {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("manifest {id}: {message}")]
    Manifest { id: ObjectId, message: String },
}

impl From<(&str, DbError)> for TrackError {
    fn from((location, source): (&str, DbError)) -> Self {
        TrackError::Db {
            location: location.to_string(),
            source,
        }
    }
}

type Result<T> = std::result::Result<T, TrackError>;

/// An open tracking database.
/// Something that finished (or, for a red-team fine-tune, started), named by what the store
/// holds of it: [`Tracker::record`] is the one way the index learns of it.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// A stored run manifest (registered or rejected).
    Run(ObjectId),
    /// A stored red-team result.
    Redteam(ObjectId),
    /// A red-team fine-tune about to run (`status = started` until its run is recorded).
    RetrainStarted(&'a RetrainJob),
    /// The stored record of a red-team fine-tune that failed before it stored a run.
    RetrainFailure(ObjectId),
}

pub struct Tracker {
    db: Db,
    /// Where it is, for messages: the SQLite file, or the URL without its password.
    location: String,
}

/// What [`Tracker::reindex`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReindexSummary {
    pub runs: u64,
    pub red_team_tests: u64,
    pub retraining: u64,
}

/// Whether `db` names a PostgreSQL database.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl Tracker {
    /// Opens (creating and migrating) the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let location = path.display().to_string();
        let conn = rusqlite::Connection::open(path)
            .and_then(|conn| {
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                Ok(conn)
            })
            .map_err(|e| TrackError::from((location.as_str(), DbError::Sqlite(e))))?;
        Self::migrated(Db::Sqlite(conn), location)
    }

    /// Connects to (and migrates) the PostgreSQL database at `url`
    /// (`postgres://user[:password]@host[:port]/database`, without TLS).
    pub fn connect(url: &str) -> Result<Self> {
        if !is_postgres_url(url) {
            return Err(TrackError::BadUrl {
                given: db::redact(url),
            });
        }
        let location = db::redact(url);
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            TrackError::from((location.as_str(), DbError::Postgres(e)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.application_name("cairn");
        let client = config
            .connect(postgres::NoTls)
            .map_err(|e| TrackError::from((location.as_str(), DbError::Postgres(e))))?;
        Self::migrated(Db::Postgres(Box::new(client)), location)
    }

    /// The database `db` names (`--db`, `CAIRN_DB`), or the store's own SQLite file.
    pub fn open_for(store: &Store, db: Option<&str>) -> Result<Self> {
        match db {
            Some(url) => Self::connect(url),
            None => Self::open_in_store(store),
        }
    }

    /// Opens `<store>/track.db`.
    pub fn open_in_store(store: &Store) -> Result<Self> {
        Self::open(&store.root().join(DB_FILE))
    }

    fn migrated(db: Db, location: String) -> Result<Self> {
        let mut tracker = Tracker { db, location };
        schema::migrate(&mut tracker.db, &tracker.location)?;
        Ok(tracker)
    }

    /// Where the database is: the SQLite file, or the URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `f` in one transaction, naming the database in its error.
    fn transaction<T>(&mut self, f: impl FnOnce(&mut Db) -> db::DbResult<T>) -> Result<T> {
        let location = &self.location;
        self.db
            .transaction(false, f)
            .map_err(|e| TrackError::from((location.as_str(), e)))
    }

    /// Asks the database a question that needs no table: whether it answers at all.
    pub fn ping(&mut self) -> Result<()> {
        self.query("SELECT 1", &[]).map(|_| ())
    }

    /// Keeps the index current with what finished: reads its manifest from the store (the
    /// source of truth) and writes its rows, in one transaction. Every command, the server
    /// and the workers call this, and only this, when a run, a red-team test or a retraining
    /// ends.
    pub fn record(&mut self, store: &Store, what: Record<'_>) -> Result<()> {
        match what {
            Record::Run(id) => {
                let run: RunManifest = store.get_manifest(&id)?;
                let recipe: Recipe = store.get_manifest(&run.recipe)?;
                self.record_run(&id, &run, &recipe)
            }
            Record::Redteam(id) => {
                let result: RedteamResult = store.get_manifest(&id)?;
                self.record_redteam(&id, &result)
            }
            Record::RetrainStarted(job) => self.retraining_started(job),
            Record::RetrainFailure(id) => {
                let failure: RetrainFailure = store.get_manifest(&id)?;
                self.record_retrain_failure(&failure)
            }
        }
    }

    /// Records a run (registered or rejected), replacing an earlier row of the same run.
    fn record_run(&mut self, run_id: &ObjectId, run: &RunManifest, recipe: &Recipe) -> Result<()> {
        self.transaction(|db| {
            insert_run(db, run_id, run, recipe)?;
            if let Some(job) = retraining_of(run_id, run, recipe) {
                upsert_finished(db, &job)?;
            }
            Ok(())
        })
    }

    /// Records a red-team test: one `red_team_tests` and one `model_failure_analysis` row
    /// per model.
    fn record_redteam(&mut self, id: &ObjectId, result: &RedteamResult) -> Result<()> {
        self.transaction(|db| insert_redteam(db, id, result))
    }

    /// A retraining job started (`status = started`); [`Tracker::record_run`] of its run
    /// finishes it, [`Tracker::record_retrain_failure`] marks it failed.
    fn retraining_started(&mut self, job: &RetrainJob) -> Result<()> {
        self.transaction(|db| upsert_retraining(db, job, "started", None, None))
    }

    /// A retraining job that ended in an error before it stored a run.
    fn record_retrain_failure(&mut self, failure: &RetrainFailure) -> Result<()> {
        self.transaction(|db| insert_failure(db, failure))
    }

    /// `cairn reindex` of the store's own SQLite file: rebuilt in place; or, when the file
    /// cannot be opened or rebuilt (damaged), moved aside to `track.db.unreadable-<unix
    /// seconds>` (with its `-wal` and `-shm` files) and built anew from the store. Returns the
    /// tracker, what was indexed, and where a damaged file went.
    pub fn reindex_store_file(
        store: &Store,
    ) -> Result<(Self, ReindexSummary, Option<std::path::PathBuf>)> {
        let rebuilt = Self::open_in_store(store).and_then(|mut t| {
            let summary = t.reindex(store)?;
            Ok((t, summary))
        });
        let error = match rebuilt {
            Ok((t, summary)) => return Ok((t, summary, None)),
            // The store's own damage, or a newer cairn's database: nothing to move aside.
            Err(e @ (TrackError::Store(_) | TrackError::NewerSchema { .. })) => return Err(e),
            Err(e) => e,
        };
        let file = store.root().join(DB_FILE);
        if !file.exists() {
            return Err(error);
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = store.root().join(format!("{DB_FILE}.unreadable-{stamp}"));
        for suffix in ["", "-wal", "-shm"] {
            let from = store.root().join(format!("{DB_FILE}{suffix}"));
            if from.exists() {
                let to = std::path::PathBuf::from(format!("{}{suffix}", aside.display()));
                std::fs::rename(&from, &to).map_err(|e| TrackError::MoveAside {
                    path: from.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        let mut tracker = Self::open_in_store(store)?;
        let summary = tracker.reindex(store)?;
        Ok((tracker, summary, Some(aside)))
    }

    /// Empties every table and rebuilds them from the store alone: every run manifest
    /// (registered or rejected), every red-team result and every failed red-team fine-tune
    /// in it. One transaction: a crash leaves the old index.
    pub fn reindex(&mut self, store: &Store) -> Result<ReindexSummary> {
        let mut runs = Vec::new();
        let mut tests = Vec::new();
        let mut failures = Vec::new();
        for (id, kind) in store.manifests_of(&["run", "redteam", "retrain-failure"])? {
            match kind.as_str() {
                "run" => {
                    let run: RunManifest = store.get_manifest(&id)?;
                    let recipe: Recipe = store.get_manifest(&run.recipe)?;
                    runs.push((id, run, recipe));
                }
                "redteam" => tests.push((id, store.get_manifest::<RedteamResult>(&id)?)),
                "retrain-failure" => failures.push(store.get_manifest::<RetrainFailure>(&id)?),
                _ => {}
            }
        }
        self.transaction(|db| {
            for table in schema::TABLES {
                db.execute(&format!("DELETE FROM {table}"), &[])?;
            }
            let mut summary = ReindexSummary::default();
            // Failures first: a job retried after one ends as its run says.
            let mut jobs = std::collections::BTreeSet::new();
            for failure in &failures {
                insert_failure(db, failure)?;
                jobs.insert(failure.job.recipe.to_hex());
            }
            for (id, run, recipe) in &runs {
                insert_run(db, id, run, recipe)?;
                summary.runs += 1;
                if let Some(job) = retraining_of(id, run, recipe) {
                    jobs.insert(job.0.recipe.to_hex());
                    upsert_finished(db, &job)?;
                }
            }
            for (id, result) in &tests {
                insert_redteam(db, id, result)?;
                summary.red_team_tests += 1;
            }
            summary.retraining = jobs.len() as u64;
            Ok(summary)
        })
    }

    /// Every row of every table as text, in key order: two databases with the same dump
    /// hold the same index, whichever kind each is.
    pub fn dump(&mut self) -> Result<String> {
        let mut out = String::new();
        for (table, key) in schema::TABLES.iter().zip(schema::KEYS) {
            out.push_str(&format!("[{table}]\n"));
            let rows = self.query(&format!("SELECT * FROM {table} ORDER BY {key}"), &[])?;
            for row in rows {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
                out.push_str(&cells.join("\t"));
                out.push('\n');
            }
        }
        Ok(out)
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        let location = &self.location;
        self.db
            .query(sql, params)
            .map_err(|e| TrackError::from((location.as_str(), e)))
    }
}

/// A finished retraining job: the job, its status, its duration in seconds, its run.
type Finished = (RetrainJob, &'static str, f64, ObjectId);

/// The retraining-log row a run stands for, when a red-team result caused it.
fn retraining_of(run_id: &ObjectId, run: &RunManifest, recipe: &Recipe) -> Option<Finished> {
    let cause = recipe
        .cause
        .as_ref()
        .filter(|c| c.kind == cairn_spec::CauseKind::Redteam)?;
    let test_id = cause.object?;
    let addition = recipe.data.additions.first()?;
    let model = recipe.model.parent.as_ref()?.name.clone();
    let failure_count = cause
        .note
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let status = match run.status {
        cairn_spec::RunState::Registered => "succeeded",
        cairn_spec::RunState::Rejected => "rejected",
    };
    let job = RetrainJob {
        recipe: run.recipe,
        model,
        new_ref: format!("{}@{}", run.name, run.version),
        failure_count,
        training_data: addition.object,
        test_id,
        started: run.started.clone(),
    };
    Some((job, status, run.duration_ms as f64 / 1e3, *run_id))
}

/// Inserts a row, or replaces the row with the same key: `columns` and `values` pair up,
/// `key` names the conflict target.
fn upsert(
    db: &mut Db,
    table: &str,
    key: &str,
    columns: &[&str],
    values: &[Value],
) -> db::DbResult<()> {
    debug_assert_eq!(columns.len(), values.len());
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let keys: Vec<&str> = key.split(", ").collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    db.execute(
        &format!(
            "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({key}) DO UPDATE SET {}",
            columns.join(", "),
            placeholders.join(", "),
            updates.join(", ")
        ),
        values,
    )?;
    Ok(())
}

/// Inserts or updates a retraining job's row (`status`, and once it ran, its duration and run).
fn upsert_retraining(
    db: &mut Db,
    job: &RetrainJob,
    status: &str,
    duration: Option<f64>,
    run_id: Option<&ObjectId>,
) -> db::DbResult<()> {
    upsert(
        db,
        "model_retraining_log",
        "job_id",
        &[
            "job_id",
            "model",
            "new_ref",
            "failure_count",
            "training_data",
            "test_id",
            "started",
            "status",
            "duration_seconds",
            "run_id",
        ],
        &values![
            job.recipe.to_hex(),
            &job.model,
            &job.new_ref,
            job.failure_count,
            job.training_data.to_hex(),
            job.test_id.to_hex(),
            &job.started,
            status,
            duration,
            run_id.map(ObjectId::to_hex),
        ],
    )
}

fn upsert_finished(db: &mut Db, (job, status, duration, run_id): &Finished) -> db::DbResult<()> {
    upsert_retraining(db, job, status, Some(*duration), Some(run_id))
}

fn insert_failure(db: &mut Db, failure: &RetrainFailure) -> db::DbResult<()> {
    upsert_retraining(
        db,
        &failure.job,
        "failed",
        Some(failure.duration_seconds),
        None,
    )
}

fn finished(started: &str, duration_ms: u64) -> String {
    humantime::parse_rfc3339(started)
        .map(|t| {
            humantime::format_rfc3339_seconds(t + std::time::Duration::from_millis(duration_ms))
                .to_string()
        })
        .unwrap_or_default()
}

fn insert_run(
    db: &mut Db,
    run_id: &ObjectId,
    run: &RunManifest,
    recipe: &Recipe,
) -> db::DbResult<()> {
    let metric = |k: &str| run.metrics.get(k).copied();
    upsert(
        db,
        "runs",
        "run_id",
        &[
            "run_id",
            "ref",
            "name",
            "version",
            "recipe",
            "parent",
            "mode",
            "backend",
            "f1",
            "fpr",
            "fnr",
            "roc_auc",
            "threshold",
            "metrics",
            "decision",
            "status",
            "forced",
            "cause_kind",
            "cause_object",
            "started",
            "finished",
            "duration_ms",
        ],
        &values![
            run_id.to_hex(),
            format!("{}@{}", run.name, run.version),
            &run.name,
            &run.version,
            run.recipe.to_hex(),
            recipe.model.parent.as_ref().map(|p| p.name.clone()),
            run.mode.to_string(),
            &run.environment.backend,
            metric("f1"),
            metric("fpr"),
            metric("fnr"),
            metric("roc_auc"),
            run.threshold,
            serde_json::to_string(&run.metrics).unwrap_or_default(),
            run.decision.to_string(),
            run.status.to_string(),
            run.forced,
            recipe.cause.as_ref().map(|c| c.kind.to_string()),
            recipe
                .cause
                .as_ref()
                .and_then(|c| c.object)
                .map(|o| o.to_hex()),
            &run.started,
            finished(&run.started, run.duration_ms),
            run.duration_ms,
        ],
    )
}

fn insert_redteam(db: &mut Db, id: &ObjectId, r: &RedteamResult) -> db::DbResult<()> {
    for m in &r.models {
        let counts: serde_json::Map<String, serde_json::Value> = m
            .categories
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::json!({"attacks": v.attacks, "failures": v.failures}),
                )
            })
            .collect();
        upsert(
            db,
            "red_team_tests",
            "test_id, model",
            &[
                "test_id",
                "model",
                "run_id",
                "suite",
                "suite_object",
                "attack_set",
                "seed",
                "attacks",
                "detection_rate",
                "vulnerabilities_found",
                "category_counts",
                "probes",
                "false_alarms",
                "tested_at",
            ],
            &values![
                id.to_hex(),
                &m.reference,
                m.run.to_hex(),
                &r.suite_name,
                r.suite.to_hex(),
                r.attack_set.to_hex(),
                r.seed,
                m.attacks,
                m.detection_rate,
                m.failures,
                serde_json::Value::Object(counts).to_string(),
                m.probes,
                m.false_alarms,
                &r.started,
            ],
        )?;
        let rate = if m.attacks == 0 {
            0.0
        } else {
            m.failures as f64 / m.attacks as f64
        };
        upsert(
            db,
            "model_failure_analysis",
            "test_id, model",
            &[
                "test_id",
                "model",
                "failure_count",
                "failure_rate",
                "critical",
                "high",
                "medium",
                "low",
            ],
            &values![
                id.to_hex(),
                &m.reference,
                m.failures,
                rate,
                m.buckets.critical,
                m.buckets.high,
                m.buckets.medium,
                m.buckets.low,
            ],
        )?;
    }
    Ok(())
}
