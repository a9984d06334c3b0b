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

/// Sends `head` (and optionally a body) on a raw connection; returns the status of the
/// answer, or `None` if the server closed the connection without one.
async fn raw(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read everything we send.
    let _ = s.write_all(head).await;
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let line = String::from_utf8_lossy(&buf);
    line.split(' ').nth(1).and_then(|c| c.parse().ok())
}

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
async fn deeply_nested_json_is_a_400_with_a_stable_code() {
    let s = start().await;
    s.load_wat("arith", ARITH_WAT).await;
    // Far past serde_json's recursion limit: refused while parsing, without recursion
    // deep enough to overflow the stack.
    let deep = format!(
        "{{\"args\":{}{}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let resp = s
        .http
        .post(s.url("/v1/apps/arith/calls/add"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_error(&status_json(resp).await, 400, "bad_json");
    // Within serde's limit (128) but past the value codec's depth limit.
    let mut v = json!({"type": "bool", "value": true});
    for _ in 0..ledgervm_runtime::value::MAX_DEPTH + 10 {
        v = json!({"type": "option", "value": v});
    }
    let (st, body) = s.call("arith", "add", json!([v])).await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["code"].as_str().unwrap().starts_with("value."),
        "{body}"
    );
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused() {
    let s = start_with(ServerOptions {
        body_limit: 64 << 10,
        // Raw HTTP/1.1 on the socket: what the HTTP layer refuses is the point.
        tls: None,
        ..ServerOptions::default()
    })
    .await;
    s.load_wat("arith", ARITH_WAT).await;
    let addr = s.addr();
    // A body over the limit, announced honestly: 413 before the body is read.
    let head = format!(
        "POST /v1/apps/arith/calls/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        10 << 20
    );
    assert_eq!(raw(addr, head.as_bytes(), &[]).await, Some(413));
    // The same with chunked encoding (no length up front): 413 once the limit is passed.
    let head = "POST /v1/apps/arith/calls/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
    assert_eq!(
        raw(addr, head.as_bytes(), chunk.as_bytes()).await,
        Some(413)
    );
    // A megabyte of headers, and a megabyte of URL: refused by the HTTP layer (431/414
    // or 400), never accepted.
    let head = format!(
        "GET /v1/log HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let st = raw(addr, head.as_bytes(), &[]).await;
    assert!(st.is_some_and(|c| (400..500).contains(&c)), "{st:?}");
    let head = format!(
        "GET /v1/records/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "9".repeat(1 << 20)
    );
    let st = raw(addr, head.as_bytes(), &[]).await;
    assert!(st.is_some_and(|c| (400..500).contains(&c)), "{st:?}");
    // A module upload over its own limit.
    let resp = s
        .http
        .put(s.url("/v1/apps/big"))
        .header("content-type", "application/wasm")
        .body(vec![0u8; 40 << 20])
        .send()
        .await;
    // The server may close the connection while the client is still sending.
    if let Ok(resp) = resp {
        assert_error(&status_json(resp).await, 413, "body_too_large");
    }
    still_serving(&s).await;
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

/// Slowloris on the head: one header line every 200 ms, forever. The server's accept
/// loop gives every connection a header-read deadline, so the connection is closed (hyper
/// sends no answer for a timed-out head; a 408 would do too) while other clients are
/// served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let s = start_with(ServerOptions {
        header_read_timeout: Duration::from_secs(1),
        // Raw HTTP/1.1 on the socket: the slow head is the point, not TLS.
        tls: None,
        ..ServerOptions::default()
    })
    .await;
    s.load_wat("arith", ARITH_WAT).await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    c.write_all(b"GET /v1/log HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            n = c.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                // Writing may fail once the server has closed its end.
                let _ = c.write_all(b"X-Slow: a\r\n").await;
            }
        }
        // Served meanwhile.
        still_serving(&s).await;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "slow head never cut off"
        );
    }
    let answer = String::from_utf8_lossy(&answer);
    // Never a real answer to the half-sent request: closed (or, would hyper add one, 408).
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    still_serving(&s).await;
}

/// An idle connection (nothing sent at all) is closed after the same deadline, so idle
/// sockets cannot be hoarded either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let s = start_with(ServerOptions {
        header_read_timeout: Duration::from_millis(500),
        tls: None,
        ..ServerOptions::default()
    })
    .await;
    let mut c = TcpStream::connect(s.addr()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), c.read(&mut buf))
        .await
        .expect("idle connection never closed");
    let got = String::from_utf8_lossy(&buf[..n.unwrap_or(0)]).to_string();
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
}
