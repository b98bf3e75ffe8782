//! Remotes through the binary: `cairn remote`, `push`, `pull`, `clone` and `fsck --remote`,
//! on a shared folder (`file://`) and on a real S3-compatible server on loopback (moto's
//! server mode, started by `scripts/with-s3.sh`; CI must have it).

mod common;

use std::path::Path;
use std::process::Output;

use common::{Env, code, stderr, stdout};

/// `cairn <args>` on the store at `store`, with the test S3 server's settings.
fn cairn_at(env: &Env, store: &Path, args: &[&str]) -> Output {
    let mut cmd = env.cairn_at(store);
    common::s3_env(&mut cmd);
    cmd.args(args).output().expect("cairn")
}

/// A prefix of the test bucket no other test uses.
fn s3_remote(test: &str) -> Option<String> {
    let (_, bucket) = common::s3()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Some(format!(
        "s3://{bucket}/{test}-{}-{nanos}",
        std::process::id()
    ))
}

/// A new store with the test S3 server (a prefix of its own) as `origin`: the environment,
/// the store's folder and the remote's URL; `None` when the server is not running.
fn store_with_s3_origin(test: &str) -> Option<(Env, std::path::PathBuf, String)> {
    let url = s3_remote(test)?;
    let env = Env::new();
    let store = env.store();
    ok(&env.run(&["init"]));
    ok(&cairn_at(&env, &store, &["remote", "add", "origin", &url]));
    Some((env, store, url))
}

fn ok(out: &Output) -> String {
    assert_eq!(code(out), 0, "{}", stderr(out));
    stdout(out)
}

fn refs(env: &Env, store: &Path) -> String {
    ok(&cairn_at(env, store, &["ref", "list"]))
}

/// A random file of `size` bytes stored and pointed at by the ref `name`; its hash.
fn add_blob(env: &Env, name: &str, size: usize, seed: u64) -> String {
    let file = env.random_file(&format!("{}.bin", name.replace('/', "-")), size, seed);
    let out = ok(&env.run(&["add", file.to_str().expect("utf-8")]));
    let hash = out.split_whitespace().next().expect("hash").to_string();
    ok(&env.run(&["ref", "set", name, &hash]));
    hash
}

