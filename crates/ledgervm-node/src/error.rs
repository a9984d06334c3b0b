//! The node's typed errors. Each has a stable machine code that transports return as-is
//! (`{"code": …, "message": …}`) and a [`ErrorKind`] that maps to a transport status.

use ledgervm_runtime::LoadError;

/// Broad class of an error, for transports to pick a status (HTTP 400, 404, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or invalid.
    BadRequest,
    /// The named thing does not exist.
    NotFound,
    /// The request is not (validly) authenticated: missing, bad or replayed signature.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// The request conflicts with the current state (signed for another code version).
    Conflict,
    /// The node cannot take writes right now (log failure, shutting down).
    Unavailable,
    /// Too large.
    TooLarge,
    /// A bug or host failure.
    Internal,
}

/// Errors from [`crate::Node`] operations.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// App names are `[A-Za-z0-9._-]{1,128}`.
    #[error("invalid app name {0:?}: names are 1-128 characters of A-Z a-z 0-9 . _ -")]
    InvalidName(String),
    /// No app loaded under that name.
    #[error("no app named {0:?} is loaded")]
    AppNotFound(String),
    /// The module could not be loaded.
    #[error("module rejected: {0}")]
    BadModule(#[from] LoadError),
    /// Limits outside what the runtime allows.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// No log entry at that index, or a proof for sizes the log does not have.
    #[error("{0}")]
    OutOfRange(String),
    /// No blob of that name.
    #[error("blob {0} not found")]
    BlobNotFound(String),
    /// The log refused or failed the append; the node no longer takes writes.
    #[error("log unavailable: {0}")]
    LogUnavailable(String),
    /// The caller is not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Authentication or authorization failed; the code says exactly why.
    #[error(transparent)]
    Auth(#[from] crate::signing::AuthError),
    /// An encryption key was malformed, or does not match the loaded app's key.
    /// The message never contains key material.
    #[error("invalid encryption key: {0}")]
    InvalidKey(String),
    /// The app's state has no such key (or no durable record vouches for it yet).
    #[error("app {app:?} has no key {key:?}")]
    KvKeyNotFound {
        /// App name.
        app: String,
        /// The key, lossily as text.
        key: String,
    },
    /// Stored data failed verification (tampering or disk corruption).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Anything else that is the host's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl NodeError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::InvalidName(_) => "invalid_app_name",
            NodeError::AppNotFound(_) => "app_not_found",
            NodeError::BadModule(e) => e.code(),
            NodeError::InvalidLimits(_) => "invalid_limits",
            NodeError::OutOfRange(_) => "out_of_range",
            NodeError::BlobNotFound(_) => "blob_not_found",
            NodeError::LogUnavailable(_) => "log_unavailable",
            NodeError::Forbidden(_) => "forbidden",
            NodeError::Auth(e) => e.code(),
            NodeError::InvalidKey(_) => "invalid_encryption_key",
            NodeError::KvKeyNotFound { .. } => "kv_key_not_found",
            NodeError::Corrupt(_) => "corrupt_data",
            NodeError::Internal(_) => "internal",
        }
    }

    /// Broad class, for transports.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::BadModule(LoadError::CacheIo(_)) => ErrorKind::Internal,
            NodeError::InvalidName(_) | NodeError::BadModule(_) | NodeError::InvalidLimits(_) => {
                ErrorKind::BadRequest
            }
            NodeError::OutOfRange(_) | NodeError::InvalidKey(_) => ErrorKind::BadRequest,
            NodeError::KvKeyNotFound { .. } => ErrorKind::NotFound,
            NodeError::AppNotFound(_) | NodeError::BlobNotFound(_) => ErrorKind::NotFound,
            NodeError::Forbidden(_) => ErrorKind::Forbidden,
            NodeError::Auth(e) => {
                use crate::signing::AuthError as A;
                match e {
                    A::Malformed(_) => ErrorKind::BadRequest,
                    A::CodeChanged { .. } => ErrorKind::Conflict,
                    A::NotAllowed(_) | A::NotOwner(_) | A::DebugDisabled => ErrorKind::Forbidden,
                    A::BadSignature { .. }
                    | A::StaleTimestamp { .. }
                    | A::FutureTimestamp { .. }
                    | A::ReplayedNonce { .. }
                    | A::SignatureRequired(_) => ErrorKind::Unauthorized,
                }
            }
            NodeError::LogUnavailable(_) => ErrorKind::Unavailable,
            NodeError::Corrupt(_) | NodeError::Internal(_) => ErrorKind::Internal,
        }
    }
}
