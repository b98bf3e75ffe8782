//! The store as a facade over an object backend and a ref backend: an in-memory service
//! stands in for object storage (the S3 one is tested through the binary), so these run
//! everywhere. Two cache folders play two machines.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use cairn_store::upstream::{self, ObjectBackend, RefBackend, Upstream};
use cairn_store::{
    Expect, GcOptions, Manifest, ObjectId, RefName, RefUpdate, Store, StoreError, check_ref_update,
};
use serde::{Deserialize, Serialize};

/// One bucket: objects, refs, the marker, and the order objects arrived in.
#[derive(Default)]
struct Bucket {
    marked: bool,
    objects: BTreeMap<ObjectId, Vec<u8>>,
    refs: BTreeMap<RefName, ObjectId>,
    arrivals: Vec<ObjectId>,
}

#[derive(Default)]
struct Service(Mutex<Bucket>);

impl Service {
    fn bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.0.lock().expect("bucket")
    }
}

impl ObjectBackend for Service {
    fn is_store(&self) -> cairn_store::Result<bool> {
        Ok(self.bucket().marked)
    }
    fn mark(&self) -> cairn_store::Result<()> {
        self.bucket().marked = true;
        Ok(())
    }
    fn list(&self) -> cairn_store::Result<BTreeMap<ObjectId, u64>> {
        Ok(self
            .bucket()
            .objects
            .iter()
            .map(|(id, b)| (*id, b.len() as u64))
            .collect())
    }
    fn stat(&self, id: &ObjectId) -> cairn_store::Result<Option<u64>> {
        Ok(self.bucket().objects.get(id).map(|b| b.len() as u64))
    }
    fn send(&self, local: &Store, id: &ObjectId) -> cairn_store::Result<()> {
        let bytes = local.read(id)?;
        let mut bucket = self.bucket();
        bucket.objects.insert(*id, bytes);
        bucket.arrivals.push(*id);
        Ok(())
    }
    fn fetch(
        &self,
        id: &ObjectId,
        sink: &mut dyn FnMut(&[u8]) -> cairn_store::Result<()>,
    ) -> cairn_store::Result<u64> {
        let bytes = self
            .bucket()
            .objects
            .get(id)
            .cloned()
            .ok_or(StoreError::NotFound(*id))?;
        // In two pieces, as a stream would deliver them.
        let (a, b) = bytes.split_at(bytes.len() / 2);
        sink(a)?;
        sink(b)?;
        Ok(bytes.len() as u64)
    }
}

impl RefBackend for Service {
    fn get(&self, name: &RefName) -> cairn_store::Result<Option<ObjectId>> {
        Ok(self.bucket().refs.get(name).copied())
    }
    fn set(&self, name: &RefName, new: ObjectId, expect: Expect) -> cairn_store::Result<RefUpdate> {
        let mut bucket = self.bucket();
        let old = bucket.refs.get(name).copied();
        check_ref_update(name, old, Some(new), expect)?;
        assert!(
            complete(&bucket, new),
            "a ref is set only after everything it reaches arrived"
        );
        bucket.refs.insert(name.clone(), new);
        Ok(RefUpdate { old, new })
    }
    fn delete(&self, name: &RefName, expect: Expect) -> cairn_store::Result<Option<ObjectId>> {
        let mut bucket = self.bucket();
        let old = bucket.refs.get(name).copied();
        check_ref_update(name, old, None, expect)?;
        bucket.refs.remove(name);
        Ok(old)
    }
    fn list(&self) -> cairn_store::Result<Vec<(RefName, ObjectId)>> {
        Ok(self
            .bucket()
            .refs
            .iter()
            .map(|(n, id)| (n.clone(), *id))
            .collect())
    }
}

