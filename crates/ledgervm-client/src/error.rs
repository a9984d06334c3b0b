//! The client's typed errors. Each has a stable machine code ([`ClientError::code`]) so the
//! CLI can print `--json` errors and scripts can branch on them.

use std::path::PathBuf;

/// Two signed checkpoints that cannot both be honest views of one append-only log,
/// kept as evidence of misbehaviour (both notes verbatim, and where they were saved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The checkpoint the client had verified and stored before (signed note text).
    pub trusted: String,
    /// The checkpoint the server presented now (signed note text).
    pub presented: String,
    /// The evidence file written next to the trust file, if writing it succeeded.
    pub saved_to: Option<PathBuf>,
}

/// Everything that can go wrong talking to (or auditing) a ledgervm server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a JSON error `{code, message}`.
    #[error("server error {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's stable error code (e.g. `app_not_found`).
        code: String,
        /// Human-readable message.
        message: String,
    },
    /// The request could not be sent or the response not read.
    #[error("transport error: {0}")]
    Transport(String),
    /// The server's answer is not what the API contract says.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// A base URL or key string is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A checkpoint's signature does not verify against the pinned key.
    #[error("checkpoint signature does not verify: {0}")]
    BadSignature(String),
    /// A receipt or response does not verify (inclusion, record contents, blob hash).
    #[error("verification failed: {0}")]
    Verification(String),
    /// The server presented a checkpoint smaller than one it signed before: it is hiding
    /// entries it already committed to.
    #[error(
        "rollback: server presented a checkpoint of size {presented_size} after size {trusted_size} was verified"
    )]
    Rollback {
        /// Size of the stored (trusted) checkpoint.
        trusted_size: u64,
        /// Size of the presented checkpoint.
        presented_size: u64,
        /// Both checkpoints.
        evidence: Box<Evidence>,
    },
    /// The server presented a checkpoint that does not extend the stored one (same size
    /// with another root, or no valid consistency proof): two incompatible histories.
    #[error(
        "fork: checkpoint of size {presented_size} does not extend the verified one of size {trusted_size}: {reason}"
    )]
    Fork {
        /// Size of the stored (trusted) checkpoint.
        trusted_size: u64,
        /// Size of the presented checkpoint.
        presented_size: u64,
        /// Why the two are incompatible.
        reason: String,
        /// Both checkpoints.
        evidence: Box<Evidence>,
    },
    /// Trust-on-first-use found a different key pinned for this server before.
    #[error("server key changed: pinned {pinned}, server now presents {presented}")]
    KeyChanged {
        /// The key pinned on first use.
        pinned: String,
        /// The key the server presents now.
        presented: String,
    },
    /// Reading or writing the trust store (or a local data directory) failed.
    #[error("I/O error on {path}: {message}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The auditor could not run (not a divergence: e.g. the log could not be fetched).
    #[error("audit failed: {0}")]
    Audit(String),
}

impl ClientError {
    /// Stable machine code.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Api { code, .. } => code,
            ClientError::Transport(_) => "client.transport",
            ClientError::Protocol(_) => "client.protocol",
            ClientError::InvalidArgument(_) => "client.invalid_argument",
            ClientError::BadSignature(_) => "client.bad_signature",
            ClientError::Verification(_) => "client.verification",
            ClientError::Rollback { .. } => "client.rollback",
            ClientError::Fork { .. } => "client.fork",
            ClientError::KeyChanged { .. } => "client.key_changed",
            ClientError::Io { .. } => "client.io",
            ClientError::Audit(_) => "client.audit",
        }
    }

    /// The evidence carried by a rollback or fork.
    pub fn evidence(&self) -> Option<&Evidence> {
        match self {
            ClientError::Rollback { evidence, .. } | ClientError::Fork { evidence, .. } => {
                Some(evidence)
            }
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> ClientError {
        ClientError::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> ClientError {
        // `{:#}`-style chain: reqwest's top-level message alone hides the cause.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        ClientError::Transport(msg)
    }
}
