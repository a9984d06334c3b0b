//! Receipts: a record, its index, its inclusion proof and the signed checkpoint that
//! covers it — everything needed to check a call offline, with no trust in the server.
//!
//! The proof half is a C2SP `tlog-proof` text, so generic transparency-log tooling can
//! check it too; the record half is the exact entry bytes the leaf hashes. Verification
//! is pure.

use crate::ids::sha256_hex;
use crate::record::{Record, RecordError};
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::merkle::{leaf_hash, verify_inclusion};
use ledgervm_log::note::{NoteVerifier, Verifier, VerifierSet};
use ledgervm_log::tlog_proof::TlogProof;
use serde::{Deserialize, Serialize};

/// The receipt format tag.
pub const RECEIPT_FORMAT: &str = "ledgervm-receipt/v1";

/// An offline-verifiable receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_FORMAT`].
    pub format: String,
    /// The log entry, verbatim (canonical JSON text).
    pub entry: String,
    /// When the entry is a blob pointer: the full record it points to, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// C2SP `tlog-proof` text: index, inclusion proof and signed checkpoint.
    pub proof: String,
}

/// A receipt that checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// Index of the entry in the log.
    pub index: u64,
    /// The record (resolved through its blob pointer if it had one).
    pub record: Record,
    /// The checkpoint that covers it.
    pub checkpoint: Checkpoint,
    /// The checkpoint note, verbatim.
    pub checkpoint_note: Vec<u8>,
}

/// Why a receipt does not verify. Every variant is a reason to distrust the server.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt this code reads.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The checkpoint is not signed by the expected log key, or not for its origin.
    #[error("checkpoint signature does not verify: {0}")]
    Signature(String),
    /// The entry is not in the tree the checkpoint commits to.
    #[error("inclusion proof does not verify: {0}")]
    Inclusion(String),
    /// The entry bytes are not a valid canonical record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A blob pointer whose blob is missing or does not match.
    #[error("blob does not match its pointer: {0}")]
    Blob(String),
}

impl ReceiptError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::Malformed(_) => "receipt.malformed",
            ReceiptError::Signature(_) => "receipt.bad_signature",
            ReceiptError::Inclusion(_) => "receipt.bad_inclusion",
            ReceiptError::Record(_) => "receipt.bad_record",
            ReceiptError::Blob(_) => "receipt.bad_blob",
        }
    }
}

impl Receipt {
    /// Verifies the receipt against the log's verifier key (`vkey` string).
    pub fn verify(&self, vkey: &str) -> Result<VerifiedReceipt, ReceiptError> {
        if self.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Malformed(format!(
                "unknown format {:?}",
                self.format
            )));
        }
        let verifier = Verifier::from_vkey(vkey)
            .map_err(|e| ReceiptError::Malformed(format!("bad vkey: {e}")))?;
        let proof = TlogProof::parse(self.proof.as_bytes())
            .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        let (checkpoint, note) = verify_checkpoint(&proof.checkpoint, &verifier)?;
        let leaf = leaf_hash(self.entry.as_bytes());
        verify_inclusion(
            proof.index,
            checkpoint.size,
            &leaf,
            &proof.proof,
            &checkpoint.root_hash,
        )
        .map_err(|e| ReceiptError::Inclusion(e.to_string()))?;
        let record = resolve(Record::decode(self.entry.as_bytes())?, self.blob.as_deref())?;
        Ok(VerifiedReceipt {
            index: proof.index,
            record,
            checkpoint,
            checkpoint_note: note,
        })
    }
}

/// Follows a blob pointer: checks `blob` hashes to the pointer and decodes it.
pub fn resolve(record: Record, blob: Option<&str>) -> Result<Record, ReceiptError> {
    match record {
        Record::Blob(p) => {
            let blob =
                blob.ok_or_else(|| ReceiptError::Blob(format!("blob {} not included", p.sha256)))?;
            if sha256_hex(blob.as_bytes()) != p.sha256 || blob.len() as u64 != p.size {
                return Err(ReceiptError::Blob(format!(
                    "bytes do not hash to {}",
                    p.sha256
                )));
            }
            let inner = Record::decode(blob.as_bytes())?;
            if inner.kind() != p.of || matches!(inner, Record::Blob(_)) {
                return Err(ReceiptError::Blob(format!(
                    "blob holds a {} record, pointer says {}",
                    inner.kind(),
                    p.of
                )));
            }
            Ok(inner)
        }
        other => Ok(other),
    }
}

/// Checks a signed checkpoint note against one log verifier and parses its body. The
/// origin must equal the verifier's key name, as C2SP `tlog-checkpoint` requires.
pub fn verify_checkpoint(
    note: &[u8],
    verifier: &Verifier,
) -> Result<(Checkpoint, Vec<u8>), ReceiptError> {
    let origin = verifier.name().to_string();
    let boxed: Box<dyn NoteVerifier> = Box::new(verifier.clone());
    let set = VerifierSet::new(vec![boxed]);
    let (cp, _) = Checkpoint::open(note, &origin, &set)
        .map_err(|e| ReceiptError::Signature(e.to_string()))?;
    Ok((cp, note.to_vec()))
}
