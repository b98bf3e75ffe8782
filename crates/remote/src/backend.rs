//! Where a remote keeps a store: S3-compatible object storage, or a cairn store folder on a
//! shared mount. Both hold the same names — `CAIRN_STORE`, `objects/ab/abcdef…`,
//! `refs/<name with / as %2F>` holding `"<hex>\n"` — and the same bytes.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_store::{Expect, ObjectId, RefName, Store, StoreError};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::{RemoteError, Result};

/// What a ref held when it was read: the CAS token of the next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The object storage's entity tag.
    ETag(String),
    /// The folder store's value (its refs are swapped under its own lock).
    Id(ObjectId),
}

/// A ref write that lost a race: what the ref holds now.
#[derive(Debug)]
pub enum WriteRef {
    Written,
    Conflict(Option<ObjectId>),
}

/// Objects at least this large go up in parts.
const MULTIPART: u64 = 16 << 20;
/// The size of each part.
const PART: usize = 8 << 20;

pub trait Backend: Send + Sync {
    /// Every object the remote holds, with its size (a listing: no object is read).
    fn objects(&self) -> Result<HashMap<ObjectId, u64>>;
    /// The object's size, if the remote holds it.
    fn stat(&self, id: &ObjectId) -> Result<Option<u64>>;
    /// Sends a verified local object.
    fn upload(&self, local: &Store, id: &ObjectId) -> Result<u64>;
    /// Streams an object's bytes into `sink`; returns how many there were.
    fn download(&self, id: &ObjectId, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64>;
    fn read_ref(&self, name: &RefName) -> Result<Option<(ObjectId, Seen)>>;
    /// Points `name` at `id` if it still holds what was `seen` (absent: it must not exist).
    fn write_ref(&self, name: &RefName, id: &ObjectId, seen: Option<&Seen>) -> Result<WriteRef>;
    /// Deletes `name` if it still holds what was `seen`.
    fn delete_ref(&self, name: &RefName, seen: &Seen) -> Result<WriteRef>;
    fn ref_names(&self) -> Result<Vec<RefName>>;
    /// Whether the remote is marked as a cairn store.
    fn is_store(&self) -> Result<bool>;
    /// Marks it as one (nothing when it is).
    fn mark(&self) -> Result<()>;
}

fn parse_ref(bytes: &[u8], what: &str) -> Result<ObjectId> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| RemoteError::BadRemoteRef {
            what: what.to_string(),
        })
}

/// A cairn store folder (`file://` on a shared mount): written through its own store code,
/// so every object is hash-checked on the way in and refs swap under its lock. Only a push
/// makes the store ([`Backend::mark`]); anything else on a folder that is not one (a typo, a
/// share that is not mounted) is refused.
pub struct Folder {
    path: PathBuf,
    store: std::sync::OnceLock<Store>,
}

impl Folder {
    pub fn open(path: PathBuf) -> Result<Self> {
        Ok(Folder {
            path,
            store: std::sync::OnceLock::new(),
        })
    }

    fn store(&self) -> Result<&Store> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = Store::open(&self.path).map_err(|e| match e {
            StoreError::NotAStore(_) => RemoteError::NotAStore {
                url: format!("file://{}", self.path.display()),
                reason: format!("it has no {} (a push makes one)", cairn_store::MARKER),
            },
            e => e.into(),
        })?;
        Ok(self.store.get_or_init(|| store))
    }
}

impl Backend for Folder {
    fn objects(&self) -> Result<HashMap<ObjectId, u64>> {
        let mut out = HashMap::new();
        // A folder that is no store yet holds nothing (a push makes it one).
        if !self.is_store()? {
            return Ok(out);
        }
        for id in self.store()?.list_objects()? {
            out.insert(id, self.store()?.size(&id)?);
        }
        Ok(out)
    }

