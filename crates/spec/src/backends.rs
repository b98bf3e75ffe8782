//! The cross-backend regression snapshot: one version evaluated on every backend a build
//! has (and ONNX Runtime), recorded as a manifest that the version's lineage links to.

use std::collections::BTreeMap;

use cairn_store::{Manifest, ObjectId, RefName, Store};
use serde::{Deserialize, Serialize};

/// Backends that come as Cargo features of the `cairn` binary: name and feature.
pub const OPTIONAL_BACKENDS: [(&str, &str); 2] = [("wgpu", "wgpu"), ("tch", "tch")];

/// What `cairn regress <ref> --backends …` found, per backend, for one version on its test
/// set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendSnapshot {
    /// `name@version`.
    pub version: String,
    pub run: ObjectId,
    /// The backend the version was trained on.
    pub trained_on: String,
    /// The backend the deviations are measured against: `trained_on` when this build has
    /// it, else the first backend evaluated.
    pub reference: String,
    /// The test set object and its size.
    pub test: ObjectId,
    pub examples: u64,
    /// The decision threshold on P(attack) the metrics and flips use.
    pub threshold: f64,
    /// One row per backend asked for, in the order asked.
    pub rows: Vec<BackendRow>,
}

/// One backend's figures, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendRow {
    /// `ndarray`, `wgpu`, `tch` or `onnx`.
    pub backend: String,
    /// Evaluated, or not available on this build or machine (`note` says why).
    pub available: bool,
    /// The device or runtime it ran on, or why it did not run.
    pub note: String,
    /// accuracy, precision, recall, f1, fpr, fnr at the threshold.
    pub metrics: BTreeMap<String, f64>,
    /// The largest |Δ| of each output against the reference backend.
    pub max_abs_deviation: BTreeMap<String, f64>,
    /// Test examples whose decision differs from the reference backend's.
    pub flips: Option<u64>,
}

impl BackendRow {
    /// The largest |Δ| of any output against the reference backend (0 when it did not run).
    pub fn max_deviation(&self) -> f64 {
        self.max_abs_deviation.values().copied().fold(0.0, f64::max)
    }
}

impl Manifest for BackendSnapshot {
    const KIND: &'static str = "backend-snapshot";
}

/// The refs of cross-backend snapshots start with this.
pub const BACKEND_SNAPSHOT_PREFIX: &str = "backends/";

/// `backends/<first 16 hex digits of the run id>`: the newest snapshot of a run.
pub fn backend_snapshot_ref(run: &ObjectId) -> Result<RefName, cairn_store::RefNameError> {
    format!("{BACKEND_SNAPSHOT_PREFIX}{}", &run.to_hex()[..16]).parse()
}

impl BackendSnapshot {
    /// The newest snapshot of a run and its id, if one was taken.
    pub fn of_run(
        store: &Store,
        run: &ObjectId,
    ) -> Result<Option<(ObjectId, Self)>, cairn_store::StoreError> {
        let Ok(name) = backend_snapshot_ref(run) else {
            return Ok(None);
        };
        match store.get_ref(&name)? {
            Some(id) => Ok(Some((id, store.get_manifest(&id)?))),
            None => Ok(None),
        }
    }

    /// One line per row for a graph node: `ndarray 0 flips`, `wgpu unavailable`.
    pub fn summary(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|r| match r.flips {
                Some(flips) if r.available => format!("{} {flips} flips", r.backend),
                _ => format!("{} unavailable", r.backend),
            })
            .collect()
    }
}
