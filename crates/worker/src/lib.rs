//! The run queue, end to end: [`submit`] resolves an experiment into a stored recipe, sends
//! the recipe and its inputs to a remote and queues a request in the tracking database;
//! [`work`] is `cairn worker`: it claims requests (see `cairn_track`'s queue: leases renewed
//! by heartbeat, `FOR UPDATE SKIP LOCKED` on PostgreSQL), fetches each recipe's objects from
//! the remote (re-hashed on arrival), runs it, sends the run to the remote and moves the
//! version's ref there by compare-and-swap. A worker that dies loses its lease and another
//! runs the request again; whichever attempt moves the remote ref first registered the
//! version, and a later attempt finds the ref taken and records that run as the answer —
//! a version is never registered twice.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_pipeline::{Event, PipelineError, RunOptions, RunStatus};
use cairn_remote::{Published, Remote, RemoteError, RemoteUrl, Transfer};
use cairn_spec::Recipe;
use cairn_store::{ObjectId, Store};
use cairn_track::{Lease, Request, RequestState, TrackError, Tracker};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Track(#[from] TrackError),
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error("request {id}: its recipe `{recipe}` is not an object id")]
    BadRecipe { id: i64, recipe: String },
}

pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// What `cairn submit` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Submitted {
    pub id: i64,
    pub recipe: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub sent: Transfer,
}

/// `cairn submit`: the experiment's recipe and inputs stored here and sent to `remote`, and a
/// request queued in `tracker`.
pub fn submit(
    store: &Store,
    tracker: &mut Tracker,
    experiment: &Path,
    remote: &Remote,
    force: bool,
    cairn_version: &str,
) -> Result<Submitted> {
    let plan = cairn_pipeline::save_plan(store, experiment, cairn_version)?;
    let recipe: ObjectId = plan.recipe.parse().map_err(|_| WorkerError::BadRecipe {
        id: 0,
        recipe: plan.recipe.clone(),
    })?;
    let sent = cairn_remote::send(store, remote, &[recipe])?;
    let reference = format!("{}@{}", plan.resolved.name, plan.resolved.version);
    let id = tracker.submit(&plan.recipe, &reference, &remote.url.to_string(), force)?;
    Ok(Submitted {
        id,
        recipe: plan.recipe,
        reference,
        sent,
    })
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Its name in the queue (default: host and process id).
    pub name: String,
    /// How long a claim holds without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Stop after this long without work (`None`: never).
    pub idle_exit: Option<Duration>,
    /// Stop after one request.
    pub once: bool,
    /// Use this remote for every request instead of the one it names.
    pub remote: Option<RemoteUrl>,
}

