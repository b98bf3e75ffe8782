//! `cairn scan`: a registered version's tokenizer and ONNX export, run by ONNX Runtime, as
//! production runs them.

use std::path::Path;
use std::time::Instant;

use cairn_onnx::OnnxModel;
use cairn_store::Store;
use cairn_tokenize::CairnTokenizer;
use serde::Serialize;

use crate::error::PipelineError;
use crate::loaded::LoadedModel;

pub use cairn_metrics::Verdict;

/// A loaded version, ready to scan texts. The tokenizer and the classifier are separate
/// so one thread can tokenize the next batch while another runs the current one.
pub struct Scanner {
    /// `name@version`.
    pub version: String,
    pub tokenizer: TextEncoder,
    pub classifier: Classifier,
}

/// The version's tokenizer.
pub struct TextEncoder(CairnTokenizer);

impl TextEncoder {
    /// Token ids of texts (in parallel when there are several).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, PipelineError> {
        Ok(match texts {
            [one] => vec![self.0.encode(one)?],
            many => self.0.encode_all(many)?,
        })
    }
}

/// The version's ONNX export in an ONNX Runtime session, and its label names.
pub struct Classifier {
    model: OnnxModel,
    families: Vec<String>,
    contexts: Vec<String>,
    /// The version's operating point (from its run).
    threshold: Option<f32>,
}

impl Classifier {
    /// Verdicts for one batch of tokenized texts, in order.
    pub fn classify(&mut self, ids: &[Vec<u32>]) -> Result<Vec<Verdict>, PipelineError> {
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let predictions = self.model.predict(&refs)?;
        Ok(crate::loaded::verdicts(
            &predictions,
            self.threshold,
            &self.families,
            &self.contexts,
        ))
    }
}

/// The model to scan with when none is named: the only `<name>/latest` ref in the store.
pub fn default_model(store: &Store) -> Result<String, PipelineError> {
    let latest = latest_refs(store)?;
    match latest.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(PipelineError::NotFound {
            what: "model",
            name: "<name>/latest".into(),
            fix: "no model is registered in this store: run an experiment first".into(),
        }),
        many => Err(PipelineError::Invalid {
            field: "model".into(),
            problem: format!(
                "several models are registered: pass --model with one of {}",
                many.join(", ")
            ),
        }),
    }
}

fn names(props: &[(String, String)], key: &str) -> Result<Vec<String>, PipelineError> {
    props
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| serde_json::from_str(v).ok())
        .ok_or_else(|| {
            PipelineError::Onnx(cairn_onnx::OnnxError::Runtime(format!(
                "the ONNX export has no `{key}` metadata"
            )))
        })
}

/// Every model's `<name>/latest` ref, in name order.
pub(crate) fn latest_refs(store: &Store) -> Result<Vec<String>, PipelineError> {
    Ok(store
        .list_refs()?
        .into_iter()
        .map(|(name, _)| name.to_string())
        .filter(|n| n.ends_with("/latest") && !n.starts_with(cairn_spec::DEPLOYMENT_REF_PREFIX))
        .collect())
}

impl Scanner {
    /// Opens `reference` (default: [`default_model`]) with `threads` ONNX Runtime threads.
    pub fn open(
        store: &Store,
        reference: Option<&str>,
        threads: usize,
    ) -> Result<Self, PipelineError> {
        let reference = match reference {
            Some(r) => r.to_string(),
            None => default_model(store)?,
        };
        Self::of_model(LoadedModel::load(store, &reference)?, threads)
    }

    /// A loaded version's scanner, with `threads` ONNX Runtime threads.
    pub fn of_model(loaded: LoadedModel<'_>, threads: usize) -> Result<Self, PipelineError> {
        let onnx = loaded.onnx()?;
        let props = cairn_onnx::metadata(&onnx)?;
        Ok(Self {
            version: loaded.version,
            tokenizer: TextEncoder(loaded.tokenizer),
            classifier: Classifier {
                families: names(&props, "cairn.families")?,
                contexts: names(&props, "cairn.contexts")?,
                model: OnnxModel::load(&onnx, threads)?,
                threshold: loaded.run.threshold.map(|t| t as f32),
            },
        })
    }

