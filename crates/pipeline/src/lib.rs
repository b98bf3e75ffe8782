//! The stages of `cairn run`, and `cairn reproduce`.
//!
//! `run` = resolve the experiment into a recipe (inputs ingested, versions resolved) →
//! if `name@version` already holds a run of this exact recipe, stop ("up to date") →
//! [`execute`] the recipe → register. `reproduce` = load a run's recipe from the store →
//! [`execute`] it again → compare every output byte for byte.
//!
//! The key decision is that [`execute`] reads **only the store**: every input is an object
//! named in the recipe, so a recipe can be re-executed after the original files are gone,
//! and `run` and `reproduce` share one code path. Stages are plain functions over the recipe
//! and the objects of earlier stages; the regression gate and the ONNX export plug in
//! between evaluation and registration.

mod architectures;
mod backends;
mod deploy;
mod eval;
mod execute;
mod gate;
mod loaded;
mod redteam;
mod register;
mod scan;
mod stages;

use std::path::Path;

pub use architectures::{Schema as ArchitectureSchemaOf, schemas as architecture_schemas};
pub use backends::{ONNX, backend_snapshot};
pub use deploy::{
    DEFAULT_KEEP, DEPLOYED_FILES, DeployResult, deploy, export_onnx, rollback, settle_deployments,
};
pub use eval::{
    EvalMetrics, EvalReport, GroupBy, GroupMetrics, VersionEval, eval, eval_jsonl, render_eval,
};
pub use execute::{Executed, execute};
pub use loaded::LoadedModel;
pub use redteam::{
    ModelScope, REDTEAM_REF_PREFIX, RedteamOptions, RedteamReport, RetrainOptions, RetrainProgress,
    RetrainReport, Retrained, Skipped, load_result, load_suite, redteam_retrain, redteam_run,
    render_result, result_ref,
};
pub use register::{
    EnvironmentChange, OutputCheck, PlanResult, ReproduceReport, RunOptions, RunResult, RunStatus,
    RunSummary, build_recipe, export_safetensors, html_report, load_run, markdown_report, plan,
    regress, reproduce, resolve_experiment, run, run_recipe, run_stored, save_plan, settle_latest,
};
pub use scan::{
    Classifier, ScanInput, ScanLine, ScanSummary, Scanner, TextEncoder, Verdict, default_model,
    quantile, read_scan_inputs, scan_stream,
};

