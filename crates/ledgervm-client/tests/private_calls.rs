//! Private apps through the verifying client over loopback: the owner who brought the
//! key gets every call checked in full; a caller without the key still gets the public
//! part checked (a server cannot answer for another app, function or fuel); a wrong key
//! is an error, never a silent pass.

mod common;

use common::guest;
use ledgervm_client::{Client, ClientError, KeyPin, LoadOptions, LoggedCall, TrustStore};
use ledgervm_node::record::Outcome;
use ledgervm_node::secret::AppKey;
use ledgervm_runtime::value::Value;

fn client(url: &str, vkey: &str, trust: &tempfile::TempDir) -> Client {
    Client::new(
        url,
        TrustStore::open(trust.path()),
        KeyPin::Vkey(vkey.into()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_calls_verify_in_full_with_the_key_and_in_part_without() {
    let common::Served {
        data: _data,
        vkey,
        server,
        ..
    } = common::serve_fresh().await;
    let url = server.url();
    let trust = tempfile::tempdir().unwrap();
    let owner = client(&url, &vkey, &trust);
    let key = AppKey::generate();
    let info = owner
        .load(
            "vault",
            &guest("oracle_guest.wasm"),
            &LoadOptions {
                private: true,
                encryption_key: Some(key.clone()),
                max_keys: Some(50),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(info.private, "{info:?}");
    assert_eq!(info.key_source, ledgervm_node::secret::KeySource::Byok);

    // The owner's client kept the key from the load: the record opens and matches.
    let args = [Value::I64(4)];
    let answer = owner.call("vault", "Count", &args).await.unwrap();
    assert_eq!(answer.result, Outcome::Ok(vec![Value::I64(4)]));
    let logged = owner
        .verify_call("vault", "Count", &args, &answer)
        .await
        .unwrap();
    let LoggedCall::Opened(call) = &logged else {
        panic!("expected an opened record, got {logged:?}")
    };
    assert_eq!(call.write_set.len(), 1);

    // Batch state calls (guest ABI v2) are sealed the same way, and the key limit holds.
    let batch = owner
        .call("vault", "Batch", &[Value::I32(10)])
        .await
        .unwrap();
    assert!(matches!(batch.result, Outcome::Ok(_)), "{batch:?}");
    let over = owner
        .call("vault", "Batch", &[Value::I32(60)])
        .await
        .unwrap();
    assert_eq!(
        over.result,
        Outcome::Ok(vec![Value::I32(-8)]),
        "TOO_MANY_KEYS, nothing written"
    );

    // Someone without the key: the call works and its public part is checked.
    let trust2 = tempfile::tempdir().unwrap();
    let stranger = client(&url, &vkey, &trust2);
    let answer = stranger.call("vault", "Count", &args).await.unwrap();
    assert_eq!(answer.result, Outcome::Ok(vec![Value::I64(8)]));
    let logged = stranger
        .verify_call("vault", "Count", &args, &answer)
        .await
        .unwrap();
    assert!(matches!(logged, LoggedCall::Sealed(_)), "{logged:?}");
    // …but an answer claiming another function or fuel is caught even sealed.
    let mut lie = answer.clone();
    lie.fuel += 1;
    let err = stranger
        .verify_call("vault", "Count", &args, &lie)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Verification(ref m) if m.contains("fuel")),
        "{err:?}"
    );

    // With the key, a lie about the result is caught.
    stranger.set_app_key("vault", key.clone());
    let mut lie = answer.clone();
    lie.result = Outcome::Ok(vec![Value::I64(9)]);
    let err = stranger
        .verify_call("vault", "Count", &args, &lie)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Verification(ref m) if m.contains("outcome")),
        "{err:?}"
    );

    // A wrong key is an error that names the app, not a pass.
    stranger.set_app_key("vault", AppKey::generate());
    let err = stranger
        .verify_call("vault", "Count", &args, &answer)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Verification(ref m) if m.contains("does not open")),
        "{err:?}"
    );
    server.shutdown().await.unwrap();
}
