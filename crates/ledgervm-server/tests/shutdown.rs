//! Graceful shutdown: a call in flight when shutdown starts still gets its 200 and a
//! receipt that verifies, and the server stops accepting connections.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_call_finishes_during_shutdown() {
    let mut s = start().await;
    // Enough fuel for a loop that runs a noticeable while.
    let resp = s
        .http
        .put(s.url("/v1/apps/slow?fuel=4000000000&deadline_ms=60000"))
        .header("content-type", "text/plain")
        .body(ARITH_WAT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let vkey = vkey(&s).await;

    let http = s.http.clone();
    let url = s.url("/v1/apps/slow/calls/spin");
    let call = tokio::spawn(async move {
        let body = json!({"args": [{"type": "i64", "value": 200_000_000i64}]});
        status_json(http.post(url).json(&body).send().await.unwrap()).await
    });
    // Wait until the server is handling it (no sleeps deciding the outcome).
    let handle = s.handle.take().unwrap();
    let addr = handle.local_addr();
    let mut waited = 0;
    while handle.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        waited += 1;
        assert!(waited < 10_000, "the call never reached the server");
    }
    let shutdown = tokio::spawn(handle.shutdown());
    let (st, body) = call.await.unwrap();
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["result"]["ok"][0]["value"], 200_000_000);
    let receipt: ledgervm_node::Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
    receipt.verify(&vkey).unwrap();
    shutdown.await.unwrap().unwrap();
    // The call is durable in the node, and the listener is gone.
    assert!(s.node.size() >= 3);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
