//! `cairn submit`, `cairn worker` and `cairn queue`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use cairn_remote::{Remote, Remotes};
use cairn_store::Store;
use cairn_worker::{WorkerEvent, WorkerOptions};
use clap::{Args, Subcommand};

const VERSION: &str = env!("CARGO_PKG_VERSION");
use crate::output::Output;

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The experiment TOML.
    experiment: PathBuf,
    /// The remote that receives the recipe and its inputs, where workers fetch them.
    #[arg(long, default_value = "origin", value_name = "NAME")]
    remote: String,
    /// Register the version even if the regression gate rejects it.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Fetch and push through this remote of the worker's store instead of the URL each
    /// request names.
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
    /// How long a claim holds without a heartbeat (heartbeats come every third of it).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    lease: Duration,
    /// How often an idle worker looks for work.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    poll: Duration,
    /// Stop after this long without work (default: never).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    idle_exit: Option<Duration>,
    /// Run one request (or none, if none is queued) and stop.
    #[arg(long)]
    once: bool,
    /// The worker's name in the queue (default: host and process id).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    command: Option<QueueCommand>,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Every request and its state (the default).
    List,
    /// Cancel a request: a queued one never runs; a running one's result is discarded when
    /// its run ends (nothing is sent or registered).
    Cancel { id: i64 },
}

pub fn submit(store: &Path, out: &Output, args: SubmitArgs) -> Result<ExitCode> {
    let store = Store::open_or_init(store)?;
    let remote = Remote::named(&store, &args.remote)?;
    let mut tracker = crate::track::tracker(&store)?;
    let submitted = cairn_worker::submit(
        &store,
        &mut tracker,
        &args.experiment,
        &remote,
        args.force,
        VERSION,
    )?;
    if out.json {
        out.json(&submitted)?;
    } else {
        out.line(submitted.id.to_string());
        out.status(format!(
            "queued request {} for {} (recipe {}); sent {} objects ({} bytes) to `{}`",
            submitted.id,
            submitted.reference,
            submitted.recipe,
            submitted.sent.objects,
            submitted.sent.bytes,
            remote.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

pub fn worker(store: &Path, out: &Output, args: WorkerArgs) -> Result<ExitCode> {
    let store = Store::open_or_init(store)?;
    let remote = match &args.remote {
        Some(name) => Some(Remotes::load(&store)?.get(name)?),
        None => None,
    };
    let options = WorkerOptions {
        name: args
            .name
            .unwrap_or_else(|| format!("{}-{}", host(), std::process::id())),
        lease: args.lease,
        poll: args.poll,
        idle_exit: args.idle_exit,
        once: args.once,
        remote,
    };
    out.status(format!("worker {} ready", options.name));
    let db = crate::track::url();
    let open = || cairn_track::Tracker::open_for(&store, db.as_deref());
    let summary = cairn_worker::work(&store, &open, &options, VERSION, &mut |e| match e {
        WorkerEvent::Claimed(r) => out.status(format!(
            "claimed request {}: {} (attempt {})",
            r.id, r.reference, r.attempts
        )),
        WorkerEvent::Fetched(t) => out.detail(format!(
            "fetched {} objects ({} bytes; {} here already) from {}",
            t.objects, t.bytes, t.present, t.url
        )),
        WorkerEvent::Run(cairn_pipeline::Event::Stage(stage, line)) => {
            out.detail(format!("{stage:?}: {line}"))
        }
        WorkerEvent::Run(_) => {}
        WorkerEvent::Finished {
            request,
            state,
            run,
            note,
        } => out.status(format!(
            "request {} {state}: {}{}{}",
            request.id,
            request.reference,
            run.map(|r| format!(" (run {r})")).unwrap_or_default(),
            note.map(|n| format!("; {n}")).unwrap_or_default()
        )),
        WorkerEvent::Abandoned { request, why } => out.status(format!(
            "request {} abandoned ({why:?}): nothing was sent",
            request.id
        )),
    })?;
    if out.json {
        out.json(&summary)?;
    } else {
        out.status(format!(
            "worker {} stopped: {} requests ({} done, {} rejected, {} failed, {} abandoned)",
            options.name,
            summary.requests,
            summary.done,
            summary.rejected,
            summary.failed,
            summary.abandoned
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn queue(store: &Path, out: &Output, args: QueueArgs) -> Result<ExitCode> {
    let store = Store::open_or_init(store)?;
    let mut tracker = crate::track::tracker(&store)?;
    match args.command.unwrap_or(QueueCommand::List) {
        QueueCommand::List => {
            let requests = tracker.requests()?;
            if out.json {
                out.json(&requests)?;
            } else {
                for r in &requests {
                    out.line(format!(
                        "{:>4}  {:<9}  {:<24}  attempts {}  {}{}",
                        r.id,
                        r.state,
                        r.reference,
                        r.attempts,
                        r.worker.as_deref().unwrap_or("-"),
                        r.note
                            .as_deref()
                            .map(|n| format!("  {n}"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        QueueCommand::Cancel { id } => match tracker.cancel(id)? {
            Some(cairn_track::Cancelled::Cancelled { was }) => {
                out.status(format!("cancelled request {id} (it was {was})"))
            }
            Some(cairn_track::Cancelled::Ended { state }) => {
                anyhow::bail!("request {id} has ended already ({state}): nothing to cancel")
            }
            None => anyhow::bail!("no request {id} (see `cairn queue`)"),
        },
    }
    Ok(ExitCode::SUCCESS)
}
