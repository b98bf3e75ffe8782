//! `gc`: delete what no ref reaches, sparing what a running process holds as a temporary
//! root (see `roots`), and anything young enough to belong to a writer that has not set its
//! ref yet.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::error::{IoContext, Result};
use crate::id::ObjectId;
use crate::{Store, fsck, refs, roots};

/// How `gc` behaves.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// List what would be deleted; delete nothing.
    pub dry_run: bool,
    /// Unreachable objects and temp files modified more recently than this are kept: a
    /// running `cairn run` writes its objects before it sets the ref that reaches them.
    pub grace: Duration,
    /// Sweep even when a ref's closure cannot be read completely (a missing or damaged
    /// object): what only the broken part referenced is deleted. Without it gc refuses.
    pub force_broken_refs: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            grace: Duration::from_secs(3600),
            force_broken_refs: false,
        }
    }
}

/// A [`GcReport`] as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcSummary {
    pub dry_run: bool,
    pub reachable: usize,
    pub removed: Vec<String>,
    pub bytes_removed: u64,
    pub kept_young: usize,
    pub temp_removed: usize,
    /// Objects held by running processes' temporary roots.
    pub held: usize,
    /// Root files of processes that are gone, deleted.
    pub roots_expired: usize,
}

/// What `gc` did (or, with `dry_run`, would do).
#[derive(Debug, Default)]
pub struct GcReport {
    pub reachable: usize,
    /// Unreachable objects deleted (or to delete), with their sizes.
    pub removed: Vec<(ObjectId, u64)>,
    /// Unreachable objects kept because they are younger than the grace period.
    pub kept_young: usize,
    pub temp_removed: Vec<PathBuf>,
    pub dry_run: bool,
    /// Objects held by running processes' temporary roots.
    pub held: usize,
    /// Root files of processes that are gone (deleted unless `dry_run`).
    pub roots_expired: Vec<PathBuf>,
}

impl GcReport {
    pub fn bytes_removed(&self) -> u64 {
        self.removed.iter().map(|(_, n)| n).sum()
    }

    /// The machine-readable form (`cairn gc --json`).
    pub fn summary(&self) -> GcSummary {
        GcSummary {
            dry_run: self.dry_run,
            reachable: self.reachable,
            removed: self.removed.iter().map(|(id, _)| id.to_hex()).collect(),
            bytes_removed: self.bytes_removed(),
            kept_young: self.kept_young,
            temp_removed: self.temp_removed.len(),
            held: self.held,
            roots_expired: self.roots_expired.len(),
        }
    }
}

fn age(path: &std::path::Path, now: SystemTime) -> Option<Duration> {
    let modified = fs::symlink_metadata(path).and_then(|m| m.modified()).ok()?;
    Some(now.duration_since(modified).unwrap_or(Duration::ZERO))
}

pub(crate) fn run(store: &Store, options: &GcOptions) -> Result<GcReport> {
    let layout = store.layout();
    // Holding the refs lock for mark and sweep: no ref can move onto an object we are about
    // to delete (setting a ref also freshens its target).
    let _lock = refs::lock(layout)?;
    let now = SystemTime::now();
    // Roots: every ref, and every object a running process holds (whatever the grace).
    let live = roots::read(layout)?;
    let held = store.reachable(live.ids.iter().copied())?;
    let refs = refs::list(layout)?;
    let mut reachable = if options.force_broken_refs {
        store.reachable(refs.into_iter().map(|(_, id)| id))?
    } else {
        store.reachable_from_refs(&refs)?
    };
    let mut report = GcReport {
        reachable: reachable.len(),
        dry_run: options.dry_run,
        held: held.difference(&reachable).count(),
        ..Default::default()
    };
    reachable.extend(held);
    let scan = fsck::scan(layout)?;
    for (id, path) in scan.objects {
        if reachable.contains(&id) {
            continue;
        }
        // Unknown age (the file vanished) counts as young: never delete what we cannot judge.
        if age(&path, now).is_none_or(|a| a < options.grace) {
            report.kept_young += 1;
            continue;
        }
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if !options.dry_run {
            fs::remove_file(&path).ctx("failed to delete", &path)?;
        }
        report.removed.push((id, size));
    }
    for path in scan.temp_files {
        // A live writer's temp file is its object in the making.
        if roots::temp_file_live(&path) {
            continue;
        }
        if age(&path, now).is_some_and(|a| a >= options.grace) {
            if !options.dry_run {
                fs::remove_file(&path).ctx("failed to delete", &path)?;
            }
            report.temp_removed.push(path);
        }
    }
    for path in live.expired {
        if !options.dry_run {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).ctx("failed to delete", &path);
                }
                _ => {}
            }
        }
        report.roots_expired.push(path);
    }
    Ok(report)
}
