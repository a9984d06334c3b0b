use super::*;
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn sign(k: &SigningKey, msg: &[u8]) -> String {
    hex::encode(k.sign(msg).to_bytes())
}

fn public(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().as_bytes())
}

#[test]
fn call_payload_is_context_line_then_canonical_json() {
    let args = [Value::U32(5), Value::String("hé".into())];
    let p = CallPayload {
        origin: "o",
        app: "a",
        code_hash: "c",
        func: "f",
        args: &args,
        nonce: "n",
        timestamp_ms: 12,
    };
    assert_eq!(
        String::from_utf8(p.to_bytes()).unwrap(),
        "ledgervm/call/v1\n{\"app\":\"a\",\"args\":[{\"type\":\"u32\",\"value\":5},\
         {\"type\":\"string\",\"value\":\"hé\"}],\"code_hash\":\"c\",\"func\":\"f\",\
         \"nonce\":\"n\",\"origin\":\"o\",\"timestamp_ms\":12}"
    );
}

#[test]
fn request_payload_is_context_line_then_canonical_json() {
    let p = RequestPayload {
        origin: "o",
        method: "DELETE",
        target: "/v1/apps/x",
        body_sha256: "e3",
        nonce: "n",
        timestamp_ms: 1,
    };
    assert_eq!(
        String::from_utf8(p.to_bytes()).unwrap(),
        "ledgervm/request/v1\n{\"body_sha256\":\"e3\",\"method\":\"DELETE\",\"nonce\":\"n\",\
         \"origin\":\"o\",\"target\":\"/v1/apps/x\",\"timestamp_ms\":1}"
    );
}

#[test]
fn contexts_separate_call_and_request_signatures() {
    // Even with identical field text, the two payloads differ in their first line.
    let c = CallPayload {
        origin: "o",
        app: "a",
        code_hash: "c",
        func: "f",
        args: &[],
        nonce: "n",
        timestamp_ms: 1,
    }
    .to_bytes();
    let r = RequestPayload {
        origin: "o",
        method: "a",
        target: "c",
        body_sha256: "f",
        nonce: "n",
        timestamp_ms: 1,
    }
    .to_bytes();
    let k = key(1);
    assert!(verify(&public(&k), &sign(&k, &c), &r).is_err());
}

#[test]
fn wrong_key_and_malformed_inputs_have_their_codes() {
    let (a, b) = (key(1), key(2));
    let msg = b"m";
    let sig = sign(&a, msg);
    assert_eq!(verify(&public(&a), &sig, msg), Ok(()));
    let e = verify(&public(&b), &sig, msg).unwrap_err();
    assert_eq!(e.code(), "auth.bad_signature");
    for (k, s) in [
        ("zz".repeat(32), sig.clone()),
        (public(&a)[..62].to_string(), sig.clone()),
        (public(&a).to_uppercase(), sig.clone()),
        (public(&a), sig[..126].to_string()),
        (public(&a), "g".repeat(128)),
    ] {
        assert_eq!(verify(&k, &s, msg).unwrap_err().code(), "auth.malformed");
    }
}

#[test]
fn timestamps_within_skew_either_way() {
    assert_eq!(check_timestamp(1000, 1000, 0), Ok(()));
    assert_eq!(check_timestamp(900, 1000, 100), Ok(()));
    assert_eq!(check_timestamp(1100, 1000, 100), Ok(()));
    assert_eq!(
        check_timestamp(899, 1000, 100).unwrap_err().code(),
        "auth.stale_timestamp"
    );
    assert_eq!(
        check_timestamp(1101, 1000, 100).unwrap_err().code(),
        "auth.future_timestamp"
    );
    assert_eq!(check_timestamp(0, 50, 100), Ok(()), "no underflow");
    assert_eq!(
        check_timestamp(u64::MAX, u64::MAX - 1, 100),
        Ok(()),
        "no overflow"
    );
}

#[test]
fn nonce_and_debug_user_forms() {
    assert!(check_nonce("abc-DEF_123").is_ok());
    assert!(check_nonce(&"a".repeat(MAX_NONCE_CHARS)).is_ok());
    let long = "a".repeat(MAX_NONCE_CHARS + 1);
    for bad in ["", "a b", "a\nb", "é", long.as_str()] {
        assert_eq!(
            check_nonce(bad).unwrap_err().code(),
            "auth.malformed",
            "{bad:?}"
        );
    }
    assert!(check_debug_user("alice@example.org").is_ok());
    assert!(check_debug_user("a:b").is_err());
    assert!(check_debug_user("").is_err());
}

#[test]
fn every_error_has_a_distinct_code() {
    let all = [
        AuthError::Malformed(String::new()),
        AuthError::BadSignature { key: String::new() },
        AuthError::StaleTimestamp {
            timestamp_ms: 0,
            now_ms: 0,
            skew_ms: 0,
        },
        AuthError::FutureTimestamp {
            timestamp_ms: 0,
            now_ms: 0,
            skew_ms: 0,
        },
        AuthError::ReplayedNonce {
            nonce: String::new(),
        },
        AuthError::CodeChanged {
            signed: String::new(),
            loaded: String::new(),
        },
        AuthError::SignatureRequired(String::new()),
        AuthError::NotAllowed(String::new()),
        AuthError::NotOwner(String::new()),
        AuthError::DebugDisabled,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), all.len());
}

