//! Keeping the tracking database (`<store>/track.db`, or the `--db` / `CAIRN_DB` one) in step
//! with the store. A failure to write it never fails the command: the store is the source of
//! truth, so the command says the index is stale and `cairn reindex` rebuilds it.

use std::sync::OnceLock;

use cairn_store::Store;
use cairn_track::{Record, TrackError, Tracker};

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

/// Records what finished in the tracking database ([`Tracker::record`]); a failure only
/// makes the index stale.
pub fn record(tracker: &mut Tracker, store: &Store, out: &Output, what: Record<'_>) {
    if let Err(e) = tracker.record(store, what) {
        stale(out, e);
    }
}
