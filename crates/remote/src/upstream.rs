//! A remote's backends behind a [`Store`]: what `cairn --store s3://bucket/prefix` opens, so
//! every command runs on the store in object storage, the local folder only its cache (see
//! `cairn_store::upstream`).

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_store::upstream::{ObjectBackend, RefBackend, Upstream};
use cairn_store::{Expect, ObjectId, RefName, RefUpdate, Store, StoreError, check_ref_update};

use crate::{Backend, RemoteError, RemoteUrl, WriteRef};

/// Lets `Store::open` reach stores named by URL (`s3://…`, `file://…`) in this process.
pub fn install() {
    cairn_store::upstream::set_opener(open);
}

fn open(url: &str) -> cairn_store::Result<Upstream> {
    let remote = crate::Remote::open("upstream", RemoteUrl::parse(url).map_err(into_store)?)
        .map_err(into_store)?;
    let backends = Arc::new(Backends {
        backend: remote.backend,
    });
    Ok(Upstream::new(url.to_string(), backends.clone(), backends))
}

/// A remote error as the store reports it: its own errors unchanged, the rest on one line.
fn into_store(e: RemoteError) -> StoreError {
    match e {
        RemoteError::Store(e) => e,
        RemoteError::MissingObject { id } => StoreError::NotFound(id),
        e => {
            let mut line = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !line.contains(&text) {
                    line = format!("{line}: {text}");
                }
                source = cause.source();
            }
            StoreError::Upstream(cairn_store::one_line(&line).into_owned())
        }
    }
}

struct Backends {
    backend: Box<dyn Backend>,
}

impl ObjectBackend for Backends {
    fn is_store(&self) -> cairn_store::Result<bool> {
        self.backend.is_store().map_err(into_store)
    }

    fn mark(&self) -> cairn_store::Result<()> {
        self.backend.mark().map_err(into_store)
    }

    fn list(&self) -> cairn_store::Result<BTreeMap<ObjectId, u64>> {
        Ok(self
            .backend
            .objects()
            .map_err(into_store)?
            .into_iter()
            .collect())
    }

    fn stat(&self, id: &ObjectId) -> cairn_store::Result<Option<u64>> {
        self.backend.stat(id).map_err(into_store)
    }

    fn send(&self, local: &Store, id: &ObjectId) -> cairn_store::Result<()> {
        self.backend.upload(local, id).map_err(into_store)?;
        Ok(())
    }

    fn fetch(
        &self,
        id: &ObjectId,
        sink: &mut dyn FnMut(&[u8]) -> cairn_store::Result<()>,
    ) -> cairn_store::Result<u64> {
        self.backend
            .download(id, &mut |bytes| sink(bytes).map_err(RemoteError::from))
            .map_err(into_store)
    }
}

/// How often a ref update re-reads and retries after another writer moved the ref.
const RACES: usize = 8;

impl RefBackend for Backends {
    fn get(&self, name: &RefName) -> cairn_store::Result<Option<ObjectId>> {
        Ok(self
            .backend
            .read_ref(name)
            .map_err(into_store)?
            .map(|(id, _)| id))
    }

    /// Read, check, then write by compare-and-swap against what was read; a lost race is
    /// checked again against what the ref holds now (so `Expect::Any` retries, and an
    /// expectation another writer broke is a conflict naming what it found).
    fn set(&self, name: &RefName, new: ObjectId, expect: Expect) -> cairn_store::Result<RefUpdate> {
        for _ in 0..RACES {
            let seen = self.backend.read_ref(name).map_err(into_store)?;
            let old = seen.as_ref().map(|(id, _)| *id);
            check_ref_update(name, old, Some(new), expect)?;
            if old == Some(new) {
                return Ok(RefUpdate { old, new });
            }
            let written = self
                .backend
                .write_ref(name, &new, seen.as_ref().map(|(_, s)| s))
                .map_err(into_store)?;
            if let WriteRef::Written = written {
                return Ok(RefUpdate { old, new });
            }
        }
        Err(busy(name))
    }

    fn delete(&self, name: &RefName, expect: Expect) -> cairn_store::Result<Option<ObjectId>> {
        for _ in 0..RACES {
            let seen = self.backend.read_ref(name).map_err(into_store)?;
            let old = seen.as_ref().map(|(id, _)| *id);
            check_ref_update(name, old, None, expect)?;
            let Some((_, seen)) = seen else {
                return Ok(None);
            };
            let deleted = self.backend.delete_ref(name, &seen).map_err(into_store)?;
            if let WriteRef::Written = deleted {
                return Ok(old);
            }
        }
        Err(busy(name))
    }

    fn list(&self) -> cairn_store::Result<Vec<(RefName, ObjectId)>> {
        let mut refs = Vec::new();
        for name in self.backend.ref_names().map_err(into_store)? {
            if let Some((id, _)) = self.backend.read_ref(&name).map_err(into_store)? {
                refs.push((name, id));
            }
        }
        Ok(refs)
    }
}

fn busy(name: &RefName) -> StoreError {
    StoreError::RefConflict {
        name: name.clone(),
        expected: "a moment without other writers".into(),
        found: format!("it moved {RACES} times while this update was tried"),
    }
}
