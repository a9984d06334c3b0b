//! Checking that the TLS channel belongs to the log the client pins.
//!
//! A ledgervm server's certificate is self-signed (or signed by an operator's private
//! CA) and carries, in the extension [`IDENTITY_OID`](ledgervm_node::identity::IDENTITY_OID),
//! SHA-256 of an identity document signed by the log key. The document names the
//! certificate's public key (`tls-key`), the engine and the loaded apps' code hashes.
//!
//! * [`AttestedVerifier`] — the rustls `ServerCertVerifier`: a certificate that chains
//!   to a public root is accepted as usual; otherwise one is accepted *only* if it
//!   carries the identity extension, and the handshake signature must still verify
//!   under its key. Such a certificate is provisional: the client checks its binding
//!   before using any answer that came over it.
//! * [`check_binding`] — the binding itself, pure: the document's digest is the one in
//!   the certificate, the document is signed by the pinned log key, names that key, and
//!   names the certificate's public key.

use crate::error::ClientError;
use crate::verify::LogKey;
use ledgervm_node::identity::{self, IdentityDocument};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// What a certificate says about the identity it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    /// SHA-256 of the identity document, from the extension.
    pub digest: [u8; 32],
    /// Hex SHA-256 of the certificate's SubjectPublicKeyInfo.
    pub spki_sha256: String,
}

/// Reads the identity extension and public key out of a DER certificate; `Ok(None)`
/// when the certificate has no identity extension.
pub fn cert_identity(der: &[u8]) -> Result<Option<CertIdentity>, ClientError> {
    let bad = |e: &dyn std::fmt::Display| ClientError::Verification(format!("certificate: {e}"));
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| bad(&e))?;
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == identity::IDENTITY_OID_STR)
    else {
        return Ok(None);
    };
    let digest = identity::parse_extension_value(ext.value).map_err(|e| bad(&e))?;
    Ok(Some(CertIdentity {
        digest,
        spki_sha256: identity::spki_sha256(cert.public_key().raw),
    }))
}

/// A verified identity: the document, its signed note, and the certificate it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// The parsed document.
    pub document: IdentityDocument,
    /// The signed note as served.
    pub note: String,
    /// SHA-256 of the document text (what the certificate carries).
    pub digest: [u8; 32],
}

/// Checks that `note` is the identity document bound to the certificate `cert_der`
/// under the log key `key`: signature, digest, vkey and TLS key all agree. **Pure.**
pub fn check_binding(cert_der: &[u8], note: &str, key: &LogKey) -> Result<Attested, ClientError> {
    let fail = |m: String| ClientError::Verification(format!("TLS identity binding: {m}"));
    let cert = cert_identity(cert_der)?
        .ok_or_else(|| fail("the certificate carries no identity extension".into()))?;
    let a = open_document(note, key)?;
    if a.digest != cert.digest {
        return Err(fail(format!(
            "certificate names document {} but the document hashes to {}",
            hex::encode(cert.digest),
            hex::encode(a.digest)
        )));
    }
    if a.document.tls_key.as_deref() != Some(cert.spki_sha256.as_str()) {
        return Err(fail(
            "the document does not name this certificate's public key".into(),
        ));
    }
    Ok(a)
}

