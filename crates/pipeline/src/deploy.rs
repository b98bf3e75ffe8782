//! Putting a version into production: `cairn export --onnx`, `cairn deploy`, and
//! `cairn deploy --rollback`.
//!
//! A production folder serves `model.onnx`, `tokenizer.json` and `metadata.json`. Each is a
//! symlink into `.cairn-current`, itself a symlink to one release folder; a change of the
//! folder is one `rename` of that link, so a reader that opens the files sees the old set or
//! the new set, never a mix, whenever a crash happens:
//!
//! ```text
//! prod/model.onnx      -> .cairn-current/model.onnx        (and the other two files)
//! prod/.cairn-current  -> .cairn-releases/0003-<time>
//! prod/.cairn-releases/0003-<time>/{model.onnx,tokenizer.json,metadata.json}
//! ```
//!
//! A change (deploy or rollback) runs under a lock file:
//!
//! 1. a journal left by a crash is finished, and stale temporary files are removed;
//! 2. files that are not the links above (hand-made, or written by an older cairn) are
//!    adopted: their visible set becomes a release and each file becomes a link, which
//!    changes nothing a reader sees;
//! 3. a deploy writes and fsyncs the new files into `.cairn-releases/<n>-<time>.tmp/` and
//!    renames it (a rollback switches to the release it returns to);
//! 4. the [`Deployment`] record is stored and named by the ref `deploy-pending/<hash>` (so
//!    the store knows of the change even before the folder has a deployment ref), and a
//!    journal (`.cairn-deploy.pending`) names it, the release and the folder's ref as it was;
//! 5. `.cairn-current` is switched (the commit point for the folder), the folder fsynced;
//! 6. the ref is moved (compare-and-swap), the journal and the pending ref removed;
//! 7. releases beyond the newest `keep` (default 10) are deleted, never the current one.
//!
//! A journal found later (by the next deploy or rollback, or `cairn show`) is finished: if
//! the switch happened, the ref is moved to the record; otherwise the unused release is
//! removed. Either way the files served were whole at every instant.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_spec::{Deployment, Recipe, deployment_ref};
use cairn_store::{Expect, ObjectId, RefName, Store};
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::event::now_rfc3339;
use crate::loaded::LoadedModel;
use crate::versions::{load_run, metadata_json};

/// The files of a production folder.
pub const DEPLOYED_FILES: [&str; 3] = ["model.onnx", "tokenizer.json", "metadata.json"];
/// How many releases a production folder keeps by default (`cairn deploy --keep`).
pub const DEFAULT_KEEP: usize = 10;
const RELEASES: &str = ".cairn-releases";
const CURRENT: &str = ".cairn-current";
/// Backup folders written by cairn before releases existed; pruned like releases.
const LEGACY_BACKUPS: &str = ".cairn-backups";
const LOCK: &str = ".cairn-deploy.lock";
const JOURNAL: &str = ".cairn-deploy.pending";

/// What `deploy` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployResult {
    pub target: PathBuf,
    pub action: cairn_spec::DeployAction,
    pub version: Option<String>,
    /// The deployment record.
    pub record: ObjectId,
    /// Where the files it replaced are kept, relative to `target`.
    pub backup: Option<String>,
    /// Releases deleted beyond the newest `keep`.
    pub pruned: usize,
    /// The folder already served this version: nothing was changed or recorded.
    pub unchanged: bool,
}

/// An unfinished change of a production folder.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    /// The record of the change.
    record: ObjectId,
    /// The release `.cairn-current` is switched to, relative to the folder.
    release: String,
    /// The folder's deployment ref before the change.
    before: Option<ObjectId>,
}

/// `cairn export <ref> --onnx <file>`: the stored export, written atomically.
pub fn export_onnx(store: &Store, reference: &str, out: &Path) -> Result<PathBuf, PipelineError> {
    let bytes = LoadedModel::load(store, reference)?.onnx()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    }
    cairn_store::write_atomic(out, |w| w.write_all(&bytes))
        .map_err(|e| PipelineError::io(out, e))?;
    Ok(out.to_path_buf())
}

