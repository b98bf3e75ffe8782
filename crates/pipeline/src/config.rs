//! The resolved recipe and what follows from it alone: resolving experiment files and
//! recipes built in code (with this build's architectures and backends), the backend and
//! model configuration a recipe asks for, and the checks made before any work. A leaf: no
//! other module of the pipeline is used here.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_data::Taxonomy;
use cairn_model::arch::{ArchitectureDef, registry};
use cairn_model::{Architecture, Backend, ModelConfig, SelectError};
use cairn_spec::{ArchitectureSchema, Ingest, LoadedExperiment, Recipe};
use cairn_store::{RefName, Store};
use serde::Serialize;

use crate::error::PipelineError;

/// One registered architecture, for [`cairn_spec::LoadedExperiment::load`].
#[derive(Clone, Copy)]
pub struct Schema(&'static dyn ArchitectureDef);

impl ArchitectureSchema for Schema {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn sizes(&self) -> &[(&'static str, u64)] {
        self.0.sizes()
    }
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        self.0.check(size)
    }
}

/// Every architecture this build can train, in registry order.
pub fn schemas() -> Vec<Schema> {
    registry().iter().map(|a| Schema(*a)).collect()
}

/// A resolved recipe and its hash (`cairn plan`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanResult {
    /// The recipe hash (hex).
    pub recipe: String,
    pub resolved: Recipe,
    /// Whether the recipe and its inputs were stored (`cairn plan --save`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub saved: bool,
}

/// Resolves an experiment; the environment's device is the one its backend computes on.
pub fn resolve_experiment(
    store: Option<&Store>,
    experiment: &LoadedExperiment,
    ingest: Ingest,
    cairn_version: &str,
) -> Result<Recipe, PipelineError> {
    // A pretrained encoder's config.json is checked before any input is stored.
    let model = &experiment.experiment.model;
    if let Some(p) = &model.pretrained {
        let path = experiment.base_dir().join(&p.config);
        let bytes = std::fs::read(&path).map_err(|e| {
            experiment.error_at(
                "model",
                "pretrained",
                format!("cannot read `{}`: {e}", path.display()),
            )
        })?;
        check_pretrained_config(&model.architecture, &model.sizes, &bytes, &p.config)
            .map_err(|m| experiment.error_at("model", "pretrained", m))?;
    }
    let train = &experiment.experiment.train;
    Backend::select(&train.backend, train.device.as_deref()).map_err(|e| {
        let key = match e {
            SelectError::BadDevice(_) | SelectError::WrongDevice { .. } => "device",
            _ => "backend",
        };
        experiment.error_at("train", key, e.to_string())
    })?;
    let mut recipe = experiment.resolve(store, ingest, cairn_version)?;
    settle_device(&mut recipe)?;
    Ok(recipe)
}

/// Spells the recipe's device canonically (the backend's default when none was written), so
/// `cuda` and `cuda:0` are one recipe.
pub(crate) fn settle_device(recipe: &mut Recipe) -> Result<(), PipelineError> {
    let written = std::mem::take(&mut recipe.environment.device);
    let backend = Backend::select(
        &recipe.train.backend,
        (!written.is_empty()).then_some(written.as_str()),
    )?;
    recipe.environment.device = backend.device_name();
    Ok(())
}

/// Builds a recipe made in code (inputs that are store objects or files, a cause) for the
/// architectures and backends of this build; the environment's device is the backend's.
pub fn build_recipe(
    store: &Store,
    builder: &cairn_spec::RecipeBuilder,
    cairn_version: &str,
) -> Result<Recipe, PipelineError> {
    let mut recipe =
        builder.build_checked(Some(store), Ingest::Store, cairn_version, &schemas())?;
    settle_device(&mut recipe)?;
    Ok(recipe)
}

/// Resolves an experiment without running it or writing anything.
pub fn plan(
    store: Option<&Store>,
    path: &Path,
    cairn_version: &str,
) -> Result<PlanResult, PipelineError> {
    let loaded = LoadedExperiment::load(path, &schemas())?;
    let recipe = resolve_experiment(store, &loaded, Ingest::HashOnly, cairn_version)?;
    Ok(PlanResult {
        recipe: recipe.id()?.to_hex(),
        resolved: recipe,
        saved: false,
    })
}

/// Resolves an experiment and stores its inputs and recipe, so that `run_stored` (`cairn
/// run --recipe`) can run it later, here or on another machine, with no file on disk.
pub fn save_plan(
    store: &Store,
    path: &Path,
    cairn_version: &str,
) -> Result<PlanResult, PipelineError> {
    let loaded = LoadedExperiment::load(path, &schemas())?;
    let recipe = resolve_experiment(Some(store), &loaded, Ingest::Store, cairn_version)?;
    let id = store.put_manifest(&recipe)?;
    Ok(PlanResult {
        recipe: id.to_hex(),
        resolved: recipe,
        saved: true,
    })
}

