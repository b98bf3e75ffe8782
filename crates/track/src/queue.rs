//! The run queue (`run_requests`): `cairn submit` adds a request for a stored recipe;
//! `cairn worker`s claim requests one at a time under a lease they renew by heartbeat; a
//! request whose worker stopped renewing (it died) is claimed again by another. On
//! PostgreSQL a claim is `SELECT … FOR UPDATE SKIP LOCKED`, so workers never wait on each
//! other; on SQLite (one machine) it runs under the database's write lock. Requests are not
//! derived from the store, so `cairn reindex` leaves them alone.
//!
//! Times are the clients' clocks in milliseconds since the Unix epoch: workers on several
//! machines need clocks in step to well under a lease (NTP does it).

use serde::Serialize;

use crate::db::{Db, DbResult, Value, values};
use crate::stats::Row;
use crate::{Result, TrackError, Tracker};

/// A request is given up after this many claims whose workers all stopped renewing.
pub const MAX_ATTEMPTS: i64 = 3;

/// One queued run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub id: i64,
    pub recipe: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// The remote that holds the recipe's inputs (its URL).
    pub remote: String,
    pub force: bool,
    pub state: RequestState,
    pub submitted: String,
    pub worker: Option<String>,
    pub attempts: i64,
    /// Until when the worker's claim holds (ms since the epoch).
    pub lease_until: Option<i64>,
    pub heartbeat: Option<i64>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// The run that answered it.
    pub run: Option<String>,
    /// Why it failed, or how it ended.
    pub note: Option<String>,
}

/// Where a queued run is; stored as the words `queued`, `running`, `done`, `rejected`,
/// `failed` and `cancelled` (parsed once, where a row is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    Queued,
    /// A worker holds it (until its lease runs out).
    Running,
    /// Its run was registered (or found registered).
    Done,
    /// The regression gate refused its run.
    Rejected,
    Failed,
    Cancelled,
}

impl RequestState {
    pub const ALL: [RequestState; 6] = [
        RequestState::Queued,
        RequestState::Running,
        RequestState::Done,
        RequestState::Rejected,
        RequestState::Failed,
        RequestState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Queued => "queued",
            RequestState::Running => "running",
            RequestState::Done => "done",
            RequestState::Rejected => "rejected",
            RequestState::Failed => "failed",
            RequestState::Cancelled => "cancelled",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Queued or running: it may still run.
    pub fn is_open(self) -> bool {
        matches!(self, RequestState::Queued | RequestState::Running)
    }
}

impl std::fmt::Display for RequestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a worker learns when it renews its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still this worker's.
    Held,
    /// Cancelled (`cairn queue cancel`): abandon it.
    Cancelled,
    /// Another worker claimed it (this one was presumed dead): abandon it.
    Lost,
}

/// What `cairn queue cancel` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cancelled {
    /// It will not run (or its worker abandons it at its next heartbeat).
    Cancelled { was: RequestState },
    /// It had ended already.
    Ended { state: RequestState },
}

const COLUMNS: &str = "id, recipe, ref, remote, force, state, submitted, worker, attempts, lease_until, heartbeat, started, finished, run_id, note";

fn int(row: &Row<'_>, i: usize) -> DbResult<Option<i64>> {
    match row.0.get(i) {
        Some(Value::Int(n)) => Ok(Some(*n)),
        Some(Value::Null) | None => Ok(None),
        Some(other) => Err(crate::DbError::Type(format!(
            "column {i} holds {other:?} where an integer was expected"
        ))),
    }
}

fn request(cells: &[Value]) -> DbResult<Request> {
    let row = Row(cells);
    Ok(Request {
        id: int(&row, 0)?.unwrap_or(0),
        recipe: row.text(1)?,
        reference: row.text(2)?,
        remote: row.text(3)?,
        force: int(&row, 4)? == Some(1),
        state: {
            let word = row.text(5)?;
            RequestState::parse(&word).ok_or_else(|| {
                crate::DbError::Type(format!(
                    "run_requests.state holds `{word}`, not a request state"
                ))
            })?
        },
        submitted: row.text(6)?,
        worker: row.opt_text(7)?,
        attempts: int(&row, 8)?.unwrap_or(0),
        lease_until: int(&row, 9)?,
        heartbeat: int(&row, 10)?,
        started: row.opt_text(11)?,
        finished: row.opt_text(12)?,
        run: row.opt_text(13)?,
        note: row.opt_text(14)?,
    })
}

fn one(db: &mut Db, id: i64) -> DbResult<Option<Request>> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM run_requests WHERE id = $1"),
        &values![id],
    )?;
    rows.first().map(|r| request(r)).transpose()
}

/// Now, in ms since the epoch, and as RFC 3339.
pub fn now() -> (i64, String) {
    let now = std::time::SystemTime::now();
    let ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    (ms, humantime::format_rfc3339_seconds(now).to_string())
}

impl Tracker {
    fn queue<T>(&mut self, f: impl FnOnce(&mut Db) -> DbResult<T>) -> Result<T> {
        let location = self.location.clone();
        let exclusive = matches!(self.db, Db::Sqlite(_));
        self.db
            .transaction(exclusive, f)
            .map_err(|e| TrackError::from((location.as_str(), e)))
    }

