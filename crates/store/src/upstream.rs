//! A store whose objects and refs live elsewhere: an **object backend** and a **ref backend**
//! behind the same [`Store`] API, with the store's folder as a verified cache.
//!
//! The folder of such a store is a local store like any other, plus a file `UPSTREAM` naming
//! where the store really is (`s3://bucket/prefix`). Opening it opens the backends through
//! the [`Opener`] the program installed ([`set_opener`]; the `cairn` binary installs the
//! remote crate's, which speaks S3 through `object_store`); this crate stays free of network
//! code. Then:
//!
//! - a read of an object the folder lacks streams it from the object backend into the
//!   folder, re-hashed on arrival (bytes that do not hash to the name are refused, nothing is
//!   stored);
//! - a put stores the object in the folder, then sends it to the object backend with
//!   whatever it references that the backend lacks, children before the manifests naming
//!   them; setting a ref does the same for its target first, so the backend never holds a
//!   manifest or a ref whose objects are missing;
//! - refs are read and swapped on the ref backend only (compare-and-swap through the service's
//!   conditional writes), so every machine sees the same refs and a published
//!   `name@version` never moves there either.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{IoContext, Result, StoreError};
use crate::refs::{Expect, RefUpdate};
use crate::{ObjectId, RefName, Store};

/// The file in a store folder naming the store it caches.
pub const UPSTREAM: &str = "UPSTREAM";

/// Where a store's objects live. Names and bytes are those of a store folder.
pub trait ObjectBackend: Send + Sync {
    /// Whether it carries the store marker.
    fn is_store(&self) -> Result<bool>;
    /// Writes the store marker (nothing when it is there).
    fn mark(&self) -> Result<()>;
    /// Every object it holds, with its size (a listing: nothing is read).
    fn list(&self) -> Result<BTreeMap<ObjectId, u64>>;
    /// The object's size, if it holds it.
    fn stat(&self, id: &ObjectId) -> Result<Option<u64>>;
    /// Sends an object of `local` (read through it, verified).
    fn send(&self, local: &Store, id: &ObjectId) -> Result<()>;
    /// Streams an object's bytes into `sink`; [`StoreError::NotFound`] when it is absent.
    fn fetch(&self, id: &ObjectId, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64>;
}

/// Where a store's refs live: read, swapped and listed there, with the rules of
/// [`check_ref_update`].
pub trait RefBackend: Send + Sync {
    fn get(&self, name: &RefName) -> Result<Option<ObjectId>>;
    /// Compare-and-swap; a lost race is [`StoreError::RefConflict`].
    fn set(&self, name: &RefName, new: ObjectId, expect: Expect) -> Result<RefUpdate>;
    fn delete(&self, name: &RefName, expect: Expect) -> Result<Option<ObjectId>>;
    fn list(&self) -> Result<Vec<(RefName, ObjectId)>>;
}

/// The backends of a store that lives elsewhere.
#[derive(Clone)]
pub struct Upstream {
    /// Where it is, as the user wrote it (`s3://bucket/prefix`).
    pub url: String,
    pub objects: Arc<dyn ObjectBackend>,
    pub refs: Arc<dyn RefBackend>,
    /// Objects known to be there already (saves asking again).
    known: Arc<Mutex<HashSet<ObjectId>>>,
    /// Objects known to be there with everything they reach.
    complete: Arc<Mutex<HashSet<ObjectId>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("url", &self.url).finish()
    }
}

impl Upstream {
    pub fn new(url: String, objects: Arc<dyn ObjectBackend>, refs: Arc<dyn RefBackend>) -> Self {
        Upstream {
            url,
            objects,
            refs,
            known: Arc::default(),
            complete: Arc::default(),
        }
    }

    fn knows(&self, id: &ObjectId) -> bool {
        self.known.lock().map(|k| k.contains(id)).unwrap_or(false)
    }

    fn is_complete(&self, id: &ObjectId) -> bool {
        self.complete
            .lock()
            .map(|c| c.contains(id))
            .unwrap_or(false)
    }

    pub(crate) fn learn(&self, ids: impl IntoIterator<Item = ObjectId>) {
        if let Ok(mut known) = self.known.lock() {
            known.extend(ids);
        }
    }

    /// Whether the backend holds `id`.
    pub(crate) fn holds(&self, id: &ObjectId) -> Result<bool> {
        if self.knows(id) {
            return Ok(true);
        }
        let held = self.objects.stat(id)?.is_some();
        if held {
            self.learn([*id]);
        }
        Ok(held)
    }

