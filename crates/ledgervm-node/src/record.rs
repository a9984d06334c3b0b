//! Log entries: the canonical, versioned encoding of everything ledgervm appends.
//!
//! Pure: no I/O. An entry is RFC 8785 (JCS) canonical JSON of a [`Record`] with `"v":3`
//! and a `"kind"` tag, so any auditor can re-encode what it decoded and get the same
//! bytes — the bytes the Merkle leaf hashes.
//!
//! An entry is at most [`MAX_ENTRY_BYTES`] (the tlog-tiles uint16 length prefix). A record
//! whose encoding is larger (a call with big arguments, results or HTTP bodies) is stored
//! whole as a content-addressed blob and the log holds a small [`Record::Blob`] pointer
//! carrying the blob's SHA-256, so the leaf still commits to every byte.
//!
//! ```
//! use ledgervm_node::record::{Record, Unload};
//! let r = Record::Unload(Unload { name: "sum.wasm".into(), code_hash: "ab".repeat(32), load_index: 1, auth: None });
//! let bytes = r.encode().unwrap();
//! assert_eq!(
//!     std::str::from_utf8(&bytes).unwrap(),
//!     format!(r#"{{"code_hash":"{}","kind":"app.unload","load_index":1,"name":"sum.wasm","v":3}}"#, "ab".repeat(32))
//! );
//! assert_eq!(Record::decode(&bytes).unwrap(), r);
//! ```

use ledgervm_runtime::engine::EngineFingerprint;
use ledgervm_runtime::transcript::Transcript;
use ledgervm_runtime::value::{FuncType, Value};
use ledgervm_runtime::{AppKind, CallError, Limits};
use serde::{Deserialize, Serialize};

pub use crate::signing::CallerAuth;

/// The record format version written into every entry.
pub const FORMAT_VERSION: u64 = 3;

/// Largest entry the log accepts (tlog-tiles entry bundles use a uint16 length prefix).
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Record {
    /// The log's own parameters; always entry 0.
    #[serde(rename = "config")]
    Config(Config),
    /// An app was loaded (or a new version loaded under an existing name).
    #[serde(rename = "app.load")]
    Load(Load),
    /// An app was unloaded. Its history stays in the log.
    #[serde(rename = "app.unload")]
    Unload(Unload),
    /// One call, successful or not: a failure is a result an auditor must check too.
    #[serde(rename = "call")]
    Call(Box<CallRecord>),
    /// One call of a private app: the payload (arguments, outcome, output, transcript,
    /// write set, state digest) sealed under the app's key. See [`crate::private`].
    #[serde(rename = "call.private")]
    PrivateCall(crate::private::PrivateCall),
    /// A record too large for one entry, stored as the blob with this SHA-256.
    #[serde(rename = "blob")]
    Blob(BlobPointer),
}

/// Entry 0: what this log is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The checkpoint origin line.
    pub origin: String,
    /// The log's verifier key (`name+hex8+base64`).
    pub vkey: String,
    /// The engine that runs calls in this log.
    pub engine: EngineFingerprint,
}

/// An `app.load` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// App name, `[A-Za-z0-9._-]{1,128}`.
    pub name: String,
    /// Lowercase hex SHA-256 of the module bytes; also the module blob's name.
    pub code_hash: String,
    /// The same digest as a CIDv1 (raw, sha2-256), base32.
    pub cid: String,
    /// Module size in bytes.
    pub size: u64,
    /// Core module or component.
    pub app_kind: AppKind,
    /// Callable exports with their types.
    pub exports: Vec<ExportInfo>,
    /// Limits every call of this app runs under.
    pub limits: Limits,
    /// Who may call.
    pub policy: CallPolicy,
    /// The engine the module was compiled for.
    pub engine: EngineFingerprint,
    /// Caller id of whoever loaded it (key hex, or `debug:<user>`); absent when loaded
    /// anonymously. Only the owner or the operator's admin key may replace or unload it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The owner's signature over the load request (see [`crate::signing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<CallerAuth>,
    /// How the app's key came to be (generated at load or supplied by the owner).
    pub key_source: crate::secret::KeySource,
    /// [`crate::secret::AppKey::key_id`] of the app's key: with the name, it names the
    /// state generation the app reads and writes (see `kv`).
    pub key_id: String,
    /// Whether call payloads are sealed under the app's key ([`Record::PrivateCall`]).
    pub private: bool,
    /// Most keys the app's state may hold; a write past it fails with
    /// `state.too_many_keys` (part of the record because it changes outcomes).
    pub max_keys: u64,
}

/// One export of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportInfo {
    /// Export name as called.
    pub name: String,
    /// Its signature.
    #[serde(rename = "type")]
    pub ty: FuncType,
}

/// Who may call an app.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPolicy {
    /// Anyone, without identification.
    #[default]
    Anonymous,
    /// Only callers who sign their calls.
    Signed,
    /// Only signed calls by these keys (lowercase hex Ed25519 public keys).
    AllowList(Vec<String>),
}

