//! Running an export with ONNX Runtime (the `ort` crate, loading `libonnxruntime` at run
//! time).
//!
//! The library is found, in order, at `ORT_DYLIB_PATH`, at the path remembered in
//! `~/.cache/cairn/onnxruntime-library` (while that file exists), then in the `onnxruntime`
//! Python package (`<site-packages>/onnxruntime/capi/libonnxruntime.so.*`; the wheel on PyPI
//! ships it and `just setup` installs it). It is loaded once per process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cairn_model::Prediction;
use onnx_protobuf::{Message, ModelProto};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

use crate::OnnxError;

const FIX: &str = "run `just setup` (it installs the `onnxruntime` wheel from PyPI), set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.31 or later, or set `[export] onnx = false` in the experiment to run without the ONNX export";

/// The ONNX Runtime library this process uses (see the module documentation).
pub fn library_path() -> Result<PathBuf, OnnxError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(OnnxError::Unavailable(format!(
                "ORT_DYLIB_PATH points to `{}`, which is not a file: {FIX}",
                path.display()
            )));
        }
        return Ok(path);
    }
    // Asking Python costs a process start (~0.1 s behind version-manager shims), so the
    // answer is remembered in the user's cache folder while the file it names exists.
    let cache = cache_file();
    if let Some(path) = cache
        .as_ref()
        .and_then(|c| std::fs::read_to_string(c).ok())
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.is_file())
    {
        return Ok(path);
    }
    let python = std::env::var("CAIRN_PYTHON").unwrap_or_else(|_| "python3".into());
    // find_spec locates the package without importing it (and numpy with it).
    let script = "import importlib.util as u\ns = u.find_spec('onnxruntime')\nprint(s.submodule_search_locations[0] if s else '')";
    let dir = Command::new(&python)
        .args(["-c", script])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    let found = dir
        .and_then(|d| shared_library_in(&Path::new(&d).join("capi")))
        .ok_or_else(|| OnnxError::Unavailable(format!("ONNX Runtime library not found: {FIX}")))?;
    if let Some(cache) = cache {
        // Best effort: a cache that cannot be written only costs the next lookup.
        let _ = cache
            .parent()
            .map(std::fs::create_dir_all)
            .and_then(Result::ok)
            .map(|()| std::fs::write(&cache, found.to_string_lossy().as_bytes()));
    }
    Ok(found)
}

/// `$XDG_CACHE_HOME/cairn/onnxruntime-library` (or under `~/.cache`).
fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cairn").join("onnxruntime-library"))
}

/// `libonnxruntime.so.<version>` (or `.dylib` / `.dll`) in `dir`, the newest name first.
fn shared_library_in(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("libonnxruntime.so")
                    || n == "libonnxruntime.dylib"
                    || n == "onnxruntime.dll")
                    && !n.contains("providers")
            })
        })
        .collect();
    names.sort();
    names.pop()
}

struct Loaded {
    environment: Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<Result<Loaded, String>> = OnceLock::new();

fn runtime() -> Result<&'static Loaded, OnnxError> {
    RUNTIME
        .get_or_init(|| {
            let library = library_path().map_err(|e| e.to_string())?;
            let environment = ort::init_from(&library)
                .map_err(|e| {
                    format!(
                        "cannot load ONNX Runtime from `{}`: {e}; {FIX}",
                        library.display()
                    )
                })?
                .with_name("cairn")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))?;
            Ok(Loaded {
                environment,
                library,
            })
        })
        .as_ref()
        .map_err(|e| OnnxError::Unavailable(e.clone()))
}

