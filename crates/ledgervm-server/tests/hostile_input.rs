//! Hostile input against a real server on loopback: oversized requests, slow requests
//! and deeply nested JSON end in a 4xx answer or a timeout, each with a stable code, and
//! the server keeps serving (and its log keeps verifying) afterwards.

mod common;

use common::*;
use ledgervm_server::ServerOptions;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server still answers and its log still verifies.
async fn still_serving(s: &TestServer) {
    let (st, log) = s.get_json("/v1/log").await;
    assert_eq!(st, 200, "{log}");
    let (st, body) = s
        .call(
            "arith",
            "add",
            json!([{"type": "i32", "value": 2}, {"type": "i32", "value": 3}]),
        )
        .await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_times_out_and_does_not_block_others() {
    let s = start_with(ServerOptions {
        request_timeout: Duration::from_millis(800),
        // Raw HTTP/1.1 on the socket: the slow body is the point, not TLS.
        tls: None,
        ..ServerOptions::default()
    })
    .await;
    s.load_wat("arith", ARITH_WAT).await;
    let addr = s.addr();
    // Slowloris on the body: a complete head, then one byte every 100 ms of a 10 kB body.
    let slow = tokio::spawn(async move {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let head = "POST /v1/apps/arith/calls/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\nConnection: close\r\n\r\n";
        c.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        loop {
            tokio::select! {
                n = c.read_buf(&mut buf) => if n.unwrap_or(0) == 0 { break },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if c.write_all(b" ").await.is_err() { break }
                }
            }
            // A hard bound for the test itself: the 10 kB body would take 1000 s.
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "slow body never cut off"
            );
        }
        String::from_utf8_lossy(&buf).to_string()
    });
    // Meanwhile other clients are served.
    for _ in 0..5 {
        still_serving(&s).await;
    }
    let answer = slow.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    still_serving(&s).await;
}

/// Slowloris on the head: one header line every 500 ms, forever. A server should close
/// such a connection after a header-read timeout. `axum::serve` runs hyper without a
/// timer, so hyper's 30 s header timeout never fires: this is an open finding
/// (docs/SECURITY.md), to be fixed with the accept loop that TLS brings.
/// Run: `cargo nextest run --workspace -E 'test(slow_headers)' --run-ignored only`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "open finding: no header-read timeout until the server has its own accept loop"]
async fn slow_headers_are_cut_off() {
    let s = start().await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(b"GET /v1/log HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            n = c.read(&mut buf) => {
                // Closed (0 bytes or reset) or answered (408): cut off either way.
                let _ = n;
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if c.write_all(b"X-Slow: a\r\n").await.is_err() { break }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "slow head never cut off"
        );
    }
    still_serving_after_slowloris(&s).await;
}

async fn still_serving_after_slowloris(s: &TestServer) {
    let (st, _) = s.get_json("/v1/log").await;
    assert_eq!(st, 200);
}
