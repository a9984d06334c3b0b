//! Shared helpers: a real node in a temp dir behind a real server on 127.0.0.1:0, a
//! reqwest client, raw HTTP for paths a URL library would normalise, and guest bytes.
#![allow(dead_code)]

use ledgervm_node::{Node, NodeOptions};
use ledgervm_runtime::RuntimeConfig;
use ledgervm_server::{ServerHandle, ServerOptions, serve};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `LEDGERVM_GUESTS_DIR`, or `<repo>/guests/out` (filled by `scripts/build-guests`).
pub fn guests_dir() -> PathBuf {
    match std::env::var_os("LEDGERVM_GUESTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest_dir().join("../../guests/out"),
    }
}

/// The bytes of a built guest.
pub fn guest(name: &str) -> Vec<u8> {
    let p = guests_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — build the guests first: scripts/build-guests",
            p.display()
        )
    })
}

/// A WAT module exercising success, a trap and stdout-free arithmetic.
pub const ARITH_WAT: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "boom") unreachable)
  (func (export "spin") (param $n i64) (result i64)
    (local $i i64)
    (loop $l
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))"#;

/// A node in a temp dir and a server in front of it.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub node: Node,
    pub handle: Option<ServerHandle>,
    pub base: String,
    pub http: reqwest::Client,
}

/// A plain-HTTP server (so raw TCP requests work); [`start_with`] takes any options.
pub async fn start() -> TestServer {
    start_with(ServerOptions {
        tls: None,
        ..ServerOptions::default()
    })
    .await
}

pub async fn start_with(opts: ServerOptions) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut nopts = NodeOptions::new(dir.path().join("data"));
    nopts.runtime = RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    };
    let node = Node::open(nopts).await.unwrap();
    let handle = serve(node.clone(), "127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let base = handle.url();
    // Unified features give reqwest `rustls-no-provider`; ring is already in the tree.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Under TLS the certificate is self-signed; these tests check the API, the binding
    // is checked by tests/attestation.rs.
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    TestServer {
        dir,
        node,
        handle: Some(handle),
        base,
        http,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.as_ref().unwrap().local_addr()
    }

    /// PUT a module; returns (status, JSON body).
    pub async fn load(
        &self,
        name: &str,
        bytes: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> (u16, Value) {
        let resp = self
            .http
            .put(self.url(&format!("/v1/apps/{name}")))
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        status_json(resp).await
    }

    /// Loads WAT text and asserts 201.
    pub async fn load_wat(&self, name: &str, wat: &str) -> Value {
        let (status, body) = self.load(name, wat.to_string(), "text/plain").await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// POST a call with typed args; returns (status, JSON body).
    pub async fn call(&self, app: &str, func: &str, args: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/v1/apps/{app}/calls/{func}")))
            .json(&serde_json::json!({ "args": args }))
            .send()
            .await
            .unwrap();
        status_json(resp).await
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        status_json(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await.unwrap();
        }
    }
}

/// Status and JSON body; panics if the body is not JSON.
pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text:?}"));
    assert!(
        ct.starts_with("application/json"),
        "status {status}: content-type {ct:?}"
    );
    (status, body)
}

/// Asserts an error answer: status, code, and a non-empty message.
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
}

/// A raw HTTP/1.1 GET with the path sent exactly as given (no normalisation of `..` or
/// percent-escapes). Returns (status, headers text, body bytes).
pub async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, buf[split + 4..].to_vec())
}

/// The log's vkey, from `/v1/log`.
pub async fn vkey(s: &TestServer) -> String {
    let (st, log) = s.get_json("/v1/log").await;
    assert_eq!(st, 200);
    log["vkey"].as_str().unwrap().to_string()
}

/// Decodes a JSON array of base64 hashes.
pub fn hashes(v: &Value) -> Vec<[u8; 32]> {
    use base64::Engine as _;
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// The crate's directory, read at run time: the shared target directory may hold a test
/// binary that was built in another checkout, and `env!` would point there.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}
