//! Remotes, as git has them: a store's objects and refs copied to and from S3-compatible
//! object storage (`s3://bucket/prefix`, through `object_store`) or a cairn store folder on a
//! shared mount (`file:///path`).
//!
//! A remote holds the same names and bytes as a local store. `push` sends every object the
//! chosen refs reach that the remote lacks (in parallel, large ones in parts), then moves the
//! remote refs by compare-and-swap (the service's conditional writes: `If-None-Match: *` to
//! create, `If-Match: <etag>` to move); `pull` fetches what is missing, re-hashing every
//! object as it arrives (a tampered or truncated one is refused and never stored), then sets
//! the local refs. Objects go before refs, so a push or pull killed at any instant leaves
//! both stores valid, and the next one sends only what is still missing. A published
//! `name@version` never moves, here or there.

mod backend;
mod credentials;
mod upstream;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_store::{Expect, ObjectId, RefName, Store, StoreError};
use serde::{Deserialize, Serialize};

pub use backend::{Backend, Seen, WriteRef};
pub use upstream::install;

/// Why a remote operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{url}` is not a remote URL: {reason} (write s3://bucket/prefix or file:///path)")]
    BadUrl { url: String, reason: String },
    #[error("`{0}` is not a remote name: use letters, digits, `-` and `_`")]
    BadName(String),
    #[error(
        "no remote named `{0}` (see `cairn remote list`; add one with `cairn remote add <name> <url>`)"
    )]
    UnknownRemote(String),
    #[error("a remote named `{name}` exists already ({url}); `cairn remote remove {name}` first")]
    RemoteExists { name: String, url: String },
    #[error("`{path}`: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("`{path}`: {reason}")]
    Credentials { path: PathBuf, reason: String },
    #[error("{url}: cannot {what}: {source}")]
    S3 {
        url: String,
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} does not hold an object id")]
    BadRemoteRef { what: String },
    #[error(
        "{url}: ref `{name}` came without an ETag, so it cannot be moved by compare-and-swap (use a service with conditional writes)"
    )]
    NoETag { url: String, name: String },
    #[error("the remote has no object {id}")]
    MissingObject { id: ObjectId },
    #[error(
        "the remote sent more than the {listed} bytes it lists for object {id}: refused, nothing was stored"
    )]
    Oversized { id: ObjectId, listed: u64 },
    #[error("{url} is not a cairn store: {reason}")]
    NotAStore { url: String, reason: String },
    #[error("`{0}` is not a ref of this store (see `cairn ref list`)")]
    UnknownRef(String),
    #[error("`{name}` is not a ref of remote `{remote}`")]
    UnknownRemoteRef { remote: String, name: String },
    /// A ref on the remote that holds another version's run (forged, or set by mistake).
    #[error(
        "{mismatch} on `{remote}`: refused, nothing was pulled into refs (forged or mistaken: restore that ref on the remote from a trusted store)"
    )]
    MisnamedRef {
        remote: String,
        mismatch: cairn_spec::RefMismatch,
    },
    /// A ref that holds another object on the other side.
    #[error("ref `{name}` is {theirs} on `{remote}` but {ours} here: {fix}")]
    Conflict {
        remote: String,
        name: String,
        theirs: String,
        ours: String,
        fix: &'static str,
    },
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<RemoteError>,
    },
}

pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// Where a remote is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteUrl {
    S3 { bucket: String, prefix: String },
    File(PathBuf),
}

impl RemoteUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason: &str| RemoteError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !valid {
                return Err(bad(
                    "a bucket name is 3-63 lowercase letters, digits, `-` or `.`",
                ));
            }
            let prefix = prefix.trim_matches('/');
            let segment_ok = |p: &str| {
                !p.is_empty() && p != "." && p != ".." && !p.chars().any(|c| c.is_control())
            };
            if !prefix.is_empty() && !prefix.split('/').all(segment_ok) {
                return Err(bad(
                    "each part of the prefix is a name (no `.`, `..`, `//` or control characters)",
                ));
            }
            return Ok(RemoteUrl::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file URL names an absolute path (file:///…)"));
            }
            return Ok(RemoteUrl::File(PathBuf::from(path)));
        }
        Err(bad("unknown scheme"))
    }

    /// A path given without a scheme is a folder (made absolute).
    pub fn parse_or_path(url: &str) -> Result<Self> {
        if url.contains("://") {
            return Self::parse(url);
        }
        let path = std::path::absolute(url).map_err(|e| RemoteError::Io {
            what: url.to_string(),
            source: e,
        })?;
        Ok(RemoteUrl::File(path))
    }
}