/// `cairn export <ref> --safetensors <dir>`: the version's weights as
/// `<dir>/model.safetensors`, written atomically.
pub fn export_safetensors(
    store: &Store,
    reference: &str,
    dir: &Path,
) -> Result<PathBuf, PipelineError> {
    let model = LoadedModel::load(store, reference)?;
    let bytes = cairn_model::safetensors(&model.config, model.weights()?)?;
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    let path = dir.join("model.safetensors");
    cairn_store::write_atomic(&path, |w| w.write_all(&bytes))
        .map_err(|e| PipelineError::io(&path, e))?;
    Ok(path)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |e| PipelineError::io(path, e)
}

fn sync_dir(dir: &Path) -> Result<(), PipelineError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Points `link` at `to` in one step: a new link under a temporary name renamed over it.
fn switch_link(link: &Path, to: &Path) -> Result<(), PipelineError> {
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = link.with_file_name(format!(".{name}.{}.link.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(to, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        PipelineError::io(link, e)
    })
}

/// The release `.cairn-current` names (relative to the folder), if any.
fn current_release(target: &Path) -> Option<String> {
    std::fs::read_link(target.join(CURRENT))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Whether a deployed file is the link into `.cairn-current` that this layout makes.
fn is_link(target: &Path, file: &str) -> bool {
    std::fs::read_link(target.join(file)).is_ok_and(|to| to == Path::new(CURRENT).join(file))
}

/// The folder, created if missing, as an absolute path; and its lock, held until dropped.
fn open_target(target: &Path) -> Result<(PathBuf, File), PipelineError> {
    if target.exists() && !target.is_dir() {
        return Err(PipelineError::Invalid {
            field: "--to".into(),
            problem: format!(
                "`{}` is a file; --to names the production folder that holds model.onnx, tokenizer.json and metadata.json",
                target.display()
            ),
        });
    }
    std::fs::create_dir_all(target).map_err(io(target))?;
    let target = target.canonicalize().map_err(io(target))?;
    let lock_path = target.join(LOCK);
    let lock = File::create(&lock_path).map_err(io(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => Ok((target, lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(PipelineError::DeployBusy(target)),
        Err(std::fs::TryLockError::Error(e)) => Err(PipelineError::io(&lock_path, e)),
    }
}

fn target_ref(target: &Path) -> Result<RefName, PipelineError> {
    deployment_ref(target).map_err(|e| PipelineError::Invalid {
        field: format!("production folder `{}`", target.display()),
        problem: e.to_string(),
    })
}

/// Refs of changes in progress start with this; one names the record of an unfinished
/// change, so a later command finds the folder even when it has no deployment ref yet.
const PENDING_PREFIX: &str = "deploy-pending/";

/// `deploy-pending/<hash>` for the folder whose ref is `deploy/<hash>`.
fn pending_ref(target: &Path) -> Result<RefName, PipelineError> {
    let reference = target_ref(target)?;
    let hash = reference
        .as_str()
        .strip_prefix(cairn_spec::DEPLOYMENT_REF_PREFIX)
        .unwrap_or(reference.as_str());
    format!("{PENDING_PREFIX}{hash}")
        .parse()
        .map_err(|e: cairn_store::RefNameError| PipelineError::Invalid {
            field: format!("production folder `{}`", target.display()),
            problem: e.to_string(),
        })
}

/// The number of a release or backup folder name (`0003-<time>`, `rolled-back-0003-…`).
fn number(name: &str) -> Option<u64> {
    let name = name.strip_prefix("rolled-back-").unwrap_or(name);
    name.split('-').next().and_then(|d| d.parse().ok())
}

/// The folders in `dir` with their numbers, oldest first.
fn numbered(dir: &Path) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                return None;
            }
            Some((number(&name)?, name))
        })
        .collect();
    out.sort();
    out
}

