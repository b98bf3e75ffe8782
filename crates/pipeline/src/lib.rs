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
//!
//! The modules call one way, each only those before it here: `error` and `event` (the
//! shared vocabulary), `config` (the resolved recipe), `stages`, `versions` (registration,
//! `latest`, metadata.json), `loaded`, `gate`, `execute`, then `run`, `reproduce`,
//! `reports` and the commands above them (`backends`, `eval`, `scan`, `redteam`, `deploy`).
//! This file only declares and re-exports them.

mod backends;
mod config;
mod deploy;
mod error;
mod eval;
mod event;
mod execute;
mod gate;
mod loaded;
mod redteam;
mod reports;
mod reproduce;
mod run;
mod scan;
mod stages;
mod versions;

pub use backends::{ONNX, backend_snapshot};
pub use config::{
    PlanResult, Schema as ArchitectureSchemaOf, build_recipe, plan, resolve_experiment, save_plan,
    schemas as architecture_schemas,
};
pub use deploy::{
    DEFAULT_KEEP, DEPLOYED_FILES, DeployResult, deploy, export_onnx, export_safetensors, rollback,
    settle_deployments,
};
pub use eval::{
    EvalMetrics, EvalReport, GroupBy, GroupMetrics, VersionEval, eval, eval_jsonl, render_eval,
};
pub use execute::{Executed, execute};
pub use loaded::LoadedModel;
pub use redteam::{
    ModelScope, REDTEAM_REF_PREFIX, RedteamOptions, RedteamReport, RetrainOptions, RetrainProgress,
    RetrainReport, RetrainStatus, Retrained, Skipped, load_result, load_suite, redteam_retrain,
    redteam_run, render_result, result_ref,
};
pub use reports::{html_report, markdown_report, regress};
pub use reproduce::{EnvironmentChange, OutputCheck, ReproduceReport, RerunDeviation, reproduce};
pub use run::{RunOptions, RunResult, RunStatus, RunSummary, run, run_recipe, run_stored};
pub use scan::{
    Classifier, ScanInput, ScanLine, ScanSummary, Scanner, TextEncoder, Verdict, default_model,
    quantile, read_scan_inputs, scan_stream,
};
pub use versions::{load_run, settle_latest};

pub use error::{ErrorKind, PipelineError};
pub use event::{Event, Stage};
