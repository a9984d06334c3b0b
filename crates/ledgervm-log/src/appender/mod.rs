//! [`Log`]: the durable, group-committed, append-only log.
//!
//! # Group commit
//! [`Log::append`] hands the entry to a single *sequencer* task. The sequencer takes
//! whatever is queued (up to [`LogOptions::max_batch`]; if fewer are queued it waits up to
//! [`LogOptions::max_wait`] for more), assigns consecutive indexes, computes every tile
//! the batch changes from the in-memory right edge of the tree, signs a new checkpoint,
//! puts the objects and swaps the checkpoint — one commit, which [`LocalStorage`] makes
//! durable with one `fdatasync`. Only then does each entry's future resolve with its
//! index. While a batch commits, new appends queue up and form the next batch, so batches
//! grow with load without any waiting.
//!
//! # Failure
//! If a commit fails, every future of that batch fails with [`AppendError::Commit`] and
//! the log goes **read-only**: later appends fail with [`AppendError::ReadOnly`] until
//! the log is re-opened. We do not retry in place because after a failed write or fsync
//! we no longer know what is durable (the checkpoint swap may have landed; the kernel
//! may have dropped dirty pages), and a retry could acknowledge entries on top of a state
//! that will not survive a restart. Re-opening recovers from what storage really holds.
//! Entries of a failed batch may or may not be in the re-opened log — whole if so, never
//! half-written.
//!
//! # Recovery
//! [`Log::open`] reads and verifies the checkpoint (signature and origin), rebuilds the
//! right edge from the partial tiles of that size, and recomputes the root; with
//! [`VerifyOnOpen::Full`] it also re-hashes every full tile and entry bundle under the
//! checkpoint. Anything beyond the checkpoint (left by a batch that never committed) is
//! ignored and overwritten by later appends.
//!
//! [`LocalStorage`]: crate::storage::LocalStorage

mod edge;
mod open;

pub use edge::MAX_ENTRY_LEN;
pub use open::{OpenError, VerifyOnOpen};

pub(crate) use edge::{TILE_WIDTH, tile_path};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot};

use crate::merkle::{BatchTree, Hash};
use crate::note::Signer;
use crate::reader::{LogReader, ReadError};
use crate::storage::{Storage, StorageError};
pub(crate) use edge::Edge;

/// The largest allowed [`LogOptions::max_batch`]: keeps a batch's journal record (up to
/// 64 KiB per entry) well under the 4 GiB a record can describe.
pub const MAX_BATCH: usize = 1 << 15;

/// Options for [`Log::open`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// The most entries one batch (one commit) takes. Default 256; at most
    /// [`MAX_BATCH`] (larger values are clamped).
    pub max_batch: usize,
    /// How long the sequencer waits for more entries when fewer than `max_batch` are
    /// queued. Default zero: take what is queued, which already batches under load
    /// because appends queue up while the previous batch commits. A non-zero wait is a
    /// tokio timer, which rounds up to whole milliseconds.
    pub max_wait: Duration,
    /// How much of the stored tree [`Log::open`] re-hashes. Default [`VerifyOnOpen::Full`].
    pub verify_on_open: VerifyOnOpen,
    /// Tiles and bundles kept in the read cache. Default 1024 (about 8 MiB of hash tiles).
    pub cache_tiles: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            max_batch: 256,
            max_wait: Duration::ZERO,
            verify_on_open: VerifyOnOpen::Full,
            cache_tiles: 1024,
        }
    }
}

/// Why an append failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// The entry is longer than an entry bundle can hold (65,535 bytes).
    #[error("entry of {len} bytes exceeds the {max}-byte limit")]
    EntryTooLarge {
        /// The entry's length.
        len: usize,
        /// The limit, [`MAX_ENTRY_LEN`].
        max: usize,
    },
    /// The batch holding this entry failed to commit; the log is now read-only.
    #[error("commit failed; the log is read-only until re-opened: {0}")]
    Commit(Arc<StorageError>),
    /// An earlier commit failed; re-open the log to append again.
    #[error("the log is read-only after an earlier commit failure; re-open it")]
    ReadOnly,
    /// The log has been shut down.
    #[error("the log is closed")]
    Closed,
    /// The batch's proof tree disagreed with the root about to be signed. Nothing was
    /// committed, and the log is now read-only: a receipt that does not verify must
    /// never go out.
    #[error("the batch's proof tree disagrees with its root; the log is read-only: {0}")]
    ProofMismatch(String),
}

impl AppendError {
    /// A stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppendError::EntryTooLarge { .. } => "append.entry_too_large",
            AppendError::Commit(_) => "append.commit_failed",
            AppendError::ReadOnly => "append.read_only",
            AppendError::Closed => "append.closed",
            AppendError::ProofMismatch(_) => "append.proof_mismatch",
        }
    }
}

