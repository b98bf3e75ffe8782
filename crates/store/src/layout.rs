//! The folder layout of a store and the folder operations every writer shares (a leaf:
//! objects, refs, roots, fsck and gc build on it).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};
use crate::id::ObjectId;

/// The folder layout of a store; everything else builds on these paths.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn refs(&self) -> PathBuf {
        self.root.join("refs")
    }
    /// Temporary roots of processes writing objects (see `roots`).
    pub fn roots(&self) -> PathBuf {
        self.root.join("roots")
    }
    /// Hints that speed up re-adding large files (see `put_path`); never needed for
    /// correctness, so they may be lost or stale.
    pub fn probes(&self) -> PathBuf {
        self.root.join("index").join("probe")
    }
    pub fn object_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.objects().join(&hex[..2]).join(hex)
    }

    /// A fresh, unique temp path inside the store (same filesystem as the objects, so the
    /// final rename is atomic).
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // The writer's pid and start time, so gc can tell a live writer's file (see `roots`).
        let (pid, start) = crate::process::this_process();
        self.tmp()
            .join(format!("{what}-{pid}-{start}-{nanos}-{n}.tmp"))
    }
}

/// fsync of a folder, so that a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("failed to sync folder", dir)
}

/// Creates `dir` (and parents) if missing; fsyncs the parent when it had to create it.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).ctx("failed to create folder", dir)?;
    // The parent of a bare relative name (`--store s`) is "", i.e. the working directory.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    sync_dir(parent)
}
