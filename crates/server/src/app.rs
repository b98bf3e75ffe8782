//! The state every request shares: the configuration and open tracking-database
//! connections.

use std::sync::Mutex;

use cairn_store::Store;
use cairn_track::Tracker;

use crate::Config;
use crate::error::{ApiError, internal};

/// The most tracking-database connections kept open between requests.
pub const IDLE_CONNECTIONS: usize = 8;

pub(crate) struct App {
    pub config: Config,
    /// Open tracking-database connections, reused across requests.
    pub idle: Mutex<Vec<Tracker>>,
    /// `POST /test` runs at once ([`crate::Limits::tests`]).
    pub tests: std::sync::Arc<tokio::sync::Semaphore>,
}

impl App {
    /// Runs `f` with a connection to the tracking database: an idle one, or a new one. A
    /// pooled connection may have died with the server it talked to (a restart), so a
    /// failure on one is tried once more on a fresh connection; a connection that failed is
    /// dropped rather than reused.
    pub fn with_tracker<T>(
        &self,
        store: &Store,
        f: impl Fn(&mut Tracker) -> Result<T, cairn_track::TrackError>,
    ) -> Result<T, ApiError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let (tracker, value) = match pooled.map(|mut t| (f(&mut t), t)) {
            Some((Ok(value), tracker)) => (tracker, value),
            // None idle, or the idle one failed: a fresh connection, once.
            _ => {
                let mut tracker =
                    Tracker::open_for(store, self.config.database.as_deref()).map_err(internal)?;
                let value = f(&mut tracker).map_err(internal)?;
                (tracker, value)
            }
        };
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_CONNECTIONS
        {
            idle.push(tracker);
        }
        Ok(value)
    }

    /// The store, opened for one request.
    pub fn store(&self) -> Result<Store, ApiError> {
        Store::open(&self.config.store).map_err(internal)
    }
}
