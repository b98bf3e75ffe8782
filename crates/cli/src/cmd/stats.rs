//! `cairn reindex` and `cairn stats`: the tracking database, rebuilt and queried.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cairn_store::Store;
use cairn_track::Tracker;
use clap::Subcommand;

use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Per model: red-team tests, average failures and failure rate, severity totals; worst first.
    Failures,
    /// Every red-team retraining job, newest first: model, new version, failures, status, duration.
    Retraining,
    /// Every model's detection rate in every red-team test, oldest first.
    Tests,
    /// Registered versions side by side: F1/FPR/FNR, newest red-team detection rate, last test.
    Models,
}

fn open(store: &Path) -> Result<(Store, Tracker)> {
    let store = Store::open(store)?;
    let tracker = crate::track::tracker(&store)?;
    Ok((store, tracker))
}

pub fn reindex(store: &Path, out: &Output) -> Result<ExitCode> {
    let (tracker, summary) = match crate::track::url() {
        Some(_) => {
            let (store, mut tracker) = open(store)?;
            let summary = tracker.reindex(&store)?;
            (tracker, summary)
        }
        // The store's own file is rebuilt even when it is damaged: moved aside first.
        None => {
            let store = Store::open(store)?;
            let (tracker, summary, aside) = Tracker::reindex_store_file(&store)?;
            if let Some(aside) = aside {
                out.status(format!(
                    "the tracking database could not be read: moved it aside to {}",
                    aside.display()
                ));
            }
            (tracker, summary)
        }
    };
    if out.json {
        out.json(&summary)?;
    } else {
        out.line(format!(
            "reindexed {}: {} run(s), {} red-team test(s), {} retraining job(s)",
            tracker.location(),
            summary.runs,
            summary.red_team_tests,
            summary.retraining
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn opt(x: Option<f64>, f: fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_string(), f)
}

fn four(x: f64) -> String {
    format!("{x:.4}")
}

pub fn stats(store: &Path, out: &Output, command: StatsCommand) -> Result<ExitCode> {
    let (_, mut tracker) = open(store)?;
    match command {
        StatsCommand::Failures => {
            let rows = tracker.failure_stats()?;
            if out.json {
                return out.json(&rows).map(|()| ExitCode::SUCCESS);
            }
            out.line(format!(
                "{:<32} {:>5} {:>12} {:>12}  critical/high/medium/low",
                "model", "tests", "avg failures", "avg rate"
            ));
            for r in rows {
                out.line(format!(
                    "{:<32} {:>5} {:>12.2} {:>12}  {}/{}/{}/{}",
                    r.model,
                    r.tests,
                    r.average_failures,
                    pct(r.average_failure_rate),
                    r.critical,
                    r.high,
                    r.medium,
                    r.low
                ));
            }
        }
        StatsCommand::Retraining => {
            let rows = tracker.retraining_log()?;
            if out.json {
                return out.json(&rows).map(|()| ExitCode::SUCCESS);
            }
            for r in rows {
                out.line(format!(
                    "{}  {} -> {}  {} failure(s)  {}  {}  test {}",
                    r.started,
                    r.model,
                    r.new_ref,
                    r.failure_count,
                    r.status,
                    opt(r.duration_seconds, |s| format!("{s:.1} s")),
                    &r.test_id[..12.min(r.test_id.len())]
                ));
            }
        }
        StatsCommand::Tests => {
            let rows = tracker.test_history()?;
            if out.json {
                return out.json(&rows).map(|()| ExitCode::SUCCESS);
            }
            for r in rows {
                out.line(format!(
                    "{:<32} {}  {:>6} of {:>4} detected  suite {}  test {}",
                    r.model,
                    r.tested_at,
                    pct(r.detection_rate),
                    r.attacks,
                    r.suite,
                    &r.test_id[..12.min(r.test_id.len())]
                ));
            }
        }
        StatsCommand::Models => {
            let rows = tracker.model_stats()?;
            if out.json {
                return out.json(&rows).map(|()| ExitCode::SUCCESS);
            }
            out.line(format!(
                "{:<32} {:<10} {:>7} {:>7} {:>7} {:>10}  last test",
                "version", "mode", "f1", "fpr", "fnr", "detection"
            ));
            for r in rows {
                out.line(format!(
                    "{:<32} {:<10} {:>7} {:>7} {:>7} {:>10}  {}",
                    r.reference,
                    r.mode,
                    opt(r.f1, four),
                    opt(r.fpr, four),
                    opt(r.fnr, four),
                    opt(r.detection_rate, pct),
                    r.last_test.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
