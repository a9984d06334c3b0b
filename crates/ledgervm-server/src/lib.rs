//! # ledgervm-server
//!
//! The HTTP transport of a [`ledgervm_node::Node`]: the JSON API under `/v1/`, the
//! C2SP `tlog-tiles` read paths under `/log/`, content-addressed blobs under `/blobs/`,
//! the immudb demo route `/immutable/{app}` and the OpenAPI document.
//!
//! * [`routes`] — the one route table the router and the OpenAPI document share.
//! * [`apps`], [`calls`], [`records`], [`tiles`], [`immutable`] — handlers by concern.
//! * [`error`] — [`ApiError`]: every failure is `{"code", "message"}` with a stable code.
//! * [`extract`] — extractors whose rejections are [`ApiError`]s.
//! * [`middleware`] — request timeout, in-flight accounting, JSON 404/405/500.
//! * `accept` — the accept loop: hyper with a timer, so slow or idle request heads are
//!   cut off (`axum::serve` has no header-read timeout).
//! * [`tls`], [`attestation`] — TLS on every listener with a certificate bound to the
//!   signed identity document (`GET /v1/attestation`), re-issued on every load/unload.
//! * [`frames`] (pure codec) and [`frame_listener`] — Enclave OS's length-prefixed JSON
//!   frames (`wasm_load`/`wasm_call`/`wasm_list`/`wasm_unload`).
//! * [`ws`] — JSON-RPC 2.0 over WebSocket at `/v1/ws`, NodeVMS style.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ledgervm_node::{Node, NodeOptions};
//! use ledgervm_server::{serve, ServerOptions};
//!
//! let node = Node::open(NodeOptions::new("./ledgervm-data")).await?;
//! let server = serve(node, "127.0.0.1:8443".parse()?, ServerOptions::default()).await?;
//! println!("listening on {}", server.url());
//! tokio::signal::ctrl_c().await?;
//! server.shutdown().await?; // finishes in-flight calls, then returns
//! # Ok(()) }
//! ```

mod accept;
pub mod apps;
pub mod attestation;
pub mod auth;
pub mod calls;
pub mod error;
pub mod extract;
pub mod frame_listener;
pub mod frames;
pub mod immutable;
pub mod middleware;
pub mod openapi;
pub mod records;
pub mod routes;
pub mod tiles;
pub mod tls;
pub mod ws;

pub use attestation::Attestation;
pub use error::ApiError;
pub use tls::TlsSettings;

use axum::Router;
use ledgervm_node::Node;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Server settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// Largest JSON request body, in bytes (default 4 MiB).
    pub body_limit: usize,
    /// Largest module upload, in bytes (default 32 MiB).
    pub module_limit: usize,
    /// Longest a request may take before it is answered 503 `request_timeout` (default
    /// 30 s). Calls also have their own per-app deadline; a call cut off by this timeout
    /// still completes and is logged.
    pub request_timeout: Duration,
    /// Longest a connection may take to send a complete request head, and longest it may
    /// sit idle waiting for its next request (default 30 s); then it is closed. This is
    /// what stops slowloris on the head, which `request_timeout` cannot see (no request
    /// exists until the head is complete).
    pub header_read_timeout: Duration,
    /// TLS settings; `None` serves plain HTTP (for in-process tests and embedding
    /// behind a TLS-terminating proxy). Default: a self-signed, attested certificate.
    pub tls: Option<TlsSettings>,
    /// Also serve the framed JSON protocol ([`frame_listener`]) on this address.
    pub frame_listen: Option<SocketAddr>,
    /// Limits of each framed-protocol connection.
    pub frame_limits: frame_listener::FrameLimits,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            body_limit: 4 << 20,
            module_limit: 32 << 20,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            tls: Some(TlsSettings::SelfSigned),
            frame_listen: None,
            frame_limits: frame_listener::FrameLimits::default(),
        }
    }
}

/// What every handler sees: one shared [`StateInner`]. axum clones the state for every
/// request; a single reference count keeps that to one atomic increment (several, on
/// counters both cores touch, were ~0.7% of the server's CPU in `ledgervm bench`).
#[derive(Clone)]
pub(crate) struct ServerState(Arc<StateInner>);

impl ServerState {
    pub(crate) fn new(inner: StateInner) -> ServerState {
        ServerState(Arc::new(inner))
    }
}

