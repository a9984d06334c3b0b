//! The client against a lying server: a tiny axum test double that signs checkpoints
//! with its log key and serves `/v1/log` and `/v1/proofs/consistency` from whichever
//! history the test tells it to present.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use ledgervm_client::{Client, ClientError, KeyPin, TrustStore};
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::merkle::{
    Hash, leaf_hash, prove_consistency, stored_hashes_for_record_hash, tree_hash,
};
use ledgervm_log::note::Signer;
use parking_lot::Mutex;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

const ORIGIN: &str = "double.example/log";

/// A history: entries `seed ‖ i`.
fn history(seed: u8, n: u64) -> Vec<Hash> {
    let mut stored = Vec::new();
    for i in 0..n {
        let entry = [&[seed][..], &i.to_be_bytes()].concat();
        let h = stored_hashes_for_record_hash(i, leaf_hash(&entry), &stored).unwrap();
        stored.extend(h);
    }
    stored
}

struct Double {
    signer: Signer,
    /// The history presented now and the size presented.
    stored: Vec<Hash>,
    size: u64,
}

type Shared = Arc<Mutex<Double>>;

async fn log(State(s): State<Shared>) -> Json<serde_json::Value> {
    let d = s.lock();
    let root = tree_hash(d.size, &d.stored).unwrap();
    let note = Checkpoint::new(ORIGIN, d.size, root)
        .unwrap()
        .sign(&d.signer)
        .unwrap();
    Json(json!({
        "origin": ORIGIN,
        "vkey": d.signer.verifier().vkey(),
        "size": d.size,
        "checkpoint": note,
        "engine": {"wasmtime_version": "48.0.8", "config_hash": "0".repeat(64)},
    }))
}

async fn consistency(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, u64>>,
) -> Json<serde_json::Value> {
    let d = s.lock();
    let proof = prove_consistency(q["old"], q["new"], &d.stored).unwrap_or_default();
    let b64: Vec<String> = proof
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
        .collect();
    Json(json!({"old": q["old"], "new": q["new"], "proof": b64}))
}

async fn start(signer: Signer) -> (String, Shared, tokio::task::JoinHandle<()>) {
    let shared = Arc::new(Mutex::new(Double {
        signer,
        stored: Vec::new(),
        size: 0,
    }));
    let app = Router::new()
        .route("/v1/log", get(log))
        .route("/v1/proofs/consistency", get(consistency))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, shared, task)
}

fn present(s: &Shared, seed: u8, n: u64, size: u64) {
    let mut d = s.lock();
    d.stored = history(seed, n);
    d.size = size;
}

#[tokio::test]
async fn stale_and_forked_checkpoints_are_refused_with_evidence() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let vkey = signer.verifier().vkey();
    let (url, double, task) = start(signer).await;
    let trust_dir = tempfile::tempdir().unwrap();
    let client = Client::new(
        &url,
        TrustStore::open(trust_dir.path()),
        KeyPin::Vkey(vkey.clone()),
    )
    .unwrap();

    present(&double, 1, 20, 10);
    assert_eq!(client.log_info().await.unwrap().size, 10);
    present(&double, 1, 20, 15);
    assert_eq!(
        client.log_info().await.unwrap().size,
        15,
        "honest growth with a consistency proof"
    );

    // Rollback: an older checkpoint of the same history, presented as current.
    present(&double, 1, 20, 12);
    let err = client.log_info().await.unwrap_err();
    let ClientError::Rollback {
        trusted_size: 15,
        presented_size: 12,
        evidence,
    } = &err
    else {
        panic!("expected a rollback, got {err:?}");
    };
    let saved = evidence.saved_to.clone().expect("evidence written");
    assert!(saved.starts_with(trust_dir.path().join("evidence")));
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(file["trusted"], evidence.trusted.as_str());
    assert_eq!(file["presented"], evidence.presented.as_str());
    assert!(evidence.trusted.contains("\n15\n") && evidence.presented.contains("\n12\n"));

    // Fork at the same size; then a bigger tree of another history.
    present(&double, 2, 20, 15);
    assert_eq!(client.log_info().await.unwrap_err().code(), "client.fork");
    present(&double, 2, 20, 20);
    let err = client.log_info().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Fork {
                trusted_size: 15,
                presented_size: 20,
                ..
            }
        ),
        "{err:?}"
    );

    // Nothing was accepted: the honest log still extends what the client trusts, even
    // from a fresh client on the same trust store.
    present(&double, 1, 20, 20);
    let again = Client::new(&url, TrustStore::open(trust_dir.path()), KeyPin::Vkey(vkey)).unwrap();
    assert_eq!(again.log_info().await.unwrap().size, 20);
    let evidence_files = std::fs::read_dir(trust_dir.path().join("evidence"))
        .unwrap()
        .count();
    assert_eq!(evidence_files, 3);
    task.abort();
}

#[tokio::test]
async fn trust_on_first_use_pins_the_key() {
    let (url, double, task) = start(Signer::generate(ORIGIN).unwrap()).await;
    present(&double, 1, 3, 3);
    let trust_dir = tempfile::tempdir().unwrap();
    let client = Client::new(
        &url,
        TrustStore::open(trust_dir.path()),
        KeyPin::TrustOnFirstUse,
    )
    .unwrap();
    assert_eq!(client.log_info().await.unwrap().size, 3);
    task.abort();

    // The "same" server comes back with another key: refused.
    let (url2, double2, task2) = start(Signer::generate(ORIGIN).unwrap()).await;
    present(&double2, 1, 3, 3);
    let store = TrustStore::open(trust_dir.path());
    let vkey = client.key().await.unwrap().vkey().to_string();
    assert_eq!(
        store.pinned_key(&format!("{url}/")).unwrap(),
        Some(vkey.clone())
    );
    // Same URL, new key: pin the old key under the new URL to simulate the restart.
    store.pin_key(&format!("{url2}/"), &vkey).unwrap();
    let client2 = Client::new(&url2, store, KeyPin::TrustOnFirstUse).unwrap();
    let err = client2.log_info().await.unwrap_err();
    assert!(matches!(err, ClientError::KeyChanged { .. }), "{err:?}");
    task2.abort();
}
