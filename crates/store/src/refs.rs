//! Refs: names that point to objects, updated by compare-and-swap under a store-wide lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};

use crate::error::{IoContext, Result, StoreError};
use crate::id::ObjectId;
use crate::layout::{Layout, ensure_dir, sync_dir};
use crate::refname::RefName;

/// What a ref must currently hold for an update to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Whatever it holds (a plain "move").
    Any,
    /// It must not exist yet.
    Absent,
    /// It must hold exactly this id.
    Is(ObjectId),
}

impl Expect {
    /// What a ref read as `current` must still hold: that id, or nothing.
    pub fn current(current: Option<ObjectId>) -> Self {
        match current {
            Some(id) => Expect::Is(id),
            None => Expect::Absent,
        }
    }
}

/// The result of a ref update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: Option<ObjectId>,
    pub new: ObjectId,
}

impl RefUpdate {
    pub fn changed(&self) -> bool {
        self.old != Some(self.new)
    }

    /// The machine-readable form (`cairn ref set --json`).
    pub fn describe(&self, name: &RefName) -> RefChange {
        RefChange {
            name: name.to_string(),
            old: self.old.map(|i| i.to_hex()),
            new: self.new.to_hex(),
            changed: self.changed(),
        }
    }
}

/// A ref update as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefChange {
    pub name: String,
    pub old: Option<String>,
    pub new: String,
    pub changed: bool,
}

/// One ref as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefEntry {
    pub name: String,
    pub hash: String,
}

impl RefEntry {
    pub fn new(name: &RefName, id: &ObjectId) -> Self {
        Self {
            name: name.to_string(),
            hash: id.to_hex(),
        }
    }
}

/// An exclusive lock over every ref of the store (and over gc's mark-and-sweep), released
/// when dropped. Advisory (`flock`), so it also excludes other processes.
pub(crate) struct RefsLock(File);

impl Drop for RefsLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

pub(crate) fn lock(layout: &Layout) -> Result<RefsLock> {
    let path = layout.root.join("refs.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx("failed to open lock", &path)?;
    file.lock().ctx("failed to lock", &path)?;
    Ok(RefsLock(file))
}

pub(crate) fn read(layout: &Layout, name: &RefName) -> Result<Option<ObjectId>> {
    let path = layout.refs().join(name.file_name());
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx("failed to read ref", &path),
    };
    text.trim_end()
        .parse()
        .map(Some)
        .map_err(|e: crate::id::ParseIdError| StoreError::BadRef {
            path,
            reason: e.to_string(),
        })
}

fn describe(id: Option<ObjectId>) -> String {
    id.map(|i| i.to_hex())
        .unwrap_or_else(|| "nothing".to_string())
}

fn check_expect(name: &RefName, current: Option<ObjectId>, expect: Expect) -> Result<()> {
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Is(id) => current == Some(id),
    };
    if ok {
        return Ok(());
    }
    let expected = match expect {
        Expect::Any => "anything".to_string(),
        Expect::Absent => "no ref".to_string(),
        Expect::Is(id) => id.to_hex(),
    };
    Err(StoreError::RefConflict {
        name: name.clone(),
        expected,
        found: describe(current),
    })
}

/// The rules of every ref update, wherever refs live: a published version (`name@version`)
/// is set once and never moved or deleted (`new` is `None` for a delete), and the ref must
/// hold what `expect` says ([`StoreError::RefConflict`] otherwise). Setting a ref to what it
/// holds passes.
pub fn check_ref_update(
    name: &RefName,
    current: Option<ObjectId>,
    new: Option<ObjectId>,
    expect: Expect,
) -> Result<()> {
    if name.is_immutable()
        && let Some(current) = current
        && Some(current) != new
    {
        return Err(StoreError::ImmutableRef {
            name: name.clone(),
            current,
            new: describe(new),
        });
    }
    check_expect(name, current, expect)
}

/// Sets `name` to `new` if it currently matches `expect`. Published versions may be set once;
/// setting one again to the same id is a no-op.
pub(crate) fn update(
    layout: &Layout,
    name: &RefName,
    new: ObjectId,
    expect: Expect,
) -> Result<RefUpdate> {
    let _lock = lock(layout)?;
    let current = read(layout, name)?;
    check_ref_update(name, current, Some(new), expect)?;
    if current == Some(new) {
        return Ok(RefUpdate { old: current, new });
    }
    write_atomically(layout, name, format!("{new}\n").as_bytes())?;
    Ok(RefUpdate { old: current, new })
}

/// Deletes a movable ref if it currently matches `expect`.
pub(crate) fn delete(layout: &Layout, name: &RefName, expect: Expect) -> Result<Option<ObjectId>> {
    let _lock = lock(layout)?;
    let current = read(layout, name)?;
    check_ref_update(name, current, None, expect)?;
    if current.is_some() {
        let path = layout.refs().join(name.file_name());
        fs::remove_file(&path).ctx("failed to delete ref", &path)?;
        sync_dir(&layout.refs())?;
    }
    Ok(current)
}

fn write_atomically(layout: &Layout, name: &RefName, bytes: &[u8]) -> Result<()> {
    let refs = layout.refs();
    ensure_dir(&refs)?;
    ensure_dir(&layout.tmp())?;
    let tmp = layout.temp_path("ref");
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("failed to create", &tmp)?;
        f.write_all(bytes).ctx("failed to write", &tmp)?;
        f.sync_all().ctx("failed to sync", &tmp)?;
        let dest = refs.join(name.file_name());
        fs::rename(&tmp, &dest).ctx("failed to move ref into place", &dest)?;
        sync_dir(&refs)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Every ref, sorted by name. Files in `refs/` whose names are not valid refs are reported
/// by fsck, not listed.
pub(crate) fn list(layout: &Layout) -> Result<Vec<(RefName, ObjectId)>> {
    let refs = layout.refs();
    let entries = match fs::read_dir(&refs) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).ctx("failed to list refs in", &refs),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.ctx("failed to list refs in", &refs)?;
        let Some(file) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(name) = RefName::from_file_name(&file) else {
            continue;
        };
        if let Some(id) = read(layout, &name)? {
            out.push((name, id));
        }
    }
    out.sort();
    Ok(out)
}

/// Ref files that are not valid ref names (for fsck).
pub(crate) fn stray_files(layout: &Layout) -> Result<Vec<std::path::PathBuf>> {
    let refs = layout.refs();
    let Ok(entries) = fs::read_dir(&refs) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.ctx("failed to list refs in", &refs)?;
        let valid = entry
            .file_name()
            .to_str()
            .is_some_and(|f| RefName::from_file_name(f).is_ok());
        if !valid {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}
