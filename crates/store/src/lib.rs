//! cairn's content-addressed store.
//!
//! Everything cairn produces — datasets, tokenizers, weights, ONNX exports, reports, run
//! manifests — is an **object**: immutable bytes named by their BLAKE3 hash, kept under
//! `objects/<first two hex digits>/<hash>`. Structured records are **manifests**: canonical
//! JSON (see [`canonical`]) with a `kind`, whose references to other objects are written
//! `"blake3:<hex>"` so that gc, fsck and lineage can walk the graph without knowing any
//! schema. **Refs** (`l2@1.2.1`, `l2/latest`) are the only mutable names.
//!
//! The key design decision is that every write is a new file made visible by one atomic
//! rename (temp file → fsync → rename → fsync folder), and nothing is ever rewritten in
//! place. A crash at any instant therefore leaves either the old state or the new one, plus
//! perhaps a temp file that `fsck` mentions and `gc` removes. Reads for use re-hash the bytes,
//! so corruption is reported (with hash and path) instead of propagated.
//!
//! This crate knows nothing about models, datasets or experiments.

pub mod canonical;
mod error;
mod files;
mod fsck;
mod gc;
mod id;
mod layout;
pub mod manifest;
mod objects;
mod process;
mod refname;
mod refs;
mod roots;
pub mod upstream;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{Result, StoreError};
pub use files::{line_col, one_line, write_atomic};
pub use fsck::{FsckReport, FsckSummary, Problem};
pub use gc::{GcOptions, GcReport, GcSummary};
pub use id::{ObjectId, ParseIdError, REF_PREFIX};
pub use manifest::Manifest;
pub use objects::{Added, PutOutcome};
pub use refname::{RefName, RefNameError};
pub use refs::{Expect, RefChange, RefEntry, RefUpdate, check_ref_update};
pub use upstream::{ObjectBackend, RefBackend, Upstream};

use error::IoContext;
use layout::Layout;

/// The file that marks a folder as a cairn store (a remote holds the same key).
pub const MARKER: &str = "CAIRN_STORE";
/// What the marker says.
pub const MARKER_TEXT: &str = "cairn store, format 1\n";

/// The store format this cairn reads and writes.
pub const FORMAT: u64 = 1;

/// Whether a folder without a marker may become a store implicitly: it is missing, empty,
/// or holds only what another process initializing it at this moment creates (the store's
/// folders, with no object or ref yet). A store that lost its marker has objects or refs
/// and is refused.
fn initializable(root: &Path) -> bool {
    let Ok(entries) = fs::read_dir(root) else {
        return true;
    };
    let empty = |dir: &Path| fs::read_dir(dir).is_ok_and(|mut e| e.next().is_none());
    entries.flatten().all(|entry| {
        let name = entry.file_name();
        match name.to_str() {
            Some("objects" | "refs") => empty(&entry.path()),
            Some("tmp" | "roots" | "refs.lock") => true,
            _ => false,
        }
    })
}

/// Checks the marker names [`FORMAT`].
fn check_marker(root: &Path) -> Result<()> {
    let path = root.join(MARKER);
    let bytes = fs::read(&path).ctx("failed to read", &path)?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .strip_prefix("cairn store, format ")
        .and_then(|rest| rest.trim_end().parse::<u64>().ok());
    match found {
        Some(FORMAT) => Ok(()),
        Some(found) => Err(StoreError::UnsupportedFormat {
            path: root.to_path_buf(),
            found,
            supported: FORMAT,
        }),
        None => {
            let shown: String = text.chars().take(40).collect();
            Err(StoreError::BadMarker {
                path,
                content: files::one_line(shown.trim_end()).into_owned(),
            })
        }
    }
}

/// Manifests are small; anything bigger is not parsed when walking the graph.
const MAX_MANIFEST: u64 = 64 << 20;

