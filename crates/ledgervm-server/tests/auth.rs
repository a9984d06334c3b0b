//! Authenticated callers over real HTTP on 127.0.0.1: signed calls and each way they are
//! refused (own code each), policies (signed, allow-list), ownership of load/unload with
//! and without an admin key, `--debug` user ids, and nonce replay across a restart.
//! Signatures are made here from the documented payloads (`ledgervm_node::signing`),
//! not by the client library, so the wire format itself is what is tested.

mod common;

use common::{ARITH_WAT, assert_error, status_json};
use ed25519_dalek::{Signer, SigningKey};
use ledgervm_node::signing::{CallPayload, RequestPayload};
use ledgervm_node::{AuthOptions, Node, NodeOptions};
use ledgervm_runtime::value::Value;
use ledgervm_server::{ServerHandle, ServerOptions, serve};
use serde_json::{Value as Json, json};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Srv {
    node: Node,
    handle: ServerHandle,
    base: String,
    http: reqwest::Client,
    origin: String,
}

async fn open(data: &Path, auth: AuthOptions) -> Srv {
    let mut opts = NodeOptions::new(data);
    opts.auth = auth;
    let node = Node::open(opts).await.unwrap();
    let handle = serve(
        node.clone(),
        "127.0.0.1:0".parse().unwrap(),
        // Plain HTTP, as tests/common does: these tests are about the auth headers; the
        // TLS binding has its own tests.
        ServerOptions {
            tls: None,
            ..ServerOptions::default()
        },
    )
    .await
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    Srv {
        base: format!("http://{}", handle.local_addr()),
        origin: node.origin(),
        node,
        handle,
        http: reqwest::Client::new(),
    }
}

type Headers = Vec<(&'static str, String)>;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().as_bytes())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn headers(k: &SigningKey, claimed: &str, msg: &[u8], nonce: &str, ts: u64) -> Headers {
    vec![
        ("x-ledgervm-key", claimed.to_string()),
        ("x-ledgervm-signature", hex::encode(k.sign(msg).to_bytes())),
        ("x-ledgervm-nonce", nonce.to_string()),
        ("x-ledgervm-timestamp", ts.to_string()),
    ]
}

impl Srv {
    fn code_hash(&self, app: &str) -> String {
        self.node.app(app).unwrap().code_hash
    }

    /// Headers of a call signed by `k` over (app, func, args, nonce, ts).
    fn sign_call(
        &self,
        k: &SigningKey,
        app: &str,
        func: &str,
        args: &[Value],
        nonce: &str,
        ts: u64,
    ) -> Headers {
        let code_hash = self.code_hash(app);
        let msg = CallPayload {
            origin: &self.origin,
            app,
            code_hash: &code_hash,
            func,
            args,
            nonce,
            timestamp_ms: ts,
        }
        .to_bytes();
        headers(k, &public(k), &msg, nonce, ts)
    }

    /// Headers of a load/unload of `target` with `body`, signed by `k`.
    fn sign_request(
        &self,
        k: &SigningKey,
        method: &str,
        target: &str,
        body: &[u8],
        nonce: &str,
    ) -> Headers {
        let ts = now_ms();
        let sha = ledgervm_node::ids::sha256_hex(body);
        let msg = RequestPayload {
            origin: &self.origin,
            method,
            target,
            body_sha256: &sha,
            nonce,
            timestamp_ms: ts,
        }
        .to_bytes();
        headers(k, &public(k), &msg, nonce, ts)
    }

    async fn call(&self, app: &str, func: &str, args: &[Value], h: &Headers) -> (u16, Json) {
        let mut rb = self
            .http
            .post(format!("{}/v1/apps/{app}/calls/{func}", self.base))
            .json(&json!({ "args": args }));
        for (k, v) in h {
            rb = rb.header(*k, v);
        }
        status_json(rb.send().await.unwrap()).await
    }

    /// PUT `target` (path and query) with WAT text.
    async fn put(&self, target: &str, wat: &str, h: &Headers) -> (u16, Json) {
        let mut rb = self
            .http
            .put(format!("{}{target}", self.base))
            .header("content-type", "text/plain")
            .body(wat.to_string());
        for (k, v) in h {
            rb = rb.header(*k, v);
        }
        status_json(rb.send().await.unwrap()).await
    }

