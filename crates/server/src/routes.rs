//! The routes: read-only analytics over the tracking database and the store, and `POST
//! /test`, which red-teams models and records the result.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_pipeline::{ModelScope, RedteamOptions};
use cairn_redteam::Category;
use cairn_track::{Record, Tracker};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::auth;
use crate::error::{ApiError, internal};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

type Answer = Result<axum::Json<Value>, ApiError>;

fn answer(value: impl serde::Serialize) -> Answer {
    serde_json::to_value(value)
        .map(axum::Json)
        .map_err(internal)
}

/// Runs `f` with the store and its tracking database, off the async threads.
async fn with_tracker<T: serde::Serialize + Send + 'static>(
    app: Arc<App>,
    f: impl Fn(&mut Tracker) -> Result<T, cairn_track::TrackError> + Send + 'static,
) -> Answer {
    let value = tokio::task::spawn_blocking(move || {
        let store = app.store()?;
        app.with_tracker(&store, f)
    })
    .await
    .map_err(internal)??;
    answer(value)
}

/// `GET /health`: one document for every part the server depends on (the tracking
/// database today); 200 only when every part answers, else 503 naming the part that is down.
async fn health(State(app): State<Arc<App>>) -> Response {
    let database = tokio::task::spawn_blocking(move || {
        let store = app.store()?;
        app.with_tracker(&store, |t| t.ping().map(|()| t.location().to_string()))
    })
    .await
    .map_err(internal)
    .and_then(|r| r);
    let (status, part) = match database {
        Ok(location) => (
            StatusCode::OK,
            json!({ "status": "ok", "location": location }),
        ),
        Err(ApiError(_, reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "down", "error": reason }),
        ),
    };
    let ok = status == StatusCode::OK;
    let mut body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "schema": cairn_track::SCHEMA_VERSION,
        "parts": { "tracking_database": part },
    });
    if !ok {
        body["error"] = json!("the tracking database is down");
    }
    (status, axum::Json(body)).into_response()
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

/// The reference in a path, or a 400 saying why it is not one.
fn reference(path: Result<UrlPath<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|UrlPath(r)| r)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text().replace('\n', " ")))
}

async fn run(State(app): State<Arc<App>>, path: Result<UrlPath<String>, PathRejection>) -> Answer {
    let reference = reference(path)?;
    tokio::task::spawn_blocking(move || {
        let store = app.store()?;
        let provenance = cairn_lineage::provenance(&store, &reference)?;
        answer(provenance.document())
    })
    .await
    .map_err(internal)?
}

async fn lineage(
    State(app): State<Arc<App>>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Answer {
    let reference = reference(path)?;
    tokio::task::spawn_blocking(move || {
        let store = app.store()?;
        answer(cairn_lineage::graph(&store, &reference, false)?)
    })
    .await
    .map_err(internal)?
}

/// `POST /test`: the workflow's request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The models to test (`name@version` or `name/latest`); none: every model's latest.
    #[serde(default)]
    pub models: Vec<String>,
    /// The attack categories to run; none: all of the suite's.
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub batch_size: Option<u64>,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl TestRequest {
    /// The red-team options the request asks for; a 400 names what is wrong.
    fn options(self) -> Result<RedteamOptions, ApiError> {
        let mut categories = Vec::new();
        for name in &self.categories {
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
        if self.batch_size == Some(0) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "batch_size must be at least 1".into(),
            ));
        }
        Ok(RedteamOptions {
            models: if self.models.is_empty() {
                ModelScope::All
            } else {
                ModelScope::These(self.models)
            },
            batch_size: self.batch_size.unwrap_or(64) as usize,
            categories: (!categories.is_empty()).then_some(categories),
            seed: self.seed,
            threads: 1,
        })
    }
}

async fn test(
    State(app): State<Arc<App>>,
    body: Result<axum::Json<Value>, JsonRejection>,
) -> Answer {
    let axum::Json(body) = body.map_err(|e| {
        // Too large stays 413; any other unusable body is the caller's bad request.
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.body_text().replace('\n', " "))
    })?;
    // serde would read a struct from an array too (`[]`): only an object is a request.
    if !body.is_object() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object, e.g. {\"models\": [\"detector@1.0.0\"]}".into(),
        ));
    }
    let request: TestRequest = serde_json::from_value(body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let options = request.options()?;
    // A test scores every model on the whole suite: a few at once, the rest shed.
    let Ok(running) = app.tests.clone().try_acquire_owned() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} red-team test(s) are running already: retry when one has finished",
                app.config.limits.tests
            ),
        ));
    };
    // A long test runs on a blocking thread: reads keep being answered.
    tokio::task::spawn_blocking(move || {
        let _running = running;
        let store = app.store()?;
        let report = cairn_pipeline::redteam_run(&store, &app.config.suite, &options)?;
        // The store holds the result either way; `cairn reindex` repairs a missed row.
        let _ = app.with_tracker(&store, |t| t.record(&store, Record::Redteam(report.result)));
        answer(&report)
    })
    .await
    .map_err(internal)?
}

async fn authorize(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    match auth::check(app.config.token.as_deref(), &headers) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method: GET everything but POST /test".into(),
    )
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such endpoint: see GET /health, /runs, /runs/<ref>, /lineage/<ref>, /red-team/tests, /model/failures, /retraining/logs, POST /test".into(),
    )
}

/// Every route, behind the token check and the body limit.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/test", post(test))
        .route("/red-team/tests", get(tests))
        .route("/model/failures", get(failures))
        .route("/retraining/logs", get(retraining))
        .route("/runs", get(runs))
        .route("/runs/{*reference}", get(run))
        .route("/lineage/{*reference}", get(lineage))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}
