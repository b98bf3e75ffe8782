//! `cairn-fuzz <target|all> [--minutes N | --iterations N] [--seed S] [--out DIR]`: fuzzes
//! cairn's parsers (see the library). `--replay FILE…` runs saved inputs once each.
//! Exit 1 when anything was found; each finding is saved under `--out` (default
//! `fuzz-findings/`) to become a regression test.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cairn_fuzz::{Budget, TARGETS, fuzz, run_one, target};

fn usage() -> ExitCode {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    eprintln!(
        "usage: cairn-fuzz <{}|all> [--minutes N | --iterations N] [--seed S] [--out DIR] [--replay FILE...]",
        names.join("|")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(which) = args.first() else {
        return usage();
    };
    let mut budget = Budget {
        iterations: None,
        time: Some(Duration::from_secs(60)),
        per_input: Duration::from_secs(10),
        seed: 1,
    };
    let mut out = PathBuf::from("fuzz-findings");
    let mut replay = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1);
        match (args[i].as_str(), value) {
            ("--minutes", Some(v)) => match v.parse::<f64>() {
                Ok(m) if m > 0.0 => {
                    budget.time = Some(Duration::from_secs_f64(m * 60.0));
                    budget.iterations = None;
                }
                _ => return usage(),
            },
            ("--iterations", Some(v)) => match v.parse() {
                Ok(n) => {
                    budget.iterations = Some(n);
                    budget.time = None;
                }
                Err(_) => return usage(),
            },
            ("--seed", Some(v)) => match v.parse() {
                Ok(s) => budget.seed = s,
                Err(_) => return usage(),
            },
            ("--out", Some(v)) => out = PathBuf::from(v),
            ("--replay", _) => {
                replay.extend(args[i + 1..].iter().map(PathBuf::from));
                break;
            }
            _ => return usage(),
        }
        i += 2;
    }
    let targets: Vec<_> = if which == "all" {
        TARGETS.iter().collect()
    } else {
        match target(which) {
            Some(t) => vec![t],
            None => return usage(),
        }
    };
    // Bounded memory: an input that makes a parser ask for more fails its allocation (and
    // aborts, naming nothing — the watchdog's `current` copy is not kept, so keep runs short
    // enough to bisect) rather than taking the machine.
    limit_memory(8 << 30);
    let mut found = 0;
    if !replay.is_empty() {
        for t in &targets {
            for path in &replay {
                let input = match std::fs::read(path) {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("cannot read {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                };
                let outcome = run_one(t, &input);
                println!("{} {}: {outcome:?}", t.name, path.display());
                if outcome.is_err() {
                    found += 1;
                }
            }
        }
    } else {
        for t in &targets {
            let summary = fuzz(t, &budget, Some(&out));
            println!(
                "{:<12} {:>9} inputs  {:>8} accepted  {} finding(s)  slowest {:.1} ms",
                t.name,
                summary.inputs,
                summary.accepted,
                summary.findings.len(),
                summary.slowest.as_secs_f64() * 1e3
            );
            for f in &summary.findings {
                let first = f.problem.lines().next().unwrap_or("");
                println!("  {}: {first}", f.target);
            }
            found += summary.findings.len();
        }
    }
    if found > 0 {
        eprintln!(
            "cairn-fuzz: {found} finding(s); inputs saved in {}",
            out.display()
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn limit_memory(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit with a valid struct; failure only leaves the limit unset.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &limit);
    }
}
