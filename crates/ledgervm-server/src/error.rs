//! API errors: every failure leaves the server as `{"code": …, "message": …}` with a
//! fitting HTTP status, so clients branch on the stable `code` and show the `message`.
//!
//! Codes that come from lower layers ([`NodeError::code`], value codec codes such as
//! `value.invalid_int`, load codes such as `load.compile`) pass through unchanged; the
//! codes this crate adds are the constants in [`codes`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledgervm_node::{ErrorKind, NodeError};
use std::borrow::Cow;

/// The error codes the HTTP layer itself produces. Stable: clients match on them.
pub mod codes {
    /// No route matches the path (404).
    pub const ROUTE_NOT_FOUND: &str = "route_not_found";
    /// The path exists but not with this method (405).
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The body is not valid JSON or not the expected shape (400).
    pub const BAD_JSON: &str = "bad_json";
    /// The `Content-Type` is not one this route accepts (415).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// The body exceeds the route's size limit (413).
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    /// The body could not be read (400).
    pub const BAD_BODY: &str = "bad_body";
    /// A query parameter is missing, unknown or malformed (400).
    pub const BAD_QUERY: &str = "bad_query";
    /// A path parameter is malformed, e.g. a non-numeric index (400).
    pub const BAD_PATH: &str = "bad_path";
    /// The request took longer than the server's request timeout (503).
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// A blob name that is not a lowercase hex SHA-256 (400).
    pub const INVALID_BLOB_NAME: &str = "invalid_blob_name";
    /// A `/log/...` path that is not a canonical C2SP tlog-tiles path (404).
    pub const INVALID_LOG_PATH: &str = "invalid_log_path";
    /// A canonical tile path with no tile (yet) on disk (404).
    pub const TILE_NOT_FOUND: &str = "tile_not_found";
    /// The demo route was called without `func` (400).
    pub const MISSING_FUNC: &str = "missing_func";
    /// A bug or host failure in the server (500).
    pub const INTERNAL: &str = "internal";
}

/// An error answer: status, stable code and human message.
///
/// ```
/// use ledgervm_server::ApiError;
/// let e = ApiError::bad_request("bad_query", "missing field `size`");
/// assert_eq!(e.status.as_u16(), 400);
/// assert_eq!(e.body()["code"], "bad_query");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: Cow<'static, str>,
    /// Human-readable detail.
    pub message: String,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 Not Found.
    pub fn not_found(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }

    /// The JSON body, `{"code", "message"}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code, "message": self.message})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// The HTTP status for a node error class.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let status = status_for(e.kind());
        if status.is_server_error() {
            tracing::error!(code = e.code(), error = %e, "node error");
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<ledgervm_runtime::value::ValueError> for ApiError {
    fn from(e: ledgervm_runtime::value::ValueError) -> ApiError {
        ApiError::bad_request(e.code(), e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        tracing::error!(error = %e, "request task failed");
        ApiError::internal(format!("request task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// A JSON response with the given status (compact, `application/json`).
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body)
        .unwrap_or_else(|_| b"{\"code\":\"internal\",\"message\":\"unserializable\"}".to_vec());
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_keep_their_code_and_map_their_kind() {
        let cases = [
            (
                NodeError::InvalidName("a/b".into()),
                400,
                "invalid_app_name",
            ),
            (NodeError::AppNotFound("x".into()), 404, "app_not_found"),
            (NodeError::Forbidden("signed only".into()), 403, "forbidden"),
            (
                NodeError::LogUnavailable("disk".into()),
                503,
                "log_unavailable",
            ),
            (NodeError::OutOfRange("index 9".into()), 400, "out_of_range"),
            (NodeError::Corrupt("bad".into()), 500, "corrupt_data"),
            (NodeError::BlobNotFound("ab".into()), 404, "blob_not_found"),
        ];
        for (e, status, code) in cases {
            let msg = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status, "{code}");
            assert_eq!(api.code, code);
            assert_eq!(api.message, msg);
        }
    }

    #[test]
    fn every_kind_has_a_distinct_status() {
        use std::collections::HashSet;
        let kinds = [
            ErrorKind::BadRequest,
            ErrorKind::NotFound,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::Conflict,
            ErrorKind::Unavailable,
            ErrorKind::TooLarge,
            ErrorKind::Internal,
        ];
        let statuses: HashSet<_> = kinds.iter().map(|k| status_for(*k)).collect();
        assert_eq!(statuses.len(), kinds.len());
        assert!(
            statuses
                .iter()
                .all(|s| s.is_client_error() || s.is_server_error())
        );
    }

    #[test]
    fn response_is_json_with_code_and_message() {
        let resp = ApiError::not_found("route_not_found", "no route GET /x").into_response();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }
}
