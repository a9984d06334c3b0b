//! The immudb demo route, `GET /immutable/{app}?func=Sum&a=5&b=7`, with the real `sum`
//! guest: plain text by default, the call JSON with `Accept: application/json`, and the
//! call logged like any other.

mod common;

use common::*;
use ledgervm_node::Receipt;
use ledgervm_node::record::{Outcome, Record};
use ledgervm_runtime::value::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sum_over_the_demo_route() {
    let s = start().await;
    let (st, body) = s
        .load("sum.wasm", guest("sum.wasm"), "application/wasm")
        .await;
    assert_eq!(st, 201, "{body}");
    let vkey = vkey(&s).await;

    let resp = s
        .http
        .get(s.url("/immutable/sum.wasm?func=Sum&a=5&b=7"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        resp.text().await.unwrap(),
        "verified WebAssembly app result: 12"
    );

    let resp = s
        .http
        .get(s.url("/immutable/sum.wasm?func=Sum&a=40&b=2"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (st, body) = status_json(resp).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["result"]["ok"][0]["value"], 42);
    let receipt: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
    let v = receipt.verify(&vkey).unwrap();
    let Record::Call(call) = v.record else {
        panic!()
    };
    assert_eq!(call.func, "Sum");
    assert_eq!(
        call.args,
        vec![Value::I32(40), Value::I32(2)],
        "parsed in query order against i32 params"
    );
    assert_eq!(call.outcome, Outcome::Ok(vec![Value::I32(42)]));

    // Both calls are in the log: config, load, two calls.
    let (_, log) = s.get_json("/v1/log").await;
    assert_eq!(log["size"], 4);
    let (_, rec) = s.get_json("/v1/records/2").await;
    assert_eq!(
        rec["record"]["args"],
        serde_json::json!([{"type": "i32", "value": 5}, {"type": "i32", "value": 7}])
    );

    // Errors: JSON with codes.
    assert_error(
        &s.get_json("/immutable/sum.wasm?a=5&b=7").await,
        400,
        "missing_func",
    );
    let (st, body) = s.get_json("/immutable/sum.wasm?func=Sum&a=five&b=7").await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["code"].as_str().unwrap().starts_with("value."),
        "{body}"
    );
    assert_error(
        &s.get_json("/immutable/nosuch.wasm?func=Sum&a=1&b=2").await,
        404,
        "app_not_found",
    );
    // Unknown export and wrong arity are recorded guest failures: 422 with a receipt.
    let (st, body) = s.get_json("/immutable/sum.wasm?func=Mul&a=1&b=2").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("no_such_function")),
        "{body}"
    );
    let (st, body) = s.get_json("/immutable/sum.wasm?func=Sum&a=1").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("bad_arguments")),
        "{body}"
    );
    let receipt: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
    receipt.verify(&vkey).unwrap();
}
