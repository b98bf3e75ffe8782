//! `cairn serve`: the red-team workflow's HTTP API over the store and its tracking database.
//! JSON in and out, the same library types as `--json`. Loopback by default; any other
//! address needs a bearer token. User errors are 4xx with a one-line message.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_pipeline::{ErrorKind, ModelScope, PipelineError, RedteamOptions};
use cairn_redteam::Category;
use cairn_store::Store;
use cairn_track::Tracker;
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::output::Output;

/// The most tracking-database connections kept open between requests.
const IDLE_CONNECTIONS: usize = 8;

/// The largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen. Any address but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8006")]
    addr: SocketAddr,
    /// A file holding the bearer token requests must send (or set CAIRN_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The suite `POST /test` runs.
    #[arg(long, value_name = "FILE", default_value = "suites/default.toml")]
    suite: PathBuf,
}

struct App {
    store: PathBuf,
    suite: PathBuf,
    token: Option<String>,
    /// Open tracking-database connections, reused across requests.
    idle: Mutex<Vec<Tracker>>,
}

impl App {
    /// Runs `f` with a connection to the tracking database: an idle one, or a new one. A
    /// connection that failed is dropped rather than reused.
    fn with_tracker<T>(
        &self,
        store: &Store,
        f: impl FnOnce(&mut Tracker) -> std::result::Result<T, cairn_track::TrackError>,
    ) -> std::result::Result<T, ApiError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut tracker = match idle {
            Some(t) => t,
            None => crate::track::tracker(store).map_err(internal)?,
        };
        let value = f(&mut tracker).map_err(internal)?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_CONNECTIONS
        {
            idle.push(tracker);
        }
        Ok(value)
    }
}

/// An error as the API answers it: a status and one line.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Corrupt | ErrorKind::Unavailable | ErrorKind::Failed => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError(status, e.to_string())
    }
}

impl From<cairn_lineage::LineageError> for ApiError {
    fn from(e: cairn_lineage::LineageError) -> Self {
        use cairn_lineage::LineageError as L;
        let status = match e {
            L::UnknownVersion(_) | L::UnknownModel(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

type Answer = std::result::Result<axum::Json<Value>, ApiError>;

fn answer(value: impl serde::Serialize) -> Answer {
    serde_json::to_value(value)
        .map(axum::Json)
        .map_err(internal)
}

/// Runs `f` with the store and its tracking database, off the async threads.
async fn with_tracker<T: serde::Serialize + Send + 'static>(
    app: Arc<App>,
    f: impl FnOnce(&mut Tracker) -> std::result::Result<T, cairn_track::TrackError> + Send + 'static,
) -> Answer {
    let value = tokio::task::spawn_blocking(move || {
        let store = Store::open(&app.store).map_err(internal)?;
        app.with_tracker(&store, f)
    })
    .await
    .map_err(internal)??;
    answer(value)
}

async fn health(State(app): State<Arc<App>>) -> Answer {
    with_tracker(app, |_| {
        Ok(json!({ "status": "ok", "schema": cairn_track::SCHEMA_VERSION }))
    })
    .await
}

async fn tests(State(app): State<Arc<App>>) -> Answer {
    with_tracker(app, Tracker::test_history).await
}

async fn failures(State(app): State<Arc<App>>) -> Answer {
    with_tracker(app, Tracker::failure_stats).await
}

async fn retraining(State(app): State<Arc<App>>) -> Answer {
    with_tracker(app, Tracker::retraining_log).await
}

async fn runs(State(app): State<Arc<App>>) -> Answer {
    with_tracker(app, Tracker::model_stats).await
}

async fn run(State(app): State<Arc<App>>, UrlPath(reference): UrlPath<String>) -> Answer {
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&app.store).map_err(internal)?;
        let provenance = cairn_lineage::provenance(&store, &reference)?;
        answer(provenance.document())
    })
    .await
    .map_err(internal)?
}

async fn lineage(State(app): State<Arc<App>>, UrlPath(reference): UrlPath<String>) -> Answer {
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&app.store).map_err(internal)?;
        answer(cairn_lineage::graph(&store, &reference, false)?)
    })
    .await
    .map_err(internal)?
}

/// `POST /test`: the workflow's request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    batch_size: Option<u64>,
    #[serde(default)]
    seed: Option<u64>,
}

async fn test(
    State(app): State<Arc<App>>,
    body: std::result::Result<axum::Json<TestRequest>, JsonRejection>,
) -> Answer {
    let axum::Json(request) = body.map_err(|e| {
        // Too large stays 413; any other unusable body is the caller's bad request.
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.body_text().replace('\n', " "))
    })?;
    let mut categories = Vec::new();
    for name in &request.categories {
        categories.push(Category::parse(name).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown category `{name}`: use some of {}",
                    Category::names()
                ),
            )
        })?);
    }
    if request.batch_size == Some(0) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "batch_size must be at least 1".into(),
        ));
    }
    let options = RedteamOptions {
        models: if request.models.is_empty() {
            ModelScope::All
        } else {
            ModelScope::These(request.models)
        },
        batch_size: request.batch_size.unwrap_or(64) as usize,
        categories: (!categories.is_empty()).then_some(categories),
        seed: request.seed,
        threads: 1,
    };
    // A long test runs on a blocking thread: reads keep being answered.
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&app.store).map_err(internal)?;
        let report = cairn_pipeline::redteam_run(&store, &app.suite, &options)?;
        // The store holds the result either way; `cairn reindex` repairs a missed row.
        let _ = app.with_tracker(&store, |t| t.record_redteam(&report.result, &report.body));
        answer(&report)
    })
    .await
    .map_err(internal)?
}

/// Equal lengths and bytes, in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &app.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_secret(given.as_bytes(), token.as_bytes()) {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token: send `Authorization: Bearer <token>`".into(),
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such endpoint: see GET /health, /runs, /runs/<ref>, /lineage/<ref>, /red-team/tests, /model/failures, /retraining/logs, POST /test".into(),
    )
}

fn token(args: &ServeArgs) -> Result<Option<String>> {
    let from_file = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let token = from_file.or_else(|| std::env::var("CAIRN_TOKEN").ok());
    match token {
        Some(t) if t.len() < 16 => {
            bail!("the bearer token is shorter than 16 characters: use a longer one")
        }
        other => Ok(other),
    }
}

pub fn serve(store: &Path, out: &Output, args: ServeArgs) -> Result<ExitCode> {
    let token = token(&args)?;
    if !args.addr.ip().is_loopback() && token.is_none() {
        bail!(
            "{} is not a loopback address: give a bearer token with --token-file or CAIRN_TOKEN",
            args.addr
        );
    }
    // Fail now, not on the first request, if the store or its database is unusable.
    let opened = Store::open(store)?;
    let tracker = crate::track::tracker(&opened)?;
    out.status(format!("tracking database {}", tracker.location()));
    let app = Arc::new(App {
        store: store.to_path_buf(),
        suite: args.suite.clone(),
        token,
        idle: Mutex::new(vec![tracker]),
    });
    let router = Router::new()
        .route("/health", get(health))
        .route("/test", post(test))
        .route("/red-team/tests", get(tests))
        .route("/model/failures", get(failures))
        .route("/retraining/logs", get(retraining))
        .route("/runs", get(runs))
        .route("/runs/{*reference}", get(run))
        .route("/lineage/{*reference}", get(lineage))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let local = listener.local_addr()?;
        out.line(format!("listening on http://{local}"));
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
