//! Crashes: SIGKILL `ledgervm serve` at a random moment while several clients call it,
//! restart, and check after every restart that
//!
//! * every acknowledged call (a verified receipt came back) is in the log at its index,
//!   with the arguments and outcome the client was given;
//! * the client's trusted checkpoint (kept across restarts) is still consistent with the
//!   restarted log — nothing acknowledged was rolled back;
//! * the log verifies: `ledgervm verify URL --vkey` (tree, records, full replay);
//! * state equals the replay: every key's value read back from the restarted node equals
//!   the value obtained by folding all logged write sets in log order.
//!
//! CI runs 8 rounds; the full run is
//! `LEDGERVM_CRASH_ROUNDS=50 cargo nextest run --workspace -E 'test(crash)' --no-capture`.

mod common;

use common::{Rng, Server, cli, env_count, guests, ok};
use ledgervm_client::{CallResponse, Client, KeyPin, TrustStore};
use ledgervm_node::record::{Outcome, Record};
use ledgervm_runtime::value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const APP: &str = "enclave-example";
const KEYS: usize = 6;
const CLIENTS: usize = 4;

/// What a client sent and was told.
struct Acked {
    func: String,
    args: Vec<Value>,
    answer: CallResponse,
}

fn client(server: &Server, trust: &std::path::Path) -> Client {
    Client::new(
        &server.url,
        TrustStore::open(trust),
        KeyPin::Vkey(server.vkey.clone()),
    )
    .unwrap()
}

/// Calls until `stop` is set or the server goes away; returns what was acknowledged.
async fn load(c: Client, id: usize, stop: Arc<AtomicBool>) -> Vec<Acked> {
    let mut acked = Vec::new();
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (func, args) = if n.is_multiple_of(3) {
            ("Sum", vec![Value::I32(id as i32), Value::U32(n)])
        } else {
            let key = format!("k{}", (n as usize + id) % KEYS);
            (
                "kv-store",
                vec![Value::String(key), Value::String(format!("c{id}-n{n}"))],
            )
        };
        let app = if func == "Sum" { "sum.wasm" } else { APP };
        match c.call(app, func, &args).await {
            Ok(answer) => acked.push(Acked {
                func: func.into(),
                args,
                answer,
            }),
            // The server was killed: connection errors end this client.
            Err(_) => break,
        }
    }
    acked
}

#[test]
fn crash() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rounds = env_count("LEDGERVM_CRASH_ROUNDS", 8);
    let mut rng = Rng(env_count("LEDGERVM_CRASH_SEED", 11) as u64);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let trust = tmp.path().join("trust");
    let server = Server::start(&data);
    let g = guests();
    ok(cli(
        &server,
        &trust,
        &["deploy", g.join("sum.wasm").to_str().unwrap()],
    ));
    let ex = g.join("enclave_example.wasm");
    ok(cli(
        &server,
        &trust,
        &["deploy", ex.to_str().unwrap(), "--name", APP],
    ));
    server.stop();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut total_acked, mut total_size) = (0usize, 0u64);
    for round in 0..rounds {
        let server = Server::start(&data);
        let c = client(&server, &trust);
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|id| rt.spawn(load(c.clone(), id, stop.clone())))
            .collect();
        // A random moment: anywhere from mid-first-call to well into the load.
        std::thread::sleep(Duration::from_millis(20 + rng.below(600) as u64));
        server.crash();
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<Acked> = tasks
            .into_iter()
            .flat_map(|t| rt.block_on(t).unwrap())
            .collect();

        let server = Server::start(&data);
        let c = client(&server, &trust);
        let size = rt.block_on(check_round(&c, &acked, &server));
        let audit = ok(std::process::Command::new(common::bin())
            .args(["verify", &server.url, "--vkey", &server.vkey])
            .output()
            .unwrap());
        assert!(audit.contains("CLEAN"), "round {round}: {audit}");
        server.stop();
        println!(
            "crash round {round}: {} calls acknowledged, log size {size}",
            acked.len()
        );
        total_acked += acked.len();
        total_size = size;
    }
    println!(
        "crash: {rounds} SIGKILLs under {CLIENTS} concurrent clients, {total_acked} acknowledged calls all present, final log size {total_size}, every restart verified CLEAN with state equal to the replay"
    );
    assert!(total_acked > 0, "the load never got a call acknowledged");
}

/// The per-restart checks; returns the log size.
async fn check_round(c: &Client, acked: &[Acked], server: &Server) -> u64 {
    // Fetching the log info advances the trusted checkpoint: a rollback or fork of
    // anything acknowledged before the crash is refused here.
    let info = c
        .log_info()
        .await
        .expect("restarted log is consistent with what was trusted");
    for a in acked {
        let got = c.record(a.answer.index).await.unwrap();
        let Record::Call(rec) = got.record else {
            panic!("entry {} is not a call", a.answer.index)
        };
        assert_eq!((rec.func.as_str(), &rec.args), (a.func.as_str(), &a.args));
        assert_eq!(rec.outcome, a.answer.result, "entry {}", a.answer.index);
    }
    // The replay of state: fold every write set in log order.
    let mut state: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for i in 0..info.size {
        if let Record::Call(rec) = c.record(i).await.unwrap().record
            && rec.app == APP
        {
            for w in rec.write_set {
                state.insert(w.key, w.value.map(|v| v.0));
            }
        }
    }
    for k in 0..KEYS {
        let key = format!("k{k}");
        let want = state.get(key.as_bytes()).cloned().flatten();
        let got = c
            .call(APP, "kv-read", &[Value::String(key.clone())])
            .await
            .unwrap();
        let Outcome::Ok(values) = &got.result else {
            panic!("kv-read {key}: {:?}", got.result)
        };
        let expected = match want {
            Some(v) => String::from_utf8(v).unwrap(),
            None => format!("error: key not found: {key}"),
        };
        assert_eq!(
            values,
            &vec![Value::String(expected)],
            "key {key} on {}",
            server.url
        );
    }
    info.size
}