    /// Queues a run of `recipe` (to register `reference`), its inputs on `remote`.
    pub fn submit(
        &mut self,
        recipe: &str,
        reference: &str,
        remote: &str,
        force: bool,
    ) -> Result<i64> {
        // Two submits at once on PostgreSQL may pick the same number; the loser's insert
        // fails on the primary key and takes the next.
        let mut attempts = 0;
        loop {
            match self.submit_once(recipe, reference, remote, force) {
                Err(_) if attempts < 10 => attempts += 1,
                done => return done,
            }
        }
    }

    fn submit_once(
        &mut self,
        recipe: &str,
        reference: &str,
        remote: &str,
        force: bool,
    ) -> Result<i64> {
        let (_, submitted) = now();
        self.queue(|db| {
            // Under the write lock (SQLite) or the primary key (PostgreSQL, see `submit`).
            let rows = db.query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM run_requests", &[])?;
            let id = match rows.first().and_then(|r| r.first()) {
                Some(Value::Int(n)) => n + 1,
                _ => 1,
            };
            db.execute(
                "INSERT INTO run_requests (id, recipe, ref, remote, force, state, submitted, attempts) VALUES ($1, $2, $3, $4, $5, 'queued', $6, 0)",
                &values![id, recipe, reference, remote, force, submitted],
            )?;
            Ok(id)
        })
    }

    /// Claims the oldest queued request, or one whose worker's lease ran out; `None` when
    /// there is none. Requests claimed [`MAX_ATTEMPTS`] times without finishing fail.
    pub fn claim(&mut self, worker: &str, lease_ms: i64) -> Result<Option<Request>> {
        let (ms, started) = now();
        let postgres = matches!(self.db, Db::Postgres(_));
        self.queue(|db| {
            db.execute(
                "UPDATE run_requests SET state = 'failed', lease_until = NULL, finished = $1, note = $2 WHERE state = 'running' AND lease_until < $3 AND attempts >= $4",
                &values![
                    started.clone(),
                    format!("given up: its worker stopped renewing its lease {MAX_ATTEMPTS} times"),
                    ms,
                    MAX_ATTEMPTS
                ],
            )?;
            let pick = format!(
                "SELECT id FROM run_requests WHERE state = 'queued' OR (state = 'running' AND lease_until < $1) ORDER BY id LIMIT 1{}",
                if postgres { " FOR UPDATE SKIP LOCKED" } else { "" }
            );
            let rows = db.query(&pick, &values![ms])?;
            let Some(Value::Int(id)) = rows.first().and_then(|r| r.first()).cloned() else {
                return Ok(None);
            };
            db.execute(
                "UPDATE run_requests SET state = 'running', worker = $1, attempts = attempts + 1, lease_until = $2, heartbeat = $3, started = $4 WHERE id = $5",
                &values![worker, ms + lease_ms, ms, started, id],
            )?;
            one(db, id)
        })
    }

    /// Renews `worker`'s lease on request `id`.
    pub fn heartbeat(&mut self, id: i64, worker: &str, lease_ms: i64) -> Result<Lease> {
        let (ms, _) = now();
        self.queue(|db| {
            let renewed = db.execute(
                "UPDATE run_requests SET lease_until = $1, heartbeat = $2 WHERE id = $3 AND worker = $4 AND state = 'running'",
                &values![ms + lease_ms, ms, id, worker],
            )?;
            if renewed == 1 {
                return Ok(Lease::Held);
            }
            Ok(match one(db, id)? {
                Some(r) if r.state == RequestState::Cancelled => Lease::Cancelled,
                _ => Lease::Lost,
            })
        })
    }

    /// Ends request `id` as `state` (done, rejected or failed) if `worker` still holds
    /// it; `false` when it does not (cancelled, or claimed by another).
    pub fn finish(
        &mut self,
        id: i64,
        worker: &str,
        state: RequestState,
        run: Option<&str>,
        note: Option<&str>,
    ) -> Result<bool> {
        let state = state.as_str();
        let (_, finished) = now();
        self.queue(|db| {
            Ok(db.execute(
                "UPDATE run_requests SET state = $1, run_id = $2, note = $3, finished = $4, lease_until = NULL WHERE id = $5 AND worker = $6 AND state = 'running'",
                &values![state, run, note, finished, id, worker],
            )? == 1)
        })
    }

    /// Every request, oldest first.
    pub fn requests(&mut self) -> Result<Vec<Request>> {
        let rows = self.query(
            &format!("SELECT {COLUMNS} FROM run_requests ORDER BY id"),
            &[],
        )?;
        let location = self.location.clone();
        rows.iter()
            .map(|r| request(r))
            .collect::<DbResult<_>>()
            .map_err(|e| TrackError::from((location.as_str(), e)))
    }

    /// Cancels request `id`: a queued one never runs; a running one's worker learns it at
    /// its next heartbeat and, when the run ends, sends and registers nothing. `None` when
    /// there is no such request.
    pub fn cancel(&mut self, id: i64) -> Result<Option<Cancelled>> {
        let (_, finished) = now();
        self.queue(|db| {
            let Some(r) = one(db, id)? else {
                return Ok(None);
            };
            if !r.state.is_open() {
                return Ok(Some(Cancelled::Ended { state: r.state }));
            }
            db.execute(
                "UPDATE run_requests SET state = 'cancelled', finished = $1, lease_until = NULL WHERE id = $2",
                &values![finished, id],
            )?;
            Ok(Some(Cancelled::Cancelled { was: r.state }))
        })
    }
}
