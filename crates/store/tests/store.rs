//! Library-level tests of the store: gc over random object graphs, ref compare-and-swap
//! under contention, manifests.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cairn_store::{Expect, GcOptions, Manifest, ObjectId, RefName, Store, StoreError};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Node {
    salt: u64,
    children: Vec<ObjectId>,
    score: f64,
}

impl Manifest for Node {
    const KIND: &'static str = "test-node";
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(dir.path().join("store")).expect("store");
    (dir, store)
}

/// The store as another process would see it: this handle's temporary roots released.
fn reopen(dir: &tempfile::TempDir, store: Store) -> Store {
    drop(store);
    Store::open(dir.path().join("store")).expect("store")
}

fn name(s: &str) -> RefName {
    s.parse().expect("valid ref name")
}

#[test]
fn manifests_round_trip_and_are_canonical() {
    let (_dir, store) = temp_store();
    let blob = store.put_bytes(b"payload").expect("put").id;
    let node = Node {
        salt: 7,
        children: vec![blob],
        score: 0.25,
    };
    let id = store.put_manifest(&node).expect("put manifest");
    assert_eq!(store.get_manifest::<Node>(&id).expect("get"), node);
    let bytes = store.read(&id).expect("read");
    let text = String::from_utf8(bytes).expect("utf-8");
    assert_eq!(
        text,
        format!(
            r#"{{"cairn":1,"children":["blake3:{blob}"],"kind":"test-node","salt":7,"score":0.25}}"#
        )
    );
    // Same content, same object.
    assert_eq!(
        store
            .put_manifest(&Node {
                salt: 7,
                children: vec![blob],
                score: 0.25
            })
            .expect("put"),
        id
    );
    assert!(matches!(
        store.put_manifest(&Node {
            salt: 1,
            children: vec![],
            score: f64::NAN
        }),
        Err(StoreError::Canonical(_))
    ));
    assert!(matches!(
        store.get_manifest::<Node>(&blob),
        Err(StoreError::NotAManifest { .. })
    ));
}

