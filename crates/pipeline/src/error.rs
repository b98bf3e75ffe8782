//! Everything that can stop a run, and the kind of each failure.

use std::path::Path;

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
    /// A ref that holds another version's run (forged, or set by mistake).
    #[error(
        "{0}: refused (forged or mistaken; `cairn fsck` lists such refs, restore it from a trusted store)"
    )]
    MisnamedRef(cairn_spec::RefMismatch),
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
            PipelineError::MisnamedRef(_) => ErrorKind::Corrupt,
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
