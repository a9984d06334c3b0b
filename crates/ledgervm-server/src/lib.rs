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
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ledgervm_node::{Node, NodeOptions};
//! use ledgervm_server::{serve, ServerOptions};
//!
//! let node = Node::open(NodeOptions::new("./ledgervm-data")).await?;
//! let server = serve(node, "127.0.0.1:8080".parse()?, ServerOptions::default()).await?;
//! println!("listening on http://{}", server.local_addr());
//! tokio::signal::ctrl_c().await?;
//! server.shutdown().await?; // finishes in-flight calls, then returns
//! # Ok(()) }
//! ```

pub mod apps;
pub mod auth;
pub mod calls;
pub mod error;
pub mod extract;
pub mod immutable;
pub mod middleware;
pub mod openapi;
pub mod records;
pub mod routes;
pub mod tiles;

pub use error::ApiError;

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
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            body_limit: 4 << 20,
            module_limit: 32 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct ServerState {
    pub(crate) node: Node,
    pub(crate) openapi: Arc<serde_json::Value>,
}

/// The complete router (with all middleware) for `node`, for embedding in another
/// server or driving in-process. [`serve`] runs exactly this.
pub fn router(node: Node, opts: &ServerOptions) -> Router {
    router_with_counter(node, opts, Arc::new(AtomicUsize::new(0)))
}

fn router_with_counter(node: Node, opts: &ServerOptions, in_flight: Arc<AtomicUsize>) -> Router {
    let table = routes::table(opts);
    let state = ServerState {
        node,
        openapi: Arc::new(openapi::document(&table)),
    };
    let mut r = Router::new();
    for route in table {
        r = r.route(route.path, route.handler);
    }
    let debug = state.node.auth_options().debug;
    r.fallback(middleware::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            debug,
            auth::debug_banner,
        ))
        .layer(axum::middleware::from_fn(
            middleware::json_method_not_allowed,
        ))
        .layer(axum::middleware::from_fn_with_state(
            opts.request_timeout,
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            in_flight,
            middleware::count_in_flight,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
}

/// A running server. Dropping the handle also shuts the server down (gracefully, in the
/// background); call [`ServerHandle::shutdown`] to wait for it.
pub struct ServerHandle {
    addr: SocketAddr,
    in_flight: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The address the server is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
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

/// Serves `node` on an already bound listener.
pub fn serve_listener(
    node: Node,
    listener: TcpListener,
    opts: ServerOptions,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let app = router_with_counter(node, &opts, in_flight.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tracing::info!(%addr, "ledgervm server listening");
        use axum::serve::ListenerExt;
        // Answers are small and latency-bound: never let Nagle hold one back.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // Either an explicit shutdown or the handle being dropped.
                let _ = stopped.await;
            })
            .await
    });
    Ok(ServerHandle {
        addr,
        in_flight,
        stop: Some(stop),
        task,
    })
}
