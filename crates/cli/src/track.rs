//! Keeping the tracking database (`<store>/track.db`, or the `--db` / `CAIRN_DB` one) in step
//! with the store. A failure to write it never fails the command: the store is the source of
//! truth, so the command says the index is stale and `cairn reindex` rebuilds it.

use std::sync::OnceLock;

use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store};
use cairn_track::{TrackError, Tracker};

use crate::output::Output;

/// The database the command line chose (`--db` or `CAIRN_DB`); unset, the store's own file.
static DATABASE: OnceLock<Option<String>> = OnceLock::new();

/// Sets the database every command uses; called once, by `main`.
pub fn choose(db: Option<String>) {
    let _ = DATABASE.set(db);
}

/// The chosen database URL, if any.
pub fn url() -> Option<String> {
    DATABASE.get().cloned().flatten()
}

/// Opens the chosen tracking database for `store`.
pub fn tracker(store: &Store) -> Result<Tracker, TrackError> {
    Tracker::open_for(store, url().as_deref())
}

/// Says the index is stale, and why.
pub fn stale(out: &Output, err: impl std::fmt::Display) {
    out.status(format!(
        "warning: the tracking index is stale ({err}); `cairn reindex` rebuilds it from the store"
    ));
}

/// The store's tracking database, or `None` (after saying why) when it cannot be opened.
pub fn open(store: &Store, out: &Output) -> Option<Tracker> {
    tracker(store).map_err(|e| stale(out, e)).ok()
}

/// Records a stored run.
pub fn record_run(tracker: &mut Tracker, store: &Store, out: &Output, run_id: &ObjectId) {
    recorded(store, out, run_id, |run: &RunManifest| {
        let recipe: Recipe = store.get_manifest(&run.recipe)?;
        tracker.record_run(run_id, run, &recipe)
    });
}

/// Reads a stored manifest and writes what it stands for; a failure only makes the index stale.
fn recorded<M: cairn_store::Manifest>(
    store: &Store,
    out: &Output,
    id: &ObjectId,
    write: impl FnOnce(&M) -> Result<(), TrackError>,
) {
    let recorded = store
        .get_manifest::<M>(id)
        .map_err(|e| e.to_string())
        .and_then(|manifest| write(&manifest).map_err(|e| e.to_string()));
    if let Err(e) = recorded {
        stale(out, e);
    }
}

/// Records a stored red-team result.
pub fn record_redteam(tracker: &mut Tracker, store: &Store, out: &Output, id: &ObjectId) {
    recorded(store, out, id, |result| tracker.record_redteam(id, result));
}

/// Records a stored failed red-team fine-tune.
pub fn record_retrain_failure(tracker: &mut Tracker, store: &Store, out: &Output, id: &ObjectId) {
    recorded(store, out, id, |failure| {
        tracker.record_retrain_failure(failure)
    });
}
