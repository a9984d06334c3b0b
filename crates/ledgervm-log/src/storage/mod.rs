//! The narrow storage interface under the log, and its backends.
//!
//! The log needs very little from storage, in the style of Sunlight: put an object at a
//! `tlog-tiles` path, get it back, and compare-and-swap the `checkpoint`. Keeping the trait
//! this small is what lets an object store (S3 conditional writes) replace the local disk
//! later without touching the appender or the readers.
//!
//! **Durability contract.** A [`Storage::put`] need not be durable — or even visible —
//! when it returns. [`Storage::swap_checkpoint`] is the commit point: when it returns
//! `Ok`, every object put since the previous successful swap *and* the new checkpoint are
//! durable together. If it returns an error, the commit may or may not have happened
//! (the write can land and the acknowledgement be lost), so the caller must stop and
//! re-open the storage to learn the truth; see [`crate::appender`] for why the log then
//! goes read-only. Grouping the durability of a whole batch into that one call is what
//! lets [`LocalStorage`] make a batch durable with a single `fdatasync`.
//!
//! Backends:
//! * [`LocalStorage`] — a data directory laid out exactly as C2SP `tlog-tiles`, plus a
//!   private write-ahead journal (`.journal`) that makes group commit cheap;
//! * [`FaultyStorage`] and [`FaultInjector`] — fault injection for the recovery tests.

mod fault;
mod journal;
mod local;
mod prefix;
mod publisher;

pub use fault::{FaultInjector, FaultMode, FaultyStorage};
pub use local::{LocalOptions, LocalStats, LocalStorage};

use std::path::PathBuf;

/// The narrow storage interface: immutable objects plus a compare-and-swapped checkpoint.
///
/// Paths are relative, `/`-separated `tlog-tiles` paths such as `tile/0/x001/067.p/8` or
/// `tile/entries/000`; the checkpoint is addressed only through the checkpoint methods.
/// All methods are blocking; async callers run them on a blocking thread.
pub trait Storage: Send + Sync + 'static {
    /// Reads the committed object at `path`, or `None` if there is none.
    ///
    /// Objects put but not yet committed by [`Storage::swap_checkpoint`] may or may not be
    /// returned; the log never relies on either.
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Stores `data` at `path`, replacing any previous object there.
    ///
    /// The object becomes durable no later than the next successful
    /// [`Storage::swap_checkpoint`].
    fn put(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError>;

    /// Reads the current checkpoint (signed note bytes), or `None` for a new log.
    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError>;

    /// Replaces the checkpoint with `new` if it currently equals `old` (`None`: no
    /// checkpoint yet), making every earlier put durable with it.
    ///
    /// Fails with [`StorageError::CheckpointMismatch`] if the current checkpoint differs.
    /// Any other error leaves the outcome unknown until the storage is re-opened.
    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError>;
}

impl<S: Storage + ?Sized> Storage for std::sync::Arc<S> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(path)
    }
    fn put(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        (**self).put(path, data)
    }
    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).read_checkpoint()
    }
    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        (**self).swap_checkpoint(old, new)
    }
}

/// Errors from a [`Storage`] backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system I/O error.
    #[error("storage I/O error during {op} on {path}: {source}")]
    Io {
        /// What was being done (`"write"`, `"fsync"`, ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint was not the expected one: someone else committed.
    #[error("checkpoint compare-and-swap failed: the stored checkpoint is not the expected one")]
    CheckpointMismatch,
    /// A path that is not a plain relative `tlog-tiles` path.
    #[error("invalid object path {0:?}")]
    InvalidPath(String),
    /// Another process holds the data directory.
    #[error("data directory {0} is locked by another process")]
    Locked(PathBuf),
    /// An earlier write failed; this handle refuses further writes until re-opened.
    #[error("storage is unusable after an earlier write failure; re-open it to recover")]
    Poisoned,
    /// A fault injected by [`FaultInjector`] (tests only).
    #[error("injected fault at write step {step} ({what})")]
    Injected {
        /// The 1-based write step that failed.
        step: u64,
        /// The kind of step.
        what: &'static str,
    },
    /// The write-ahead journal is damaged somewhere other than its torn tail.
    #[error("journal {path} is corrupt: {reason}")]
    CorruptJournal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl StorageError {
    /// A stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Io { .. } => "storage.io",
            StorageError::CheckpointMismatch => "storage.checkpoint_mismatch",
            StorageError::InvalidPath(_) => "storage.invalid_path",
            StorageError::Locked(_) => "storage.locked",
            StorageError::Poisoned => "storage.poisoned",
            StorageError::Injected { .. } => "storage.injected",
            StorageError::CorruptJournal { .. } => "storage.corrupt_journal",
        }
    }
}

/// Checks that `path` is a plain relative path: non-empty `/`-separated components of
/// ASCII letters, digits, `.`, `_` and `-`, none starting with `.` (dot-files are the
/// backend's private files) and none equal to `checkpoint` at the top.
pub(crate) fn validate_path(path: &str) -> Result<(), StorageError> {
    let bad = || StorageError::InvalidPath(path.to_string());
    if path.is_empty() || path == "checkpoint" || path.len() > 512 {
        return Err(bad());
    }
    for comp in path.split('/') {
        if comp.is_empty() || comp.starts_with('.') {
            return Err(bad());
        }
        if !comp
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in [
            "tile/0/000",
            "tile/entries/x001/x234/067.p/8",
            "a",
            "tile/1/000.p/255",
        ] {
            validate_path(p).unwrap();
        }
    }

    #[test]
    fn invalid_paths() {
        for p in [
            "",
            "checkpoint",
            "/abs",
            "a//b",
            "a/../b",
            "..",
            ".journal",
            "tile/.hidden",
            "a/",
            "sp ace",
            "back\\slash",
            "nul\0",
        ] {
            assert_eq!(
                validate_path(p).unwrap_err().code(),
                "storage.invalid_path",
                "{p:?}"
            );
        }
    }
}
