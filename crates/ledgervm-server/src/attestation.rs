//! The attested identity: the identity document (see [`ledgervm_node::identity`]) signed
//! by the log key, the TLS certificate carrying its digest, and `GET /v1/attestation`.
//!
//! [`Attestation::refresh`] re-issues both after every load and unload (every transport
//! calls it: HTTP, frames, WebSocket). A connection keeps the certificate it was
//! handshaken with, so the route answers with the document *that connection's*
//! certificate names, and says whether a newer one exists (`current: false`): a client
//! that wants the newest identity opens a new connection. `?digest=HEX` asks instead for
//! any recently issued document by its digest (the one a certificate names), so a client
//! can check a certificate it saw on any of its connections.

use crate::extract::Query;
use crate::tls::{CertFactory, ConnIdentity, TlsError, TlsSettings};
use crate::{ApiError, ServerState};
use axum::extract::State;
use axum::http::Extensions;
use ledgervm_node::Node;
use ledgervm_node::identity::{self, IdentityApp, IdentityDocument};
use parking_lot::{Mutex, RwLock};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// One issued identity: the document, its signed note and (under TLS) the certificate.
pub struct Issued {
    /// The parsed document.
    pub document: IdentityDocument,
    /// The document's text (what the digest covers).
    pub text: String,
    /// The signed note (`text`, blank line, log-key signature).
    pub note: String,
    /// SHA-256 of `text`.
    pub digest: [u8; 32],
    /// The certificate chain carrying `digest` (empty on plain HTTP).
    pub chain: Vec<CertificateDer<'static>>,
    /// The TLS configuration serving `chain` (unused on plain HTTP).
    pub server_config: Arc<rustls::ServerConfig>,
    /// Issue sequence number, 1 for the first.
    pub generation: u64,
}

/// The server's current identity and how to re-issue it.
pub struct Attestation {
    factory: Option<CertFactory>,
    current: RwLock<Arc<Issued>>,
    /// The last [`HISTORY`] identities, newest last, for `?digest=` look-ups.
    history: Mutex<std::collections::VecDeque<Arc<Issued>>>,
    /// Serializes re-issues so the newest state always wins.
    reissue: Mutex<()>,
}

/// How many issued identities `?digest=` can still find (connections can outlive a
/// re-issue, so their certificates must stay checkable for a while).
pub const HISTORY: usize = 256;

/// A placeholder TLS config for plain HTTP, where no certificate is served.
fn no_tls_config() -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new())),
    )
}

impl Attestation {
    /// Issues the first identity for `node`; `tls` `None` means plain HTTP (documents
    /// are still issued and signed, but no certificate carries them).
    pub fn new(node: &Node, tls: Option<&TlsSettings>) -> Result<Arc<Attestation>, TlsError> {
        let factory = tls.map(CertFactory::new).transpose()?;
        let first = Arc::new(issue(node, factory.as_ref(), 1)?);
        Ok(Arc::new(Attestation {
            factory,
            history: Mutex::new([first.clone()].into()),
            current: RwLock::new(first),
            reissue: Mutex::new(()),
        }))
    }

    /// Whether certificates are served (TLS) at all.
    pub fn is_tls(&self) -> bool {
        self.factory.is_some()
    }

    /// The identity new connections get.
    pub fn current(&self) -> Arc<Issued> {
        self.current.read().clone()
    }

    /// A recently issued identity by the digest its certificate carries.
    pub fn by_digest(&self, digest: &[u8; 32]) -> Option<Arc<Issued>> {
        self.history
            .lock()
            .iter()
            .rev()
            .find(|i| &i.digest == digest)
            .cloned()
    }

    /// Re-issues the document and certificate from the node's state now. Called after
    /// every load and unload. On failure the previous identity stays in place (and the
    /// error is logged): the log is unaffected, only the channel binding is stale.
    pub fn refresh(&self, node: &Node) {
        let _one = self.reissue.lock();
        let generation = self.current.read().generation + 1;
        match issue(node, self.factory.as_ref(), generation) {
            Ok(i) => {
                let i = Arc::new(i);
                let mut h = self.history.lock();
                if h.len() == HISTORY {
                    h.pop_front();
                }
                h.push_back(i.clone());
                *self.current.write() = i;
            }
            Err(e) => tracing::error!(%e, "could not re-issue the identity document"),
        }
    }
}

/// The document describing `node` now.
pub fn document_of(node: &Node) -> IdentityDocument {
    IdentityDocument {
        origin: node.origin(),
        vkey: node.vkey().to_string(),
        engine: node.engine().clone(),
        size: node.size(),
        tls_key: None,
        apps: node
            .apps()
            .into_iter()
            .map(|a| IdentityApp {
                name: a.name,
                code_hash: a.code_hash,
                load_index: a.index,
            })
            .collect(),
    }
}

fn issue(node: &Node, factory: Option<&CertFactory>, generation: u64) -> Result<Issued, TlsError> {
    let mut document = document_of(node);
    document.tls_key = factory.map(CertFactory::spki_sha256);
    let text = document.text();
    let note = node
        .sign_note(&text)
        .map_err(|e| TlsError::Sign(e.to_string()))?;
    let digest = identity::digest(&text);
    let (chain, server_config) = match factory {
        Some(f) => f.issue(&digest)?,
        None => (Vec::new(), no_tls_config()),
    };
    Ok(Issued {
        document,
        text,
        note,
        digest,
        chain,
        server_config,
        generation,
    })
}

/// The JSON body of `GET /v1/attestation`.
pub fn attestation_json(conn: &Issued, current: &Issued, tls: bool) -> serde_json::Value {
    serde_json::json!({
        "note": conn.note,
        "document": conn.document,
        "digest": hex::encode(conn.digest),
        "oid": identity::IDENTITY_OID_STR,
        "tls": tls,
        "generation": conn.generation,
        "current": conn.generation == current.generation,
    })
}

/// Query of `GET /v1/attestation`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationQuery {
    /// Hex SHA-256 of a document: answer with that one instead of this connection's.
    pub digest: Option<String>,
}

/// `GET /v1/attestation` → the identity document bound to this connection's certificate
/// (or the one named by `?digest=`).
pub(crate) async fn get(
    State(s): State<ServerState>,
    Query(q): Query<AttestationQuery>,
    ext: Extensions,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let current = s.identity.current();
    let conn = ext
        .get::<axum::extract::ConnectInfo<ConnIdentity>>()
        .map(|c| c.0.0.clone());
    let tls = s.identity.is_tls();
    let chosen = match q.digest {
        Some(d) => {
            let bytes: [u8; 32] = hex::decode(&d)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_digest", "digest is not 64 hex digits")
                })?;
            s.identity.by_digest(&bytes).ok_or_else(|| {
                ApiError::not_found(
                    "attestation_not_found",
                    "no recently issued document has this digest",
                )
            })?
        }
        None => conn.unwrap_or_else(|| current.clone()),
    };
    Ok(axum::Json(attestation_json(&chosen, &current, tls)))
}
