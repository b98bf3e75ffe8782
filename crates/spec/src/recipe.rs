//! The resolved experiment: every default filled in, every input a hash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_store::{Manifest, ObjectId, RefName, Store};
use serde::{Deserialize, Serialize};

use crate::{LoadedExperiment, SpecError, model_sizes};

/// The project's default taxonomy, stored as an object when an experiment names none.
pub const BUILTIN_TAXONOMY: &[u8] = include_bytes!("../../../datasets/taxonomy.toml");

/// An input file: the name it was given by, and its bytes in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedObject {
    pub name: String,
    pub object: ObjectId,
    pub size: u64,
}

/// A registered version an experiment builds on, and the run it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRef {
    pub name: String,
    pub run: ObjectId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecipe {
    pub base: Vec<NamedObject>,
    pub additions: Vec<NamedObject>,
    pub test: NamedObject,
    pub new_data_boost: f64,
    pub base_sample: Option<u64>,
    pub validation_split: f64,
    pub seed: u64,
    pub taxonomy: NamedObject,
    pub max_text_chars: u64,
    /// `[data] min_train_rows` (left out of the recipe at its default, so recipes written
    /// before it existed keep their hashes).
    #[serde(
        default = "default_min_rows",
        skip_serializing_if = "is_default_min_rows"
    )]
    pub min_train_rows: u64,
    /// `[data] min_test_rows` (likewise).
    #[serde(
        default = "default_min_rows",
        skip_serializing_if = "is_default_min_rows"
    )]
    pub min_test_rows: u64,
}

fn default_min_rows() -> u64 {
    crate::DEFAULT_MIN_ROWS
}

fn is_default_min_rows(n: &u64) -> bool {
    *n == crate::DEFAULT_MIN_ROWS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerRecipe {
    pub vocab_size: u64,
    pub min_frequency: u64,
    pub max_length: u64,
    /// A given `tokenizer.json`; trained from the training texts when absent.
    pub file: Option<NamedObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecipe {
    pub architecture: String,
    /// The architecture's sizes, defaults filled in (`embed_dim`, `hidden`, `buckets` or
    /// `d_model`, `heads`, `layers`, `d_ff`).
    pub sizes: BTreeMap<String, u64>,
    pub dropout: f64,
    /// Fine-tune from this version; retrain from scratch when absent.
    pub parent: Option<VersionRef>,
    /// The pretrained encoder a retrain starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PretrainedRecipe>,
}

/// A pretrained encoder's three files, as store objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PretrainedRecipe {
    pub weights: NamedObject,
    pub config: NamedObject,
    pub tokenizer: NamedObject,
}

/// Where a pretrained encoder's three files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretrainedSources {
    pub weights: InputSource,
    pub config: InputSource,
    pub tokenizer: InputSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionRecipe {
    pub baseline: Option<VersionRef>,
    pub extra_sets: Vec<NamedObject>,
    pub reject_rate: f64,
    pub caution_rate: f64,
}

/// What can change the numbers: part of the recipe, so another environment is another recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub cairn_version: String,
    pub backend: String,
    pub device: String,
    pub threads: u64,
}

/// `[export]` as far as it changes a run's outputs. Where `metadata.json` goes is a fact of
/// the working directory, not of the recipe: it stays in the experiment ([`crate::ExportSection`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecipe {
    pub onnx: bool,
    /// Largest accepted deviation between ONNX Runtime and the training framework.
    pub tolerance: f64,
}

impl Default for ExportRecipe {
    fn default() -> Self {
        let e = crate::ExportSection::default();
        Self {
            onnx: e.onnx,
            tolerance: e.tolerance,
        }
    }
}

/// Why a recipe exists when something other than a person's experiment asked for it: a
/// red-team result whose failures it retrains on, a queued request. Part of the recipe (and
/// so of its hash); the lineage names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// What kind of thing caused it.
    pub kind: CauseKind,
    /// The object that caused it, when there is one.
    pub object: Option<ObjectId>,
    /// One line for people.
    #[serde(default)]
    pub note: String,
}

