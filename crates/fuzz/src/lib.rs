//! cairn-fuzz: fuzzing of every parser that reads user or store input, on stable Rust.
//!
//! cargo-fuzz needs a nightly compiler; this harness needs none. Each [`Target`] starts from
//! valid seeds (the project's own experiments, suite, taxonomy, JSONL fixtures, and the
//! objects of the `store-v0` fixture: manifests, a tokenizer, an ONNX export) and mutates
//! them — bit flips, interesting bytes, the format's own tokens, deleted, repeated and
//! spliced ranges, truncation — keeping inputs a parser accepted as new starting points.
//! Every input must come back without a panic, within a time budget (a watchdog aborts
//! the process and names the input otherwise), and anything accepted must round-trip where
//! the format has a writer. Crashes are written to the output folder as files to replay.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What one input did: accepted, or refused with an error (both fine); a broken promise
/// (a round trip that changed the value) is a finding, like a panic.
pub type Outcome = Result<Accepted, String>;

/// An accepted input (the harness keeps it as a starting point) or a refused one.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    Yes,
    No,
}

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    /// Tokens of its format, spliced into inputs.
    pub tokens: &'static [&'static str],
    /// Inputs to start from.
    pub seeds: fn(&Path) -> Vec<Vec<u8>>,
    /// Whether every seed must be accepted (a refused seed is then a finding).
    pub seeds_valid: bool,
    /// Runs the parser on one input.
    pub run: fn(&[u8]) -> Outcome,
}

/// The repository root (seeds are read from it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A finding: the target, what went wrong, and the input.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: &'static str,
    pub problem: String,
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub inputs: u64,
    pub accepted: u64,
    pub findings: Vec<Finding>,
    pub slowest: Duration,
}

/// How long to fuzz one target.
#[derive(Debug, Clone)]
pub struct Budget {
    pub iterations: Option<u64>,
    pub time: Option<Duration>,
    /// The longest one input may take before the watchdog aborts the process.
    pub per_input: Duration,
    pub seed: u64,
}

const INTERESTING: &[u8] = b"\0\xff\x7f\x80\"\\{}[]=\n\r#,:.-0 \t'";

/// The corpus grows with accepted inputs up to this many.
const MAX_CORPUS: usize = 512;

/// The largest input made.
const MAX_LEN: usize = 64 * 1024;

fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, tokens: &[&str], other: &[u8]) {
    let rounds = rng.random_range(1..=4);
    for _ in 0..rounds {
        let len = input.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            2 if !tokens.is_empty() => {
                let token = tokens[rng.random_range(0..tokens.len())].as_bytes();
                let at = rng.random_range(0..=len);
                input.splice(at..at, token.iter().copied());
            }
            3 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=64.min(len - a))).min(len);
                input.drain(a..b);
            }
            4 if len > 1 => {
                // Repeat a range: deep nesting, long lists, huge counts.
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=32.min(len - a))).min(len);
                let chunk = input[a..b].to_vec();
                let times = rng.random_range(1..=64);
                for _ in 0..times {
                    input.splice(b..b, chunk.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                let a = rng.random_range(0..other.len());
                let b = (a + rng.random_range(1..=256)).min(other.len());
                let at = rng.random_range(0..=len);
                input.splice(at..at, other[a..b].iter().copied());
            }
            6 if len > 0 => input.truncate(rng.random_range(0..len)),
            _ => {
                let at = rng.random_range(0..=len);
                let n = rng.random_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                input.splice(at..at, bytes);
            }
        }
    }
    input.truncate(MAX_LEN);
}

/// The watchdog: if one input runs longer than the budget, it writes the input to `out` and
/// aborts the process (a hang cannot be caught).
struct Watchdog {
    started_ms: Arc<AtomicU64>,
    busy: Arc<AtomicBool>,
    current: Arc<Mutex<Vec<u8>>>,
    clock: Instant,
    stop: Arc<AtomicBool>,
}

