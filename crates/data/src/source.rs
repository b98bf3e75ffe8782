//! Naming a dataset on the command line: a JSONL file, a folder of them, or a stored object.

use std::path::{Path, PathBuf};

use cairn_store::{ObjectId, Store};

use crate::dataset::{DatasetRow, load_dataset, load_rows};
use crate::error::DataError;
use crate::taxonomy::Taxonomy;
use crate::validate::{Input, ValidateOptions, validated_rows};

/// Where rows come from.
#[derive(Debug, Clone)]
pub enum DatasetSource {
    /// A JSONL file of examples, or a folder whose `*.jsonl` files (sorted by name) are read.
    Path(PathBuf),
    /// A dataset manifest, or a rows object, in the store.
    Object(ObjectId),
}

/// Rows and what they are.
#[derive(Debug, Clone)]
pub struct LoadedRows {
    pub rows: Vec<DatasetRow>,
    /// A human description (`file.jsonl` or `dataset 1a2b3c…`).
    pub label: String,
    /// The dataset manifest, when the source was one.
    pub manifest: Option<crate::DatasetManifest>,
}

impl DatasetSource {
    /// A path if one exists with that name, else an object hash.
    pub fn parse(arg: &str) -> Result<Self, DataError> {
        let path = Path::new(arg);
        if path.exists() {
            return Ok(Self::Path(path.to_path_buf()));
        }
        arg.parse::<ObjectId>()
            .map(Self::Object)
            .map_err(|_| DataError::Param(format!("`{arg}` is neither a file nor an object hash (give a JSONL file, a folder of them, or a dataset hash)")))
    }

    /// The JSONL files a path names, sorted.
    pub fn files(path: &Path) -> Result<Vec<PathBuf>, DataError> {
        if !path.is_dir() {
            return Ok(vec![path.to_path_buf()]);
        }
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(DataError::Param(format!(
                "folder `{}` has no .jsonl files",
                path.display()
            )));
        }
        Ok(files)
    }

    /// Loads the rows: files are validated (each row's weight is its multiplier); a stored
    /// dataset gives its train and validation rows.
    pub fn load(
        &self,
        store: Option<&Store>,
        taxonomy: &Taxonomy,
    ) -> Result<LoadedRows, DataError> {
        match self {
            Self::Path(path) => {
                let inputs = Self::files(path)?
                    .iter()
                    .map(|p| Input::read(p))
                    .collect::<Result<Vec<_>, _>>()?;
                let rows = validated_rows(&inputs, taxonomy, &ValidateOptions::default())?;
                Ok(LoadedRows {
                    rows,
                    label: path.display().to_string(),
                    manifest: None,
                })
            }
            Self::Object(id) => {
                let store = store.ok_or_else(|| {
                    DataError::Param(format!(
                        "object {id} given but there is no store (pass --store)"
                    ))
                })?;
                match store.sniff_manifest(id)? {
                    Some(_) => {
                        let (manifest, mut train, validation) = load_dataset(store, id)?;
                        train.extend(validation);
                        Ok(LoadedRows {
                            rows: train,
                            label: format!("dataset {}", id.short()),
                            manifest: Some(manifest),
                        })
                    }
                    None => Ok(LoadedRows {
                        rows: load_rows(store, id)?,
                        label: format!("rows {}", id.short()),
                        manifest: None,
                    }),
                }
            }
        }
    }
}