impl std::ops::Deref for ServerState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// The state behind [`ServerState`].
pub(crate) struct StateInner {
    pub(crate) node: Node,
    pub(crate) openapi: Arc<serde_json::Value>,
    pub(crate) identity: Arc<Attestation>,
    /// Largest JSON message (also WebSocket messages).
    pub(crate) body_limit: usize,
}

/// The complete router (with all middleware) for `node`, for embedding in another
/// server or driving in-process (plain HTTP: no certificate carries the identity).
/// [`serve`] runs exactly this.
pub fn router(node: Node, opts: &ServerOptions) -> std::io::Result<Router> {
    let identity = Attestation::new(&node, None).map_err(std::io::Error::other)?;
    Ok(router_with(
        node,
        opts,
        identity,
        Arc::new(AtomicUsize::new(0)),
    ))
}

fn router_with(
    node: Node,
    opts: &ServerOptions,
    identity: Arc<Attestation>,
    in_flight: Arc<AtomicUsize>,
) -> Router {
    let table = routes::table(opts);
    let state = ServerState::new(StateInner {
        node,
        openapi: Arc::new(openapi::document(&table)),
        identity,
        body_limit: opts.body_limit,
    });
    let mut r = Router::new();
    for route in table {
        r = r.route(route.path, route.handler);
    }
    let debug = state.node.auth_options().debug;
    r.fallback(middleware::not_found)
        .with_state(state)
        .layer(middleware::Edge {
            in_flight,
            timeout: opts.request_timeout,
            debug,
        })
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
}

/// A running server. Dropping the handle also shuts the server down (gracefully, in the
/// background); call [`ServerHandle::shutdown`] to wait for it.
pub struct ServerHandle {
    addr: SocketAddr,
    identity: Arc<Attestation>,
    frames: Option<frame_listener::FrameHandle>,
    in_flight: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The address the server is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://ADDR` (or `http://ADDR` without TLS).
    pub fn url(&self) -> String {
        let scheme = if self.identity.is_tls() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The attested identity (current document and certificate).
    pub fn identity(&self) -> &Arc<Attestation> {
        &self.identity
    }

    /// Where the framed protocol listens, if it was asked for.
    pub fn frame_addr(&self) -> Option<SocketAddr> {
        self.frames.as_ref().map(|f| f.local_addr())
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Stops accepting connections, lets every in-flight request finish (calls waiting
    /// for their commit get their answer), closes idle connections, then returns.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(f) = self.frames.take() {
            f.stop();
        }
        (&mut self.task)
            .await
            .map_err(|e| std::io::Error::other(format!("server task failed: {e}")))?
    }
}

/// Binds `addr` and serves `node` until [`ServerHandle::shutdown`].
pub async fn serve(
    node: Node,
    addr: SocketAddr,
    opts: ServerOptions,
) -> std::io::Result<ServerHandle> {
    serve_listener(node, TcpListener::bind(addr).await?, opts)
}

/// Serves `node` on an already bound listener (and, if `opts.frame_listen` is set, the
/// framed protocol on that address, sharing the same attested identity).
pub fn serve_listener(
    node: Node,
    listener: TcpListener,
    opts: ServerOptions,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let identity = Attestation::new(&node, opts.tls.as_ref()).map_err(std::io::Error::other)?;
    let app = router_with(node.clone(), &opts, identity.clone(), in_flight.clone());
    let frames = match opts.frame_listen {
        Some(faddr) => {
            let std_listener = std::net::TcpListener::bind(faddr)?;
            std_listener.set_nonblocking(true)?;
            let state = ServerState::new(StateInner {
                node,
                openapi: Arc::new(serde_json::Value::Null),
                identity: identity.clone(),
                body_limit: opts.body_limit,
            });
            Some(frame_listener::start(
                state,
                TcpListener::from_std(std_listener)?,
                opts.frame_limits.clone(),
            )?)
        }
        None => None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let tls = identity.is_tls();
    let listener = if tls {
        accept::Listener::Tls(tls::TlsListener::new(listener, identity.clone())?)
    } else {
        accept::Listener::Plain(listener)
    };
    let header_read_timeout = opts.header_read_timeout;
    let task = tokio::spawn(async move {
        tracing::info!(%addr, tls, "ledgervm server listening");
        // Either an explicit shutdown or the handle being dropped.
        let stopped = async move {
            let _ = stopped.await;
        };
        accept::run(listener, app, header_read_timeout, stopped).await
    });
    Ok(ServerHandle {
        addr,
        identity,
        frames,
        in_flight,
        stop: Some(stop),
        task,
    })
}
