//! A local HTTPS server for egress tests (also used by ledgervm-node's tests through
//! `#[path]`, so it depends only on crates both have as dev-dependencies): a throwaway test CA (rcgen), a leaf certificate
//! for `localhost` and `127.0.0.1`, rustls + hyper, bound to 127.0.0.1 on an ephemeral
//! port. Stopped when dropped.
//!
//! Routes:
//! * `/feed` — an RSS document with 12 items (`Headline 1` … `Headline 12`);
//! * `/two` — an RSS document with 2 items;
//! * `/big` — 256 KiB of `x`;
//! * anything else — 404.
//!
//! Every accepted TCP connection is counted ([`TestServer::connections`]), so tests can
//! show that a refused request never reached the network.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use parking_lot::Mutex;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// DER of the test CA that signed the server's certificate.
    pub ca_der: CertificateDer<'static>,
    /// The same CA as a PEM document, as an operator would hand it to `--egress-ca`.
    pub ca_pem: String,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn rss(n: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Test feed</title>",
    );
    for i in 1..=n {
        s.push_str(&format!(
            "<item><title><![CDATA[Headline {i}]]></title><link>https://x/{i}</link></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn route(path: &str) -> (u16, &'static str, Vec<u8>) {
    match path {
        "/feed" => (200, "application/rss+xml", rss(12).into_bytes()),
        "/two" => (200, "application/rss+xml", rss(2).into_bytes()),
        "/big" => (200, "text/plain", vec![b'x'; 256 * 1024]),
        // Redirects to refused destinations: a client that followed them would be an
        // SSRF hole (the body names the target; the Location header is added below).
        "/to-private" | "/to-loopback" | "/to-http" => (302, "text/plain", b"moved".to_vec()),
        _ => (404, "text/plain", b"not found".to_vec()),
    }
}

/// Where the redirect routes point: a private address, this very server over loopback
/// (which the client's allow rule would permit, were it followed), and plain http.
fn redirect_target(path: &str, port: u16) -> Option<String> {
    match path {
        "/to-private" => Some("https://10.0.0.1/feed".into()),
        "/to-loopback" => Some(format!("https://127.0.0.1:{port}/feed")),
        "/to-http" => Some(format!("http://127.0.0.1:{port}/feed")),
        _ => None,
    }
}

impl TestServer {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> TestServer {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ledgervm test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();

        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let connections = connections.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let (tcp, _) = tokio::select! {
                        r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                        _ = &mut stopped => return,
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    let seen = seen.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let seen = seen.clone();
                            async move {
                                seen.lock().push(SeenRequest {
                                    method: req.method().to_string(),
                                    path: req.uri().path().to_string(),
                                    headers: req
                                        .headers()
                                        .iter()
                                        .map(|(k, v)| {
                                            (k.to_string(), v.to_str().unwrap_or("").to_string())
                                        })
                                        .collect(),
                                });
                                let (status, ctype, body) = route(req.uri().path());
                                let mut resp = hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", ctype);
                                if let Some(to) = redirect_target(req.uri().path(), port) {
                                    resp = resp.header("location", to);
                                }
                                Ok::<_, std::convert::Infallible>(
                                    resp.body(Full::new(Bytes::from(body))).unwrap(),
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(wasmtime_wasi_http::io::TokioIo::new(tls), svc)
                            .await;
                    });
                }
            })
        };
        TestServer {
            addr,
            ca_der: ca_cert.der().clone(),
            ca_pem: ca_cert.pem(),
            connections,
            seen,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// `https://localhost:<port><path>`.
    pub fn localhost_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests served so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
