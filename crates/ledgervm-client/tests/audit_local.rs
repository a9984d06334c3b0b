//! The auditor against real node data directories: a clean log audits clean; a flipped
//! byte is named by entry; a host that rewrites a record and re-signs the whole tree is
//! caught by replay; a log from another engine is reported, not mismatched.

mod common;

use common::{flip_entry_byte, guest};
use ledgervm_client::CallerKey;
use ledgervm_client::audit::{AuditOptions, AuditTarget, DivergenceKind, audit};
use ledgervm_log::note::Signer;
use ledgervm_node::record::{CallerAuth, HexBytes, Outcome, Record};
use ledgervm_node::{CallInput, LoadRequest, Node, NodeOptions, Requester, SignedRequest};
use ledgervm_runtime::value::Value;
use std::path::Path;

struct Honest {
    dir: tempfile::TempDir,
    vkey: String,
    size: u64,
    calls: u64,
    /// Index of the `Sum(5, 7)` call.
    sum_call: u64,
    /// Index of the first `Count` call.
    count_call: u64,
    /// Index of the signed `WhoAmI` call.
    signed_call: u64,
    entries: Vec<Vec<u8>>,
}

async fn call(
    node: &Node,
    app: &str,
    func: &str,
    args: Vec<Value>,
    key: Option<&CallerKey>,
) -> (u64, Outcome) {
    let requester = match key {
        None => Requester::Anonymous,
        Some(k) => {
            let code_hash = node.app(app).unwrap().code_hash;
            let h = k.sign_call(&node.origin(), app, &code_hash, func, &args);
            Requester::Signed(SignedRequest {
                key: h.key,
                signature: h.signature,
                nonce: h.nonce,
                timestamp_ms: h.timestamp_ms,
                code_hash: h.code_hash,
                target: None,
            })
        }
    };
    let r = node
        .call(CallInput {
            app: app.into(),
            func: func.into(),
            args,
            requester,
        })
        .await
        .unwrap_or_else(|e| panic!("{app}.{func}: {e}"));
    (r.index, r.outcome)
}

async fn load(node: &Node, name: &str, file: &str) {
    node.load(LoadRequest {
        name: name.into(),
        module: guest(file),
        limits: None,
        policy: Default::default(),
        encryption_key: None,
        private: false,
        max_keys: None,
    })
    .await
    .unwrap();
}

/// A node with two apps, oracles, state, failures, an unload and re-loads.
async fn honest_log() -> Honest {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeOptions::new(dir.path())).await.unwrap();
    load(&node, "sum.wasm", "sum.wasm").await;
    load(&node, "oracle", "oracle_guest.wasm").await;
    let anon = || None;
    let key = CallerKey::generate();
    let (sum_call, out) = call(
        &node,
        "sum.wasm",
        "Sum",
        vec![Value::U32(5), Value::U32(7)],
        anon(),
    )
    .await;
    assert_eq!(out, Outcome::Ok(vec![Value::I32(12)]));
    let mut calls = 1;
    let mut signed_call = 0;
    let (count_call, out) = call(&node, "oracle", "Count", vec![Value::I64(2)], anon()).await;
    assert_eq!(out, Outcome::Ok(vec![Value::I64(2)]));
    calls += 1;
    for (func, args, caller) in [
        ("Count", vec![Value::I64(5)], anon()),
        ("Dice", vec![], anon()),
        ("Mix", vec![Value::U32(3)], anon()),
        ("SwapRandom", vec![], anon()),
        ("SwapRandom", vec![], anon()),
        ("NowNanos", vec![], anon()),
        ("Elapsed", vec![Value::U32(1000)], anon()),
        ("WhoAmI", vec![], Some(&key)),
        // Recorded failures are results too.
        ("Count", vec![], anon()),
        ("NoSuchExport", vec![], anon()),
    ] {
        let (index, out) = call(&node, "oracle", func, args, caller).await;
        if caller.is_some() {
            // The guest saw the verified key id.
            assert_eq!(out, Outcome::Ok(vec![Value::I32(64)]), "{func}");
            let Record::Call(c) = node.record(index).unwrap() else {
                panic!("entry {index} is not a call")
            };
            let expected = format!("caller {}\n", key.public_hex());
            assert_eq!(c.stdout, expected.into_bytes());
            signed_call = index;
        }
        calls += 1;
    }
    // A new version under the same name keeps state; unload drops it.
    load(&node, "oracle", "oracle_guest.wasm").await;
    assert_eq!(
        call(&node, "oracle", "Count", vec![Value::I64(1)], anon())
            .await
            .1,
        Outcome::Ok(vec![Value::I64(8)])
    );
    node.unload("oracle").await.unwrap();
    load(&node, "oracle", "oracle_guest.wasm").await;
    assert_eq!(
        call(&node, "oracle", "Count", vec![Value::I64(1)], anon())
            .await
            .1,
        Outcome::Ok(vec![Value::I64(1)])
    );
    calls += 2;
    let size = node.size();
    let entries = (0..size).map(|i| node.entry(i).unwrap()).collect();
    Honest {
        vkey: node.vkey().to_string(),
        dir,
        size,
        calls,
        sum_call,
        count_call,
        signed_call,
        entries,
    }
}

