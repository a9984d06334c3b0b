//! Who is asking, from the request headers (see `docs/AUTH.md`).
//!
//! * Signed requests carry all four of `X-Ledgervm-Key`, `X-Ledgervm-Signature`,
//!   `X-Ledgervm-Nonce` and `X-Ledgervm-Timestamp` (ms since the Unix epoch); a call may
//!   add `X-Ledgervm-Code-Hash`, the code version it signed for. The node checks them.
//! * `X-Ledgervm-User: alice` is a plain, unauthenticated user id, accepted only by a
//!   node started with `--debug`.
//! * Neither: anonymous.
//!
//! Headers are only parsed here; what they prove is decided by `ledgervm_node::authz`.

use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use ledgervm_node::{Requester, SignedRequest};

/// Header: the signer's Ed25519 public key, 64 lowercase hex digits.
pub const KEY: &str = "x-ledgervm-key";
/// Header: the Ed25519 signature, 128 lowercase hex digits.
pub const SIGNATURE: &str = "x-ledgervm-signature";
/// Header: the nonce, 1-64 characters of `A-Za-z0-9_-`.
pub const NONCE: &str = "x-ledgervm-nonce";
/// Header: the signer's clock, milliseconds since the Unix epoch.
pub const TIMESTAMP: &str = "x-ledgervm-timestamp";
/// Header (calls): the code hash the caller signed for.
pub const CODE_HASH: &str = "x-ledgervm-code-hash";
/// Header: a plain user id, for a `--debug` server only.
pub const USER: &str = "x-ledgervm-user";
/// Response header every answer of a `--debug` server carries.
pub const DEBUG_MODE: &str = "x-ledgervm-debug";

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::from(ledgervm_node::NodeError::Auth(
        ledgervm_node::signing::AuthError::Malformed(message.into()),
    ))
}

/// A request header's single value. Takes a [`HeaderName`] rather than a `&str`: every
/// call reads six of these, and a `&str` is parsed and validated as a name each time.
fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, ApiError> {
    let mut all = headers.get_all(name).iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(one), None) => one
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| malformed(format!("header {name} is not visible ASCII"))),
        _ => Err(malformed(format!("header {name} given more than once"))),
    }
}

/// The request headers above as [`HeaderName`]s.
mod names {
    use super::HeaderName;
    pub const KEY: HeaderName = HeaderName::from_static(super::KEY);
    pub const SIGNATURE: HeaderName = HeaderName::from_static(super::SIGNATURE);
    pub const NONCE: HeaderName = HeaderName::from_static(super::NONCE);
    pub const TIMESTAMP: HeaderName = HeaderName::from_static(super::TIMESTAMP);
    pub const CODE_HASH: HeaderName = HeaderName::from_static(super::CODE_HASH);
    pub const USER: HeaderName = HeaderName::from_static(super::USER);
}

/// The requester the headers describe. `target` is the request's path and query as
/// sent, for the load/unload signatures that cover it.
pub fn requester(headers: &HeaderMap, target: Option<&str>) -> Result<Requester, ApiError> {
    let key = text(headers, &names::KEY)?;
    let signature = text(headers, &names::SIGNATURE)?;
    let nonce = text(headers, &names::NONCE)?;
    let timestamp = text(headers, &names::TIMESTAMP)?;
    let user = text(headers, &names::USER)?;
    let code_hash = text(headers, &names::CODE_HASH)?;
    let any_signed = key.is_some() || signature.is_some() || nonce.is_some() || timestamp.is_some();
    if !any_signed {
        if code_hash.is_some() {
            return Err(malformed(format!("{CODE_HASH} without a signature")));
        }
        return Ok(match user {
            Some(u) => Requester::Debug(u.to_string()),
            None => Requester::Anonymous,
        });
    }
    if user.is_some() {
        return Err(malformed(format!(
            "send either a signature or {USER}, not both"
        )));
    }
    let (Some(key), Some(signature), Some(nonce), Some(timestamp)) =
        (key, signature, nonce, timestamp)
    else {
        return Err(malformed(format!(
            "a signed request needs all of {KEY}, {SIGNATURE}, {NONCE} and {TIMESTAMP}"
        )));
    };
    let timestamp_ms = timestamp
        .parse::<u64>()
        .map_err(|_| malformed(format!("{TIMESTAMP} must be milliseconds since the epoch")))?;
    Ok(Requester::Signed(SignedRequest {
        key: key.to_string(),
        signature: signature.to_string(),
        nonce: nonce.to_string(),
        timestamp_ms,
        code_hash: code_hash.map(str::to_string),
        target: target.map(str::to_string),
    }))
}

/// On a `--debug` server every answer says so in [`DEBUG_MODE`] (applied by
/// [`crate::middleware::Edge`]).
pub(crate) fn debug_banner(resp: &mut Response) {
    resp.headers_mut().insert(
        DEBUG_MODE,
        HeaderValue::from_static("unauthenticated user ids accepted"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn anonymous_debug_and_signed() {
        assert_eq!(requester(&h(&[]), None).unwrap(), Requester::Anonymous);
        assert_eq!(
            requester(&h(&[(USER, "alice")]), None).unwrap(),
            Requester::Debug("alice".into())
        );
        let full = [
            (KEY, "k"),
            (SIGNATURE, "s"),
            (NONCE, "n"),
            (TIMESTAMP, "12"),
            (CODE_HASH, "c"),
        ];
        let Requester::Signed(s) = requester(&h(&full), Some("/v1/apps/a?x=1")).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.timestamp_ms, s.code_hash.as_deref(), s.target.as_deref()),
            (12, Some("c"), Some("/v1/apps/a?x=1"))
        );
    }

    #[test]
    fn partial_conflicting_or_repeated_headers_are_malformed() {
        let cases: Vec<HeaderMap> = vec![
            h(&[(KEY, "k")]),
            h(&[(KEY, "k"), (SIGNATURE, "s"), (NONCE, "n")]),
            h(&[
                (KEY, "k"),
                (SIGNATURE, "s"),
                (NONCE, "n"),
                (TIMESTAMP, "soon"),
            ]),
            h(&[
                (KEY, "k"),
                (SIGNATURE, "s"),
                (NONCE, "n"),
                (TIMESTAMP, "1"),
                (USER, "a"),
            ]),
            h(&[(USER, "a"), (USER, "b")]),
            h(&[(CODE_HASH, "c")]),
        ];
        for headers in cases {
            let e = requester(&headers, None).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code.as_ref()),
                (400, "auth.malformed"),
                "{headers:?}"
            );
        }
    }
}
