use std::path::PathBuf;

/// Errors of the data crate. Validation problems are not errors: they are collected in a
/// [`crate::ValidationReport`]; these are the failures that stop an operation.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("failed to read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A TOML file does not parse; the message carries `file:line:col`.
    #[error("{0}")]
    Toml(String),
    /// A taxonomy file parses but is not usable.
    #[error("{origin}: {reason}")]
    Taxonomy { origin: String, reason: String },
    /// Validation found problems; nothing was merged or stored.
    #[error(
        "{problems} problem(s) in the input data, nothing was merged; the first: {first} (run `cairn validate` to list them all)"
    )]
    Invalid { problems: usize, first: String },
    /// A merge or split parameter is out of range.
    #[error("{0}")]
    Param(String),
    /// A dataset given by hash is not in the store or not a dataset.
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
}

/// `file:line:col: message` for a TOML error.
pub(crate) fn toml_error(origin: &str, text: &str, e: &toml::de::Error) -> DataError {
    let (line, col) = e
        .span()
        .map(|span| cairn_store::line_col(text, span.start))
        .unwrap_or((1, 1));
    let msg = e.message().trim().replace('\n', " ");
    DataError::Toml(format!("{origin}:{line}:{col}: {msg}"))
}
