use std::io;
use std::path::PathBuf;

use crate::canonical::CanonicalError;
use crate::id::ObjectId;
use crate::refname::RefName;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem call failed; `path` is what it was about.
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The folder is not a cairn store.
    #[error(
        "no cairn store at `{0}` (run `cairn add <file>` to create one there, or pass --store <dir>)"
    )]
    NotAStore(PathBuf),
    /// The folder holds files but no store marker: it is not made a store implicitly.
    #[error(
        "`{0}` is not empty and is not a cairn store (it has no CAIRN_STORE marker); run `cairn init {0}` to make it one, or pass --store <an empty or new folder>"
    )]
    NotEmpty(PathBuf),
    /// The store marker names a format this cairn does not read.
    #[error(
        "the store at `{path}` is format {found}; this cairn reads format {supported} (use a cairn that reads format {found})"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    /// The store marker is not a marker.
    #[error(
        "`{path}` is not a cairn store marker (it holds `{content}`); restore it (it reads `cairn store, format 1`) or point --store at the right folder"
    )]
    BadMarker { path: PathBuf, content: String },
    /// No object with this id.
    #[error("object {0} is not in the store")]
    NotFound(ObjectId),
    /// Bytes received for one id hash to another: refused, nothing stored.
    #[error(
        "received {size} bytes for object {expected} that hash to {actual}: refused, nothing was stored (the source's copy is damaged or was tampered with)"
    )]
    Mismatch {
        expected: ObjectId,
        actual: ObjectId,
        size: u64,
    },
    /// An object's bytes no longer hash to its name: it was corrupted or tampered with.
    #[error(
        "object {id} at `{path}` is corrupt: its content hashes to {actual} (restore it, or run `cairn fsck` to list every damaged object)"
    )]
    Corrupt {
        id: ObjectId,
        path: PathBuf,
        actual: ObjectId,
    },
    /// A manifest could not be encoded canonically.
    #[error("cannot encode manifest: {0}")]
    Canonical(#[from] CanonicalError),
    /// An object that should be a manifest of some kind is not.
    #[error("object {id} is not a `{expected}` manifest: {reason}")]
    NotAManifest {
        id: ObjectId,
        expected: String,
        reason: String,
    },
    /// A compare-and-swap on a ref lost: someone else moved it first.
    #[error(
        "ref `{name}` changed concurrently: expected {expected}, found {found} (re-read it and try again)"
    )]
    RefConflict {
        name: RefName,
        expected: String,
        found: String,
    },
    /// A published `name@version` may not be moved or deleted.
    #[error(
        "ref `{name}` is a published version and already points to {current}; it cannot be moved to {new} (publish a new version instead)"
    )]
    ImmutableRef {
        name: RefName,
        current: ObjectId,
        new: String,
    },
    /// `gc` cannot read everything a ref reaches, so it cannot tell what is garbage.
    #[error(
        "gc refused: ref `{name}` reaches object {object}, which is {problem}; what it references cannot be known, so nothing was deleted (run `cairn fsck`, restore the object or delete the ref, or pass --force-broken-refs to sweep anyway and lose what only it referenced)"
    )]
    BrokenRef {
        name: RefName,
        object: ObjectId,
        problem: String,
    },
    /// A store folder caching a store elsewhere, opened by a program that cannot reach it.
    #[error(
        "`{path}` caches the store at {url}, which this program cannot open (use the cairn binary, or install an opener with `cairn_store::upstream::set_opener`)"
    )]
    NoOpener { url: String, path: PathBuf },
    /// The upstream has no store marker.
    #[error(
        "no cairn store at {url} (run `cairn init --store {url}` to create one there, or push a store to it)"
    )]
    UpstreamNotAStore { url: String },
    /// A cache folder bound to one upstream, asked to cache another.
    #[error(
        "`{path}` caches {have}, not {url} (give the other store its own cache folder with CAIRN_CACHE)"
    )]
    OtherUpstream {
        path: PathBuf,
        have: String,
        url: String,
    },
    /// gc on a store whose objects are shared with other machines.
    #[error(
        "gc does not sweep {url}: other machines write to it without this machine's lock (to free local space, delete its cache folder `{cache}`)"
    )]
    UpstreamGc { url: String, cache: PathBuf },
    /// The upstream's backends failed.
    #[error("{0}")]
    Upstream(String),
    /// A ref file that does not hold an object id.
    #[error("ref file `{path}` is damaged: {reason}")]
    BadRef { path: PathBuf, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches the action and path to an `io::Error`, cargo-style.
pub(crate) trait IoContext<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
