//! Disk faults: `ENOSPC` and `EIO` injected at each write step of a commit, through the
//! log storage's fault injector, under a real node and HTTP server on loopback. Required:
//!
//! * the call whose commit hits the fault, and every write after it, is refused with
//!   503 `log_unavailable` (never acknowledged);
//! * reads keep being served: the checkpoint, tiles, records, apps;
//! * once space returns, a restart of the real binary recovers: every acknowledged
//!   entry is there, calls are accepted again, and `ledgervm verify` is CLEAN.
//!
//! Recovery is by restart on purpose: after a failed write or fsync the process no longer
//! knows what is durable (see ledgervm-log's appender docs), so it re-reads the disk.

mod common;

use common::{Server, cli, guests, ok, verify_dir};
use ledgervm_log::storage::{FaultInjector, FaultMode};
use ledgervm_node::authz::Requester;
use ledgervm_node::{CallInput, LoadRequest, Node, NodeOptions};
use ledgervm_runtime::value::Value;
use serde_json::{Value as Json, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Linux errno values (the ones a full or failing disk returns).
const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn sum_call(a: i32) -> CallInput {
    CallInput {
        app: "sum.wasm".into(),
        func: "Sum".into(),
        args: vec![Value::I32(a), Value::U32(1)],
        requester: Requester::Anonymous,
    }
}

/// Opens a node, retrying while a just-dropped node still holds the directory lock.
async fn open(data: &Path, faults: Option<Arc<FaultInjector>>) -> Node {
    for _ in 0..100 {
        let mut opts = NodeOptions::new(data);
        opts.storage_faults = faults.clone();
        match Node::open(opts).await {
            Ok(n) => return n,
            Err(e) if e.to_string().contains("locked") => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("open: {e}"),
        }
    }
    panic!("data directory stayed locked");
}

/// A data directory with sum.wasm loaded and one acknowledged call; returns that call's
/// index.
async fn setup(data: &Path) -> u64 {
    let node = open(data, None).await;
    let module = std::fs::read(guests().join("sum.wasm")).unwrap();
    node.load(LoadRequest::new("sum.wasm", module))
        .await
        .unwrap();
    node.call(sum_call(41)).await.unwrap().index
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Vec<u8>) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn post_call(http: &reqwest::Client, base: &str, a: i32) -> (u16, Json) {
    let r = http
        .post(format!("{base}/v1/apps/sum.wasm/calls/Sum"))
        .json(&json!({"args": [{"type": "i32", "value": a}, {"type": "u32", "value": 1}]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// One trial: the fault at write step `step` of the next commit, as OS error `errno`.
async fn trial(root: &Path, errno: i32, opened_steps: u64, step: u64) -> String {
    let data = root.join(format!("data-{errno}-{step}"));
    let acked = setup(&data).await;
    let faults = FaultInjector::with_os_error(opened_steps + step, FaultMode::Fail, errno);
    let node = open(&data, Some(faults.clone())).await;
    // Plain HTTP in-process: what is under test is the write path, not the channel.
    let opts = ledgervm_server::ServerOptions {
        tls: None,
        ..Default::default()
    };
    let handle = ledgervm_server::serve(node.clone(), "127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let base = handle.url();
    let http = reqwest::Client::new();
    let entry_of = |body: &[u8]| -> String {
        let v: Json = serde_json::from_slice(body).unwrap();
        v["receipt"]["entry"].as_str().unwrap().to_string()
    };
    let (_, body) = get(&http, format!("{base}/v1/records/{acked}")).await;
    let entry_before = entry_of(&body);

    let (st, body) = post_call(&http, &base, 1).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (503, Some("log_unavailable")),
        "step {step}: {body}"
    );
    assert!(faults.tripped(), "step {step} was reached");
    let message = body["message"].as_str().unwrap().to_string();
    // Every later write is refused the same way; nothing is acknowledged.
    let (st, body) = post_call(&http, &base, 2).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (503, Some("log_unavailable")),
        "{body}"
    );
    let r = http
        .put(format!("{base}/v1/apps/again"))
        .header("content-type", "application/wasm")
        .body(std::fs::read(guests().join("sum.wasm")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    // Refused before anything was written: no sealed key for the refused load.
    let keys = std::fs::read_dir(data.join("state/keys")).unwrap().count();
    assert_eq!(keys, 1, "only sum.wasm's key is sealed");
    // Reads are still served.
    for path in [
        "/v1/log",
        "/log/checkpoint",
        "/v1/apps",
        "/v1/apps/sum.wasm",
    ] {
        assert_eq!(get(&http, format!("{base}{path}")).await.0, 200, "{path}");
    }
    let (st, body) = get(&http, format!("{base}/v1/records/{acked}")).await;
    assert_eq!((st, entry_of(&body)), (200, entry_before.clone()));
    assert_eq!(
        get(&http, format!("{base}/v1/receipts/{acked}")).await.0,
        200
    );
    handle.shutdown().await.unwrap();
    // The flush may meet the injected fault; what matters is the directory's release.
    let _ = node.close().await;

    // Space returns: restart the real binary over the same directory.
    let trust = root.join(format!("trust-{errno}-{step}"));
    tokio::task::spawn_blocking(move || restart_and_check(&data, &trust, acked, &entry_before))
        .await
        .unwrap();
    message
}

/// Restarts `ledgervm serve` over `data`: the acknowledged entry is unchanged, the
/// refused call is either wholly there or absent, writes are accepted again, and the
/// directory audits CLEAN.
fn restart_and_check(data: &Path, trust: &Path, acked: u64, entry_before: &str) {
    let server = Server::start(data);
    // On a blocking-pool thread, so blocking on the test's runtime is allowed.
    // The restarted server's certificate is self-signed (its binding is tested in e2e);
    // here only the bytes it serves matter.
    let get = |path: String| -> Json {
        tokio::runtime::Handle::current().block_on(async {
            let http = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap();
            let r = http
                .get(format!("{}{path}", server.url))
                .send()
                .await
                .unwrap();
            r.json().await.unwrap()
        })
    };
    let after = get(format!("/v1/records/{acked}"));
    assert_eq!(
        after["receipt"]["entry"].as_str(),
        Some(entry_before),
        "acknowledged entry {acked} survived"
    );
    // A fault after the journal's fdatasync leaves the refused call durable (never
    // acknowledged, but whole: invariant 7); one before it leaves nothing. The second
    // call was refused before it was sequenced, so it can never appear.
    let size = get("/v1/log".into())["size"].as_u64().unwrap();
    assert!(size == acked + 1 || size == acked + 2, "size {size}");
    if size == acked + 2 {
        let refused = get(format!("/v1/records/{}", acked + 1));
        assert_eq!(refused["record"]["args"][0]["value"], 1, "{refused}");
    }
    let out = ok(cli(&server, trust, &["call", "sum.wasm", "Sum", "2", "3"]));
    assert_eq!(out.trim(), "5");
    let vkey = server.vkey.clone();
    server.stop();
    assert!(ok(verify_dir(data, &vkey)).contains("CLEAN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_and_eio_at_every_write_step() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = tempfile::tempdir().unwrap();
    // Count the write steps of opening the node and of one call's commit, on a clean run.
    let counting = root.path().join("counting");
    setup(&counting).await;
    let faults = FaultInjector::new(0, FaultMode::Fail);
    let node = open(&counting, Some(faults.clone())).await;
    let opened = faults.steps();
    node.call(sum_call(7)).await.unwrap();
    let per_call = faults.steps() - opened;
    node.close().await.unwrap();
    assert!(
        per_call >= 2,
        "a commit writes the journal and syncs it: {per_call} steps"
    );

    let mut trials = 0;
    for errno in [ENOSPC, EIO] {
        for step in 1..=per_call {
            let message = trial(root.path(), errno, opened, step).await;
            let want = std::io::Error::from_raw_os_error(errno).to_string();
            assert!(
                message.contains(&want),
                "step {step}: {message:?} names {want:?}"
            );
            trials += 1;
        }
    }
    println!(
        "disk_faults: {trials} trials ({per_call} write steps per commit x ENOSPC, EIO): every fault refused writes with 503 log_unavailable, kept reads, recovered on restart, verified CLEAN"
    );
}