/// Whether the bucket holds `id` and everything it references.
fn complete(bucket: &Bucket, id: ObjectId) -> bool {
    let Some(bytes) = bucket.objects.get(&id) else {
        return false;
    };
    match cairn_store::manifest::parse(bytes) {
        Some((_, fields)) => cairn_store::manifest::references(&serde_json::Value::Object(fields))
            .into_iter()
            .all(|child| complete(bucket, child)),
        None => true,
    }
}

/// The services by URL, as the opener finds them.
fn services() -> &'static Mutex<HashMap<String, Arc<Service>>> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Service>>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
}

fn open(url: &str) -> cairn_store::Result<Upstream> {
    let service = services()
        .lock()
        .expect("services")
        .entry(url.to_string())
        .or_default()
        .clone();
    Ok(Upstream::new(url.to_string(), service.clone(), service))
}

fn service(url: &str) -> Arc<Service> {
    services().lock().expect("services")[url].clone()
}

/// A machine's cache of the store at `url`.
fn machine(dir: &tempfile::TempDir, name: &str, url: &str) -> std::path::PathBuf {
    upstream::set_opener(open);
    let cache = dir.path().join(name);
    upstream::bind(&cache, url).expect("bind");
    cache
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Node {
    children: Vec<ObjectId>,
}

impl Manifest for Node {
    const KIND: &'static str = "test-node";
}

fn name(s: &str) -> RefName {
    s.parse().expect("ref name")
}

#[test]
fn every_machine_sees_one_store_through_its_cache() {
    let dir = tempfile::tempdir().expect("dir");
    let url = "mem://one";
    let a = machine(&dir, "a", url);
    let b = machine(&dir, "b", url);

    // Unmarked: opening is refused, naming the URL; init marks it.
    match Store::open(&a) {
        Err(StoreError::UpstreamNotAStore { url: u }) => assert_eq!(u, url),
        other => panic!("expected UpstreamNotAStore, got {other:?}"),
    }
    let store_a = Store::init(&a).expect("init");
    assert_eq!(store_a.upstream(), Some(url));

    // A put goes through to the service.
    let leaf = store_a.put_bytes(b"weights").expect("put").id;
    assert!(service(url).bucket().objects.contains_key(&leaf));
    let root = store_a
        .put_manifest(&Node {
            children: vec![leaf],
        })
        .expect("manifest");
    store_a
        .set_ref(&name("m@1.0.0"), root, Expect::Absent)
        .expect("set");

    // Machine b has none of it locally, yet reads it all, verified, into its cache.
    let store_b = Store::open(&b).expect("open b");
    assert!(!store_b.has_local(&root));
    assert_eq!(
        store_b.list_refs().expect("refs"),
        vec![(name("m@1.0.0"), root)]
    );
    assert_eq!(
        store_b.get_manifest::<Node>(&root).expect("manifest"),
        Node {
            children: vec![leaf]
        }
    );
    assert_eq!(store_b.read(&leaf).expect("read"), b"weights");
    assert!(store_b.has_local(&leaf));
    assert_eq!(store_b.size(&leaf).expect("size"), 7);

    // A published version never moves, whichever machine asks.
    let other = store_b.put_bytes(b"other").expect("put").id;
    assert!(matches!(
        store_b.set_ref(&name("m@1.0.0"), other, Expect::Any),
        Err(StoreError::ImmutableRef { .. })
    ));
    assert!(matches!(
        store_b.delete_ref(&name("m@1.0.0"), Expect::Any),
        Err(StoreError::ImmutableRef { .. })
    ));
    // A mutable ref swaps by compare-and-swap there.
    store_b
        .set_ref(&name("m/latest"), root, Expect::Absent)
        .expect("create");
    assert!(matches!(
        store_a.set_ref(&name("m/latest"), other, Expect::Absent),
        Err(StoreError::RefConflict { .. })
    ));
    store_a
        .set_ref(&name("m/latest"), other, Expect::Is(root))
        .expect("swap");
    assert_eq!(
        store_b.get_ref(&name("m/latest")).expect("get"),
        Some(other)
    );

    // gc is refused: other machines write to the service without this lock.
    assert!(matches!(
        store_a.gc(&GcOptions::default()),
        Err(StoreError::UpstreamGc { .. })
    ));
    assert!(store_a.has_local(&leaf));

    // A cache folder names one store only.
    assert!(matches!(
        upstream::bind(&a, "mem://two"),
        Err(StoreError::OtherUpstream { .. })
    ));
}

#[test]
fn damaged_bytes_from_the_service_are_refused_and_never_cached() {
    let dir = tempfile::tempdir().expect("dir");
    let url = "mem://damaged";
    let a = machine(&dir, "a", url);
    let b = machine(&dir, "b", url);
    let store_a = Store::init(&a).expect("init");
    let id = store_a.put_bytes(b"the real bytes").expect("put").id;
    service(url)
        .bucket()
        .objects
        .insert(id, b"the fake bytes".to_vec());

    let store_b = Store::open(&b).expect("open");
    match store_b.read(&id) {
        Err(StoreError::Mismatch { expected, .. }) => assert_eq!(expected, id),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert!(!store_b.has_local(&id), "nothing was stored");
    assert!(store_b.open_object(&id).is_err());
}

#[test]
fn a_ref_is_set_only_after_everything_it_reaches_arrived_children_first() {
    let dir = tempfile::tempdir().expect("dir");
    let url = "mem://closure";
    let local = dir.path().join("made-offline");
    // Objects made in a plain folder first (as a store that gains an upstream later would
    // hold them), then the folder is bound: the service has none of them.
    let plain = Store::open_or_init(&local).expect("plain");
    let leaf = plain.put_bytes(b"leaf").expect("put").id;
    let mid = plain
        .put_manifest(&Node {
            children: vec![leaf],
        })
        .expect("mid");
    let root = plain
        .put_manifest(&Node {
            children: vec![mid, leaf],
        })
        .expect("root");
    drop(plain);
    upstream::set_opener(open);
    std::fs::write(local.join(upstream::UPSTREAM), format!("{url}\n")).expect("bind");
    let store = Store::init(&local).expect("init");
    assert!(service(url).bucket().objects.is_empty());

    store
        .set_ref(&name("m@1.0.0"), root, Expect::Absent)
        .expect("set");
    let arrivals = service(url).bucket().arrivals.clone();
    let at = |id: &ObjectId| arrivals.iter().position(|a| a == id).expect("sent");
    assert_eq!(arrivals.len(), 3, "each object once: {arrivals:?}");
    assert!(at(&leaf) < at(&mid) && at(&mid) < at(&root));
}

/// An object a killed put left only in the cache is sent when a manifest naming it is put,
/// before that manifest: the bucket never holds a manifest whose objects are missing.
#[test]
fn a_manifest_goes_up_only_after_what_it_names_even_objects_left_behind() {
    let dir = tempfile::tempdir().expect("dir");
    let url = "mem://left-behind";
    let cache = machine(&dir, "a", url);
    Store::init(&cache).expect("init");
    // As a put killed between storing in the cache and sending would leave it.
    let plain = {
        std::fs::rename(cache.join(upstream::UPSTREAM), dir.path().join("aside")).expect("unbind");
        let plain = Store::open(&cache).expect("plain");
        let id = plain.put_bytes(b"left behind").expect("put").id;
        std::fs::rename(dir.path().join("aside"), cache.join(upstream::UPSTREAM)).expect("rebind");
        id
    };
    let store = Store::open(&cache).expect("open");
    assert!(!service(url).bucket().objects.contains_key(&plain));
    let root = store
        .put_manifest(&Node {
            children: vec![plain],
        })
        .expect("manifest");
    let arrivals = service(url).bucket().arrivals.clone();
    assert_eq!(arrivals, vec![plain, root], "children first");
    assert!(complete(&service(url).bucket(), root));
}