#[test]
fn stored_auth_round_trips_and_caller_ids_cannot_collide() {
    let a = CallerAuth::Ed25519(Ed25519Auth {
        key: "ab".repeat(32),
        signature: "cd".repeat(64),
        nonce: "n".into(),
        timestamp_ms: 5,
        target: None,
        body_sha256: None,
    });
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.starts_with("{\"scheme\":\"ed25519/v1\""), "{json}");
    assert!(!json.contains("target"), "{json}");
    assert_eq!(serde_json::from_str::<CallerAuth>(&json).unwrap(), a);
    let d = CallerAuth::Debug(DebugAuth {
        user: "alice".into(),
    });
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        r#"{"scheme":"debug-unauthenticated","user":"alice"}"#
    );
    assert_eq!(d.caller_id(), "debug:alice");
    assert_eq!(a.caller_id(), "ab".repeat(32));
    assert!(
        serde_json::from_str::<CallerAuth>(
            r#"{"scheme":"debug-unauthenticated","user":"a","x":1}"#
        )
        .is_err()
    );
}

#[test]
fn stored_request_must_name_its_app() {
    let k = key(3);
    let p = RequestPayload {
        origin: "o",
        method: "DELETE",
        target: "/v1/apps/x",
        body_sha256: "e3",
        nonce: "n",
        timestamp_ms: 1,
    };
    let auth = Ed25519Auth {
        key: public(&k),
        signature: sign(&k, &p.to_bytes()),
        nonce: "n".into(),
        timestamp_ms: 1,
        target: Some("/v1/apps/x".into()),
        body_sha256: Some("e3".into()),
    };
    assert_eq!(verify_stored_request(&auth, "o", "DELETE", "x"), Ok(()));
    assert_eq!(
        verify_stored_request(&auth, "o", "DELETE", "y")
            .unwrap_err()
            .code(),
        "auth.malformed"
    );
    assert_eq!(
        verify_stored_request(&auth, "o", "PUT", "x")
            .unwrap_err()
            .code(),
        "auth.bad_signature"
    );
    assert_eq!(
        verify_stored_request(&auth, "other", "DELETE", "x")
            .unwrap_err()
            .code(),
        "auth.bad_signature"
    );
}

/// The fields of a call payload, owned, so proptest can change one at a time.
#[derive(Clone, Debug)]
struct Fields {
    origin: String,
    app: String,
    code_hash: String,
    func: String,
    args: Vec<Value>,
    nonce: String,
    timestamp_ms: u64,
}

impl Fields {
    fn payload(&self) -> Vec<u8> {
        CallPayload {
            origin: &self.origin,
            app: &self.app,
            code_hash: &self.code_hash,
            func: &self.func,
            args: &self.args,
            nonce: &self.nonce,
            timestamp_ms: self.timestamp_ms,
        }
        .to_bytes()
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u32>().prop_map(Value::U32),
        any::<i64>().prop_map(Value::S64),
        any::<u64>().prop_map(Value::U64),
        any::<bool>().prop_map(Value::Bool),
        ".{0,8}".prop_map(Value::String),
    ]
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        ".{0,12}",
        "[a-z.]{1,8}",
        "[0-9a-f]{64}",
        ".{0,8}",
        proptest::collection::vec(value(), 0..4),
        "[A-Za-z0-9_-]{1,16}",
        any::<u64>(),
    )
        .prop_map(
            |(origin, app, code_hash, func, args, nonce, timestamp_ms)| Fields {
                origin,
                app,
                code_hash,
                func,
                args,
                nonce,
                timestamp_ms,
            },
        )
}

proptest! {
    /// Any single-field change (including to one argument) invalidates the signature.
    #[test]
    fn any_single_field_change_invalidates(f in fields(), which in 0usize..8, seed in any::<u8>(), v in value()) {
        let k = key(seed);
        let sig = sign(&k, &f.payload());
        prop_assert!(verify(&public(&k), &sig, &f.payload()).is_ok());
        let mut g = f.clone();
        match which {
            0 => g.origin.push('x'),
            1 => g.app.push('x'),
            2 => g.code_hash = if g.code_hash.starts_with('0') { "1".repeat(64) } else { "0".repeat(64) },
            3 => g.func.push('x'),
            4 => g.args.push(v),
            5 => g.nonce.push('x'),
            6 => g.timestamp_ms = g.timestamp_ms.wrapping_add(1),
            _ => {
                // Change one argument's value (or its type) in place.
                if g.args.is_empty() { g.args.push(v) } else if g.args[0] == v { g.args[0] = Value::Bool(matches!(v, Value::U32(_))) } else { g.args[0] = v }
            }
        }
        prop_assume!(g.payload() != f.payload());
        prop_assert_eq!(verify(&public(&k), &sig, &g.payload()).unwrap_err().code(), "auth.bad_signature");
        // And another key never verifies the original.
        let other = key(seed.wrapping_add(1));
        prop_assert!(verify(&public(&other), &sig, &f.payload()).is_err());
    }
}
