//! The JSON API end to end: a real node in a temp dir, a real server on 127.0.0.1:0,
//! a real HTTP client. Receipts and proofs are checked with the offline verifiers.

mod common;

use common::*;
use ledgervm_log::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use ledgervm_log::note::Verifier;
use ledgervm_node::Receipt;
use ledgervm_node::receipt::verify_checkpoint;
use ledgervm_node::record::{Outcome, Record};
use ledgervm_runtime::value::Value;
use serde_json::{Value as Json, json};

fn receipt_of(body: &Json) -> Receipt {
    serde_json::from_value(body["receipt"].clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The latest checkpoint from `/v1/log`, signature-checked: (size, root).
async fn checkpoint(s: &TestServer, vkey: &str) -> (u64, [u8; 32]) {
    let (_, log) = s.get_json("/v1/log").await;
    let v = Verifier::from_vkey(vkey).unwrap();
    let (cp, _) = verify_checkpoint(log["checkpoint"].as_str().unwrap().as_bytes(), &v).unwrap();
    assert_eq!(
        log["size"], cp.size,
        "size agrees with the checkpoint it comes with"
    );
    assert_eq!(log["origin"], cp.origin);
    (cp.size, cp.root_hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sum_loads_calls_and_everything_verifies() {
    let s = start().await;
    let module = guest("sum.wasm");
    let resp = s
        .http
        .put(s.url("/v1/apps/sum.wasm"))
        .header("content-type", "application/wasm")
        .body(module.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/v1/apps/sum.wasm");
    let (st, info) = status_json(resp).await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(info["name"], "sum.wasm");
    assert_eq!(info["code_hash"], ledgervm_node::ids::sha256_hex(&module));
    assert!(
        info["cid"].as_str().unwrap().starts_with("bafkrei"),
        "{info}"
    );
    assert_eq!(info["app_kind"], "core_module");
    assert_eq!(info["size"], module.len());
    assert_eq!(info["policy"], "anonymous");
    assert!(
        info["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "Sum"),
        "{info}"
    );
    assert_eq!(info["index"], 1, "entry 0 is the log's config record");

    let (st, list) = s.get_json("/v1/apps").await;
    assert_eq!((st, list["apps"].as_array().unwrap().len()), (200, 1));
    assert_eq!(s.get_json("/v1/apps/sum.wasm").await, (200, info.clone()));

    let vkey = vkey(&s).await;
    let (st, body) = s
        .call(
            "sum.wasm",
            "Sum",
            json!([{"type": "i32", "value": 5}, {"type": "u32", "value": 7}]),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({"ok": [{"type": "i32", "value": 12}]})
    );
    assert!(body["fuel"].as_u64().unwrap() > 0);
    assert!(
        body.get("stdout").is_none(),
        "empty stdout is omitted: {body}"
    );
    let index = body["index"].as_u64().unwrap();
    let verified = receipt_of(&body).verify(&vkey).unwrap();
    assert_eq!(verified.index, index);
    let Record::Call(call) = &verified.record else {
        panic!("{:?}", verified.record)
    };
    assert_eq!((call.app.as_str(), call.func.as_str()), ("sum.wasm", "Sum"));
    assert_eq!(call.outcome, Outcome::Ok(vec![Value::I32(12)]));

    // The receipt endpoint, against the latest checkpoint.
    let (st, r) = s.get_json(&format!("/v1/receipts/{index}")).await;
    assert_eq!(st, 200, "{r}");
    let again: Receipt = serde_json::from_value(r).unwrap();
    assert_eq!(again.verify(&vkey).unwrap().record, verified.record);
    // A receipt checked against another log's key fails.
    let other = ledgervm_log::note::Signer::generate("localhost/ledgervm")
        .unwrap()
        .verifier()
        .vkey();
    assert!(again.verify(&other).is_err());

    // The record endpoint: decoded record plus receipt.
    let (st, rec) = s.get_json(&format!("/v1/records/{index}")).await;
    assert_eq!(st, 200, "{rec}");
    assert_eq!(
        (rec["index"].as_u64(), rec["record"]["kind"].as_str()),
        (Some(index), Some("call"))
    );
    assert_eq!(rec["record"]["app"], "sum.wasm");
    let rr = receipt_of(&rec);
    rr.verify(&vkey).unwrap();
    let (st, load_rec) = s.get_json("/v1/records/1").await;
    assert_eq!(
        (st, load_rec["record"]["kind"].as_str()),
        (200, Some("app.load"))
    );

    // Inclusion proof from the proofs endpoint, checked against the signed checkpoint.
    let (size, root) = checkpoint(&s, &vkey).await;
    let (st, p) = s
        .get_json(&format!("/v1/proofs/inclusion?index={index}&size={size}"))
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(
        (p["index"].as_u64(), p["size"].as_u64()),
        (Some(index), Some(size))
    );
    let leaf = leaf_hash(rr.entry.as_bytes());
    verify_inclusion(index, size, &leaf, &hashes(&p["proof"]), &root).unwrap();
    // A different leaf does not verify with that proof.
    assert!(
        verify_inclusion(
            index,
            size,
            &leaf_hash(b"forged"),
            &hashes(&p["proof"]),
            &root
        )
        .is_err()
    );

    // More calls, then a consistency proof between the two signed checkpoints.
    for a in 0..3 {
        let (st, _) = s
            .call(
                "sum.wasm",
                "Sum",
                json!([{"type": "i32", "value": a}, {"type": "i32", "value": 1}]),
            )
            .await;
        assert_eq!(st, 200);
    }
    let (size2, root2) = checkpoint(&s, &vkey).await;
    assert!(size2 >= size + 3);
    let (st, c) = s
        .get_json(&format!("/v1/proofs/consistency?old={size}&new={size2}"))
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["old"].as_u64(), c["new"].as_u64()),
        (Some(size), Some(size2))
    );
    verify_consistency(size, size2, &root, &root2, &hashes(&c["proof"])).unwrap();
    assert!(verify_consistency(size, size2, &root2, &root2, &hashes(&c["proof"])).is_err());

    // The module is a blob named by its code hash.
    let resp = s
        .http
        .get(s.url(&format!("/blobs/{}", info["code_hash"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), module.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_failures_are_recorded_and_answered_422_with_a_receipt() {
    let s = start().await;
    s.load_wat("arith", ARITH_WAT).await;
    let vkey = vkey(&s).await;
    let cases = [
        ("boom", json!([]), "trap"),
        ("nope", json!([]), "no_such_function"),
        (
            "add",
            json!([{"type": "string", "value": "x"}, {"type": "i32", "value": 1}]),
            "bad_arguments",
        ),
    ];
    for (func, args, code) in cases {
        let (st, body) = s.call("arith", func, args).await;
        assert_eq!(st, 422, "{func}: {body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().unwrap().len() > 3);
        assert_eq!(body["result"]["err"]["error"], code, "{body}");
        let v = receipt_of(&body).verify(&vkey).unwrap();
        assert_eq!(Some(v.index), body["index"].as_u64());
        let Record::Call(call) = v.record else {
            panic!()
        };
        match call.outcome {
            Outcome::Err(e) => assert_eq!(e.code(), code),
            other => panic!("{other:?}"),
        }
    }
    // Fuel from the load options decides the outcome.
    let (st, _) = s
        .load("tight", ARITH_WAT.to_string(), "text/plain; charset=utf-8")
        .await;
    assert_eq!(st, 201);
    let q = "/v1/apps/tight?fuel=1000&deadline_ms=2000&max_output_bytes=64";
    let resp = s
        .http
        .put(s.url(q))
        .header("content-type", "text/plain")
        .body(ARITH_WAT)
        .send()
        .await
        .unwrap();
    let (st, info) = status_json(resp).await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(
        (
            info["limits"]["fuel"].as_u64(),
            info["limits"]["deadline"].as_u64()
        ),
        (Some(1000), Some(2000))
    );
    let (st, body) = s
        .call(
            "tight",
            "spin",
            json!([{"type": "i64", "value": 1_000_000}]),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("out_of_fuel")),
        "{body}"
    );
    let (st, body) = s
        .call("tight", "spin", json!([{"type": "i64", "value": 10}]))
        .await;
    assert_eq!(
        (st, &body["result"]["ok"][0]["value"]),
        (200, &json!(10)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_its_code_and_the_server_keeps_serving() {
    let opts = ledgervm_server::ServerOptions {
        body_limit: 1024,
        module_limit: 8 * 1024,
        ..Default::default()
    };
    let s = start_with(opts).await;
    s.load_wat("arith", ARITH_WAT).await;
    let post = |path: &str, ct: &str, body: &str| {
        s.http
            .post(s.url(path))
            .header("content-type", ct)
            .body(body.to_string())
            .send()
    };

    // Loads.
    assert_error(
        &s.load("a%20b", ARITH_WAT.to_string(), "text/plain").await,
        400,
        "invalid_app_name",
    );
    assert_error(
        &s.load(&"x".repeat(129), ARITH_WAT.to_string(), "text/plain")
            .await,
        400,
        "invalid_app_name",
    );
    let junk = b"\0asm\x01\0\0\0\xff\xff garbage".to_vec();
    let (st, body) = s.load("junk", junk, "application/wasm").await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["code"].as_str().unwrap().starts_with("load."),
        "{body}"
    );
    assert_error(
        &s.load("junk", "(module (func", "text/plain").await,
        400,
        "load.not_wasm",
    );
    assert_error(
        &s.load("ct", ARITH_WAT.to_string(), "image/png").await,
        415,
        "unsupported_media_type",
    );
    assert_error(
        &s.load("big", vec![b' '; 9 * 1024], "text/plain").await,
        413,
        "body_too_large",
    );
    let resp = s
        .http
        .put(s.url("/v1/apps/q?fule=1"))
        .header("content-type", "text/plain")
        .body(ARITH_WAT)
        .send();
    assert_error(&status_json(resp.await.unwrap()).await, 400, "bad_query");
    let resp = s
        .http
        .put(s.url("/v1/apps/q?deadline_ms=0"))
        .header("content-type", "text/plain")
        .body(ARITH_WAT)
        .send();
    assert_error(
        &status_json(resp.await.unwrap()).await,
        400,
        "invalid_limits",
    );
    let resp = s
        .http
        .put(s.url("/v1/apps/q?policy=root"))
        .header("content-type", "text/plain")
        .body(ARITH_WAT)
        .send();
    assert_error(&status_json(resp.await.unwrap()).await, 400, "bad_query");

    // Calls.
    let (st, body) = status_json(
        post(
            "/v1/apps/arith/calls/add",
            "application/json",
            "{\"args\": [",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_error(&(st, body.clone()), 400, "bad_json");
    assert!(
        body["message"].as_str().unwrap().contains("line 1"),
        "serde's message: {body}"
    );
    assert_error(
        &status_json(
            post("/v1/apps/arith/calls/add", "application/json", "[1]")
                .await
                .unwrap(),
        )
        .await,
        400,
        "bad_json",
    );
    assert_error(
        &status_json(
            post("/v1/apps/arith/calls/add", "text/plain", "{}")
                .await
                .unwrap(),
        )
        .await,
        415,
        "unsupported_media_type",
    );
    let huge = format!(
        "{{\"args\": [{{\"type\":\"string\",\"value\":\"{}\"}}]}}",
        "x".repeat(2048)
    );
    assert_error(
        &status_json(
            post("/v1/apps/arith/calls/add", "application/json", &huge)
                .await
                .unwrap(),
        )
        .await,
        413,
        "body_too_large",
    );
    let (st, body) = s
        .call("arith", "add", json!([{"type": "u9", "value": 1}]))
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["code"].as_str().unwrap().starts_with("value."),
        "{body}"
    );
    assert_error(
        &s.call("ghost", "add", json!([])).await,
        404,
        "app_not_found",
    );
    assert_error(
        &s.call("bad%20name", "add", json!([])).await,
        400,
        "invalid_app_name",
    );

    // Reads.
    assert_error(&s.get_json("/v1/apps/ghost").await, 404, "app_not_found");
    assert_error(&s.get_json("/v1/records/abc").await, 400, "bad_path");
    assert_error(&s.get_json("/v1/records/999999").await, 400, "out_of_range");
    assert_error(
        &s.get_json("/v1/receipts/999999").await,
        400,
        "out_of_range",
    );
    assert_error(
        &s.get_json("/v1/proofs/inclusion?index=0").await,
        400,
        "bad_query",
    );
    assert_error(
        &s.get_json("/v1/proofs/inclusion?index=5&size=2").await,
        400,
        "out_of_range",
    );
    assert_error(
        &s.get_json("/v1/proofs/consistency?old=3&new=2").await,
        400,
        "out_of_range",
    );
    assert_error(
        &s.get_json("/v1/proofs/consistency?old=1&new=999999").await,
        400,
        "out_of_range",
    );
    assert_error(&s.get_json("/blobs/xyz").await, 400, "invalid_blob_name");
    assert_error(
        &s.get_json(&format!("/blobs/{}", "0".repeat(64))).await,
        404,
        "blob_not_found",
    );
    assert_error(&s.get_json("/v1/nothing").await, 404, "route_not_found");
    let resp = s.http.patch(s.url("/v1/apps")).send().await.unwrap();
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    assert_error(&status_json(resp).await, 405, "method_not_allowed");
    assert!(allow.is_some_and(|a| a.contains("GET")));
    let resp = s.http.delete(s.url("/v1/apps/ghost")).send().await.unwrap();
    assert_error(&status_json(resp).await, 404, "app_not_found");

    // Still serving.
    let (st, body) = s
        .call(
            "arith",
            "add",
            json!([{"type": "i32", "value": 2}, {"type": "i32", "value": 3}]),
        )
        .await;
    assert_eq!(
        (st, &body["result"]["ok"][0]["value"]),
        (200, &json!(5)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_keeps_history_and_reload_is_a_new_record() {
    let s = start().await;
    let first = s.load_wat("app", ARITH_WAT).await;
    let resp = s.http.delete(s.url("/v1/apps/app")).send().await.unwrap();
    let (st, body) = status_json(resp).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (&body["name"], &body["code_hash"]),
        (&first["name"], &first["code_hash"])
    );
    let unload_index = body["index"].as_u64().unwrap();
    assert!(unload_index > first["index"].as_u64().unwrap());
    assert_error(&s.get_json("/v1/apps/app").await, 404, "app_not_found");
    assert_error(&s.call("app", "add", json!([])).await, 404, "app_not_found");
    let (st, rec) = s.get_json(&format!("/v1/records/{unload_index}")).await;
    assert_eq!(
        (st, rec["record"]["kind"].as_str()),
        (200, Some("app.unload"))
    );
    let again = s.load_wat("app", ARITH_WAT).await;
    assert!(again["index"].as_u64() > Some(unload_index));
    assert_eq!(again["code_hash"], first["code_hash"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_only_apps_refuse_anonymous_calls() {
    let s = start().await;
    let resp = s
        .http
        .put(s.url("/v1/apps/locked?policy=signed"))
        .header("content-type", "text/plain")
        .body(ARITH_WAT)
        .send()
        .await
        .unwrap();
    let (st, info) = status_json(resp).await;
    assert_eq!((st, info["policy"].as_str()), (201, Some("signed")));
    assert_error(
        &s.call("locked", "add", json!([])).await,
        401,
        "auth.signature_required",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enclave_example_component_over_http() {
    let s = start().await;
    let (st, info) = s
        .load(
            "enclave-example",
            guest("enclave_example.wasm"),
            "application/wasm",
        )
        .await;
    assert_eq!(st, 201, "{info}");
    assert_eq!(info["app_kind"], "component");
    let vkey = vkey(&s).await;
    let (st, body) = s.call("enclave-example", "hello", json!([])).await;
    assert_eq!(
        (st, &body["result"]["ok"]),
        (200, &json!([{"type": "string", "value": "Hello, World!"}])),
        "{body}"
    );
    receipt_of(&body).verify(&vkey).unwrap();
    let kv =
        |k: &str, v: &str| json!([{"type": "string", "value": k}, {"type": "string", "value": v}]);
    let (st, body) = s
        .call("enclave-example", "kv-store", kv("colour", "teal"))
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = s
        .call(
            "enclave-example",
            "kv-read",
            json!([{"type": "string", "value": "colour"}]),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        body["result"]["ok"][0]["value"]
            .as_str()
            .unwrap()
            .contains("teal"),
        "{body}"
    );
    let (st, body) = s.call("enclave-example", "get-random", json!([])).await;
    assert_eq!(st, 200, "{body}");
    let n = body["result"]["ok"][0]["value"].as_u64().unwrap();
    assert!((1..=100).contains(&n));
    receipt_of(&body).verify(&vkey).unwrap();
}
