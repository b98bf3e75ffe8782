//! The deployment record: which version was put into which production folder, and when.

use std::path::Path;

use cairn_store::{Manifest, ObjectId, RefName};
use serde::{Deserialize, Serialize};

/// One change of a production folder (`cairn deploy`, `cairn deploy --rollback`). The ref
/// [`deployment_ref`] of a folder points at its newest record; `previous` chains the older
/// ones, so a rollback can step back and `cairn show` can say where a version is deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The production folder (absolute).
    pub target: String,
    pub action: DeployAction,
    /// `name@version` now in the folder (`None` after rolling back to files that cairn did
    /// not put there).
    pub version: Option<String>,
    pub run: Option<ObjectId>,
    /// RFC 3339 UTC.
    pub time: String,
    /// The record of the state before this one: what a rollback returns to. (A rollback's
    /// record stands for the state it restored, so it carries that state's `previous`.)
    pub previous: Option<ObjectId>,
    /// The backup folder (`.cairn-backups/…` inside the target) holding the files of the
    /// state before this one; `None` when the folder had none.
    pub backup: Option<String>,
}

/// What changed a production folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployAction {
    Deploy,
    Rollback,
}

display_as_serialized!(DeployAction => { Deploy => "deploy", Rollback => "rollback" });

impl Manifest for Deployment {
    const KIND: &'static str = "deployment";
}

/// The refs of deployment records start with this.
pub const DEPLOYMENT_REF_PREFIX: &str = "deploy/";

/// The ref of a production folder: `deploy/<first 16 hex digits of BLAKE3(absolute path)>`.
pub fn deployment_ref(target: &Path) -> Result<RefName, cairn_store::RefNameError> {
    let hash = blake3::hash(target.to_string_lossy().as_bytes()).to_hex();
    format!("{DEPLOYMENT_REF_PREFIX}{}", &hash[..16]).parse()
}
