//! Caller signatures: the exact bytes a caller signs, how they are checked, and how the
//! proof is stored in the log. **Pure**: no I/O, no clock — the current time is an
//! argument — so the node, the client and the auditor share one definition.
//!
//! Two payloads, each domain-separated by a context line so a signature made for one can
//! never verify as the other (or as anything else signed with the same key):
//!
//! * **Calls** ([`CallPayload`]) sign *what* is asked, not the HTTP request:
//!   `"ledgervm/call/v1\n"` followed by the RFC 8785 (JCS) canonical JSON of
//!   `{"app","args","code_hash","func","nonce","origin","timestamp_ms"}`, where `args`
//!   are the typed values exactly as the call record stores them. An auditor rebuilds
//!   these bytes from the call record alone (plus the log's origin from entry 0).
//! * **Load and unload** ([`RequestPayload`]) sign the HTTP request:
//!   `"ledgervm/request/v1\n"` followed by JCS of
//!   `{"body_sha256","method","nonce","origin","target","timestamp_ms"}`, where `target`
//!   is the path and query exactly as sent and `body_sha256` the hex SHA-256 of the raw
//!   body (of the empty string for `DELETE`).
//!
//! The signature is Ed25519 (RFC 8032, checked with `verify_strict`) over those bytes.
//! See `docs/AUTH.md` for the HTTP headers that carry it.
//!
//! ```
//! use ed25519_dalek::{Signer, SigningKey};
//! use ledgervm_node::signing::{CallPayload, verify};
//! use ledgervm_runtime::value::Value;
//!
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let args = [Value::U32(5), Value::U32(7)];
//! let payload = CallPayload {
//!     origin: "localhost/ledgervm", app: "sum.wasm", code_hash: &"ab".repeat(32),
//!     func: "Sum", args: &args, nonce: "n1", timestamp_ms: 1_700_000_000_000,
//! };
//! let bytes = payload.to_bytes();
//! assert!(bytes.starts_with(b"ledgervm/call/v1\n{\"app\":\"sum.wasm\",\"args\":["));
//! let sig = hex::encode(key.sign(&bytes).to_bytes());
//! let public = hex::encode(key.verifying_key().as_bytes());
//! assert!(verify(&public, &sig, &bytes).is_ok());
//! assert!(verify(&public, &sig, b"something else").is_err());
//! ```

use ed25519_dalek::{Signature, VerifyingKey};
use ledgervm_runtime::value::Value;
use serde::{Deserialize, Serialize};

/// Context line of a call signature (format version 1).
pub const CALL_CONTEXT: &str = "ledgervm/call/v1";
/// Context line of a load/unload request signature (format version 1).
pub const REQUEST_CONTEXT: &str = "ledgervm/request/v1";
/// Longest nonce accepted, in characters.
pub const MAX_NONCE_CHARS: usize = 64;
/// Longest debug user id accepted, in characters.
pub const MAX_DEBUG_USER_CHARS: usize = 64;
/// Prefix of the caller id a guest sees for an unauthenticated `--debug` user, so such an
/// id can never equal a key id (64 hex digits).
pub const DEBUG_ID_PREFIX: &str = "debug:";

/// What a call signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallPayload<'a> {
    /// The log's origin (checkpoint first line): binds the call to this log.
    pub origin: &'a str,
    /// App name.
    pub app: &'a str,
    /// Code hash of the version the caller means to call.
    pub code_hash: &'a str,
    /// Export.
    pub func: &'a str,
    /// Typed arguments.
    pub args: &'a [Value],
    /// Caller-chosen nonce, unique per key within the time window.
    pub nonce: &'a str,
    /// Caller's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl CallPayload<'_> {
    /// The bytes to sign: context line, then canonical JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "origin": self.origin,
            "app": self.app,
            "code_hash": self.code_hash,
            "func": self.func,
            "args": self.args,
            "nonce": self.nonce,
            "timestamp_ms": self.timestamp_ms,
        });
        framed(CALL_CONTEXT, &body)
    }
}

/// What a load/unload request signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestPayload<'a> {
    /// The log's origin.
    pub origin: &'a str,
    /// HTTP method, upper case (`PUT`, `DELETE`).
    pub method: &'a str,
    /// Path and query exactly as sent (`/v1/apps/sum.wasm?fuel=10`).
    pub target: &'a str,
    /// Lowercase hex SHA-256 of the raw request body.
    pub body_sha256: &'a str,
    /// Caller-chosen nonce.
    pub nonce: &'a str,
    /// Caller's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl RequestPayload<'_> {
    /// The bytes to sign: context line, then canonical JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "origin": self.origin,
            "method": self.method,
            "target": self.target,
            "body_sha256": self.body_sha256,
            "nonce": self.nonce,
            "timestamp_ms": self.timestamp_ms,
        });
        framed(REQUEST_CONTEXT, &body)
    }
}