/// What kind of thing asked for a derived run; stored as its word (`redteam`), as recipes
/// written before the kinds were typed hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseKind {
    /// A red-team result whose failures the run retrains on (`object`: the result).
    Redteam,
}

impl CauseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CauseKind::Redteam => "redteam",
        }
    }
}

impl std::fmt::Display for CauseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The cache key of a run: everything that determines its outputs, and nothing about where
/// or from which folder it was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub name: String,
    pub version: String,
    pub description: String,
    pub changes: Vec<String>,
    pub data: DataRecipe,
    pub tokenizer: TokenizerRecipe,
    pub model: ModelRecipe,
    pub train: crate::TrainSection,
    pub regression: RegressionRecipe,
    /// The operating point (absent when neither `target_fpr` nor `threshold` is set).
    #[serde(default, skip_serializing_if = "crate::EvaluateSection::is_unset")]
    pub evaluate: crate::EvaluateSection,
    pub export: ExportRecipe,
    pub environment: Environment,
    /// Set when the recipe was built from another record (absent for experiment files, so
    /// their recipe hashes do not carry an empty field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl Manifest for Recipe {
    const KIND: &'static str = "recipe";
}

impl Recipe {
    /// `name@version`.
    pub fn version_ref(&self) -> Result<RefName, cairn_store::RefNameError> {
        RefName::versioned(&self.name, &self.version)
    }

    /// The recipe hash (its manifest id), computed without storing it.
    pub fn id(&self) -> Result<ObjectId, cairn_store::StoreError> {
        Ok(ObjectId::of(&cairn_store::manifest::encode(self)?))
    }

    /// Every input object (for `cairn show` and reproduce).
    pub fn inputs(&self) -> Vec<(&'static str, &NamedObject)> {
        let d = &self.data;
        let mut out: Vec<(&'static str, &NamedObject)> = Vec::new();
        out.extend(d.base.iter().map(|o| ("base", o)));
        out.extend(d.additions.iter().map(|o| ("addition", o)));
        out.push(("test", &d.test));
        out.push(("taxonomy", &d.taxonomy));
        if let Some(t) = &self.tokenizer.file {
            out.push(("tokenizer", t));
        }
        if let Some(p) = &self.model.pretrained {
            out.push(("encoder weights", &p.weights));
            out.push(("encoder config", &p.config));
            out.push(("encoder tokenizer", &p.tokenizer));
        }
        out.extend(
            self.regression
                .extra_sets
                .iter()
                .map(|o| ("regression set", o)),
        );
        out
    }
}

/// Whether resolution copies inputs into the store (`run`) or only hashes them (`plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    Store,
    HashOnly,
}

/// How a recipe names an input given as `written` (a path relative to the experiment file):
/// `.` and `a/..` removed, `/` as separator. The name depends only on the experiment's own
/// text, never on the working directory or where the project lives, so the recipe hash is
/// the same on every machine and from every folder.
pub fn input_name(written: &str) -> String {
    let absolute = written.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in written.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Where an input of a recipe comes from: a file on disk, or an object already in the store
/// (a red-team result's failures, the inputs of a queued recipe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A file; `name` is how the recipe names it (see [`input_name`]).
    File { path: PathBuf, name: String },
    /// An object already in the store, under a name for people.
    Object { id: ObjectId, name: String },
}

impl InputSource {
    /// An object already in the store.
    pub fn object(id: ObjectId, name: impl Into<String>) -> Self {
        Self::Object {
            id,
            name: name.into(),
        }
    }

