//! Cross-cutting layers: request timeout, in-flight accounting, and JSON answers for the
//! responses axum would otherwise give as plain text (unknown route, wrong method, panic).

use crate::error::{ApiError, codes, json_response};
use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

/// Fallback for paths no route matches: 404 `route_not_found`.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        codes::ROUTE_NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

/// What every request passes through, as one layer: in-flight accounting, the request
/// timeout, JSON for axum's empty 405, and the `--debug` banner.
///
/// A hand-written tower layer with a named future: it was four `from_fn` layers, then
/// one, and each `from_fn` clones the rest of the stack and boxes a future per request,
/// which `ledgervm bench` showed among the allocations of a call.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    pub in_flight: Arc<AtomicUsize>,
    pub timeout: Duration,
    pub debug: bool,
}

impl<S> tower_layer::Layer<S> for Edge {
    type Service = EdgeService<S>;
    fn layer(&self, inner: S) -> EdgeService<S> {
        EdgeService {
            inner,
            edge: self.clone(),
        }
    }
}

/// The service of [`Edge`].
#[derive(Clone, Debug)]
pub(crate) struct EdgeService<S> {
    inner: S,
    edge: Edge,
}

impl<S> tower_service::Service<Request> for EdgeService<S>
where
    S: tower_service::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.edge.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self.edge.in_flight.clone());
        let (method, uri) = (req.method().clone(), req.uri().clone());
        EdgeFuture {
            // Calls run on tasks of their own, so a call cut off here still completes
            // and is logged.
            inner: tokio::time::timeout(self.edge.timeout, self.inner.call(req)),
            _guard: guard,
            method,
            uri,
            timeout: self.edge.timeout,
            debug: self.edge.debug,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request under [`Edge`]: counted in flight until it completes or is dropped.
    pub(crate) struct EdgeFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        _guard: InFlight,
        method: Method,
        uri: Uri,
        timeout: Duration,
        debug: bool,
    }
}

impl<F, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = match std::task::ready!(this.inner.poll(cx)) {
            Ok(Ok(resp)) => json_method_not_allowed(resp, this.method, this.uri),
            Ok(Err(e)) => return Poll::Ready(Err(e)),
            Err(_elapsed) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::REQUEST_TIMEOUT,
                format!("request took longer than {} ms", this.timeout.as_millis()),
            )
            .into_response(),
        };
        if *this.debug {
            crate::auth::debug_banner(&mut resp);
        }
        Poll::Ready(Ok(resp))
    }
}

/// Turns axum's empty 405 into a JSON 405 `method_not_allowed`, keeping its `Allow`
/// header.
fn json_method_not_allowed(resp: Response, method: &Method, uri: &Uri) -> Response {
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    let body = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response();
    let (bparts, body) = body.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(bparts.headers);
    Response::from_parts(parts, body)
}

/// Counts a request as in flight until dropped (graceful shutdown waits for zero).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Refuses a request whose `Content-Length` is over the route's body limit with 413
/// `body_too_large` before any of the body is read. The body extractors enforce the same
/// limit while reading, but only as bytes arrive: without this, a client announcing
/// 10 MiB and sending nothing held the request until `request_timeout` (503) instead of
/// being told at once that the body is too large.
///
/// A plain tower layer rather than `axum::middleware::from_fn`: that clones the rest of
/// the route's stack and boxes a future for every request, on every call's route.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeclaredLengthLimit(pub usize);

impl<S> tower_layer::Layer<S> for DeclaredLengthLimit {
    type Service = DeclaredLengthLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeclaredLengthLimitService {
            inner,
            limit: self.0,
        }
    }
}

/// The service of [`DeclaredLengthLimit`].
#[derive(Clone, Debug)]
pub(crate) struct DeclaredLengthLimitService<S> {
    inner: S,
    limit: usize,
}

impl<S> tower_service::Service<Request> for DeclaredLengthLimitService<S>
where
    S: tower_service::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(n) if n > self.limit as u64 => Either::Left(ready(Ok(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::BODY_TOO_LARGE,
                format!(
                    "request body of {n} bytes exceeds the limit of {} bytes",
                    self.limit
                ),
            )
            .into_response()))),
            _ => Either::Right(self.inner.call(req)),
        }
    }
}

/// A handler panic becomes a JSON 500 instead of a dropped connection.
pub(crate) fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    tracing::error!(panic = what, "handler panicked");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &ApiError::internal("the server hit a bug handling this request").body(),
    )
}
