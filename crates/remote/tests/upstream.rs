//! The remote backends behind the store's facade, raced: several machines (cache folders of
//! one store) move one ref by compare-and-swap at once — on a shared folder, and on the S3
//! server `scripts/with-s3.sh` starts (`CAIRN_TEST_S3`), through `If-Match`/`If-None-Match`.

use std::path::Path;
use std::sync::Barrier;

use cairn_store::{Expect, RefName, Store, StoreError, upstream};

const MACHINES: usize = 4;
const STEPS: usize = 8;

/// Each machine adds 1 to a counter held by a mutable ref, `STEPS` times, each time by
/// compare-and-swap against what it read (retrying a lost race); then all try to publish the
/// same version with their own object at once. No increment may be lost, and exactly one
/// publication may win.
fn race(url: &str, dir: &Path) {
    cairn_remote::install();
    let caches: Vec<_> = (0..MACHINES)
        .map(|i| {
            let cache = dir.join(format!("machine{i}"));
            upstream::bind(&cache, url).expect("bind");
            cache
        })
        .collect();
    Store::init(&caches[0]).expect("init");
    let counter: RefName = "count/latest".parse().expect("name");
    let version: RefName = "race@1.0.0".parse().expect("name");
    let barrier = Barrier::new(MACHINES);
    let published: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = caches
            .iter()
            .enumerate()
            .map(|(i, cache)| {
                let (counter, version, barrier) = (&counter, &version, &barrier);
                scope.spawn(move || {
                    let store = Store::open(cache).expect("open");
                    barrier.wait();
                    for _ in 0..STEPS {
                        loop {
                            let now = store.get_ref(counter).expect("get");
                            let n: usize = match now {
                                Some(id) => String::from_utf8(store.read(&id).expect("read"))
                                    .expect("utf-8")
                                    .parse()
                                    .expect("number"),
                                None => 0,
                            };
                            let next = store
                                .put_bytes(format!("{}", n + 1).as_bytes())
                                .expect("put")
                                .id;
                            match store.set_ref(counter, next, Expect::current(now)) {
                                Ok(_) => break,
                                Err(StoreError::RefConflict { .. }) => continue,
                                Err(e) => panic!("machine {i}: {e}"),
                            }
                        }
                    }
                    let mine = store
                        .put_bytes(format!("machine {i}").as_bytes())
                        .expect("put")
                        .id;
                    barrier.wait();
                    match store.set_ref(version, mine, Expect::Absent) {
                        Ok(_) => true,
                        Err(StoreError::ImmutableRef { .. } | StoreError::RefConflict { .. }) => {
                            false
                        }
                        Err(e) => panic!("machine {i}: {e}"),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("machine"))
            .collect()
    });
    let store = Store::open(&caches[1]).expect("open");
    let last = store.get_ref(&counter).expect("get").expect("set");
    assert_eq!(
        String::from_utf8(store.read(&last).expect("read")).expect("utf-8"),
        (MACHINES * STEPS).to_string(),
        "no increment was lost"
    );
    assert_eq!(
        published.iter().filter(|p| **p).count(),
        1,
        "one publication won: {published:?}"
    );
    // The winner's object is what every machine reads.
    let won = store.get_ref(&version).expect("get").expect("published");
    let text = String::from_utf8(store.read(&won).expect("read")).expect("utf-8");
    let winner: usize = text
        .trim_start_matches("machine ")
        .parse()
        .expect("machine");
    assert!(published[winner], "{text} won: {published:?}");
}

#[test]
fn machines_racing_on_one_ref_lose_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let shared = dir.path().join("shared");
    race(
        &format!("file://{}", shared.display()),
        &dir.path().join("folder"),
    );

    let Ok(server) = std::env::var("CAIRN_TEST_S3") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the S3 tests: run them through `just test` (scripts/with-s3.sh)"
        );
        eprintln!("skipped the S3 part: CAIRN_TEST_S3 is unset");
        return;
    };
    let (endpoint, bucket) = server.rsplit_once('/').expect("http://host:port/bucket");
    // SAFETY: this file's only test sets them before any thread of its own starts.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "cairn-test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "cairn-test");
        std::env::set_var("AWS_DEFAULT_REGION", "us-east-1");
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::remove_var("AWS_PROFILE");
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    race(
        &format!("s3://{bucket}/race-{}-{nanos}", std::process::id()),
        &dir.path().join("s3"),
    );
}