    /// Verdicts for one batch of texts, in order.
    pub fn scan(&mut self, texts: &[&str]) -> Result<Vec<Verdict>, PipelineError> {
        let ids = self.tokenizer.tokenize(texts)?;
        self.classifier.classify(&ids)
    }
}

/// One text to scan and the line it came from (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanInput {
    pub line: usize,
    pub text: String,
}

/// Texts to scan from a file: one per line, or JSONL (`.jsonl`/`.json`/`.ndjson`) with a
/// string `text` per line. Blank lines are skipped; an empty file is refused.
pub fn read_scan_inputs(path: &Path) -> Result<Vec<ScanInput>, PipelineError> {
    let bad = |line: Option<usize>, message: String| PipelineError::InvalidLine {
        file: path.to_path_buf(),
        line,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| PipelineError::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        bad(
            None,
            format!(
                "not UTF-8 text (invalid byte at offset {}); save the file as UTF-8",
                e.utf8_error().valid_up_to()
            ),
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
                bad(
                    Some(n),
                    format!("invalid JSON ({e}); each line must be an object with a string `text`"),
                )
            })?;
            match value.get("text") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(bad(
                        Some(n),
                        "field `text` is not a string; give each line a string `text`".into(),
                    ));
                }
                None => {
                    return Err(bad(
                        Some(n),
                        "field `text` is missing; give each line a string `text`".into(),
                    ));
                }
            }
        } else {
            line.to_string()
        };
        out.push(ScanInput { line: n, text });
    }
    if out.is_empty() {
        return Err(bad(
            None,
            "no text to scan (the file is empty or holds only blank lines)".into(),
        ));
    }
    Ok(out)
}

/// One verdict as `cairn scan --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ScanLine<'a> {
    pub line: usize,
    pub text: &'a str,
    #[serde(flatten)]
    pub verdict: &'a Verdict,
}

/// What a scan of many texts measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanSummary {
    /// `name@version`.
    pub version: String,
    pub texts: usize,
    pub threats: usize,
    pub seconds: f64,
    pub texts_per_second: f64,
    /// Time spent tokenizing (on a second thread, beside ONNX Runtime, when batches overlap).
    pub tokenizing_seconds: f64,
    /// Latency per text, from the start of its batch's tokenization to its verdict.
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
    pub latency_ms_p99: f64,
}

/// The `q`-quantile of sorted values (nearest rank); 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Scans `inputs` in batches of `batch`, calling `emit` with each verdict in input order. A
/// second thread tokenizes batch k + 1 while ONNX Runtime runs batch k; a batch of one stays
/// on one thread (no hand-over on the latency path). An error from `emit` (a closed stdout)
/// stops the scan and is returned as [`PipelineError::Io`].
pub fn scan_stream(
    scanner: Scanner,
    inputs: &[ScanInput],
    batch: usize,
    emit: &mut dyn FnMut(&ScanInput, &Verdict) -> std::io::Result<()>,
) -> Result<ScanSummary, PipelineError> {
    let Scanner {
        version,
        tokenizer,
        mut classifier,
    } = scanner;
    let mut latencies = Vec::with_capacity(inputs.len());
    let mut threats = 0usize;
    let mut tokenizing = 0.0f64;
    let started = Instant::now();
    let chunks: Vec<&[ScanInput]> = inputs.chunks(batch.max(1)).collect();
    let pipelined = batch > 1 && chunks.len() > 1;
    let output = |e: std::io::Error| PipelineError::io(Path::new("-"), e);
    std::thread::scope(|scope| -> Result<(), PipelineError> {
        let tokenizer = &tokenizer;
        let chunks = &chunks;
        let tokenize = move |chunk: &[ScanInput]| {
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
                emit(input, v).map_err(output)?;
            }
        }
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(ScanSummary {
        version,
        texts: inputs.len(),
        threats,
        seconds,
        texts_per_second: inputs.len() as f64 / seconds.max(1e-9),
        tokenizing_seconds: tokenizing,
        latency_ms_p50: quantile(&latencies, 0.50),
        latency_ms_p95: quantile(&latencies, 0.95),
        latency_ms_p99: quantile(&latencies, 0.99),
    })
}