impl std::fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            RemoteUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            RemoteUrl::File(path) => write!(f, "file://{}", path.display()),
        }
    }
}

/// The remotes a store knows: `<store>/remotes.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Remotes {
    #[serde(default)]
    pub remote: BTreeMap<String, RemoteEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteEntry {
    pub url: String,
}

const CONFIG: &str = "remotes.toml";

impl Remotes {
    pub fn load(store: &Store) -> Result<Self> {
        let path = store.root().join(CONFIG);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| RemoteError::Config {
                path,
                reason: cairn_store::one_line(&e.to_string()).into_owned(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(RemoteError::Io {
                what: path.display().to_string(),
                source: e,
            }),
        }
    }

    fn save(&self, store: &Store) -> Result<()> {
        let path = store.root().join(CONFIG);
        let text = toml::to_string(self).map_err(|e| RemoteError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        cairn_store::write_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes())).map_err(
            |e| RemoteError::Io {
                what: path.display().to_string(),
                source: e,
            },
        )
    }

    pub fn add(store: &Store, name: &str, url: &str) -> Result<RemoteUrl> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(RemoteError::BadName(name.to_string()));
        }
        let parsed = RemoteUrl::parse_or_path(url)?;
        let mut all = Self::load(store)?;
        if let Some(have) = all.remote.get(name) {
            return Err(RemoteError::RemoteExists {
                name: name.to_string(),
                url: have.url.clone(),
            });
        }
        all.remote.insert(
            name.to_string(),
            RemoteEntry {
                url: parsed.to_string(),
            },
        );
        all.save(store)?;
        Ok(parsed)
    }

    pub fn remove(store: &Store, name: &str) -> Result<()> {
        let mut all = Self::load(store)?;
        if all.remote.remove(name).is_none() {
            return Err(RemoteError::UnknownRemote(name.to_string()));
        }
        all.save(store)
    }

    pub fn get(&self, name: &str) -> Result<RemoteUrl> {
        let entry = self
            .remote
            .get(name)
            .ok_or_else(|| RemoteError::UnknownRemote(name.to_string()))?;
        RemoteUrl::parse(&entry.url)
    }
}

/// An open remote.
pub struct Remote {
    pub name: String,
    pub url: RemoteUrl,
    backend: Box<dyn Backend>,
}

impl Remote {
    pub fn open(name: &str, url: RemoteUrl) -> Result<Self> {
        let shown = url.to_string();
        let backend: Box<dyn Backend> = match &url {
            RemoteUrl::S3 { bucket, prefix } => {
                Box::new(backend::S3::open(bucket, prefix, &shown)?)
            }
            RemoteUrl::File(path) => Box::new(backend::Folder::open(path.clone())?),
        };
        Ok(Remote {
            name: name.to_string(),
            url,
            backend,
        })
    }

    /// The remote a store knows by `name`.
    pub fn named(store: &Store, name: &str) -> Result<Self> {
        Self::open(name, Remotes::load(store)?.get(name)?)
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Refuses a remote that holds no store (a typo, an unmounted share, nothing pushed).
    fn ensure_store(&self) -> Result<()> {
        if self.backend.is_store()? {
            return Ok(());
        }
        Err(RemoteError::NotAStore {
            url: self.url.to_string(),
            reason: format!("it has no {} (push to it first)", cairn_store::MARKER),
        })
    }

    fn conflict(
        &self,
        name: &RefName,
        theirs: Option<ObjectId>,
        ours: ObjectId,
        fix: &'static str,
    ) -> RemoteError {
        RemoteError::Conflict {
            remote: self.name.clone(),
            name: name.to_string(),
            theirs: theirs
                .map(|t| t.to_hex())
                .unwrap_or_else(|| "absent".into()),
            ours: ours.to_hex(),
            fix,
        }
    }
}

/// How many transfers run at once.
const PARALLEL: usize = 8;

/// Runs `f` over `items` on [`PARALLEL`] threads; the first error wins (the others finish
/// what they started).
fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = AtomicU64::new(0);
    let failed: Mutex<Option<RemoteError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(items.len()) {
            scope.spawn(|| {
                loop {
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(item) = items.get(i) else {
                        return;
                    };
                    if let Err(e) = f(item)
                        && let Ok(mut slot) = failed.lock()
                    {
                        slot.get_or_insert(e);
                    }
                }
            });
        }
    });
    match failed.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// What a push or pull did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Transfer {
    pub remote: String,
    pub url: String,
    /// Objects sent or received, and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// Objects the other side had already.
    pub present: u64,
    /// Refs created or moved, and refs that already held the same object.
    pub refs_updated: Vec<String>,
    pub refs_unchanged: u64,
}