impl Watchdog {
    fn start(target: &'static str, per_input: Duration, out: Option<PathBuf>) -> Self {
        let dog = Watchdog {
            started_ms: Arc::new(AtomicU64::new(0)),
            busy: Arc::new(AtomicBool::new(false)),
            current: Arc::new(Mutex::new(Vec::new())),
            clock: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (started, busy, current, stop, clock) = (
            dog.started_ms.clone(),
            dog.busy.clone(),
            dog.current.clone(),
            dog.stop.clone(),
            dog.clock,
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let now = clock.elapsed().as_millis() as u64;
                if busy.load(Ordering::Relaxed)
                    && now.saturating_sub(started.load(Ordering::Relaxed))
                        > per_input.as_millis() as u64
                {
                    let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                    let saved = out
                        .as_ref()
                        .and_then(|dir| save(dir, target, "hang", &input).ok());
                    eprintln!(
                        "cairn-fuzz: {target}: one input ran longer than {per_input:?}{}",
                        saved
                            .map(|p| format!(" (saved as {})", p.display()))
                            .unwrap_or_default()
                    );
                    std::process::abort();
                }
            }
        });
        dog
    }

    fn enter(&self, input: &[u8]) {
        if let Ok(mut c) = self.current.lock() {
            c.clear();
            c.extend_from_slice(input);
        }
        self.started_ms
            .store(self.clock.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.busy.store(true, Ordering::Relaxed);
    }

    fn leave(&self) {
        self.busy.store(false, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Writes a finding's input as `<out>/<target>-<kind>-<hash>.bin`.
pub fn save(out: &Path, target: &str, kind: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let hash = blake3_hex(input);
    let path = out.join(format!("{target}-{kind}-{}.bin", &hash[..16]));
    std::fs::write(&path, input)?;
    Ok(path)
}

fn blake3_hex(bytes: &[u8]) -> String {
    cairn_store::ObjectId::of(bytes).to_hex()
}

/// Runs one input, catching a panic.
pub fn run_one(target: &Target, input: &[u8]) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(format!("PANIC: {message}"))
        }
    }
}

/// Fuzzes `target` within `budget`; findings are saved to `out` when given.
pub fn fuzz(target: &Target, budget: &Budget, out: Option<&Path>) -> Summary {
    let mut rng = ChaCha8Rng::seed_from_u64(budget.seed);
    let mut corpus = (target.seeds)(&repo_root());
    assert!(!corpus.is_empty(), "{}: no seeds", target.name);
    let dog = Watchdog::start(target.name, budget.per_input, out.map(Path::to_path_buf));
    // Panics are findings, reported with their message: the default hook's backtrace on
    // stderr for each would drown the report.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut summary = Summary::default();
    // The seeds themselves first: each must be accepted.
    let seeds = corpus.len();
    for input in corpus.clone() {
        dog.enter(&input);
        let outcome = run_one(target, &input);
        dog.leave();
        summary.inputs += 1;
        match outcome {
            Ok(Accepted::Yes) => summary.accepted += 1,
            Ok(Accepted::No) if target.seeds_valid => summary.findings.push(Finding {
                target: target.name,
                problem: "a seed was refused".into(),
                input,
            }),
            Ok(Accepted::No) => {}
            Err(problem) => summary.findings.push(Finding {
                target: target.name,
                problem,
                input,
            }),
        }
    }
    loop {
        if budget.iterations.is_some_and(|n| summary.inputs >= n)
            || budget.time.is_some_and(|t| started.elapsed() >= t)
        {
            break;
        }
        let base = corpus[rng.random_range(0..corpus.len())].clone();
        let other = corpus[rng.random_range(0..corpus.len())].clone();
        let mut input = base;
        mutate(&mut rng, &mut input, target.tokens, &other);
        let clock = Instant::now();
        dog.enter(&input);
        let outcome = run_one(target, &input);
        dog.leave();
        summary.slowest = summary.slowest.max(clock.elapsed());
        summary.inputs += 1;
        match outcome {
            Ok(Accepted::Yes) => {
                summary.accepted += 1;
                if corpus.len() < MAX_CORPUS {
                    corpus.push(input);
                } else {
                    let i = rng.random_range(seeds..MAX_CORPUS);
                    corpus[i] = input;
                }
            }
            Ok(Accepted::No) => {}
            Err(problem) => {
                if let Some(dir) = out {
                    let _ = save(dir, target.name, "crash", &input);
                }
                summary.findings.push(Finding {
                    target: target.name,
                    problem,
                    input,
                });
            }
        }
    }
    std::panic::set_hook(hook);
    summary
}

mod targets;

pub use targets::{TARGETS, target};

#[cfg(test)]
mod tests {
    use super::*;

    /// A short, fixed-seed run of every target (1,000 inputs each): seeds accepted, no panic, no broken promise.
    #[test]
    fn every_target_survives_a_short_run() {
        let mut failures = Vec::new();
        for target in TARGETS {
            let budget = Budget {
                iterations: Some(1000),
                time: None,
                per_input: Duration::from_secs(20),
                seed: 2026,
            };
            let summary = fuzz(target, &budget, None);
            assert!(summary.inputs >= 1000, "{}", target.name);
            for f in summary.findings {
                failures.push(format!(
                    "{}: {} (input {:?})",
                    f.target,
                    f.problem,
                    String::from_utf8_lossy(&f.input[..f.input.len().min(200)])
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