/// A second data directory holding `entries` as a log signed with `src`'s key (the
/// host's key: this is a host rewriting its own history), with `src`'s blobs.
async fn forged_log(src: &Path, entries: &[Vec<u8>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = std::fs::read_to_string(src.join("log.key")).unwrap();
    let signer = Signer::from_private_key(key.trim()).unwrap();
    let origin = signer.name().to_string();
    let storage = ledgervm_log::storage::LocalStorage::open(dir.path().join("log")).unwrap();
    let log = ledgervm_log::appender::Log::open(storage, signer, &origin, Default::default())
        .await
        .unwrap();
    for e in entries {
        log.append(e.clone()).await.unwrap();
    }
    log.close().await;
    std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
    for f in std::fs::read_dir(src.join("blobs")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.path().join("blobs").join(f.file_name())).unwrap();
    }
    dir
}

fn rewrite(entries: &[Vec<u8>], index: u64, f: impl FnOnce(&mut Record)) -> Vec<Vec<u8>> {
    let mut out = entries.to_vec();
    let mut r = Record::decode(&out[index as usize]).unwrap();
    f(&mut r);
    out[index as usize] = r.encode().unwrap();
    out
}

fn opts() -> AuditOptions {
    AuditOptions {
        progress: false,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_audit_then_a_flipped_byte_is_named() {
    let h = honest_log().await;
    let target = AuditTarget::DataDir(h.dir.path().to_path_buf());
    let report = audit(&target, &h.vkey, &opts()).await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!((report.size, report.verified_entries), (h.size, h.size));
    assert_eq!(report.calls_replayed, h.calls);
    assert_eq!(report.signed_requests, 1, "the signed WhoAmI call");
    assert_eq!(report.unauthenticated_calls, 0);
    assert!(report.tiles_checked >= 1);

    // A wrong key refuses the checkpoint outright.
    let other = Signer::generate("localhost/ledgervm")
        .unwrap()
        .verifier()
        .vkey();
    assert_eq!(
        audit(&target, &other, &opts()).await.unwrap_err().code(),
        "client.bad_signature"
    );

    flip_entry_byte(h.dir.path(), h.size, h.sum_call);
    let report = audit(&target, &h.vkey, &opts()).await.unwrap();
    let d = report.first_divergence.clone().expect("tampering found");
    assert_eq!(
        (d.index, d.what),
        (h.sum_call, DivergenceKind::Entry),
        "{report:#?}"
    );
    assert_eq!(report.verified_entries, h.sum_call);
    assert!(!report.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_and_resigned_history_is_caught_by_replay() {
    let h = honest_log().await;
    // Control: the same entries re-logged audit clean, so what follows is the edit.
    let same = forged_log(h.dir.path(), &h.entries).await;
    let report = audit(&AuditTarget::DataDir(same.path().into()), &h.vkey, &opts())
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:#?}");

    type Edit = Box<dyn FnOnce(&mut Record)>;
    let cases: Vec<(u64, DivergenceKind, Edit)> = vec![
        (
            h.sum_call,
            DivergenceKind::Outcome,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                c.outcome = Outcome::Ok(vec![Value::I32(13)]);
            }),
        ),
        (
            h.sum_call,
            DivergenceKind::Fuel,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                c.fuel += 1;
            }),
        ),
        (
            h.count_call,
            DivergenceKind::WriteSet,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                c.write_set[0].value = Some(HexBytes(99i64.to_le_bytes().to_vec()));
            }),
        ),
        // A host claiming a call by another caller: the stored signature no longer
        // verifies for the key it names.
        (
            h.signed_call,
            DivergenceKind::CallerAuth,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                let other = CallerKey::generate().public_hex();
                c.caller.id = Some(other.clone());
                if let Some(CallerAuth::Ed25519(a)) = &mut c.auth {
                    a.key = other;
                }
            }),
        ),
        // A host inventing an identity for an anonymous call.
        (
            h.sum_call,
            DivergenceKind::CallerAuth,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                c.caller.id = Some("ab".repeat(32));
            }),
        ),
        // A signature whose bytes were altered.
        (
            h.signed_call,
            DivergenceKind::CallerAuth,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                if let Some(CallerAuth::Ed25519(a)) = &mut c.auth {
                    let flipped = if a.signature.starts_with('0') {
                        "1"
                    } else {
                        "0"
                    };
                    a.signature.replace_range(0..1, flipped);
                }
            }),
        ),
        (
            h.count_call,
            DivergenceKind::StateDigest,
            Box::new(|r| {
                let Record::Call(c) = r else { panic!() };
                c.state_digest = "00".repeat(32);
            }),
        ),
    ];
    for (index, what, edit) in cases {
        let forged = forged_log(h.dir.path(), &rewrite(&h.entries, index, edit)).await;
        let report = audit(
            &AuditTarget::DataDir(forged.path().into()),
            &h.vkey,
            &opts(),
        )
        .await
        .unwrap();
        // The tree is intact (the host re-signed it); only re-execution shows the lie.
        assert_eq!(report.verified_entries, h.size);
        let d = report.first_divergence.clone().expect("lie found");
        assert_eq!((d.index, d.what), (index, what), "{report:#?}");
    }

    // A host replaying a user's signed call on its own: the genuine entry, signature and
    // all, once more at the end. Every signature verifies; the repeat is the lie.
    let mut replayed = h.entries.clone();
    replayed.push(h.entries[h.signed_call as usize].clone());
    let forged = forged_log(h.dir.path(), &replayed).await;
    let target = AuditTarget::DataDir(forged.path().into());
    let report = audit(&target, &h.vkey, &opts()).await.unwrap();
    let d = report
        .first_divergence
        .clone()
        .expect("replayed request found");
    assert_eq!(
        (d.index, d.what),
        (h.size, DivergenceKind::CallerAuth),
        "{report:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_engine_is_reported_not_mismatched() {
    let h = honest_log().await;
    let loads: Vec<u64> = (0..h.size)
        .filter(|&i| {
            matches!(
                Record::decode(&h.entries[i as usize]).unwrap(),
                Record::Load(_)
            )
        })
        .collect();
    let mut entries = h.entries.clone();
    for &i in &loads {
        entries = rewrite(&entries, i, |r| {
            let Record::Load(l) = r else { panic!() };
            l.engine.config_hash = "0".repeat(64);
        });
    }
    let forged = forged_log(h.dir.path(), &entries).await;
    let report = audit(
        &AuditTarget::DataDir(forged.path().into()),
        &h.vkey,
        &opts(),
    )
    .await
    .unwrap();
    assert_eq!(report.first_divergence, None, "{report:#?}");
    assert_eq!(report.engine_mismatches.len(), loads.len());
    assert_eq!((report.calls_replayed, report.calls_skipped), (0, h.calls));
    assert!(!report.is_clean(), "unreplayed calls are not a clean audit");
}