    fn stat(&self, id: &ObjectId) -> Result<Option<u64>> {
        if !self.is_store()? {
            return Ok(None);
        }
        match self.store()?.size(id) {
            Ok(size) => Ok(Some(size)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn upload(&self, local: &Store, id: &ObjectId) -> Result<u64> {
        let (mut file, _) = local.open_object(id)?;
        let mut incoming = self.store()?.incoming(*id)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| RemoteError::Io {
                what: format!("object {id}"),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            incoming.write(&buf[..n])?;
        }
        Ok(incoming.finish()?.size)
    }

    fn download(&self, id: &ObjectId, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        let path = self.store()?.object_path(id);
        let mut file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RemoteError::MissingObject { id: *id },
            _ => RemoteError::Io {
                what: path.display().to_string(),
                source: e,
            },
        })?;
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0;
        loop {
            let n = file.read(&mut buf).map_err(|e| RemoteError::Io {
                what: path.display().to_string(),
                source: e,
            })?;
            if n == 0 {
                return Ok(size);
            }
            sink(&buf[..n])?;
            size += n as u64;
        }
    }

    fn read_ref(&self, name: &RefName) -> Result<Option<(ObjectId, Seen)>> {
        if !self.is_store()? {
            return Ok(None);
        }
        Ok(self.store()?.get_ref(name)?.map(|id| (id, Seen::Id(id))))
    }

    fn write_ref(&self, name: &RefName, id: &ObjectId, seen: Option<&Seen>) -> Result<WriteRef> {
        let expect = match seen {
            None => Expect::Absent,
            Some(Seen::Id(old)) => Expect::Is(*old),
            Some(Seen::ETag(_)) => Expect::Absent,
        };
        match self.store()?.set_ref(name, *id, expect) {
            Ok(_) => Ok(WriteRef::Written),
            Err(StoreError::RefConflict { .. } | StoreError::ImmutableRef { .. }) => {
                Ok(WriteRef::Conflict(self.store()?.get_ref(name)?))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn delete_ref(&self, name: &RefName, seen: &Seen) -> Result<WriteRef> {
        let Seen::Id(old) = seen else {
            return Ok(WriteRef::Conflict(self.store()?.get_ref(name)?));
        };
        match self.store()?.delete_ref(name, Expect::Is(*old)) {
            Ok(_) => Ok(WriteRef::Written),
            Err(StoreError::RefConflict { .. }) => {
                Ok(WriteRef::Conflict(self.store()?.get_ref(name)?))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn ref_names(&self) -> Result<Vec<RefName>> {
        if !self.is_store()? {
            return Ok(Vec::new());
        }
        Ok(self
            .store()?
            .list_refs()?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    fn is_store(&self) -> Result<bool> {
        Ok(self.path.join(cairn_store::MARKER).is_file())
    }

    fn mark(&self) -> Result<()> {
        if self.store.get().is_none() {
            let store = Store::open_or_init(&self.path)?;
            let _ = self.store.set(store);
        }
        Ok(())
    }
}

/// A store on S3-compatible object storage, through `object_store`.
pub struct S3 {
    store: AmazonS3,
    prefix: String,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl S3 {
    pub fn open(bucket: &str, prefix: &str, url: &str) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && let Some(profile) = crate::credentials::profile()?
        {
            builder = builder
                .with_access_key_id(profile.access_key_id)
                .with_secret_access_key(profile.secret_access_key);
            if let Some(token) = profile.session_token {
                builder = builder.with_token(token);
            }
        }
        // The environment's region wins; else the profile's (~/.aws/config).
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            && let Some(region) = crate::credentials::region()
        {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(|e| RemoteError::S3 {
            url: url.to_string(),
            what: "configure the client".into(),
            source: e,
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Io {
                what: "the I/O runtime".into(),
                source: e,
            })?;
        Ok(S3 {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            url: url.to_string(),
            runtime,
        })
    }

    /// The key of `rest` under the prefix, spelled exactly as in a store folder (a ref's
    /// `%2F` stays as it is: `Key::from` would encode the `%`).
    fn key(&self, rest: &str) -> Key {
        let full = if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        };
        // The prefix was checked when the URL was parsed, and names are of known charsets.
        Key::parse(&full).unwrap_or_else(|_| Key::from(full))
    }

    fn object_key(&self, id: &ObjectId) -> Key {
        let hex = id.to_hex();
        self.key(&format!("objects/{}/{hex}", &hex[..2]))
    }

    fn ref_key(&self, name: &RefName) -> Key {
        self.key(&format!("refs/{}", name.file_name()))
    }

    fn err(&self, what: impl Into<String>) -> impl Fn(object_store::Error) -> RemoteError + '_ {
        let what = what.into();
        move |source| RemoteError::S3 {
            url: self.url.clone(),
            what: what.clone(),
            source,
        }
    }
}

/// A multipart upload in progress, journaled in the local store
/// (`uploads/<remote>/<object>.json`) after every part, so a push killed inside a large
/// object resumes at its missing parts instead of sending the object again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Journal {
    upload: String,
    size: u64,
    part_size: u64,
    /// Part index → the service's id of the part (its ETag).
    parts: std::collections::BTreeMap<usize, String>,
}

/// Removes a journal, and the temp files of journal writes a kill interrupted.
fn forget_journal(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let temp = format!(".{name}.");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|f| f.starts_with(&temp))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// How many parts of one object travel at once.
const PARTS_IN_FLIGHT: usize = 4;

impl S3 {
    /// Locks the journal of `id`'s upload for this process (`<object>.lock`, kept: removing a
    /// lock file another process waits on would let a third in), so two processes sending
    /// the same object never resume, abort or rewrite each other's upload.
    fn lock_journal(&self, local: &Store, id: &ObjectId) -> Result<std::fs::File> {
        let path = self.journal_path(local, id).with_extension("lock");
        let io = |e| RemoteError::Io {
            what: path.display().to_string(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    fn journal_path(&self, local: &Store, id: &ObjectId) -> PathBuf {
        let remote = ObjectId::of(self.url.as_bytes()).to_hex();
        local
            .root()
            .join("uploads")
            .join(&remote[..16])
            .join(format!("{}.json", id.to_hex()))
    }

    /// Replaces the journal (temp file, then rename: a kill leaves the old one or the new).
    /// Not fsynced: it is a hint written after every part, and one lost to a power cut only
    /// means its parts are sent again.
    fn save_journal(path: &std::path::Path, journal: &Journal) -> Result<()> {
        let io = |e| RemoteError::Io {
            what: path.display().to_string(),
            source: e,
        };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io(std::io::Error::other("not a journal path")));
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let bytes = serde_json::to_vec(journal).map_err(|e| io(e.into()))?;
        let temp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&temp, bytes).map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)
    }

    /// Sends a large object in parts, resuming the upload a killed push left (its journal
    /// names the upload and the parts the service holds). Returns the bytes sent this time.
    async fn upload_parts(
        &self,
        local: &Store,
        id: &ObjectId,
        key: &Key,
        file: &std::fs::File,
        size: u64,
    ) -> Result<u64> {
        let path = self.journal_path(local, id);
        // Another process may have sent it while this one waited for the journal's lock.
        if self.store.head(key).await.is_ok() {
            return Ok(0);
        }
        let journal = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Journal>(&b).ok());
        match journal {
            Some(journal) if journal.size == size && journal.part_size == PART as u64 => {
                let upload = journal.upload.clone();
                match self.send_parts(id, key, file, &path, journal).await {
                    // The service dropped the upload (expired, aborted): start again.
                    Err(RemoteError::S3 {
                        source: object_store::Error::NotFound { .. },
                        ..
                    }) => {
                        let _ = self.store.abort_multipart(key, &upload).await;
                        forget_journal(&path);
                    }
                    // Sent, or failed with the journal kept for the next push.
                    done => return done,
                }
            }
            // A journal of other parts: its upload is of no use.
            Some(stale) => {
                let _ = self.store.abort_multipart(key, &stale.upload).await;
                forget_journal(&path);
            }
            None => {}
        }
        let upload = self
            .store
            .create_multipart(key)
            .await
            .map_err(self.err(format!("start uploading {key}")))?;
        let journal = Journal {
            upload,
            size,
            part_size: PART as u64,
            parts: Default::default(),
        };
        Self::save_journal(&path, &journal)?;
        self.send_parts(id, key, file, &path, journal).await
    }

    /// Sends the parts `journal` lacks, journaling each, then completes the upload. When the
    /// service fails the journal stays (the next push resumes); a local read error aborts
    /// the upload. The caller holds the journal's lock.
    async fn send_parts(
        &self,
        id: &ObjectId,
        key: &Key,
        file: &std::fs::File,
        path: &std::path::Path,
        journal: Journal,
    ) -> Result<u64> {
        use std::os::unix::fs::FileExt;
        let size = journal.size;
        let count = size.div_ceil(PART as u64) as usize;
        let todo: Vec<usize> = (0..count)
            .filter(|i| !journal.parts.contains_key(i))
            .collect();
        let upload = journal.upload.clone();
        let journal = std::sync::Mutex::new(journal);
        let poisoned = || RemoteError::Io {
            what: path.display().to_string(),
            source: std::io::Error::other("the journal's lock was poisoned"),
        };
        let sent = AtomicU64::new(0);
        let unreadable = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<Result<()>> = futures::stream::iter(todo)
            .map(|index| {
                let (journal, sent, upload, unreadable) = (&journal, &sent, &upload, &unreadable);
                async move {
                    let offset = (index * PART) as u64;
                    let len = (size - offset).min(PART as u64) as usize;
                    let mut bytes = vec![0u8; len];
                    file.read_exact_at(&mut bytes, offset).map_err(|e| {
                        unreadable.store(true, Ordering::Relaxed);
                        RemoteError::Io {
                            what: format!("object {id}"),
                            source: e,
                        }
                    })?;
                    // A task of its own, so parts are signed and sent on the runtime's
                    // threads in parallel, not all on this one.
                    let (service, part_key, part_upload) =
                        (self.store.clone(), key.clone(), upload.clone());
                    let part = tokio::spawn(async move {
                        service
                            .put_part(&part_key, &part_upload, index, PutPayload::from(bytes))
                            .await
                    })
                    .await
                    .map_err(|e| RemoteError::Io {
                        what: format!("upload part {index} of {key}"),
                        source: std::io::Error::other(e),
                    })?
                    .map_err(self.err(format!("upload part {index} of {key}")))?;
                    sent.fetch_add(len as u64, Ordering::Relaxed);
                    let mut journal = journal.lock().map_err(|_| poisoned())?;
                    journal.parts.insert(index, part.content_id);
                    Self::save_journal(path, &journal)
                }
            })
            .buffer_unordered(PARTS_IN_FLIGHT)
            .collect()
            .await;
        if let Some(e) = results.into_iter().find_map(|r| r.err()) {
            // The local object cannot be read: nothing to resume.
            if unreadable.into_inner() {
                let _ = self.store.abort_multipart(key, &upload).await;
                forget_journal(path);
            }
            return Err(e);
        }
        let parts: Vec<PartId> = journal
            .into_inner()
            .map_err(|_| poisoned())?
            .parts
            .into_values()
            .map(|content_id| PartId { content_id })
            .collect();
        self.store
            .complete_multipart(key, &upload, parts)
            .await
            .map_err(self.err(format!("finish uploading {key}")))?;
        forget_journal(path);
        Ok(sent.into_inner())
    }
}

impl Backend for S3 {
    fn objects(&self) -> Result<HashMap<ObjectId, u64>> {
        let prefix = self.key("objects");
        self.runtime.block_on(async {
            let mut found = HashMap::new();
            let mut list = self.store.list(Some(&prefix));
            while let Some(meta) = list.next().await {
                let meta = meta.map_err(self.err("list objects"))?;
                if let Some(id) = meta
                    .location
                    .filename()
                    .and_then(|f| f.parse::<ObjectId>().ok())
                {
                    found.insert(id, meta.size);
                }
            }
            Ok(found)
        })
    }

    fn stat(&self, id: &ObjectId) -> Result<Option<u64>> {
        let key = self.object_key(id);
        match self.runtime.block_on(self.store.head(&key)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(format!("look up {key}"))(e)),
        }
    }

    fn upload(&self, local: &Store, id: &ObjectId) -> Result<u64> {
        let key = self.object_key(id);
        let (mut file, size) = local.open_object(id)?;
        let read_err = |e| RemoteError::Io {
            what: format!("object {id}"),
            source: e,
        };
        self.runtime.block_on(async {
            if size < MULTIPART {
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes).map_err(read_err)?;
                self.store
                    .put(&key, PutPayload::from(bytes))
                    .await
                    .map_err(self.err(format!("upload {key}")))?;
                return Ok(size);
            }
            let _lock = self.lock_journal(local, id)?;
            self.upload_parts(local, id, &key, &file, size).await
        })
    }

    fn download(&self, id: &ObjectId, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        let key = self.object_key(id);
        self.runtime.block_on(async {
            let got = match self.store.get(&key).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(RemoteError::MissingObject { id: *id });
                }
                Err(e) => return Err(self.err(format!("download {key}"))(e)),
            };
            let mut stream = got.into_stream();
            let mut size = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(self.err(format!("download {key}")))?;
                sink(&chunk)?;
                size += chunk.len() as u64;
            }
            Ok(size)
        })
    }

    fn read_ref(&self, name: &RefName) -> Result<Option<(ObjectId, Seen)>> {
        let key = self.ref_key(name);
        self.runtime.block_on(async {
            let got = match self.store.get(&key).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.err(format!("read ref {name}"))(e)),
            };
            // Without an entity tag no write could be conditional on this read.
            let etag = got.meta.e_tag.clone().ok_or_else(|| RemoteError::NoETag {
                url: self.url.clone(),
                name: name.to_string(),
            })?;
            let bytes = got
                .bytes()
                .await
                .map_err(self.err(format!("read ref {name}")))?;
            let id = parse_ref(&bytes, &format!("ref `{name}` on {}", self.url))?;
            Ok(Some((id, Seen::ETag(etag))))
        })
    }

