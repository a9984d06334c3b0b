//! The seeds' protocols against a real TLS server on loopback, each driven by a client
//! in another language, and the certificate-to-identity binding checked by this crate:
//!
//! * the binding after every load and unload (fresh connections see a new certificate
//!   naming a new document that lists exactly the loaded apps), and refused for another
//!   log's key or a mismatched document;
//! * Enclave OS's framed protocol from Python's `ssl` + `socket`
//!   (`tests/interop/frames_client.py`, run with `$LEDGERVM_PYTHON`);
//! * the WebSocket JSON-RPC from Node's `ws` (`tests/interop/node/ws_client.mjs`,
//!   installed by `scripts/install-node-tools`).

mod common;

use common::guest;
use ledgervm_client::attest::{check_binding, open_document};
use ledgervm_client::{Client, KeyPin, LoadOptions, LogKey, TrustStore};
use ledgervm_node::{Node, NodeOptions};
use ledgervm_server::{ServerHandle, ServerOptions, TlsSettings};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

struct Tls {
    _dir: tempfile::TempDir,
    node: Node,
    server: ServerHandle,
    trust: tempfile::TempDir,
}

async fn start(frames: bool) -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeOptions::new(dir.path())).await.unwrap();
    let opts = ServerOptions {
        tls: Some(TlsSettings::SelfSigned),
        frame_listen: frames.then(|| "127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let server = ledgervm_server::serve(node.clone(), "127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    Tls {
        _dir: dir,
        node,
        server,
        trust: tempfile::tempdir().unwrap(),
    }
}

impl Tls {
    /// A new client, so a new connection and the newest certificate.
    fn client(&self) -> Client {
        Client::new(
            &self.server.url(),
            TrustStore::open(self.trust.path()),
            KeyPin::Vkey(self.node.vkey().into()),
        )
        .unwrap()
    }
}

/// The server certificate of a fresh TLS connection to `addr`.
async fn peer_cert(addr: std::net::SocketAddr) -> Vec<u8> {
    let cfg = Arc::new(ledgervm_client::AttestedVerifier::client_config().unwrap());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Checks, on a fresh connection, that the certificate is bound to a document listing
/// exactly the node's apps; returns the document's digest.
async fn assert_bound(s: &Tls) -> [u8; 32] {
    let (att, tls) = s.client().attestation().await.unwrap();
    assert!(tls, "served over TLS");
    let apps: Vec<(String, String)> = s
        .node
        .apps()
        .into_iter()
        .map(|a| (a.name, a.code_hash))
        .collect();
    let listed: Vec<(String, String)> = att
        .document
        .apps
        .iter()
        .map(|a| (a.name.clone(), a.code_hash.clone()))
        .collect();
    assert_eq!(listed, apps);
    assert_eq!(att.document.engine, *s.node.engine());
    // The same through a raw TLS connection and the by-digest look-up.
    let der = peer_cert(s.server.local_addr()).await;
    let again = s.client().check_certificate(&der).await.unwrap();
    assert_eq!(again.digest, att.digest);
    att.digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_holds_after_every_load_and_unload() {
    let s = start(false).await;
    let c = s.client();
    let mut seen = vec![assert_bound(&s).await];
    let sum = guest("sum.wasm");
    let opts = LoadOptions::default();
    for step in 0..4 {
        match step {
            0 => drop(c.load("a", &sum, &opts).await.unwrap()),
            1 => drop(c.load("b", &sum, &opts).await.unwrap()),
            2 => drop(c.unload("a").await.unwrap()),
            _ => drop(c.unload("b").await.unwrap()),
        }
        let d = assert_bound(&s).await;
        assert!(!seen.contains(&d), "step {step}: a new document every time");
        seen.push(d);
    }
    // The first client's pooled connection still has the first certificate; its answers
    // are still accepted because that certificate's (older) document is bound too.
    c.apps().await.unwrap();

    // Mismatches are refused: another log's key, and a document for another certificate.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Node::open(NodeOptions::new(other_dir.path()))
        .await
        .unwrap();
    let other_key = LogKey::parse(other.vkey()).unwrap();
    let der = peer_cert(s.server.local_addr()).await;
    let note = s.server.identity().current().note.clone();
    let key = LogKey::parse(s.node.vkey()).unwrap();
    check_binding(&der, &note, &key).unwrap();
    assert!(check_binding(&der, &note, &other_key).is_err());
    let old_note = {
        let c2 = s.client();
        c2.load("c", &sum, &opts).await.unwrap();
        note
    };
    let new_der = peer_cert(s.server.local_addr()).await;
    let e = check_binding(&new_der, &old_note, &key).unwrap_err();
    assert!(e.to_string().contains("hashes to"), "{e}");
    // A self-signed certificate from another server, checked against this one.
    let s2 = start(false).await;
    let foreign = peer_cert(s2.server.local_addr()).await;
    assert!(s.client().check_certificate(&foreign).await.is_err());
    // A plain document still opens with the right key only.
    open_document(&old_note, &key).unwrap();
    assert!(open_document(&old_note, &other_key).is_err());
}

fn repo() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../..")
}

fn run(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("start interop client");
    assert!(
        out.status.success(),
        "interop client failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_frames_client() {
    let python = std::env::var("LEDGERVM_PYTHON")
        .expect("LEDGERVM_PYTHON is not set: run scripts/test or source scripts/env.sh");
    let s = start(true).await;
    let faddr = s.server.frame_addr().unwrap();
    let module = common::guests_dir().join("sum.wasm");
    let seen = tokio::task::spawn_blocking(move || {
        run(Command::new(python)
            .arg(repo().join("tests/interop/frames_client.py"))
            .arg(faddr.ip().to_string())
            .arg(faddr.port().to_string())
            .arg(module))
    })
    .await
    .unwrap();
    assert!(seen["tls_version"].as_str().unwrap().starts_with("TLS"));
    // The certificate Python saw before the load is bound to a document without apps;
    // the one after load+unload to a newer one, also without apps.
    let c = s.client();
    for (field, apps) in [("cert_der_hex", 0), ("cert_der_hex_after", 0)] {
        let der = hex::decode(seen[field].as_str().unwrap()).unwrap();
        let att = c.check_certificate(&der).await.unwrap();
        assert_eq!(att.document.apps.len(), apps, "{field}");
    }
    // What Python was told is what the log says.
    let index = seen["call"]["index"].as_u64().unwrap();
    let rec = c.record(index).await.unwrap();
    assert_eq!(rec.record.kind(), "call");
    let load = seen["loaded"]["app"]["index"].as_u64().unwrap();
    assert_eq!(c.record(load).await.unwrap().record.kind(), "app.load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_client() {
    let s = start(false).await;
    let node_dir = repo().join("tests/interop/node");
    assert!(
        node_dir.join("node_modules/ws").exists(),
        "run scripts/install-node-tools first (scripts/test does)"
    );
    let c = s.client();
    c.load("sum.wasm", &guest("sum.wasm"), &Default::default())
        .await
        .unwrap();
    let (url, vkey) = (s.server.url(), s.node.vkey().to_string());
    let seen = tokio::task::spawn_blocking(move || {
        run(Command::new("node")
            .arg(node_dir.join("ws_client.mjs"))
            .arg(url.replacen("https", "wss", 1))
            .arg("sum.wasm")
            .arg(vkey))
    })
    .await
    .unwrap();
    let der = hex::decode(seen["cert_der_hex"].as_str().unwrap()).unwrap();
    let att = c.check_certificate(&der).await.unwrap();
    assert_eq!(att.document.apps[0].name, "sum.wasm");
    assert_eq!(seen["handshake"]["origin"], s.node.origin());
    let receipt: ledgervm_node::Receipt = serde_json::from_value(seen["receipt"].clone()).unwrap();
    let v = receipt.verify(s.node.vkey()).unwrap();
    assert_eq!(v.index, seen["receipt_index"].as_u64().unwrap());
}
