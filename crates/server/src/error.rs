//! Why a server could not start, and errors as the API answers them.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_pipeline::{ErrorKind, PipelineError};
use serde_json::json;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A non-loopback address without a token.
    #[error("{0} is not a loopback address: give a bearer token with --token-file or CAIRN_TOKEN")]
    NoToken(SocketAddr),
    /// The token file could not be read.
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The token is too short to be a secret.
    #[error("the bearer token is shorter than {0} characters: use a longer one")]
    ShortToken(usize),
    /// White space inside the token, which no `Authorization` header can carry.
    #[error("the bearer token holds white space, which no client can send: use one without")]
    SpacedToken,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The suite `POST /test` runs cannot be read.
    #[error("--suite: {0}")]
    Suite(PipelineError),
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error(transparent)]
    Track(#[from] cairn_track::TrackError),
    #[error(transparent)]
    Io(std::io::Error),
}

/// An error as the API answers it: a status and one line.
pub(crate) struct ApiError(pub StatusCode, pub String);

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

/// A failure that is the server's, not the caller's (500).
pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}