/// What a worker tells the person watching it.
#[derive(Debug)]
pub enum WorkerEvent<'a> {
    Claimed(&'a Request),
    Fetched(&'a Transfer),
    Run(Event),
    /// The request ended: its state, run and note.
    Finished {
        request: &'a Request,
        state: RequestState,
        run: Option<&'a str>,
        note: Option<&'a str>,
    },
    /// It was cancelled or claimed by another worker while it ran: nothing was sent.
    Abandoned {
        request: &'a Request,
        why: Lease,
    },
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkSummary {
    pub requests: u64,
    pub done: u64,
    pub rejected: u64,
    pub failed: u64,
    pub abandoned: u64,
}

/// How a request ended.
struct Outcome {
    state: RequestState,
    run: Option<String>,
    note: Option<String>,
}

/// Runs one claimed request; `Err` for failures of the request itself (recorded as
/// `failed`).
fn job(
    store: &Store,
    request: &Request,
    options: &WorkerOptions,
    lease: &Mutex<Lease>,
    cairn_version: &str,
    events: &mut dyn FnMut(WorkerEvent),
) -> Result<Option<Outcome>> {
    let url = match &options.remote {
        Some(url) => url.clone(),
        None => RemoteUrl::parse(&request.remote)?,
    };
    let remote = Remote::open("queue", url)?;
    let recipe_id: ObjectId = request.recipe.parse().map_err(|_| WorkerError::BadRecipe {
        id: request.id,
        recipe: request.recipe.clone(),
    })?;
    let version: cairn_store::RefName =
        request
            .reference
            .parse()
            .map_err(|_| WorkerError::BadRecipe {
                id: request.id,
                recipe: request.reference.clone(),
            })?;
    // Published already — by an earlier attempt at this request whose worker was presumed
    // dead, or from another recipe: answered without running.
    if let Some((theirs, _)) = remote.backend().read_ref(&version)? {
        return answer(store, &remote, request, recipe_id, theirs, None).map(Some);
    }
    let fetched = cairn_remote::fetch(store, &remote, &[recipe_id])?;
    events(WorkerEvent::Fetched(&fetched));
    let recipe: Recipe = store.get_manifest(&recipe_id)?;
    // No ref is set here: the remote's is the only publication that counts, so a run this
    // worker abandons leaves nothing behind that could refuse a later one.
    let result = cairn_pipeline::run_recipe(
        store,
        &recipe,
        RunOptions {
            force: request.force,
            stored_only: true,
        },
        cairn_version,
        &mut |e| events(WorkerEvent::Run(e)),
    )?;
    // Cancelled or taken over while it ran: the result stays here, unsent.
    if let Ok(state) = lease.lock()
        && *state != Lease::Held
    {
        events(WorkerEvent::Abandoned {
            request,
            why: *state,
        });
        return Ok(None);
    }
    if result.status == RunStatus::Rejected {
        cairn_remote::send(store, &remote, &[result.run])?;
        let note = result
            .report
            .as_ref()
            .map(|r| format!("{}: {}", r.decision.rule, r.decision.reason));
        return Ok(Some(Outcome {
            state: RequestState::Rejected,
            run: Some(result.run.to_hex()),
            note,
        }));
    }
    match cairn_remote::publish(store, &remote, &version, result.run)? {
        Published::Set => Ok(Some(Outcome {
            state: RequestState::Done,
            run: Some(result.run.to_hex()),
            note: None,
        })),
        Published::Taken(theirs) => {
            answer(store, &remote, request, recipe_id, theirs, Some(result.run)).map(Some)
        }
    }
}

/// The answer of a request whose version the remote holds already (`theirs`): that run if it
/// was made from the request's recipe (an earlier attempt), else a failure saying so. `ours`
/// is this attempt's run, when it made one.
fn answer(
    store: &Store,
    remote: &Remote,
    request: &Request,
    recipe: ObjectId,
    theirs: ObjectId,
    ours: Option<ObjectId>,
) -> Result<Outcome> {
    cairn_remote::fetch(store, remote, &[theirs])?;
    let manifest: cairn_spec::RunManifest = store.get_manifest(&theirs)?;
    let reference = &request.reference;
    let unregistered = ours
        .map(|run| format!("; this attempt's run {run} stays unregistered"))
        .unwrap_or_default();
    if manifest.recipe == recipe {
        Ok(Outcome {
            state: RequestState::Done,
            run: Some(theirs.to_hex()),
            note: Some(format!(
                "{reference} was registered by an earlier attempt (run {theirs}){unregistered}"
            )),
        })
    } else {
        Ok(Outcome {
            state: RequestState::Failed,
            run: ours.map(|r| r.to_hex()),
            note: Some(format!(
                "{reference} is published already from another recipe ({}, run {theirs}); submit this experiment as another version",
                manifest.recipe
            )),
        })
    }
}

/// `cairn worker`: claims and runs requests until told to stop. `open` opens a connection
/// to the tracking database (one for the queue, one per job for heartbeats).
pub fn work(
    store: &Store,
    open: &(dyn Fn() -> std::result::Result<Tracker, TrackError> + Sync),
    options: &WorkerOptions,
    cairn_version: &str,
    events: &mut dyn FnMut(WorkerEvent),
) -> Result<WorkSummary> {
    let mut tracker = open()?;
    let lease_ms = options.lease.as_millis() as i64;
    let mut summary = WorkSummary::default();
    let mut idle_since = Instant::now();
    loop {
        let claimed = match tracker.claim(&options.name, lease_ms) {
            Ok(claimed) => claimed,
            // A dropped connection: one more try on a new one.
            Err(_) => {
                tracker = open()?;
                tracker.claim(&options.name, lease_ms)?
            }
        };
        let Some(request) = claimed else {
            if options.once
                || options
                    .idle_exit
                    .is_some_and(|idle| idle_since.elapsed() >= idle)
            {
                return Ok(summary);
            }
            std::thread::sleep(options.poll);
            continue;
        };
        summary.requests += 1;
        events(WorkerEvent::Claimed(&request));
        let lease = Arc::new(Mutex::new(Lease::Held));
        let stop = AtomicBool::new(false);
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| {
                let every = options.lease / 3;
                let mut beats = None;
                let mut last_try = Instant::now();
                let mut renewed = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50).min(every));
                    // Not renewed for a whole lease: another worker may hold it now.
                    if renewed.elapsed() >= options.lease {
                        if let Ok(mut state) = lease.lock() {
                            *state = Lease::Lost;
                        }
                        return;
                    }
                    if last_try.elapsed() < every {
                        continue;
                    }
                    last_try = Instant::now();
                    if beats.is_none() {
                        beats = open().ok();
                    }
                    let Some(tracker) = beats.as_mut() else {
                        continue;
                    };
                    match tracker.heartbeat(request.id, &options.name, lease_ms) {
                        Ok(Lease::Held) => renewed = Instant::now(),
                        Ok(other) => {
                            if let Ok(mut state) = lease.lock() {
                                *state = other;
                            }
                            return;
                        }
                        // A new connection next time; the lease covers the misses until it
                        // runs out.
                        Err(_) => beats = None,
                    }
                }
            });
            let outcome = job(store, &request, options, &lease, cairn_version, events);
            stop.store(true, Ordering::SeqCst);
            outcome
        });
        let (state, run, note) = match outcome {
            Ok(Some(o)) => (o.state, o.run, o.note),
            Ok(None) => {
                summary.abandoned += 1;
                idle_since = Instant::now();
                if options.once {
                    return Ok(summary);
                }
                continue;
            }
            Err(e) => (RequestState::Failed, None, Some(e.to_string())),
        };
        if let Some(run) = &run
            && let Ok(id) = run.parse::<ObjectId>()
        {
            // The index is rebuilt from the store by `cairn reindex` if this fails.
            let _ = tracker.record(store, cairn_track::Record::Run(id));
        }
        // The connection sat idle through the run: one more try on a new one.
        let finished = match tracker.finish(
            request.id,
            &options.name,
            state,
            run.as_deref(),
            note.as_deref(),
        ) {
            Ok(finished) => finished,
            Err(_) => {
                tracker = open()?;
                tracker.finish(
                    request.id,
                    &options.name,
                    state,
                    run.as_deref(),
                    note.as_deref(),
                )?
            }
        };
        if !finished {
            events(WorkerEvent::Abandoned {
                request: &request,
                why: Lease::Lost,
            });
            summary.abandoned += 1;
            idle_since = Instant::now();
            if options.once {
                return Ok(summary);
            }
            continue;
        }
        match state {
            RequestState::Done => summary.done += 1,
            RequestState::Rejected => summary.rejected += 1,
            _ => summary.failed += 1,
        }
        events(WorkerEvent::Finished {
            request: &request,
            state,
            run: run.as_deref(),
            note: note.as_deref(),
        });
        idle_since = Instant::now();
        if options.once {
            return Ok(summary);
        }
    }
}
