//! `cairn scan`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use cairn_pipeline::{ScanInput, ScanLine, Scanner, Verdict};
use cairn_store::Store;
use clap::Args;

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
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    batch: u64,
    /// ONNX Runtime intra-op threads (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: Option<u64>,
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
        Some(path) => cairn_pipeline::read_scan_inputs(path)?,
        None if args.texts.is_empty() => {
            bail!("nothing to scan: give one or more texts, or --file prompts.txt|prompts.jsonl")
        }
        None => args
            .texts
            .iter()
            .enumerate()
            .map(|(i, t)| ScanInput {
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

    let mut w = BufWriter::new(crate::output::stdout());
    let mut emit = |input: &ScanInput, v: &Verdict| -> std::io::Result<()> {
        if out.json {
            // Serialized first, so a closed stdout is an io::Error below.
            let mut line = serde_json::to_vec(&ScanLine {
                line: input.line,
                text: &input.text,
                verdict: v,
            })?;
            line.push(b'\n');
            w.write_all(&line)
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
            )
        }
    };
    let scanned = cairn_pipeline::scan_stream(scanner, &inputs, args.batch as usize, &mut emit)
        .and_then(|s| {
            w.flush()
                .map_err(|e| cairn_pipeline::PipelineError::Io {
                    path: "-".into(),
                    source: e,
                })
                .map(|()| s)
        });
    let summary = match scanned {
        Ok(s) => s,
        // A closed stdout (`cairn scan ... | head`) ends the scan quietly.
        Err(cairn_pipeline::PipelineError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    out.detail(format!(
        "tokenizing took {:.3} s (on a second thread, beside ONNX Runtime)",
        summary.tokenizing_seconds
    ));
    out.status(format!(
        "scanned {} texts with {} in {:.3} s: {:.0} texts/s; latency per text p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms (batch {}, {} thread(s), model loaded in {:.0} ms); {} threat(s)",
        summary.texts,
        summary.version,
        summary.seconds,
        summary.texts_per_second,
        summary.latency_ms_p50,
        summary.latency_ms_p95,
        summary.latency_ms_p99,
        args.batch,
        threads,
        load_ms,
        summary.threats
    ));
    Ok(ExitCode::SUCCESS)
}
