//! cairn-track: the tracking database, a queryable index of the store.
//!
//! The store is the source of truth; this crate keeps an SQL index of what it holds — runs,
//! red-team tests, per-model failure analyses, the retraining log — written as things happen
//! and rebuilt from the store alone by [`Tracker::reindex`]. It is the only crate that
//! speaks SQL. The database is a SQLite file inside the store (`<store>/track.db`), opened
//! with versioned migrations; a database of a newer schema than this binary knows is refused.

mod schema;
mod stats;

use std::path::{Path, PathBuf};

use cairn_redteam::RedteamResult;
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use rusqlite::{Connection, params};

pub use schema::SCHEMA_VERSION;
pub use stats::{FailureStats, ModelStats, RetrainingRow, TestRow};

/// The database file inside a store.
pub const DB_FILE: &str = "track.db";

/// Why the tracking database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("tracking database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "tracking database {path} has schema version {found}, newer than this cairn knows ({known}): use a newer cairn, or move the file aside and run `cairn reindex`"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error("manifest {id}: {message}")]
    Manifest { id: ObjectId, message: String },
}

type Result<T> = std::result::Result<T, TrackError>;

/// An open tracking database.
pub struct Tracker {
    conn: Connection,
    path: PathBuf,
}

/// What [`Tracker::reindex`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReindexSummary {
    pub runs: u64,
    pub red_team_tests: u64,
    pub retraining: u64,
}

/// A retraining job as it starts: the model it fine-tunes, the new version, its failures.
#[derive(Debug, Clone)]
pub struct RetrainJob {
    /// The job id: the recipe hash.
    pub recipe: ObjectId,
    pub model: String,
    pub new_ref: String,
    pub failure_count: u64,
    /// The failures object trained on.
    pub training_data: ObjectId,
    /// The red-team result that caused it.
    pub test_id: ObjectId,
    pub started: String,
}