/// Crash-test hook: when `CAIRN_PAUSE_AT` names this point (comma-separated names), the
/// process says so on stderr and sleeps, so a test can `kill -9` it at exactly this instant
/// (`just crash-test`). Points: `register` (the version ref is set, `latest` not yet),
/// `metadata` (before `metadata.json`), `deploy-adopt` (between the links of a folder being
/// adopted), `deploy-switch` (journal written, folder not switched), `deploy-ref` (folder
/// switched, its ref not moved).
pub(crate) fn pause_point(name: &str) {
    let Some(points) = std::env::var_os("CAIRN_PAUSE_AT") else {
        return;
    };
    if points.to_string_lossy().split(',').any(|p| p == name) {
        eprintln!("cairn: paused at {name}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// A stage of a run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Validate and merge base + additions into the dataset object.
    Merge,
    /// Train, read or inherit the tokenizer.
    Tokenizer,
    /// Token ids of the train, validation and test rows.
    Encode,
    Train,
    /// Metrics on the test set.
    Evaluate,
    /// The regression gate against the baseline.
    Gate,
    /// ONNX export and its parity check.
    Onnx,
    /// The version ref is set.
    Register,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Merge => "merge",
            Stage::Tokenizer => "tokenizer",
            Stage::Encode => "encode",
            Stage::Train => "train",
            Stage::Evaluate => "evaluate",
            Stage::Gate => "gate",
            Stage::Onnx => "onnx",
            Stage::Register => "register",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a run reports while it works: a tracker or a progress bar subscribes to these.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stage started, with a line for people: `(Stage::Merge, "3 base file(s) + …")`.
    Stage(Stage, String),
    /// A training batch finished.
    Batch {
        epoch: usize,
        epochs: usize,
        batch: usize,
        batches: usize,
        running_loss: f64,
    },
    /// An epoch finished.
    Epoch(cairn_spec::EpochRecord),
    /// The gate refused the version: the run is stored, no ref is set.
    Rejected {
        run: cairn_store::ObjectId,
        rule: String,
        reason: String,
    },
    /// `reference` now points at `run`.
    Registered {
        reference: String,
        run: cairn_store::ObjectId,
    },
}

/// What kind of failure an error is, for a caller that acts on it (an HTTP API maps these to
/// status codes, a worker retries only [`ErrorKind::Unavailable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A version, object or file that does not exist.
    NotFound,
    /// Stored bytes that fail their hash or do not parse.
    Corrupt,
    /// Someone else holds or changed it: a taken version, a moved ref, a busy folder.
    Conflict,
    /// Bad input from the user: experiment, data, arguments.
    InvalidInput,
    /// A dependency is missing: ONNX Runtime, a backend not built in.
    Unavailable,
    /// The work ran and failed (parity, I/O).
    Failed,
}

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Spec(#[from] cairn_spec::SpecError),
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error(transparent)]
    Data(#[from] cairn_data::DataError),
    #[error(transparent)]
    Tokenize(#[from] cairn_tokenize::TokenizeError),
    #[error(transparent)]
    Model(#[from] cairn_model::ModelError),
    #[error(transparent)]
    Onnx(#[from] cairn_onnx::OnnxError),
    /// A red-team suite file that cannot be used (`file:line:col: message`).
    #[error(transparent)]
    Suite(#[from] cairn_redteam::SuiteError),
    /// A suite whose templates cannot make the rows it asks for.
    #[error(transparent)]
    Generate(#[from] cairn_redteam::GenerateError),
    /// ONNX Runtime's outputs differ from burn's by more than `[export] tolerance`.
    #[error(
        "ONNX parity failed: ONNX Runtime's outputs differ from burn's by up to {deviation:e} (tolerance {tolerance:e}, worst output `{output}`), and {disagreements} of {examples} test predictions differ; the run was not registered (raise `[export] tolerance`, or set `[export] onnx = false` to skip the export)"
    )]
    Parity {
        deviation: f64,
        output: String,
        tolerance: f64,
        disagreements: u64,
        examples: u64,
    },
    /// `name@version` is taken by a run of another recipe.
    #[error(
        "{reference} is already registered with recipe {existing}, but this experiment resolves to recipe {new} (bump `version` in [experiment], or restore the inputs)"
    )]
    VersionTaken {
        reference: String,
        existing: String,
        new: String,
    },
    /// Fine-tuning cannot continue from this parent.
    #[error("cannot fine-tune from {parent}: {reason}")]
    IncompatibleParent { parent: String, reason: String },
    /// The recipe names a backend this build does not have, or a device its backend does
    /// not drive.
    #[error(transparent)]
    Backend(#[from] cairn_model::SelectError),
    /// A ref that does not name a run.
    #[error("`{0}` is not a registered version (see `cairn ref list`)")]
    UnknownVersion(String),
    /// Something named that does not exist: `what` it is, its `name`, and the fix.
    #[error("{what} {name} does not exist ({fix})")]
    NotFound {
        what: &'static str,
        name: String,
        fix: String,
    },
    /// An argument that cannot be used: which one, and why (with the fix).
    #[error("invalid {field}: {problem}")]
    Invalid { field: String, problem: String },
    /// A line of an input file that cannot be used: `file:line: message` (the message names
    /// the field and the fix).
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    InvalidLine {
        file: std::path::PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A version without an ONNX export (registered with `[export] onnx = false`).
    #[error(
        "{0} has no ONNX export (it ran with `[export] onnx = false`); run its experiment again under a new `version` with the export on"
    )]
    NoOnnx(String),
    /// Another `cairn deploy` holds the production folder.
    #[error(
        "another `cairn deploy` is working on `{0}` (its lock file is `.cairn-deploy.lock`); try again when it is done"
    )]
    DeployBusy(std::path::PathBuf),
    /// A rollback that cannot be done.
    #[error("cannot roll back: {0}")]
    Rollback(String),
    #[error("`{path}`: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use cairn_store::StoreError as S;
        match self {
            PipelineError::Spec(_) | PipelineError::IncompatibleParent { .. } => {
                ErrorKind::InvalidInput
            }
            PipelineError::Invalid { .. }
            | PipelineError::InvalidLine { .. }
            | PipelineError::Suite(_)
            | PipelineError::Generate(_) => ErrorKind::InvalidInput,
            PipelineError::Store(e) => match e {
                S::NotFound(_) | S::NotAStore(_) | S::UpstreamNotAStore { .. } => {
                    ErrorKind::NotFound
                }
                S::NotEmpty(_)
                | S::UnsupportedFormat { .. }
                | S::OtherUpstream { .. }
                | S::UpstreamGc { .. } => ErrorKind::InvalidInput,
                S::NoOpener { .. } | S::Upstream(_) => ErrorKind::Unavailable,
                S::BadMarker { .. } => ErrorKind::Corrupt,
                S::Corrupt { .. }
                | S::Mismatch { .. }
                | S::NotAManifest { .. }
                | S::BadRef { .. }
                | S::BrokenRef { .. } => ErrorKind::Corrupt,
                S::RefConflict { .. } | S::ImmutableRef { .. } => ErrorKind::Conflict,
                S::Io { .. } | S::Canonical(_) => ErrorKind::Failed,
            },
            PipelineError::Data(e) => match e {
                cairn_data::DataError::Io { .. } => ErrorKind::NotFound,
                _ => ErrorKind::InvalidInput,
            },
            PipelineError::Model(cairn_model::ModelError::CorruptWeights(_)) => ErrorKind::Corrupt,
            PipelineError::Model(cairn_model::ModelError::Incompatible { .. }) => {
                ErrorKind::InvalidInput
            }
            PipelineError::Onnx(cairn_onnx::OnnxError::Unavailable(_))
            | PipelineError::Backend(cairn_model::SelectError::NotBuilt(_)) => {
                ErrorKind::Unavailable
            }
            PipelineError::Backend(_) => ErrorKind::InvalidInput,
            PipelineError::UnknownVersion(_)
            | PipelineError::NotFound { .. }
            | PipelineError::NoOnnx(_) => ErrorKind::NotFound,
            PipelineError::VersionTaken { .. }
            | PipelineError::DeployBusy(_)
            | PipelineError::Rollback(_) => ErrorKind::Conflict,
            PipelineError::Tokenize(_)
            | PipelineError::Model(_)
            | PipelineError::Onnx(_)
            | PipelineError::Parity { .. }
            | PipelineError::Io { .. } => ErrorKind::Failed,
        }
    }
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
