//! The framed-protocol listener (`ledgervm serve --frame-listen ADDR`): TLS (with the
//! same attested certificate as HTTP), then [`crate::frames`] requests answered one at a
//! time per connection, in order.
//!
//! Per-connection limits ([`FrameLimits`]): the largest frame, how long a connection may
//! sit idle between frames, how long one frame may take to arrive, and how many requests
//! one connection may make. Oversized and truncated frames are answered with an error
//! frame and the connection is closed (the frame boundary is lost); garbage inside a
//! well-formed frame gets an error frame and the connection goes on.

use crate::ServerState;
use crate::apps::{load_app, unload_app};
use crate::calls::run_call;
use crate::frames::{self, FrameDecoder, Request, Wrapping};
use ledgervm_node::record::Outcome;
use ledgervm_node::secret::AppKey;
use ledgervm_node::{AppInfo, CallInput, LoadRequest, Requester};
use ledgervm_runtime::value::Value;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Limits of one framed-protocol connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest frame payload, bytes (default 160 MiB: a 32 MiB module as a JSON integer
    /// array inside the `Data` envelope takes about 4.5 bytes per byte).
    pub max_frame: usize,
    /// Longest wait for the first byte of the next frame (default 5 min).
    pub idle_timeout: Duration,
    /// Longest a frame may take to arrive once started (default 60 s).
    pub frame_timeout: Duration,
    /// Requests per connection (default 100 000).
    pub max_requests: u64,
}

impl Default for FrameLimits {
    fn default() -> FrameLimits {
        FrameLimits {
            max_frame: 160 << 20,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(60),
            max_requests: 100_000,
        }
    }
}

/// The running frame listener.
pub struct FrameHandle {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FrameHandle {
    /// Bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting new connections (open ones finish their current request).
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for FrameHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Hostnames given at `wasm_load`, by app. They are a transport label (the seed's SNI
/// name), not part of the log, so they live only in memory.
type Hostnames = Arc<Mutex<HashMap<String, String>>>;

/// Starts serving frames on `tcp` with the server's shared state.
pub(crate) fn start(
    state: ServerState,
    tcp: TcpListener,
    limits: FrameLimits,
) -> std::io::Result<FrameHandle> {
    let addr = tcp.local_addr()?;
    let hostnames: Hostnames = Default::default();
    let tls = state.identity.is_tls();
    let task = tokio::spawn(async move {
        tracing::info!(%addr, tls, "framed protocol listening");
        if tls {
            let mut l = crate::tls::TlsListener::new(tcp, state.identity.clone())
                .expect("listener address known");
            while let Some((stream, peer)) = l.next().await {
                let (s, h, lim) = (state.clone(), hostnames.clone(), limits.clone());
                tokio::spawn(async move { connection(stream, peer, s, h, lim).await });
            }
        } else {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    continue;
                };
                let (s, h, lim) = (state.clone(), hostnames.clone(), limits.clone());
                tokio::spawn(async move { connection(stream, peer, s, h, lim).await });
            }
        }
    });
    Ok(FrameHandle { addr, task })
}

async fn send<S: AsyncWrite + Unpin>(
    s: &mut S,
    answer: &Json,
    how: Wrapping,
) -> std::io::Result<()> {
    s.write_all(&frames::encode(&frames::seal_payload(answer, how)))
        .await?;
    s.flush().await
}

/// Serves one connection until it closes, breaks a limit or sends a broken frame.
async fn connection<S>(mut s: S, peer: SocketAddr, st: ServerState, h: Hostnames, lim: FrameLimits)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut dec = FrameDecoder::new(lim.max_frame);
    let mut buf = vec![0u8; 64 * 1024];
    let mut served = 0u64;
    // The wrapping of the last request, for errors that are not about one request.
    let mut last = Wrapping::Bare;
    loop {
        let frame = match dec.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                let wait = if dec.buffered() == 0 {
                    lim.idle_timeout
                } else {
                    lim.frame_timeout
                };
                match tokio::time::timeout(wait, s.read(&mut buf)).await {
                    Err(_) => {
                        let e = frames::error_answer("frame_timeout", "no complete frame in time");
                        let _ = send(&mut s, &e, last).await;
                        return;
                    }
                    // A peer that half-closes TCP without TLS close_notify reads as
                    // UnexpectedEof: still the end of what it sends, so still answer.
                    Ok(Err(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => return,
                    Ok(Err(_)) | Ok(Ok(0)) => {
                        if let Err(e) = dec.finish() {
                            let _ = send(
                                &mut s,
                                &frames::error_answer(e.code(), &e.to_string()),
                                last,
                            )
                            .await;
                        }
                        let _ = s.shutdown().await;
                        return;
                    }
                    Ok(Ok(n)) => {
                        dec.push(&buf[..n]);
                        continue;
                    }
                }
            }
            Err(e) => {
                let _ = send(
                    &mut s,
                    &frames::error_answer(e.code(), &e.to_string()),
                    last,
                )
                .await;
                let _ = s.shutdown().await;
                return;
            }
        };
        served += 1;
        if served > lim.max_requests {
            let e = frames::error_answer(
                "too_many_requests",
                "request limit of this connection reached",
            );
            let _ = send(&mut s, &e, last).await;
            return;
        }
        let answer = match frames::open_payload(&frame) {
            Ok((v, how)) => {
                last = how;
                match frames::parse_request(v) {
                    Ok(req) => handle(&st, &h, req).await,
                    Err(e) => frames::error_answer(e.code(), &e.to_string()),
                }
            }
            Err(e) => frames::error_answer(e.code(), &e.to_string()),
        };
        if send(&mut s, &answer, last).await.is_err() {
            tracing::debug!(%peer, "frame client went away");
            return;
        }
    }
}

