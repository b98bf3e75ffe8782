//! Putting a version into production: `cairn export --onnx`, `cairn deploy`, and
//! `cairn deploy --rollback`.
//!
//! A production folder holds `model.onnx`, `tokenizer.json` and `metadata.json`. Before a
//! deploy replaces them, they are moved into `<folder>/.cairn-backups/<n>-<time>/` (nothing
//! is lost), the new files are written under temporary names and renamed into place, and a
//! [`Deployment`] record is stored with the folder's ref pointing at it. A rollback moves the
//! newest backup back (the files it replaces go to `.cairn-backups/rolled-back-…/`) and
//! records that too. A lock file in the folder serializes concurrent deploys.

use std::fs::File;
use std::path::{Path, PathBuf};

use cairn_spec::{Deployment, Recipe, deployment_ref};
use cairn_store::{Expect, ObjectId, RefName, Store};
use serde::Serialize;

use crate::PipelineError;
use crate::register::{load_run, metadata_json, now_rfc3339};

/// The files of a production folder, in the order they are written.
pub const DEPLOYED_FILES: [&str; 3] = ["model.onnx", "tokenizer.json", "metadata.json"];
const BACKUPS: &str = ".cairn-backups";
const LOCK: &str = ".cairn-deploy.lock";
const ROLLED_BACK: &str = "rolled-back-";

/// What `deploy` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployResult {
    pub target: PathBuf,
    pub action: String,
    pub version: Option<String>,
    /// The deployment record.
    pub record: ObjectId,
    /// Where the replaced files went, relative to `target`.
    pub backup: Option<String>,
}

fn missing_onnx(reference: &str) -> PipelineError {
    PipelineError::UnknownVersion(format!(
        "{reference} (it has no ONNX export: set `[export] onnx = true` and run it under a new version)"
    ))
}

/// `cairn export <ref> --onnx <file>`: the stored export, written atomically.
pub fn export_onnx(store: &Store, reference: &str, out: &Path) -> Result<PathBuf, PipelineError> {
    let (_, _, manifest) = load_run(store, reference)?;
    let onnx = manifest
        .outputs
        .onnx
        .ok_or_else(|| missing_onnx(reference))?;
    let bytes = store.read(&onnx)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
    }
    write_atomic(out, &bytes)?;
    Ok(out.to_path_buf())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| PipelineError::io(&tmp, e))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| PipelineError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| PipelineError::io(path, e))
}

/// The folder, created if missing, as an absolute path; and its lock, held until dropped.
fn open_target(target: &Path) -> Result<(PathBuf, File), PipelineError> {
    std::fs::create_dir_all(target).map_err(|e| PipelineError::io(target, e))?;
    let target = target
        .canonicalize()
        .map_err(|e| PipelineError::io(target, e))?;
    let lock_path = target.join(LOCK);
    let lock = File::create(&lock_path).map_err(|e| PipelineError::io(&lock_path, e))?;
    lock.lock().map_err(|e| PipelineError::io(&lock_path, e))?;
    Ok((target, lock))
}

fn target_ref(target: &Path) -> Result<RefName, PipelineError> {
    deployment_ref(target).map_err(|e| PipelineError::UnknownVersion(e.to_string()))
}

/// Moves the deployed files present in `target` into a new backup folder; `None` when there
/// were none.
fn back_up(target: &Path, prefix: &str) -> Result<Option<String>, PipelineError> {
    let present: Vec<&str> = DEPLOYED_FILES
        .iter()
        .copied()
        .filter(|f| target.join(f).exists())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let backups = target.join(BACKUPS);
    std::fs::create_dir_all(&backups).map_err(|e| PipelineError::io(&backups, e))?;
    // Numbered after the highest number there, so names sort in the order they were made.
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
        std::fs::rename(target.join(f), dir.join(f)).map_err(|e| PipelineError::io(&dir, e))?;
    }
    Ok(Some(format!("{BACKUPS}/{name}")))
}

fn record(
    store: &Store,
    target: &Path,
    deployment: &Deployment,
    current: Option<ObjectId>,
) -> Result<ObjectId, PipelineError> {
    let id = store.put_manifest(deployment)?;
    let expect = match current {
        Some(c) => Expect::Is(c),
        None => Expect::Absent,
    };
    store.set_ref(&target_ref(target)?, id, expect)?;
    Ok(id)
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
        .ok_or_else(|| missing_onnx(reference))?;
    let recipe: Recipe = store.get_manifest(&manifest.recipe)?;
    // Everything is read (and hash-checked) before the folder is touched.
    let model = store.read(&onnx)?;
    let tokenizer = store.read(&manifest.outputs.tokenizer)?;
    let metadata = metadata_json(&recipe, &manifest, run)?;
    let version = format!("{}@{}", manifest.name, manifest.version);

    let (target, _lock) = open_target(target)?;
    let current = store.get_ref(&target_ref(&target)?)?;
    let backup = back_up(&target, "")?;
    for (file, bytes) in
        DEPLOYED_FILES
            .iter()
            .zip([&model[..], &tokenizer[..], metadata.as_bytes()])
    {
        write_atomic(&target.join(file), bytes)?;
    }
    let deployment = Deployment {
        target: target.to_string_lossy().into_owned(),
        action: "deploy".into(),
        version: Some(version.clone()),
        run: Some(run),
        time: now_rfc3339(),
        previous: current,
        backup: backup.clone(),
    };
    let id = record(store, &target, &deployment, current)?;
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
            current.version.as_deref().unwrap_or("unknown version")
        )));
    };
    let from = target.join(&backup);
    if !from.is_dir() {
        return Err(PipelineError::Rollback(format!(
            "the backup `{}` is missing",
            from.display()
        )));
    }
    let previous: Option<Deployment> = match current.previous {
        Some(id) => Some(store.get_manifest(&id)?),
        None => None,
    };
    let rolled_back = back_up(&target, ROLLED_BACK)?;
    for f in DEPLOYED_FILES {
        let src = from.join(f);
        if src.exists() {
            std::fs::rename(&src, target.join(f)).map_err(|e| PipelineError::io(&src, e))?;
        }
    }
    std::fs::remove_dir(&from).map_err(|e| PipelineError::io(&from, e))?;
    let deployment = Deployment {
        target: target.to_string_lossy().into_owned(),
        action: "rollback".into(),
        version: previous.as_ref().and_then(|p| p.version.clone()),
        run: previous.as_ref().and_then(|p| p.run),
        time: now_rfc3339(),
        previous: previous.as_ref().and_then(|p| p.previous),
        backup: previous.as_ref().and_then(|p| p.backup.clone()),
    };
    let id = record(store, &target, &deployment, Some(current_id))?;
    Ok(DeployResult {
        target,
        action: deployment.action,
        version: deployment.version,
        record: id,
        backup: rolled_back,
    })
}
