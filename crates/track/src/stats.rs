//! `cairn stats`: the analytics the red-team workflow serves, as library types.

use rusqlite::Row;
use serde::Serialize;

use crate::{TrackError, Tracker};

/// One model's red-team failure record (`cairn stats failures`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureStats {
    pub model: String,
    pub tests: u64,
    pub average_failures: f64,
    pub average_failure_rate: f64,
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
}

/// One retraining job (`cairn stats retraining`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrainingRow {
    pub job_id: String,
    pub model: String,
    pub new_ref: String,
    pub failure_count: u64,
    pub training_data: String,
    pub test_id: String,
    pub started: String,
    pub status: String,
    pub duration_seconds: Option<f64>,
}

/// One model's result in one red-team test (`cairn stats tests`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestRow {
    pub model: String,
    pub tested_at: String,
    pub test_id: String,
    pub suite: String,
    pub attacks: u64,
    pub detection_rate: f64,
    pub vulnerabilities_found: u64,
    pub false_alarms: u64,
}

/// A registered version side by side with the others (`cairn stats models`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStats {
    #[serde(rename = "ref")]
    pub reference: String,
    pub mode: String,
    pub started: String,
    pub f1: Option<f64>,
    pub fpr: Option<f64>,
    pub fnr: Option<f64>,
    pub cause: Option<String>,
    /// The newest red-team test of this version, if any.
    pub detection_rate: Option<f64>,
    pub last_test: Option<String>,
}

fn u(row: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, i64>(i)?.max(0) as u64)
}

impl Tracker {
    fn rows<T>(
        &self,
        sql: &str,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, TrackError> {
        let err = |source| TrackError::Sqlite {
            path: self.path().to_path_buf(),
            source,
        };
        let mut stmt = self.conn().prepare(sql).map_err(err)?;
        let rows = stmt.query_map([], map).map_err(err)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(err)
    }

    /// Per model: tests, average failures and failure rate, bucket totals; worst first.
    pub fn failure_stats(&self) -> Result<Vec<FailureStats>, TrackError> {
        self.rows(
            "SELECT model, COUNT(*), AVG(failure_count), AVG(failure_rate), SUM(critical), SUM(high), SUM(medium), SUM(low)
             FROM model_failure_analysis GROUP BY model
             ORDER BY AVG(failure_rate) DESC, model",
            |r| {
                Ok(FailureStats {
                    model: r.get(0)?,
                    tests: u(r, 1)?,
                    average_failures: r.get(2)?,
                    average_failure_rate: r.get(3)?,
                    critical: u(r, 4)?,
                    high: u(r, 5)?,
                    medium: u(r, 6)?,
                    low: u(r, 7)?,
                })
            },
        )
    }

    /// Every retraining job, newest first.
    pub fn retraining_log(&self) -> Result<Vec<RetrainingRow>, TrackError> {
        self.rows(
            "SELECT job_id, model, new_ref, failure_count, training_data, test_id, started, status, duration_seconds
             FROM model_retraining_log ORDER BY started DESC, job_id",
            |r| {
                Ok(RetrainingRow {
                    job_id: r.get(0)?,
                    model: r.get(1)?,
                    new_ref: r.get(2)?,
                    failure_count: u(r, 3)?,
                    training_data: r.get(4)?,
                    test_id: r.get(5)?,
                    started: r.get(6)?,
                    status: r.get(7)?,
                    duration_seconds: r.get(8)?,
                })
            },
        )
    }

    /// Every model's detection rate in every test, by model, oldest first.
    pub fn test_history(&self) -> Result<Vec<TestRow>, TrackError> {
        self.rows(
            "SELECT model, tested_at, test_id, suite, attacks, detection_rate, vulnerabilities_found, false_alarms
             FROM red_team_tests ORDER BY model, tested_at, test_id",
            |r| {
                Ok(TestRow {
                    model: r.get(0)?,
                    tested_at: r.get(1)?,
                    test_id: r.get(2)?,
                    suite: r.get(3)?,
                    attacks: u(r, 4)?,
                    detection_rate: r.get(5)?,
                    vulnerabilities_found: u(r, 6)?,
                    false_alarms: u(r, 7)?,
                })
            },
        )
    }

    /// Registered versions side by side, by name then age, with their newest red-team test.
    pub fn model_stats(&self) -> Result<Vec<ModelStats>, TrackError> {
        self.rows(
            "SELECT r.ref, r.mode, r.started, r.f1, r.fpr, r.fnr, r.cause_kind,
                    (SELECT t.detection_rate FROM red_team_tests t WHERE t.model = r.ref ORDER BY t.tested_at DESC, t.test_id LIMIT 1),
                    (SELECT t.tested_at FROM red_team_tests t WHERE t.model = r.ref ORDER BY t.tested_at DESC, t.test_id LIMIT 1)
             FROM runs r WHERE r.status = 'registered' ORDER BY r.name, r.started, r.ref",
            |r| {
                Ok(ModelStats {
                    reference: r.get(0)?,
                    mode: r.get(1)?,
                    started: r.get(2)?,
                    f1: r.get(3)?,
                    fpr: r.get(4)?,
                    fnr: r.get(5)?,
                    cause: r.get(6)?,
                    detection_rate: r.get(7)?,
                    last_test: r.get(8)?,
                })
            },
        )
    }
}