fn exports_json(info: &AppInfo) -> Json {
    info.exports
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "param_count": e.ty.params.len(),
                "result_count": e.ty.results.len(),
            })
        })
        .collect()
}

/// The seed's app object. `key_source` is left out: ledgervm has no per-app encryption
/// keys (yet), and reporting one it does not have would be a lie.
fn app_json(info: &AppInfo, h: &Hostnames) -> Json {
    let hostname = h
        .lock()
        .get(&info.name)
        .cloned()
        .unwrap_or_else(|| info.name.clone());
    json!({
        "name": info.name,
        "hostname": hostname,
        "code_hash": info.code_hash,
        "key_source": info.key_source,
        "index": info.index,
        "exports": exports_json(info),
    })
}

fn api_error(e: crate::ApiError) -> Json {
    frames::error_answer(&e.code, &e.message)
}

async fn handle(st: &ServerState, h: &Hostnames, req: Request) -> Json {
    match req {
        Request::WasmLoad(l) => {
            // BYOK as in Enclave OS: 32 bytes as 64 hex characters; the node generates a
            // key when none is given. The key never appears in an answer or a log line.
            let encryption_key = match l.encryption_key.as_deref().map(AppKey::from_hex) {
                None => None,
                Some(Ok(k)) => Some(k),
                Some(Err(_)) => {
                    return frames::error_answer(
                        "invalid_encryption_key",
                        "encryption_key must be 32 bytes as 64 hex characters",
                    );
                }
            };
            let mut load = LoadRequest::new(l.name.clone(), l.bytes);
            load.encryption_key = encryption_key;
            // The framed protocol carries no signatures: loads are anonymous, which a
            // server with an admin key refuses.
            match load_app(st, load, Requester::Anonymous).await {
                Ok(info) => {
                    h.lock().insert(
                        info.name.clone(),
                        l.hostname.unwrap_or_else(|| info.name.clone()),
                    );
                    json!({"status": "loaded", "app": app_json(&info, h)})
                }
                Err(e) => api_error(e),
            }
        }
        Request::WasmCall(c) => {
            let args = match crate::calls::decode_args(c.params) {
                Ok(a) => a,
                Err(e) => return api_error(e),
            };
            let input = CallInput {
                app: c.app,
                func: c.function,
                args,
                requester: Requester::Anonymous,
            };
            match run_call(&st.node, input).await {
                Ok(r) => match &r.outcome {
                    Outcome::Ok(vals) => json!({
                        "status": "ok",
                        "returns": vals.iter().map(Value::to_json).collect::<Vec<_>>(),
                        "index": r.index,
                    }),
                    Outcome::Err(e) => json!({
                        "status": "error",
                        "code": e.code(),
                        "message": e.to_string(),
                        "index": r.index,
                    }),
                },
                Err(e) => api_error(e),
            }
        }
        Request::WasmList(_) => {
            let apps: Vec<Json> = st.node.apps().iter().map(|a| app_json(a, h)).collect();
            json!({"status": "apps", "apps": apps})
        }
        Request::WasmUnload(u) => match unload_app(st, u.name, Requester::Anonymous).await {
            Ok((info, index)) => {
                h.lock().remove(&info.name);
                json!({"status": "unloaded", "name": info.name, "index": index})
            }
            Err(e) => api_error(e),
        },
    }
}
