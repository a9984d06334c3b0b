//! The read side of the node's log: checkpoints, entries, records, proofs, receipts,
//! blobs, and the commit statistics. Nothing here appends.

use super::{Node, read_err};
use crate::error::NodeError;
use crate::receipt::{RECEIPT_FORMAT, Receipt};
use crate::record::Record;
use ledgervm_log::tlog_proof::TlogProof;
use std::sync::Arc;

/// The log's commit statistics, from [`Node::log_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// The committed log size.
    pub size: u64,
    /// Batches (group commits) since the node opened.
    pub batches: u64,
    /// The storage's cumulative timings.
    pub storage: ledgervm_log::storage::LocalStats,
}

impl Node {
    /// The latest signed checkpoint (signed-note bytes).
    pub fn checkpoint(&self) -> Arc<Vec<u8>> {
        self.inner.log.checkpoint()
    }

    /// Where the log's commit time went since this node opened: batches committed and
    /// the storage's cumulative timings (journal `fdatasync`, hand-off to the file
    /// writer, flushes).
    /// `ledgervm bench` prints these to show which stage of a durable call is slow.
    pub fn log_stats(&self) -> LogStats {
        LogStats {
            size: self.inner.log.size(),
            batches: self.inner.log.batches_committed(),
            storage: self.inner.storage.stats(),
        }
    }

    /// A `tlog-tiles` object of the log (`tile/0/000`, `tile/entries/001.p/7`, …) as the
    /// log's storage has it: from memory while its file is being written, else the file.
    /// `None` if there is no such object. A partial version the writer skipped or
    /// collected is cut from a newer one (see `ledgervm_log::storage::LocalStorage`).
    /// Blocking: reads a file.
    pub fn log_object(&self, path: &str) -> Result<Option<Vec<u8>>, NodeError> {
        use ledgervm_log::storage::Storage;
        self.inner
            .storage
            .get(path)
            .map_err(|e| NodeError::Internal(e.to_string()))
    }

    /// The committed log size.
    pub fn size(&self) -> u64 {
        self.inner.log.size()
    }

    /// The raw entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, NodeError> {
        self.inner.log.entry(index).map_err(read_err)
    }

    /// The record at `index`, with blob pointers resolved (and checked).
    pub fn record(&self, index: u64) -> Result<Record, NodeError> {
        let entry = self.entry(index)?;
        let record = Record::decode(&entry)
            .map_err(|e| NodeError::Corrupt(format!("entry {index}: {e}")))?;
        let blob = match &record {
            Record::Blob(p) => Some(self.blob(&p.sha256)?),
            _ => None,
        };
        let blob = blob
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| NodeError::Corrupt(format!("entry {index}: blob is not UTF-8")))?;
        crate::receipt::resolve(record, blob.as_deref())
            .map_err(|e| NodeError::Corrupt(format!("entry {index}: {e}")))
    }

    /// Inclusion proof of `index` in the tree of `size` entries.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<ledgervm_log::merkle::Hash>, NodeError> {
        self.inner
            .log
            .inclusion_proof(index, size)
            .map_err(read_err)
    }

    /// Consistency proof between the trees of `old` and `new` entries.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<ledgervm_log::merkle::Hash>, NodeError> {
        self.inner.log.consistency_proof(old, new).map_err(read_err)
    }

    /// A receipt for the entry at `index` against the latest checkpoint.
    pub fn receipt(&self, index: u64) -> Result<Receipt, NodeError> {
        let entry = self.entry(index)?;
        let blob = match Record::decode(&entry) {
            Ok(Record::Blob(p)) => Some(self.blob(&p.sha256)?),
            _ => None,
        };
        self.receipt_for(index, entry, blob)
    }

    fn receipt_for(
        &self,
        index: u64,
        entry: Vec<u8>,
        blob: Option<Vec<u8>>,
    ) -> Result<Receipt, NodeError> {
        let (checkpoint, proof) = self
            .inner
            .log
            .checkpoint_with_proof(index)
            .map_err(read_err)?;
        receipt(index, &checkpoint, proof, entry, blob)
    }

    /// A blob by SHA-256 name, checked against its name.
    pub fn blob(&self, name: &str) -> Result<Vec<u8>, NodeError> {
        self.inner.blobs.get(name).map_err(|e| match e {
            crate::blobs::BlobError::NotFound(n) | crate::blobs::BlobError::InvalidName(n) => {
                NodeError::BlobNotFound(n)
            }
            other => NodeError::Corrupt(other.to_string()),
        })
    }
}

/// A receipt for the entry at `index`: the entry (and its blob), with its inclusion
/// `proof` and the signed `checkpoint` it leads to, as C2SP `tlog-proof` text.
pub(super) fn receipt(
    index: u64,
    checkpoint: &[u8],
    proof: Vec<ledgervm_log::merkle::Hash>,
    entry: Vec<u8>,
    blob: Option<Vec<u8>>,
) -> Result<Receipt, NodeError> {
    let text = TlogProof {
        extra: None,
        index,
        proof,
        checkpoint: checkpoint.to_vec(),
    }
    .to_text();
    let utf8 = |b: Vec<u8>| {
        String::from_utf8(b).map_err(|_| NodeError::Corrupt(format!("entry {index} is not UTF-8")))
    };
    Ok(Receipt {
        format: RECEIPT_FORMAT.into(),
        entry: utf8(entry)?,
        blob: blob.map(utf8).transpose()?,
        proof: utf8(text)?,
    })
}