impl Transfer {
    /// What moved to or from `remote`: objects and bytes sent or received, objects already
    /// there (no refs yet).
    fn of(remote: &Remote, (objects, bytes, present): (u64, u64, u64)) -> Self {
        Transfer {
            remote: remote.name.clone(),
            url: remote.url.to_string(),
            objects,
            bytes,
            present,
            ..Transfer::default()
        }
    }
}

/// The refs to move: those named (which must exist), or every ref of `all`.
fn choose(
    all: Vec<(RefName, ObjectId)>,
    names: &[String],
    unknown: impl Fn(&str) -> RemoteError,
) -> Result<Vec<(RefName, ObjectId)>> {
    if names.is_empty() {
        return Ok(all);
    }
    let by_name: BTreeMap<String, (RefName, ObjectId)> = all
        .into_iter()
        .map(|(n, id)| (n.to_string(), (n, id)))
        .collect();
    names
        .iter()
        .map(|n| by_name.get(n).cloned().ok_or_else(|| unknown(n)))
        .collect()
}

/// `cairn push`: every object the refs reach that the remote lacks, then the refs. A ref the
/// remote holds at another object is a conflict (`force` moves a mutable one; a published
/// version never moves).
pub fn push(local: &Store, remote: &Remote, names: &[String], force: bool) -> Result<Transfer> {
    let backend = remote.backend();
    let chosen = choose(local.list_refs()?, names, |n| {
        RemoteError::UnknownRef(n.to_string())
    })?;
    // Conflicts first: nothing is sent for a push that cannot finish.
    let mut moves = Vec::new();
    let mut unchanged = 0;
    // Published versions first: their conflicts are the ones no flag can settle.
    let (published, movable): (Vec<_>, Vec<_>) =
        chosen.iter().partition(|(name, _)| name.is_immutable());
    for (name, id) in published.into_iter().chain(movable) {
        match backend.read_ref(name)? {
            Some((theirs, _)) if theirs == *id => unchanged += 1,
            Some((theirs, _)) if name.is_immutable() => {
                return Err(remote.conflict(
                    name,
                    Some(theirs),
                    *id,
                    "a published version never moves; publish another version",
                ));
            }
            Some((theirs, _)) if !force => {
                return Err(remote.conflict(
                    name,
                    Some(theirs),
                    *id,
                    "`cairn pull` it first, or push --force to move it",
                ));
            }
            seen => moves.push((name.clone(), *id, seen.map(|(_, s)| s))),
        }
    }
    let counts = send_closure(local, remote, chosen.iter().map(|(_, id)| *id))?;
    let mut report = Transfer::of(remote, counts);
    report.refs_unchanged = unchanged;
    // Then the refs, each by compare-and-swap against what was read above.
    for (name, id, seen) in moves {
        match backend.write_ref(&name, &id, seen.as_ref())? {
            WriteRef::Written => report.refs_updated.push(name.to_string()),
            WriteRef::Conflict(now) if now == Some(id) => report.refs_unchanged += 1,
            WriteRef::Conflict(now) => {
                return Err(remote.conflict(
                    &name,
                    now,
                    id,
                    "another push moved it meanwhile; `cairn pull` and try again",
                ));
            }
        }
    }
    Ok(report)
}

