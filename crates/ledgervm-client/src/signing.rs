//! The caller's side of signed requests: a key made by `ledgervm keygen`, and the
//! `X-Ledgervm-*` headers for a call, load or unload (payloads defined in
//! [`ledgervm_node::signing`]; headers in `docs/AUTH.md`).
//!
//! ```
//! use ledgervm_client::CallerKey;
//! use ledgervm_runtime::value::Value;
//! let key = CallerKey::generate();
//! let h = key.sign_call("localhost/ledgervm", "sum.wasm", &"ab".repeat(32), "Sum", &[Value::U32(5)]);
//! assert_eq!(h.key, key.public_hex());
//! assert_eq!(h.signature.len(), 128);
//! ```

use crate::error::ClientError;
use ed25519_dalek::{Signer, SigningKey};
use ledgervm_node::signing::{CallPayload, RequestPayload};
use ledgervm_runtime::value::Value;
use std::path::Path;

/// An Ed25519 caller identity.
#[derive(Clone)]
pub struct CallerKey {
    key: SigningKey,
}

impl std::fmt::Debug for CallerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private half.
        write!(f, "CallerKey({})", self.public_hex())
    }
}

/// The headers of one signed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `X-Ledgervm-Key`.
    pub key: String,
    /// `X-Ledgervm-Signature`.
    pub signature: String,
    /// `X-Ledgervm-Nonce`.
    pub nonce: String,
    /// `X-Ledgervm-Timestamp`.
    pub timestamp_ms: u64,
    /// `X-Ledgervm-Code-Hash` (calls).
    pub code_hash: Option<String>,
}