    /// Hashes (and with [`Ingest::Store`] stores) a file, or checks that an object is there.
    pub fn resolve(&self, store: Option<&Store>, ingest: Ingest) -> Result<NamedObject, String> {
        match self {
            InputSource::Object { id, name } => {
                let store = store.ok_or_else(|| {
                    format!("input `{name}` is object {id}, which needs a store to resolve")
                })?;
                if !store.contains(id).map_err(|e| e.to_string())? {
                    return Err(format!(
                        "input `{name}` names object {id}, which is not in the store (add it with `cairn add`)"
                    ));
                }
                let size = store.size(id).map_err(|e| e.to_string())?;
                Ok(NamedObject {
                    name: name.clone(),
                    object: *id,
                    size,
                })
            }
            InputSource::File { path, name } => {
                if !path.is_file() {
                    return Err(format!(
                        "`{}` is not a file (paths are relative to the experiment file's folder)",
                        path.display()
                    ));
                }
                match (store, ingest) {
                    (Some(store), Ingest::Store) => {
                        let put = store.put_path(path).map_err(|e| e.to_string())?;
                        Ok(NamedObject {
                            name: name.clone(),
                            object: put.id,
                            size: put.size,
                        })
                    }
                    _ => {
                        let mut hasher = blake3::Hasher::new();
                        hasher
                            .update_mmap_rayon(path)
                            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                        Ok(NamedObject {
                            name: name.clone(),
                            object: ObjectId::from(hasher.finalize()),
                            size,
                        })
                    }
                }
            }
        }
    }
}

/// `name/latest`: the model's highest registered version.
pub fn latest_ref(name: &str) -> Result<RefName, cairn_store::RefNameError> {
    format!("{name}/latest").parse()
}