/// Sends every object `roots` reach that the remote lacks, holding them as temporary roots
/// so gc spares them while they travel; then marks the remote as a store. Returns the objects
/// and bytes sent and the objects already there.
fn send_closure(
    local: &Store,
    remote: &Remote,
    roots: impl IntoIterator<Item = ObjectId>,
) -> Result<(u64, u64, u64)> {
    let backend = remote.backend();
    // The remote becomes a store first (a folder is made one; an S3 prefix gets its marker):
    // a marker with no refs yet is an empty store.
    backend.mark()?;
    let closure = local.reachable(roots)?;
    for id in &closure {
        if !local.has(id) {
            return Err(StoreError::NotFound(*id).into());
        }
        local.hold(id)?;
    }
    let there = backend.objects()?;
    let send: BTreeSet<ObjectId> = closure
        .iter()
        .filter(|id| !there.contains_key(id))
        .copied()
        .collect();
    // Children before the manifests that name them, so a push killed at any instant leaves
    // no manifest on the remote whose references are missing.
    let bytes = AtomicU64::new(0);
    for level in by_height(local, &closure)? {
        let level: Vec<ObjectId> = level.into_iter().filter(|id| send.contains(id)).collect();
        parallel(&level, |id| {
            let n = backend
                .upload(local, id)
                .map_err(|e| RemoteError::Context {
                    context: format!("push of object {id} to {}", remote.url),
                    source: Box::new(e),
                })?;
            bytes.fetch_add(n, Ordering::Relaxed);
            Ok(())
        })?;
    }
    Ok((
        send.len() as u64,
        bytes.into_inner(),
        (closure.len() - send.len()) as u64,
    ))
}

/// The objects of `closure` grouped by height: plain objects first (0), then each manifest
/// one above the highest object it names.
fn by_height(local: &Store, closure: &BTreeSet<ObjectId>) -> Result<Vec<Vec<ObjectId>>> {
    fn height(local: &Store, id: ObjectId, memo: &mut HashMap<ObjectId, usize>) -> Result<usize> {
        if let Some(h) = memo.get(&id) {
            return Ok(*h);
        }
        // Marked before descending: a (damaged) cycle ends here instead of looping.
        memo.insert(id, 0);
        let mut h = 0;
        if let Some((_, fields)) = local.sniff_manifest(&id)? {
            for child in cairn_store::manifest::references(&serde_json::Value::Object(fields)) {
                h = h.max(height(local, child, memo)? + 1);
            }
        }
        memo.insert(id, h);
        Ok(h)
    }
    let mut memo = HashMap::new();
    let mut levels: Vec<Vec<ObjectId>> = Vec::new();
    for id in closure {
        let h = height(local, *id, &mut memo)?;
        if levels.len() <= h {
            levels.resize(h + 1, Vec::new());
        }
        levels[h].push(*id);
    }
    Ok(levels)
}

/// The largest manifest the store reads (its `MAX_MANIFEST`).
const MAX_MANIFEST: u64 = 64 << 20;
/// Objects at most this large arrive in memory first: a manifest among them is stored only
/// after everything it names. Every manifest fits.
const IN_MEMORY: u64 = MAX_MANIFEST;

/// Sends what `roots` reach (no refs move): a queued recipe and its inputs.
pub fn send(local: &Store, remote: &Remote, roots: &[ObjectId]) -> Result<Transfer> {
    let counts = send_closure(local, remote, roots.iter().copied())?;
    Ok(Transfer::of(remote, counts))
}

/// Fetches what `roots` reach that `local` lacks, each object re-hashed on arrival (no refs
/// move): what a worker needs to run a queued recipe.
pub fn fetch(local: &Store, remote: &Remote, roots: &[ObjectId]) -> Result<Transfer> {
    let counts = fetch_closure(local, remote, roots.iter().copied())?;
    Ok(Transfer::of(remote, counts))
}

/// How [`publish`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The ref now holds the run.
    Set,
    /// The ref held another run already (set by someone else first).
    Taken(ObjectId),
}

/// Sends `run` and what it reaches, then creates the remote ref `name` pointing at it (by
/// compare-and-swap: `If-None-Match: *`). No local ref is read or set.
pub fn publish(local: &Store, remote: &Remote, name: &RefName, run: ObjectId) -> Result<Published> {
    send_closure(local, remote, [run])?;
    match remote.backend().write_ref(name, &run, None)? {
        WriteRef::Written => {}
        WriteRef::Conflict(Some(theirs)) if theirs == run => {}
        WriteRef::Conflict(Some(theirs)) => return Ok(Published::Taken(theirs)),
        WriteRef::Conflict(None) => {
            return Err(remote.conflict(
                name,
                None,
                run,
                "the remote refused the write although the ref is absent; try again",
            ));
        }
    }
    // `latest` is the highest registered version wherever registration happens.
    settle_remote_latest(remote, name.path())?;
    Ok(Published::Set)
}