    fn write_ref(&self, name: &RefName, id: &ObjectId, seen: Option<&Seen>) -> Result<WriteRef> {
        let key = self.ref_key(name);
        let mode = match seen {
            None => PutMode::Create,
            Some(Seen::ETag(e_tag)) => PutMode::Update(UpdateVersion {
                e_tag: Some(e_tag.clone()),
                version: None,
            }),
            Some(Seen::Id(_)) => PutMode::Create,
        };
        let payload = PutPayload::from(format!("{}\n", id.to_hex()).into_bytes());
        let written = self.runtime.block_on(self.store.put_opts(
            &key,
            payload,
            PutOptions {
                mode,
                ..PutOptions::default()
            },
        ));
        match written {
            Ok(_) => Ok(WriteRef::Written),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(WriteRef::Conflict(self.read_ref(name)?.map(|(id, _)| id))),
            Err(e) => Err(self.err(format!("write ref {name}"))(e)),
        }
    }

    /// S3 has no conditional delete here: the ref is re-read just before, so only a writer
    /// racing within that moment can be lost (mutable refs only; versions are never deleted).
    fn delete_ref(&self, name: &RefName, seen: &Seen) -> Result<WriteRef> {
        match self.read_ref(name)? {
            Some((_, tag)) if tag == *seen => {
                let key = self.ref_key(name);
                self.runtime
                    .block_on(self.store.delete(&key))
                    .map_err(self.err(format!("delete ref {name}")))?;
                Ok(WriteRef::Written)
            }
            now => Ok(WriteRef::Conflict(now.map(|(id, _)| id))),
        }
    }

