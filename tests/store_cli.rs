//! End-to-end tests of the store commands: `cairn add | cat | fsck | gc | ref`.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, code, stderr, stdout};
use rand::{Rng, SeedableRng};

fn hash_of(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    blake3::hash(&bytes).to_hex().to_string()
}

fn make_writable(path: &std::path::Path) {
    let mut perms = std::fs::metadata(path).expect("stat").permissions();
    perms.set_mode(0o644);
    std::fs::set_permissions(path, perms).expect("chmod");
}

#[test]
fn add_cat_round_trip_of_a_100_mb_file() {
    let env = Env::new();
    let file = env.random_file("big.bin", 100 << 20, 1);
    let out = env.run(&["add", file.to_str().expect("utf-8 path")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = hash_of(&file);
    assert_eq!(
        stdout(&out),
        format!("{expected}  {}\n", file.display()),
        "b3sum-style line with the BLAKE3 of the bytes"
    );
    let cat = env.cairn().args(["cat", &expected]).output().expect("cat");
    assert_eq!(code(&cat), 0, "{}", stderr(&cat));
    assert!(
        cat.stdout == std::fs::read(&file).expect("read"),
        "cat returns the exact bytes"
    );
}

#[test]
fn identical_content_is_stored_once() {
    let env = Env::new();
    let a = env.random_file("a.bin", 5 << 20, 2);
    let copy = env.path("copy.bin");
    std::fs::copy(&a, &copy).expect("copy");
    let small = env.path("small.txt");
    std::fs::write(&small, "hello\n").expect("write");
    let first = env.run(&[
        "add",
        a.to_str().expect("path"),
        small.to_str().expect("path"),
    ]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let second = env.run(&[
        "--json",
        "add",
        copy.to_str().expect("path"),
        small.to_str().expect("path"),
    ]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let json: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(json[0]["hash"], hash_of(&a));
    assert_eq!(json[0]["new"], false, "re-adding writes nothing");
    assert_eq!(json[1]["new"], false);
    assert_eq!(env.object_files().len(), 2);
    let stdin = env.run_stdin(&["add", "-"], b"hello\n");
    assert_eq!(stdout(&stdin), format!("{}  -\n", hash_of(&small)));
    assert_eq!(env.object_files().len(), 2);
}

#[test]
fn fsck_and_cat_name_a_flipped_byte_and_a_truncated_object() {
    let env = Env::new();
    let one = env.random_file("one.bin", 3 << 20, 3);
    let two = env.random_file("two.bin", 1000, 4);
    let three = env.random_file("three.bin", 2000, 5);
    assert_eq!(
        code(&env.run(&[
            "add",
            one.to_str().expect("p"),
            two.to_str().expect("p"),
            three.to_str().expect("p")
        ])),
        0
    );
    let clean = env.run(&["fsck"]);
    assert_eq!(code(&clean), 0, "{}{}", stdout(&clean), stderr(&clean));

    let (h1, h2) = (hash_of(&one), hash_of(&two));
    let p1 = env.store().join("objects").join(&h1[..2]).join(&h1);
    let p2 = env.store().join("objects").join(&h2[..2]).join(&h2);
    make_writable(&p1);
    let mut bytes = std::fs::read(&p1).expect("read");
    bytes[12345] ^= 0x01;
    std::fs::write(&p1, bytes).expect("flip");
    make_writable(&p2);
    let bytes = std::fs::read(&p2).expect("read");
    std::fs::write(&p2, &bytes[..500]).expect("truncate");

    let fsck = env.run(&["fsck"]);
    assert_eq!(code(&fsck), 1);
    let report = stdout(&fsck);
    for (hash, path) in [(&h1, &p1), (&h2, &p2)] {
        let line = report
            .lines()
            .find(|l| l.contains(hash.as_str()))
            .unwrap_or_else(|| panic!("{hash} not named in:\n{report}"));
        assert!(
            line.contains(&path.display().to_string()) && line.starts_with("corrupt"),
            "{line}"
        );
    }
    assert!(
        !report.contains(&hash_of(&three)),
        "the healthy object is not reported"
    );

    for hash in [&h1, &h2] {
        let cat = env.run(&["cat", hash]);
        assert_eq!(code(&cat), 1);
        assert!(
            cat.stdout.is_empty(),
            "nothing of a corrupt object is written"
        );
        assert!(
            stderr(&cat).contains(hash.as_str()) && stderr(&cat).contains("corrupt"),
            "{}",
            stderr(&cat)
        );
    }
}

#[test]
fn fsck_reports_misplaced_files_and_dangling_refs() {
    let env = Env::new();
    let f = env.random_file("f.bin", 100, 6);
    assert_eq!(code(&env.run(&["add", f.to_str().expect("p")])), 0);
    let h = hash_of(&f);
    // A valid object name in the wrong fan-out folder, and a stray ref.
    let wrong = env.store().join("objects").join("zz");
    std::fs::create_dir_all(&wrong).expect("mkdir");
    std::fs::write(wrong.join("junk"), "x").expect("write");
    assert_eq!(code(&env.run(&["ref", "set", "l2/latest", &h])), 0);
    std::fs::write(
        env.store().join("refs").join("l2@9.9.9"),
        format!("{}\n", "ab".repeat(32)),
    )
    .expect("write ref");
    let fsck = env.run(&["fsck"]);
    assert_eq!(code(&fsck), 1);
    let report = stdout(&fsck);
    assert!(
        report.contains("misplaced") && report.contains("zz"),
        "{report}"
    );
    assert!(
        report.contains("ref `l2@9.9.9` points to missing object"),
        "{report}"
    );
    assert!(!report.contains("l2/latest"), "{report}");
}

/// kill -9 of `cairn add` at random instants leaves the store valid: fsck is clean, no
/// partial object is ever visible, and the next add finishes the work.
#[test]
fn kill_during_add_leaves_the_store_valid() {
    let env = Env::new();
    let file = env.random_file("big.bin", 160 << 20, 7);
    let expected = hash_of(&file);
    // Time a complete add to spread the kills over its duration.
    let probe = Env::new();
    let start = Instant::now();
    let out = probe
        .cairn()
        .args(["add", file.to_str().expect("p")])
        .output()
        .expect("add");
    assert_eq!(code(&out), 0);
    let full = start.elapsed().as_micros().max(1000) as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let trials = 24;
    for trial in 0..trials {
        let victim = Env::new();
        let mut child = victim
            .cairn()
            .args(["add", file.to_str().expect("p")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_micros(rng.random_range(0..full)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let objects = victim.object_files();
        assert!(objects.len() <= 1, "trial {trial}: {objects:?}");
        for object in &objects {
            assert!(
                object.ends_with(&expected),
                "trial {trial}: unexpected object {object:?}"
            );
            assert_eq!(
                hash_of(object),
                expected,
                "trial {trial}: a visible object is always complete"
            );
        }
        if victim.store().join("CAIRN_STORE").exists() {
            let fsck = victim.run(&["fsck"]);
            assert_eq!(
                code(&fsck),
                0,
                "trial {trial}: {}{}",
                stdout(&fsck),
                stderr(&fsck)
            );
        }
        if trial % 6 == 0 {
            let again = victim.run(&["add", file.to_str().expect("p")]);
            assert_eq!(stdout(&again), format!("{expected}  {}\n", file.display()));
            assert_eq!(code(&victim.run(&["fsck"])), 0);
        }
    }
}

#[test]
fn concurrent_writers_of_the_same_and_different_files() {
    let env = Env::new();
    let a = env.random_file("a.bin", 12 << 20, 9);
    let b = env.random_file("b.bin", 9 << 20, 10);
    let c = env.random_file("c.bin", 3000, 11);
    let sets = [vec![&a, &c], vec![&a, &b], vec![&b, &c], vec![&c, &a, &b]];
    let children: Vec<_> = sets
        .iter()
        .map(|files| {
            env.cairn()
                .arg("add")
                .args(files.iter().map(|f| f.as_os_str()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert_eq!(env.object_files().len(), 3);
    let fsck = env.run(&["fsck"]);
    assert_eq!(code(&fsck), 0, "{}", stdout(&fsck));
    for f in [&a, &b, &c] {
        assert_eq!(
            env.run(&["cat", &hash_of(f)]).stdout,
            std::fs::read(f).expect("read")
        );
    }
}

#[test]
fn ref_compare_and_swap_and_immutable_versions() {
    let env = Env::new();
    let f1 = env.random_file("1", 10, 12);
    let f2 = env.random_file("2", 10, 13);
    assert_eq!(
        code(&env.run(&["add", f1.to_str().expect("p"), f2.to_str().expect("p")])),
        0
    );
    let (h1, h2) = (hash_of(&f1), hash_of(&f2));
    assert_eq!(
        code(&env.run(&["ref", "set", "l2/latest", &h1, "--create"])),
        0
    );
    let conflict = env.run(&["ref", "set", "l2/latest", &h2, "--expect", &h2]);
    assert_eq!(code(&conflict), 1);
    assert!(
        stderr(&conflict).contains("changed concurrently"),
        "{}",
        stderr(&conflict)
    );
    assert_eq!(
        code(&env.run(&["ref", "set", "l2/latest", &h2, "--expect", &h1])),
        0
    );
    assert_eq!(
        stdout(&env.run(&["ref", "get", "l2/latest"])),
        format!("{h2}\n")
    );

    assert_eq!(code(&env.run(&["ref", "set", "l2@1.0.0", &h1])), 0);
    let moved = env.run(&["ref", "set", "l2@1.0.0", &h2]);
    assert_eq!(code(&moved), 1);
    assert!(
        stderr(&moved).contains("published version"),
        "{}",
        stderr(&moved)
    );
    assert_eq!(
        stdout(&env.run(&["ref", "list"])),
        format!("{h2}  l2/latest\n{h1}  l2@1.0.0\n"),
        "sorted by name"
    );

    let missing = env.run(&["ref", "get", "nope"]);
    assert_eq!(code(&missing), 1);
    assert_eq!(stderr(&missing).lines().count(), 1, "errors are one line");
}

#[test]
fn invalid_ref_names_and_hashes_are_usage_errors() {
    let env = Env::new();
    let f = env.random_file("f", 10, 14);
    assert_eq!(code(&env.run(&["add", f.to_str().expect("p")])), 0);
    let h = hash_of(&f);
    for bad in ["../escape", "/abs", "a b", "a\u{1}b", "x@", "a//b", ""] {
        let out = env.run(&["ref", "set", bad, &h]);
        assert_eq!(code(&out), 2, "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("invalid ref name"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    let out = env.run(&["cat", "not-a-hash"]);
    assert_eq!(code(&out), 2);
    assert!(
        std::fs::read_dir(env.store().join("refs"))
            .expect("refs")
            .next()
            .is_none(),
        "nothing was written"
    );
}

#[test]
fn gc_deletes_only_unreachable_objects() {
    let env = Env::new();
    let keep = env.random_file("keep", 100, 15);
    let drop = env.random_file("drop", 100, 16);
    assert_eq!(
        code(&env.run(&["add", keep.to_str().expect("p"), drop.to_str().expect("p")])),
        0
    );
    assert_eq!(code(&env.run(&["ref", "set", "keep", &hash_of(&keep)])), 0);
    // A leftover temp file from an interrupted write, by a process that is gone.
    let mut tmp = std::fs::File::create(env.store().join("tmp").join("obj-4294967294-1-2-3.tmp"))
        .expect("tmp");
    tmp.write_all(b"partial").expect("write");

    let young = env.run(&["gc"]);
    assert_eq!(code(&young), 0);
    assert_eq!(
        env.object_files().len(),
        2,
        "the default grace period keeps fresh objects"
    );

    let dry = env.run(&["gc", "--dry-run", "--grace", "0s"]);
    assert_eq!(stdout(&dry), format!("{}  100\n", hash_of(&drop)));
    assert_eq!(env.object_files().len(), 2);

    let real = env.run(&["--json", "gc", "--grace", "0s"]);
    let json: serde_json::Value = serde_json::from_slice(&real.stdout).expect("json");
    assert_eq!(json["removed"], serde_json::json!([hash_of(&drop)]));
    assert_eq!(json["temp_removed"], 1);
    assert_eq!(env.object_files().len(), 1);
    assert_eq!(
        env.run(&["cat", &hash_of(&keep)]).stdout,
        std::fs::read(&keep).expect("read")
    );
    assert_eq!(code(&env.run(&["fsck"])), 0);
}

#[test]
fn a_relative_store_path_works() {
    let env = Env::new();
    let file = env.random_file("f.bin", 1000, 17);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("cairn"))
        .env_remove("CAIRN_STORE")
        .current_dir(env.dir.path())
        .args(["--store", "rel", "add", "f.bin"])
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}  f.bin\n", hash_of(&file)));
    assert!(env.path("rel/CAIRN_STORE").is_file());
}

#[test]
fn reading_commands_need_an_existing_store() {
    let env = Env::new();
    let out = env.run(&["fsck"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no cairn store at"),
        "{}",
        stderr(&out)
    );
    assert!(!env.store().exists(), "nothing is created by a read");
    let _ = rand::rngs::StdRng::seed_from_u64(0).random::<u8>();
}

/// `cairn cat … | head` stops reading early: cairn exits quietly, like other Unix tools.
#[test]
fn a_reader_that_stops_early_is_no_error() {
    let env = Env::new();
    let f = env.random_file("big.bin", 4 << 20, 11);
    assert_eq!(code(&env.run(&["add", f.to_str().expect("p")])), 0);
    let h = hash_of(&f);
    let mut child = env
        .cairn()
        .args(["cat", &h])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cat");
    {
        use std::io::Read;
        let mut first = [0u8; 16];
        let mut stdout = child.stdout.take().expect("stdout");
        stdout.read_exact(&mut first).expect("read");
    } // the pipe closes here, as `head` closes it
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
