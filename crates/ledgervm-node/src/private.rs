//! Private call records: a call of an app loaded with `private` is logged as a
//! [`PrivateCall`], whose payload is sealed under the app's key. **Pure.**
//!
//! What stays public — so the log still verifies for anyone and the app's history can
//! be followed — is the routing: app, code hash, load index, function, caller and fuel.
//! Arguments, outcome, stdout/stderr, the oracle transcript, the write set and the state
//! digest are the canonical (RFC 8785) JSON of a [`CallRecord`]'s payload, sealed with
//! AES-256-GCM under the app key's payload subkey, with the canonical encoding of the
//! public part as associated data (so a sealed payload cannot be moved to another
//! record). Only a holder of the key can open it and replay the call.
//!
//! ```
//! # use ledgervm_node::record::*;
//! # use ledgervm_node::secret::AppKey;
//! # use ledgervm_runtime::state::Caller;
//! let call = CallRecord {
//!     app: "a".into(), code_hash: "ab".repeat(32), load_index: 1, func: "f".into(),
//!     args: vec![], caller: Caller::anonymous(), transcript: Default::default(),
//!     outcome: Outcome::Ok(vec![]), fuel: 1, stdout: vec![], stderr: vec![],
//!     write_set: vec![], auth: None, state_digest: "00".repeat(32),
//! };
//! let key = AppKey::generate();
//! let sealed = ledgervm_node::private::PrivateCall::seal(&call, &key);
//! assert_eq!(sealed.open(&key).unwrap(), call);
//! assert!(sealed.open(&AppKey::generate()).is_err());
//! ```

use crate::record::{CallRecord, HexBytes, Outcome, Write};
use crate::secret::{AppKey, SecretError};
use ledgervm_runtime::state::Caller;
use ledgervm_runtime::transcript::Transcript;
use ledgervm_runtime::value::Value;
use serde::{Deserialize, Serialize};

/// A `call.private` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateCall {
    /// App name at the time of the call.
    pub app: String,
    /// Code hash of the module that ran.
    pub code_hash: String,
    /// Index of that module's `app.load` record.
    pub load_index: u64,
    /// Export called.
    pub func: String,
    /// Who called.
    pub caller: Caller,
    /// The caller's proof (public: it names who asked, not what was asked; checking
    /// the signature needs the sealed args, so only a key holder can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::signing::CallerAuth>,
    /// Fuel consumed.
    pub fuel: u64,
    /// Nonce and AES-256-GCM ciphertext of the payload, lowercase hex.
    pub sealed: HexBytes,
}

/// The sealed part of a private call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    args: Vec<Value>,
    transcript: Transcript,
    outcome: Outcome,
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    stdout: Vec<u8>,
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    stderr: Vec<u8>,
    write_set: Vec<Write>,
    state_digest: String,
}

/// Why a private payload could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Wrong key or tampered bytes.
    #[error(transparent)]
    Key(#[from] SecretError),
    /// It opened but is not a valid payload.
    #[error("sealed payload is malformed: {0}")]
    Malformed(String),
}

impl PrivateCall {
    /// The associated data: the canonical JSON of the public fields.
    fn context(&self) -> Vec<u8> {
        let public = PrivateCall {
            sealed: HexBytes(Vec::new()),
            ..self.clone()
        };
        crate::canonical::serialize(&public).expect("a record serializes")
    }

    /// Seals a call record's payload under `key`.
    pub fn seal(call: &CallRecord, key: &AppKey) -> PrivateCall {
        let mut out = PrivateCall {
            app: call.app.clone(),
            code_hash: call.code_hash.clone(),
            load_index: call.load_index,
            func: call.func.clone(),
            caller: call.caller.clone(),
            auth: call.auth.clone(),
            fuel: call.fuel,
            sealed: HexBytes(Vec::new()),
        };
        let payload = Payload {
            args: call.args.clone(),
            transcript: call.transcript.clone(),
            outcome: call.outcome.clone(),
            stdout: call.stdout.clone(),
            stderr: call.stderr.clone(),
            write_set: call.write_set.clone(),
            state_digest: call.state_digest.clone(),
        };
        let plain = zeroize::Zeroizing::new(
            crate::canonical::serialize(&payload).expect("a payload serializes"),
        );
        out.sealed = HexBytes(key.seal_payload(&out.context(), &plain));
        out
    }

    /// Opens the payload with `key`, giving back the call record it was sealed from.
    pub fn open(&self, key: &AppKey) -> Result<CallRecord, OpenError> {
        let plain = zeroize::Zeroizing::new(key.open_payload(&self.context(), &self.sealed.0)?);
        let p: Payload =
            serde_json::from_slice(&plain).map_err(|e| OpenError::Malformed(e.to_string()))?;
        Ok(CallRecord {
            app: self.app.clone(),
            code_hash: self.code_hash.clone(),
            load_index: self.load_index,
            func: self.func.clone(),
            args: p.args,
            caller: self.caller.clone(),
            transcript: p.transcript,
            outcome: p.outcome,
            fuel: self.fuel,
            stdout: p.stdout,
            stderr: p.stderr,
            write_set: p.write_set,
            auth: self.auth.clone(),
            state_digest: p.state_digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallRecord {
        CallRecord {
            app: "a".into(),
            code_hash: "ab".repeat(32),
            load_index: 3,
            func: "f".into(),
            args: vec![Value::U32(7)],
            caller: Caller::anonymous(),
            transcript: Transcript::default(),
            outcome: Outcome::Ok(vec![Value::I64(1)]),
            fuel: 9,
            stdout: b"secret out".to_vec(),
            stderr: vec![],
            write_set: vec![Write {
                key: b"k".to_vec(),
                value: Some(HexBytes(b"secret value".to_vec())),
            }],
            state_digest: "cd".repeat(32),
            auth: None,
        }
    }

    #[test]
    fn sealed_record_hides_the_payload_and_binds_the_public_part() {
        let key = AppKey::generate();
        let sealed = PrivateCall::seal(&call(), &key);
        let bytes = crate::record::Record::PrivateCall(sealed.clone())
            .encode()
            .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains(&hex::encode("secret")), "{text}");
        assert!(!text.contains(&"cd".repeat(32)));
        assert_eq!(
            crate::record::Record::decode(&bytes).unwrap(),
            crate::record::Record::PrivateCall(sealed.clone())
        );
        assert_eq!(sealed.open(&key).unwrap(), call());
        // Moving the payload to another call (other index) breaks it.
        let moved = PrivateCall {
            load_index: 4,
            ..sealed.clone()
        };
        assert!(matches!(moved.open(&key), Err(OpenError::Key(_))));
        assert!(matches!(
            sealed.open(&AppKey::generate()),
            Err(OpenError::Key(SecretError::Open))
        ));
    }
}
