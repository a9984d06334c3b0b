//! Response checks: pure functions that decide whether what a server sent is true, given
//! only the pinned log key. No I/O except [`verify_receipt_file`], which reads one file.
//!
//! * [`LogKey`] — a parsed, pinned log verifier key.
//! * [`open_checkpoint`] — checks a signed checkpoint against the key.
//! * [`relate`] / [`check_consistency`] — how a presented checkpoint relates to the
//!   trusted one (same, newer, older, fork) and the RFC 9162 consistency check.
//! * [`check_call_record`] and friends — a receipt's record says what the API answer says.

use crate::error::ClientError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::merkle::{Hash, verify_consistency};
use ledgervm_log::note::{NoteVerifier, Verifier};
use ledgervm_node::private::PrivateCall;
use ledgervm_node::record::{CallRecord, CallerAuth, Outcome, Record};
use ledgervm_node::secret::AppKey;
use ledgervm_node::{Receipt, VerifiedReceipt};
use ledgervm_runtime::state::Caller;
use ledgervm_runtime::value::Value;
use std::path::Path;

/// A log's verifier key (`name+hex8+base64`), parsed once. The key name is the log's
/// checkpoint origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogKey {
    vkey: String,
    verifier: Verifier,
}

impl LogKey {
    /// Parses a `vkey` string.
    ///
    /// ```
    /// let signer = ledgervm_log::note::Signer::generate("example.com/log").unwrap();
    /// let key = ledgervm_client::verify::LogKey::parse(&signer.verifier().vkey()).unwrap();
    /// assert_eq!(key.origin(), "example.com/log");
    /// ```
    pub fn parse(vkey: &str) -> Result<LogKey, ClientError> {
        let verifier = Verifier::from_vkey(vkey.trim())
            .map_err(|e| ClientError::InvalidArgument(format!("bad vkey {vkey:?}: {e}")))?;
        Ok(LogKey {
            vkey: verifier.vkey(),
            verifier,
        })
    }

    /// The key string, canonical form.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// The log's origin (the key's name).
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The underlying note verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

/// A checkpoint whose signature verified against a [`LogKey`], with its note verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The signed note text, verbatim (what evidence files keep).
    pub note: String,
}

/// Verifies a signed checkpoint note against `key` (signature and origin).
pub fn open_checkpoint(note: &[u8], key: &LogKey) -> Result<SignedCheckpoint, ClientError> {
    let (checkpoint, _) = ledgervm_node::receipt::verify_checkpoint(note, key.verifier())
        .map_err(|e| ClientError::BadSignature(e.to_string()))?;
    let note = String::from_utf8(note.to_vec())
        .map_err(|_| ClientError::BadSignature("checkpoint note is not UTF-8".into()))?;
    Ok(SignedCheckpoint { checkpoint, note })
}

/// How a presented checkpoint relates to the trusted one, from sizes and roots alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// Same size and root: nothing new.
    Same,
    /// Larger: acceptable only with a consistency proof from the trusted one.
    Newer,
    /// Smaller: a rollback if presented as the log's current state; a stale but possibly
    /// honest view if it only backs a receipt (then it needs a consistency proof *to* the
    /// trusted one).
    Older,
    /// Same size, different root: two histories.
    Fork,
}

/// Compares a presented checkpoint with the trusted one. Pure.
///
/// ```
/// use ledgervm_client::verify::{Relation, relate};
/// use ledgervm_log::checkpoint::Checkpoint;
/// let a = Checkpoint::new("o", 5, [1; 32]).unwrap();
/// assert_eq!(relate(&a, &Checkpoint::new("o", 5, [2; 32]).unwrap()), Relation::Fork);
/// assert_eq!(relate(&a, &Checkpoint::new("o", 4, [2; 32]).unwrap()), Relation::Older);
/// ```
pub fn relate(trusted: &Checkpoint, presented: &Checkpoint) -> Relation {
    use std::cmp::Ordering::*;
    match presented.size.cmp(&trusted.size) {
        Equal if presented.root_hash == trusted.root_hash => Relation::Same,
        Equal => Relation::Fork,
        Greater => Relation::Newer,
        Less => Relation::Older,
    }
}

/// Checks that `newer` extends `older` with `proof` (RFC 9162 §2.1.4.2). Pure.
pub fn check_consistency(
    older: &Checkpoint,
    newer: &Checkpoint,
    proof: &[Hash],
) -> Result<(), String> {
    verify_consistency(
        older.size,
        newer.size,
        &older.root_hash,
        &newer.root_hash,
        proof,
    )
    .map_err(|e| {
        format!(
            "consistency proof {}→{} does not verify: {e}",
            older.size, newer.size
        )
    })
}

