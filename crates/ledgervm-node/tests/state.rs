//! App state end to end on a real node: persistence across restarts, isolation,
//! generated vs BYOK keys across unload, private apps, key limits.

use ledgervm_node::Requester;
use ledgervm_node::record::{Outcome, Record};
use ledgervm_node::secret::{AppKey, KeySource};
use ledgervm_node::{CallInput, LoadRequest, Node, NodeOptions};
use ledgervm_runtime::value::Value;

const COUNTER: &str = include_str!("../../../guests/wat/kv-counter.wat");

async fn node(dir: &std::path::Path) -> Node {
    Node::open(NodeOptions::new(dir)).await.unwrap()
}

async fn call(n: &Node, app: &str, func: &str, args: Vec<Value>) -> (u64, Outcome) {
    let r = n
        .call(CallInput {
            app: app.into(),
            func: func.into(),
            args,
            requester: Requester::Anonymous,
        })
        .await
        .unwrap_or_else(|e| panic!("{app}.{func}: {e}"));
    (r.index, r.outcome)
}

async fn bump(n: &Node, app: &str) -> i64 {
    match call(n, app, "bump", vec![Value::I64(1)]).await.1 {
        Outcome::Ok(v) => match v[..] {
            [Value::I64(x)] => x,
            _ => panic!("{v:?}"),
        },
        Outcome::Err(e) => panic!("{e:?}"),
    }
}

async fn get(n: &Node, app: &str) -> i64 {
    match call(n, app, "get", vec![]).await.1 {
        Outcome::Ok(v) => match v[..] {
            [Value::I64(x)] => x,
            _ => panic!("{v:?}"),
        },
        Outcome::Err(e) => panic!("{e:?}"),
    }
}

fn load(name: &str) -> LoadRequest {
    LoadRequest::new(name, COUNTER.as_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_survives_a_restart_and_records_digests() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path()).await;
    let info = n.load(load("counter")).await.unwrap();
    assert_eq!(info.key_source, KeySource::Generated);
    for want in 1..=3 {
        assert_eq!(bump(&n, "counter").await, want);
    }
    let (index, _) = call(&n, "counter", "get", vec![]).await;
    let Record::Call(c) = n.record(index).unwrap() else {
        panic!()
    };
    let want = ledgervm_node::digest::digest_of([(&b"counter"[..], &3i64.to_le_bytes()[..])]);
    assert_eq!(c.state_digest, want.digest());
    n.close().await.unwrap();
    let n = node(dir.path()).await;
    assert_eq!(get(&n, "counter").await, 3);
    assert_eq!(bump(&n, "counter").await, 4);
    // The verified read names the record that wrote the value.
    let kv = n.kv_get("counter", b"counter").await.unwrap();
    assert_eq!(kv.value, 4i64.to_le_bytes());
    let Record::Call(c) = n.record(kv.index).unwrap() else {
        panic!()
    };
    assert_eq!(c.func, "bump");
    let e = n.kv_get("counter", b"nope").await.unwrap_err();
    assert_eq!(e.code(), "kv_key_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_cannot_see_each_others_keys() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path()).await;
    // Names that are prefixes of each other, and the same BYOK key for both.
    let key = AppKey::from_hex(&"42".repeat(32)).unwrap();
    for name in ["a", "ab"] {
        n.load(LoadRequest {
            encryption_key: Some(key.clone()),
            ..load(name)
        })
        .await
        .unwrap();
    }
    assert_eq!(bump(&n, "a").await, 1);
    assert_eq!(bump(&n, "a").await, 2);
    assert_eq!(get(&n, "ab").await, -1, "ab does not see a's counter");
    assert_eq!(bump(&n, "ab").await, 1);
    assert_eq!(get(&n, "a").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_key_unload_forgets_and_byok_reload_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path()).await;
    // Generated key: unload destroys the key; a reload starts empty.
    let info = n.load(load("gen")).await.unwrap();
    bump(&n, "gen").await;
    n.unload("gen").await.unwrap();
    let sealed = dir
        .path()
        .join("state/keys")
        .join(format!("{}.key", info.key_id));
    assert!(!sealed.exists(), "the sealed key is destroyed");
    n.load(load("gen")).await.unwrap();
    assert_eq!(get(&n, "gen").await, -1);

    // BYOK: unload keeps the encrypted state; the same key reads it back, even after a
    // restart, and another key does not.
    let hex_key = "a5".repeat(32);
    let byok = || LoadRequest {
        encryption_key: Some(AppKey::from_hex(&hex_key).unwrap()),
        ..load("byok")
    };
    let info = n.load(byok()).await.unwrap();
    assert_eq!(info.key_source, KeySource::Byok);
    let json = serde_json::to_string(&info).unwrap();
    assert!(!json.contains(&hex_key), "no key material in app info");
    bump(&n, "byok").await;
    bump(&n, "byok").await;
    n.unload("byok").await.unwrap();
    n.close().await.unwrap();
    let n = node(dir.path()).await;
    n.load(LoadRequest {
        encryption_key: Some(AppKey::generate()),
        ..load("byok")
    })
    .await
    .unwrap();
    assert_eq!(get(&n, "byok").await, -1, "another key sees nothing");
    n.unload("byok").await.unwrap();
    n.load(byok()).await.unwrap();
    assert_eq!(get(&n, "byok").await, 2);
    // A loaded app keeps its key: a different BYOK key is refused, without echoing it.
    let other = "b6".repeat(32);
    let e = n
        .load(LoadRequest {
            encryption_key: Some(AppKey::from_hex(&other).unwrap()),
            ..load("byok")
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_encryption_key");
    assert!(!e.to_string().contains(&other));
    // No key material on disk in the clear, nor in the log.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&hex_key),
            "{} holds the key",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_app_records_are_sealed_and_open_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path()).await;
    let key = AppKey::generate();
    n.load(LoadRequest {
        encryption_key: Some(key.clone()),
        private: true,
        ..load("secret")
    })
    .await
    .unwrap();
    let (index, _) = call(
        &n,
        "secret",
        "put",
        vec![Value::I32(7), Value::I64(0x5ec2e7)],
    )
    .await;
    let Record::PrivateCall(p) = n.record(index).unwrap() else {
        panic!("a private app's call is a call.private record")
    };
    assert!(p.open(&AppKey::generate()).is_err());
    let call = p.open(&key).unwrap();
    assert_eq!(call.write_set.len(), 1);
    assert_eq!(
        n.kv_get("secret", b"k\x07").await.unwrap_err().code(),
        "forbidden"
    );
    n.close().await.unwrap();
    // Recovery opens sealed records with the sealed app key.
    let n = node(dir.path()).await;
    assert_eq!(bump(&n, "secret").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_limit_is_a_recorded_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path()).await;
    n.load(LoadRequest {
        max_keys: Some(2),
        ..load("small")
    })
    .await
    .unwrap();
    let put = |k: i32| call(&n, "small", "put", vec![Value::I32(k), Value::I64(1)]);
    assert_eq!(put(1).await.1, Outcome::Ok(vec![Value::I32(0)]));
    assert_eq!(put(2).await.1, Outcome::Ok(vec![Value::I32(0)]));
    assert_eq!(
        put(1).await.1,
        Outcome::Ok(vec![Value::I32(0)]),
        "overwrite is fine"
    );
    assert_eq!(
        put(3).await.1,
        Outcome::Ok(vec![Value::I32(
            ledgervm_runtime::guest_abi::ERR_TOO_MANY_KEYS
        )])
    );
    let e = n
        .load(LoadRequest {
            max_keys: Some(0),
            ..load("zero")
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_limits");
}
