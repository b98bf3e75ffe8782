//! Objects: immutable bytes named by their BLAKE3 hash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::error::{IoContext, Result, StoreError};
use crate::id::ObjectId;
use crate::layout::{Layout, ensure_dir, sync_dir};

/// Files at least this large are hashed on all cores from a memory map and copied on a second
/// thread; smaller ones go through a plain buffered pass.
const LARGE: u64 = 4 << 20;
/// The unit of copying and of early write-back.
const CHUNK: usize = 8 << 20;
/// Objects at least this large are verified from a memory map on all cores.
const VERIFY_MMAP: u64 = 1 << 20;

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    pub id: ObjectId,
    pub size: u64,
    /// `false` when the store already had these bytes and nothing was written.
    pub written: bool,
}

impl PutOutcome {
    /// The machine-readable form of an added file (`cairn add --json`).
    pub fn describe(&self, path: &str) -> Added {
        Added {
            hash: self.id.to_hex(),
            path: path.to_string(),
            size: self.size,
            new: self.written,
        }
    }
}

/// One added file as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Added {
    pub hash: String,
    pub path: String,
    pub size: u64,
    /// `false` when the store already had the bytes.
    pub new: bool,
}

/// Marks `path` as recently used so that a concurrent `gc` (which spares young objects)
/// does not delete an object a writer is about to reference.
fn freshen(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Starts write-back of dirty pages early, so the final fsync has little left to do and disk
/// writes overlap with hashing and copying.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a valid fd; a failure only loses the optimisation.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// A temp file being written; removed on drop unless committed.
pub(crate) struct Temp {
    pub(crate) path: PathBuf,
    file: Option<File>,
}

impl Temp {
    pub(crate) fn create(layout: &Layout) -> Result<Self> {
        let path = layout.temp_path("obj");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .or_else(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    ensure_dir(&layout.tmp())?;
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .ctx("failed to create temp file", &path)
                } else {
                    Err(e).ctx("failed to create temp file", &path)
                }
            })?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    pub(crate) fn file(&mut self) -> &mut File {
        // The file is only taken by `commit`, which consumes self.
        self.file
            .as_mut()
            .unwrap_or_else(|| unreachable!("temp file used after commit"))
    }

    /// fsync → read-only → rename into place → fsync the folder. Returns `false` when another
    /// writer stored the same object first (our copy is then dropped), unless `replace`:
    /// then our copy (whose bytes hash to `id`) takes the place of whatever is there.
    pub(crate) fn commit(mut self, layout: &Layout, id: &ObjectId, replace: bool) -> Result<bool> {
        let file = self
            .file
            .take()
            .unwrap_or_else(|| unreachable!("temp file committed twice"));
        file.sync_all().ctx("failed to sync", &self.path)?;
        let mut perms = file
            .metadata()
            .ctx("failed to stat", &self.path)?
            .permissions();
        perms.set_readonly(true);
        file.set_permissions(perms)
            .ctx("failed to make read-only", &self.path)?;
        drop(file);
        let dest = layout.object_path(id);
        if dest.exists() && !replace {
            freshen(&dest);
            return Ok(false);
        }
        let dir = dest.parent().unwrap_or(&layout.root).to_path_buf();
        ensure_dir(&dir)?;
        fs::rename(&self.path, &dest).ctx("failed to move object into place", &dest)?;
        sync_dir(&dir)?;
        Ok(true)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// How a put treats the store around it.
#[derive(Clone, Copy)]
pub(crate) struct PutCtx<'a> {
    /// Called with an object's id before the object becomes visible or is found to exist:
    /// the caller records it as a temporary root, so gc spares it from then on.
    pub hold: &'a (dyn Fn(&ObjectId) -> Result<()> + Sync),
    /// Repair mode: an existing object counts only if its bytes still hash to its id; a
    /// corrupt one is replaced, atomically, by the bytes being stored (which do).
    pub repair: bool,
}

impl PutCtx<'_> {
    /// Whether `id` is stored already (and, in repair mode, intact).
    pub(crate) fn stored(&self, layout: &Layout, id: &ObjectId) -> bool {
        let dest = layout.object_path(id);
        if !dest.exists() {
            return false;
        }
        if self.repair && open_verified(layout, id).is_err() {
            return false;
        }
        freshen(&dest);
        true
    }
}

