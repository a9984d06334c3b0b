//! Who asked: every caller proof stored in the log is re-checked, so a host cannot
//! invent a call (or a load, or an unload) on a user's behalf. **Pure.**
//!
//! * A call whose record names a caller id must carry the proof of it: an Ed25519
//!   signature by that key over the record's own origin, app, code hash, function,
//!   arguments, nonce and timestamp ([`ledgervm_node::signing`]); or, for a `--debug`
//!   server, a user id recorded as unauthenticated (counted, not trusted).
//! * An anonymous call names no caller.
//! * A load's owner is whoever signed it; a signed load or unload must verify over the
//!   request target it stored, which must name the app.
//! * A signed request is in the log at most once ([`SignedOnce`]): a host that re-runs a
//!   genuine request holds a genuine signature, but not a second request.

use ledgervm_node::record::{CallerAuth, Record};
use ledgervm_node::signing::{self, AuthError, Ed25519Auth};
use std::collections::HashMap;

/// What a record's caller proof amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Proof {
    /// No caller named, no proof.
    Anonymous,
    /// A signature that verifies.
    Signed,
    /// A `--debug` user id: recorded as unauthenticated.
    Unauthenticated,
    /// The record's proof does not hold: (what the record claims, what is wrong).
    Broken(String, String),
}

fn broken(claim: impl Into<String>, e: impl std::fmt::Display) -> Proof {
    Proof::Broken(claim.into(), e.to_string())
}

fn check_auth(
    claimed_id: Option<&str>,
    auth: Option<&CallerAuth>,
    verify: impl FnOnce(&signing::Ed25519Auth) -> Result<(), AuthError>,
) -> Proof {
    match (claimed_id, auth) {
        (None, None) => Proof::Anonymous,
        (Some(id), None) => broken(format!("caller {id}"), "no proof of that identity"),
        (id, Some(a)) if id != Some(a.caller_id().as_str()) => broken(
            format!("caller {}", id.unwrap_or("anonymous")),
            format!("a proof for {}", a.caller_id()),
        ),
        (_, Some(CallerAuth::Debug(_))) => Proof::Unauthenticated,
        (_, Some(CallerAuth::Ed25519(a))) => match verify(a) {
            Ok(()) => Proof::Signed,
            Err(e) => broken(format!("a request signed by {}", a.key), e),
        },
    }
}

/// Checks the caller proof of one record against the log's `origin`.
pub(crate) fn check(origin: &str, record: &Record) -> Proof {
    match record {
        Record::Call(c) => check_auth(c.caller.id.as_deref(), c.auth.as_ref(), |a| {
            if a.target.is_some() || a.body_sha256.is_some() {
                return Err(AuthError::Malformed(
                    "a call signature has no request target".into(),
                ));
            }
            signing::verify_stored_call(a, origin, &c.app, &c.code_hash, &c.func, &c.args)
        }),
        Record::Load(l) => check_auth(l.owner.as_deref(), l.auth.as_ref(), |a| {
            signing::verify_stored_request(a, origin, "PUT", &l.name)
        }),
        Record::Unload(u) => match &u.auth {
            None => Proof::Anonymous,
            Some(a) => check_auth(Some(a.caller_id().as_str()), Some(a), |a| {
                signing::verify_stored_request(a, origin, "DELETE", &u.name)
            }),
        },
        // Checked by the replayer once opened: the signature covers the sealed args.
        Record::PrivateCall(_) => Proof::Anonymous,
        Record::Config(_) | Record::Blob(_) => Proof::Anonymous,
    }
}

/// The Ed25519 proof a record carries, if any (a private call's only once opened).
fn ed25519_of(record: &Record) -> Option<&Ed25519Auth> {
    let auth = match record {
        Record::Call(c) => c.auth.as_ref(),
        Record::Load(l) => l.auth.as_ref(),
        Record::Unload(u) => u.auth.as_ref(),
        Record::PrivateCall(_) | Record::Config(_) | Record::Blob(_) => None,
    };
    match auth {
        Some(CallerAuth::Ed25519(a)) => Some(a),
        _ => None,
    }
}

/// Every signed request seen, by (key, nonce, timestamp), with the entry that holds it.
///
/// An honest node accepts one (key, nonce) only once while its timestamp is within the
/// skew of the clock, and never after (the timestamp is then stale), so one signed request
/// can never be accepted twice. A second entry with the same key, nonce and timestamp is
/// the host replaying a user's request on its own.
#[derive(Debug, Default)]
pub(crate) struct SignedOnce(HashMap<(String, String, u64), u64>);