/// A store rooted at a folder. Cheap to clone; safe to use from several threads and
/// processes at once. A folder whose `UPSTREAM` names a store elsewhere (S3) is that store's
/// cache: objects and refs live on its backends (see [`upstream`]).
#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
    /// This handle's temporary roots: every object it stores, until it is dropped.
    roots: Arc<roots::TempRoots>,
    /// Repair mode (see [`Store::repairing`]).
    repair: bool,
    /// The backends of the store this folder caches, if it caches one.
    upstream: Option<Upstream>,
}

/// An object arriving from elsewhere (a remote) whose id is known before its bytes: written to
/// a temp file while hashed, and stored only if the bytes hash to that id.
pub struct Incoming<'a> {
    store: &'a Store,
    /// Sent on to the upstream once stored (not when it came from there).
    send: bool,
    expected: ObjectId,
    temp: objects::Temp,
    hasher: blake3::Hasher,
    size: u64,
}

impl Incoming<'_> {
    /// Appends received bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        let path = self.temp.path.clone();
        self.temp
            .file()
            .write_all(bytes)
            .ctx("failed to write", &path)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Stores the object if the bytes hash to the expected id; otherwise nothing is stored
    /// (the temp file is removed) and the error names both hashes.
    pub fn finish(self) -> Result<PutOutcome> {
        let id = ObjectId::from(self.hasher.finalize());
        if id != self.expected {
            return Err(StoreError::Mismatch {
                expected: self.expected,
                actual: id,
                size: self.size,
            });
        }
        let store = self.store;
        store.hold(&id)?;
        let ctx = store.put_ctx(&|_| Ok(()));
        let written = if ctx.stored(&store.layout, &id) {
            false
        } else {
            self.temp.commit(&store.layout, &id, store.repair)?
        };
        let outcome = PutOutcome {
            id,
            size: self.size,
            written,
        };
        if self.send {
            store.send_up(outcome)
        } else {
            Ok(outcome)
        }
    }
}

