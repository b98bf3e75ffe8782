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
mod deploy;
mod execute;
mod gate;
mod register;
mod scan;

use std::path::Path;

pub use deploy::{DEPLOYED_FILES, DeployResult, deploy, export_onnx, rollback};
pub use execute::{Executed, execute};
pub use register::{
    EnvironmentChange, OutputCheck, ReproduceReport, RunResult, RunStatus, export_safetensors,
    html_report, load_run, markdown_report, plan, regress, reproduce, run,
};
pub use scan::{Classifier, Scanner, TextEncoder, Verdict, default_model};

/// What a run reports while it works (the CLI turns these into progress bars).
#[derive(Debug, Clone)]
pub enum Event {
    /// A stage started: `("merge", "20150 base rows + 1100 additions")`.
    Stage(&'static str, String),
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
    /// The recipe names a backend this build does not have.
    #[error("backend `{0}` is not built into this cairn (rebuild with its Cargo feature)")]
    UnknownBackend(String),
    /// A ref that does not name a run.
    #[error("`{0}` is not a registered version (see `cairn ref list`)")]
    UnknownVersion(String),
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
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