/// Points the remote's `model/latest` at the run of its highest registered version, by
/// compare-and-swap (read again when another writer moved it meanwhile).
pub fn settle_remote_latest(remote: &Remote, model: &str) -> Result<()> {
    let Ok(latest) = cairn_spec::latest_ref(model) else {
        return Ok(());
    };
    let backend = remote.backend();
    let prefix = format!("{model}@");
    loop {
        let mut highest: Option<(semver::Version, ObjectId)> = None;
        for name in backend.ref_names()? {
            let Some(version) = name.as_str().strip_prefix(&prefix) else {
                continue;
            };
            let Ok(v) = semver::Version::parse(version) else {
                continue;
            };
            if highest.as_ref().is_none_or(|(h, _)| v > *h)
                && let Some((id, _)) = backend.read_ref(&name)?
            {
                highest = Some((v, id));
            }
        }
        let Some((_, run)) = highest else {
            return Ok(());
        };
        let current = backend.read_ref(&latest)?;
        if current.as_ref().is_some_and(|(id, _)| *id == run) {
            return Ok(());
        }
        match backend.write_ref(&latest, &run, current.as_ref().map(|(_, seen)| seen))? {
            WriteRef::Written => return Ok(()),
            WriteRef::Conflict(_) => continue,
        }
    }
}

/// Downloads `id` into `local`, hash-checked.
fn fetch_one(local: &Store, backend: &dyn Backend, id: &ObjectId) -> Result<u64> {
    let mut incoming = local.incoming(*id)?;
    backend.download(id, &mut |bytes| Ok(incoming.write(bytes)?))?;
    Ok(incoming.finish()?.size)
}

