//! TLS on every listener: certificates that carry the identity-document digest, and the
//! accept loop that hands each connection the certificate it was served with.
//!
//! Every certificate is minted by [`CertFactory`] with the extension
//! [`ledgervm_node::identity::IDENTITY_OID`] holding SHA-256 of the identity document
//! (see [`crate::attestation`]). By default the certificate is self-signed; an operator
//! may instead supply an issuing certificate and key (`--tls-cert/--tls-key`), in which
//! case every leaf is signed by it and the chain `[leaf, operator cert]` is served, so
//! clients that trust the operator's certificate (`curl --cacert`) verify it normally.
//!
//! Certificates are re-minted on every load and unload. Rather than swapping the
//! certificate under a live `ResolvesServerCert`, each issued identity owns its own
//! `rustls::ServerConfig`, and the accept loop snapshots the current one *before* the
//! handshake: the stream then carries exactly the identity its certificate names, so
//! `GET /v1/attestation` answers each connection with the document bound to the
//! certificate that connection saw — even while a reissue races the handshake.

use crate::attestation::{Attestation, Issued};
use ledgervm_node::identity;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Where certificates come from.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum TlsSettings {
    /// A self-signed certificate, minted at start and on every load/unload (default).
    #[default]
    SelfSigned,
    /// An operator-supplied issuing certificate and its key, both PEM. Every leaf is
    /// signed by this key and served with this certificate as its chain.
    Operator {
        /// PEM of the issuing certificate.
        cert_pem: String,
        /// PEM (PKCS#8) of its private key.
        key_pem: String,
    },
}

impl std::fmt::Debug for TlsSettings {
    // Never print the operator's private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsSettings::SelfSigned => f.write_str("SelfSigned"),
            TlsSettings::Operator { .. } => f.write_str("Operator { .. }"),
        }
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The operator's certificate or key is unusable.
    #[error("operator certificate/key: {0}")]
    Operator(String),
    /// Minting a certificate failed.
    #[error("issuing certificate: {0}")]
    Issue(String),
    /// Signing the identity document failed.
    #[error("signing identity document: {0}")]
    Sign(String),
}

struct OperatorIssuer {
    /// rcgen's view of the issuer (for subject/key identifier); not served.
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    /// The operator's certificate exactly as supplied: the served chain's second element.
    der: CertificateDer<'static>,
}

/// Mints leaf certificates carrying an identity digest; one leaf key for the process.
pub struct CertFactory {
    leaf_key: rcgen::KeyPair,
    issuer: Option<OperatorIssuer>,
    serial: AtomicU64,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl CertFactory {
    /// A factory for `settings`.
    pub fn new(settings: &TlsSettings) -> Result<CertFactory, TlsError> {
        let issuer = match settings {
            TlsSettings::SelfSigned => None,
            TlsSettings::Operator { cert_pem, key_pem } => {
                let op = |e: &dyn std::fmt::Display| TlsError::Operator(e.to_string());
                let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| op(&e))?;
                let params =
                    rcgen::CertificateParams::from_ca_cert_pem(cert_pem).map_err(|e| op(&e))?;
                let der =
                    CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| op(&e))?;
                let cert = params.self_signed(&key).map_err(|e| op(&e))?;
                Some(OperatorIssuer { cert, key, der })
            }
        };
        let leaf_key = rcgen::KeyPair::generate().map_err(|e| TlsError::Issue(e.to_string()))?;
        Ok(CertFactory {
            leaf_key,
            issuer,
            serial: AtomicU64::new(1),
        })
    }

    /// `tls-key` of the identity document: SHA-256 of the leaf key's SubjectPublicKeyInfo.
    pub fn spki_sha256(&self) -> String {
        identity::spki_sha256(&self.leaf_key.public_key_der())
    }

    /// A certificate chain for `digest` and the server config serving it.
    pub fn issue(
        &self,
        digest: &[u8; 32],
    ) -> Result<(Vec<CertificateDer<'static>>, Arc<rustls::ServerConfig>), TlsError> {
        let err = |e: &dyn std::fmt::Display| TlsError::Issue(e.to_string());
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| err(&e))?;
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("::1".parse().expect("ip")));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ledgervm");
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        params.serial_number = Some(rcgen::SerialNumber::from(serial.to_be_bytes().to_vec()));
        // A day of slack for clock skew; a year of validity (reissued on every change).
        let now = std::time::SystemTime::now();
        params.not_before = (now - Duration::from_secs(86_400)).into();
        params.not_after = (now + Duration::from_secs(365 * 86_400)).into();
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                identity::IDENTITY_OID,
                identity::extension_value(digest),
            ));
        let mut chain = Vec::with_capacity(2);
        match &self.issuer {
            None => chain.push(
                params
                    .self_signed(&self.leaf_key)
                    .map_err(|e| err(&e))?
                    .der()
                    .clone(),
            ),
            Some(op) => {
                let leaf = params
                    .signed_by(&self.leaf_key, &op.cert, &op.key)
                    .map_err(|e| err(&e))?;
                chain.push(leaf.der().clone());
                chain.push(op.der.clone());
            }
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| err(&e))?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key)
            .map_err(|e| err(&e))?;
        Ok((chain, Arc::new(config)))
    }
}

