//! Putting a version into production: `cairn export --onnx`, `cairn deploy`, and
//! `cairn deploy --rollback`.
//!
//! A production folder holds `model.onnx`, `tokenizer.json` and `metadata.json`. A change of
//! the folder (deploy or rollback) runs under a lock file and is journaled:
//!
//! 1. the new files are written and fsynced under temporary names;
//! 2. the files there now are hard-linked into `.cairn-backups/<n>-<time>/` (nothing is
//!    lost; `rolled-back-<n>-<time>/` for what a rollback sets aside);
//! 3. a journal (`.cairn-deploy.pending`) names that backup, the files that existed, and
//!    the folder's deployment ref as it was;
//! 4. each new file is renamed over the old one (a reader sees the old or the new file,
//!    never none), the folder is fsynced;
//! 5. the [`Deployment`] record is stored and the folder's ref moved (compare-and-swap);
//! 6. the journal is removed.
//!
//! A failure in 4–5 puts the old files back from the backup. A journal found by the next
//! deploy or rollback (a crash) is finished: if the ref moved, the change was recorded and
//! only the journal is removed; otherwise the old files are put back first.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_spec::{Deployment, Recipe, deployment_ref};
use cairn_store::{Expect, ObjectId, RefName, Store};
use serde::{Deserialize, Serialize};

use crate::PipelineError;
use crate::register::{load_run, metadata_json, now_rfc3339};

/// The files of a production folder, in the order they are written.
pub const DEPLOYED_FILES: [&str; 3] = ["model.onnx", "tokenizer.json", "metadata.json"];
const BACKUPS: &str = ".cairn-backups";
const LOCK: &str = ".cairn-deploy.lock";
const JOURNAL: &str = ".cairn-deploy.pending";
const ROLLED_BACK: &str = "rolled-back-";

/// What `deploy` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployResult {
    pub target: PathBuf,
    pub action: cairn_spec::DeployAction,
    pub version: Option<String>,
    /// The deployment record.
    pub record: ObjectId,
    /// Where the replaced files went, relative to `target`.
    pub backup: Option<String>,
}

/// An unfinished change of a production folder.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The backup holding the files from before the change.
    backup: Option<String>,
    /// The deployed files that existed before the change.
    existed: Vec<String>,
    /// The folder's deployment ref before the change.
    before: Option<ObjectId>,
}

/// `cairn export <ref> --onnx <file>`: the stored export, written atomically.
pub fn export_onnx(store: &Store, reference: &str, out: &Path) -> Result<PathBuf, PipelineError> {
    let bytes = crate::LoadedModel::load(store, reference)?.onnx()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    }
    cairn_store::write_atomic(out, |w| w.write_all(&bytes))
        .map_err(|e| PipelineError::io(out, e))?;
    Ok(out.to_path_buf())
}

fn temp_name(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{what}"))
}

/// Writes and fsyncs `path`; removes it again when that fails.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let written =
        std::fs::write(path, bytes).and_then(|()| File::open(path).and_then(|f| f.sync_all()));
    written.map_err(|e| {
        let _ = std::fs::remove_file(path);
        PipelineError::io(path, e)
    })
}

fn rename(from: &Path, to: &Path) -> Result<PathBuf, PipelineError> {
    std::fs::rename(from, to).map_err(|e| {
        let _ = std::fs::remove_file(from);
        PipelineError::io(to, e)
    })?;
    Ok(to.to_path_buf())
}

fn sync_dir(dir: &Path) -> Result<(), PipelineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PipelineError::io(dir, e))
}