/// An `app.unload` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unload {
    /// App name.
    pub name: String,
    /// Code hash of the version unloaded.
    pub code_hash: String,
    /// Index of the `app.load` record of that version.
    pub load_index: u64,
    /// The signature over the unload request, when signed (see [`crate::signing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<CallerAuth>,
}

/// A `call` record: everything an auditor needs to re-run the call and compare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// App name at the time of the call.
    pub app: String,
    /// Code hash of the module that ran.
    pub code_hash: String,
    /// Index of that module's `app.load` record.
    pub load_index: u64,
    /// Export called.
    pub func: String,
    /// Typed arguments as given.
    pub args: Vec<Value>,
    /// Who called (`null` id when anonymous).
    pub caller: ledgervm_runtime::state::Caller,
    /// Every oracle answer the host gave.
    pub transcript: Transcript,
    /// Results, or the typed error.
    pub outcome: Outcome,
    /// Fuel consumed.
    pub fuel: u64,
    /// Captured stdout, lowercase hex (deterministic given the inputs).
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    pub stdout: Vec<u8>,
    /// Captured stderr, lowercase hex.
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    pub stderr: Vec<u8>,
    /// Keys written by the call, in write order (`None` value = deleted).
    pub write_set: Vec<Write>,
    /// The caller's proof: an Ed25519 signature over the call (see [`crate::signing`]),
    /// or a `--debug` user id marked unauthenticated; absent for anonymous calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<CallerAuth>,
    /// The app's state digest after the call ([`crate::digest::LtHash::digest`]); the
    /// state before it when the call failed.
    pub state_digest: String,
}

/// The result of a call as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The call returned these values.
    Ok(Vec<Value>),
    /// The call failed this way.
    Err(CallError),
}

impl From<Result<Vec<Value>, CallError>> for Outcome {
    fn from(r: Result<Vec<Value>, CallError>) -> Outcome {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

impl Outcome {
    /// Back to a `Result`.
    pub fn as_result(&self) -> Result<&[Value], &CallError> {
        match self {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(e),
        }
    }
}

/// One state write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Write {
    /// Key, lowercase hex.
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    pub key: Vec<u8>,
    /// New value (lowercase hex), or `null` for a delete.
    pub value: Option<HexBytes>,
}

/// Bytes that serialize as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "ledgervm_runtime::transcript::hex_bytes")] pub Vec<u8>);

/// A pointer entry for a record stored as a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobPointer {
    /// Kind of the record inside (`call`, …).
    pub of: String,
    /// Lowercase hex SHA-256 of the blob (the record's canonical encoding).
    pub sha256: String,
    /// Blob size in bytes.
    pub size: u64,
}

/// Why an entry could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not valid JSON for a record.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// The `v` field is missing or not a version this code reads.
    #[error("unsupported record version {0}")]
    Version(String),
    /// The bytes are valid JSON but not in canonical (RFC 8785) form, so they are not the
    /// bytes this node would have written.
    #[error("record is not in canonical form")]
    NotCanonical,
}

impl RecordError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Malformed(_) => "malformed_record",
            RecordError::Version(_) => "unsupported_record_version",
            RecordError::NotCanonical => "non_canonical_record",
        }
    }
}

impl Record {
    /// The record's kind tag (`call`, `app.load`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Config(_) => "config",
            Record::Load(_) => "app.load",
            Record::Unload(_) => "app.unload",
            Record::Call(_) => "call",
            Record::PrivateCall(_) => "call.private",
            Record::Blob(_) => "blob",
        }
    }

    /// Canonical bytes: RFC 8785 JSON with `"v": 3`. May exceed [`MAX_ENTRY_BYTES`]; see
    /// [`Record::to_entry`].
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        crate::canonical::serialize_with(self, Some(("v", FORMAT_VERSION)))
            .map_err(|e| RecordError::Malformed(e.to_string()))
    }

    /// Decodes canonical bytes. Rejects unknown versions, unknown fields and any
    /// non-canonical encoding (so two encodings of one record cannot both verify).
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let mut json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let obj = json
            .as_object_mut()
            .ok_or_else(|| RecordError::Malformed("not a JSON object".into()))?;
        match obj.remove("v") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(FORMAT_VERSION) => {}
            Some(other) => return Err(RecordError::Version(other.to_string())),
            None => return Err(RecordError::Version("missing".into())),
        }
        let record: Record =
            serde_json::from_value(json).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if record.encode()? != bytes {
            return Err(RecordError::NotCanonical);
        }
        Ok(record)
    }

    /// What goes into the log for this record: its canonical bytes when they fit in one
    /// entry, else a [`Record::Blob`] pointer entry plus the blob bytes to store first.
    pub fn to_entry(&self) -> Result<(Vec<u8>, Option<Vec<u8>>), RecordError> {
        let bytes = self.encode()?;
        if bytes.len() <= MAX_ENTRY_BYTES {
            return Ok((bytes, None));
        }
        let pointer = Record::Blob(BlobPointer {
            of: self.kind().to_string(),
            sha256: crate::ids::sha256_hex(&bytes),
            size: bytes.len() as u64,
        });
        Ok((pointer.encode()?, Some(bytes)))
    }
}

#[cfg(test)]
mod tests;