    /// A signed load of ARITH_WAT under `name` with `query` (may be empty).
    async fn load_signed(
        &self,
        k: &SigningKey,
        name: &str,
        query: &str,
        nonce: &str,
    ) -> (u16, Json) {
        let target = format!("/v1/apps/{name}{query}");
        let h = self.sign_request(k, "PUT", &target, ARITH_WAT.as_bytes(), nonce);
        self.put(&target, ARITH_WAT, &h).await
    }

    async fn delete(&self, name: &str, h: &Headers) -> (u16, Json) {
        let mut rb = self.http.delete(format!("{}/v1/apps/{name}", self.base));
        for (k, v) in h {
            rb = rb.header(*k, v);
        }
        status_json(rb.send().await.unwrap()).await
    }

    async fn record(&self, index: u64) -> Json {
        let resp = self
            .http
            .get(format!("{}/v1/records/{index}", self.base))
            .send()
            .await
            .unwrap();
        let (st, body) = status_json(resp).await;
        assert_eq!(st, 200, "{body}");
        body["record"].clone()
    }
}

fn args(a: i32, b: i32) -> Vec<Value> {
    vec![Value::I32(a), Value::I32(b)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_calls_and_each_refusal_has_its_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), AuthOptions::default()).await;
    let (st, info) = s
        .put("/v1/apps/arith?policy=signed", ARITH_WAT, &vec![])
        .await;
    assert_eq!(
        (st, info["policy"].as_str()),
        (201, Some("signed")),
        "{info}"
    );
    let (alice, mallory) = (key(1), key(2));
    let a = args(2, 3);

    assert_error(
        &s.call("arith", "add", &a, &vec![]).await,
        401,
        "auth.signature_required",
    );

    let good = s.sign_call(&alice, "arith", "add", &a, "n-1", now_ms());
    let (st, body) = s.call("arith", "add", &a, &good).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["caller"],
        json!({"id": public(&alice), "authenticated": true})
    );
    let index = body["index"].as_u64().unwrap();
    let record = s.record(index).await;
    assert_eq!(record["caller"]["id"], public(&alice));
    assert_eq!(record["auth"]["scheme"], "ed25519/v1");
    assert_eq!(record["auth"]["key"], public(&alice));
    assert_eq!(record["auth"]["signature"], good[1].1);
    assert_eq!(record["auth"]["nonce"], "n-1");
    let size = s.node.size();

    // The same request again.
    assert_error(
        &s.call("arith", "add", &a, &good).await,
        401,
        "auth.replayed_nonce",
    );
    // Altered arguments under a genuine signature.
    let h = s.sign_call(&alice, "arith", "add", &a, "n-2", now_ms());
    assert_error(
        &s.call("arith", "add", &args(2, 4), &h).await,
        401,
        "auth.bad_signature",
    );
    // Signed by another key than the one claimed.
    let ts = now_ms();
    let msg = CallPayload {
        origin: &s.origin,
        app: "arith",
        code_hash: &s.code_hash("arith"),
        func: "add",
        args: &a,
        nonce: "n-3",
        timestamp_ms: ts,
    }
    .to_bytes();
    let forged = headers(&mallory, &public(&alice), &msg, "n-3", ts);
    assert_error(
        &s.call("arith", "add", &a, &forged).await,
        401,
        "auth.bad_signature",
    );
    // Too old, too new.
    let old = s.sign_call(&alice, "arith", "add", &a, "n-4", now_ms() - 10 * 60_000);
    assert_error(
        &s.call("arith", "add", &a, &old).await,
        401,
        "auth.stale_timestamp",
    );
    let new = s.sign_call(&alice, "arith", "add", &a, "n-5", now_ms() + 10 * 60_000);
    assert_error(
        &s.call("arith", "add", &a, &new).await,
        401,
        "auth.future_timestamp",
    );
    // Signed for another code version.
    let mut h = s.sign_call(&alice, "arith", "add", &a, "n-6", now_ms());
    h.push(("x-ledgervm-code-hash", "00".repeat(32)));
    assert_error(
        &s.call("arith", "add", &a, &h).await,
        409,
        "auth.code_changed",
    );
    // Incomplete headers, a bad key, a plain user id on a server without --debug.
    let mut h = s.sign_call(&alice, "arith", "add", &a, "n-7", now_ms());
    h.retain(|(k, _)| *k != "x-ledgervm-nonce");
    assert_error(&s.call("arith", "add", &a, &h).await, 400, "auth.malformed");
    let mut h = s.sign_call(&alice, "arith", "add", &a, "n-8", now_ms());
    h[0].1 = "zz".repeat(32);
    assert_error(&s.call("arith", "add", &a, &h).await, 400, "auth.malformed");
    let user = vec![("x-ledgervm-user", "alice".to_string())];
    assert_error(
        &s.call("arith", "add", &a, &user).await,
        403,
        "auth.debug_disabled",
    );

    // Nothing refused was recorded, and the server still serves.
    assert_eq!(s.node.size(), size);
    let h = s.sign_call(&mallory, "arith", "add", &a, "n-1", now_ms());
    let (st, body) = s.call("arith", "add", &a, &h).await;
    assert_eq!(st, 200, "another key may use the same nonce: {body}");
    assert!(body["receipt"].is_object());
    s.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_policy() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), AuthOptions::default()).await;
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let q = format!(
        "/v1/apps/arith?policy=allow_list&allow={},{}",
        public(&alice),
        public(&carol)
    );
    let (st, info) = s.put(&q, ARITH_WAT, &vec![]).await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(info["policy"]["allow_list"][0], public(&alice));
    let a = args(1, 1);
    for (k, n) in [(&alice, "a"), (&carol, "c")] {
        let h = s.sign_call(k, "arith", "add", &a, n, now_ms());
        assert_eq!(s.call("arith", "add", &a, &h).await.0, 200);
    }
    let h = s.sign_call(&bob, "arith", "add", &a, "b", now_ms());
    assert_error(
        &s.call("arith", "add", &a, &h).await,
        403,
        "auth.not_allowed",
    );
    assert_error(
        &s.call("arith", "add", &a, &vec![]).await,
        401,
        "auth.signature_required",
    );
    // A list entry that is not a key is refused at load.
    let (st, body) = s
        .put(
            "/v1/apps/other?policy=allow_list&allow=alice",
            ARITH_WAT,
            &vec![],
        )
        .await;
    assert_error(&(st, body), 400, "auth.malformed");
    s.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_or_the_admin_may_load_over_or_unload() {
    let dir = tempfile::tempdir().unwrap();
    let admin = key(9);
    let auth = AuthOptions {
        admin_key: Some(public(&admin)),
        ..Default::default()
    };
    let s = open(dir.path(), auth).await;
    let (alice, bob) = (key(1), key(2));

    // With an admin key, anonymous loads are refused.
    assert_error(
        &s.put("/v1/apps/arith", ARITH_WAT, &vec![]).await,
        401,
        "auth.signature_required",
    );
    let (st, info) = s.load_signed(&alice, "arith", "?fuel=100000", "l-1").await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(info["owner"], public(&alice));
    let load = s.record(info["index"].as_u64().unwrap()).await;
    assert_eq!(load["owner"], public(&alice));
    assert_eq!(load["auth"]["target"], "/v1/apps/arith?fuel=100000");

    // Bob may neither load over alice's app nor unload it; nor may anyone anonymously.
    assert_error(
        &s.load_signed(&bob, "arith", "", "l-2").await,
        403,
        "auth.not_owner",
    );
    let h = s.sign_request(&bob, "DELETE", "/v1/apps/arith", b"", "u-1");
    assert_error(&s.delete("arith", &h).await, 403, "auth.not_owner");
    assert_error(
        &s.delete("arith", &vec![]).await,
        401,
        "auth.signature_required",
    );
    // A signature for another app's path does not carry over.
    let h = s.sign_request(&alice, "DELETE", "/v1/apps/other", b"", "u-2");
    assert_error(&s.delete("arith", &h).await, 401, "auth.bad_signature");
    // A replayed load request is refused.
    let target = "/v1/apps/arith";
    let h = s.sign_request(&alice, "PUT", target, ARITH_WAT.as_bytes(), "l-3");
    assert_eq!(s.put(target, ARITH_WAT, &h).await.0, 201);
    assert_error(
        &s.put(target, ARITH_WAT, &h).await,
        401,
        "auth.replayed_nonce",
    );
    // A body other than the one signed.
    let h = s.sign_request(&alice, "PUT", target, b"(module)", "l-4");
    assert_error(
        &s.put(target, ARITH_WAT, &h).await,
        401,
        "auth.bad_signature",
    );

    // The admin may unload anyone's app; the owner may unload their own.
    let h = s.sign_request(&admin, "DELETE", "/v1/apps/arith", b"", "u-3");
    let (st, body) = s.delete("arith", &h).await;
    assert_eq!(st, 200, "{body}");
    let unload = s.record(body["index"].as_u64().unwrap()).await;
    assert_eq!(unload["auth"]["key"], public(&admin));
    assert_eq!(
        s.load_signed(&bob, "arith", "", "l-5").await.0,
        201,
        "a free name"
    );
    let h = s.sign_request(&bob, "DELETE", "/v1/apps/arith", b"", "u-4");
    assert_eq!(s.delete("arith", &h).await.0, 200);
    s.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_keeps_anonymous_loads_but_protects_owned_apps() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), AuthOptions::default()).await;
    // Anonymous load and unload work as before.
    assert_eq!(s.put("/v1/apps/anon", ARITH_WAT, &vec![]).await.0, 201);
    assert_eq!(s.delete("anon", &vec![]).await.0, 200);
    // An owned app is not anyone's to unload.
    let alice = key(1);
    assert_eq!(s.load_signed(&alice, "mine", "", "l-1").await.0, 201);
    assert_error(
        &s.delete("mine", &vec![]).await,
        401,
        "auth.signature_required",
    );
    assert_error(
        &s.put("/v1/apps/mine", ARITH_WAT, &vec![]).await,
        401,
        "auth.signature_required",
    );
    s.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_seen_before_a_restart_is_still_refused_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let alice = key(1);
    let a = args(4, 5);
    let (call_h, unload_h) = {
        let s = open(dir.path(), AuthOptions::default()).await;
        assert_eq!(s.load_signed(&alice, "arith", "", "l-1").await.0, 201);
        let h = s.sign_call(&alice, "arith", "add", &a, "c-1", now_ms());
        assert_eq!(s.call("arith", "add", &a, &h).await.0, 200);
        // Unload and re-load, so the unload request is a replay candidate too.
        let u = s.sign_request(&alice, "DELETE", "/v1/apps/arith", b"", "u-1");
        assert_eq!(s.delete("arith", &u).await.0, 200);
        assert_eq!(s.load_signed(&alice, "arith", "", "l-2").await.0, 201);
        s.handle.shutdown().await.unwrap();
        // Release the data directory before the restart below opens it.
        s.node.close().await.unwrap();
        (h, u)
    };
    let s = open(dir.path(), AuthOptions::default()).await;
    assert_error(
        &s.call("arith", "add", &a, &call_h).await,
        401,
        "auth.replayed_nonce",
    );
    assert_error(
        &s.delete("arith", &unload_h).await,
        401,
        "auth.replayed_nonce",
    );
    let h = s.sign_call(&alice, "arith", "add", &a, "c-2", now_ms());
    assert_eq!(
        s.call("arith", "add", &a, &h).await.0,
        200,
        "fresh nonces still work"
    );
    s.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_mode_accepts_plain_user_ids_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let auth = AuthOptions {
        debug: true,
        max_skew: Duration::from_secs(30),
        ..Default::default()
    };
    let s = open(dir.path(), auth).await;
    let alice = vec![("x-ledgervm-user", "alice".to_string())];
    let bob = vec![("x-ledgervm-user", "bob".to_string())];
    let (st, info) = s
        .put("/v1/apps/arith?policy=signed", ARITH_WAT, &alice)
        .await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(info["owner"], "debug:alice");
    let a = args(1, 2);
    let (st, body) = s.call("arith", "add", &a, &alice).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["caller"],
        json!({"id": "debug:alice", "authenticated": false})
    );
    let record = s.record(body["index"].as_u64().unwrap()).await;
    assert_eq!(
        record["auth"],
        json!({"scheme": "debug-unauthenticated", "user": "alice"})
    );
    assert_error(&s.delete("arith", &bob).await, 403, "auth.not_owner");
    let bad = vec![("x-ledgervm-user", "a:b".to_string())];
    assert_error(
        &s.call("arith", "add", &a, &bad).await,
        400,
        "auth.malformed",
    );
    // Every answer, even a read, carries the banner header.
    let resp = s
        .http
        .get(format!("{}/v1/log", s.base))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-ledgervm-debug"));
    assert_eq!(s.delete("arith", &alice).await.0, 200);
    s.handle.shutdown().await.unwrap();
}