pub(crate) fn version_ref(recipe: &Recipe) -> Result<RefName, PipelineError> {
    recipe.version_ref().map_err(|e| PipelineError::Invalid {
        field: "[experiment] name/version".into(),
        problem: e.to_string(),
    })
}

/// The model configuration a recipe asks for.
pub(crate) fn model_config(
    recipe: &Recipe,
    vocab_size: usize,
    taxonomy: &Taxonomy,
) -> Result<ModelConfig, PipelineError> {
    let sizes: Vec<(&str, usize)> = recipe
        .model
        .sizes
        .iter()
        .map(|(k, v)| (k.as_str(), *v as usize))
        .collect();
    Ok(ModelConfig {
        architecture: Architecture::new(&recipe.model.architecture, &sizes)?,
        vocab_size,
        max_length: recipe.tokenizer.max_length as usize,
        families: taxonomy.families.len(),
        contexts: taxonomy.contexts.len(),
        dropout: recipe.model.dropout,
    })
}

/// Bytes per parameter while training: the weights, their gradients and Adam's two
/// moments, 4 bytes each.
const TRAINING_BYTES_PER_PARAMETER: u64 = 16;

/// Memory this machine can give a run now (`MemAvailable`), when the system says.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses, before any data work, a model too big to train on this machine: its parameter
/// count (from the sizes, the tokenizer's vocabulary size and the taxonomy) times the bytes
/// training keeps per parameter, against the memory available. `Err((key, message))` names
/// the largest `[model]` size.
pub(crate) fn check_fits(recipe: &Recipe, taxonomy: &Taxonomy) -> Result<(), (String, String)> {
    let largest = recipe
        .model
        .sizes
        .iter()
        .max_by_key(|(_, v)| **v)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| "architecture".into());
    let model = model_config(recipe, recipe.tokenizer.vocab_size as usize, taxonomy)
        .map_err(|e| (largest.clone(), e.to_string()))?;
    let parameters = cairn_model::parameter_count(&model) as u64;
    let needed = parameters.saturating_mul(TRAINING_BYTES_PER_PARAMETER);
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if needed <= available {
        return Ok(());
    }
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    Err((
        largest,
        format!(
            "the model has {parameters} parameters and needs at least {:.1} GiB to train ({TRAINING_BYTES_PER_PARAMETER} bytes each for weights, gradients and optimizer state); this machine has {:.1} GiB available (lower the [model] sizes)",
            gib(needed),
            gib(available)
        ),
    ))
}

/// What a backend promises a re-run on the same backend, device and thread count: burn's
/// ndarray backend (fixed reduction order, seeded) repeats bit for bit.
pub(crate) fn reproducibility(backend: Backend) -> cairn_spec::Reproducibility {
    match backend.tolerance() {
        None => cairn_spec::Reproducibility::Bitwise,
        Some(max_abs_deviation) => {
            cairn_spec::Reproducibility::WithinTolerance { max_abs_deviation }
        }
    }
}

/// What the backend's device is, in the spec's terms.
pub(crate) fn hardware(backend: Backend) -> cairn_spec::Hardware {
    let h = backend.hardware();
    cairn_spec::Hardware {
        name: h.name,
        detail: h.detail,
    }
}

/// The backend and device a recipe trains on: `[train] backend` on the environment's
/// device (which resolving the recipe spelled canonically).
pub(crate) fn backend(recipe: &Recipe) -> Result<Backend, PipelineError> {
    Ok(Backend::select(
        &recipe.train.backend,
        Some(&recipe.environment.device),
    )?)
}

/// A pretrained encoder's `config.json` must describe the model the experiment's sizes
/// build: the architecture checks it (each difference is named with the key to write).
pub(crate) fn check_pretrained_config(
    architecture: &str,
    sizes: &BTreeMap<String, u64>,
    bytes: &[u8],
    name: &str,
) -> Result<(), String> {
    let def = registry()
        .iter()
        .find(|a| a.name() == architecture)
        .filter(|a| a.takes_pretrained());
    let Some(def) = def else {
        let takers: Vec<String> = registry()
            .iter()
            .filter(|a| a.takes_pretrained())
            .map(|a| format!("architecture = \"{}\"", a.name()))
            .collect();
        return Err(format!(
            "the {architecture} architecture takes no pretrained encoder (use {})",
            takers.join(" or ")
        ));
    };
    def.check_pretrained_config(&|key| sizes.get(key).copied().unwrap_or(0), bytes, name)
}

/// A recipe's taxonomy object, parsed.
pub(crate) fn taxonomy_of(store: &Store, recipe: &Recipe) -> Result<Taxonomy, PipelineError> {
    let bytes = store.read(&recipe.data.taxonomy.object)?;
    Ok(Taxonomy::parse(
        &String::from_utf8_lossy(&bytes),
        &recipe.data.taxonomy.name,
    )?)
}
