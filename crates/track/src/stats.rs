//! `cairn stats`: the analytics the red-team workflow serves, as library types.

use serde::Serialize;

use crate::db::{DbError, Value};
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

/// One result row, read by column with the type each column must have.
pub(crate) struct Row<'a>(pub(crate) &'a [Value]);

impl Row<'_> {
    fn cell(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    fn wrong(&self, i: usize, want: &str) -> DbError {
        DbError::Type(format!(
            "column {i} holds {:?} where {want} was expected",
            self.cell(i)
        ))
    }

    pub(crate) fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?.ok_or_else(|| self.wrong(i, "text"))
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.cell(i) {
            Value::Null => Ok(None),
            Value::Text(t) => Ok(Some(t.clone())),
            _ => Err(self.wrong(i, "text")),
        }
    }

    pub(crate) fn real(&self, i: usize) -> Result<f64, DbError> {
        self.opt_real(i)?.ok_or_else(|| self.wrong(i, "a number"))
    }

    pub(crate) fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError> {
        match self.cell(i) {
            Value::Null => Ok(None),
            Value::Real(x) => Ok(Some(*x)),
            Value::Int(n) => Ok(Some(*n as f64)),
            Value::Text(_) => Err(self.wrong(i, "a number")),
        }
    }

    /// A count: a non-negative integer (NULL, as SUM of no rows, is 0).
    pub(crate) fn count(&self, i: usize) -> Result<u64, DbError> {
        match self.cell(i) {
            Value::Null => Ok(0),
            Value::Int(n) => Ok((*n).max(0) as u64),
            _ => Err(self.wrong(i, "an integer")),
        }
    }
}

impl Tracker {
    fn rows<T>(
        &mut self,
        sql: &str,
        map: impl Fn(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, TrackError> {
        let rows = self.query(sql, &[])?;
        rows.iter()
            .map(|r| map(&Row(r)))
            .collect::<Result<Vec<T>, DbError>>()
            .map_err(|e| TrackError::from((self.location(), e)))
    }

    /// Per model: tests, average failures and failure rate, bucket totals; worst first.
    pub fn failure_stats(&mut self) -> Result<Vec<FailureStats>, TrackError> {
        self.rows(
            "SELECT model, COUNT(*), CAST(AVG(failure_count) AS DOUBLE PRECISION), CAST(AVG(failure_rate) AS DOUBLE PRECISION),
                    CAST(SUM(critical) AS BIGINT), CAST(SUM(high) AS BIGINT), CAST(SUM(medium) AS BIGINT), CAST(SUM(low) AS BIGINT)
             FROM model_failure_analysis GROUP BY model
             ORDER BY AVG(failure_rate) DESC, model",
            |r: &Row<'_>| {
                Ok(FailureStats {
                    model: r.text(0)?,
                    tests: r.count(1)?,
                    average_failures: r.real(2)?,
                    average_failure_rate: r.real(3)?,
                    critical: r.count(4)?,
                    high: r.count(5)?,
                    medium: r.count(6)?,
                    low: r.count(7)?,
                })
            },
        )
    }

    /// Every retraining job, newest first.
    pub fn retraining_log(&mut self) -> Result<Vec<RetrainingRow>, TrackError> {
        self.rows(
            "SELECT job_id, model, new_ref, failure_count, training_data, test_id, started, status, duration_seconds
             FROM model_retraining_log ORDER BY started DESC, job_id",
            |r: &Row<'_>| {
                Ok(RetrainingRow {
                    job_id: r.text(0)?,
                    model: r.text(1)?,
                    new_ref: r.text(2)?,
                    failure_count: r.count(3)?,
                    training_data: r.text(4)?,
                    test_id: r.text(5)?,
                    started: r.text(6)?,
                    status: r.text(7)?,
                    duration_seconds: r.opt_real(8)?,
                })
            },
        )
    }

    /// Every model's detection rate in every test, by model, oldest first.
    pub fn test_history(&mut self) -> Result<Vec<TestRow>, TrackError> {
        self.rows(
            "SELECT model, tested_at, test_id, suite, attacks, detection_rate, vulnerabilities_found, false_alarms
             FROM red_team_tests ORDER BY model, tested_at, test_id",
            |r: &Row<'_>| {
                Ok(TestRow {
                    model: r.text(0)?,
                    tested_at: r.text(1)?,
                    test_id: r.text(2)?,
                    suite: r.text(3)?,
                    attacks: r.count(4)?,
                    detection_rate: r.real(5)?,
                    vulnerabilities_found: r.count(6)?,
                    false_alarms: r.count(7)?,
                })
            },
        )
    }

    /// Registered versions side by side, by name then age, with their newest red-team test.
    pub fn model_stats(&mut self) -> Result<Vec<ModelStats>, TrackError> {
        self.rows(
            "SELECT r.ref, r.mode, r.started, r.f1, r.fpr, r.fnr, r.cause_kind,
                    (SELECT t.detection_rate FROM red_team_tests t WHERE t.model = r.ref ORDER BY t.tested_at DESC, t.test_id LIMIT 1),
                    (SELECT t.tested_at FROM red_team_tests t WHERE t.model = r.ref ORDER BY t.tested_at DESC, t.test_id LIMIT 1)
             FROM runs r WHERE r.status = 'registered' ORDER BY r.name, r.started, r.ref",
            |r: &Row<'_>| {
                Ok(ModelStats {
                    reference: r.text(0)?,
                    mode: r.text(1)?,
                    started: r.text(2)?,
                    f1: r.opt_real(3)?,
                    fpr: r.opt_real(4)?,
                    fnr: r.opt_real(5)?,
                    cause: r.opt_text(6)?,
                    detection_rate: r.opt_real(7)?,
                    last_test: r.opt_text(8)?,
                })
            },
        )
    }
}
