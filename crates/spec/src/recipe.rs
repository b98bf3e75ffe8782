//! The resolved experiment: every default filled in, every input a hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The cache key of a run: everything that determines its outputs.
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
    pub export: crate::ExportSection,
    pub environment: Environment,
}

impl Manifest for Recipe {
    const KIND: &'static str = "recipe";
}

impl Recipe {
    /// `name@version`.
    pub fn version_ref(&self) -> Result<RefName, cairn_store::RefNameError> {
        RefName::versioned(&self.name, &self.version)
    }

    /// `name/latest`.
    pub fn latest_ref(&self) -> Result<RefName, cairn_store::RefNameError> {
        format!("{}/latest", self.name).parse()
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

impl LoadedExperiment {
    /// Resolves the experiment into a recipe. `store` is needed for version names (and, with
    /// [`Ingest::Store`], receives every input file); `cairn_version` goes into the
    /// environment.
    pub fn resolve(
        &self,
        store: Option<&Store>,
        ingest: Ingest,
        cairn_version: &str,
    ) -> Result<Recipe, SpecError> {
        let e = &self.experiment;
        let files =
            |section: &str, key: &str, paths: &[String]| -> Result<Vec<NamedObject>, SpecError> {
                let mut out = Vec::new();
                for p in paths {
                    for file in self.expand(section, key, p)? {
                        out.push(self.object(section, key, &file, store, ingest)?);
                    }
                }
                Ok(out)
            };
        let base = files("data", "base", &e.data.base)?;
        let additions = files("data", "additions", &e.data.additions)?;
        let test = self.object("data", "test", &self.path_of(&e.data.test), store, ingest)?;
        let taxonomy = match &e.data.taxonomy {
            Some(p) => self.object("data", "taxonomy", &self.path_of(p), store, ingest)?,
            None => {
                let object = match (store, ingest) {
                    (Some(s), Ingest::Store) => {
                        s.put_bytes(BUILTIN_TAXONOMY)
                            .map_err(|err| self.error_at("data", "taxonomy", err.to_string()))?
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
        let tokenizer_file = match &e.tokenizer.file {
            Some(p) => Some(self.object("tokenizer", "file", &self.path_of(p), store, ingest)?),
            None => None,
        };
        let parent = self.version("model", "parent", e.model.parent.as_deref(), store)?;
        let baseline = self.version(
            "regression",
            "baseline",
            e.regression.baseline.as_deref(),
            store,
        )?;
        let extra_sets = files("regression", "extra_sets", &e.regression.extra_sets)?;
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
                parent,
            },
            train: e.train.clone(),
            regression: RegressionRecipe {
                baseline,
                extra_sets,
                reject_rate: e.regression.reject_rate,
                caution_rate: e.regression.caution_rate,
            },
            export: e.export.clone(),
            environment: Environment {
                cairn_version: cairn_version.to_string(),
                backend: e.train.backend.clone(),
                device: "cpu".into(),
                threads: e.train.threads,
            },
        })
    }

    fn path_of(&self, p: &str) -> PathBuf {
        self.base_dir().join(p)
    }

    /// A file, or a folder's `*.jsonl` files sorted by name.
    fn expand(&self, section: &str, key: &str, p: &str) -> Result<Vec<PathBuf>, SpecError> {
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
            return Ok(vec![path]);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| {
                self.error_at(
                    section,
                    key,
                    format!("cannot list `{}`: {e}", path.display()),
                )
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(self.error_at(
                section,
                key,
                format!("folder `{}` has no .jsonl files", path.display()),
            ));
        }
        Ok(files)
    }

    fn object(
        &self,
        section: &str,
        key: &str,
        path: &Path,
        store: Option<&Store>,
        ingest: Ingest,
    ) -> Result<NamedObject, SpecError> {
        let fail = |msg: String| self.error_at(section, key, msg);
        if !path.is_file() {
            return Err(fail(format!(
                "`{}` is not a file (paths are relative to the experiment file's folder)",
                path.display()
            )));
        }
        let name = path.display().to_string();
        match (store, ingest) {
            (Some(store), Ingest::Store) => {
                let put = store.put_path(path).map_err(|e| fail(e.to_string()))?;
                Ok(NamedObject {
                    name,
                    object: put.id,
                    size: put.size,
                })
            }
            _ => {
                let mut hasher = blake3::Hasher::new();
                hasher
                    .update_mmap_rayon(path)
                    .map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                Ok(NamedObject {
                    name,
                    object: ObjectId::from(hasher.finalize()),
                    size,
                })
            }
        }
    }

    fn version(
        &self,
        section: &str,
        key: &str,
        name: Option<&str>,
        store: Option<&Store>,
    ) -> Result<Option<VersionRef>, SpecError> {
        let Some(name) = name else { return Ok(None) };
        let reference: RefName = name
            .parse()
            .map_err(|e: cairn_store::RefNameError| self.error_at(section, key, e.to_string()))?;
        let run = store
            .and_then(|s| s.get_ref(&reference).ok().flatten())
            .ok_or_else(|| self.error_at(section, key, format!("`{name}` is not a registered version in this store (run its experiment first; `cairn ref list` shows what exists)")))?;
        Ok(Some(VersionRef {
            name: name.to_string(),
            run,
        }))
    }
}
