//! `cairn redteam run|show`: attack suites against several models, failures per model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_pipeline::{Event, ModelScope, RedteamOptions, RetrainProgress, RetrainStatus};
use cairn_redteam::Category;
use cairn_store::Store;
use cairn_track::Record;
use clap::{Args, Subcommand};

use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum RedteamCommand {
    /// Score a suite's attacks and benign probes with each model's ONNX export; store and
    /// print who missed what, by category and severity bucket.
    Run(RunArgs),
    /// Print a stored red-team result again.
    Show(ShowArgs),
    /// Fine-tune only the models of a result that failed, each on its own failures plus a
    /// sample of its own base data, gated like any run; then re-test them on the same attacks.
    Retrain(RetrainArgs),
}

#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// The result: its hash (or a unique prefix of 8+ digits) or its `redteam/results/…` ref.
    result: String,
    /// Rows of each model's own base data trained beside its failures (a seeded sample).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    base_sample: u64,
    /// Multiplies the failures' training weight (red-team rows weigh 3 already).
    #[arg(long, default_value_t = 2.0)]
    boost: f64,
    /// Build and print the recipes; train and register nothing.
    #[arg(long)]
    dry_run: bool,
    /// Epochs of each fine-tune (default: a quarter of the model's own, at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: Option<u64>,
    /// Learning rate of each fine-tune (default: a quarter of the model's own).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Texts per ONNX Runtime call in the re-test.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The suite file (TOML; see `suites/default.toml`).
    #[arg(long, value_name = "FILE")]
    suite: PathBuf,
    /// Versions to test, comma-separated: `a@1.0.0,b/latest`.
    #[arg(
        long,
        value_name = "REFS",
        value_delimiter = ',',
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    models: Vec<String>,
    /// Test the latest version of every model in the store.
    #[arg(long)]
    all: bool,
    /// Only these categories, comma-separated.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    categories: Vec<String>,
    /// Texts per ONNX Runtime call.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Generation seed (default: the suite's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// ONNX Runtime threads per model (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The result: its hash (or a unique prefix of 8+ digits) or its `redteam/results/…` ref.
    result: String,
}

pub fn redteam(store: &Path, out: &Output, command: RedteamCommand) -> Result<ExitCode> {
    match command {
        RedteamCommand::Run(args) => run(store, out, args),
        RedteamCommand::Show(args) => show(store, out, args),
        RedteamCommand::Retrain(args) => retrain(store, out, args),
    }
}

fn run(store: &Path, out: &Output, args: RunArgs) -> Result<ExitCode> {
    let mut categories = Vec::new();
    for name in &args.categories {
        match Category::parse(name) {
            Some(c) => categories.push(c),
            None => bail!(
                "unknown category `{name}` in --categories: use some of {}",
                Category::names()
            ),
        }
    }
    let store = Store::open(store)?;
    let options = RedteamOptions {
        models: if args.all {
            ModelScope::All
        } else {
            ModelScope::These(args.models)
        },
        batch_size: args.batch_size as usize,
        categories: (!categories.is_empty()).then_some(categories),
        seed: args.seed,
        threads: args.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |t| t as usize,
        ),
    };
    let report = cairn_pipeline::redteam_run(&store, &args.suite, &options)?;
    if let Some(mut tracker) = crate::track::open(&store, out) {
        crate::track::record(&mut tracker, &store, out, Record::Redteam(report.result));
    }
    if out.json {
        out.json(&report)?;
    } else {
        out.line(cairn_pipeline::render_result(&report).trim_end());
        out.status(format!(
            "stored as {} (`cairn redteam show {}`)",
            cairn_pipeline::result_ref(&report.result)?,
            &report.result.to_hex()[..12]
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(store: &Path, out: &Output, args: ShowArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let report = cairn_pipeline::load_result(&store, &args.result)?;
    if out.json {
        out.json(&report)?;
    } else {
        out.line(cairn_pipeline::render_result(&report).trim_end());
        for m in &report.body.models {
            for f in &m.missed {
                out.detail(format!(
                    "  missed by {} [{} {} {:.2}] {:.3}: {}",
                    m.reference, f.category, f.entry, f.severity, f.score, f.text
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn retrain(store: &Path, out: &Output, args: RetrainArgs) -> Result<ExitCode> {
    if !(args.boost.is_finite() && args.boost > 0.0) {
        bail!(
            "--boost {}: give a positive number (1 keeps the red-team weight of 3)",
            args.boost
        );
    }
    if let Some(lr) = args.learning_rate
        && !(lr.is_finite() && lr > 0.0)
    {
        bail!("--learning-rate {lr}: give a positive number");
    }
    let store = Store::open(store)?;
    let options = cairn_pipeline::RetrainOptions {
        base_sample: args.base_sample,
        boost: args.boost,
        dry_run: args.dry_run,
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        batch_size: args.batch_size as usize,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut tracker = if args.dry_run {
        None
    } else {
        crate::track::open(&store, out)
    };
    let mut events = |progress: RetrainProgress<'_>| match progress {
        RetrainProgress::Stage { model, event } => match event {
            Event::Stage(stage, detail) => out.status(format!("{model}: {stage:>9}  {detail}")),
            Event::Rejected { rule, reason, .. } => {
                out.status(format!("{model}: rejected by the gate ({rule}): {reason}"));
            }
            _ => {}
        },
        RetrainProgress::Started { job, .. } => {
            if let Some(t) = tracker.as_mut() {
                crate::track::record(t, &store, out, Record::RetrainStarted(job));
            }
        }
        RetrainProgress::Finished { run, failure, .. } => {
            let Some(t) = tracker.as_mut() else { return };
            if let Some(run) = run {
                crate::track::record(t, &store, out, Record::Run(run));
            } else if let Some(failure) = failure {
                crate::track::record(t, &store, out, Record::RetrainFailure(failure));
            }
        }
        RetrainProgress::Retested(id) => {
            if let Some(t) = tracker.as_mut() {
                crate::track::record(t, &store, out, Record::Redteam(id));
            }
        }
    };
    let report = cairn_pipeline::redteam_retrain(
        &store,
        &args.result,
        &options,
        env!("CARGO_PKG_VERSION"),
        &mut events,
    )?;
    if out.json {
        out.json(&report)?;
    } else {
        for r in &report.retrained {
            let after = r
                .detection_after
                .map_or_else(|| "-".to_string(), |d| format!("{:.1}%", d * 100.0));
            out.line(format!(
                "{} -> {}  {}  {} failure(s); detection {:.1}% -> {after}{}",
                r.reference,
                r.new_ref,
                r.status,
                r.failures,
                r.detection_before * 100.0,
                r.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        for s in &report.skipped {
            out.line(format!("{}  skipped: {}", s.reference, s.reason));
        }
        if let Some(id) = &report.retest {
            out.status(format!(
                "re-test stored as {}",
                cairn_pipeline::result_ref(id)?
            ));
        }
    }
    let failed = report
        .retrained
        .iter()
        .any(|r| matches!(r.status, RetrainStatus::Failed | RetrainStatus::Rejected));
    Ok(if failed {
        ExitCode::from(crate::EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}