    fn ref_names(&self) -> Result<Vec<RefName>> {
        let prefix = self.key("refs");
        self.runtime.block_on(async {
            let mut names = Vec::new();
            let mut list = self.store.list(Some(&prefix));
            while let Some(meta) = list.next().await {
                let meta = meta.map_err(self.err("list refs"))?;
                if let Some(name) = meta
                    .location
                    .filename()
                    .and_then(|f| RefName::from_file_name(f).ok())
                {
                    names.push(name);
                }
            }
            names.sort();
            Ok(names)
        })
    }

    fn is_store(&self) -> Result<bool> {
        let key = self.key(cairn_store::MARKER);
        self.runtime.block_on(async {
            match self.store.get(&key).await {
                Ok(got) => {
                    let bytes = got
                        .bytes()
                        .await
                        .map_err(self.err("read the store marker"))?;
                    if bytes.as_ref() == cairn_store::MARKER_TEXT.as_bytes() {
                        Ok(true)
                    } else {
                        Err(RemoteError::NotAStore {
                            url: self.url.clone(),
                            reason: format!(
                                "its {} says `{}`",
                                cairn_store::MARKER,
                                String::from_utf8_lossy(&bytes).trim()
                            ),
                        })
                    }
                }
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(self.err("read the store marker")(e)),
            }
        })
    }

    fn mark(&self) -> Result<()> {
        let key = self.key(cairn_store::MARKER);
        let written = self.runtime.block_on(self.store.put_opts(
            &key,
            PutPayload::from(cairn_store::MARKER_TEXT.as_bytes().to_vec()),
            PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            },
        ));
        match written {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(object_store::Error::Precondition { .. }) => Ok(()),
            Err(e) => Err(self.err("write the store marker")(e)),
        }
    }
}
