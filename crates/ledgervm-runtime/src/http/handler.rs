//! `wasi:http/outgoing-handler.handle`, replaced by ours so every outbound request is one
//! oracle answer taken at a fixed point of the guest's execution.
//!
//! wasmtime-wasi-http's own `handle` spawns the request and returns at once; its
//! `send_request` hook then finishes at a time the guest cannot see, so the position of
//! the answer among other oracle answers (random, clocks) would depend on thread timing.
//! Ours is an async host function: the guest is suspended while the exchange runs (live)
//! or is looked up (replay), the event is recorded at that moment, and the guest gets a
//! future that is already resolved. Everything else in `wasi:http/types` (fields,
//! bodies, streams) is wasmtime-wasi-http's, unchanged.
//!
//! Consequences a guest author should know: the request body must be finished
//! (`outgoing-body.finish`) before `handle` (else `http-request-body-size`), trailers
//! are not sent, and request-options timeouts are ignored in favour of the operator's
//! [`super::EgressConfig`].

use super::EgressConfig;
use super::client;
use super::error::{HttpError, guest_error_for_record};
use super::record::{describe_request, normalize_headers, request_difference, url_from_parts};
use crate::oracle::Oracles;
use crate::transcript::{HttpRequestRecord, HttpResponseRecord, OracleEvent};
use bytes::Bytes;
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Method, Scheme};
use wasmtime_wasi_http::p2::body::{HyperIncomingBody, HyperOutgoingBody};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{RequestOptions, WasiHttpView};

/// The WIT instance name we define. Guests importing any 0.2.x version link to it through
/// the linker's semver matching.
pub const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// What the handler needs from a store's data.
pub struct EgressCtx<'a> {
    /// The component's resource table (requests and futures live there).
    pub table: &'a mut ResourceTable,
    /// This call's oracles (record or replay).
    pub oracles: &'a Oracles,
    /// Policy, roots, timeouts.
    pub config: &'a Arc<EgressConfig>,
    /// When the call's wall-clock deadline fires; live exchanges end (as a recorded
    /// `http.timeout`) [`DEADLINE_MARGIN`] before it.
    pub deadline_at: Instant,
}

/// How long before the call's deadline a live exchange is given up, so the failure is
/// recorded and the guest resumes before the deadline stops it inside the host call.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// Implemented by store data that offers egress.
pub trait EgressView: Send {
    /// Borrows the egress context.
    fn egress(&mut self) -> EgressCtx<'_>;
}

/// Adds `wasi:http/types` (wasmtime-wasi-http's) and our `wasi:http/outgoing-handler` to
/// `linker`. The linker must also have `wasi:io` (e.g. from
/// `wasmtime_wasi::p2::add_to_linker_async`), and the engine must have async support.
pub fn add_to_linker<T>(linker: &mut Linker<T>) -> wasmtime::Result<()>
where
    T: EgressView + WasiHttpView + 'static,
{
    wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<_, wasmtime_wasi_http::WasiHttp>(
        linker,
        &Default::default(),
        T::http,
    )?;
    linker.instance(OUTGOING_HANDLER)?.func_wrap_async(
        "handle",
        |mut store: wasmtime::StoreContextMut<'_, T>,
         (request, _options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<RequestOptions>>,
        )| {
            Box::new(async move {
                let req = store.data_mut().egress().table.delete(request)?;
                let (oracles, config, deadline_at) = {
                    let ctx = store.data_mut().egress();
                    (ctx.oracles.clone(), ctx.config.clone(), ctx.deadline_at)
                };
                let budget = deadline_at
                    .saturating_duration_since(Instant::now())
                    .saturating_sub(DEADLINE_MARGIN);
                let answer = answer(&oracles, &config, req, budget).await;
                let ready = match answer {
                    Some(Ok(resp)) => HostFutureIncomingResponse::Ready(
                        to_hyper(resp).map(|r| (r, wasmtime_wasi::runtime::spawn(async {}))),
                    ),
                    Some(Err(text)) => {
                        HostFutureIncomingResponse::Ready(Err(guest_error_for_record(&text)))
                    }
                    // Replay divergence: the runtime reports it and stops the guest; the
                    // guest's own view of this request does not matter any more.
                    None => HostFutureIncomingResponse::Ready(Err(
                        wasmtime_wasi_http::Error::InternalError(Some("replay divergence".into())),
                    )),
                };
                let id = store.data_mut().egress().table.push(ready)?;
                Ok((Ok::<_, ErrorCode>(id),))
            })
        },
    )?;
    Ok(())
}

fn method_str(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(s) => s.clone(),
    }
}

fn scheme_str(s: &Scheme) -> &str {
    match s {
        Scheme::Http => "http",
        Scheme::Https => "https",
        Scheme::Other(s) => s.as_str(),
    }
}