/// Fetches everything `roots` reach that `local` lacks, level by level; returns the objects
/// and bytes received and those already here. Each object is re-hashed on arrival. A
/// manifest is stored only after every object it names (until then it waits in memory), so
/// a pull killed at any instant leaves no manifest here whose references are missing.
fn fetch_closure(
    local: &Store,
    remote: &Remote,
    roots: impl IntoIterator<Item = ObjectId>,
) -> Result<(u64, u64, u64)> {
    let backend = remote.backend();
    let sizes = backend.objects()?;
    let mut seen = HashSet::new();
    let mut frontier: Vec<ObjectId> = roots.into_iter().filter(|id| seen.insert(*id)).collect();
    let (objects, bytes, present) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    // Manifests received, in the order found (each before what it names).
    let waiting: Mutex<HashMap<ObjectId, Vec<u8>>> = Mutex::new(HashMap::new());
    let mut order: Vec<ObjectId> = Vec::new();
    while !frontier.is_empty() {
        let missing: Vec<ObjectId> = frontier
            .iter()
            .filter(|id| !local.has(id))
            .copied()
            .collect();
        present.fetch_add((frontier.len() - missing.len()) as u64, Ordering::Relaxed);
        parallel(&missing, |id| {
            let context = |e: RemoteError| RemoteError::Context {
                context: format!("pull of object {id} from {}", remote.url),
                source: Box::new(e),
            };
            let size = *sizes
                .get(id)
                .ok_or(RemoteError::MissingObject { id: *id })
                .map_err(context)?;
            let n = if size <= IN_MEMORY {
                let mut received = Vec::with_capacity(size as usize);
                backend
                    .download(id, &mut |chunk| {
                        // A remote that sends more than it listed is not believed.
                        if (received.len() + chunk.len()) as u64 > size {
                            return Err(RemoteError::Oversized {
                                id: *id,
                                listed: size,
                            });
                        }
                        received.extend_from_slice(chunk);
                        Ok(())
                    })
                    .map_err(context)?;
                let actual = ObjectId::of(&received);
                if actual != *id {
                    return Err(context(
                        StoreError::Mismatch {
                            expected: *id,
                            actual,
                            size: received.len() as u64,
                        }
                        .into(),
                    ));
                }
                let n = received.len() as u64;
                if cairn_store::manifest::parse(&received).is_some() {
                    if let Ok(mut w) = waiting.lock() {
                        w.insert(*id, received);
                    }
                } else {
                    local.put_bytes(&received)?;
                }
                n
            } else {
                fetch_one(local, backend, id).map_err(context)?
            };
            objects.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(n, Ordering::Relaxed);
            Ok(())
        })?;
        let waiting_now = waiting.lock().map(|w| w.clone()).unwrap_or_default();
        let mut next = Vec::new();
        for id in &frontier {
            let fields = match waiting_now.get(id) {
                Some(received) => {
                    order.push(*id);
                    cairn_store::manifest::parse(received).map(|(_, f)| f)
                }
                None => {
                    local.hold(id)?;
                    local.sniff_manifest(id)?.map(|(_, f)| f)
                }
            };
            if let Some(fields) = fields {
                next.extend(
                    cairn_store::manifest::references(&serde_json::Value::Object(fields))
                        .into_iter()
                        .filter(|r| seen.insert(*r)),
                );
            }
        }
        frontier = next;
    }
    // The manifests, each after every manifest it names (by height among them).
    let waiting = waiting.into_inner().unwrap_or_default();
    fn height(
        id: ObjectId,
        waiting: &HashMap<ObjectId, Vec<u8>>,
        memo: &mut HashMap<ObjectId, usize>,
    ) -> usize {
        if let Some(h) = memo.get(&id) {
            return *h;
        }
        memo.insert(id, 0);
        let children = waiting
            .get(&id)
            .and_then(|b| cairn_store::manifest::parse(b))
            .map(|(_, f)| cairn_store::manifest::references(&serde_json::Value::Object(f)))
            .unwrap_or_default();
        let h = children
            .into_iter()
            .filter(|c| waiting.contains_key(c))
            .map(|c| height(c, waiting, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(id, h);
        h
    }
    let mut memo = HashMap::new();
    order.sort_by_cached_key(|id| height(*id, &waiting, &mut memo));
    for id in &order {
        if let Some(received) = waiting.get(id) {
            local.put_bytes(received)?;
        }
    }
    Ok((
        objects.into_inner(),
        bytes.into_inner(),
        present.into_inner(),
    ))
}

/// `cairn pull`: the remote's refs (or those named), with every object they reach, each
/// re-hashed on arrival; then the local refs. A ref that holds another object here is a
/// conflict (`force` moves a mutable one).
pub fn pull(local: &Store, remote: &Remote, names: &[String], force: bool) -> Result<Transfer> {
    let backend = remote.backend();
    remote.ensure_store()?;
    let mut theirs = Vec::new();
    for name in backend.ref_names()? {
        if let Some((id, _)) = backend.read_ref(&name)? {
            theirs.push((name, id));
        }
    }
    let all = theirs.clone();
    let mut chosen = choose(theirs, names, |n| RemoteError::UnknownRemoteRef {
        remote: remote.name.clone(),
        name: n.to_string(),
    })?;
    // A model's `latest` is derived here from the versions pulled (below), never copied: a
    // remote whose `latest` lags (versions registered by workers) cannot move ours back.
    let models: BTreeSet<String> = all
        .iter()
        .filter(|(n, _)| n.version().is_some())
        .map(|(n, _)| n.path().to_string())
        .collect();
    let derived = |n: &RefName| {
        n.as_str()
            .strip_suffix("/latest")
            .is_some_and(|m| models.contains(m))
    };
    let latest_of: Vec<(RefName, ObjectId)> =
        chosen.iter().filter(|(n, _)| derived(n)).cloned().collect();
    chosen.retain(|(n, _)| !derived(n));
    let mut unchanged = 0;
    let mut moves = Vec::new();
    let (published, movable): (Vec<_>, Vec<_>) =
        chosen.iter().partition(|(name, _)| name.is_immutable());
    for (name, id) in published.into_iter().chain(movable) {
        match local.get_ref(name)? {
            Some(ours) if ours == *id => unchanged += 1,
            Some(ours) if name.is_immutable() || !force => {
                let fix = if name.is_immutable() {
                    "a published version never moves; one of the two stores published it from other inputs"
                } else {
                    "push yours first, or pull --force to take the remote's"
                };
                return Err(RemoteError::Conflict {
                    remote: remote.name.clone(),
                    name: name.to_string(),
                    theirs: id.to_hex(),
                    ours: ours.to_hex(),
                    fix,
                });
            }
            ours => moves.push((name.clone(), *id, ours)),
        }
    }
    let counts = fetch_closure(
        local,
        remote,
        chosen.iter().chain(&latest_of).map(|(_, id)| *id),
    )?;
    // Every ref must hold what its name says before any is set here: a version ref a run
    // of that name and version, a model's `latest` a run of that model.
    // A `latest` that lags behind the remote's versions is honest (it is derived here
    // anyway); one that holds anything else is not.
    for (name, id) in chosen.iter().chain(&latest_of) {
        let lie = cairn_spec::check_ref(local, name, *id, &all)?.filter(|m| !m.stale);
        if let Some(mismatch) = lie {
            return Err(RemoteError::MisnamedRef {
                remote: remote.name.clone(),
                mismatch,
            });
        }
    }
    let mut report = Transfer::of(remote, counts);
    report.refs_unchanged = unchanged;
    for (name, id, ours) in moves {
        local.verify_closure(&id)?;
        let expect = match ours {
            Some(old) => Expect::Is(old),
            None => Expect::Absent,
        };
        local.set_ref(&name, id, expect)?;
        report.refs_updated.push(name.to_string());
    }
    for (name, _) in &latest_of {
        let model = name.path().trim_end_matches("/latest");
        let before = local.get_ref(name)?;
        cairn_spec::settle_latest(local, model)?;
        if local.get_ref(name)? != before {
            report.refs_updated.push(name.to_string());
        } else {
            report.refs_unchanged += 1;
        }
    }
    Ok(report)
}

/// `cairn clone <url>`: a new store at `dir` with the remote as `origin`, and everything in it.
pub fn clone(url: &str, dir: &Path) -> Result<(Store, Transfer)> {
    let parsed = RemoteUrl::parse_or_path(url)?;
    let remote = Remote::open("origin", parsed.clone())?;
    remote.ensure_store()?;
    let store = Store::open_or_init(dir)?;
    if !store.list_refs()?.is_empty() {
        return Err(RemoteError::Config {
            path: dir.to_path_buf(),
            reason: "a store with refs is there already: clone into a new folder, or `cairn remote add` and `cairn pull`".into(),
        });
    }
    let report = pull(&store, &remote, &[], false)?;
    // Named once everything is here: a clone that failed can simply be run again.
    match Remotes::load(&store)?.remote.get("origin") {
        Some(have) if have.url == parsed.to_string() => {}
        _ => {
            Remotes::add(&store, "origin", &parsed.to_string())?;
        }
    }
    Ok((store, report))
}

/// A problem `cairn fsck --remote` found.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteProblem {
    pub object: Option<String>,
    pub reference: Option<String>,
    pub problem: String,
}

/// What `cairn fsck --remote` found.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteFsck {
    pub remote: String,
    pub url: String,
    pub objects: u64,
    pub bytes: u64,
    pub refs: u64,
    pub problems: Vec<RemoteProblem>,
}

