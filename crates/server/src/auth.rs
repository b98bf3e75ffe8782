//! The bearer token: where it comes from, and the check every request passes.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode, header};

use crate::error::{ApiError, ServerError};

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The token from `file` (trimmed) or else `env` (`CAIRN_TOKEN`); refused when shorter than
/// [`MIN_TOKEN_LEN`].
pub fn read_token(file: Option<&Path>, env: Option<String>) -> Result<Option<String>, ServerError> {
    let from_file = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| ServerError::TokenFile {
                    path: path.to_path_buf(),
                    source,
                })?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    // A token with spaces around it could never match what a client sends: trim it, and
    // measure what is left.
    match from_file.or(env).map(|t| t.trim().to_string()) {
        Some(t) if t.len() < MIN_TOKEN_LEN => Err(ServerError::ShortToken(MIN_TOKEN_LEN)),
        Some(t) if t.chars().any(char::is_whitespace) => Err(ServerError::SpacedToken),
        other => Ok(other),
    }
}

/// Equal lengths and bytes, in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `headers` carry `Authorization: Bearer <token>` (any token when none is set).
pub(crate) fn check(token: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Ok(());
    };
    // The scheme is case-insensitive (RFC 9110): `bearer` and `Bearer` alike.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    if same_secret(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: send `Authorization: Bearer <token>`".into(),
        ))
    }
}