/// `cairn push` of `store` to the test S3 server, running in the background (its stderr
/// piped, its stdout dropped).
fn spawn_push(env: &Env, store: &Path) -> std::process::Child {
    let mut cmd = env.cairn_at(store);
    common::s3_env(&mut cmd);
    cmd.args(["push"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("push")
}

/// A second tiny model trained on other settings: the same version name, other objects.
fn other_tiny(env: &Env, store: &Path) {
    std::fs::write(
        env.path("other.toml"),
        common::tiny_experiment("1.0.0", None, None, 1, "0.02"),
    )
    .expect("write");
    let out = env
        .cairn_at(store)
        .current_dir(env.dir.path())
        .args(["run", "other.toml"])
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Push, clone, check, push again; then the conflicts a team meets.
fn round_trip(env: &Env, url: &str) {
    let here = env.store();
    ok(&cairn_at(env, &here, &["remote", "add", "origin", url]));
    assert!(ok(&cairn_at(env, &here, &["remote", "list"])).contains(url));
    let out = cairn_at(env, &here, &["push"]);
    ok(&out);
    assert!(
        stderr(&out).contains("already there) and 2 refs (0 unchanged)"),
        "{}",
        stderr(&out)
    );
    // Nothing to send the second time.
    let out = cairn_at(env, &here, &["--json", "push", "origin"]);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(report["objects"], 0);
    assert_eq!(report["refs_unchanged"], 2);

    // A clone holds the same refs, passes fsck, and its version can be shown and reproduced.
    let clone = env.path("clone");
    let out = cairn_at(env, &clone, &["clone", url]);
    ok(&out);
    assert_eq!(refs(env, &clone), refs(env, &here));
    ok(&cairn_at(env, &clone, &["fsck"]));
    ok(&cairn_at(env, &here, &["fsck", "--remote", "origin"]));
    assert!(ok(&cairn_at(env, &clone, &["show", "tiny@1.0.0"])).contains("tiny@1.0.0"));
    let out = cairn_at(env, &clone, &["reproduce", "tiny@1.0.0"]);
    assert_eq!(code(&out), 0, "the clone has every input: {}", stderr(&out));

    // Another store that published its own tiny@1.0.0: a conflict naming both hashes, and
    // nothing moves.
    let other = env.path("other-store");
    other_tiny(env, &other);
    ok(&cairn_at(env, &other, &["remote", "add", "origin", url]));
    let theirs = ok(&cairn_at(env, &here, &["ref", "get", "tiny@1.0.0"]));
    let ours = ok(&cairn_at(env, &other, &["ref", "get", "tiny@1.0.0"]));
    assert_ne!(theirs, ours);
    let out = cairn_at(env, &other, &["push"]);
    assert_eq!(code(&out), 1);
    let message = stderr(&out);
    assert!(
        message.contains(&format!(
            "ref `tiny@1.0.0` is {} on `origin` but {} here: a published version never moves",
            theirs.trim(),
            ours.trim()
        )),
        "{message}"
    );
    // A mutable ref moves only with --force, by compare-and-swap.
    let out = cairn_at(env, &other, &["push", "origin", "tiny/latest"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("push --force to move it"),
        "{}",
        stderr(&out)
    );
    ok(&cairn_at(
        env,
        &other,
        &["push", "origin", "tiny/latest", "--force"],
    ));
    // That `latest` holds a run no registered version on the remote holds: a pull refuses
    // it, forced or not, naming the ref and both runs, and moves nothing.
    let before = ok(&cairn_at(env, &clone, &["ref", "get", "tiny/latest"]));
    for args in [&["pull"][..], &["pull", "--force", "tiny/latest"][..]] {
        let out = cairn_at(env, &clone, args);
        assert_eq!(code(&out), 1, "{args:?} took a forged latest");
        let message = stderr(&out);
        assert!(
            message.contains("ref `tiny/latest` names the highest registered version of `tiny`")
                && message.contains(ours.trim())
                && message.contains(theirs.trim()),
            "{message}"
        );
    }
    assert_eq!(
        ok(&cairn_at(env, &clone, &["ref", "get", "tiny/latest"])),
        before,
        "nothing moved"
    );
    ok(&cairn_at(env, &clone, &["fsck"]));
    // `fsck --remote` names the forged `latest` too.
    let out = cairn_at(env, &here, &["fsck", "--remote", "origin"]);
    assert_eq!(code(&out), 1, "fsck --remote passed a forged latest");
    assert!(
        stdout(&out).contains("ref `tiny/latest` names the highest registered version"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_store_travels_through_a_shared_folder() {
    let env = common::trained_tiny();
    let url = format!("file://{}", env.path("shared").display());
    round_trip(&env, &url);
}

#[test]
fn a_store_travels_through_s3() {
    let Some(url) = s3_remote("round-trip") else {
        return;
    };
    let env = common::trained_tiny();
    round_trip(&env, &url);
}

/// The remote's object files, by size (largest first).
fn remote_objects(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("objects"))
        .expect("objects")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).expect("fan-out").flatten())
        .map(|f| f.path())
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)));
    files
}

#[test]
fn tampered_or_truncated_objects_are_refused_on_arrival() {
    let env = common::trained_tiny();
    let shared = env.path("shared");
    let url = format!("file://{}", shared.display());
    ok(&env.run(&["remote", "add", "origin", &url]));
    ok(&env.run(&["push"]));
    let files = remote_objects(&shared);
    for (file, damage) in [(&files[0], "tampered"), (&files[1], "truncated")] {
        let mut perms = std::fs::metadata(file).expect("stat").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(file, perms).expect("chmod");
        let mut bytes = std::fs::read(file).expect("read");
        if damage == "tampered" {
            bytes[10] ^= 0xff;
        } else {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(file, bytes).expect("write");
    }
    let damaged: Vec<String> = files[..2]
        .iter()
        .map(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_string()
        })
        .collect();

    // A clone refuses them: no ref, and neither damaged object, lands here.
    let clone = env.path("clone");
    let out = cairn_at(&env, &clone, &["clone", &url]);
    assert_eq!(code(&out), 1);
    let message = stderr(&out);
    assert!(
        message.contains("that hash to") && message.contains("refused, nothing was stored"),
        "{message}"
    );
    assert_eq!(refs(&env, &clone), "", "no ref is set");
    for id in &damaged {
        assert!(
            !common::object_path(&clone, id).exists(),
            "the damaged object {id} was not stored"
        );
    }
    // fsck of the remote names both.
    let out = env.run(&["fsck", "--remote", "origin"]);
    assert_eq!(code(&out), 1);
    for id in &damaged {
        assert!(
            stdout(&out).contains(&format!("object {id}: its ")),
            "{}",
            stdout(&out)
        );
    }
    assert!(stderr(&out).contains("2 problem(s)"), "{}", stderr(&out));
}

#[test]
fn bad_remotes_are_refused_in_one_line() {
    let env = common::trained_tiny();
    for (args, message) in [
        (
            vec!["remote", "add", "origin", "http://example.com/x"],
            "`http://example.com/x` is not a remote URL: unknown scheme (write s3://bucket/prefix or file:///path)",
        ),
        (
            vec!["remote", "add", "bad/name", "file:///tmp/x"],
            "`bad/name` is not a remote name",
        ),
        (
            vec!["push"],
            "no remote named `origin` (see `cairn remote list`; add one with `cairn remote add <name> <url>`)",
        ),
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 1, "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    // A folder that is no store (a typo, a share not mounted) is refused, and not made one.
    let nowhere = env.path("not-mounted");
    let url = format!("file://{}", nowhere.display());
    let out = cairn_at(&env, &env.path("clone"), &["clone", &url]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!(
            "{url} is not a cairn store: it has no CAIRN_STORE (push to it first)"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!nowhere.exists() && !env.path("clone").exists());
    ok(&env.run(&["remote", "add", "origin", "file:///tmp/cairn-remote-test"]));
    let out = env.run(&["remote", "add", "origin", "file:///tmp/elsewhere"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("a remote named `origin` exists already"));
    let out = env.run(&["push", "origin", "tiny@9.9.9"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("`tiny@9.9.9` is not a ref of this store"));
}

/// A push killed with SIGKILL at seeded instants: the remote stays valid (no ref before its
/// objects), the next push sends only what is missing, and the result is whole.
#[test]
fn a_killed_push_resumes_and_completes() {
    let Some((env, store, url)) = store_with_s3_origin("resume") else {
        return;
    };
    // Objects behind refs: two large (multipart uploads) and more small ones than
    // transfers run at once, so arrivals spread over the push.
    let blobs = 26u64;
    for i in 0..blobs {
        let size = if i < 2 { 20 << 20 } else { 5 << 20 };
        add_blob(&env, &format!("data/blob{i}"), size, i);
    }
    let mut interrupted = false;
    for delay_ms in [150u64, 300, 600, 1200, 2400] {
        let mut child = spawn_push(&env, &store);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().expect("wait").is_some();
        let _ = child.kill();
        let _ = child.wait();
        // Whatever the instant, the remote is valid: not a store yet (killed before it
        // was marked), or a store whose refs reach only what it holds.
        let check = cairn_at(&env, &store, &["--json", "fsck", "--remote", "origin"]);
        if code(&check) == 1 && stderr(&check).contains("is not a cairn store") {
            continue;
        }
        let report: serde_json::Value = serde_json::from_str(&ok(&check)).expect("json");
        assert_eq!(report["problems"], serde_json::json!([]), "{report}");
        if !finished && report["refs"] == 0 && report["objects"].as_u64().unwrap_or(0) > 0 {
            interrupted = true;
            break;
        }
    }
    assert!(
        interrupted,
        "a push was caught mid-way (objects sent, refs not yet)"
    );
    let out = cairn_at(&env, &store, &["--json", "push"]);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert!(
        report["present"].as_u64().unwrap_or(0) > 0,
        "the resumed push skips what arrived: {report}"
    );
    assert_eq!(
        report["refs_updated"].as_array().map(Vec::len),
        Some(blobs as usize)
    );
    ok(&cairn_at(&env, &store, &["fsck", "--remote", "origin"]));
    let clone = env.path("clone");
    ok(&cairn_at(&env, &clone, &["clone", &url]));
    assert_eq!(refs(&env, &clone), refs(&env, &store));
    ok(&cairn_at(&env, &clone, &["fsck"]));
}

/// The journals of multipart uploads in progress under `store` (`uploads/<remote>/*.json`),
/// with the parts each holds.
fn journaled_parts(store: &Path) -> Vec<usize> {
    let Ok(remotes) = std::fs::read_dir(store.join("uploads")) else {
        return Vec::new();
    };
    remotes
        .flatten()
        .flat_map(|r| std::fs::read_dir(r.path()).into_iter().flatten().flatten())
        .filter(|f| !f.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|f| std::fs::read(f.path()).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|j| j["parts"].as_object().map(|p| p.len()).unwrap_or(0))
        .collect()
}

/// A push killed inside a large object: the next push sends only the parts the service does
/// not hold yet, and the object arrives whole.
#[test]
fn a_push_killed_inside_a_large_object_resumes_its_parts() {
    let Some((env, store, url)) = store_with_s3_origin("parts") else {
        return;
    };
    let size = 96u64 << 20;
    let hash = add_blob(&env, "data/big", size as usize, 5);

    let mut child = spawn_push(&env, &store);
    // Killed once the journal holds a part, and before the push ends.
    let parts_done = loop {
        let done = journaled_parts(&store).into_iter().max().unwrap_or(0);
        if done > 0 {
            child.kill().expect("kill");
            break done;
        }
        if child.try_wait().expect("wait").is_some() {
            panic!("the push ended before any part was journaled");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let _ = child.wait();
    let left = journaled_parts(&store);
    assert_eq!(left.len(), 1, "the killed upload's journal stays");
    assert!(left[0] >= parts_done && left[0] < 12, "{left:?}");

    let out = cairn_at(&env, &store, &["--json", "push"]);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    let sent = report["bytes"].as_u64().expect("bytes");
    assert!(
        sent <= size - (left[0] as u64) * (8 << 20),
        "the parts already there are not sent again: {sent} of {size} bytes"
    );
    eprintln!(
        "killed with {} of 12 parts journaled; the next push sent {sent} of {size} bytes",
        left[0]
    );
    let journals: Vec<_> = std::fs::read_dir(store.join("uploads"))
        .expect("uploads")
        .flatten()
        .flat_map(|r| std::fs::read_dir(r.path()).expect("journals").flatten())
        .map(|f| f.file_name())
        .filter(|f| !f.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(journals.is_empty(), "the journal is gone: {journals:?}");
    ok(&cairn_at(&env, &store, &["fsck", "--remote", "origin"]));
    let clone = env.path("clone");
    ok(&cairn_at(&env, &clone, &["clone", &url]));
    assert_eq!(
        std::fs::read(common::object_path(&clone, &hash)).expect("object"),
        std::fs::read(env.path("data-big.bin")).expect("file"),
        "the object arrived whole"
    );
}

/// gc while a push is sending: what the push holds survives, even once no ref reaches it,
/// until the push ends.
#[test]
fn gc_spares_what_a_push_in_progress_sends() {
    let Some((env, store, _)) = store_with_s3_origin("gc") else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..10u64 {
        ids.push(add_blob(&env, &format!("data/blob{i}"), 20 << 20, 100 + i));
    }
    let mut push = spawn_push(&env, &store);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        push.try_wait().expect("wait").is_none(),
        "the push is still sending"
    );
    for i in 0..10 {
        ok(&env.run(&["ref", "delete", &format!("data/blob{i}")]));
    }
    ok(&env.run(&["gc", "--grace", "0s"]));
    for id in &ids {
        assert!(
            common::object_path(&store, id).exists(),
            "{id} is held by the push"
        );
    }
    let out = push.wait_with_output().expect("push");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(&cairn_at(&env, &store, &["fsck", "--remote", "origin"]));
    // The push is over: nothing holds them now.
    ok(&env.run(&["gc", "--grace", "0s"]));
    for id in &ids {
        assert!(!common::object_path(&store, id).exists(), "{id} collected");
    }
}

/// `cairn --store s3://…` on one machine's cache folder (`CAIRN_CACHE`).
fn on_s3(env: &Env, url: &str, machine: &str, args: &[&str]) -> Output {
    let mut cmd = env.cairn_at(Path::new(url));
    common::s3_env(&mut cmd);
    cmd.env("CAIRN_CACHE", env.path(machine))
        .args(args)
        .output()
        .expect("cairn")
}

/// The store itself on S3: every command runs on it through a local cache, two machines
/// share it, and what arrives from it is re-hashed.
#[test]
fn commands_run_on_a_store_in_s3() {
    let Some(url) = s3_remote("facade") else {
        return;
    };
    let (endpoint, _) = common::s3().expect("s3");
    let env = Env::new();
    common::copy_run_fixtures(&env);
    std::fs::write(
        env.path("tiny.toml"),
        common::tiny_experiment("1.0.0", None, None, 2, "0.01"),
    )
    .expect("write");
    std::fs::write(
        env.path("other.toml"),
        common::tiny_experiment("1.0.0", None, None, 1, "0.02"),
    )
    .expect("write");

    // Nothing there yet: refused in one line naming the URL and the fix.
    let out = on_s3(&env, &url, "a", &["log"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!(
            "no cairn store at {url} (run `cairn init --store {url}`"
        )),
        "{}",
        stderr(&out)
    );
    // Nor does a run make one (a mistyped URL is not turned into a store).
    let out = on_s3(&env, &url, "a", &["run", "tiny.toml"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no cairn store at"),
        "{}",
        stderr(&out)
    );
    ok(&on_s3(&env, &url, "a", &["init"]));
    ok(&on_s3(&env, &url, "a", &["run", "tiny.toml"]));

    // Machine b has an empty cache, yet sees the version, shows it and reproduces it
    // bit for bit from what it fetches.
    assert!(ok(&on_s3(&env, &url, "b", &["log"])).contains("tiny@1.0.0"));
    assert!(ok(&on_s3(&env, &url, "b", &["show", "tiny@1.0.0"])).contains("tiny@1.0.0"));
    let out = on_s3(&env, &url, "b", &["reproduce", "tiny@1.0.0"]);
    assert!(
        ok(&out).contains("bit-for-bit identical"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        ok(&on_s3(&env, &url, "a", &["ref", "list"])),
        ok(&on_s3(&env, &url, "b", &["ref", "list"]))
    );
    let version = ok(&on_s3(&env, &url, "a", &["ref", "get", "tiny@1.0.0"]));

    // Another recipe under the same version, from machine b: refused (it reads the version
    // ref on S3 before training; the compare-and-swap under a race is tested in the remote
    // crate); the version stays.
    let out = on_s3(&env, &url, "b", &["run", "other.toml"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(stderr(&out).contains("tiny@1.0.0"), "{}", stderr(&out));
    assert_eq!(
        ok(&on_s3(&env, &url, "a", &["ref", "get", "tiny@1.0.0"])),
        version
    );
    // A mutable ref moves by compare-and-swap only.
    let stale = "0".repeat(64);
    let out = on_s3(
        &env,
        &url,
        "b",
        &[
            "ref",
            "set",
            "tiny/latest",
            version.trim(),
            "--expect",
            &stale,
        ],
    );
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("changed concurrently"),
        "{}",
        stderr(&out)
    );

    // fsck checks the store where it is; gc is refused and deletes nothing.
    assert!(stderr(&on_s3(&env, &url, "b", &["fsck"])).contains("clean"));
    let out = on_s3(&env, &url, "a", &["gc"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("gc does not sweep"),
        "{}",
        stderr(&out)
    );
    let clone = env.path("clone");
    ok(&cairn_at(&env, &clone, &["clone", &url]));
    ok(&cairn_at(&env, &clone, &["fsck"]));

    // An object damaged on the server is refused by a machine that reads it, and never
    // enters its cache.
    let run = version.trim();
    let key = format!(
        "{endpoint}/{}/objects/{}/{run}",
        url.trim_start_matches("s3://"),
        &run[..2]
    );
    let put = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
            "cairn-test:cairn-test",
            "--data-binary",
            "not the run",
            &key,
        ])
        .output()
        .expect("curl");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let out = on_s3(&env, &url, "c", &["show", "tiny@1.0.0"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("refused, nothing was stored"),
        "{}",
        stderr(&out)
    );
    let cached = std::fs::read_dir(env.path("c").join("stores"))
        .expect("cache")
        .flatten()
        .next()
        .expect("the cache folder")
        .path();
    assert!(!common::object_path(&cached, run).exists());
    // fsck names it.
    let out = on_s3(&env, &url, "c", &["fsck"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains(run), "{}", stdout(&out));
}