/// Takes everything the guest already wrote to the body, and fails if the body is not
/// finished: waiting here would wait for a guest that is suspended until we return.
async fn finished_body(body: Option<HyperOutgoingBody>, cap: usize) -> Result<Vec<u8>, HttpError> {
    let Some(mut body) = body else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    std::future::poll_fn(|cx| {
        loop {
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are dropped (documented above).
                    if let Ok(data) = frame.into_data() {
                        out.extend_from_slice(&data);
                        if out.len() > cap {
                            return Poll::Ready(Err(HttpError::RequestBody(format!(
                                "more than the {cap}-byte cap"
                            ))));
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(HttpError::RequestBody(format!("{e:?}"))));
                }
                Poll::Pending => {
                    return Poll::Ready(Err(HttpError::RequestBody(
                        "not finished before outgoing-handler.handle".into(),
                    )));
                }
            }
        }
    })
    .await?;
    Ok(out)
}

/// One-line description of a request for divergence messages: method, URL, headers and
/// body size, so a difference in any of them shows.
fn describe_full(req: &HttpRequestRecord) -> String {
    let headers: Vec<String> = req
        .headers
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut s = format!(
        "{} (headers: {}; body: {} bytes)",
        describe_request(req),
        headers.join(", "),
        req.body.len()
    );
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The oracle answer for one request: `Some(Ok)` a response, `Some(Err)` a failure in
/// transcript form, `None` a replay divergence (already noted in `oracles`).
async fn answer(
    oracles: &Oracles,
    config: &EgressConfig,
    req: HostOutgoingRequest,
    budget: Duration,
) -> Option<Result<HttpResponseRecord, String>> {
    let url = url_from_parts(
        req.scheme.as_ref().map(scheme_str),
        req.authority.as_deref(),
        req.path_with_query.as_deref(),
    );
    let headers = normalize_headers(
        req.headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    );
    let method = method_str(&req.method);
    let body = finished_body(req.body, config.max_request_bytes).await;
    let (record, body_error) = match body {
        Ok(body) => (
            HttpRequestRecord {
                method,
                url,
                headers,
                body,
            },
            None,
        ),
        Err(e) => (
            HttpRequestRecord {
                method,
                url,
                headers,
                body: Vec::new(),
            },
            Some(e),
        ),
    };
    if oracles.is_replay() {
        let asked = describe_full(&record);
        let event = oracles.next_replay(&asked, |e| {
            matches!(e, OracleEvent::Http { request, .. } if request_difference(request, &record).is_none())
        })?;
        match event {
            OracleEvent::Http { response, .. } => Some(response),
            _ => None,
        }
    } else {
        let response = match body_error {
            Some(e) => Err(e),
            None => client::exchange(config, &record, budget).await,
        }
        .map_err(|e| e.to_record());
        oracles.record(OracleEvent::Http {
            request: record,
            response: response.clone(),
        });
        Some(response)
    }
}

/// The guest's view of a recorded response: status, headers, and the body as one frame.
/// Invalid header names or values in a (tampered) transcript are skipped, the same way
/// every time.
fn to_hyper(
    resp: HttpResponseRecord,
) -> Result<http::Response<HyperIncomingBody>, wasmtime_wasi_http::Error> {
    let status = http::StatusCode::from_u16(resp.status).map_err(|_| {
        wasmtime_wasi_http::Error::InternalError(Some(format!("bad status {}", resp.status)))
    })?;
    let mut builder = http::Response::builder().status(status);
    for (k, v) in &resp.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            builder = builder.header(name, value);
        }
    }
    let body = Full::new(Bytes::from(resp.body))
        .map_err(|never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} })
        .boxed_unsync();
    builder
        .body(body)
        .map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_responses_convert_and_bad_headers_are_skipped() {
        let r = to_hyper(HttpResponseRecord {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/xml".into()),
                ("bad name".into(), "x".into()),
            ],
            body: b"<rss/>".to_vec(),
        })
        .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers().len(), 1);
        assert!(
            to_hyper(HttpResponseRecord {
                status: 42,
                headers: vec![],
                body: vec![]
            })
            .is_err()
        );
    }

    #[test]
    fn divergence_description_shows_headers_and_body_size() {
        let d = describe_full(&HttpRequestRecord {
            method: "GET".into(),
            url: "https://h/".into(),
            headers: vec![("accept".into(), "x".into())],
            body: vec![1, 2],
        });
        assert_eq!(d, "http GET https://h/ (headers: accept=x; body: 2 bytes)");
        let long = describe_full(&HttpRequestRecord {
            method: "GET".into(),
            url: format!("https://h/{}", "é".repeat(400)),
            headers: vec![],
            body: vec![],
        });
        assert!(long.ends_with('…'));
    }

    #[tokio::test]
    async fn missing_body_is_empty() {
        assert_eq!(finished_body(None, 10).await.unwrap(), Vec::<u8>::new());
    }
}