pub(crate) fn put_bytes(layout: &Layout, bytes: &[u8], ctx: PutCtx<'_>) -> Result<PutOutcome> {
    let id = ObjectId::of(bytes);
    (ctx.hold)(&id)?;
    let size = bytes.len() as u64;
    if ctx.stored(layout, &id) {
        return Ok(PutOutcome {
            id,
            size,
            written: false,
        });
    }
    let mut temp = Temp::create(layout)?;
    let path = temp.path.clone();
    temp.file().write_all(bytes).ctx("failed to write", &path)?;
    let written = temp.commit(layout, &id, ctx.repair)?;
    Ok(PutOutcome { id, size, written })
}

pub(crate) fn put_reader(
    layout: &Layout,
    mut reader: impl Read,
    progress: &dyn Fn(u64),
    ctx: PutCtx<'_>,
) -> Result<PutOutcome> {
    let mut temp = Temp::create(layout)?;
    let path = temp.path.clone();
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx("failed to read input for", &path),
        };
        hasher.update(&buf[..n]);
        temp.file()
            .write_all(&buf[..n])
            .ctx("failed to write", &path)?;
        size += n as u64;
        progress(size);
    }
    let id = ObjectId::from(hasher.finalize());
    (ctx.hold)(&id)?;
    if ctx.stored(layout, &id) {
        return Ok(PutOutcome {
            id,
            size,
            written: false,
        });
    }
    let written = temp.commit(layout, &id, ctx.repair)?;
    Ok(PutOutcome { id, size, written })
}

/// How much of a large file's head goes into its probe key.
const PROBE_HEAD: usize = 16 << 20;

/// The probe key of a large file: the hash of its length and first 16 MiB. It only picks a
/// strategy (see `put_path`); whether bytes are stored is always decided by the full hash.
fn probe_key(bytes: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes[..bytes.len().min(PROBE_HEAD)]);
    hasher.finalize().to_hex().to_string()
}