/// Downloads and re-hashes every object of the remote, and checks that every ref reaches
/// only objects it holds.
pub fn fsck(remote: &Remote) -> Result<RemoteFsck> {
    let backend = remote.backend();
    remote.ensure_store()?;
    let ids: Vec<ObjectId> = {
        let mut v: Vec<ObjectId> = backend.objects()?.into_keys().collect();
        v.sort();
        v
    };
    let problems = Mutex::new(Vec::new());
    let references: Mutex<BTreeMap<ObjectId, Vec<ObjectId>>> = Mutex::new(BTreeMap::new());
    // The name and version of every run manifest, to check that refs hold what they say.
    let runs: Mutex<BTreeMap<ObjectId, (String, String)>> = Mutex::new(BTreeMap::new());
    let bytes = AtomicU64::new(0);
    let damaged = |id: &ObjectId, problem: String| {
        if let Ok(mut p) = problems.lock() {
            p.push(RemoteProblem {
                object: Some(id.to_hex()),
                reference: None,
                problem,
            });
        }
    };
    parallel(&ids, |id| {
        let mut hasher = blake3::Hasher::new();
        let mut head = Vec::new();
        let downloaded = backend.download(id, &mut |chunk| {
            hasher.update(chunk);
            // Whole objects up to a manifest's largest size, so every manifest is followed.
            if head.len() as u64 <= MAX_MANIFEST
                && (!head.is_empty() || chunk.first() == Some(&b'{'))
            {
                head.extend_from_slice(chunk);
            }
            Ok(())
        });
        let size = match downloaded {
            Ok(size) => size,
            // Gone since the listing, or unreadable: a problem to report, not a reason to stop.
            Err(e) => {
                damaged(id, format!("cannot be read: {e}"));
                return Ok(());
            }
        };
        bytes.fetch_add(size, Ordering::Relaxed);
        let actual = ObjectId::from(hasher.finalize());
        if actual != *id {
            damaged(id, format!("its {size} bytes hash to {actual}"));
            return Ok(());
        }
        if size as usize == head.len()
            && let Some((kind, fields)) = cairn_store::manifest::parse(&head)
            && let Ok(mut r) = references.lock()
        {
            let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).map(String::from);
            if kind == "run"
                && let (Some(name), Some(version)) = (text("name"), text("version"))
                && let Ok(mut runs) = runs.lock()
            {
                runs.insert(*id, (name, version));
            }
            r.insert(
                *id,
                cairn_store::manifest::references(&serde_json::Value::Object(fields)),
            );
        }
        Ok(())
    })?;
    let runs = runs.into_inner().unwrap_or_default();
    let mut targets: Vec<(RefName, ObjectId)> = Vec::new();
    let references = references.into_inner().unwrap_or_default();
    let mut problems = problems.into_inner().unwrap_or_default();
    let held: BTreeSet<ObjectId> = ids.iter().copied().collect();
    let names = backend.ref_names()?;
    for name in &names {
        let root = match backend.read_ref(name) {
            Ok(Some((root, _))) => {
                targets.push((name.clone(), root));
                root
            }
            Ok(None) => continue,
            Err(e) => {
                problems.push(RemoteProblem {
                    object: None,
                    reference: Some(name.to_string()),
                    problem: format!("the ref cannot be read: {e}"),
                });
                continue;
            }
        };
        let mut stack = vec![root];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if !held.contains(&id) {
                problems.push(RemoteProblem {
                    object: Some(id.to_hex()),
                    reference: Some(name.to_string()),
                    problem: "missing: the ref reaches it but the remote does not hold it".into(),
                });
                continue;
            }
            stack.extend(references.get(&id).into_iter().flatten().copied());
        }
    }
    // A ref that names a run must hold it (a lagging `latest` is not a lie).
    for (name, root) in &targets {
        let lie = cairn_spec::check_ref_with(name, *root, &targets, &mut |id| {
            Ok::<_, std::convert::Infallible>(runs.get(id).cloned())
        });
        if let Ok(Some(m)) = lie
            && !m.stale
        {
            problems.push(RemoteProblem {
                object: Some(root.to_hex()),
                reference: Some(name.to_string()),
                problem: format!("{m} (forged or mistaken: restore the ref from a trusted store)"),
            });
        }
    }
    problems.sort_by(|a, b| (&a.reference, &a.object).cmp(&(&b.reference, &b.object)));
    Ok(RemoteFsck {
        remote: remote.name.clone(),
        url: remote.url.to_string(),
        objects: ids.len() as u64,
        bytes: bytes.into_inner(),
        refs: names.len() as u64,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            RemoteUrl::parse("s3://team-models/cairn/prod").expect("s3"),
            RemoteUrl::S3 {
                bucket: "team-models".into(),
                prefix: "cairn/prod".into()
            }
        );
        assert_eq!(
            RemoteUrl::parse("file:///mnt/share/store").expect("file"),
            RemoteUrl::File("/mnt/share/store".into())
        );
        for bad in [
            "s3://A/x",
            "s3://ab",
            "file://relative",
            "http://x",
            "s3://bucket/../x",
        ] {
            let err = RemoteUrl::parse(bad).expect_err(bad).to_string();
            assert!(
                err.contains("write s3://bucket/prefix or file:///path"),
                "{err}"
            );
        }
        assert_eq!(
            RemoteUrl::parse("s3://bucket/p/").expect("s3").to_string(),
            "s3://bucket/p"
        );
    }
}
