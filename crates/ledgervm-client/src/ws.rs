//! A JSON-RPC 2.0 client for the server's WebSocket API (`/v1/ws`), over the same
//! attested TLS as [`crate::Client`] (the REPL uses it).
//!
//! The certificate the WebSocket's TLS connection was made with is kept
//! ([`RpcSession::peer_certificate`]) so the caller can check its binding with
//! [`crate::Client::check_certificate`].

use crate::error::ClientError;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A JSON-RPC error answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// JSON-RPC code (`-32601`, `-32000`, …).
    pub code: i64,
    /// Message.
    pub message: String,
    /// `data` (ledgervm puts `{code, index?}` there).
    pub data: Option<Json>,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)?;
        if let Some(d) = &self.data {
            write!(f, " {d}")?;
        }
        Ok(())
    }
}

/// One WebSocket JSON-RPC session.
pub struct RpcSession {
    ws: WebSocketStream<Box<dyn Io>>,
    next_id: u64,
    peer_certificate: Option<Vec<u8>>,
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

impl RpcSession {
    /// Connects to `base_url` (`https://host:port` or `http://…`) at `/v1/ws`, with
    /// `?app=` set when `app` is given.
    pub async fn connect(base_url: &str, app: Option<&str>) -> Result<RpcSession, ClientError> {
        let mut url = reqwest::Url::parse(base_url)
            .map_err(|e| ClientError::InvalidArgument(format!("{base_url:?}: {e}")))?;
        let tls = match url.scheme() {
            "https" | "wss" => true,
            "http" | "ws" => false,
            s => return Err(ClientError::InvalidArgument(format!("scheme {s:?}"))),
        };
        let host = url
            .host_str()
            .ok_or_else(|| ClientError::InvalidArgument("URL has no host".into()))?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        url.set_scheme(if tls { "wss" } else { "ws" })
            .map_err(|_| ClientError::InvalidArgument("cannot make a ws URL".into()))?;
        url.set_path("/v1/ws");
        url.set_query(None);
        if let Some(a) = app {
            url.query_pairs_mut().append_pair("app", a);
        }
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(transport)?;
        let _ = tcp.set_nodelay(true);
        let (io, peer_certificate): (Box<dyn Io>, _) = if tls {
            let cfg = Arc::new(crate::attest::AttestedVerifier::client_config()?);
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| ClientError::InvalidArgument(format!("server name: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(transport)?;
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec());
            (Box::new(stream), cert)
        } else {
            (Box::new(tcp), None)
        };
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), io)
            .await
            .map_err(transport)?;
        Ok(RpcSession {
            ws,
            next_id: 1,
            peer_certificate,
        })
    }

    /// The server certificate (DER) of this session's TLS connection, if TLS.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    /// Sends one request and waits for its answer: `Ok(Ok(result))`, `Ok(Err(error))`
    /// for a JSON-RPC error answer, `Err` for a broken connection or protocol.
    pub async fn request(
        &mut self,
        method: &str,
        params: Json,
    ) -> Result<Result<Json, RpcError>, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(req.to_string().into()))
            .await
            .map_err(transport)?;
        loop {
            let msg = self
                .ws
                .next()
                .await
                .ok_or_else(|| ClientError::Transport("connection closed".into()))?
                .map_err(transport)?;
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Close(_) => {
                    return Err(ClientError::Transport("connection closed".into()));
                }
                _ => continue,
            };
            let v: Json = serde_json::from_str(&text)
                .map_err(|e| ClientError::Protocol(format!("not JSON: {e}")))?;
            if v.get("id") != Some(&json!(id)) {
                return Err(ClientError::Protocol(format!(
                    "answer for another request: {v}"
                )));
            }
            if let Some(r) = v.get("result") {
                return Ok(Ok(r.clone()));
            }
            let e = v
                .get("error")
                .ok_or_else(|| ClientError::Protocol(format!("neither result nor error: {v}")))?;
            return Ok(Err(RpcError {
                code: e.get("code").and_then(Json::as_i64).unwrap_or(0),
                message: e
                    .get("message")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                data: e.get("data").cloned(),
            }));
        }
    }

    /// Closes the session.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