fn framed(context: &str, body: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(context.as_bytes());
    out.push(b'\n');
    // Canonicalizing a serde_json::Value built from strings, integers and typed values
    // cannot fail.
    out.extend(crate::canonical::to_vec(body));
    out
}

/// The proof of who asked, as stored in a record (`"auth"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme")]
pub enum CallerAuth {
    /// An Ed25519 signature that verified when the record was made.
    #[serde(rename = "ed25519/v1")]
    Ed25519(Ed25519Auth),
    /// A plain user id accepted by a server in `--debug` mode: **not authenticated**.
    #[serde(rename = "debug-unauthenticated")]
    Debug(DebugAuth),
}

/// A stored Ed25519 caller signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ed25519Auth {
    /// Public key, lowercase hex (32 bytes); also the caller id the guest saw.
    pub key: String,
    /// Signature, lowercase hex (64 bytes).
    pub signature: String,
    /// The nonce signed.
    pub nonce: String,
    /// The timestamp signed.
    pub timestamp_ms: u64,
    /// For load/unload: the request target signed (absent for calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For load/unload: SHA-256 of the request body signed (absent for calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

/// A `--debug` user id, recorded as unauthenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugAuth {
    /// The id as given.
    pub user: String,
}

impl CallerAuth {
    /// The caller id this proof stands for: the key hex, or `debug:<user>`.
    pub fn caller_id(&self) -> String {
        match self {
            CallerAuth::Ed25519(a) => a.key.clone(),
            CallerAuth::Debug(d) => format!("{DEBUG_ID_PREFIX}{}", d.user),
        }
    }
}

/// Why a caller's proof was refused. Every variant has its own stable [`AuthError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Auth headers incomplete or ill-formed (bad hex, bad key length, bad nonce, …).
    #[error("malformed authentication: {0}")]
    Malformed(String),
    /// The signature does not verify for this key over this request (wrong key, altered
    /// arguments, another app or function, …).
    #[error("signature does not verify for key {key} over this request")]
    BadSignature {
        /// The key claimed.
        key: String,
    },
    /// The timestamp is older than the allowed skew.
    #[error(
        "timestamp {timestamp_ms} is more than {skew_ms} ms older than the server clock ({now_ms})"
    )]
    StaleTimestamp {
        /// Signed timestamp.
        timestamp_ms: u64,
        /// Server clock.
        now_ms: u64,
        /// Allowed skew.
        skew_ms: u64,
    },
    /// The timestamp is further in the future than the allowed skew.
    #[error(
        "timestamp {timestamp_ms} is more than {skew_ms} ms ahead of the server clock ({now_ms})"
    )]
    FutureTimestamp {
        /// Signed timestamp.
        timestamp_ms: u64,
        /// Server clock.
        now_ms: u64,
        /// Allowed skew.
        skew_ms: u64,
    },
    /// This key already used this nonce within the window.
    #[error("nonce {nonce:?} was already used by this key")]
    ReplayedNonce {
        /// The nonce.
        nonce: String,
    },
    /// The caller signed for another version of the app than the one loaded.
    #[error("signed for code {signed}, but the app now runs {loaded}")]
    CodeChanged {
        /// Code hash signed.
        signed: String,
        /// Code hash loaded.
        loaded: String,
    },
    /// The app (or the server) accepts only signed requests.
    #[error("{0} requires a signed request")]
    SignatureRequired(String),
    /// The key is not on the app's allow-list.
    #[error("caller {0} is not on this app's allow-list")]
    NotAllowed(String),
    /// Only the app's owner or the operator's admin key may do this.
    #[error("{0}")]
    NotOwner(String),
    /// A plain user id was sent to a server not running in `--debug` mode.
    #[error("plain user ids are accepted only by a server started with --debug")]
    DebugDisabled,
}

impl AuthError {
    /// Stable machine code, e.g. `"auth.bad_signature"`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "auth.malformed",
            AuthError::BadSignature { .. } => "auth.bad_signature",
            AuthError::StaleTimestamp { .. } => "auth.stale_timestamp",
            AuthError::FutureTimestamp { .. } => "auth.future_timestamp",
            AuthError::ReplayedNonce { .. } => "auth.replayed_nonce",
            AuthError::CodeChanged { .. } => "auth.code_changed",
            AuthError::SignatureRequired(_) => "auth.signature_required",
            AuthError::NotAllowed(_) => "auth.not_allowed",
            AuthError::NotOwner(_) => "auth.not_owner",
            AuthError::DebugDisabled => "auth.debug_disabled",
        }
    }
}