/// A TLS stream that remembers the identity its certificate was minted for.
pub struct AttestedStream {
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    issued: Arc<Issued>,
}

impl AttestedStream {
    /// The identity this connection's certificate names.
    pub fn issued(&self) -> &Arc<Issued> {
        &self.issued
    }
}

impl AsyncRead for AttestedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for AttestedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel backlog.
const MAX_HANDSHAKES: usize = 128;

/// A listener whose connections arrive already TLS-terminated. Handshakes run on their
/// own tasks, so one slow client cannot hold up the others.
pub struct TlsListener {
    rx: mpsc::Receiver<(AttestedStream, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp`, serving the identity current at each accept.
    pub fn new(tcp: TcpListener, attestation: Arc<Attestation>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let task = tokio::spawn(async move {
            loop {
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let (tcp, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(%e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let issued = attestation.current();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(issued.server_config.clone());
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            drop(permit);
                            let _ = tx.send((AttestedStream { tls, issued }, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next TLS connection (`None` once the accept loop has stopped).
    pub async fn next(&mut self) -> Option<(AttestedStream, SocketAddr)> {
        self.rx.recv().await
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Stop accepting (and release the port) as soon as the server stops.
        self.task.abort();
    }
}

/// Per-connection information handlers can read (as `ConnectInfo<ConnIdentity>`): the
/// identity the connection's certificate names (absent on plain HTTP).
#[derive(Clone)]
pub struct ConnIdentity(pub Arc<Issued>);

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;

    fn extension_of(der: &[u8]) -> Option<Vec<u8>> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        cert.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == identity::IDENTITY_OID_STR)
            .map(|e| e.value.to_vec())
    }

    #[test]
    fn self_signed_leaf_carries_the_digest() {
        let f = CertFactory::new(&TlsSettings::SelfSigned).unwrap();
        let d = identity::digest("doc\n");
        let (chain, _) = f.issue(&d).unwrap();
        assert_eq!(chain.len(), 1);
        let ext = extension_of(&chain[0]).expect("extension present");
        assert_eq!(identity::parse_extension_value(&ext).unwrap(), d);
        // A second issue is a different certificate (serial) with the new digest.
        let d2 = identity::digest("doc2\n");
        let (chain2, _) = f.issue(&d2).unwrap();
        assert_ne!(chain2[0], chain[0]);
        assert_eq!(
            identity::parse_extension_value(&extension_of(&chain2[0]).unwrap()).unwrap(),
            d2
        );
    }

    #[test]
    fn operator_issuer_signs_the_leaf_and_is_served_as_chain() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "operator CA");
        let ca = p.self_signed(&ca_key).unwrap();
        let f = CertFactory::new(&TlsSettings::Operator {
            cert_pem: ca.pem(),
            key_pem: ca_key.serialize_pem(),
        })
        .unwrap();
        let (chain, _) = f.issue(&identity::digest("x\n")).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].as_ref(), ca.der().as_ref());
        // The leaf verifies under the operator's CA with webpki.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        verifier
            .verify_server_cert(
                &chain[0],
                &[],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .expect("leaf chains to the operator CA");
        assert!(extension_of(&chain[0]).is_some());
    }

    #[test]
    fn unusable_operator_material_is_a_typed_error() {
        let e = CertFactory::new(&TlsSettings::Operator {
            cert_pem: "not pem".into(),
            key_pem: "nope".into(),
        })
        .err()
        .unwrap();
        assert!(matches!(e, TlsError::Operator(_)), "{e}");
        assert!(
            !format!(
                "{:?}",
                TlsSettings::Operator {
                    cert_pem: "c".into(),
                    key_pem: "SECRET".into()
                }
            )
            .contains("SECRET")
        );
    }
}
