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

use ledgervm_node::record::{CallerAuth, Record};
use ledgervm_node::signing::{self, AuthError};

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
        let edits: Vec<Box<dyn Fn(&mut CallRecord)>> = vec![
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
