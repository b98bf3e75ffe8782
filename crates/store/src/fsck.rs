//! `fsck`: re-hash every object, check every ref and every manifest reference.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;

use crate::error::{IoContext, Result, StoreError};
use crate::id::ObjectId;
use crate::layout::Layout;
use crate::objects::hash_file;
use crate::refname::RefName;
use crate::{Store, manifest, refs};

/// One thing wrong with a store. Each is reported on one line naming the hash and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The bytes no longer hash to the object's name (bit flip, truncation, tampering).
    Corrupt {
        id: ObjectId,
        path: PathBuf,
        actual: ObjectId,
        size: u64,
    },
    /// A file under `objects/` whose name is not a hash, or that sits in the wrong folder.
    Misplaced { path: PathBuf },
    /// A ref whose target is not in the store.
    DanglingRef { name: RefName, target: ObjectId },
    /// A file under `refs/` that is not a valid ref.
    BadRef { path: PathBuf, reason: String },
    /// A manifest references an object the store does not have.
    MissingReference {
        manifest: ObjectId,
        missing: ObjectId,
    },
    /// A ref whose target is not what its name says (found by a caller that knows what the
    /// objects mean: a version ref holding another model's run, say).
    MisnamedRef {
        name: String,
        says: String,
        holds: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Corrupt {
                id,
                path,
                actual,
                size,
            } => write!(
                f,
                "corrupt object {id} at `{}`: its {size} bytes hash to {actual} (truncated or modified; restore it from a copy or remove it)",
                path.display()
            ),
            Problem::Misplaced { path } => write!(
                f,
                "misplaced file `{}`: not an object name in its fan-out folder (move it out of the store)",
                path.display()
            ),
            Problem::DanglingRef { name, target } => {
                write!(f, "ref `{name}` points to missing object {target}")
            }
            Problem::BadRef { path, reason } => {
                write!(f, "bad ref file `{}`: {reason}", path.display())
            }
            Problem::MissingReference { manifest, missing } => {
                write!(f, "manifest {manifest} references missing object {missing}")
            }
            Problem::MisnamedRef { name, says, holds } => write!(
                f,
                "ref `{name}` names {says} but holds {holds} (forged or mistaken: restore the ref from a trusted store, e.g. `cairn pull` from your remote, or delete the store's copy)"
            ),
        }
    }
}

/// What `fsck` found.
#[derive(Debug, Default)]
pub struct FsckReport {
    pub objects: u64,
    pub bytes: u64,
    pub manifests: u64,
    pub refs: u64,
    pub problems: Vec<Problem>,
    /// Temp files left by interrupted writes: harmless (never visible as objects), removed by
    /// `gc` once older than its grace period.
    pub temp_files: Vec<PathBuf>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The machine-readable form (`cairn fsck --json`).
    pub fn summary(&self) -> FsckSummary {
        FsckSummary {
            clean: self.is_clean(),
            objects: self.objects,
            bytes: self.bytes,
            manifests: self.manifests,
            refs: self.refs,
            problems: self.problems.iter().map(ToString::to_string).collect(),
            temp_files: self
                .temp_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }
    }
}

/// An [`FsckReport`] as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FsckSummary {
    pub clean: bool,
    pub objects: u64,
    pub bytes: u64,
    pub manifests: u64,
    pub refs: u64,
    pub problems: Vec<String>,
    pub temp_files: Vec<String>,
}

pub(crate) struct Scan {
    pub objects: Vec<(ObjectId, PathBuf)>,
    pub misplaced: Vec<PathBuf>,
    pub temp_files: Vec<PathBuf>,
}

fn read_dir_sorted(dir: &std::path::Path) -> Result<Vec<fs::DirEntry>> {
    let mut entries = match fs::read_dir(dir) {
        Ok(e) => e
            .collect::<io::Result<Vec<_>>>()
            .ctx("failed to list", dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).ctx("failed to list", dir),
    };
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Lists objects, stray files and temp files without reading any content.
pub(crate) fn scan(layout: &Layout) -> Result<Scan> {
    let mut scan = Scan {
        objects: Vec::new(),
        misplaced: Vec::new(),
        temp_files: Vec::new(),
    };
    for fan in read_dir_sorted(&layout.objects())? {
        let fan_name = fan.file_name().to_string_lossy().to_string();
        let fan_ok = fan_name.len() == 2
            && fan_name
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !fan.path().is_dir() || !fan_ok {
            scan.misplaced.push(fan.path());
            continue;
        }
        for entry in read_dir_sorted(&fan.path())? {
            let name = entry.file_name().to_string_lossy().to_string();
            match name.parse::<ObjectId>() {
                Ok(id) if name.starts_with(&fan_name) && entry.path().is_file() => {
                    scan.objects.push((id, entry.path()))
                }
                _ => scan.misplaced.push(entry.path()),
            }
        }
    }
    scan.temp_files = read_dir_sorted(&layout.tmp())?
        .into_iter()
        .map(|e| e.path())
        .collect();
    Ok(scan)
}

pub(crate) fn run(store: &Store) -> Result<FsckReport> {
    let layout = store.layout();
    let scan = scan(layout)?;
    let mut report = FsckReport {
        temp_files: scan.temp_files,
        ..Default::default()
    };
    report.problems.extend(
        scan.misplaced
            .into_iter()
            .map(|path| Problem::Misplaced { path }),
    );

    let mut manifests = Vec::new();
    for (id, path) in &scan.objects {
        let mut file = File::open(path).ctx("failed to open", path)?;
        let (actual, size) = hash_file(&mut file, path)?;
        report.objects += 1;
        report.bytes += size;
        if actual != *id {
            report.problems.push(Problem::Corrupt {
                id: *id,
                path: path.clone(),
                actual,
                size,
            });
            continue;
        }
        match store.sniff_manifest(id) {
            Ok(Some((_, fields))) => manifests.push((*id, fields)),
            Ok(None) => {}
            Err(StoreError::Corrupt { .. }) => {} // changed under us; the next fsck names it
            Err(e) => return Err(e),
        }
    }
    report.manifests = manifests.len() as u64;
    for (id, fields) in manifests {
        for missing in manifest::references(&serde_json::Value::Object(fields)) {
            if !store.has(&missing) {
                report.problems.push(Problem::MissingReference {
                    manifest: id,
                    missing,
                });
            }
        }
    }

    for path in refs::stray_files(layout)? {
        report.problems.push(Problem::BadRef {
            path,
            reason: "not a valid ref name".into(),
        });
    }
    for entry in read_dir_sorted(&layout.refs())? {
        let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|f| RefName::from_file_name(f).ok())
        else {
            continue;
        };
        report.refs += 1;
        match refs::read(layout, &name) {
            Ok(Some(target)) if !store.has(&target) => {
                report.problems.push(Problem::DanglingRef { name, target })
            }
            Ok(_) => {}
            Err(StoreError::BadRef { path, reason }) => {
                report.problems.push(Problem::BadRef { path, reason })
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
