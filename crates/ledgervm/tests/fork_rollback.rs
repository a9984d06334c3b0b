//! Fork and rollback: a malicious host test double. Several real `ledgervm serve`
//! processes run over copies of one data directory — so every checkpoint is signed with
//! the real log key — that were extended differently (forks) or not at all (rollback).
//! A lying front (an HTTP proxy on loopback) shows the client one history, then switches
//! to another. Every client operation that takes a checkpoint must detect the switch,
//! and the client must keep both signed checkpoints as evidence.

mod common;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use common::{Server, cli, copy_dir, guests, ok};
use ledgervm_client::{Client, ClientError, KeyPin, TrustStore};
use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::note::{Verifier, VerifierSet};
use ledgervm_runtime::value::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The front: forwards every request to whichever real server it currently presents.
#[derive(Clone)]
struct Front {
    upstream: Arc<Mutex<String>>,
    http: reqwest::Client,
}

async fn forward(State(f): State<Front>, req: Request) -> Response {
    let base = f.upstream.lock().unwrap().clone();
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let url = format!(
        "{base}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut up = f.http.request(parts.method, url).body(body.to_vec());
    if let Some(ct) = parts.headers.get("content-type") {
        up = up.header("content-type", ct.as_bytes());
    }
    let resp = up.send().await.unwrap();
    let mut out = Response::builder().status(resp.status().as_u16());
    if let Some(ct) = resp.headers().get("content-type") {
        out = out.header("content-type", ct.as_bytes());
    }
    out.body(Body::from(resp.bytes().await.unwrap())).unwrap()
}

/// Appends `n` calls to `data` (through a real server), so copies diverge.
fn extend(data: &Path, trust: &Path, tag: u32, n: u32) -> String {
    let s = Server::start(data);
    for i in 0..n {
        let (a, b) = (tag.to_string(), i.to_string());
        ok(cli(&s, trust, &["call", "sum.wasm", "Sum", &a, &b]));
    }
    let vkey = s.vkey.clone();
    s.stop();
    vkey
}

/// Both signed checkpoints of the evidence open under the real key; returns their
/// (size, root) pairs, trusted first.
fn evidence_pair(e: &ClientError, vkey: &str) -> ((u64, [u8; 32]), (u64, [u8; 32])) {
    let ev = e.evidence().expect("misbehaviour errors carry evidence");
    let set = VerifierSet::new(vec![Box::new(Verifier::from_vkey(vkey).unwrap())]);
    let open = |note: &str| {
        let origin = note.lines().next().unwrap();
        let (cp, _) = Checkpoint::open(note.as_bytes(), origin, &set).expect("evidence verifies");
        (cp.size, cp.root_hash)
    };
    let saved = ev
        .saved_to
        .as_ref()
        .expect("evidence written to the trust dir");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(saved).unwrap()).unwrap();
    assert_eq!(file["trusted"], ev.trusted.as_str());
    assert_eq!(file["presented"], ev.presented.as_str());
    (open(&ev.trusted), open(&ev.presented))
}

