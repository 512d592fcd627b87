//! The crate's one error type: every failure names the file, path or reference concerned.

use std::path::PathBuf;

/// What went wrong while building, reading or pushing an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("failed to {action} {path:?}: {source}")]
    Io {
        /// `read`, `write`, `list`, ...
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A path inside an image is not a plain relative path (empty, absolute, `..`, or not UTF-8).
    #[error("invalid path in image: {0:?} (expected a relative path without `..`)")]
    BadPath(String),
    /// Two entries of one layer claim the same path with different kinds.
    #[error("conflicting entries for {0:?} in one layer (a file and a directory)")]
    Conflict(String),
    /// A source tree holds something other than regular files and directories.
    #[error("unsupported file type at {0:?} (only regular files and directories are packed)")]
    Unsupported(PathBuf),
    /// An input the module image needs is missing.
    #[error("missing input {path:?}: {what}")]
    MissingInput {
        /// The path that was expected.
        path: PathBuf,
        /// What it is for.
        what: &'static str,
    },
    /// An OCI layout on disk is not what this crate writes.
    #[error("invalid OCI layout at {path:?}: {reason}")]
    BadLayout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A blob's content does not hash to its name.
    #[error("blob {digest} does not match its content")]
    DigestMismatch {
        /// The expected digest.
        digest: String,
    },
    /// JSON could not be encoded or decoded.
    #[error("failed to {action} JSON: {source}")]
    Json {
        /// `encode` or `decode ...`.
        action: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An image reference could not be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference {
        /// The reference text.
        reference: String,
        /// The parser's message.
        reason: String,
    },
    /// The registry refused or failed an operation.
    #[error("failed to {action} {reference}: {source}")]
    Registry {
        /// `push blob`, `push manifest`, `authenticate to`, ...
        action: &'static str,
        /// The image reference.
        reference: String,
        /// The client's error.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }

    /// An [`Error::Json`].
    pub(crate) fn json(action: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Self {
        let action = action.into();
        move |source| Self::Json { action, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
