//! Keeping the tracking database (`<store>/track.db`) in step with the store. A failure to
//! write it never fails the command: the store is the source of truth, so the command says
//! the index is stale and `cairn reindex` rebuilds it.

use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use cairn_track::Tracker;

use crate::output::Output;

/// Says the index is stale, and why.
pub fn stale(out: &Output, err: impl std::fmt::Display) {
    out.status(format!(
        "warning: the tracking index is stale ({err}); `cairn reindex` rebuilds it from the store"
    ));
}

/// The store's tracking database, or `None` (after saying why) when it cannot be opened.
pub fn open(store: &Store, out: &Output) -> Option<Tracker> {
    Tracker::open_in_store(store)
        .map_err(|e| stale(out, e))
        .ok()
}

/// Records a stored run.
pub fn record_run(tracker: &mut Tracker, store: &Store, out: &Output, run_id: &ObjectId) {
    let recorded = store
        .get_manifest::<RunManifest>(run_id)
        .map_err(|e| e.to_string())
        .and_then(|run| {
            let recipe: Recipe = store.get_manifest(&run.recipe).map_err(|e| e.to_string())?;
            tracker
                .record_run(run_id, &run, &recipe)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = recorded {
        stale(out, e);
    }
}

/// Records a stored red-team result.
pub fn record_redteam(tracker: &mut Tracker, store: &Store, out: &Output, id: &ObjectId) {
    let recorded = store
        .get_manifest(id)
        .map_err(|e| e.to_string())
        .and_then(|result| {
            tracker
                .record_redteam(id, &result)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = recorded {
        stale(out, e);
    }
}