#[test]
fn refs_compare_and_swap() {
    let (_dir, store) = temp_store();
    let a = store.put_bytes(b"a").expect("put").id;
    let b = store.put_bytes(b"b").expect("put").id;
    let latest = name("l2/latest");
    assert_eq!(
        store
            .set_ref(&latest, a, Expect::Absent)
            .expect("create")
            .old,
        None
    );
    assert!(matches!(
        store.set_ref(&latest, b, Expect::Absent),
        Err(StoreError::RefConflict { .. })
    ));
    assert!(matches!(
        store.set_ref(&latest, b, Expect::Is(b)),
        Err(StoreError::RefConflict { .. })
    ));
    assert_eq!(
        store.set_ref(&latest, b, Expect::Is(a)).expect("swap").old,
        Some(a)
    );
    assert_eq!(store.get_ref(&latest).expect("get"), Some(b));

    let version = name("l2@1.0.0");
    store.set_ref(&version, a, Expect::Any).expect("publish");
    store
        .set_ref(&version, a, Expect::Any)
        .expect("re-publishing the same target is a no-op");
    assert!(matches!(
        store.set_ref(&version, b, Expect::Any),
        Err(StoreError::ImmutableRef { .. })
    ));
    assert!(matches!(
        store.delete_ref(&version, Expect::Any),
        Err(StoreError::ImmutableRef { .. })
    ));
    assert_eq!(store.get_ref(&version).expect("get"), Some(a));

    let missing = ObjectId::of(b"never stored");
    assert!(matches!(
        store.set_ref(&name("x"), missing, Expect::Any),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.delete_ref(&latest, Expect::Is(b)).expect("delete"),
        Some(b)
    );
    assert_eq!(store.list_refs().expect("list"), vec![(version, a)]);
}

/// Many threads increment a counter held in the object a ref points to, each with
/// read → write new object → compare-and-swap, retrying on conflict. No update may be lost.
#[test]
fn concurrent_cas_loses_no_update() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let counter = name("counter");
    let zero = store.put_bytes(b"0").expect("put").id;
    store
        .set_ref(&counter, zero, Expect::Absent)
        .expect("create");
    let threads = 4;
    let per_thread = 15;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let store = Arc::clone(&store);
            let counter = counter.clone();
            scope.spawn(move || {
                for _ in 0..per_thread {
                    loop {
                        let current = store.get_ref(&counter).expect("get").expect("exists");
                        let value: u64 = String::from_utf8(store.read(&current).expect("read"))
                            .expect("utf-8")
                            .parse()
                            .expect("number");
                        let next = store
                            .put_bytes((value + 1).to_string().as_bytes())
                            .expect("put")
                            .id;
                        match store.set_ref(&counter, next, Expect::Is(current)) {
                            Ok(_) => break,
                            Err(StoreError::RefConflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let last = store.get_ref(&counter).expect("get").expect("exists");
    let value = String::from_utf8(store.read(&last).expect("read")).expect("utf-8");
    assert_eq!(value, (threads * per_thread).to_string());
}

#[test]
fn gc_keeps_young_objects_and_honours_dry_run() {
    let (dir, store) = temp_store();
    let kept = store.put_bytes(b"kept").expect("put").id;
    let loose = store.put_bytes(b"loose").expect("put").id;
    store
        .set_ref(&name("keep"), kept, Expect::Any)
        .expect("ref");
    let store = reopen(&dir, store);
    let report = store.gc(&GcOptions::default()).expect("gc");
    assert_eq!(
        (report.removed.len(), report.kept_young),
        (0, 1),
        "a fresh object is within the grace period"
    );
    let report = store
        .gc(&GcOptions {
            dry_run: true,
            grace: Duration::ZERO,
            ..GcOptions::default()
        })
        .expect("gc");
    assert_eq!(
        report.removed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![loose]
    );
    assert!(store.has(&loose), "dry run deletes nothing");
    store
        .gc(&GcOptions {
            dry_run: false,
            grace: Duration::ZERO,
            ..GcOptions::default()
        })
        .expect("gc");
    assert!(!store.has(&loose) && store.has(&kept));
}

#[test]
fn gc_spares_what_a_live_process_holds_and_expires_a_dead_ones_roots() {
    let (dir, store) = temp_store();
    let none = GcOptions {
        dry_run: false,
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    // Written and not yet referenced by any ref: held while this handle lives.
    let held = store.put_bytes(b"in flight").expect("put").id;
    let node = Node {
        salt: 1,
        children: vec![held],
        score: 0.5,
    };
    let parent = store.put_manifest(&node).expect("put");
    let report = Store::open(dir.path().join("store"))
        .expect("store")
        .gc(&none)
        .expect("gc");
    assert!(report.removed.is_empty(), "{:?}", report.removed);
    assert_eq!(report.held, 2);
    assert!(store.has(&held) && store.has(&parent));

    // The writer is gone: its root file goes with it, and so do its objects.
    let store = reopen(&dir, store);
    assert!(
        std::fs::read_dir(dir.path().join("store/roots"))
            .expect("roots")
            .next()
            .is_none()
    );
    let report = store.gc(&none).expect("gc");
    assert_eq!(report.removed.len(), 2);

    // A root file left by a process that no longer runs (kill -9) expires; what it held goes.
    let orphan = store.put_bytes(b"orphan").expect("put").id;
    let store = reopen(&dir, store);
    std::fs::write(
        dir.path().join("store/roots/4294967294-1-0.roots"),
        format!("{}\n", orphan.to_hex()),
    )
    .expect("root file");
    let report = store.gc(&none).expect("gc");
    assert_eq!(report.roots_expired.len(), 1);
    assert_eq!(report.removed.len(), 1);
    assert!(!store.has(&orphan));
    assert!(store.fsck().expect("fsck").is_clean());
}

#[test]
fn verify_closure_names_a_missing_or_corrupt_reference() {
    let (_dir, store) = temp_store();
    let leaf = store.put_bytes(b"leaf").expect("put").id;
    let node = Node {
        salt: 2,
        children: vec![leaf],
        score: 0.25,
    };
    let top = store.put_manifest(&node).expect("put");
    assert_eq!(store.verify_closure(&top).expect("whole"), 2);
    let path = store.object_path(&leaf);
    let mut perms = std::fs::metadata(&path).expect("stat").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).expect("chmod");
    std::fs::write(&path, b"leaf!").expect("damage");
    assert!(matches!(
        store.verify_closure(&top),
        Err(StoreError::Corrupt { id, .. }) if id == leaf
    ));
    std::fs::remove_file(&path).expect("delete");
    assert!(matches!(
        store.verify_closure(&top),
        Err(StoreError::NotFound(id)) if id == leaf
    ));
}

/// A random object graph: `blobs` plain objects and manifests that each reference some
/// earlier objects (so the graph is a DAG), and refs on a few of them.
#[derive(Debug, Clone)]
struct Graph {
    blobs: usize,
    manifests: Vec<Vec<usize>>,
    refs: Vec<usize>,
}

fn graph() -> impl Strategy<Value = Graph> {
    (1usize..8, 0usize..10)
        .prop_flat_map(|(blobs, manifests)| {
            let edges = (0..manifests)
                .map(move |i| proptest::collection::vec(0..(blobs + i), 0..4))
                .collect::<Vec<_>>();
            (
                Just(blobs),
                edges,
                proptest::collection::vec(0..(blobs + manifests), 0..4),
            )
        })
        .prop_map(|(blobs, manifests, refs)| Graph {
            blobs,
            manifests,
            refs,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// gc never deletes anything reachable from a ref and deletes everything else.
    #[test]
    fn gc_deletes_exactly_the_unreachable(g in graph(), salt in any::<u64>()) {
        let (dir, store) = temp_store();
        let mut ids = Vec::new();
        for i in 0..g.blobs {
            ids.push(store.put_bytes(format!("blob {salt} {i}").as_bytes()).expect("put").id);
        }
        for (i, children) in g.manifests.iter().enumerate() {
            let node = Node { salt: salt ^ i as u64, children: children.iter().map(|c| ids[*c]).collect(), score: i as f64 / 3.0 };
            ids.push(store.put_manifest(&node).expect("put"));
        }
        for (i, target) in g.refs.iter().enumerate() {
            store.set_ref(&name(&format!("r{i}")), ids[*target], Expect::Any).expect("ref");
        }
        // Reachability computed independently of the store, from the graph description.
        let mut reachable = BTreeSet::new();
        let mut stack: Vec<usize> = g.refs.clone();
        while let Some(i) = stack.pop() {
            if reachable.insert(ids[i]) && i >= g.blobs {
                stack.extend(g.manifests[i - g.blobs].iter().copied());
            }
        }
        let all: BTreeSet<ObjectId> = ids.iter().copied().collect();
        let store = reopen(&dir, store);
        let report = store.gc(&GcOptions { dry_run: false, grace: Duration::ZERO, ..GcOptions::default() }).expect("gc");
        let removed: BTreeSet<ObjectId> = report.removed.iter().map(|(id, _)| *id).collect();
        let expected_removed: BTreeSet<ObjectId> = all.difference(&reachable).copied().collect();
        prop_assert_eq!(&removed, &expected_removed);
        for id in &reachable {
            prop_assert!(store.read(id).is_ok(), "reachable {} lost", id);
        }
        for id in &expected_removed {
            prop_assert!(!store.has(id));
        }
        prop_assert!(store.fsck().expect("fsck").is_clean());
    }
}

#[test]
fn an_incoming_object_is_stored_only_if_it_hashes_to_its_id() {
    let (dir, store) = temp_store();
    let bytes = b"weights from a remote".repeat(1000);
    let id = ObjectId::of(&bytes);
    // The right bytes, in pieces: stored.
    let mut incoming = store.incoming(id).expect("incoming");
    for chunk in bytes.chunks(777) {
        incoming.write(chunk).expect("write");
    }
    let outcome = incoming.finish().expect("finish");
    assert!(outcome.written);
    assert_eq!(store.read(&id).expect("read"), bytes);
    // Tampered bytes under another id: refused, nothing stored, no temp file left.
    let wanted = ObjectId::of(b"what the ref names");
    let mut incoming = store.incoming(wanted).expect("incoming");
    incoming.write(b"something else").expect("write");
    let err = incoming.finish().expect_err("refused");
    assert!(
        matches!(err, cairn_store::StoreError::Mismatch { expected, .. } if expected == wanted),
        "{err}"
    );
    assert!(!store.has(&wanted));
    assert!(!store.has(&ObjectId::of(b"something else")));
    let leftovers = std::fs::read_dir(dir.path().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "the temp file is removed");
}
