//! The live side of egress: resolve, check the policy on the resolved address, connect to
//! exactly that address, TLS (rustls), one HTTP/1.1 exchange, body capped.
//!
//! The whole exchange is buffered: the guest only sees the response once it is complete,
//! and it sees the recorded bytes, so live and replayed calls hand the guest identical
//! data in identical chunks.

use super::error::HttpError;
use super::policy::{EgressPolicy, Host};
use super::record::{Target, headers_from_map, parse_https_url};
use crate::transcript::{HttpRequestRecord, HttpResponseRecord};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Egress settings for a runtime: policy, TLS roots, timeouts and caps.
///
/// ```
/// use ledgervm_runtime::http::{EgressConfig, policy::EgressPolicy};
/// let cfg = EgressConfig::new(EgressPolicy::new(vec!["127.0.0.1:8443".parse().unwrap()]));
/// assert_eq!(cfg.max_response_bytes, 4 * 1024 * 1024);
/// ```
#[derive(Clone)]
pub struct EgressConfig {
    /// Which destinations are reachable.
    pub policy: EgressPolicy,
    /// TCP connect timeout (per attempt).
    pub connect_timeout: Duration,
    /// Timeout for the whole exchange (resolve, connect, TLS, request, full response).
    pub total_timeout: Duration,
    /// Largest response body accepted; more is [`HttpError::ResponseTooLarge`].
    pub max_response_bytes: usize,
    /// Largest request body a guest may send.
    pub max_request_bytes: usize,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for EgressConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressConfig")
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for EgressConfig {
    fn default() -> EgressConfig {
        EgressConfig::new(EgressPolicy::default())
    }
}

fn tls_config(
    extra_roots: &[CertificateDer<'static>],
    webpki: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    if webpki {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for der in extra_roots {
        roots
            .add(der.clone())
            .map_err(|e| format!("bad root certificate: {e}"))?;
    }
    // An explicit provider: the process-wide default is ambiguous when several crypto
    // back-ends are compiled in.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

impl EgressConfig {
    /// Mozilla's roots (webpki-roots), 10 s connect, 30 s total, 4 MiB responses, 1 MiB
    /// requests.
    pub fn new(policy: EgressPolicy) -> EgressConfig {
        EgressConfig {
            policy,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_response_bytes: 4 * 1024 * 1024,
            max_request_bytes: 1024 * 1024,
            tls: tls_config(&[], true).expect("webpki roots are valid"),
        }
    }

    /// Sets the trusted roots: the webpki roots if `webpki`, plus `extra` (DER), e.g. a
    /// test CA or an operator's internal CA.
    pub fn with_roots(
        mut self,
        extra: &[CertificateDer<'static>],
        webpki: bool,
    ) -> Result<EgressConfig, HttpError> {
        self.tls = tls_config(extra, webpki).map_err(HttpError::Tls)?;
        Ok(self)
    }
}

/// The operator's egress settings as plain data, part of
/// [`RuntimeConfig`](crate::RuntimeConfig): allow rules and extra trusted root CAs.
/// [`Runtime::new`](crate::Runtime::new) turns them into the [`EgressConfig`] that every
/// component loaded with [`Runtime::load`](crate::Runtime::load) uses. Not part of the
/// engine fingerprint: egress answers are oracle events, so a replay never reaches the
/// network and does not depend on these settings.
///
/// ```
/// use ledgervm_runtime::http::EgressSettings;
/// let mut s = EgressSettings::default();
/// s.allow.push("127.0.0.1/32".parse().unwrap());
/// assert!(s.add_pem_roots(b"not a certificate").is_err());
/// assert_eq!(s.extra_roots.len(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressSettings {
    /// Exceptions for non-public destinations ([`EgressPolicy::allow`]).
    pub allow: Vec<super::policy::AllowRule>,
    /// Root CAs trusted in addition to Mozilla's (DER), e.g. an internal CA.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl EgressSettings {
    /// Adds every certificate of a PEM document (`-----BEGIN CERTIFICATE-----` blocks)
    /// as a trusted root; returns how many. A document without certificates, or with one
    /// that is not a usable trust anchor, is refused as a whole.
    pub fn add_pem_roots(&mut self, pem: &[u8]) -> Result<usize, HttpError> {
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HttpError::Tls(format!("bad PEM: {e}")))?;
        if certs.is_empty() {
            return Err(HttpError::Tls("no certificate in PEM document".into()));
        }
        tls_config(&certs, false).map_err(HttpError::Tls)?;
        let n = certs.len();
        self.extra_roots.extend(certs);
        Ok(n)
    }

    /// The live configuration: these rules, Mozilla's roots plus the extra ones, default
    /// timeouts and caps.
    pub fn to_config(&self) -> Result<EgressConfig, HttpError> {
        EgressConfig::new(EgressPolicy::new(self.allow.clone())).with_roots(&self.extra_roots, true)
    }
}

/// Resolves `target` and returns the first address the policy permits. Does not
/// connect. When every address is blocked the error names the first one.
pub async fn resolve_checked(
    policy: &EgressPolicy,
    target: &Target,
) -> Result<SocketAddr, HttpError> {
    let addrs: Vec<SocketAddr> = match &target.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), target.port))
            .await
            .map_err(|e| HttpError::Dns {
                host: name.clone(),
                message: e.to_string(),
            })?
            .collect(),
    };
    let mut first_refusal = None;
    for addr in &addrs {
        match policy.check(&target.host, target.port, addr.ip()) {
            Ok(()) => return Ok(*addr),
            Err(range) => {
                first_refusal.get_or_insert(HttpError::Blocked {
                    addr: addr.ip().to_string(),
                    range,
                });
            }
        }
    }
    Err(first_refusal.unwrap_or_else(|| HttpError::NoAddress(target.host.to_string())))
}