/// The registered versions of model `name` (its `name@version` refs whose version is
/// semver), lowest first.
pub fn registered_versions(
    store: &Store,
    name: &str,
) -> Result<Vec<(semver::Version, RefName, ObjectId)>, cairn_store::StoreError> {
    let prefix = format!("{name}@");
    let mut out: Vec<_> = store
        .list_refs()?
        .into_iter()
        .filter_map(|(reference, run)| {
            let version = reference.as_str().strip_prefix(&prefix)?;
            Some((semver::Version::parse(version).ok()?, reference, run))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Re-derives `name/latest`: the run of the highest registered version of model `name`
/// (compare-and-swap, read again when another writer moved it meanwhile, so the last
/// writer always wrote the highest). It only ever names a published version, so it never
/// moves backwards or to a rejected run. Returns the version it points to; `None` when the
/// model has no version (or `name` cannot have a `latest`).
pub fn settle_latest(
    store: &Store,
    name: &str,
) -> Result<Option<RefName>, cairn_store::StoreError> {
    let Ok(latest) = latest_ref(name) else {
        return Ok(None);
    };
    loop {
        let versions = registered_versions(store, name)?;
        let Some((_, highest, run)) = versions.into_iter().next_back() else {
            return Ok(None);
        };
        let current = store.get_ref(&latest)?;
        if current == Some(run) {
            return Ok(Some(highest));
        }
        match store.set_ref(&latest, run, cairn_store::Expect::current(current)) {
            Ok(_) => return Ok(Some(highest)),
            Err(cairn_store::StoreError::RefConflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

impl VersionRef {
    /// The default baseline of a version with no parent: the highest registered version of
    /// the same model below it (its `latest` when it is a new version), so a new root
    /// version is gated like any other. `None` for a model's first version.
    pub fn previous(store: &Store, name: &str, version: &str) -> Result<Option<Self>, String> {
        let Ok(this) = semver::Version::parse(version) else {
            return Ok(None);
        };
        let versions = registered_versions(store, name).map_err(|e| e.to_string())?;
        Ok(versions
            .into_iter()
            .rev()
            .find(|(v, _, _)| *v < this)
            .map(|(_, reference, run)| Self {
                name: reference.to_string(),
                run,
            }))
    }

    /// The run a version name (`name@version`, `name/latest`) points to in `store`.
    pub fn resolve(store: Option<&Store>, name: &str) -> Result<Self, String> {
        let reference: RefName = name
            .parse()
            .map_err(|e: cairn_store::RefNameError| e.to_string())?;
        let run = match store {
            Some(s) => s.get_ref(&reference).map_err(|e| e.to_string())?,
            None => None,
        };
        let run = run.ok_or_else(|| format!("`{name}` is not a registered version in this store (run its experiment first; `cairn ref list` shows what exists)"))?;
        Ok(Self {
            name: name.to_string(),
            run,
        })
    }
}

/// A problem building a recipe: the experiment key it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub section: &'static str,
    pub key: &'static str,
    pub message: String,
}

/// Builds a recipe from settings and inputs that are files or store objects, with an
/// optional [`Cause`]. `cairn run x.toml` goes through it (every input a file); a red-team
/// retraining or a queued job builds one from objects, with no file on disk.
#[derive(Debug, Clone)]
pub struct RecipeBuilder {
    /// Every setting except the inputs (the paths written in it are not read).
    pub settings: crate::Experiment,
    pub base: Vec<InputSource>,
    pub additions: Vec<InputSource>,
    pub test: Option<InputSource>,
    /// The built-in taxonomy when absent.
    pub taxonomy: Option<InputSource>,
    pub tokenizer_file: Option<InputSource>,
    /// A pretrained encoder (`[model] pretrained`).
    pub pretrained: Option<PretrainedSources>,
    pub extra_sets: Vec<InputSource>,
    /// Fine-tune from this version (overrides `[model] parent`).
    pub parent: Option<VersionRef>,
    /// Gate against this version (overrides `[regression] baseline`).
    pub baseline: Option<VersionRef>,
    pub cause: Option<Cause>,
}

impl RecipeBuilder {
    /// Default settings for `name@version`, no inputs yet.
    pub fn new(name: &str, version: &str) -> Self {
        Self::from_settings(crate::Experiment::new(name, version))
    }

    /// These settings, no inputs yet.
    pub fn from_settings(settings: crate::Experiment) -> Self {
        Self {
            settings,
            base: Vec::new(),
            additions: Vec::new(),
            test: None,
            taxonomy: None,
            tokenizer_file: None,
            pretrained: None,
            extra_sets: Vec::new(),
            parent: None,
            baseline: None,
            cause: None,
        }
    }

    /// Resolves every input and returns the recipe. The settings are assumed checked (an
    /// experiment file's are when it loads; see [`RecipeBuilder::build_checked`]).
    pub fn build(
        &self,
        store: Option<&Store>,
        ingest: Ingest,
        cairn_version: &str,
    ) -> Result<Recipe, BuildError> {
        let e = &self.settings;
        let fail = |section: &'static str, key: &'static str| {
            move |message: String| BuildError {
                section,
                key,
                message,
            }
        };
        let all = |section: &'static str, key: &'static str, inputs: &[InputSource]| {
            inputs
                .iter()
                .map(|i| i.resolve(store, ingest).map_err(fail(section, key)))
                .collect::<Result<Vec<_>, _>>()
        };
        let base = all("data", "base", &self.base)?;
        if base.is_empty() {
            return Err(fail("data", "base")(
                "`base` lists no files (give at least one JSONL file or folder)".into(),
            ));
        }
        let additions = all("data", "additions", &self.additions)?;
        let test = self
            .test
            .as_ref()
            .ok_or_else(|| fail("data", "test")("no test set given".into()))?
            .resolve(store, ingest)
            .map_err(fail("data", "test"))?;
        let taxonomy = match &self.taxonomy {
            Some(t) => t.resolve(store, ingest).map_err(fail("data", "taxonomy"))?,
            None => {
                let object = match (store, ingest) {
                    (Some(s), Ingest::Store) => {
                        s.put_bytes(BUILTIN_TAXONOMY)
                            .map_err(|err| fail("data", "taxonomy")(err.to_string()))?
                            .id
                    }
                    _ => ObjectId::of(BUILTIN_TAXONOMY),
                };
                NamedObject {
                    name: "<built-in taxonomy>".into(),
                    object,
                    size: BUILTIN_TAXONOMY.len() as u64,
                }
            }
        };
        let tokenizer_file = match &self.tokenizer_file {
            Some(t) => Some(
                t.resolve(store, ingest)
                    .map_err(fail("tokenizer", "file"))?,
            ),
            None => None,
        };
        let pretrained = match &self.pretrained {
            Some(p) => {
                let one = |i: &InputSource| {
                    i.resolve(store, ingest)
                        .map_err(fail("model", "pretrained"))
                };
                Some(PretrainedRecipe {
                    weights: one(&p.weights)?,
                    config: one(&p.config)?,
                    tokenizer: one(&p.tokenizer)?,
                })
            }
            None => None,
        };
        let extra_sets = all("regression", "extra_sets", &self.extra_sets)?;
        Ok(Recipe {
            name: e.experiment.name.clone(),
            version: e.experiment.version.clone(),
            description: e.experiment.description.clone(),
            changes: e.experiment.changes.clone(),
            data: DataRecipe {
                base,
                additions,
                test,
                new_data_boost: e.data.new_data_boost,
                base_sample: e.data.base_sample,
                validation_split: e.data.validation_split,
                seed: e.data.seed.unwrap_or(e.train.seed),
                taxonomy,
                max_text_chars: e.data.max_text_chars,
                min_train_rows: e.data.min_train_rows,
                min_test_rows: e.data.min_test_rows,
            },
            tokenizer: TokenizerRecipe {
                vocab_size: e.tokenizer.vocab_size,
                min_frequency: e.tokenizer.min_frequency,
                max_length: e.tokenizer.max_length,
                file: tokenizer_file,
            },
            model: ModelRecipe {
                architecture: e.model.architecture.clone(),
                sizes: model_sizes(&e.model).into_iter().collect(),
                dropout: e.model.dropout,
                parent: self.parent.clone(),
                pretrained,
            },
            train: crate::TrainSection {
                device: None,
                ..e.train.clone()
            },
            regression: RegressionRecipe {
                baseline: self.baseline.clone(),
                extra_sets,
                reject_rate: e.regression.reject_rate,
                caution_rate: e.regression.caution_rate,
            },
            evaluate: e.evaluate.clone(),
            export: ExportRecipe {
                onnx: e.export.onnx,
                tolerance: e.export.tolerance,
            },
            environment: Environment {
                cairn_version: cairn_version.to_string(),
                backend: e.train.backend.clone(),
                // As written (empty: the backend's default); the pipeline, which knows the
                // backends, spells it canonically.
                device: e.train.device.clone().unwrap_or_default(),
                threads: e.train.threads,
            },
            cause: self.cause.clone(),
        })
    }
}

impl RecipeBuilder {
    /// Checks settings made in code as an experiment file's are checked (against the
    /// `architectures` the caller can build; defaults filled in), then builds.
    pub fn build_checked<A: crate::ArchitectureSchema>(
        &self,
        store: Option<&Store>,
        ingest: Ingest,
        cairn_version: &str,
        architectures: &[A],
    ) -> Result<Recipe, SpecError> {
        let origin = format!(
            "<recipe {}@{}>",
            self.settings.experiment.name, self.settings.experiment.version
        );
        let mut checked = self.clone();
        checked.settings =
            LoadedExperiment::check_settings(&self.settings, &origin, architectures)?;
        checked
            .build(store, ingest, cairn_version)
            .map_err(|e| SpecError {
                file: origin,
                line: 1,
                col: 1,
                message: format!("[{}] {}: {}", e.section, e.key, e.message),
            })
    }
}

impl LoadedExperiment {
    /// Resolves the experiment into a recipe. `store` is needed for version names (and, with
    /// [`Ingest::Store`], receives every input file); `cairn_version` goes into the
    /// environment. Input names are the paths as written, normalized ([`input_name`]).
    pub fn resolve(
        &self,
        store: Option<&Store>,
        ingest: Ingest,
        cairn_version: &str,
    ) -> Result<Recipe, SpecError> {
        self.builder(store)?
            .build(store, ingest, cairn_version)
            .map_err(|e| self.error_at(e.section, e.key, e.message))
    }

    /// The builder for this experiment: every input a file, versions resolved in `store`.
    pub fn builder(&self, store: Option<&Store>) -> Result<RecipeBuilder, SpecError> {
        let e = &self.experiment;
        let files = |section: &str, key: &str, paths: &[String]| {
            let mut out = Vec::new();
            for p in paths {
                out.extend(self.expand(section, key, p)?);
            }
            Ok::<_, SpecError>(out)
        };
        let version = |section: &str, key: &str, name: Option<&str>| match name {
            None => Ok(None),
            Some(name) => VersionRef::resolve(store, name)
                .map(Some)
                .map_err(|m| self.error_at(section, key, m)),
        };
        let mut builder = RecipeBuilder::from_settings(e.clone());
        builder.base = files("data", "base", &e.data.base)?;
        builder.additions = files("data", "additions", &e.data.additions)?;
        builder.test = Some(self.file("data", "test", &e.data.test)?);
        builder.taxonomy = match &e.data.taxonomy {
            Some(p) => Some(self.file("data", "taxonomy", p)?),
            None => None,
        };
        builder.tokenizer_file = match &e.tokenizer.file {
            Some(p) => Some(self.file("tokenizer", "file", p)?),
            None => None,
        };
        builder.pretrained = match &e.model.pretrained {
            Some(p) => Some(PretrainedSources {
                weights: self.file("model", "pretrained", &p.weights)?,
                config: self.file("model", "pretrained", &p.config)?,
                tokenizer: self.file("model", "pretrained", &p.tokenizer)?,
            }),
            None => None,
        };
        builder.parent = version("model", "parent", e.model.parent.as_deref())?;
        builder.baseline = version("regression", "baseline", e.regression.baseline.as_deref())?;
        // A new root version of a model that has versions is gated against the one below it.
        if let (None, None, Some(store)) = (&builder.parent, &builder.baseline, store) {
            builder.baseline =
                VersionRef::previous(store, &e.experiment.name, &e.experiment.version)
                    .map_err(|m| self.error_at("regression", "baseline", m))?;
        }
        builder.extra_sets = files("regression", "extra_sets", &e.regression.extra_sets)?;
        Ok(builder)
    }

    fn path_of(&self, p: &str) -> PathBuf {
        self.base_dir().join(p)
    }

    /// One file input.
    fn file(&self, section: &str, key: &str, p: &str) -> Result<InputSource, SpecError> {
        let path = self.path_of(p);
        if !path.is_file() {
            return Err(self.error_at(
                section,
                key,
                format!(
                    "`{}` is not a file (paths are relative to the experiment file's folder)",
                    path.display()
                ),
            ));
        }
        Ok(InputSource::File {
            path,
            name: input_name(p),
        })
    }

    /// A file, or a folder's `*.jsonl` files sorted by name.
    fn expand(&self, section: &str, key: &str, p: &str) -> Result<Vec<InputSource>, SpecError> {
        let path = self.path_of(p);
        if !path.exists() {
            return Err(self.error_at(
                section,
                key,
                format!(
                    "`{}` does not exist (paths are relative to the experiment file's folder)",
                    path.display()
                ),
            ));
        }
        if !path.is_dir() {
            return Ok(vec![InputSource::File {
                path,
                name: input_name(p),
            }]);
        }
        let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&path)
            .map_err(|e| {
                self.error_at(
                    section,
                    key,
                    format!("cannot list `{}`: {e}", path.display()),
                )
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
            .filter_map(|f| {
                let file = f.file_name()?.to_string_lossy().into_owned();
                Some((file, f))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(self.error_at(
                section,
                key,
                format!("folder `{}` has no .jsonl files", path.display()),
            ));
        }
        Ok(files
            .into_iter()
            .map(|(file, path)| InputSource::File {
                path,
                name: input_name(&format!("{p}/{file}")),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::input_name;

    #[test]
    fn input_names_are_normalized() {
        for (written, name) in [
            ("../datasets/base", "../datasets/base"),
            ("./../datasets/./base/", "../datasets/base"),
            ("x/../../datasets/test.jsonl", "../datasets/test.jsonl"),
            ("a/b/../c.jsonl", "a/c.jsonl"),
            ("../../a", "../../a"),
            ("/srv/../data/x.jsonl", "/data/x.jsonl"),
            ("a\\b.jsonl", "a/b.jsonl"),
            (".", "."),
        ] {
            assert_eq!(input_name(written), name, "{written}");
        }
    }
}