/// The client's rustls certificate verifier (see the module docs).
#[derive(Debug)]
pub struct AttestedVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl AttestedVerifier {
    /// A verifier trusting `roots` for ordinary certificates and the identity binding
    /// for ledgervm's own.
    pub fn new(
        roots: rustls::RootCertStore,
        provider: Arc<CryptoProvider>,
    ) -> Result<AttestedVerifier, ClientError> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ClientError::InvalidArgument(format!("TLS setup: {e}")))?;
        Ok(AttestedVerifier { webpki, provider })
    }

    /// A rustls client config using this verifier, with the ring provider.
    pub fn client_config() -> Result<rustls::ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let verifier = Arc::new(AttestedVerifier::new(roots, provider.clone())?);
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::InvalidArgument(format!("TLS setup: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }
}

impl ServerCertVerifier for AttestedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            // Not publicly trusted: acceptable only as a ledgervm certificate, whose
            // binding the client checks before trusting anything sent over it.
            Err(e) => match cert_identity(end_entity) {
                Ok(Some(_)) => Ok(ServerCertVerified::assertion()),
                _ => Err(e),
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[derive(serde::Deserialize)]
struct AttestationBody {
    note: String,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Opens a document signed by `key` without a certificate (plain HTTP). **Pure.**
pub fn open_document(note: &str, key: &LogKey) -> Result<Attested, ClientError> {
    let fail = |m: String| ClientError::Verification(format!("identity document: {m}"));
    let known = ledgervm_log::note::VerifierSet::new(vec![Box::new(key.verifier().clone())]);
    let opened = ledgervm_log::note::Note::open(note.as_bytes(), &known)
        .map_err(|e| fail(format!("signature: {e}")))?;
    let document = IdentityDocument::parse(&opened.note.text).map_err(|e| fail(e.to_string()))?;
    if document.vkey != key.vkey() {
        return Err(fail(format!(
            "names log key {} but {} is pinned",
            document.vkey,
            key.vkey()
        )));
    }
    Ok(Attested {
        digest: identity::digest(&opened.note.text),
        document,
        note: note.to_string(),
    })
}

impl crate::Client {
    /// Sends a request and checks the channel it came back over: an answer that arrived
    /// over a certificate accepted only provisionally (self-signed, with the identity
    /// extension) is refused unless that certificate's binding verifies.
    ///
    /// Under trust-on-first-use, answers before the key is pinned are first contact
    /// and are not checked (there is no key to check them against yet); every later
    /// answer is.
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await?;
        let Some(der) = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|t| t.peer_certificate())
            .map(<[u8]>::to_vec)
        else {
            return Ok(resp); // plain HTTP
        };
        let Some(cert) = cert_identity(&der)? else {
            return Ok(resp); // chained to a public root by the verifier
        };
        if self.inner.bound.lock().contains(&sha256(&der)) {
            return Ok(resp);
        }
        let Some(key) = self.inner.key.get() else {
            return Ok(resp);
        };
        self.check_bound(&der, &cert, key).await?;
        Ok(resp)
    }

    async fn check_bound(
        &self,
        der: &[u8],
        cert: &CertIdentity,
        key: &LogKey,
    ) -> Result<Attested, ClientError> {
        let digest = hex::encode(cert.digest);
        let url = self.url(&["v1", "attestation"], &[("digest", digest)]);
        let a = self.inner.http.get(url).send().await?;
        if !a.status().is_success() {
            return Err(Self::error_of(a).await);
        }
        let body: AttestationBody = Self::json_of(a).await?;
        let attested = check_binding(der, &body.note, key)?;
        self.inner.bound.lock().insert(sha256(der));
        Ok(attested)
    }

    /// Checks a certificate seen on another channel to this server (e.g. a WebSocket or
    /// a framed-protocol connection): it must carry the identity extension, and the
    /// document it names must verify under the pinned key and name its public key.
    pub async fn check_certificate(&self, der: &[u8]) -> Result<Attested, ClientError> {
        let cert = cert_identity(der)?.ok_or_else(|| {
            ClientError::Verification("certificate carries no identity extension".into())
        })?;
        let key = self.key().await?;
        self.check_bound(der, &cert, key).await
    }

    /// `GET /v1/attestation`: the identity document bound to the certificate of the
    /// connection it came over, checked against that certificate and the pinned key.
    /// Returns the document and whether the channel was TLS-bound (`false` only for a
    /// plain `http://` server, where the signature is all that can be checked).
    pub async fn attestation(&self) -> Result<(Attested, bool), ClientError> {
        let key = self.key().await?;
        let resp = self
            .inner
            .http
            .get(self.url(&["v1", "attestation"], &[]))
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        let der = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|t| t.peer_certificate())
            .map(<[u8]>::to_vec);
        let body: AttestationBody = Self::json_of(resp).await?;
        match der {
            Some(der) => {
                let a = check_binding(&der, &body.note, key)?;
                self.inner.bound.lock().insert(sha256(&der));
                Ok((a, true))
            }
            None => Ok((open_document(&body.note, key)?, false)),
        }
    }
}