impl SignedHeaders {
    /// The headers as (name, value) pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("x-ledgervm-key", self.key.clone()),
            ("x-ledgervm-signature", self.signature.clone()),
            ("x-ledgervm-nonce", self.nonce.clone()),
            ("x-ledgervm-timestamp", self.timestamp_ms.to_string()),
        ];
        if let Some(c) = &self.code_hash {
            v.push(("x-ledgervm-code-hash", c.clone()));
        }
        v
    }

    /// Adds the headers to a request.
    pub fn apply(&self, mut rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (k, v) in self.pairs() {
            rb = rb.header(k, v);
        }
        rb
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh nonce: 128 random bits, hex.
fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl CallerKey {
    /// A new random key.
    pub fn generate() -> CallerKey {
        CallerKey {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// From the 32-byte seed as hex (the format `ledgervm keygen` writes).
    pub fn from_seed_hex(text: &str) -> Result<CallerKey, ClientError> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|e| {
            ClientError::InvalidArgument(format!("caller key must be 64 hex digits: {e}"))
        })?;
        Ok(CallerKey {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads a key file written by `ledgervm keygen`.
    pub fn from_file(path: &Path) -> Result<CallerKey, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClientError::InvalidArgument(format!("reading caller key {}: {e}", path.display()))
        })?;
        CallerKey::from_seed_hex(&text)
    }

    /// The seed as hex (what a key file holds).
    pub fn seed_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// The public key as 64 lowercase hex digits: the caller id guests see.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Signs `bytes`, returning the signature as hex.
    pub fn sign_bytes(&self, bytes: &[u8]) -> String {
        hex::encode(self.key.sign(bytes).to_bytes())
    }

    /// Signs a call with a fresh nonce and the current time.
    pub fn sign_call(
        &self,
        origin: &str,
        app: &str,
        code_hash: &str,
        func: &str,
        args: &[Value],
    ) -> SignedHeaders {
        self.sign_call_at(origin, app, code_hash, func, args, &nonce(), now_ms())
    }

    /// Signs a call with a given nonce and timestamp (tests, or a caller's own clock).
    #[allow(clippy::too_many_arguments)]
    pub fn sign_call_at(
        &self,
        origin: &str,
        app: &str,
        code_hash: &str,
        func: &str,
        args: &[Value],
        nonce: &str,
        timestamp_ms: u64,
    ) -> SignedHeaders {
        let payload = CallPayload {
            origin,
            app,
            code_hash,
            func,
            args,
            nonce,
            timestamp_ms,
        };
        SignedHeaders {
            key: self.public_hex(),
            signature: self.sign_bytes(&payload.to_bytes()),
            nonce: nonce.to_string(),
            timestamp_ms,
            code_hash: Some(code_hash.to_string()),
        }
    }

    /// Signs a load (`PUT`) or unload (`DELETE`): `target` is the path and query exactly
    /// as sent, `body` the raw body.
    pub fn sign_request(
        &self,
        origin: &str,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> SignedHeaders {
        let (nonce, timestamp_ms) = (nonce(), now_ms());
        let body_sha256 = ledgervm_node::ids::sha256_hex(body);
        let payload = RequestPayload {
            origin,
            method,
            target,
            body_sha256: &body_sha256,
            nonce: &nonce,
            timestamp_ms,
        };
        SignedHeaders {
            key: self.public_hex(),
            signature: self.sign_bytes(&payload.to_bytes()),
            nonce,
            timestamp_ms,
            code_hash: None,
        }
    }
}

/// The headers a request gets: none when the client has no caller key.
#[derive(Clone, Debug, Default)]
pub(crate) struct MaybeSigned(Option<SignedHeaders>);

impl MaybeSigned {
    pub(crate) fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.0 {
            Some(h) => h.apply(rb),
            None => rb,
        }
    }
}

impl crate::Client {
    /// Signs a load/unload for `url` if this client has a caller key. The origin is the
    /// pinned log key's name, so a signature never verifies on another log.
    pub(crate) async fn sign_request(
        &self,
        method: &str,
        url: &reqwest::Url,
        body: &[u8],
    ) -> Result<MaybeSigned, ClientError> {
        let Some(k) = self.caller_key() else {
            return Ok(MaybeSigned(None));
        };
        let origin = self.key().await?.origin().to_string();
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Ok(MaybeSigned(Some(
            k.sign_request(&origin, method, &target, body),
        )))
    }

    /// Signs a call if this client has a caller key, for the code version loaded now.
    pub(crate) async fn sign_call(
        &self,
        app: &str,
        func: &str,
        args: &[Value],
    ) -> Result<MaybeSigned, ClientError> {
        let Some(k) = self.caller_key() else {
            return Ok(MaybeSigned(None));
        };
        let origin = self.key().await?.origin().to_string();
        let code_hash = self.app(app).await?.code_hash;
        Ok(MaybeSigned(Some(
            k.sign_call(&origin, app, &code_hash, func, args),
        )))
    }
}

/// A signed call's record must carry this very signature (the server cannot drop or
/// swap who asked).
pub(crate) fn check_logged_caller(
    signed: &MaybeSigned,
    logged: &crate::verify::LoggedCall,
) -> Result<(), ClientError> {
    use ledgervm_node::record::CallerAuth;
    let Some(h) = &signed.0 else {
        return Ok(());
    };
    let ok = logged.caller().id.as_deref() == Some(h.key.as_str())
        && matches!(logged.auth(), Some(CallerAuth::Ed25519(a)) if a.signature == h.signature);
    if ok {
        Ok(())
    } else {
        Err(ClientError::Verification(
            "the logged call does not carry this client's signature".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_node_rules() {
        let k = CallerKey::from_seed_hex(&"07".repeat(32)).unwrap();
        let args = [Value::U32(5)];
        let h = k.sign_call_at("o", "a", "c", "f", &args, "n1", 9);
        let payload = CallPayload {
            origin: "o",
            app: "a",
            code_hash: "c",
            func: "f",
            args: &args,
            nonce: "n1",
            timestamp_ms: 9,
        };
        ledgervm_node::signing::verify(&h.key, &h.signature, &payload.to_bytes()).unwrap();
        let r = k.sign_request("o", "DELETE", "/v1/apps/a", b"");
        assert_ne!(
            r.nonce,
            k.sign_request("o", "DELETE", "/v1/apps/a", b"").nonce
        );
        ledgervm_node::signing::check_nonce(&r.nonce).unwrap();
        assert!(!format!("{k:?}").contains(&k.seed_hex()));
        assert_eq!(
            CallerKey::from_seed_hex(&k.seed_hex())
                .unwrap()
                .public_hex(),
            k.public_hex()
        );
        assert!(CallerKey::from_seed_hex("zz").is_err());
    }
}
