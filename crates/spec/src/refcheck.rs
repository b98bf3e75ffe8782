//! Refs that tell the truth about the runs they name: `name@version` holds a run of that
//! name and version, and `name/latest` the highest registered version of `name`. The store
//! cannot check this (it knows nothing of runs); every command that takes refs from
//! elsewhere or reports on them does — `ref set`, `pull`, `clone`, `fsck` and loading a
//! version.

use cairn_store::{ObjectId, RefName, Store, StoreError};

use crate::RunManifest;

/// A ref whose target is not what its name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMismatch {
    pub reference: String,
    /// What the name says it holds.
    pub says: String,
    /// What it holds.
    pub holds: String,
    /// A model's `latest` that holds one of its lower registered versions: behind, not
    /// forged (a crash between registering a version and moving `latest` leaves it, and the
    /// next run of the model moves it).
    pub stale: bool,
}

impl std::fmt::Display for RefMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ref `{}` names {} but holds {}",
            self.reference, self.says, self.holds
        )
    }
}

/// Names the run (`name`, `version`) an object holds; `None`: it is not a run.
pub type RunOf<'a, E> = dyn FnMut(&ObjectId) -> Result<Option<(String, String)>, E> + 'a;

/// The run manifest `id` holds, or `None` when it holds anything else or is not here (a
/// missing or damaged object is `fsck`'s other finding).
pub fn run_at(store: &Store, id: &ObjectId) -> Result<Option<RunManifest>, StoreError> {
    let sniffed = match store.sniff_manifest(id) {
        Ok(sniffed) => sniffed,
        Err(StoreError::NotFound(_) | StoreError::Corrupt { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    match sniffed {
        Some((kind, _)) if kind == <RunManifest as cairn_store::Manifest>::KIND => {
            match store.get_manifest(id) {
                Ok(run) => Ok(Some(run)),
                Err(StoreError::NotAManifest { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
        _ => Ok(None),
    }
}

/// Checks what `name` would hold as `target` in `store` (`refs`: every ref, after the
/// change); see [`check_ref_with`].
pub fn check_ref(
    store: &Store,
    name: &RefName,
    target: ObjectId,
    refs: &[(RefName, ObjectId)],
) -> Result<Option<RefMismatch>, StoreError> {
    check_ref_with(name, target, refs, &mut |id| {
        Ok(run_at(store, id)?.map(|r| (r.name, r.version)))
    })
}

/// Checks what `name` would hold as `target` (`refs`: every ref, after the change), with
/// `run_of` naming the run an object holds (`None`: it is not a run): a `name@version` ref
/// that holds a run must hold a run of that name and version; `name/latest` of a model (a
/// name with semver version refs that hold runs) must hold the run of its highest one.
/// Refs to other objects, and the `latest` of a name with no versions, are a store's plain
/// refs and pass.
pub fn check_ref_with<E>(
    name: &RefName,
    target: ObjectId,
    refs: &[(RefName, ObjectId)],
    run_of: &mut RunOf<'_, E>,
) -> Result<Option<RefMismatch>, E> {
    if name.version().is_some() {
        let Some((run_name, run_version)) = run_of(&target)? else {
            return Ok(None);
        };
        return Ok(check_run(name, target, &run_name, &run_version));
    }
    let Some(model) = name.as_str().strip_suffix("/latest") else {
        return Ok(None);
    };
    // The model's registered versions: its semver version refs that hold runs (a ref to a
    // missing object or to plain data makes no model).
    let mut versions: Vec<(semver::Version, &RefName, &ObjectId)> = Vec::new();
    let prefix = format!("{model}@");
    for (r, id) in refs {
        let Some(version) = r.as_str().strip_prefix(&prefix) else {
            continue;
        };
        if let Ok(v) = semver::Version::parse(version)
            && run_of(id)?.is_some()
        {
            versions.push((v, r, id));
        }
    }
    versions.sort_by(|a, b| a.0.cmp(&b.0));
    let Some((_, highest, run)) = versions.last() else {
        return Ok(None);
    };
    if **run == target {
        return Ok(None);
    }
    let holds = match run_of(&target)? {
        Some((n, v)) => format!("the run of {n}@{v} ({target})"),
        None => format!("{target}, which is not a run"),
    };
    let stale = versions.iter().any(|(_, _, id)| **id == target);
    Ok(Some(RefMismatch {
        reference: name.to_string(),
        says: format!("the highest registered version of `{model}`, {highest} ({run})"),
        holds,
        stale,
    }))
}

/// Checks the run `target` holds (of `run_name`@`run_version`) against what `name` says
/// without looking at other refs: a `name@version` ref must hold a run of that name and
/// version, a `name/latest` a run of that model.
pub fn check_run(
    name: &RefName,
    target: ObjectId,
    run_name: &str,
    run_version: &str,
) -> Option<RefMismatch> {
    let says = match (name.version(), name.as_str().strip_suffix("/latest")) {
        (Some(version), _) if run_name != name.path() || run_version != version => {
            format!("version {version} of `{}`", name.path())
        }
        (None, Some(model)) if run_name != model => format!("a version of `{model}`"),
        _ => return None,
    };
    Some(RefMismatch {
        reference: name.to_string(),
        says,
        holds: format!("the run of {run_name}@{run_version} ({target})"),
        stale: false,
    })
}

/// Every ref of the store that does not hold what its name says.
pub fn check_refs(store: &Store) -> Result<Vec<RefMismatch>, StoreError> {
    let refs = store.list_refs()?;
    let mut out = Vec::new();
    for (name, target) in &refs {
        if let Some(m) = check_ref(store, name, *target, &refs)? {
            out.push(m);
        }
    }
    Ok(out)
}