/// The folder, created if missing, as an absolute path; and its lock, held until dropped.
fn open_target(target: &Path) -> Result<(PathBuf, File), PipelineError> {
    std::fs::create_dir_all(target).map_err(|e| PipelineError::io(target, e))?;
    let target = target
        .canonicalize()
        .map_err(|e| PipelineError::io(target, e))?;
    let lock_path = target.join(LOCK);
    let lock = File::create(&lock_path).map_err(|e| PipelineError::io(&lock_path, e))?;
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

/// Hard-links the deployed files present in `target` into a new backup folder; `None` when
/// there were none. Backups are numbered after the highest number already there.
fn back_up(target: &Path, prefix: &str, present: &[&str]) -> Result<Option<String>, PipelineError> {
    if present.is_empty() {
        return Ok(None);
    }
    let backups = target.join(BACKUPS);
    std::fs::create_dir_all(&backups).map_err(|e| PipelineError::io(&backups, e))?;
    let n = std::fs::read_dir(&backups)
        .map_err(|e| PipelineError::io(&backups, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let name = name.strip_prefix(ROLLED_BACK).unwrap_or(&name).to_string();
            name.split('-').next().and_then(|d| d.parse::<u64>().ok())
        })
        .max()
        .map_or(0, |m| m + 1);
    let stamp = now_rfc3339().replace(':', "");
    let name = format!("{prefix}{n:04}-{stamp}");
    let dir = backups.join(&name);
    std::fs::create_dir(&dir).map_err(|e| PipelineError::io(&dir, e))?;
    for f in present {
        let to = dir.join(f);
        std::fs::hard_link(target.join(f), &to)
            .or_else(|_| std::fs::copy(target.join(f), &to).map(|_| ()))
            .map_err(|e| PipelineError::io(&to, e))?;
    }
    sync_dir(&dir)?;
    sync_dir(&backups)?;
    Ok(Some(format!("{BACKUPS}/{name}")))
}

/// Puts the files from before an unfinished change back, and removes temporary files.
fn undo(target: &Path, journal: &Journal) -> Result<(), PipelineError> {
    for f in DEPLOYED_FILES {
        let path = target.join(f);
        let _ = std::fs::remove_file(temp_name(&path, "incoming"));
        match (&journal.backup, journal.existed.iter().any(|e| e == f)) {
            (Some(backup), true) => {
                let restore = temp_name(&path, "restore");
                let _ = std::fs::remove_file(&restore);
                std::fs::hard_link(target.join(backup).join(f), &restore)
                    .or_else(|_| std::fs::copy(target.join(backup).join(f), &restore).map(|_| ()))
                    .map_err(|e| PipelineError::io(&restore, e))?;
                rename(&restore, &path)?;
            }
            _ => {
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|e| PipelineError::io(&path, e))?;
                }
            }
        }
    }
    sync_dir(target)
}

/// Finishes a change that a crash interrupted (see the module documentation).
fn finish_journal(store: &Store, target: &Path) -> Result<(), PipelineError> {
    let path = target.join(JOURNAL);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(());
    };
    let journal: Journal = serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::io(&path, std::io::Error::other(e)))?;
    if store.get_ref(&target_ref(target)?)? == journal.before {
        undo(target, &journal)?;
    }
    std::fs::remove_file(&path).map_err(|e| PipelineError::io(&path, e))?;
    sync_dir(target)
}