/// Writes a new release holding `files` (name and bytes; absent names stay absent), whole
/// and fsynced before it gets its final name. Returns its path relative to the folder.
fn new_release(target: &Path, files: &[(&str, Vec<u8>)]) -> Result<String, PipelineError> {
    let releases = target.join(RELEASES);
    std::fs::create_dir_all(&releases).map_err(io(&releases))?;
    let n = numbered(&releases).last().map_or(0, |(n, _)| n + 1);
    let name = format!("{n:04}-{}", now_rfc3339().replace(':', ""));
    let tmp = releases.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    for (f, bytes) in files {
        let path = tmp.join(f);
        std::fs::write(&path, bytes)
            .and_then(|()| File::open(&path).and_then(|f| f.sync_all()))
            .map_err(io(&path))?;
    }
    sync_dir(&tmp)?;
    let dir = releases.join(&name);
    std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
    sync_dir(&releases)?;
    Ok(format!("{RELEASES}/{name}"))
}

/// Removes temporary files an interrupted change left (the lock is held: nothing else
/// writes them): `.<file>.*` beside the deployed files and `*.tmp` releases.
fn remove_stale(target: &Path) -> Result<(), PipelineError> {
    let ours = |name: &str| {
        DEPLOYED_FILES
            .iter()
            .chain([&CURRENT, &JOURNAL])
            .any(|f| name.starts_with(&format!(".{f}.")))
    };
    for entry in std::fs::read_dir(target).map_err(io(target))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ours(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    let releases = target.join(RELEASES);
    for entry in std::fs::read_dir(&releases).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".tmp") {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// The deployed files present in `dir` (through links), with their bytes.
fn read_files(dir: &Path) -> Result<Vec<(&'static str, Vec<u8>)>, PipelineError> {
    let mut files = Vec::new();
    for f in DEPLOYED_FILES {
        let path = dir.join(f);
        match std::fs::read(&path) {
            Ok(bytes) => files.push((f, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(PipelineError::io(&path, e)),
        }
    }
    Ok(files)
}

/// Makes the folder follow the layout without changing what a reader sees: when a
/// deployed file is not the link into `.cairn-current` (hand-made, or an older cairn's
/// plain file), the visible set becomes a release, `.cairn-current` points at it, and each
/// file is replaced by its link.
fn adopt(target: &Path) -> Result<(), PipelineError> {
    if DEPLOYED_FILES.iter().all(|f| is_link(target, f)) {
        return Ok(());
    }
    let visible = read_files(target)?;
    if !visible.is_empty() {
        let release = new_release(target, &visible)?;
        switch_link(&target.join(CURRENT), Path::new(&release))?;
    }
    for f in DEPLOYED_FILES {
        if !is_link(target, f) {
            switch_link(&target.join(f), &Path::new(CURRENT).join(f))?;
            crate::event::pause_point("deploy-adopt");
        }
    }
    sync_dir(target)
}

/// Finishes a change that a crash interrupted (see the module documentation).
fn finish_journal(store: &Store, target: &Path) -> Result<(), PipelineError> {
    let path = target.join(JOURNAL);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            store.delete_ref(&pending_ref(target)?, Expect::Any)?;
            return Ok(());
        }
        Err(e) => return Err(PipelineError::io(&path, e)),
    };
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
        PipelineError::io(
            &path,
            std::io::Error::other(format!(
                "{e} (an unfinished change from an older cairn: check the folder's files, then delete this file)"
            )),
        )
    })?;
    if current_release(target).as_deref() == Some(journal.release.as_str()) {
        // The folder switched: the change happened, and the ref catches up.
        let reference = target_ref(target)?;
        if store.get_ref(&reference)? == journal.before {
            let expect = Expect::current(journal.before);
            store.set_ref(&reference, journal.record, expect)?;
        }
    } else {
        let release = target.join(&journal.release);
        if journal.release.starts_with(RELEASES) && release.is_dir() {
            std::fs::remove_dir_all(&release).map_err(io(&release))?;
        }
    }
    std::fs::remove_file(&path).map_err(io(&path))?;
    sync_dir(target)?;
    store.delete_ref(&pending_ref(target)?, Expect::Any)?;
    Ok(())
}