#[test]
fn fork_and_rollback_are_detected_with_evidence() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let setup = tmp.path().join("setup-trust");
    let honest = tmp.path().join("honest");
    let s = Server::start(&honest);
    ok(cli(
        &s,
        &setup,
        &["deploy", guests().join("sum.wasm").to_str().unwrap()],
    ));
    s.stop();
    extend(&honest, &setup, 1, 3);
    // Three copies of the history so far, then each goes its own way.
    let (old, same, longer) = (
        tmp.path().join("old"),
        tmp.path().join("same"),
        tmp.path().join("longer"),
    );
    for d in [&old, &same, &longer] {
        copy_dir(&honest, d);
    }
    // Entries so far: the config record, the load, three calls.
    // Each history is written by its own client: one that saw them all would (rightly)
    // refuse the second as a fork of the first.
    let own_trust = |name: &str| tmp.path().join(format!("setup-trust-{name}"));
    let vkey = extend(&honest, &setup, 2, 3); // honest: 8 entries
    assert_eq!(extend(&same, &own_trust("same"), 3, 3), vkey); // fork at the same size, 8
    assert_eq!(extend(&longer, &own_trust("longer"), 4, 6), vkey); // fork past it, 11
    // `old` stays at 5 entries: a rollback.

    let servers: Vec<Server> = [&honest, &old, &same, &longer]
        .iter()
        .map(|d| Server::start(d))
        .collect();
    assert!(
        servers.iter().all(|s| s.vkey == vkey),
        "one key signs every history"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The front speaks plain HTTP to the client (no certificate binding to check: the
    // checkpoints alone must give the lie away) and TLS to the real servers, whose
    // self-signed certificates it does not care about.
    let front = Front {
        upstream: Arc::new(Mutex::new(servers[0].url.clone())),
        http: reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap(),
    };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let front_url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(forward).with_state(front.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    // (name, server index, expected size, expected error code) per lie.
    let lies = [
        ("rollback", 1, 5, "client.rollback"),
        ("fork, same size", 2, 8, "client.fork"),
        ("fork, longer", 3, 11, "client.fork"),
    ];
    let mut detected = 0;
    for (name, idx, size, code) in lies {
        for op in ["log_info", "checkpoint", "call", "record", "receipt"] {
            let trust = tmp.path().join(format!("trust-{idx}-{op}"));
            let c = Client::new(
                &front_url,
                TrustStore::open(&trust),
                KeyPin::Vkey(vkey.clone()),
            )
            .unwrap();
            *front.upstream.lock().unwrap() = servers[0].url.clone();
            let honest_info = rt.block_on(c.log_info()).unwrap();
            assert_eq!(honest_info.size, 8);
            *front.upstream.lock().unwrap() = servers[idx].url.clone();
            let err = rt
                .block_on(async {
                    match op {
                        "log_info" => c.log_info().await.map(drop),
                        "checkpoint" => c.checkpoint().await.map(drop),
                        "call" => c
                            .call("sum.wasm", "Sum", &[Value::I32(9), Value::U32(9)])
                            .await
                            .map(drop),
                        // Entry 6 differs between the forks; the rolled-back log has no
                        // entry 6, but its entry 1 comes with a proof to its stale checkpoint.
                        // Entry 1 is shared by every history, but its receipt is to the
                        // lying checkpoint.
                        "record" => c.record(if idx == 1 { 1 } else { 6 }).await.map(drop),
                        _ => c.receipt(1).await.map(drop),
                    }
                })
                .expect_err(&format!("{name}: {op} accepted a lying server"));
            assert_eq!(err.code(), code, "{name}: {op}: {err}");
            let ((t_size, t_root), (p_size, p_root)) = evidence_pair(&err, &vkey);
            assert_eq!(
                t_size, 8,
                "{name}: {op}: trusted side is the honest checkpoint"
            );
            assert_eq!(t_root, honest_root(&rt, &servers[0]));
            assert!(p_size >= size, "{name}: {op}: presented {p_size}");
            if code == "client.rollback" {
                assert!(p_size < t_size, "{name}: {op}: a rollback presents less");
            } else {
                assert!(p_size >= t_size && p_root != t_root, "{name}: {op}");
            }
            detected += 1;
        }
    }
    println!("fork/rollback: {detected} lies presented, {detected} detected with evidence");
    for s in servers {
        s.stop();
    }
}

/// The honest root, read straight from the honest server (not through the client).
fn honest_root(rt: &tokio::runtime::Runtime, s: &Server) -> [u8; 32] {
    let text = rt
        .block_on(async {
            let http = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()?;
            http.get(format!("{}/log/checkpoint", s.url))
                .send()
                .await?
                .text()
                .await
        })
        .unwrap();
    let note = ledgervm_log::note::Note::parse(text.as_bytes()).unwrap();
    Checkpoint::parse(&note.text).unwrap().root_hash
}