impl SignedOnce {
    /// Notes `record`'s signed request at `index`; `Err(first)` if entry `first` already
    /// holds the same request.
    pub(crate) fn note(&mut self, index: u64, record: &Record) -> Result<(), u64> {
        let Some(a) = ed25519_of(record) else {
            return Ok(());
        };
        let id = (a.key.clone(), a.nonce.clone(), a.timestamp_ms);
        match self.0.insert(id, index) {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use ledgervm_node::record::{CallRecord, Outcome};
    use ledgervm_node::signing::{CallPayload, DebugAuth, Ed25519Auth};
    use ledgervm_runtime::state::Caller;
    use ledgervm_runtime::value::Value;

    fn signed_call() -> CallRecord {
        let k = SigningKey::from_bytes(&[9; 32]);
        let key = hex::encode(k.verifying_key().as_bytes());
        let args = vec![Value::U32(1)];
        let payload = CallPayload {
            origin: "o",
            app: "a",
            code_hash: "c",
            func: "f",
            args: &args,
            nonce: "n",
            timestamp_ms: 3,
        }
        .to_bytes();
        let signature = hex::encode(k.sign(&payload).to_bytes());
        CallRecord {
            app: "a".into(),
            code_hash: "c".into(),
            load_index: 1,
            func: "f".into(),
            args,
            caller: Caller::with_id(key.clone()),
            transcript: Default::default(),
            outcome: Outcome::Ok(vec![]),
            fuel: 0,
            stdout: vec![],
            stderr: vec![],
            write_set: vec![],
            state_digest: "00".repeat(32),
            auth: Some(CallerAuth::Ed25519(Ed25519Auth {
                key,
                signature,
                nonce: "n".into(),
                timestamp_ms: 3,
                target: None,
                body_sha256: None,
            })),
        }
    }

    fn check_call(c: CallRecord) -> Proof {
        check("o", &Record::Call(Box::new(c)))
    }

    #[test]
    fn a_genuine_signature_holds_and_any_edit_breaks_it() {
        assert_eq!(check_call(signed_call()), Proof::Signed);
        assert!(matches!(
            check("other-origin", &Record::Call(Box::new(signed_call()))),
            Proof::Broken(..)
        ));
        type Edit = Box<dyn Fn(&mut CallRecord)>;
        let edits: Vec<Edit> = vec![
            Box::new(|c| c.args[0] = Value::U32(2)),
            Box::new(|c| c.func = "g".into()),
            Box::new(|c| c.code_hash = "d".into()),
            Box::new(|c| c.caller = Caller::with_id("ab".repeat(32))),
            Box::new(|c| c.caller = Caller::anonymous()),
            Box::new(|c| c.auth = None),
            Box::new(|c| {
                if let Some(CallerAuth::Ed25519(a)) = &mut c.auth {
                    a.nonce = "m".into();
                }
            }),
            Box::new(|c| {
                if let Some(CallerAuth::Ed25519(a)) = &mut c.auth {
                    a.target = Some("/v1/apps/a".into());
                }
            }),
        ];
        for edit in edits {
            let mut c = signed_call();
            edit(&mut c);
            assert!(matches!(check_call(c), Proof::Broken(..)));
        }
    }

    #[test]
    fn a_signed_request_is_in_the_log_once() {
        let mut seen = SignedOnce::default();
        let call = |c: CallRecord| Record::Call(Box::new(c));
        assert_eq!(seen.note(3, &call(signed_call())), Ok(()));
        // The very same request again: the host replayed it.
        assert_eq!(seen.note(7, &call(signed_call())), Err(3));
        // Another nonce, or another timestamp, is another request.
        for edit in [
            |a: &mut Ed25519Auth| a.nonce = "m".into(),
            |a: &mut Ed25519Auth| a.timestamp_ms = 4,
        ] {
            let mut c = signed_call();
            if let Some(CallerAuth::Ed25519(a)) = &mut c.auth {
                edit(a);
            }
            assert_eq!(seen.note(8, &call(c)), Ok(()));
        }
        // Anonymous records carry no request to repeat.
        let mut c = signed_call();
        (c.caller, c.auth) = (Caller::anonymous(), None);
        assert_eq!(seen.note(9, &call(c.clone())), Ok(()));
        assert_eq!(seen.note(10, &call(c)), Ok(()));
    }

    #[test]
    fn anonymous_and_debug_calls() {
        let mut c = signed_call();
        (c.caller, c.auth) = (Caller::anonymous(), None);
        assert_eq!(check_call(c.clone()), Proof::Anonymous);
        c.caller = Caller::with_id("debug:alice");
        c.auth = Some(CallerAuth::Debug(DebugAuth {
            user: "alice".into(),
        }));
        assert_eq!(check_call(c.clone()), Proof::Unauthenticated);
        c.caller = Caller::with_id("debug:bob");
        assert!(matches!(check_call(c), Proof::Broken(..)));
    }
}
