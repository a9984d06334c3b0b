//! Extractors whose every rejection is an [`ApiError`] with a stable code, instead of
//! axum's plain-text rejections.

use crate::error::{ApiError, codes};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// Maps a body-reading failure: over the route's limit is 413, anything else 400.
fn body_error(rejection: axum::extract::rejection::BytesRejection, limit_hint: &str) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::BODY_TOO_LARGE,
            format!("request body exceeds the {limit_hint} size limit"),
        )
    } else {
        ApiError::bad_request(codes::BAD_BODY, rejection.body_text())
    }
}

/// The media type of a request, lowercased, without parameters (`; charset=…`).
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

fn unsupported(got: Option<String>, want: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        codes::UNSUPPORTED_MEDIA_TYPE,
        match got {
            Some(t) => format!("content type {t:?} is not accepted here; send {want}"),
            None => format!("missing Content-Type; send {want}"),
        },
    )
}

/// A JSON request body (`Content-Type: application/json` or `+json`), decoded with serde.
/// Malformed JSON is 400 `bad_json` carrying serde's message (with line and column).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mt = media_type(req.headers());
        let is_json = mt.as_deref().is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        });
        if !is_json {
            return Err(unsupported(mt, "application/json"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_error(r, "JSON body"))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(codes::BAD_JSON, format!("invalid JSON body: {e}")))
    }
}

/// The media types a module upload may have: binary Wasm (`application/wasm`, or
/// `application/octet-stream` as generic tools send it) or WAT text (`text/plain`).
pub const MODULE_MEDIA_TYPES: [&str; 3] =
    ["application/wasm", "application/octet-stream", "text/plain"];

/// A module upload body: Wasm binary or WAT text, by content type.
pub struct ModuleBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ModuleBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mt = media_type(req.headers());
        if !mt
            .as_deref()
            .is_some_and(|t| MODULE_MEDIA_TYPES.contains(&t))
        {
            return Err(unsupported(mt, "application/wasm (or text/plain for WAT)"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_error(r, "module upload"))?;
        Ok(ModuleBody(bytes))
    }
}

/// Query parameters decoded with serde; failures are 400 `bad_query`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        query_from_uri(&parts.uri).map(Query).map_err(|e| {
            ApiError::bad_request(codes::BAD_QUERY, format!("invalid query string: {e}"))
        })
    }
}

fn query_from_uri<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|axum::extract::Query(t)| t)
        .map_err(|e| e.body_text())
}

/// Path parameters decoded with serde; failures are 400 `bad_path`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| Path(t))
            .map_err(|e| ApiError::bad_request(codes::BAD_PATH, e.body_text()))
    }
}

/// Who is calling, from the `X-Ledgervm-*` authentication headers ([`crate::auth`]);
/// malformed ones are 400/401 as `auth::requester` says. Reads the headers in place:
/// axum's `HeaderMap` extractor clones the whole map for every call.
pub struct Caller(pub ledgervm_node::Requester);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        crate::auth::requester(&parts.headers, None).map(Caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_ignores_parameters_and_case() {
        let mut h = HeaderMap::new();
        assert_eq!(media_type(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            "Text/Plain; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(media_type(&h).as_deref(), Some("text/plain"));
    }

    #[test]
    fn query_messages_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Q {
            index: u64,
        }
        let q = |s: &str| -> axum::http::Uri { format!("/x?{s}").parse().unwrap() };
        let e = query_from_uri::<Q>(&q("")).unwrap_err();
        assert!(e.contains("index"), "{e}");
        let e = query_from_uri::<Q>(&q("index=x")).unwrap_err();
        assert!(e.contains("invalid digit"), "{e}");
        assert_eq!(query_from_uri::<Q>(&q("index=7")).unwrap().index, 7);
        let pairs: Vec<(String, String)> = query_from_uri(&q("func=Sum&b=7&a=5")).unwrap();
        assert_eq!(
            pairs[1],
            ("b".to_string(), "7".to_string()),
            "order is kept"
        );
    }
}