/// Decodes a list of base64 hashes from a proof response.
pub fn decode_hashes(hashes: &[String]) -> Result<Vec<Hash>, ClientError> {
    hashes
        .iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    ClientError::Protocol(format!("proof hash {h:?} is not base64 of 32 bytes"))
                })
        })
        .collect()
}

/// Verifies a receipt against `key` and checks it is for entry `index`.
pub fn verify_receipt_at(
    receipt: &Receipt,
    key: &LogKey,
    index: u64,
) -> Result<VerifiedReceipt, ClientError> {
    let verified = verify_receipt(receipt, key)?;
    if verified.index != index {
        return Err(ClientError::Verification(format!(
            "receipt is for entry {}, the answer says {index}",
            verified.index
        )));
    }
    Ok(verified)
}

/// Verifies a receipt against `key`: signature, inclusion, record encoding and blob.
pub fn verify_receipt(receipt: &Receipt, key: &LogKey) -> Result<VerifiedReceipt, ClientError> {
    receipt.verify(key.vkey()).map_err(|e| match e {
        ledgervm_node::receipt::ReceiptError::Signature(m) => ClientError::BadSignature(m),
        other => ClientError::Verification(format!("{} ({})", other, other.code())),
    })
}

/// What the client asked for and what the server answered, to check against a call
/// record.
#[derive(Clone, Debug)]
pub struct CallClaim<'a> {
    /// App called.
    pub app: &'a str,
    /// Export called.
    pub func: &'a str,
    /// Arguments sent.
    pub args: &'a [Value],
    /// Outcome the server answered.
    pub outcome: &'a Outcome,
    /// Fuel the server answered.
    pub fuel: u64,
}

/// The logged call a receipt holds, as far as this client could check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoggedCall {
    /// A public app's call: every field checked against the answer.
    Public(CallRecord),
    /// A private app's call opened with the app key: every field checked.
    Opened(CallRecord),
    /// A private app's call this client holds no key for: the public part (app,
    /// function, caller, signature, fuel) is checked; arguments and result are sealed.
    Sealed(PrivateCall),
}

impl LoggedCall {
    /// The full record, when this client could see it.
    pub fn record(&self) -> Option<&CallRecord> {
        match self {
            LoggedCall::Public(c) | LoggedCall::Opened(c) => Some(c),
            LoggedCall::Sealed(_) => None,
        }
    }

    /// Who called, as logged (public for private apps too).
    pub fn caller(&self) -> &Caller {
        match self {
            LoggedCall::Public(c) | LoggedCall::Opened(c) => &c.caller,
            LoggedCall::Sealed(p) => &p.caller,
        }
    }

    /// The caller's logged proof, if any.
    pub fn auth(&self) -> Option<&CallerAuth> {
        match self {
            LoggedCall::Public(c) | LoggedCall::Opened(c) => c.auth.as_ref(),
            LoggedCall::Sealed(p) => p.auth.as_ref(),
        }
    }
}

/// Checks that a verified record is the call the client made, with the answer it got.
/// A private app's sealed record is opened with `key` when given (a wrong key is an
/// error); without a key only its public fields are checked. Pure.
pub fn check_call_record(
    record: &Record,
    claim: &CallClaim<'_>,
    key: Option<&AppKey>,
) -> Result<LoggedCall, ClientError> {
    // The first field, in this order, where the log and the answer disagree.
    let agree = |fields: &[(&str, bool)]| match fields.iter().find(|(_, same)| !same) {
        Some((what, _)) => Err(ClientError::Verification(format!(
            "the logged call's {what} differs from the answer"
        ))),
        None => Ok(()),
    };
    let (call, opened) = match (record, key) {
        (Record::Call(call), _) => ((**call).clone(), false),
        (Record::PrivateCall(p), Some(key)) => {
            let call = p.open(key).map_err(|e| {
                ClientError::Verification(format!(
                    "the logged call of private app {} does not open with the given key: {e}",
                    p.app
                ))
            })?;
            (call, true)
        }
        (Record::PrivateCall(p), None) => {
            agree(&[
                ("app", p.app == claim.app),
                ("function", p.func == claim.func),
                ("fuel", p.fuel == claim.fuel),
            ])?;
            return Ok(LoggedCall::Sealed(p.clone()));
        }
        (other, _) => {
            return Err(ClientError::Verification(format!(
                "receipt holds a {} record, not a call",
                other.kind()
            )));
        }
    };
    agree(&[
        ("app", call.app == claim.app),
        ("function", call.func == claim.func),
        ("arguments", call.args == claim.args),
        ("outcome", &call.outcome == claim.outcome),
        ("fuel", call.fuel == claim.fuel),
    ])?;
    Ok(if opened {
        LoggedCall::Opened(call)
    } else {
        LoggedCall::Public(call)
    })
}