impl Store {
    /// Opens an existing store (its marker names a format this cairn reads).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !root.join(MARKER).is_file() {
            return Err(StoreError::NotAStore(root));
        }
        check_marker(&root)?;
        Self::attached(root, false)
    }

    /// The handle of the store folder at `root`, with its upstream's backends opened (and
    /// marked, when `init`).
    fn attached(root: PathBuf, init: bool) -> Result<Self> {
        let upstream = upstream::attach(&root, init)?;
        Ok(Self {
            layout: Layout { root },
            roots: Arc::new(roots::TempRoots::new()),
            repair: false,
            upstream,
        })
    }

    /// Opens the store at `root`, creating it (and its folders) when the folder is new or
    /// empty; a folder with other files in it is [`StoreError::NotEmpty`] (see
    /// [`Store::init`]).
    pub fn open_or_init(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if root.join(MARKER).is_file() {
            // A cache's upstream is made a store only by `init` (a mistyped URL is refused,
            // not turned into a store).
            init_folder(&root)?;
            return Self::attached(root, false);
        }
        // Several processes may create the same new store at once: the first to hold the
        // lock creates it, the others then find the marker.
        layout::ensure_dir(&root)?;
        let _lock = refs::lock(&Layout { root: root.clone() })?;
        if !root.join(MARKER).is_file() && !initializable(&root) {
            return Err(StoreError::NotEmpty(root));
        }
        Self::init(root)
    }

    /// Makes `root` a store (`cairn init`): created if missing, in a folder that may hold
    /// other files; an existing store is opened (its format checked).
    pub fn init(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        init_folder(&root)?;
        Self::attached(root, true)
    }

    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// Where the store really is, when this folder caches one elsewhere (`s3://…`).
    pub fn upstream(&self) -> Option<&str> {
        self.upstream.as_ref().map(|u| u.url.as_str())
    }

    /// Where the object's bytes live (for error messages and tools; read through
    /// [`Store::open_object`] to get them verified).
    pub fn object_path(&self, id: &ObjectId) -> PathBuf {
        self.layout.object_path(id)
    }

    /// Whether the object is in this folder (not asking the upstream).
    pub fn has_local(&self, id: &ObjectId) -> bool {
        self.layout.object_path(id).is_file()
    }

    /// Whether the store holds the object (an upstream that cannot be asked counts as not
    /// holding it: see [`Store::contains`]).
    pub fn has(&self, id: &ObjectId) -> bool {
        self.contains(id).unwrap_or(false)
    }

    /// Whether the store holds the object; an upstream that cannot be asked is an error.
    pub fn contains(&self, id: &ObjectId) -> Result<bool> {
        if self.has_local(id) {
            return Ok(true);
        }
        match &self.upstream {
            Some(up) => up.holds(id),
            None => Ok(false),
        }
    }

    /// Brings an object the folder lacks from the upstream, re-hashed on arrival.
    fn fetch_missing(&self, id: &ObjectId) -> Result<()> {
        let Some(up) = &self.upstream else {
            return Ok(());
        };
        if self.has_local(id) {
            return Ok(());
        }
        let mut incoming = self.incoming(*id)?;
        incoming.send = false;
        up.objects.fetch(id, &mut |bytes| incoming.write(bytes))?;
        incoming.finish()?;
        up.learn([*id]);
        Ok(())
    }

    /// Sends a stored object on to the upstream with whatever it references that the
    /// upstream lacks, children first (so the upstream never holds a manifest whose objects
    /// are missing). In repair mode the object is sent even when the upstream holds it, so
    /// a damaged copy there is replaced.
    fn send_up(&self, outcome: PutOutcome) -> Result<PutOutcome> {
        if let Some(up) = &self.upstream {
            up.send_closure(self, &outcome.id, self.repair)?;
        }
        Ok(outcome)
    }

    /// A cache hint: the object recorded under `index/<kind>/<key>` by
    /// [`Store::index_put`], if any and if the object is still there. Hints are disposable:
    /// a missing or stale one only means the work is done again.
    pub fn index_get(&self, kind: &str, key: &str) -> Option<ObjectId> {
        if !is_index_name(kind) || !is_index_name(key) {
            return None;
        }
        let id: ObjectId = fs::read_to_string(self.layout.root.join("index").join(kind).join(key))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        self.has(&id).then_some(id)
    }

    /// Records a cache hint (atomically; see [`Store::index_get`]).
    pub fn index_put(&self, kind: &str, key: &str, id: &ObjectId) -> Result<()> {
        if !is_index_name(kind) || !is_index_name(key) {
            return Err(StoreError::Io {
                action: "invalid index name",
                path: PathBuf::from(format!("index/{kind}/{key}")),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            });
        }
        let dir = self.layout.root.join("index").join(kind);
        fs::create_dir_all(&dir).ctx("failed to create", &dir)?;
        let path = dir.join(key);
        write_atomic(&path, |w| w.write_all(id.to_hex().as_bytes())).ctx("failed to write", &path)
    }

    /// The object's size in bytes.
    pub fn size(&self, id: &ObjectId) -> Result<u64> {
        let path = self.layout.object_path(id);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match &self.upstream {
                Some(up) => up.objects.stat(id)?.ok_or(StoreError::NotFound(*id)),
                None => Err(StoreError::NotFound(*id)),
            },
            Err(e) => Err(e).ctx("failed to stat", &path),
        }
    }

    /// Stores bytes held in memory.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<PutOutcome> {
        self.send_up(objects::put_bytes(
            &self.layout,
            bytes,
            self.put_ctx(&|id| self.hold(id)),
        )?)
    }

    fn put_ctx<'a>(
        &self,
        hold: &'a (dyn Fn(&ObjectId) -> Result<()> + Sync),
    ) -> objects::PutCtx<'a> {
        objects::PutCtx {
            hold,
            repair: self.repair,
        }
    }

    /// This store in repair mode: a put of bytes whose object exists but no longer hashes
    /// to its id (bit rot, tampering) replaces it, atomically, instead of trusting it. Every
    /// existing object a put meets is re-hashed, so use it for one command
    /// (`cairn reproduce --repair`), not by default.
    pub fn repairing(&self) -> Store {
        Store {
            repair: true,
            ..self.clone()
        }
    }

    /// Records `id` as a temporary root of this handle: `gc` spares it (and what it
    /// references) until the handle is dropped or its process ends. Every `put_*` does this
    /// before the object becomes visible; call it for an object this process will reference
    /// without storing it again.
    pub fn hold(&self, id: &ObjectId) -> Result<()> {
        self.roots.hold(&self.layout, id)
    }

    /// Stores everything `reader` yields, streaming.
    pub fn put_reader(&self, reader: impl Read) -> Result<PutOutcome> {
        self.send_up(objects::put_reader(
            &self.layout,
            reader,
            &|_| {},
            self.put_ctx(&|id| self.hold(id)),
        )?)
    }

    /// Starts receiving the object `expected` (from a remote): bytes are written as they
    /// come and stored by [`Incoming::finish`] only if they hash to `expected`.
    pub fn incoming(&self, expected: ObjectId) -> Result<Incoming<'_>> {
        Ok(Incoming {
            store: self,
            send: true,
            expected,
            temp: objects::Temp::create(&self.layout)?,
            hasher: blake3::Hasher::new(),
            size: 0,
        })
    }

    /// Stores a file, streaming; see [`Store::put_path_with_progress`].
    pub fn put_path(&self, path: &Path) -> Result<PutOutcome> {
        self.put_path_with_progress(path, &|_| {})
    }

    /// Stores a file; `progress` is called with the bytes copied so far.
    pub fn put_path_with_progress(
        &self,
        path: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<PutOutcome> {
        self.send_up(objects::put_path(
            &self.layout,
            path,
            progress,
            self.put_ctx(&|id| self.hold(id)),
        )?)
    }

    /// Opens an object after verifying its hash; returns the file and its size.
    pub fn open_object(&self, id: &ObjectId) -> Result<(File, u64)> {
        self.fetch_missing(id)?;
        objects::open_verified(&self.layout, id)
    }

    /// Reads a whole (small) object, verified.
    pub fn read(&self, id: &ObjectId) -> Result<Vec<u8>> {
        self.fetch_missing(id)?;
        let path = self.layout.object_path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(*id)),
            Err(e) => return Err(e).ctx("failed to read", &path),
        };
        let actual = ObjectId::of(&bytes);
        if actual != *id {
            return Err(StoreError::Corrupt {
                id: *id,
                path,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Streams a verified object into `out`; returns the bytes written. Nothing is written
    /// when the object is corrupt.
    pub fn copy_to(&self, id: &ObjectId, out: &mut dyn Write) -> Result<u64> {
        let (mut file, _) = self.open_object(id)?;
        let path = self.layout.object_path(id);
        io::copy(&mut file, out).ctx("failed to copy", &path)
    }

    /// Stores a manifest in canonical form.
    pub fn put_manifest<M: Manifest>(&self, manifest: &M) -> Result<ObjectId> {
        let bytes = manifest::encode(manifest)?;
        Ok(self.put_bytes(&bytes)?.id)
    }

    /// Reads and decodes a manifest of type `M`, verified.
    pub fn get_manifest<M: Manifest>(&self, id: &ObjectId) -> Result<M> {
        let bytes = self.read(id)?;
        let not = |reason: String| StoreError::NotAManifest {
            id: *id,
            expected: M::KIND.into(),
            reason,
        };
        let (kind, fields) =
            manifest::parse(&bytes).ok_or_else(|| not("it is not a cairn manifest".into()))?;
        if kind != M::KIND {
            return Err(not(format!("it is a `{kind}` manifest")));
        }
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| not(e.to_string()))
    }

    /// The kind and fields of an object if it is a manifest; `None` for plain data.
    pub fn sniff_manifest(
        &self,
        id: &ObjectId,
    ) -> Result<Option<(String, serde_json::Map<String, serde_json::Value>)>> {
        // An object only the upstream holds is fetched only if it may be a manifest.
        if !self.has_local(id) && self.upstream.is_some() && self.size(id)? > MAX_MANIFEST {
            return Ok(None);
        }
        self.fetch_missing(id)?;
        let path = self.layout.object_path(id);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(*id)),
            Err(e) => return Err(e).ctx("failed to open", &path),
        };
        let len = file.metadata().ctx("failed to stat", &path)?.len();
        let mut first = [0u8; 1];
        let is_json = len <= MAX_MANIFEST
            && file.read(&mut first).ctx("failed to read", &path)? == 1
            && first[0] == b'{';
        if !is_json {
            return Ok(None);
        }
        Ok(manifest::parse(&self.read(id)?))
    }

    /// Every object reachable from `roots` by following manifest references (the roots
    /// included). Missing objects are included but not followed; a corrupt manifest is an
    /// error, because what it references cannot be known.
    pub fn reachable(
        &self,
        roots: impl IntoIterator<Item = ObjectId>,
    ) -> Result<BTreeSet<ObjectId>> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<ObjectId> = roots.into_iter().collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || !self.contains(&id)? {
                continue;
            }
            if let Some((_, fields)) = self.sniff_manifest(&id)? {
                stack.extend(manifest::references(&serde_json::Value::Object(fields)));
            }
        }
        Ok(seen)
    }

    /// Every object reachable from the refs, read strictly: an object that is missing, or
    /// small enough to be a manifest and whose bytes do not hash to its name (a truncated or
    /// damaged manifest hides what it referenced), is [`StoreError::BrokenRef`] naming the
    /// ref and the object. What `gc` marks before it may sweep.
    pub fn reachable_from_refs(&self, refs: &[(RefName, ObjectId)]) -> Result<BTreeSet<ObjectId>> {
        let mut seen = BTreeSet::new();
        for (name, root) in refs {
            let broken = |object: ObjectId, problem: String| StoreError::BrokenRef {
                name: name.clone(),
                object,
                problem,
            };
            let mut stack = vec![*root];
            while let Some(id) = stack.pop() {
                if !seen.insert(id) {
                    continue;
                }
                let size = match self.size(&id) {
                    Ok(size) => size,
                    Err(StoreError::NotFound(_)) => return Err(broken(id, "missing".into())),
                    Err(e) => return Err(e),
                };
                if size > MAX_MANIFEST {
                    continue;
                }
                let bytes = match self.read(&id) {
                    Ok(bytes) => bytes,
                    Err(StoreError::NotFound(_)) => return Err(broken(id, "missing".into())),
                    Err(StoreError::Corrupt { actual, .. }) => {
                        return Err(broken(
                            id,
                            format!("corrupt ({size} bytes that hash to {actual})"),
                        ));
                    }
                    Err(e) => return Err(e),
                };
                if let Some((_, fields)) = manifest::parse(&bytes) {
                    stack.extend(manifest::references(&serde_json::Value::Object(fields)));
                }
            }
        }
        Ok(seen)
    }

    /// Checks that `root` and everything it references exist and hash to their names, before
    /// a ref is set to it: a ref never points at something missing. Objects another ref
    /// already points at were checked when that ref was set and are kept by it, so the walk
    /// only checks they exist and does not descend into them. The first problem is the error
    /// ([`StoreError::NotFound`] or [`StoreError::Corrupt`]); returns the objects checked.
    pub fn verify_closure(&self, root: &ObjectId) -> Result<usize> {
        let anchored: BTreeSet<ObjectId> =
            self.list_refs()?.into_iter().map(|(_, id)| id).collect();
        let mut seen = BTreeSet::new();
        let mut stack = vec![*root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if id != *root && anchored.contains(&id) {
                if !self.has(&id) {
                    return Err(StoreError::NotFound(id));
                }
                continue;
            }
            if self.size(&id)? > MAX_MANIFEST {
                self.open_object(&id)?;
                continue;
            }
            if let Some((_, fields)) = manifest::parse(&self.read(&id)?) {
                stack.extend(manifest::references(&serde_json::Value::Object(fields)));
            }
        }
        Ok(seen.len())
    }

    /// Every well-formed object in the store, sorted.
    pub fn list_objects(&self) -> Result<Vec<ObjectId>> {
        if let Some(up) = &self.upstream {
            return Ok(up.objects.list()?.into_keys().collect());
        }
        Ok(fsck::scan(&self.layout)?
            .objects
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Every manifest in the store whose kind is one of `kinds`, with its kind, sorted by
    /// id: how indexes are rebuilt from the store alone.
    pub fn manifests_of(&self, kinds: &[&str]) -> Result<Vec<(ObjectId, String)>> {
        let mut found = Vec::new();
        // On an upstream, the listing's sizes rule out what cannot be a manifest unread.
        let candidates: Vec<ObjectId> = match &self.upstream {
            Some(up) => up
                .objects
                .list()?
                .into_iter()
                .filter(|(_, size)| *size <= MAX_MANIFEST)
                .map(|(id, _)| id)
                .collect(),
            None => self.list_objects()?,
        };
        for id in candidates {
            if let Some((kind, _)) = self.sniff_manifest(&id)?
                && kinds.contains(&kind.as_str())
            {
                found.push((id, kind));
            }
        }
        Ok(found)
    }

    pub fn get_ref(&self, name: &RefName) -> Result<Option<ObjectId>> {
        match &self.upstream {
            Some(up) => up.refs.get(name),
            None => refs::read(&self.layout, name),
        }
    }

    /// Compare-and-swap of a ref. The target must be in the store; on an upstream, the
    /// upstream gets everything the target reaches first.
    pub fn set_ref(&self, name: &RefName, new: ObjectId, expect: Expect) -> Result<RefUpdate> {
        if !self.contains(&new)? {
            return Err(StoreError::NotFound(new));
        }
        match &self.upstream {
            Some(up) => {
                up.send_closure(self, &new, false)?;
                up.refs.set(name, new, expect)
            }
            None => refs::update(&self.layout, name, new, expect),
        }
    }

    /// Deletes a movable ref (published versions cannot be deleted).
    pub fn delete_ref(&self, name: &RefName, expect: Expect) -> Result<Option<ObjectId>> {
        match &self.upstream {
            Some(up) => up.refs.delete(name, expect),
            None => refs::delete(&self.layout, name, expect),
        }
    }

    pub fn list_refs(&self) -> Result<Vec<(RefName, ObjectId)>> {
        match &self.upstream {
            Some(up) => up.refs.list(),
            None => refs::list(&self.layout),
        }
    }

    /// Re-hashes every object and checks every ref and manifest reference (of this folder:
    /// an upstream is checked where it is, as `cairn fsck` does through the remote crate).
    pub fn fsck(&self) -> Result<FsckReport> {
        fsck::run(self)
    }

    /// Deletes what no ref reaches; see [`GcOptions`]. Refused on an upstream: other
    /// machines write to it without this store's lock.
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        if let Some(up) = &self.upstream {
            return Err(StoreError::UpstreamGc {
                url: up.url.clone(),
                cache: self.layout.root.clone(),
            });
        }
        gc::run(self, options)
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// Makes `root` a store folder (its folders and marker); an existing one has its format
/// checked.
fn init_folder(root: &Path) -> Result<()> {
    if root.join(MARKER).is_file() {
        check_marker(root)?;
    }
    let layout = Layout {
        root: root.to_path_buf(),
    };
    layout::ensure_dir(root)?;
    for dir in [layout.objects(), layout.refs(), layout.tmp()] {
        layout::ensure_dir(&dir)?;
    }
    let marker = root.join(MARKER);
    if !marker.is_file() {
        // Written atomically like everything else, so a half-written marker never exists.
        let tmp = layout.temp_path("marker");
        fs::write(&tmp, MARKER_TEXT).ctx("failed to write", &tmp)?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .ctx("failed to sync", &tmp)?;
        fs::rename(&tmp, &marker).ctx("failed to create store marker", &marker)?;
        layout::sync_dir(root)?;
    }
    Ok(())
}

/// Index kinds and keys: lowercase letters, digits, `-` and `_`.
fn is_index_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
