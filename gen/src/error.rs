use std::io;
use std::path::PathBuf;

/// Everything that can stop a corpus from being generated.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A [`GenConfig`](crate::GenConfig) or [`LiveConfig`](crate::LiveConfig) value is out
    /// of range; `reason` says which values are accepted.
    #[error("invalid generator setting `{field}`: {reason}")]
    InvalidConfig {
        /// The setting (named like its command-line flag).
        field: &'static str,
        /// What is wrong and what to pass instead.
        reason: String,
    },
    /// A start time could not be parsed.
    #[error("cannot parse start time {input:?}: {reason}; give an RFC 3339 time such as 2026-11-20T10:00:00Z")]
    BadStart {
        /// The text that was given.
        input: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Reading or writing a file or directory failed.
    #[error("cannot {action} {}: {source}; check that the directory exists or can be created, is writable, and the disk has space", path.display())]
    Io {
        /// What was being done, e.g. "create" or "rename".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// `manifest.json` could not be read back.
    #[error("manifest {} is not a skein-gen manifest: {source}; regenerate the corpus with `skein gen`", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

/// Builds a `map_err` adaptor that names the action and path of a failed I/O call.
pub(crate) fn io_err(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(io::Error) -> GenError {
    let path = path.to_path_buf();
    move |source| GenError::Io {
        action,
        path,
        source,
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> GenError {
    GenError::InvalidConfig {
        field,
        reason: reason.into(),
    }
}