/// Reads a receipt file and verifies it offline against `vkey` (what `ledgervm receipt
/// verify FILE --vkey ...` runs). The file holds a receipt as JSON, or any JSON object
/// with a `receipt` field (e.g. a saved call answer).
///
/// ```no_run
/// let r = ledgervm_client::verify_receipt_file("call.json".as_ref(), "localhost/ledgervm+01234567+AQ...")?;
/// println!("entry {} is in the log of size {}", r.index, r.checkpoint.size);
/// # Ok::<(), ledgervm_client::ClientError>(())
/// ```
pub fn verify_receipt_file(path: &Path, vkey: &str) -> Result<VerifiedReceipt, ClientError> {
    let key = LogKey::parse(vkey)?;
    let text = std::fs::read(path).map_err(|e| ClientError::io(path, e))?;
    let mut json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| ClientError::Verification(format!("{} is not JSON: {e}", path.display())))?;
    if let Some(inner) = json.get_mut("receipt") {
        json = inner.take();
    }
    let receipt: Receipt = serde_json::from_value(json).map_err(|e| {
        ClientError::Verification(format!("{} is not a receipt: {e}", path.display()))
    })?;
    verify_receipt(&receipt, &key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledgervm_log::merkle::{
        leaf_hash, prove_consistency, root_from_leaf_hashes, stored_hashes_for_record_hash,
    };

    fn tree(n: u64) -> (Vec<Hash>, Hash) {
        let mut stored = Vec::new();
        for i in 0..n {
            let h = stored_hashes_for_record_hash(i, leaf_hash(&i.to_be_bytes()), &stored).unwrap();
            stored.extend(h);
        }
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        (stored, root_from_leaf_hashes(&leaves))
    }

    #[test]
    fn relations() {
        let a = Checkpoint::new("o", 5, [1; 32]).unwrap();
        assert_eq!(relate(&a, &a.clone()), Relation::Same);
        assert_eq!(
            relate(&a, &Checkpoint::new("o", 6, [1; 32]).unwrap()),
            Relation::Newer
        );
        assert_eq!(
            relate(&a, &Checkpoint::new("o", 0, [1; 32]).unwrap()),
            Relation::Older
        );
        assert_eq!(
            relate(&a, &Checkpoint::new("o", 5, [0; 32]).unwrap()),
            Relation::Fork
        );
    }

    #[test]
    fn consistency_accepts_extension_and_refuses_other_roots() {
        let (stored, root9) = tree(9);
        let (_, root5) = tree(5);
        let old = Checkpoint::new("o", 5, root5).unwrap();
        let new = Checkpoint::new("o", 9, root9).unwrap();
        let proof = prove_consistency(5, 9, &stored).unwrap();
        check_consistency(&old, &new, &proof).unwrap();
        let forged = Checkpoint::new("o", 5, [3; 32]).unwrap();
        assert!(check_consistency(&forged, &new, &proof).is_err());
        assert!(check_consistency(&old, &new, &proof[1..]).is_err());
    }

    #[test]
    fn hashes_decode_strictly() {
        let ok = B64.encode([7u8; 32]);
        assert_eq!(decode_hashes(&[ok]).unwrap(), vec![[7u8; 32]]);
        assert_eq!(
            decode_hashes(&[B64.encode([7u8; 31])]).unwrap_err().code(),
            "client.protocol"
        );
        assert_eq!(
            decode_hashes(&["!!".into()]).unwrap_err().code(),
            "client.protocol"
        );
    }

    #[test]
    fn checkpoints_need_the_right_key() {
        let signer = ledgervm_log::note::Signer::generate("example.com/log").unwrap();
        let other = ledgervm_log::note::Signer::generate("example.com/log").unwrap();
        let key = LogKey::parse(&signer.verifier().vkey()).unwrap();
        let note = Checkpoint::new("example.com/log", 3, [9; 32])
            .unwrap()
            .sign(&signer)
            .unwrap();
        let got = open_checkpoint(note.as_bytes(), &key).unwrap();
        assert_eq!(got.checkpoint.size, 3);
        assert_eq!(got.note, note);
        let forged = Checkpoint::new("example.com/log", 3, [9; 32])
            .unwrap()
            .sign(&other)
            .unwrap();
        assert_eq!(
            open_checkpoint(forged.as_bytes(), &key).unwrap_err().code(),
            "client.bad_signature"
        );
        let tampered = note.replace("\n3\n", "\n4\n");
        assert_eq!(
            open_checkpoint(tampered.as_bytes(), &key)
                .unwrap_err()
                .code(),
            "client.bad_signature"
        );
        assert_eq!(
            LogKey::parse("nonsense").unwrap_err().code(),
            "client.invalid_argument"
        );
    }
}