/// Performs one live exchange for `req` (already normalised). The policy is checked
/// before any packet leaves: `https://` only, then every resolved address. `budget`
/// bounds the whole exchange together with [`EgressConfig::total_timeout`] (the handler
/// passes what is left of the call's deadline, so a slow server ends as a recorded
/// `http.timeout` rather than as a deadline stop in the middle of a host call).
pub async fn exchange(
    cfg: &EgressConfig,
    req: &HttpRequestRecord,
    budget: Duration,
) -> Result<HttpResponseRecord, HttpError> {
    let target = parse_https_url(&req.url)?;
    if req.body.len() > cfg.max_request_bytes {
        return Err(HttpError::RequestBody(format!(
            "{} bytes exceeds the {}-byte cap",
            req.body.len(),
            cfg.max_request_bytes
        )));
    }
    let limit = cfg.total_timeout.min(budget);
    let work = async {
        let addr = resolve_checked(&cfg.policy, &target).await?;
        exchange_at(cfg, &target, addr, req).await
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(format!("exchange exceeded {limit:?}"))),
    }
}

async fn exchange_at(
    cfg: &EgressConfig,
    target: &Target,
    addr: SocketAddr,
    req: &HttpRequestRecord,
) -> Result<HttpResponseRecord, HttpError> {
    let tcp = match tokio::time::timeout(cfg.connect_timeout, tokio::net::TcpStream::connect(addr))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(HttpError::Connect {
                addr: addr.to_string(),
                message: e.to_string(),
            });
        }
        Err(_) => return Err(HttpError::Timeout(format!("connect to {addr}"))),
    };
    let server_name = match &target.host {
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        Host::Name(n) => {
            ServerName::try_from(n.clone()).map_err(|e| HttpError::BadUrl(e.to_string()))?
        }
    };
    let tls = tokio_rustls::TlsConnector::from(cfg.tls.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(tls))
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
    // The connection task ends when the exchange is over (or with the call's timeout).
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let mut builder = http::Request::builder()
            .method(req.method.as_str())
            .uri(target.path.as_str())
            .header(http::header::HOST, target.authority.as_str());
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body.clone())))
            .map_err(|e| HttpError::BadUrl(e.to_string()))?;
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = headers_from_map(resp.headers());
        let body = Limited::new(resp.into_body(), cfg.max_response_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    HttpError::ResponseTooLarge {
                        limit: cfg.max_response_bytes,
                    }
                } else {
                    HttpError::Protocol(e.to_string())
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(HttpResponseRecord {
            status,
            headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}