/// Finishes every production folder's change that a crash interrupted, for the folders
/// this store has deployed to, so what `cairn show` says is deployed is what each folder
/// serves. A folder that another deploy holds, or that is gone, is left alone.
pub fn settle_deployments(store: &Store) -> Result<(), PipelineError> {
    for (name, id) in store.list_refs()? {
        let pending = name.as_str().starts_with(PENDING_PREFIX);
        if !pending && !name.as_str().starts_with(cairn_spec::DEPLOYMENT_REF_PREFIX) {
            continue;
        }
        let record: Deployment = store.get_manifest(&id)?;
        let target = PathBuf::from(&record.target);
        if !target.is_dir() || (!pending && !target.join(JOURNAL).exists()) {
            continue;
        }
        match open_target(&target) {
            Ok((target, _lock)) => finish_journal(store, &target)?,
            Err(PipelineError::DeployBusy(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes releases and then an older cairn's backups beyond the newest `keep` in all,
/// never the current one; returns how many went.
fn prune(target: &Path, keep: usize) -> Result<usize, PipelineError> {
    let current = current_release(target);
    let mut pruned = 0;
    // Releases are newer than any legacy backup: they fill the `keep` first.
    let mut room = keep;
    for dir in [RELEASES, LEGACY_BACKUPS] {
        let all = numbered(&target.join(dir));
        let excess = all.len().saturating_sub(room);
        room = room.saturating_sub(all.len());
        for (_, name) in all.into_iter().take(excess) {
            let relative = format!("{dir}/{name}");
            if current.as_deref() == Some(relative.as_str()) {
                continue;
            }
            let path = target.join(&relative);
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
            pruned += 1;
        }
    }
    Ok(pruned)
}

/// Switches the folder to `release` and records `record` (steps 4–6 of the module
/// documentation).
fn switch(
    store: &Store,
    target: &Path,
    release: &str,
    record: &Deployment,
) -> Result<ObjectId, PipelineError> {
    let reference = target_ref(target)?;
    let before = store.get_ref(&reference)?;
    let id = store.put_manifest(record)?;
    let pending = pending_ref(target)?;
    store.set_ref(&pending, id, Expect::Any)?;
    let journal = Journal {
        record: id,
        release: release.to_string(),
        before,
    };
    let journal_path = target.join(JOURNAL);
    let text = serde_json::to_vec(&journal)
        .map_err(|e| PipelineError::io(&journal_path, std::io::Error::other(e)))?;
    cairn_store::write_atomic(&journal_path, |w| w.write_all(&text)).map_err(io(&journal_path))?;
    crate::event::pause_point("deploy-switch");
    switch_link(&target.join(CURRENT), Path::new(release))?;
    sync_dir(target)?;
    crate::event::pause_point("deploy-ref");
    let expect = Expect::current(before);
    store.set_ref(&reference, id, expect)?;
    std::fs::remove_file(&journal_path).map_err(io(&journal_path))?;
    sync_dir(target)?;
    store.delete_ref(&pending, Expect::Any)?;
    Ok(id)
}

/// Opens the folder for a change: locked, a crash's journal finished, stale files removed,
/// the layout adopted.
fn prepare(store: &Store, target: &Path) -> Result<(PathBuf, File), PipelineError> {
    let (target, lock) = open_target(target)?;
    finish_journal(store, &target)?;
    remove_stale(&target)?;
    adopt(&target)?;
    Ok((target, lock))
}

/// `cairn deploy <ref> --to <folder>`, keeping the newest `keep` releases.
pub fn deploy(
    store: &Store,
    reference: &str,
    target: &Path,
    keep: usize,
) -> Result<DeployResult, PipelineError> {
    let (_, run, manifest) = load_run(store, reference)?;
    let onnx = manifest
        .outputs
        .onnx
        .ok_or_else(|| PipelineError::NoOnnx(reference.to_string()))?;
    let recipe: Recipe = store.get_manifest(&manifest.recipe)?;
    // Everything is read (and hash-checked) before the folder is touched.
    let files = [
        ("model.onnx", store.read(&onnx)?),
        ("tokenizer.json", store.read(&manifest.outputs.tokenizer)?),
        (
            "metadata.json",
            metadata_json(&recipe, &manifest, run)?.into_bytes(),
        ),
    ];
    let version = format!("{}@{}", manifest.name, manifest.version);

    let (target, _lock) = prepare(store, target)?;
    let previous = store.get_ref(&target_ref(&target)?)?;
    let replaced = current_release(&target);
    // Already serving exactly these files under this version's record: nothing to change
    // (a rerun after a crash that had finished the change).
    if let (Some(id), Some(release)) = (previous, &replaced) {
        let record: Deployment = store.get_manifest(&id)?;
        let same = files.iter().all(|(f, bytes)| {
            std::fs::read(target.join(release).join(f)).is_ok_and(|b| b == *bytes)
        });
        if record.run == Some(run) && same {
            return Ok(DeployResult {
                target,
                action: record.action,
                version: Some(version),
                record: id,
                backup: None,
                pruned: 0,
                unchanged: true,
            });
        }
    }
    let release = new_release(&target, &files)?;
    let record = Deployment {
        target: target.to_string_lossy().into_owned(),
        action: cairn_spec::DeployAction::Deploy,
        version: Some(version.clone()),
        run: Some(run),
        time: now_rfc3339(),
        previous,
        backup: replaced.clone(),
    };
    let id = switch(store, &target, &release, &record)?;
    let pruned = prune(&target, keep)?;
    Ok(DeployResult {
        target,
        action: record.action,
        version: Some(version),
        record: id,
        backup: replaced,
        pruned,
        unchanged: false,
    })
}

/// `cairn deploy --rollback --to <folder>`: returns to what the newest deployment replaced.
pub fn rollback(store: &Store, target: &Path, keep: usize) -> Result<DeployResult, PipelineError> {
    if !target.is_dir() {
        return Err(PipelineError::Rollback(format!(
            "`{}` is not a folder",
            target.display()
        )));
    }
    let (target, _lock) = prepare(store, target)?;
    let Some(current_id) = store.get_ref(&target_ref(&target)?)? else {
        return Err(PipelineError::Rollback(format!(
            "nothing was deployed to `{}` with this store",
            target.display()
        )));
    };
    let current: Deployment = store.get_manifest(&current_id)?;
    let Some(backup) = current.backup.clone() else {
        return Err(PipelineError::Rollback(format!(
            "`{}` holds the first deployment there ({}); there is nothing to roll back to",
            target.display(),
            current
                .version
                .as_deref()
                .unwrap_or("files not deployed by cairn")
        )));
    };
    let from = target.join(&backup);
    if !from.is_dir() {
        return Err(PipelineError::Rollback(format!(
            "`{}` is gone (a production folder keeps its newest releases; `cairn deploy --keep` keeps more)",
            from.display()
        )));
    }
    // A release is switched to as it is; an older cairn's backup folder is copied into one.
    let release = if backup.starts_with(&format!("{RELEASES}/")) {
        backup
    } else {
        let files = read_files(&from)?;
        if files.is_empty() {
            return Err(PipelineError::Rollback(format!(
                "the backup `{}` is empty",
                from.display()
            )));
        }
        new_release(&target, &files)?
    };
    let previous: Option<Deployment> = match current.previous {
        Some(id) => Some(store.get_manifest(&id)?),
        None => None,
    };
    let aside = current_release(&target);
    // The record stands for the state rolled back to: that deployment's version, and its
    // `previous` and `backup`, so a further rollback goes one more step back.
    let record = Deployment {
        target: target.to_string_lossy().into_owned(),
        action: cairn_spec::DeployAction::Rollback,
        version: previous.as_ref().and_then(|p| p.version.clone()),
        run: previous.as_ref().and_then(|p| p.run),
        time: now_rfc3339(),
        previous: previous.as_ref().and_then(|p| p.previous),
        backup: previous.as_ref().and_then(|p| p.backup.clone()),
    };
    let id = switch(store, &target, &release, &record)?;
    let pruned = prune(&target, keep)?;
    Ok(DeployResult {
        target,
        action: record.action,
        version: record.version,
        record: id,
        backup: aside,
        pruned,
        unchanged: false,
    })
}
