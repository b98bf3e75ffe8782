//! `cairn scan` and `cairn deploy`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_pipeline::{Scanner, Verdict};
use cairn_store::Store;
use clap::Args;
use serde::Serialize;

use crate::output::Output;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Texts to classify (or use --file).
    texts: Vec<String>,
    /// A registered version (default: the store's only `<name>/latest`).
    #[arg(long, value_name = "REF")]
    model: Option<String>,
    /// One text per line, or JSONL (`.jsonl`/`.json`) with a `text` field per line. Blank
    /// lines are skipped; each verdict carries its input line number.
    #[arg(long, value_name = "FILE", conflicts_with = "texts")]
    file: Option<PathBuf>,
    /// Texts per ONNX Runtime call.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// ONNX Runtime intra-op threads (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The version to deploy: `name@version` or `name/latest`.
    #[arg(required_unless_present = "rollback")]
    reference: Option<String>,
    /// The production folder.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore what the newest deployment to the folder replaced.
    #[arg(long, conflicts_with = "reference")]
    rollback: bool,
}

/// One input text and the line it came from (1-based).
struct Input {
    line: usize,
    text: String,
}

fn read_inputs(path: &Path) -> Result<Vec<Input>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {}); save the file as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let jsonl = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "json" | "ndjson")
    );
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let text = if jsonl {
            let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{n}: invalid JSON ({e}); each line must be an object with a string `text`",
                    path.display()
                )
            })?;
            match value.get("text") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(_) => bail!(
                    "{}:{n}: field `text` is not a string; give each line a string `text`",
                    path.display()
                ),
                None => bail!(
                    "{}:{n}: field `text` is missing; give each line a string `text`",
                    path.display()
                ),
            }
        } else {
            line.to_string()
        };
        out.push(Input { line: n, text });
    }
    if out.is_empty() {
        bail!(
            "{}: no text to scan (the file is empty or holds only blank lines)",
            path.display()
        );
    }
    Ok(out)
}

#[derive(Serialize)]
struct ScanLine<'a> {
    line: usize,
    text: &'a str,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// The `q`-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn short(text: &str, n: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= n {
        one_line
    } else {
        let cut: String = one_line.chars().take(n - 1).collect();
        format!("{cut}…")
    }
}

pub fn scan(store: &Path, out: &Output, args: ScanArgs) -> Result<ExitCode> {
    let inputs = match &args.file {
        Some(path) => read_inputs(path)?,
        None if args.texts.is_empty() => {
            bail!("nothing to scan: give one or more texts, or --file prompts.txt|prompts.jsonl")
        }
        None => args
            .texts
            .iter()
            .enumerate()
            .map(|(i, t)| Input {
                line: i + 1,
                text: t.clone(),
            })
            .collect(),
    };
    let store = Store::open(store)?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |t| t as usize,
    );
    let loading = Instant::now();
    let scanner = Scanner::open(&store, args.model.as_deref(), threads)?;
    let load_ms = loading.elapsed().as_secs_f64() * 1e3;

    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let mut latencies = Vec::with_capacity(inputs.len());
    let mut threats = 0usize;
    let mut tokenizing = 0.0f64;
    let started = Instant::now();
    let Scanner {
        version,
        tokenizer,
        mut classifier,
    } = scanner;
    // A producer thread tokenizes batch k + 1 while ONNX Runtime runs batch k; a text's
    // latency runs from the start of its batch's tokenization to its verdict.
    let chunks: Vec<&[Input]> = inputs.chunks(args.batch as usize).collect();
    // One text at a time stays on one thread: no hand-over on the latency path.
    let pipelined = args.batch > 1 && chunks.len() > 1;
    let written: Result<()> = std::thread::scope(|scope| {
        let tokenizer = &tokenizer;
        let chunks = &chunks;
        let tokenize = move |chunk: &[Input]| {
            let t = Instant::now();
            let texts: Vec<&str> = chunk.iter().map(|i| i.text.as_str()).collect();
            let ids = tokenizer.tokenize(&texts);
            (t, t.elapsed(), ids)
        };
        let batches: Box<dyn Iterator<Item = _>> = if pipelined {
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            scope.spawn(move || {
                for chunk in chunks {
                    if tx.send(tokenize(chunk)).is_err() {
                        return;
                    }
                }
            });
            Box::new(rx.into_iter())
        } else {
            Box::new(chunks.iter().map(|c| tokenize(c)))
        };
        for (chunk, (t, tokenized, ids)) in chunks.iter().zip(batches) {
            let verdicts = classifier.classify(&ids?)?;
            tokenizing += tokenized.as_secs_f64();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            latencies.extend(std::iter::repeat_n(ms, chunk.len()));
            for (input, v) in chunk.iter().zip(&verdicts) {
                threats += usize::from(v.threat);
                if out.json {
                    // Serialized first, so a closed stdout is an io::Error below.
                    let mut line = serde_json::to_vec(&ScanLine {
                        line: input.line,
                        text: &input.text,
                        verdict: v,
                    })?;
                    line.push(b'\n');
                    w.write_all(&line)?;
                } else {
                    writeln!(
                        w,
                        "{:<6} {:.3}  {:<22} severity {:.2}  {:<14} {}",
                        if v.threat { "THREAT" } else { "benign" },
                        v.probability,
                        v.family,
                        v.severity,
                        v.context,
                        short(&input.text, 60)
                    )?;
                }
            }
        }
        w.flush()?;
        Ok(())
    });
    if let Err(e) = written {
        // A closed stdout (`cairn scan ... | head`) ends the scan quietly.
        let closed = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if closed {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    out.detail(format!(
        "tokenizing took {tokenizing:.3} s (on a second thread, beside ONNX Runtime)"
    ));
    out.status(format!(
        "scanned {} texts with {} in {:.3} s: {:.0} texts/s; latency per text p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms (batch {}, {} thread(s), model loaded in {:.0} ms); {} threat(s)",
        inputs.len(),
        version,
        seconds,
        inputs.len() as f64 / seconds.max(1e-9),
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.95),
        quantile(&latencies, 0.99),
        args.batch,
        threads,
        load_ms,
        threats
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn deploy(store: &Path, out: &Output, args: DeployArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let result = match (&args.reference, args.rollback) {
        (_, true) => cairn_pipeline::rollback(&store, &args.to)?,
        (Some(reference), false) => cairn_pipeline::deploy(&store, reference, &args.to)?,
        (None, false) => bail!("name the version to deploy, or pass --rollback"),
    };
    if out.json {
        out.json(&result)?;
    } else {
        let version = result
            .version
            .as_deref()
            .unwrap_or("files not deployed by cairn");
        let kept = result
            .backup
            .as_deref()
            .map(|b| format!(" (the files it replaced are kept in {b})"))
            .unwrap_or_default();
        let target = result.target.display();
        out.status(if args.rollback {
            format!("rolled back {target} to {version}{kept}")
        } else {
            format!("deployed {version} to {target}{kept}")
        });
    }
    Ok(ExitCode::SUCCESS)
}