fn hex_exact<const N: usize>(what: &str, text: &str) -> Result<[u8; N], AuthError> {
    let mut out = [0u8; N];
    if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(AuthError::Malformed(format!(
            "{what} must be {} lowercase hex digits",
            2 * N
        )));
    }
    hex::decode_to_slice(text, &mut out)
        .map_err(|e| AuthError::Malformed(format!("{what}: {e}")))?;
    Ok(out)
}

/// Parses a public key given as 64 lowercase hex digits.
pub fn parse_key(key_hex: &str) -> Result<VerifyingKey, AuthError> {
    let bytes = hex_exact::<32>("key", key_hex)?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| AuthError::Malformed("key is not a valid Ed25519 point".into()))
}

/// Checks `signature_hex` by `key_hex` over `message` (strict RFC 8032 verification:
/// no small-order keys, no malleable signatures).
pub fn verify(key_hex: &str, signature_hex: &str, message: &[u8]) -> Result<(), AuthError> {
    let key = parse_key(key_hex)?;
    let sig = Signature::from_bytes(&hex_exact::<64>("signature", signature_hex)?);
    key.verify_strict(message, &sig)
        .map_err(|_| AuthError::BadSignature {
            key: key_hex.to_string(),
        })
}

/// Checks a nonce's form: 1 to [`MAX_NONCE_CHARS`] characters of `A-Za-z0-9_-`.
pub fn check_nonce(nonce: &str) -> Result<(), AuthError> {
    let ok = !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_CHARS
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AuthError::Malformed(format!(
            "nonce must be 1-{MAX_NONCE_CHARS} characters of A-Z a-z 0-9 _ -"
        )))
    }
}

/// Checks a debug user id: 1 to [`MAX_DEBUG_USER_CHARS`] characters of `A-Za-z0-9._@-`.
pub fn check_debug_user(user: &str) -> Result<(), AuthError> {
    let ok = !user.is_empty()
        && user.len() <= MAX_DEBUG_USER_CHARS
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Malformed(format!(
            "debug user id must be 1-{MAX_DEBUG_USER_CHARS} characters of A-Z a-z 0-9 . _ @ -"
        )))
    }
}

/// Checks a signed timestamp against the server clock: within `skew_ms` either way.
pub fn check_timestamp(timestamp_ms: u64, now_ms: u64, skew_ms: u64) -> Result<(), AuthError> {
    if timestamp_ms < now_ms.saturating_sub(skew_ms) {
        return Err(AuthError::StaleTimestamp {
            timestamp_ms,
            now_ms,
            skew_ms,
        });
    }
    if timestamp_ms > now_ms.saturating_add(skew_ms) {
        return Err(AuthError::FutureTimestamp {
            timestamp_ms,
            now_ms,
            skew_ms,
        });
    }
    Ok(())
}

/// Re-checks a stored call signature against its record's fields (what the auditor does).
pub fn verify_stored_call(
    auth: &Ed25519Auth,
    origin: &str,
    app: &str,
    code_hash: &str,
    func: &str,
    args: &[Value],
) -> Result<(), AuthError> {
    let payload = CallPayload {
        origin,
        app,
        code_hash,
        func,
        args,
        nonce: &auth.nonce,
        timestamp_ms: auth.timestamp_ms,
    };
    verify(&auth.key, &auth.signature, &payload.to_bytes())
}

/// Re-checks a stored load/unload signature (`method` is `PUT` for a load, `DELETE` for
/// an unload). Also checks that the signed target names the app `name`.
pub fn verify_stored_request(
    auth: &Ed25519Auth,
    origin: &str,
    method: &str,
    name: &str,
) -> Result<(), AuthError> {
    let (Some(target), Some(body_sha256)) = (&auth.target, &auth.body_sha256) else {
        return Err(AuthError::Malformed(
            "a load/unload signature must record its target and body hash".into(),
        ));
    };
    let path = target.split('?').next().unwrap_or("");
    if path != format!("/v1/apps/{name}") {
        return Err(AuthError::Malformed(format!(
            "signed target {target:?} does not name app {name:?}"
        )));
    }
    let payload = RequestPayload {
        origin,
        method,
        target,
        body_sha256,
        nonce: &auth.nonce,
        timestamp_ms: auth.timestamp_ms,
    };
    verify(&auth.key, &auth.signature, &payload.to_bytes())
}

#[cfg(test)]
mod tests;