/// The committed state readers see.
#[derive(Debug, Clone)]
struct Head {
    size: u64,
    root: Hash,
    checkpoint: Arc<Vec<u8>>,
}

struct Shared {
    storage: Arc<dyn Storage>,
    reader: LogReader,
    head: RwLock<Head>,
    read_only: AtomicBool,
    batches: AtomicU64,
}

struct Request {
    entry: Vec<u8>,
    done: oneshot::Sender<Result<Appended, AppendError>>,
}

/// A durable entry and what its receipt needs: the signed checkpoint of the batch that
/// committed it, and that batch's [`BatchTree`], which proves any of its entries with a
/// few lookups. Cheap to clone; entries of one batch share it.
#[derive(Debug, Clone)]
pub struct Appended {
    index: u64,
    batch: Arc<Committed>,
}

#[derive(Debug)]
struct Committed {
    checkpoint: Arc<Vec<u8>>,
    tree: BatchTree,
}

impl Appended {
    /// The entry's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The signed checkpoint (signed-note bytes) of the batch that committed the entry:
    /// a tree of [`Appended::tree_size`] leaves with root [`Appended::root`].
    pub fn checkpoint(&self) -> &Arc<Vec<u8>> {
        &self.batch.checkpoint
    }

    /// The size of the tree the checkpoint signs.
    pub fn tree_size(&self) -> u64 {
        self.batch.tree.size()
    }

    /// The root hash the checkpoint signs.
    pub fn root(&self) -> Hash {
        self.batch.tree.root()
    }

    /// The entry's RFC 9162 inclusion proof in the checkpoint's tree, from memory. The
    /// sequencer checked the batch tree's root against the root it signed before it
    /// committed the batch.
    pub fn inclusion_proof(&self) -> Result<Vec<Hash>, crate::merkle::MerkleError> {
        self.batch.tree.inclusion_proof(self.index)
    }
}

/// Why a batch did not commit.
enum CommitFailure {
    Storage(StorageError),
    Proof(String),
}

impl From<StorageError> for CommitFailure {
    fn from(e: StorageError) -> Self {
        CommitFailure::Storage(e)
    }
}

enum Msg {
    Append(Request),
    Close(oneshot::Sender<()>),
}

/// A durable, verifiable, append-only log. Cheap to clone; clones share one sequencer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ledgervm_log::appender::{Log, LogOptions};
/// use ledgervm_log::note::Signer;
/// use ledgervm_log::storage::LocalStorage;
///
/// let dir = tempfile::tempdir().unwrap();
/// let signer = Signer::generate("example.com/log").unwrap();
/// let storage = LocalStorage::open(dir.path()).unwrap();
/// let log = Log::open(storage, signer.clone(), "example.com/log", LogOptions::default())
///     .await
///     .unwrap();
/// let (a, b) = tokio::join!(log.append(b"hello".to_vec()), log.append(b"world".to_vec()));
/// assert_eq!((a.unwrap(), b.unwrap()), (0, 1));
/// let proof = log.inclusion_proof(1, 2).unwrap();
/// let root = log.root();
/// ledgervm_log::merkle::verify_inclusion(
///     1, 2, &ledgervm_log::merkle::leaf_hash(b"world"), &proof, &root).unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct Log {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = self.shared.head.read();
        f.debug_struct("Log")
            .field("size", &head.size)
            .finish_non_exhaustive()
    }
}

