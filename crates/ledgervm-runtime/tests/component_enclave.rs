//! The enclave-example component against the seed's "Expected results" table, and
//! record → replay for every export.

mod support;

use ledgervm_runtime::http::EgressConfig;
use ledgervm_runtime::state::{MemoryState, SharedState, StateStore, shared};
use ledgervm_runtime::transcript::OracleEvent;
use ledgervm_runtime::value::{Field, FuncType, Value, ValueType};
use ledgervm_runtime::{AppKind, CallError, CallOutcome, CallRequest, LoadedApp};
use support::https_server::TestServer;
use support::*;

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

async fn call(app: &LoadedApp, state: &SharedState, func: &str, args: Vec<Value>) -> CallOutcome {
    app.call(CallRequest::live(func, args), state.clone()).await
}

fn string_result(out: &CallOutcome) -> String {
    match &out.result {
        Ok(v) => match v.as_slice() {
            [Value::String(s)] => s.clone(),
            other => panic!("expected one string, got {other:?}"),
        },
        Err(e) => panic!("call failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_introspected_with_wit_types() {
    let rt = runtime();
    let app = load_enclave(&rt, EgressConfig::default());
    assert_eq!(app.kind(), AppKind::Component);
    let string_fn = |params: &[&str]| FuncType {
        params: params
            .iter()
            .map(|p| Field::new(*p, ValueType::String))
            .collect(),
        results: vec![ValueType::String],
    };
    let want = vec![
        ("hello".to_string(), string_fn(&[])),
        (
            "get-random".to_string(),
            FuncType {
                params: vec![],
                results: vec![ValueType::U32],
            },
        ),
        ("get-time".to_string(), string_fn(&[])),
        ("kv-store".to_string(), string_fn(&["key", "value"])),
        ("kv-read".to_string(), string_fn(&["key"])),
        ("fetch-headlines".to_string(), string_fn(&[])),
        ("whoami".to_string(), string_fn(&[])),
    ];
    assert_eq!(app.exports(), want.as_slice());
    assert_eq!(app.code_hash().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_random_time_match_the_seed_table() {
    let rt = runtime();
    let app = load_enclave(&rt, EgressConfig::default());
    let state = shared(MemoryState::new());

    let out = call(&app, &state, "hello", vec![]).await;
    assert_eq!(out.result, Ok(vec![s("Hello, World!")]));
    assert!(out.transcript.events.is_empty(), "hello uses no oracle");
    assert!(out.fuel_consumed > 0);

    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let out = call(&app, &state, "get-random", vec![]).await;
        let n = match out.result.as_deref() {
            Ok([Value::U32(n)]) => *n,
            other => panic!("{other:?}"),
        };
        assert!((1..=100).contains(&n), "{n}");
        // The answer came from the oracle as one event for the one host call
        // (`get-random-bytes(4)`), holding exactly the 4 bytes the guest got.
        match out.transcript.events.as_slice() {
            [OracleEvent::Random { bytes }] => {
                assert_eq!(bytes.len(), 4);
                let w = u32::from_le_bytes(bytes.as_slice().try_into().unwrap());
                assert_eq!(n, w % 100 + 1, "get-random maps its word to 1..=100");
            }
            other => panic!("{other:?}"),
        }
        seen.insert(n);
    }
    assert!(seen.len() > 5, "random values vary: {seen:?}");

    let out = call(&app, &state, "get-time", vec![]).await;
    let text = string_result(&out);
    let (secs, nanos) = text.split_once('.').unwrap();
    assert_eq!(nanos.len(), 9, "{text}");
    let secs: u64 = secs.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) < 120, "{secs} vs {now}");
    match out.transcript.events.as_slice() {
        [
            OracleEvent::WallClock {
                secs: s2,
                nanos: n2,
            },
        ] => {
            assert_eq!(text, format!("{s2}.{n2:09}"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_store_and_read_use_the_app_state() {
    let rt = runtime();
    let app = load_enclave(&rt, EgressConfig::default());
    let mem = std::sync::Arc::new(parking_lot::Mutex::new(MemoryState::new()));
    let state: SharedState = mem.clone();

    let out = call(
        &app,
        &state,
        "kv-store",
        vec![s("greeting"), s("Hello from WASM in SGX!")],
    )
    .await;
    assert_eq!(out.result, Ok(vec![s("stored: greeting")]));
    assert_eq!(
        mem.lock().get(b"greeting").unwrap().as_deref(),
        Some(&b"Hello from WASM in SGX!"[..])
    );
    let out = call(&app, &state, "kv-read", vec![s("greeting")]).await;
    assert_eq!(out.result, Ok(vec![s("Hello from WASM in SGX!")]));
    let out = call(&app, &state, "kv-read", vec![s("missing")]).await;
    assert_eq!(out.result, Ok(vec![s("error: key not found: missing")]));
    // State is not an oracle.
    assert!(out.transcript.events.is_empty());

    // A store error reaches the guest as a coded message, not a trap.
    let big = "k".repeat(ledgervm_runtime::state::MAX_KEY_BYTES + 1);
    let out = call(&app, &state, "kv-store", vec![s(&big), s("v")]).await;
    assert!(
        string_result(&out).starts_with("error: state.key_too_large"),
        "{:?}",
        out.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_identity_is_exposed() {
    let rt = runtime();
    let app = load_enclave(&rt, EgressConfig::default());
    let state = shared(MemoryState::new());
    let out = call(&app, &state, "whoami", vec![]).await;
    assert_eq!(out.result, Ok(vec![s("anonymous")]));
    let out = app
        .call(
            CallRequest::live("whoami", vec![])
                .with_caller(ledgervm_runtime::Caller::with_id("ab12")),
            state.clone(),
        )
        .await;
    assert_eq!(out.result, Ok(vec![s("ab12")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_are_checked_before_the_call() {
    let rt = runtime();
    let app = load_enclave(&rt, EgressConfig::default());
    let state = shared(MemoryState::new());
    let out = call(&app, &state, "kv-read", vec![Value::U32(1)]).await;
    assert!(
        matches!(&out.result, Err(CallError::BadArguments { message }) if message.contains("key")),
        "{:?}",
        out.result
    );
    assert_eq!(out.fuel_consumed, 0);
    let out = call(&app, &state, "kv-store", vec![s("only one")]).await;
    assert!(
        matches!(out.result, Err(CallError::BadArguments { .. })),
        "{:?}",
        out.result
    );
    let out = call(&app, &state, "nope", vec![]).await;
    assert!(matches!(out.result, Err(CallError::NoSuchFunction { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_headlines_from_a_local_https_server() {
    let server = TestServer::start().await;
    let rt = runtime();
    let app = load_enclave(&rt, egress_for(&server));
    let state = shared(MemoryState::new());
    call(
        &app,
        &state,
        "kv-store",
        vec![s("headlines-url"), s(&server.url("/feed"))],
    )
    .await;

    let out = call(&app, &state, "fetch-headlines", vec![]).await;
    let text = string_result(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "capped at 10: {text}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("{}. Headline {}", i + 1, i + 1));
    }
    match out.transcript.events.as_slice() {
        [
            OracleEvent::Http {
                request,
                response: Ok(resp),
            },
        ] => {
            assert_eq!(request.method, "GET");
            assert_eq!(request.url, server.url("/feed"));
            assert_eq!(
                request.headers,
                vec![(
                    "accept".to_string(),
                    "application/rss+xml, text/xml".to_string()
                )]
            );
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body, support::https_server::rss(12).into_bytes());
            let names: Vec<&str> = resp.headers.iter().map(|(k, _)| k.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "response headers are recorded sorted");
        }
        other => panic!("{other:?}"),
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/feed");

    // Two items is still a valid list (the seed asks for at least 2).
    call(
        &app,
        &state,
        "kv-store",
        vec![s("headlines-url"), s(&server.localhost_url("/two"))],
    )
    .await;
    // localhost resolves to 127.0.0.1, which the rule allows on this port.
    let out = call(&app, &state, "fetch-headlines", vec![]).await;
    assert_eq!(string_result(&out), "1. Headline 1\n2. Headline 2");
}

/// Runs `calls` live, then replays each with its transcript on a state that evolves the
/// same way, and requires identical outcomes (results, fuel, transcript, output).
async fn record_then_replay(
    app: &LoadedApp,
    calls: &[(&str, Vec<Value>)],
    seed: &[(&str, &str)],
) -> Vec<CallOutcome> {
    let make_state = || {
        let mut m = MemoryState::new();
        for (k, v) in seed {
            m.set(k.as_bytes(), v.as_bytes()).unwrap();
        }
        shared(m)
    };
    let live_state = make_state();
    let mut live = Vec::new();
    for (f, args) in calls {
        live.push(
            app.call(CallRequest::live(*f, args.clone()), live_state.clone())
                .await,
        );
    }
    let replay_state = make_state();
    for ((f, args), rec) in calls.iter().zip(&live) {
        let replayed = app
            .call(
                CallRequest::replay(*f, args.clone(), rec.transcript.clone()),
                replay_state.clone(),
            )
            .await;
        assert_eq!(&replayed, rec, "replay of {f} differs");
    }
    live
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_replay_is_bit_identical_over_1000_calls() {
    let server = TestServer::start().await;
    let rt = runtime();
    let app = load_enclave(&rt, egress_for(&server));
    let url = server.url("/feed");
    let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
    for i in 0..1000 {
        let c = match i % 6 {
            0 => ("hello", vec![]),
            1 => ("get-random", vec![]),
            2 => ("get-time", vec![]),
            3 => (
                "kv-store",
                vec![s(&format!("k{}", i % 17)), s(&format!("v{i}"))],
            ),
            4 => ("kv-read", vec![s(&format!("k{}", i % 13))]),
            _ => ("fetch-headlines", vec![]),
        };
        calls.push(c);
    }
    let live = record_then_replay(&app, &calls, &[("headlines-url", url.as_str())]).await;
    assert!(
        live.iter().all(|o| o.result.is_ok()),
        "every call succeeded"
    );
    let http_calls = live
        .iter()
        .filter(|o| {
            matches!(
                o.transcript.events.as_slice(),
                [OracleEvent::Http {
                    response: Ok(_),
                    ..
                }]
            )
        })
        .count();
    assert_eq!(http_calls, 1000 / 6);
    assert_eq!(
        server.seen().len(),
        1000 / 6,
        "replays never touch the network"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_transcripts_change_results_or_diverge() {
    let server = TestServer::start().await;
    let rt = runtime();
    let app = load_enclave(&rt, egress_for(&server));
    let url = server.url("/feed");
    let state = shared(MemoryState::new());
    call(&app, &state, "kv-store", vec![s("headlines-url"), s(&url)]).await;
    let live = call(&app, &state, "fetch-headlines", vec![]).await;
    assert!(live.result.is_ok());

    // A tampered response body replays to a different result: an auditor comparing
    // results sees the lie.
    let mut t = live.transcript.clone();
    if let OracleEvent::Http {
        response: Ok(resp), ..
    } = &mut t.events[0]
    {
        resp.body = support::https_server::rss(3).into_bytes();
    }
    let out = app
        .call(
            CallRequest::replay("fetch-headlines", vec![], t),
            state.clone(),
        )
        .await;
    assert_eq!(
        string_result(&out),
        "1. Headline 1\n2. Headline 2\n3. Headline 3"
    );
    assert_ne!(out.result, live.result);

    // A tampered recorded request (headers) no longer matches what the guest asks.
    let mut t = live.transcript.clone();
    if let OracleEvent::Http { request, .. } = &mut t.events[0] {
        request.headers.push(("x-forged".into(), "1".into()));
    }
    let out = app
        .call(
            CallRequest::replay("fetch-headlines", vec![], t),
            state.clone(),
        )
        .await;
    match &out.result {
        Err(CallError::Divergence(d)) => {
            assert_eq!(d.oracle_index, 0);
            assert!(
                d.asked.contains(&url) && d.asked.contains("accept="),
                "{}",
                d.asked
            );
        }
        other => panic!("{other:?}"),
    }

    // A different request (the guest now asks for another URL) diverges, naming both.
    call(
        &app,
        &state,
        "kv-store",
        vec![s("headlines-url"), s(&server.url("/two"))],
    )
    .await;
    let out = app
        .call(
            CallRequest::replay("fetch-headlines", vec![], live.transcript.clone()),
            state.clone(),
        )
        .await;
    match &out.result {
        Err(CallError::Divergence(d)) => {
            assert!(d.asked.contains("/two"), "{}", d.asked);
            assert!(d.expected.contains("/feed"), "{}", d.expected);
        }
        other => panic!("{other:?}"),
    }

    // A tampered random answer changes get-random's result, and a missing one diverges.
    let live = call(&app, &state, "get-random", vec![]).await;
    let mut t = live.transcript.clone();
    if let OracleEvent::Random { bytes } = &mut t.events[0] {
        let w = u32::from_le_bytes(bytes.as_slice().try_into().unwrap());
        *bytes = w.wrapping_add(1).to_le_bytes().to_vec();
    }
    let out = app
        .call(CallRequest::replay("get-random", vec![], t), state.clone())
        .await;
    assert_ne!(out.result, live.result);
    let mut t = live.transcript.clone();
    t.events.clear();
    let out = app
        .call(CallRequest::replay("get-random", vec![], t), state.clone())
        .await;
    assert!(
        matches!(out.result, Err(CallError::Divergence(_))),
        "{:?}",
        out.result
    );
    assert!(
        server.seen().len() == 1,
        "only the one live fetch reached the server"
    );
}