    /// Which of `ids` the backend holds: asked one by one when they are few, else listed.
    fn held(&self, ids: &[ObjectId]) -> Result<BTreeSet<ObjectId>> {
        if ids.len() <= ASK_ONE_BY_ONE {
            let mut held = BTreeSet::new();
            for id in ids {
                if self.holds(id)? {
                    held.insert(*id);
                }
            }
            return Ok(held);
        }
        let listed = self.objects.list()?;
        self.learn(listed.keys().copied());
        Ok(ids
            .iter()
            .filter(|id| listed.contains_key(id))
            .copied()
            .collect())
    }

    /// Makes sure the backend holds `root` and everything it reaches, sending what it lacks
    /// from `local`, each object after every object it names. The walk covers the whole local
    /// closure (an object the backend holds may still reach one it lacks, left by a put that
    /// was killed before its upload); objects `local` lacks must already be on the backend
    /// and are not descended. `force_root` sends `root` even when the backend holds it (a
    /// repair replaces a damaged copy there).
    pub(crate) fn send_closure(
        &self,
        local: &Store,
        root: &ObjectId,
        force_root: bool,
    ) -> Result<()> {
        if !force_root && self.is_complete(root) {
            return Ok(());
        }
        let mut order = Vec::new();
        let mut elsewhere = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![(*root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                order.push(id);
                continue;
            }
            if !seen.insert(id) || (id != *root && self.is_complete(&id)) {
                continue;
            }
            if !local.has_local(&id) {
                elsewhere.push(id);
                continue;
            }
            stack.push((id, true));
            if let Some((_, fields)) = local.sniff_manifest(&id)? {
                for child in crate::manifest::references(&serde_json::Value::Object(fields)) {
                    stack.push((child, false));
                }
            }
        }
        let ask: Vec<ObjectId> = order
            .iter()
            .chain(&elsewhere)
            .filter(|id| !self.knows(id))
            .copied()
            .collect();
        let held = self.held(&ask)?;
        if let Some(missing) = elsewhere
            .iter()
            .find(|id| !self.knows(id) && !held.contains(id))
        {
            return Err(StoreError::NotFound(*missing));
        }
        for id in &order {
            let there = self.knows(id) || held.contains(id);
            if !there || (force_root && id == root) {
                self.objects.send(local, id)?;
                self.learn([*id]);
            }
        }
        if let Ok(mut complete) = self.complete.lock() {
            complete.extend(order.into_iter().chain(elsewhere));
        }
        Ok(())
    }
}

/// Up to this many objects are looked up one by one; more, and the backend is listed.
const ASK_ONE_BY_ONE: usize = 16;

/// Opens the backends of a store at a URL.
pub type Opener = fn(url: &str) -> Result<Upstream>;

static OPENER: OnceLock<Opener> = OnceLock::new();

/// Installs how URLs are opened (once per process; later calls are ignored).
pub fn set_opener(opener: Opener) {
    let _ = OPENER.set(opener);
}

/// The URL a store folder caches, if it is such a folder.
pub fn upstream_url(root: &Path) -> Result<Option<String>> {
    let path = root.join(UPSTREAM);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("failed to read", &path),
    }
}

/// Opens the backends named by the folder's `UPSTREAM`, if it has one. `init` marks a
/// backend that is not a store yet (as a new folder is made one); otherwise one without the
/// marker is refused.
pub(crate) fn attach(root: &Path, init: bool) -> Result<Option<Upstream>> {
    let Some(url) = upstream_url(root)? else {
        return Ok(None);
    };
    let opener = OPENER.get().ok_or_else(|| StoreError::NoOpener {
        url: url.clone(),
        path: root.to_path_buf(),
    })?;
    let upstream = opener(&url)?;
    if init {
        upstream.objects.mark()?;
    } else if !upstream.objects.is_store()? {
        return Err(StoreError::UpstreamNotAStore { url });
    }
    Ok(Some(upstream))
}

/// Makes `root` the cache of the store at `url`: a local store whose `UPSTREAM` names it.
/// A folder caching another URL is refused.
pub fn bind(root: &Path, url: &str) -> Result<()> {
    if let Some(have) = upstream_url(root)? {
        if have == url {
            return Ok(());
        }
        return Err(StoreError::OtherUpstream {
            path: root.to_path_buf(),
            have,
            url: url.to_string(),
        });
    }
    crate::init_folder(root)?;
    let path = root.join(UPSTREAM);
    crate::write_atomic(&path, |w| {
        std::io::Write::write_all(w, format!("{url}\n").as_bytes())
    })
    .ctx("failed to write", &path)
}