fn read_probe(layout: &Layout, key: &str) -> Option<ObjectId> {
    fs::read_to_string(layout.probes().join(key))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Records a probe hint. Best effort: a lost or stale hint only costs speed.
fn write_probe(layout: &Layout, key: &str, id: &ObjectId) {
    let dir = layout.probes();
    if read_probe(layout, key) == Some(*id) || ensure_dir(&dir).is_err() {
        return;
    }
    let tmp = layout.temp_path("probe");
    if fs::write(&tmp, id.to_hex()).is_err() || fs::rename(&tmp, dir.join(key)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// Copies `bytes` into the temp file chunk by chunk, starting write-back as it goes, until
/// done or `abort` is set. Returns whether it copied everything.
fn copy_into(
    out: &mut File,
    path: &Path,
    bytes: &[u8],
    abort: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<bool> {
    let mut offset = 0usize;
    for chunk in bytes.chunks(CHUNK) {
        if abort.load(Ordering::Relaxed) {
            return Ok(false);
        }
        out.write_all(chunk).ctx("failed to write", path)?;
        start_writeback(out, offset as u64, chunk.len() as u64);
        offset += chunk.len();
        progress(offset as u64);
    }
    Ok(true)
}

fn hash_all_cores(bytes: &[u8]) -> ObjectId {
    let mut hasher = blake3::Hasher::new();
    hasher.update_rayon(bytes);
    ObjectId::from(hasher.finalize())
}

/// Stores a file, reading the source once.
///
/// Large files are memory-mapped and hashed on every core. A new file is copied into a temp
/// file by a second thread *while* it is hashed, with write-back started chunk by chunk, so
/// ingest costs about one pass instead of hash-then-copy. A file whose probe key (length +
/// head) matches a stored object is probably being re-added, so it is hashed first at full
/// speed and copied only if the hash turns out to be new.
pub(crate) fn put_path(
    layout: &Layout,
    source: &Path,
    progress: &(dyn Fn(u64) + Sync),
    ctx: PutCtx<'_>,
) -> Result<PutOutcome> {
    let file = File::open(source).ctx("failed to open", source)?;
    let len = file.metadata().ctx("failed to stat", source)?.len();
    if len < LARGE {
        return put_reader(layout, file, progress, ctx);
    }
    // SAFETY: the map is read-only; like b3sum, we accept that a file truncated by another
    // process while we read it may fault.
    let map = unsafe { memmap2::Mmap::map(&file) }.ctx("failed to map", source)?;
    let bytes: &[u8] = &map;
    let probe = probe_key(bytes);
    let never = AtomicBool::new(false);

    if read_probe(layout, &probe).is_some_and(|candidate| layout.object_path(&candidate).exists()) {
        let id = hash_all_cores(bytes);
        (ctx.hold)(&id)?;
        if ctx.stored(layout, &id) {
            return Ok(PutOutcome {
                id,
                size: len,
                written: false,
            });
        }
        let mut temp = Temp::create(layout)?;
        let path = temp.path.clone();
        copy_into(temp.file(), &path, bytes, &never, progress)?;
        let written = temp.commit(layout, &id, ctx.repair)?;
        write_probe(layout, &probe, &id);
        return Ok(PutOutcome {
            id,
            size: len,
            written,
        });
    }

    let mut temp = Temp::create(layout)?;
    let temp_path = temp.path.clone();
    let abort = AtomicBool::new(false);
    let (id, copied) = std::thread::scope(|scope| {
        let out = temp.file();
        let abort = &abort;
        let copier = scope.spawn(move || copy_into(out, &temp_path, bytes, abort, progress));
        let id = hash_all_cores(bytes);
        if !ctx.repair && layout.object_path(&id).exists() {
            abort.store(true, Ordering::Relaxed);
        }
        let copied = copier
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (id, copied)
    });
    (ctx.hold)(&id)?;
    let written = if copied? {
        temp.commit(layout, &id, ctx.repair)?
    } else if ctx.stored(layout, &id) {
        false
    } else {
        // It existed when hashed and is gone now (a gc ran before the hold): copy it after all.
        drop(temp);
        let mut temp = Temp::create(layout)?;
        let path = temp.path.clone();
        copy_into(temp.file(), &path, bytes, &never, progress)?;
        temp.commit(layout, &id, ctx.repair)?
    };
    write_probe(layout, &probe, &id);
    Ok(PutOutcome {
        id,
        size: len,
        written,
    })
}

/// Hashes an open object file from its start.
pub(crate) fn hash_file(file: &mut File, path: &Path) -> Result<(ObjectId, u64)> {
    let len = file.metadata().ctx("failed to stat", path)?.len();
    let mut hasher = blake3::Hasher::new();
    if len >= VERIFY_MMAP {
        // SAFETY: objects are read-only and never rewritten in place.
        let map = unsafe { memmap2::Mmap::map(&*file) }.ctx("failed to map", path)?;
        hasher.update_rayon(&map);
    } else {
        file.seek(SeekFrom::Start(0)).ctx("failed to read", path)?;
        io::copy(file, &mut hasher).ctx("failed to read", path)?;
    }
    Ok((ObjectId::from(hasher.finalize()), len))
}

/// Opens an object for reading after checking that its bytes still hash to its name.
pub(crate) fn open_verified(layout: &Layout, id: &ObjectId) -> Result<(File, u64)> {
    let path = layout.object_path(id);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(*id)),
        Err(e) => return Err(e).ctx("failed to open", &path),
    };
    let (actual, len) = hash_file(&mut file, &path)?;
    if actual != *id {
        return Err(StoreError::Corrupt {
            id: *id,
            path,
            actual,
        });
    }
    file.seek(SeekFrom::Start(0)).ctx("failed to read", &path)?;
    Ok((file, len))
}