impl Log {
    /// Opens the log in `storage`, recovering and verifying it (see the module docs),
    /// creating an empty signed checkpoint for a new log, and starts the sequencer on the
    /// current tokio runtime.
    pub async fn open<S: Storage>(
        storage: S,
        signer: Signer,
        origin: &str,
        opts: LogOptions,
    ) -> Result<Log, OpenError> {
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let origin = origin.to_string();
        let (st, sign, verify) = (storage.clone(), signer.clone(), opts.verify_on_open);
        let o = origin.clone();
        let (edge, checkpoint) =
            tokio::task::spawn_blocking(move || open::recover(&*st, &sign, &o, verify))
                .await
                .map_err(|e| OpenError::Task(e.to_string()))??;
        let head = Head {
            size: edge.size(),
            root: edge.root(),
            checkpoint: Arc::new(checkpoint),
        };
        let shared = Arc::new(Shared {
            reader: LogReader::new(storage.clone(), opts.cache_tiles),
            storage,
            head: RwLock::new(head),
            read_only: AtomicBool::new(false),
            batches: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let seq = Sequencer {
            rx,
            closing: None,
            shared: shared.clone(),
            edge: Some(edge),
            signer,
            origin,
            max_batch: opts.max_batch.clamp(1, MAX_BATCH),
            max_wait: opts.max_wait,
        };
        tokio::spawn(seq.run());
        Ok(Log { tx, shared })
    }

    /// Appends `entry` and resolves to its index once the entry, every tile it changed
    /// and a new signed checkpoint covering it are durable.
    ///
    /// The entry is queued when this is called (not when the future is first polled), so
    /// entries queued from one task get increasing indexes in call order.
    pub fn append(
        &self,
        entry: Vec<u8>,
    ) -> impl Future<Output = Result<u64, AppendError>> + Send + 'static {
        let appended = self.append_with_proof(entry);
        async move { appended.await.map(|a| a.index) }
    }

    /// [`Log::append`], resolving to the entry's index together with the checkpoint that
    /// first covered it and the entry's inclusion proof in that checkpoint's tree: all a
    /// receipt needs, without reading the tree back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use ledgervm_log::{appender::{Log, LogOptions}, note::Signer, storage::LocalStorage};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let signer = Signer::generate("example.com/log").unwrap();
    /// # let log = Log::open(LocalStorage::open(dir.path()).unwrap(), signer, "example.com/log",
    /// #     LogOptions::default()).await.unwrap();
    /// let a = log.append_with_proof(b"hello".to_vec()).await.unwrap();
    /// let proof = a.inclusion_proof().unwrap();
    /// ledgervm_log::merkle::verify_inclusion(
    ///     a.index(), a.tree_size(), &ledgervm_log::merkle::leaf_hash(b"hello"), &proof, &a.root(),
    /// ).unwrap();
    /// # }
    /// ```
    pub fn append_with_proof(
        &self,
        entry: Vec<u8>,
    ) -> impl Future<Output = Result<Appended, AppendError>> + Send + 'static {
        let queued = if entry.len() > MAX_ENTRY_LEN {
            Err(AppendError::EntryTooLarge {
                len: entry.len(),
                max: MAX_ENTRY_LEN,
            })
        } else if self.shared.read_only.load(Ordering::SeqCst) {
            Err(AppendError::ReadOnly)
        } else {
            let (done, rx) = oneshot::channel();
            self.tx
                .send(Msg::Append(Request { entry, done }))
                .map(|()| rx)
                .map_err(|_| AppendError::Closed)
        };
        async move {
            match queued {
                Err(e) => Err(e),
                Ok(rx) => rx.await.unwrap_or(Err(AppendError::Closed)),
            }
        }
    }

    /// The committed tree size.
    pub fn size(&self) -> u64 {
        self.shared.head.read().size
    }

    /// The committed root hash.
    pub fn root(&self) -> Hash {
        self.shared.head.read().root
    }

    /// The latest signed checkpoint (signed-note bytes, as stored at `checkpoint`).
    pub fn checkpoint(&self) -> Arc<Vec<u8>> {
        self.shared.head.read().checkpoint.clone()
    }

    /// The latest signed checkpoint and the inclusion proof of leaf `index` in the tree
    /// it signs: what a receipt holds. One read of the head serves
    /// both, so the proof is always checked against the root of the checkpoint it goes
    /// out with. (A `checkpoint` read followed by `inclusion_proof` could straddle a
    /// commit, and a proof for a size older than the head's is returned unchecked.)
    pub fn checkpoint_with_proof(
        &self,
        index: u64,
    ) -> Result<(Arc<Vec<u8>>, Vec<Hash>), ReadError> {
        let head = self.shared.head.read().clone();
        let proof = self
            .shared
            .reader
            .inclusion_proof(index, head.size, head.size, head.root)?;
        Ok((head.checkpoint, proof))
    }

    /// The number of batches (commits) since this log was opened.
    pub fn batches_committed(&self) -> u64 {
        self.shared.batches.load(Ordering::SeqCst)
    }

    /// Whether an earlier commit failed and the log refuses appends.
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only.load(Ordering::SeqCst)
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        let head = self.shared.head.read().clone();
        self.shared.reader.entry(index, head.size, head.root)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (`size` at most
    /// the committed size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        let head = self.shared.head.read().clone();
        self.shared
            .reader
            .inclusion_proof(index, size, head.size, head.root)
    }

