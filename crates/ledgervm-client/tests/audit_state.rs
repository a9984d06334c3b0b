//! The auditor and app state: every state digest is recomputed on replay; a private
//! app's log verifies for anyone but replays only with the app key.

use ledgervm_client::audit::{AuditOptions, AuditTarget, audit};
use ledgervm_node::Requester;
use ledgervm_node::secret::AppKey;
use ledgervm_node::{CallInput, LoadRequest, Node, NodeOptions};
use ledgervm_runtime::value::Value;

const COUNTER: &str = include_str!("../../../guests/wat/kv-counter.wat");

async fn bump(n: &Node, app: &str) {
    n.call(CallInput {
        app: app.into(),
        func: "bump".into(),
        args: vec![Value::I64(1)],
        requester: Requester::Anonymous,
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_log_verifies_for_anyone_and_replays_only_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::open(NodeOptions::new(dir.path())).await.unwrap();
    let key = AppKey::generate();
    n.load(LoadRequest::new("public", COUNTER.as_bytes().to_vec()))
        .await
        .unwrap();
    n.load(LoadRequest {
        encryption_key: Some(key.clone()),
        private: true,
        ..LoadRequest::new("private", COUNTER.as_bytes().to_vec())
    })
    .await
    .unwrap();
    for _ in 0..3 {
        bump(&n, "public").await;
        bump(&n, "private").await;
    }
    let (vkey, size) = (n.vkey().to_string(), n.size());
    n.close().await.unwrap();
    let target = AuditTarget::DataDir(dir.path().into());

    // Without the key: the tree verifies, public calls replay (digests included), the
    // private ones are skipped — and the report does not call that clean.
    let report = audit(&target, &vkey, &AuditOptions::default())
        .await
        .unwrap();
    assert_eq!(report.verified_entries, size);
    assert!(report.first_divergence.is_none(), "{report:#?}");
    assert_eq!((report.calls_replayed, report.private_skipped), (3, 3));
    assert!(!report.is_clean());

    // With the key: everything replays and every digest matches.
    let opts = AuditOptions {
        keys: vec![key],
        ..Default::default()
    };
    let report = audit(&target, &vkey, &opts).await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!((report.calls_replayed, report.private_skipped), (6, 0));

    // A wrong key is not the app's key: still skipped, not a divergence.
    let opts = AuditOptions {
        keys: vec![AppKey::generate()],
        ..Default::default()
    };
    let report = audit(&target, &vkey, &opts).await.unwrap();
    assert_eq!(report.private_skipped, 3);
    assert!(report.first_divergence.is_none());
}