/// Replaces the folder's deployed files with `incoming` (`None`: the file must be absent)
/// and records `record(backup)`, as the module documentation describes.
fn change_folder(
    store: &Store,
    target: &Path,
    incoming: Vec<(&'static str, Option<Vec<u8>>)>,
    aside: &str,
    record: impl FnOnce(Option<String>) -> Deployment,
) -> Result<(ObjectId, Deployment, Option<String>), PipelineError> {
    let reference = target_ref(target)?;
    let before = store.get_ref(&reference)?;
    for (f, bytes) in &incoming {
        if let Some(bytes) = bytes {
            write_synced(&temp_name(&target.join(f), "incoming"), bytes)?;
        }
    }
    let present: Vec<&str> = DEPLOYED_FILES
        .iter()
        .copied()
        .filter(|f| target.join(f).exists())
        .collect();
    let journal = Journal {
        backup: back_up(target, aside, &present)?,
        existed: present.iter().map(|f| f.to_string()).collect(),
        before,
    };
    let journal_path = target.join(JOURNAL);
    let text = serde_json::to_vec(&journal)
        .map_err(|e| PipelineError::io(&journal_path, std::io::Error::other(e)))?;
    cairn_store::write_atomic(&journal_path, |w| w.write_all(&text))
        .map_err(|e| PipelineError::io(&journal_path, e))?;

    let deployment = record(journal.backup.clone());
    let swapped = (|| {
        for (f, bytes) in &incoming {
            let path = target.join(f);
            if bytes.is_some() {
                rename(&temp_name(&path, "incoming"), &path)?;
            } else if path.exists() {
                std::fs::remove_file(&path).map_err(|e| PipelineError::io(&path, e))?;
            }
        }
        sync_dir(target)?;
        let id = store.put_manifest(&deployment)?;
        let expect = match before {
            Some(c) => Expect::Is(c),
            None => Expect::Absent,
        };
        store.set_ref(&reference, id, expect)?;
        Ok(id)
    })();
    let id = match swapped {
        Ok(id) => id,
        Err(e) => {
            // Put the old files back; the error that stopped the change is the one to report.
            if undo(target, &journal).is_ok() {
                let _ = std::fs::remove_file(&journal_path);
            }
            return Err(e);
        }
    };
    std::fs::remove_file(&journal_path).map_err(|e| PipelineError::io(&journal_path, e))?;
    sync_dir(target)?;
    Ok((id, deployment, journal.backup))
}

/// `cairn deploy <ref> --to <folder>`.
pub fn deploy(
    store: &Store,
    reference: &str,
    target: &Path,
) -> Result<DeployResult, PipelineError> {
    let (_, run, manifest) = load_run(store, reference)?;
    let onnx = manifest
        .outputs
        .onnx
        .ok_or_else(|| PipelineError::NoOnnx(reference.to_string()))?;
    let recipe: Recipe = store.get_manifest(&manifest.recipe)?;
    // Everything is read (and hash-checked) before the folder is touched.
    let incoming = vec![
        ("model.onnx", Some(store.read(&onnx)?)),
        (
            "tokenizer.json",
            Some(store.read(&manifest.outputs.tokenizer)?),
        ),
        (
            "metadata.json",
            Some(metadata_json(&recipe, &manifest, run)?.into_bytes()),
        ),
    ];
    let version = format!("{}@{}", manifest.name, manifest.version);

    let (target, _lock) = open_target(target)?;
    finish_journal(store, &target)?;
    let current = store.get_ref(&target_ref(&target)?)?;
    let (id, deployment, backup) =
        change_folder(store, &target, incoming, "", |backup| Deployment {
            target: target.to_string_lossy().into_owned(),
            action: cairn_spec::DeployAction::Deploy,
            version: Some(version.clone()),
            run: Some(run),
            time: now_rfc3339(),
            previous: current,
            backup,
        })?;
    Ok(DeployResult {
        target,
        action: deployment.action,
        version: Some(version),
        record: id,
        backup,
    })
}

/// `cairn deploy --rollback --to <folder>`: restores what the newest deployment replaced.
pub fn rollback(store: &Store, target: &Path) -> Result<DeployResult, PipelineError> {
    if !target.is_dir() {
        return Err(PipelineError::Rollback(format!(
            "`{}` is not a folder",
            target.display()
        )));
    }
    let (target, _lock) = open_target(target)?;
    finish_journal(store, &target)?;
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
    let mut incoming = Vec::new();
    for f in DEPLOYED_FILES {
        let path = from.join(f);
        incoming.push((
            f,
            match std::fs::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(PipelineError::io(&path, e)),
            },
        ));
    }
    if incoming.iter().all(|(_, b)| b.is_none()) {
        return Err(PipelineError::Rollback(format!(
            "the backup `{}` is missing or empty",
            from.display()
        )));
    }
    let previous: Option<Deployment> = match current.previous {
        Some(id) => Some(store.get_manifest(&id)?),
        None => None,
    };
    // The record stands for the state rolled back to: that deployment's version, and its
    // `previous` and `backup`, so a further rollback goes one more step back.
    let (id, deployment, aside) =
        change_folder(store, &target, incoming, ROLLED_BACK, |_| Deployment {
            target: target.to_string_lossy().into_owned(),
            action: cairn_spec::DeployAction::Rollback,
            version: previous.as_ref().and_then(|p| p.version.clone()),
            run: previous.as_ref().and_then(|p| p.run),
            time: now_rfc3339(),
            previous: previous.as_ref().and_then(|p| p.previous),
            backup: previous.as_ref().and_then(|p| p.backup.clone()),
        })?;
    // Its files are back in the folder (and the state it replaced is in `rolled-back-…`).
    let _ = std::fs::remove_dir_all(&from);
    Ok(DeployResult {
        target,
        action: deployment.action,
        version: deployment.version,
        record: id,
        backup: aside,
    })
}