    /// The consistency proof between the trees of `old` and `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ReadError> {
        let head = self.shared.head.read().clone();
        self.shared
            .reader
            .consistency_proof(old, new, head.size, head.root)
    }

    /// The root hash of the tree of `size` leaves (`size` at most the committed size).
    pub fn root_at(&self, size: u64) -> Result<Hash, ReadError> {
        let head = self.shared.head.read().clone();
        self.shared.reader.root_at(size, head.size, head.root)
    }

    /// Stops the sequencer after the batch in flight and waits until it has released
    /// its handle on the storage. Appends queued behind the close fail with
    /// [`AppendError::Closed`]. The storage itself is released when the last clone of
    /// this `Log` is dropped.
    pub async fn close(self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Close(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// The storage the log writes to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }
}

struct Sequencer {
    rx: mpsc::UnboundedReceiver<Msg>,
    closing: Option<oneshot::Sender<()>>,
    shared: Arc<Shared>,
    edge: Option<Edge>,
    signer: Signer,
    origin: String,
    max_batch: usize,
    max_wait: Duration,
}

impl Sequencer {
    async fn run(mut self) {
        while let Some(msg) = self.rx.recv().await {
            let first = match msg {
                Msg::Append(r) => r,
                Msg::Close(ack) => {
                    self.closing = Some(ack);
                    break;
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.max_batch && self.closing.is_none() {
                match self.rx.try_recv() {
                    Ok(m) => self.take(m, &mut batch),
                    Err(_) => break,
                }
            }
            if batch.len() < self.max_batch && !self.max_wait.is_zero() {
                let deadline = tokio::time::Instant::now() + self.max_wait;
                while batch.len() < self.max_batch && self.closing.is_none() {
                    match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                        Ok(Some(m)) => self.take(m, &mut batch),
                        _ => break,
                    }
                }
            }
            self.commit(batch).await;
            if self.closing.is_some() {
                break;
            }
        }
        // Refuse whatever is still queued, then release the storage before acknowledging
        // the close, so that a caller can re-open the directory right away.
        self.rx.close();
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Msg::Append(r) => {
                    let _ = r.done.send(Err(AppendError::Closed));
                }
                Msg::Close(ack) => {
                    let _ = ack.send(());
                }
            }
        }
        let ack = self.closing.take();
        drop(self);
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    }

    fn take(&mut self, m: Msg, batch: &mut Vec<Request>) {
        match m {
            Msg::Append(r) => batch.push(r),
            Msg::Close(ack) => self.closing = Some(ack),
        }
    }

    async fn commit(&mut self, batch: Vec<Request>) {
        let Some(mut edge) = self.edge.take() else {
            for r in batch {
                let _ = r.done.send(Err(AppendError::ReadOnly));
            }
            return;
        };
        let (entries, dones): (Vec<Vec<u8>>, Vec<_>) =
            batch.into_iter().map(|r| (r.entry, r.done)).unzip();
        let first = edge.size();
        let old_cp = self.shared.head.read().checkpoint.clone();
        let storage = self.shared.storage.clone();
        let signer = self.signer.clone();
        let origin = self.origin.clone();
        let res = tokio::task::spawn_blocking(move || {
            let before = edge.subtrees();
            let (objects, leaves) = edge.append(&entries);
            let root = edge.root();
            // Receipts are read from this tree: it must agree with the root we sign, or
            // nothing is committed.
            let tree = BatchTree::new(first, &before, &leaves)
                .map_err(|e| CommitFailure::Proof(e.to_string()))?;
            if tree.root() != root {
                return Err(CommitFailure::Proof(format!(
                    "tree of {} leaves: batch root {} against edge root {}",
                    edge.size(),
                    hex::encode(tree.root()),
                    hex::encode(root)
                )));
            }
            let cp = open::sign_checkpoint(&signer, &origin, edge.size(), &root);
            for o in objects {
                storage.put(&o.path, o.data)?;
            }
            storage.swap_checkpoint(Some(&old_cp), &cp)?;
            Ok::<_, CommitFailure>((edge, tree, cp))
        })
        .await;
        match res {
            Ok(Ok((edge, tree, cp))) => {
                let checkpoint = Arc::new(cp);
                *self.shared.head.write() = Head {
                    size: edge.size(),
                    root: tree.root(),
                    checkpoint: checkpoint.clone(),
                };
                self.edge = Some(edge);
                self.shared.batches.fetch_add(1, Ordering::SeqCst);
                let batch = Arc::new(Committed { checkpoint, tree });
                for (i, d) in dones.into_iter().enumerate() {
                    let _ = d.send(Ok(Appended {
                        index: first + i as u64,
                        batch: batch.clone(),
                    }));
                }
            }
            Ok(Err(CommitFailure::Proof(why))) => {
                tracing::error!(%why, "batch proof tree disagrees with its root; the log is now read-only");
                self.shared.read_only.store(true, Ordering::SeqCst);
                for d in dones {
                    let _ = d.send(Err(AppendError::ProofMismatch(why.clone())));
                }
            }
            Ok(Err(CommitFailure::Storage(e))) => {
                tracing::error!(error = %e, "log commit failed; the log is now read-only");
                self.shared.read_only.store(true, Ordering::SeqCst);
                let e = Arc::new(e);
                for d in dones {
                    let _ = d.send(Err(AppendError::Commit(e.clone())));
                }
            }
            Err(join) => {
                tracing::error!(error = %join, "log commit task panicked; the log is now read-only");
                self.shared.read_only.store(true, Ordering::SeqCst);
                for d in dones {
                    let _ = d.send(Err(AppendError::ReadOnly));
                }
            }
        }
    }
}
