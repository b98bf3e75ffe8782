//! Temporary roots, as Nix keeps them for builds in progress: a process that writes objects
//! records each object's id in its own root file (`roots/<pid>-<start>-<n>.roots`) *before*
//! the object becomes visible, and `gc` treats every id in the root file of a live process
//! as reachable, whatever its grace period. A root file outlives nothing: it is deleted when
//! its `Store` handle (and every clone) is dropped, and a file whose process is gone — killed,
//! crashed — is expired by the next `gc`.
//!
//! Adding to a root file and gc's mark-and-sweep both hold the refs lock, so an id is either
//! recorded before gc reads the roots (and spared), or recorded after gc has swept (and the
//! writer then finds the object missing and writes it again).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};
use crate::id::ObjectId;
use crate::layout::{Layout, ensure_dir};
use crate::process::alive;
use crate::process::this_process;
use crate::refs;

/// The root file of one `Store` handle (shared by its clones), created on first use.
#[derive(Debug)]
pub(crate) struct TempRoots {
    file: Mutex<Option<(PathBuf, File)>>,
}

impl TempRoots {
    pub fn new() -> Self {
        Self {
            file: Mutex::new(None),
        }
    }

    /// Records `id` as held by this process. Call before the object becomes visible (or is
    /// found to exist already).
    pub fn hold(&self, layout: &Layout, id: &ObjectId) -> Result<()> {
        let _lock = refs::lock(layout)?;
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            static N: AtomicU64 = AtomicU64::new(0);
            let (pid, start) = this_process();
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = layout.roots();
            ensure_dir(&dir)?;
            let path = dir.join(format!("{pid}-{start}-{n}.roots"));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .ctx("failed to create root file", &path)?;
            *guard = Some((path, file));
        }
        if let Some((path, file)) = guard.as_mut() {
            // One write per id: a reader sees whole lines (O_APPEND), and gc runs under the
            // same lock anyway.
            file.write_all(format!("{}\n", id.to_hex()).as_bytes())
                .ctx("failed to write root file", &*path)?;
        }
        Ok(())
    }
}

impl Drop for TempRoots {
    fn drop(&mut self) {
        if let Ok(Some((path, _))) = self.file.get_mut().map(Option::take) {
            let _ = fs::remove_file(path);
        }
    }
}

/// What gc found in `roots/`.
#[derive(Debug, Default)]
pub(crate) struct LiveRoots {
    /// Ids held by live processes.
    pub ids: Vec<ObjectId>,
    /// Root files of processes that are gone.
    pub expired: Vec<PathBuf>,
}

/// `<pid>-<start>` from a root or temp file name's leading fields.
fn owner(name: &str) -> Option<(u32, Option<u64>)> {
    let mut fields = name.split('-');
    let pid = fields.next()?.parse().ok()?;
    let start = fields.next().and_then(|s| s.parse().ok());
    Some((pid, start))
}

/// Reads every root file; call with the refs lock held.
pub(crate) fn read(layout: &Layout) -> Result<LiveRoots> {
    let mut live = LiveRoots::default();
    let dir = layout.roots();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(live),
        Err(e) => return Err(e).ctx("failed to list", &dir),
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // A file we cannot attribute is kept and honoured: never delete what we cannot judge.
        let is_alive = owner(&name).is_none_or(|(pid, start)| alive(pid, start));
        if !is_alive {
            live.expired.push(path);
            continue;
        }
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).ctx("failed to read root file", &path),
        };
        live.ids.extend(
            text.lines()
                .filter_map(|l| l.trim().parse::<ObjectId>().ok()),
        );
    }
    Ok(live)
}

/// Whether a temp file (`<what>-<pid>-<start>-…`) belongs to a live process.
pub(crate) fn temp_file_live(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // Skip the `<what>-` prefix; the pid and its start time follow.
    let Some((_, rest)) = name.split_once('-') else {
        return false;
    };
    owner(rest).is_some_and(|(pid, start)| alive(pid, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_recycled_pid_is_not() {
        let (pid, start) = this_process();
        assert!(alive(pid, Some(start)));
        // pid 1 runs, but not since the start time of this test process.
        if Path::new("/proc/1/stat").exists() && start != 0 {
            assert!(!alive(1, Some(start)));
        }
        assert!(!alive(u32::MAX - 1, None));
    }

    #[test]
    fn names_give_their_owner() {
        assert_eq!(owner("123-456-0.roots"), Some((123, Some(456))));
        let (pid, start) = this_process();
        assert!(temp_file_live(Path::new(&format!(
            "obj-{pid}-{start}-1-0.tmp"
        ))));
        assert!(!temp_file_live(Path::new("obj-4294967294-1-2-0.tmp")));
    }
}
