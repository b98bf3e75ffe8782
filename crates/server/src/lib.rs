//! cairn's HTTP API: the red-team workflow's routes over a store and its tracking database.
//! JSON in and out, the same library types as the command line's `--json`. Loopback by
//! default; any other address needs a bearer token. User errors are 4xx with a one-line
//! message (`{"error": "…"}`).
//!
//! `cairn serve` parses its flags into a [`Config`], then [`Server::bind`]s and runs it.
//! The modules call one way: `error` and `auth` (leaves) ← `app` (the shared state) ←
//! `routes` (handlers and the router).

mod accept;
mod app;
mod auth;
mod error;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cairn_store::Store;
use cairn_track::Tracker;

pub use app::IDLE_CONNECTIONS;
pub use auth::{MIN_TOKEN_LEN, read_token};
pub use error::ServerError;
pub use routes::{BODY_LIMIT, TestRequest};

/// What a server serves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store folder.
    pub store: PathBuf,
    /// The tracking database URL (`--db`); `None`: the store's own `track.db`.
    pub database: Option<String>,
    /// The red-team suite `POST /test` runs.
    pub suite: PathBuf,
    /// The bearer token every request must send; required off loopback.
    pub token: Option<String>,
    /// What it holds at once.
    pub limits: Limits,
}

/// How much a server holds at once; beyond it, requests are shed with 503 rather than
/// queued or stalled.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at once; a connection over the cap gets a 503 and is closed.
    pub connections: usize,
    /// How long a connection may take to send a request's headers before it is closed.
    pub header_read: std::time::Duration,
    /// `POST /test` runs at once; another gets a 503.
    pub tests: usize,
}

impl Default for Limits {
    /// 4,096 connections (fewer when the open-file limit is lower: half of it, so accepted
    /// sockets never take the descriptors the store and database need), 10 s for headers,
    /// 2 red-team tests.
    fn default() -> Self {
        Limits {
            connections: 4096.min(open_file_limit() / 2).max(16),
            header_read: std::time::Duration::from_secs(10),
            tests: 2,
        }
    }
}

/// This process's soft limit on open files (`RLIMIT_NOFILE`).
fn open_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    }
}

/// A server bound to its address, not yet answering.
pub struct Server {
    listener: std::net::TcpListener,
    router: axum::Router,
    database: String,
    limits: Limits,
}

impl Server {
    /// Checks the configuration (a token off loopback; the store and its tracking database
    /// open), then binds `addr`. Nothing is answered until [`Server::run`].
    pub fn bind(config: Config, addr: SocketAddr) -> Result<Server, ServerError> {
        if !addr.ip().is_loopback() && config.token.is_none() {
            return Err(ServerError::NoToken(addr));
        }
        // Fail now, not on the first request, if the store or its database is unusable.
        let store = Store::open(&config.store)?;
        let tracker = Tracker::open_for(&store, config.database.as_deref())?;
        let database = tracker.location().to_string();
        // Every `POST /test` runs this suite: a broken one is refused now, not per request.
        cairn_pipeline::load_suite(&config.suite).map_err(ServerError::Suite)?;
        let limits = config.limits;
        let state = Arc::new(app::App {
            tests: Arc::new(tokio::sync::Semaphore::new(limits.tests)),
            config,
            idle: Mutex::new(vec![tracker]),
        });
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServerError::Listen { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Listen { addr, source })?;
        Ok(Server {
            listener,
            router: routes::router(state),
            database,
            limits,
        })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::Io)
    }

    /// Where the tracking database is.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Answers requests on a two-thread runtime until `shutdown` resolves.
    pub fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ServerError::Io)?;
        runtime.block_on(async {
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(ServerError::Io)?;
            accept::serve(listener, self.router, self.limits, shutdown).await;
            Ok(())
        })
    }
}

/// Until Ctrl-C (SIGINT): the shutdown signal of `cairn serve`.
pub async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}