/// The file name of the loaded ONNX Runtime library (it carries the version on Linux).
pub fn runtime_name() -> Result<String, OnnxError> {
    let loaded = runtime()?;
    Ok(loaded
        .library
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// The `metadata_props` of an export, in file order.
pub fn metadata(onnx: &[u8]) -> Result<Vec<(String, String)>, OnnxError> {
    let proto = ModelProto::parse_from_bytes(onnx)
        .map_err(|e| OnnxError::Runtime(format!("not an ONNX model: {e}")))?;
    Ok(proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect())
}

/// An export loaded into an ONNX Runtime session.
pub struct OnnxModel {
    session: Session,
}

fn ort_error(what: &str) -> impl Fn(ort::Error) -> OnnxError + '_ {
    move |e| OnnxError::Runtime(format!("{what}: {e}"))
}

impl OnnxModel {
    /// Loads ONNX bytes with `threads` intra-op threads (1 keeps results independent of the
    /// machine's core count).
    pub fn load(onnx: &[u8], threads: usize) -> Result<Self, OnnxError> {
        let rt = runtime()?;
        let session = Session::builder(&rt.environment)
            .map_err(ort_error("creating a session"))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| OnnxError::Runtime(format!("session options: {e}")))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| OnnxError::Runtime(format!("session options: {e}")))?
            .with_inter_threads(1)
            .map_err(|e| OnnxError::Runtime(format!("session options: {e}")))?
            // Idle intra-op threads sleep instead of spinning, leaving the cores to the
            // tokenizer working beside them.
            .with_intra_op_spinning(false)
            .map_err(|e| OnnxError::Runtime(format!("session options: {e}")))?
            .commit_from_memory(onnx)
            .map_err(ort_error("loading the ONNX model"))?;
        Ok(Self { session })
    }

    /// Predictions for one batch of token id sequences (padded to the longest with id 0 and
    /// mask 0).
    pub fn predict(&mut self, ids: &[&[u32]]) -> Result<Vec<Prediction>, OnnxError> {
        let b = ids.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let l = ids.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut input_ids = vec![0i64; b * l];
        let mut mask = vec![0i64; b * l];
        for (i, seq) in ids.iter().enumerate() {
            for (j, &id) in seq.iter().enumerate() {
                input_ids[i * l + j] = i64::from(id);
                mask[i * l + j] = 1;
            }
        }
        let input_ids = Tensor::from_array(([b, l], input_ids)).map_err(ort_error("input_ids"))?;
        let mask = Tensor::from_array(([b, l], mask)).map_err(ort_error("attention_mask"))?;
        let outputs = self
            .session
            .run(ort::inputs! {"input_ids" => input_ids, "attention_mask" => mask})
            .map_err(ort_error("running the ONNX model"))?;
        let get = |name: &str| -> Result<Vec<f32>, OnnxError> {
            let value = outputs
                .get(name)
                .ok_or_else(|| OnnxError::Runtime(format!("the model has no output `{name}`")))?;
            let (_, data) = value.try_extract_tensor::<f32>().map_err(ort_error(name))?;
            Ok(data.to_vec())
        };
        let binary = get("binary_logits")?;
        let family = get("family_logits")?;
        let severity = get("severity_score")?;
        let context = get("context_logits")?;
        if binary.len() != 2 * b
            || severity.len() != b
            || family.len() % b != 0
            || context.len() % b != 0
        {
            return Err(OnnxError::Runtime(format!(
                "unexpected output sizes for a batch of {b}: binary_logits {}, family_logits {}, severity_score {}, context_logits {}",
                binary.len(),
                family.len(),
                severity.len(),
                context.len()
            )));
        }
        Ok(Prediction::from_batch(
            &binary, &family, &severity, &context,
        ))
    }

    /// Predictions for many sequences, `batch` at a time, in input order.
    pub fn predict_all(
        &mut self,
        ids: &[Vec<u32>],
        batch: usize,
    ) -> Result<Vec<Prediction>, OnnxError> {
        // Batches group sequences of similar length (less padding); results keep input order.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out: Vec<Option<Prediction>> = vec![None; ids.len()];
        for chunk in order.chunks(batch.max(1)) {
            let refs: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            for (&i, p) in chunk.iter().zip(self.predict(&refs)?) {
                out[i] = Some(p);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}
