//! The transcript form of an HTTP exchange, and the comparison replay uses. Pure.
//!
//! Headers are recorded with lowercase names, sorted by name (a stable sort, so repeated
//! headers keep the order the guest gave them): the same request always has the same
//! record, whatever order the host's header map iterates in. Values that are not UTF-8
//! are recorded lossily (U+FFFD); the record is what replay compares, so this only means
//! two requests differing in invalid bytes alone compare equal.

use super::error::HttpError;
use super::policy::{Host, parse_authority};
use crate::transcript::HttpRequestRecord;

/// Normalises a header list: lowercase names, stable-sorted by name.
pub fn normalize_headers(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    for (name, _) in headers.iter_mut() {
        name.make_ascii_lowercase();
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    headers
}

/// Headers from an [`http::HeaderMap`], normalised.
pub fn headers_from_map(map: &http::HeaderMap) -> Vec<(String, String)> {
    normalize_headers(
        map.iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    )
}

/// A parsed request URL: what the client needs to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host from the authority.
    pub host: Host,
    /// Port (explicit, or 443).
    pub port: u16,
    /// The authority as written (for the `host` header).
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Builds the absolute URL `scheme://authority/path` from the parts a guest sets on a
/// `wasi:http` request. `scheme` is `None` when the guest left it unset (`https` is
/// assumed, as wasmtime does).
pub fn url_from_parts(
    scheme: Option<&str>,
    authority: Option<&str>,
    path_with_query: Option<&str>,
) -> String {
    let scheme = scheme.unwrap_or("https");
    let authority = authority.unwrap_or("");
    let path = match path_with_query {
        None | Some("") => "/".to_string(),
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
    };
    format!("{scheme}://{authority}{path}")
}

/// Parses an absolute URL as recorded, enforcing `https://`.
///
/// ```
/// use ledgervm_runtime::http::record::parse_https_url;
/// let t = parse_https_url("https://Example.com:8443/feed?x=1").unwrap();
/// assert_eq!((t.port, t.path.as_str()), (8443, "/feed?x=1"));
/// assert_eq!(parse_https_url("http://example.com/").unwrap_err().code(), "egress.not_https");
/// ```
pub fn parse_https_url(url: &str) -> Result<Target, HttpError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| HttpError::BadUrl(format!("{url:?} is not absolute")))?;
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(HttpError::NotHttps {
            scheme: scheme.to_ascii_lowercase(),
        });
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let (host, port) = parse_authority(authority).map_err(HttpError::BadUrl)?;
    Ok(Target {
        host,
        port: port.unwrap_or(443),
        authority: authority.to_string(),
        path,
    })
}

/// Which part of a replayed request differs from the recorded one, if any: `"method"`,
/// `"url"`, `"headers"` or `"body"` (the first that differs, in that order).
pub fn request_difference(
    recorded: &HttpRequestRecord,
    asked: &HttpRequestRecord,
) -> Option<&'static str> {
    if recorded.method != asked.method {
        Some("method")
    } else if recorded.url != asked.url {
        Some("url")
    } else if recorded.headers != asked.headers {
        Some("headers")
    } else if recorded.body != asked.body {
        Some("body")
    } else {
        None
    }
}

/// How a replayed request is described in a divergence: the question the guest asked.
pub fn describe_request(req: &HttpRequestRecord) -> String {
    format!("http {} {}", req.method, req.url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req() -> HttpRequestRecord {
        HttpRequestRecord {
            method: "GET".into(),
            url: "https://a/b".into(),
            headers: vec![("accept".into(), "*/*".into())],
            body: vec![],
        }
    }

    #[test]
    fn differences_are_named_in_order() {
        let r = req();
        assert_eq!(request_difference(&r, &r), None);
        let mut x = r.clone();
        x.body = b"!".to_vec();
        assert_eq!(request_difference(&r, &x), Some("body"));
        x.headers.push(("x".into(), "y".into()));
        assert_eq!(request_difference(&r, &x), Some("headers"));
        x.url = "https://a/c".into();
        assert_eq!(request_difference(&r, &x), Some("url"));
        x.method = "POST".into();
        assert_eq!(request_difference(&r, &x), Some("method"));
    }

    #[test]
    fn urls() {
        assert_eq!(url_from_parts(None, Some("h:1"), None), "https://h:1/");
        assert_eq!(
            url_from_parts(Some("http"), Some("h"), Some("x?y")),
            "http://h/x?y"
        );
        let t = parse_https_url("https://[::1]:8443").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.authority.as_str()),
            (8443, "/", "[::1]:8443")
        );
        let t = parse_https_url("HTTPS://h?q=1").unwrap();
        assert_eq!((t.port, t.path.as_str()), (443, "/?q=1"));
        assert_eq!(
            parse_https_url("ftp://h/").unwrap_err().code(),
            "egress.not_https"
        );
        assert_eq!(parse_https_url("h/").unwrap_err().code(), "egress.bad_url");
        assert_eq!(
            parse_https_url("https://u@h/").unwrap_err().code(),
            "egress.bad_url"
        );
        assert_eq!(
            parse_https_url("https:///x").unwrap_err().code(),
            "egress.bad_url"
        );
    }

    proptest! {
        /// Normalisation is idempotent and independent of the input order of distinct
        /// header names.
        #[test]
        fn header_normalisation_is_canonical(
            mut hs in proptest::collection::btree_map("[A-Za-z-]{1,6}", "[ -~]{0,6}", 0..6)
                .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
        ) {
            // Names differing only in case would make order depend on input; keep distinct.
            hs.sort_by_key(|(k, _)| k.to_ascii_lowercase());
            hs.dedup_by_key(|(k, _)| k.to_ascii_lowercase());
            let a = normalize_headers(hs.clone());
            prop_assert_eq!(normalize_headers(a.clone()), a.clone());
            hs.reverse();
            prop_assert_eq!(normalize_headers(hs), a);
        }

        #[test]
        fn url_parser_never_panics(s in "\\PC{0,60}") {
            let _ = parse_https_url(&s);
        }
    }
}
