//! Fault injection for the recovery tests.
//!
//! A [`FaultInjector`] counts *write steps* and makes the N-th one fail. From then on the
//! injector is *tripped*: every later step fails too, because the fault stands for a crash
//! and a crashed process writes nothing more. It is used at two depths:
//!
//! * [`FaultyStorage`] wraps any [`Storage`]; its steps are the trait's writes (`put`,
//!   `swap_checkpoint`). This exercises the log's own recovery.
//! * [`LocalStorage`](super::LocalStorage) consults an injector (via
//!   [`LocalOptions::fault`](super::LocalOptions::fault)) at each of its internal file
//!   operations (journal append, fdatasync, object writes, renames, flush fsyncs, journal
//!   rotation). This exercises the journal's recovery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{Storage, StorageError};

/// How the faulting step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The step does nothing and returns an error.
    Fail,
    /// The step half-happens, then returns an error: a write stores only a prefix of its
    /// bytes (a torn write); a checkpoint swap takes effect but reports failure (a lost
    /// acknowledgement). Steps that cannot tear (fsync, rename) just fail.
    Tear,
}

/// Counts write steps and faults at a chosen one. Shareable across threads.
#[derive(Debug)]
pub struct FaultInjector {
    fail_at: u64,
    mode: FaultMode,
    steps: AtomicU64,
    tripped: AtomicBool,
    /// When set, faults surface as this OS error (`ENOSPC`, `EIO`, ...) rather than as
    /// [`StorageError::Injected`], exactly as a failing disk would report them.
    errno: Option<i32>,
}

impl FaultInjector {
    /// An injector that faults at the `fail_at`-th write step (1-based) in `mode`.
    /// `fail_at == 0` never faults, which is how a test counts the steps of a clean run.
    pub fn new(fail_at: u64, mode: FaultMode) -> Arc<Self> {
        Arc::new(FaultInjector {
            fail_at,
            mode,
            steps: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            errno: None,
        })
    }

    /// Like [`FaultInjector::new`], but every fault is the OS error `errno` (for example
    /// `libc::ENOSPC` or `libc::EIO`) as a [`StorageError::Io`], the way a full or
    /// failing disk reports it to the layers above.
    pub fn with_os_error(fail_at: u64, mode: FaultMode, errno: i32) -> Arc<Self> {
        Arc::new(FaultInjector {
            fail_at,
            mode,
            steps: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            errno: Some(errno),
        })
    }

    /// Records one write step of kind `what`. Returns `Ok(None)` to proceed normally,
    /// `Ok(Some(mode))` when this is the faulting step (the caller then fails, or tears
    /// and fails), and an error when the injector already tripped.
    pub fn step(&self, what: &'static str) -> Result<Option<FaultMode>, StorageError> {
        let step = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if self.tripped.load(Ordering::SeqCst) {
            return Err(self.error_at(step, what));
        }
        if self.fail_at != 0 && step == self.fail_at {
            self.tripped.store(true, Ordering::SeqCst);
            return Ok(Some(self.mode));
        }
        Ok(None)
    }

    /// The number of write steps seen so far.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::SeqCst)
    }

    /// Whether the fault has fired.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    /// The error a faulting step returns.
    pub fn error(&self, what: &'static str) -> StorageError {
        self.error_at(self.fail_at, what)
    }

    fn error_at(&self, step: u64, what: &'static str) -> StorageError {
        match self.errno {
            Some(errno) => StorageError::Io {
                op: what,
                path: format!("(fault injected at write step {step})").into(),
                source: std::io::Error::from_raw_os_error(errno),
            },
            None => StorageError::Injected { step, what },
        }
    }
}

/// A [`Storage`] wrapper that injects faults into the trait-level writes of `inner`.
///
/// ```
/// use ledgervm_log::storage::{FaultInjector, FaultMode, FaultyStorage, LocalStorage, Storage};
/// let dir = tempfile::tempdir().unwrap();
/// let inner = LocalStorage::open(dir.path()).unwrap();
/// let faults = FaultInjector::new(2, FaultMode::Fail);
/// let s = FaultyStorage::new(inner, faults.clone());
/// s.put("tile/0/000", vec![0; 32]).unwrap(); // step 1
/// assert!(s.swap_checkpoint(None, b"cp").is_err()); // step 2 faults
/// assert!(faults.tripped());
/// ```
#[derive(Debug)]
pub struct FaultyStorage<S> {
    inner: S,
    faults: Arc<FaultInjector>,
}

impl<S: Storage> FaultyStorage<S> {
    /// Wraps `inner`, faulting as `faults` says.
    pub fn new(inner: S, faults: Arc<FaultInjector>) -> Self {
        FaultyStorage { inner, faults }
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(path)
    }

    fn put(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
        match self.faults.step("put")? {
            None => self.inner.put(path, data),
            Some(FaultMode::Fail) => Err(self.faults.error("put")),
            Some(FaultMode::Tear) => {
                let half = data.len() / 2;
                self.inner.put(path, data[..half].to_vec())?;
                Err(self.faults.error("put"))
            }
        }
    }

    fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.read_checkpoint()
    }

    fn swap_checkpoint(&self, old: Option<&[u8]>, new: &[u8]) -> Result<(), StorageError> {
        match self.faults.step("swap_checkpoint")? {
            None => self.inner.swap_checkpoint(old, new),
            Some(FaultMode::Fail) => Err(self.faults.error("swap_checkpoint")),
            Some(FaultMode::Tear) => {
                self.inner.swap_checkpoint(old, new)?;
                Err(self.faults.error("swap_checkpoint"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_trips_once() {
        let f = FaultInjector::new(3, FaultMode::Tear);
        assert_eq!(f.step("a").unwrap(), None);
        assert_eq!(f.step("a").unwrap(), None);
        assert_eq!(f.step("a").unwrap(), Some(FaultMode::Tear));
        assert!(f.tripped());
        assert_eq!(f.step("a").unwrap_err().code(), "storage.injected");
        assert_eq!(f.steps(), 4);
    }

    #[test]
    fn os_errors_look_like_the_disk_said_them() {
        let f = FaultInjector::with_os_error(1, FaultMode::Fail, libc::ENOSPC);
        assert_eq!(f.step("write").unwrap(), Some(FaultMode::Fail));
        let StorageError::Io { source, .. } = f.error("write") else {
            panic!("not an I/O error")
        };
        assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        let StorageError::Io { source, .. } = f.step("fsync").unwrap_err() else {
            panic!("not an I/O error")
        };
        assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
    }

    #[test]
    fn zero_never_faults() {
        let f = FaultInjector::new(0, FaultMode::Fail);
        for _ in 0..100 {
            assert_eq!(f.step("a").unwrap(), None);
        }
        assert!(!f.tripped());
    }
}
