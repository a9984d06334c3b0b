//! The one route table. The router and the OpenAPI document are both built from it, so
//! a route cannot be served without being documented, or documented without being served.

use crate::openapi::{self, Op};
use crate::{ServerOptions, ServerState, apps, attestation, calls, immutable, records, tiles, ws};
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use std::convert::Infallible;

/// One route: method, axum path pattern, its OpenAPI operation and its handler.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// axum path pattern (`/v1/apps/{name}`, `/log/tile/{*path}`).
    pub path: &'static str,
    /// The OpenAPI operation object.
    pub op: Op,
    /// The handler, with its per-route layers.
    pub(crate) handler: MethodRouter<ServerState>,
}

impl Route {
    /// The path in OpenAPI form: axum's catch-all `{*path}` becomes `{path}`.
    pub fn openapi_path(&self) -> String {
        self.path.replace("{*", "{")
    }
}

fn route<H, T>(method: Method, path: &'static str, handler: H, op: Op) -> Route
where
    H: Handler<T, ServerState>,
    T: 'static,
{
    let filter =
        MethodFilter::try_from(method.clone()).expect("route methods are standard methods");
    Route {
        method,
        path,
        op,
        handler: axum::routing::on(filter, handler),
    }
}

impl Route {
    /// Bodies over `bytes` are refused with 413 `body_too_large`: at once when the
    /// request declares its length, else as soon as that many bytes have arrived.
    fn body_limit(mut self, bytes: usize) -> Route {
        self.handler = self
            .handler
            .layer::<_, Infallible>(DefaultBodyLimit::max(bytes))
            .layer::<_, Infallible>(crate::middleware::DeclaredLengthLimit(bytes));
        self
    }
}

/// Every route the server answers, in documentation order.
pub fn table(opts: &ServerOptions) -> Vec<Route> {
    use Method as M;
    vec![
        route(
            M::PUT,
            "/v1/apps/{name}",
            apps::load,
            openapi::load_app(opts),
        )
        .body_limit(opts.module_limit),
        route(M::GET, "/v1/apps", apps::list, openapi::list_apps()),
        route(M::GET, "/v1/apps/{name}", apps::get, openapi::get_app()),
        route(
            M::DELETE,
            "/v1/apps/{name}",
            apps::unload,
            openapi::unload_app(),
        ),
        route(
            M::GET,
            "/v1/apps/{name}/kv/{key}",
            apps::kv_get,
            openapi::kv_get(),
        ),
        route(
            M::POST,
            "/v1/apps/{name}/calls/{func}",
            calls::call,
            openapi::call(opts),
        )
        .body_limit(opts.body_limit),
        route(
            M::GET,
            "/v1/records/{index}",
            records::record,
            openapi::get_record(),
        ),
        route(
            M::GET,
            "/v1/receipts/{index}",
            records::receipt,
            openapi::get_receipt(),
        ),
        route(
            M::GET,
            "/v1/proofs/inclusion",
            records::inclusion,
            openapi::inclusion(),
        ),
        route(
            M::GET,
            "/v1/proofs/consistency",
            records::consistency,
            openapi::consistency(),
        ),
        route(M::GET, "/v1/log", records::log_info, openapi::log_info()),
        route(
            M::GET,
            "/v1/attestation",
            attestation::get,
            openapi::attestation(),
        ),
        route(M::GET, "/v1/ws", ws::upgrade, openapi::websocket()),
        route(
            M::GET,
            "/v1/openapi.json",
            openapi::serve_document,
            openapi::document_op(),
        ),
        route(M::GET, "/blobs/{sha256}", tiles::blob, openapi::blob()),
        route(
            M::GET,
            "/log/checkpoint",
            tiles::checkpoint,
            openapi::checkpoint(),
        ),
        route(M::GET, "/log/tile/{*path}", tiles::tile, openapi::tile()),
        route(
            M::GET,
            "/immutable/{app}",
            immutable::immutable,
            openapi::immutable(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn no_duplicate_method_and_path() {
        let t = table(&ServerOptions::default());
        let set: HashSet<_> = t.iter().map(|r| (r.method.clone(), r.path)).collect();
        assert_eq!(set.len(), t.len());
    }

    #[test]
    fn catch_all_becomes_a_plain_parameter() {
        let t = table(&ServerOptions::default());
        let tile = t.iter().find(|r| r.path.starts_with("/log/tile/")).unwrap();
        assert_eq!(tile.openapi_path(), "/log/tile/{path}");
    }
}
