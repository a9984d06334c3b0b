//! Static read paths: the C2SP `tlog-tiles` tree under `/log/` and content-addressed
//! blobs under `/blobs/`.
//!
//! No user-supplied path is ever joined onto a disk path: a tile path is parsed into
//! [`Tile`] coordinates with the strict canonical parser and the file name is rebuilt
//! from those coordinates, so `..`, percent-encoded separators, dot-files (`.journal`,
//! `.lock`) and the log key outside the directory are unreachable by construction.

use crate::ServerState;
use crate::error::{ApiError, codes};
use crate::extract::Path;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledgervm_log::tile::Tile;

/// Cache policy for content that can never change at its URL.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy for partial tiles: their bytes are fixed too, but they are replaced by
/// the full tile (and may be removed), so caches should not hold them long.
pub const SHORT_LIVED: &str = "public, max-age=10";
/// Cache policy for the checkpoint, which changes with every commit.
pub const NO_STORE: &str = "no-store";

fn bytes_response(bytes: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// What a `/log/tile/...` path names, after strict parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogObject {
    /// A hash tile, `tile/<L>/<N>[.p/<W>]`.
    Hash(Tile),
    /// An entry bundle, `tile/entries/<N>[.p/<W>]`.
    Entries(Tile),
}

impl LogObject {
    /// Parses the part of the URL after `/log/tile/`. Only canonical paths parse.
    pub fn parse(rest: &str) -> Option<LogObject> {
        let path = format!("tile/{rest}");
        if rest.starts_with("entries/") {
            Tile::parse_entries_path(&path).ok().map(LogObject::Entries)
        } else {
            Tile::parse_path(&path).ok().map(LogObject::Hash)
        }
    }

    /// The relative file path, rebuilt from the coordinates (never from user input).
    pub fn file_path(&self) -> String {
        match self {
            LogObject::Hash(t) => t.path(),
            LogObject::Entries(t) => t.entries_path(),
        }
    }

    /// The `Cache-Control` value: full tiles never change.
    pub fn cache_control(&self) -> &'static str {
        let (LogObject::Hash(t) | LogObject::Entries(t)) = self;
        if t.is_full() { IMMUTABLE } else { SHORT_LIVED }
    }
}

/// `GET /log/checkpoint`: the newest signed checkpoint. Served from the node, not the
/// `checkpoint` file, which the log's background writer replaces a moment after each
/// commit (so a client that just got a receipt might otherwise see an older size). A
/// log always has one: an empty log signs its size-0 tree when it is opened.
pub(crate) async fn checkpoint(State(s): State<ServerState>) -> Response {
    bytes_response(
        s.node.checkpoint().to_vec(),
        "text/plain; charset=utf-8",
        NO_STORE,
    )
}

/// `GET /log/tile/{*path}`: hash tiles and entry bundles.
pub(crate) async fn tile(
    State(s): State<ServerState>,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    let obj = LogObject::parse(&rest).ok_or_else(|| {
        ApiError::not_found(
            codes::INVALID_LOG_PATH,
            format!(
                "{:?} is not a canonical tlog-tiles path",
                format!("tile/{rest}")
            ),
        )
    })?;
    let rel = obj.file_path();
    // Through the log's storage: a just-committed tile may not be in its file yet.
    let (node, path) = (s.node.clone(), rel.clone());
    let found = tokio::task::spawn_blocking(move || node.log_object(&path)).await??;
    match found {
        Some(b) => Ok(bytes_response(
            b,
            "application/octet-stream",
            obj.cache_control(),
        )),
        None => Err(ApiError::not_found(
            codes::TILE_NOT_FOUND,
            format!("no tile at {rel}"),
        )),
    }
}

/// `GET /blobs/{sha256}`: a content-addressed blob (modules, oversized records).
pub(crate) async fn blob(
    State(s): State<ServerState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !ledgervm_node::ids::is_sha256_hex(&name) {
        return Err(ApiError::bad_request(
            codes::INVALID_BLOB_NAME,
            format!("{name:?} is not a lowercase hex SHA-256"),
        ));
    }
    let node = s.node.clone();
    let bytes = tokio::task::spawn_blocking(move || node.blob(&name)).await??;
    Ok(bytes_response(bytes, "application/octet-stream", IMMUTABLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_parse_and_rebuild_identically() {
        for p in [
            "0/000",
            "0/x001/x234/067.p/4",
            "5/255",
            "entries/000.p/1",
            "entries/x001/000",
        ] {
            let obj = LogObject::parse(p).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(obj.file_path(), format!("tile/{p}"));
        }
        assert_eq!(
            LogObject::parse("0/000").unwrap().cache_control(),
            IMMUTABLE
        );
        assert_eq!(
            LogObject::parse("0/000.p/7").unwrap().cache_control(),
            SHORT_LIVED
        );
        assert_eq!(
            LogObject::parse("entries/000.p/7").unwrap().cache_control(),
            SHORT_LIVED
        );
    }

    #[test]
    fn traversal_and_private_files_never_parse() {
        for p in [
            "../../log.key",
            "../.journal",
            ".journal",
            "0/../../../log.key",
            "0/000/../../checkpoint",
            "%2e%2e/%2e%2e/log.key",
            "0/000%2f..",
            "0/0000",
            "0/001.p/0",
            "0/000.p/256",
            "6/000",
            "00/000",
            "entries/../000",
            "entries/.journal",
            "0/000.p/04",
            "0//000",
            "",
            "/etc/passwd",
            "0/000\0",
        ] {
            assert_eq!(LogObject::parse(p), None, "{p:?}");
        }
    }
}