impl Tracker {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |source| TrackError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        let mut tracker = Tracker {
            conn,
            path: path.to_path_buf(),
        };
        schema::migrate(&mut tracker.conn, path)?;
        Ok(tracker)
    }

    /// Opens `<store>/track.db`.
    pub fn open_in_store(store: &Store) -> Result<Self> {
        Self::open(&store.root().join(DB_FILE))
    }

    fn sql(&self, source: rusqlite::Error) -> TrackError {
        TrackError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records a run (registered or rejected), replacing an earlier row of the same run.
    pub fn record_run(
        &mut self,
        run_id: &ObjectId,
        run: &RunManifest,
        recipe: &Recipe,
    ) -> Result<()> {
        let tx = self.conn.transaction().map_err(|e| TrackError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        insert_run(&tx, run_id, run, recipe).map_err(|e| TrackError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        if let Some(job) = retraining_of(run_id, run, recipe) {
            upsert_finished(&tx, &job).map_err(|e| TrackError::Sqlite {
                path: self.path.clone(),
                source: e,
            })?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Records a red-team test: one `red_team_tests` and one `model_failure_analysis` row
    /// per model.
    pub fn record_redteam(&mut self, id: &ObjectId, result: &RedteamResult) -> Result<()> {
        let tx = self.conn.transaction().map_err(|e| TrackError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        insert_redteam(&tx, id, result).map_err(|e| TrackError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// A retraining job started (`status = started`); [`Tracker::record_run`] of its run
    /// finishes it, [`Tracker::retraining_failed`] marks it failed.
    pub fn retraining_started(&mut self, job: &RetrainJob) -> Result<()> {
        upsert_retraining(&self.conn, job, "started", None, None).map_err(|e| self.sql(e))
    }

    /// A retraining job ended without a run (an error before registration).
    pub fn retraining_failed(&mut self, recipe: &ObjectId, duration_seconds: f64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE model_retraining_log SET status = 'failed', duration_seconds = ?2 WHERE job_id = ?1",
                params![recipe.to_hex(), duration_seconds],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Empties every table and rebuilds them from the store alone: every run manifest
    /// (registered or rejected) and every red-team result in it. One transaction: a crash
    /// leaves the old index.
    pub fn reindex(&mut self, store: &Store) -> Result<ReindexSummary> {
        let mut runs = Vec::new();
        let mut tests = Vec::new();
        for id in store.list_objects()? {
            let Some((kind, _)) = store.sniff_manifest(&id)? else {
                continue;
            };
            match kind.as_str() {
                "run" => {
                    let run: RunManifest = store.get_manifest(&id)?;
                    let recipe: Recipe = store.get_manifest(&run.recipe)?;
                    runs.push((id, run, recipe));
                }
                "redteam" => tests.push((id, store.get_manifest::<RedteamResult>(&id)?)),
                _ => {}
            }
        }
        let path = self.path.clone();
        let sql = |source| TrackError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        for table in schema::TABLES {
            tx.execute(&format!("DELETE FROM {table}"), [])
                .map_err(sql)?;
        }
        let mut summary = ReindexSummary::default();
        for (id, run, recipe) in &runs {
            insert_run(&tx, id, run, recipe).map_err(sql)?;
            summary.runs += 1;
            if let Some(job) = retraining_of(id, run, recipe) {
                upsert_finished(&tx, &job).map_err(sql)?;
                summary.retraining += 1;
            }
        }
        for (id, result) in &tests {
            insert_redteam(&tx, id, result).map_err(sql)?;
            summary.red_team_tests += 1;
        }
        tx.commit().map_err(sql)?;
        Ok(summary)
    }

    /// Every row of every table as text, in key order: two databases with the same dump
    /// hold the same index.
    pub fn dump(&self) -> Result<String> {
        let mut out = String::new();
        for (table, key) in schema::TABLES.iter().zip(schema::KEYS) {
            out.push_str(&format!("[{table}]\n"));
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY {key}"))
                .map_err(|e| self.sql(e))?;
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([], |row| {
                    let mut cells = Vec::with_capacity(columns);
                    for i in 0..columns {
                        let v: rusqlite::types::Value = row.get(i)?;
                        cells.push(format!("{v:?}"));
                    }
                    Ok(cells.join("\t"))
                })
                .map_err(|e| self.sql(e))?;
            for row in rows {
                out.push_str(&row.map_err(|e| self.sql(e))?);
                out.push('\n');
            }
        }
        Ok(out)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A finished retraining job: the job, its status, its duration in seconds, its run.
type Finished = (RetrainJob, &'static str, f64, ObjectId);

/// The retraining-log row a run stands for, when a red-team result caused it.
fn retraining_of(run_id: &ObjectId, run: &RunManifest, recipe: &Recipe) -> Option<Finished> {
    let cause = recipe.cause.as_ref().filter(|c| c.kind == "redteam")?;
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

/// Inserts or updates a retraining job's row (`status`, and once it ran, its duration and run).
fn upsert_retraining(
    conn: &Connection,
    job: &RetrainJob,
    status: &str,
    duration: Option<f64>,
    run_id: Option<&ObjectId>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO model_retraining_log (job_id, model, new_ref, failure_count, training_data, test_id, started, status, duration_seconds, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (job_id) DO UPDATE SET model = excluded.model, new_ref = excluded.new_ref,
           failure_count = excluded.failure_count, training_data = excluded.training_data,
           test_id = excluded.test_id, started = excluded.started, status = excluded.status,
           duration_seconds = excluded.duration_seconds, run_id = excluded.run_id",
        params![
            job.recipe.to_hex(),
            job.model,
            job.new_ref,
            job.failure_count as i64,
            job.training_data.to_hex(),
            job.test_id.to_hex(),
            job.started,
            status,
            duration,
            run_id.map(ObjectId::to_hex),
        ],
    )?;
    Ok(())
}

fn upsert_finished(
    conn: &Connection,
    (job, status, duration, run_id): &Finished,
) -> rusqlite::Result<()> {
    upsert_retraining(conn, job, status, Some(*duration), Some(run_id))
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
    tx: &rusqlite::Transaction<'_>,
    run_id: &ObjectId,
    run: &RunManifest,
    recipe: &Recipe,
) -> rusqlite::Result<()> {
    let metric = |k: &str| run.metrics.get(k).copied();
    tx.execute(
        "INSERT OR REPLACE INTO runs (run_id, ref, name, version, recipe, parent, mode, backend, f1, fpr, fnr, roc_auc, threshold, metrics, decision, status, forced, cause_kind, cause_object, started, finished, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
        params![
            run_id.to_hex(),
            format!("{}@{}", run.name, run.version),
            run.name,
            run.version,
            run.recipe.to_hex(),
            recipe.model.parent.as_ref().map(|p| p.name.clone()),
            run.mode.to_string(),
            run.environment.backend,
            metric("f1"),
            metric("fpr"),
            metric("fnr"),
            metric("roc_auc"),
            run.threshold,
            serde_json::to_string(&run.metrics).unwrap_or_default(),
            run.decision.to_string(),
            run.status.to_string(),
            run.forced,
            recipe.cause.as_ref().map(|c| c.kind.clone()),
            recipe.cause.as_ref().and_then(|c| c.object).map(|o| o.to_hex()),
            run.started,
            finished(&run.started, run.duration_ms),
            run.duration_ms as i64,
        ],
    )?;
    Ok(())
}

fn insert_redteam(
    tx: &rusqlite::Transaction<'_>,
    id: &ObjectId,
    r: &RedteamResult,
) -> rusqlite::Result<()> {
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
        tx.execute(
            "INSERT OR REPLACE INTO red_team_tests (test_id, model, run_id, suite, suite_object, attack_set, seed, attacks, detection_rate, vulnerabilities_found, category_counts, probes, false_alarms, tested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                id.to_hex(),
                m.reference,
                m.run.to_hex(),
                r.suite_name,
                r.suite.to_hex(),
                r.attack_set.to_hex(),
                r.seed as i64,
                m.attacks as i64,
                m.detection_rate,
                m.failures as i64,
                serde_json::Value::Object(counts).to_string(),
                m.probes as i64,
                m.false_alarms as i64,
                r.started,
            ],
        )?;
        let rate = if m.attacks == 0 {
            0.0
        } else {
            m.failures as f64 / m.attacks as f64
        };
        tx.execute(
            "INSERT OR REPLACE INTO model_failure_analysis (test_id, model, failure_count, failure_rate, critical, high, medium, low)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id.to_hex(),
                m.reference,
                m.failures as i64,
                rate,
                m.buckets.critical as i64,
                m.buckets.high as i64,
                m.buckets.medium as i64,
                m.buckets.low as i64,
            ],
        )?;
    }
    Ok(())
}
