//! Egress configuration end to end through the node: the operator's allow rules and
//! extra root CA (`NodeOptions::runtime.egress`, what `ledgervm serve --egress-allow
//! --egress-ca` sets) reach the enclave-example component, whose `fetch-headlines` reads
//! its URL from the app's state (`headlines-url`) and fetches it from a local HTTPS
//! server signed by a throwaway test CA. Without the allow rule the request is refused
//! before any connection, with a typed error recorded in the call's transcript.

#[path = "../../ledgervm-runtime/tests/support/https_server.rs"]
mod https_server;

use https_server::TestServer;
use ledgervm_node::record::{CallPolicy, Outcome, Record};
use ledgervm_node::{CallInput, LoadRequest, Node, NodeOptions, Requester};
use ledgervm_runtime::http::EgressSettings;
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{OracleEvent, Transcript};
use std::path::PathBuf;

/// `LEDGERVM_GUESTS_DIR`, or `<repo>/guests/out` (filled by `scripts/build-guests`).
fn enclave_example() -> Vec<u8> {
    let dir = match std::env::var_os("LEDGERVM_GUESTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../guests/out")
        }
    };
    let p = dir.join("enclave_example.wasm");
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — build the guests first: scripts/build-guests",
            p.display()
        )
    })
}

async fn node_with(dir: &std::path::Path, egress: EgressSettings) -> Node {
    let mut opts = NodeOptions::new(dir);
    opts.runtime.egress = egress;
    let node = Node::open(opts).await.unwrap();
    let mut load = LoadRequest::new("enclave", enclave_example());
    load.policy = CallPolicy::Anonymous;
    node.load(load).await.unwrap();
    node
}

async fn call(node: &Node, func: &str, args: &[&str]) -> (String, Transcript) {
    let r = node
        .call(CallInput {
            app: "enclave".into(),
            func: func.into(),
            args: args.iter().map(|a| Value::String(a.to_string())).collect(),
            requester: Requester::Anonymous,
        })
        .await
        .unwrap();
    let text = match r.outcome {
        Outcome::Ok(v) => match v.as_slice() {
            [Value::String(s)] => s.clone(),
            other => panic!("{other:?}"),
        },
        Outcome::Err(e) => panic!("{func}: {e:?}"),
    };
    let Record::Call(rec) = node.record(r.index).unwrap() else {
        panic!("entry {} is not a call record", r.index)
    };
    (text, rec.transcript)
}

/// The one HTTP exchange of a transcript: its URL and the recorded response or error.
fn http_event(t: &Transcript) -> (String, Result<Vec<u8>, String>) {
    let http: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match e {
            OracleEvent::Http { request, response } => Some((
                request.url.clone(),
                response.clone().map(|r| r.body.clone()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(http.len(), 1, "{:?}", t.events);
    http.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_allow_rule_and_ca_reach_the_component() {
    let server = TestServer::start().await;
    let url = server.url("/feed");

    // Allowed: a CIDR rule for loopback and the test CA as an extra root, given as PEM
    // exactly as `--egress-ca` reads it.
    let mut egress = EgressSettings::default();
    egress.allow.push("127.0.0.1/32".parse().unwrap());
    assert_eq!(egress.add_pem_roots(server.ca_pem.as_bytes()).unwrap(), 1);
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(dir.path(), egress.clone()).await;
    let (stored, _) = call(&node, "kv-store", &["headlines-url", &url]).await;
    assert!(!stored.starts_with("error"), "{stored}");
    let (text, t) = call(&node, "fetch-headlines", &[]).await;
    assert!(text.contains("Headline 1"), "{text}");
    let (recorded_url, response) = http_event(&t);
    assert_eq!(recorded_url, url);
    assert_eq!(response.unwrap(), https_server::rss(12).into_bytes());
    assert_eq!(server.seen().len(), 1);

    // Refused: the same CA but no allow rule. The guest gets an error, the refusal is
    // recorded with its stable code, and nothing reached the server.
    let before = server.connections();
    let strict = EgressSettings {
        allow: vec![],
        ..egress
    };
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(dir.path(), strict).await;
    call(&node, "kv-store", &["headlines-url", &url]).await;
    let (text, t) = call(&node, "fetch-headlines", &[]).await;
    assert!(text.starts_with("error:"), "{text}");
    let (_, response) = http_event(&t);
    let err = response.unwrap_err();
    assert!(err.starts_with("egress.blocked_address:"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert_eq!(
        server.connections(),
        before,
        "a refused request never connects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_rule_without_the_ca_fails_tls() {
    // The allow rule alone is not enough: the server's certificate must chain to a
    // trusted root, and the failure is recorded as a TLS error.
    let server = TestServer::start().await;
    let mut egress = EgressSettings::default();
    egress.allow.push("127.0.0.1".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(dir.path(), egress).await;
    call(&node, "kv-store", &["headlines-url", &server.url("/feed")]).await;
    let (text, t) = call(&node, "fetch-headlines", &[]).await;
    assert!(text.starts_with("error:"), "{text}");
    let err = http_event(&t).1.unwrap_err();
    assert!(err.starts_with("http.tls:"), "{err}");
}

#[tokio::test]
async fn bad_ca_is_refused_with_a_typed_error() {
    let mut egress = EgressSettings::default();
    assert!(egress.add_pem_roots(b"").is_err());
    assert!(
        egress
            .add_pem_roots(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .is_err()
    );
    assert!(egress.extra_roots.is_empty());
    // A bad root smuggled in as DER is caught when the node opens.
    egress
        .extra_roots
        .push(rustls::pki_types::CertificateDer::from(vec![1u8, 2, 3]));
    let dir = tempfile::tempdir().unwrap();
    let mut opts = NodeOptions::new(dir.path());
    opts.runtime.egress = egress;
    let err = Node::open(opts).await.err().expect("open must fail");
    assert!(err.to_string().contains("egress"), "{err}");
}
