//! Why an outbound request failed, with stable codes.
//!
//! A failure is part of the transcript (`OracleEvent::Http { response: Err(text) }`), where
//! it is stored as `"<code>: <message>"`. Replay turns that text back into the same
//! `wasi:http` error code for the guest with [`guest_error_for_record`], so a replayed
//! failure looks exactly like the live one to the guest.

use super::policy::BlockedRange;
use wasmtime_wasi_http::Error as WasiHttpError;

/// An outbound HTTP failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `https://` (plain `http://` included).
    #[error("only https:// is allowed, not {scheme}://")]
    NotHttps {
        /// The scheme the guest asked for.
        scheme: String,
    },
    /// The URL could not be understood (missing or malformed authority, user-info, …).
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// Every address of the destination is in a blocked range and no allow rule permits it.
    #[error("{addr} is a {range} address and no allow rule permits it")]
    Blocked {
        /// The refused address (as resolved).
        addr: String,
        /// Why it is refused.
        range: BlockedRange,
    },
    /// DNS resolution failed.
    #[error("DNS lookup of {host} failed: {message}")]
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// DNS returned no address.
    #[error("{0} has no address")]
    NoAddress(String),
    /// TCP connect failed.
    #[error("connect to {addr} failed: {message}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The OS error.
        message: String,
    },
    /// TLS handshake or certificate verification failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A connect, response or overall timeout fired.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The HTTP exchange failed at the protocol level.
    #[error("HTTP protocol error: {0}")]
    Protocol(String),
    /// The response body exceeded the configured cap.
    #[error("response body exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The request body exceeded the cap, or was not finished when the guest called
    /// `handle` (bodies must be complete before the request is sent, so the exchange is
    /// one atomic oracle answer).
    #[error("request body: {0}")]
    RequestBody(String),
    /// A failure read back from a transcript whose code this build does not know.
    #[error("{0}")]
    Recorded(String),
}

impl HttpError {
    /// Stable machine code, e.g. `"egress.blocked_address"`.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::NotHttps { .. } => "egress.not_https",
            HttpError::BadUrl(_) => "egress.bad_url",
            HttpError::Blocked { .. } => "egress.blocked_address",
            HttpError::Dns { .. } => "egress.dns",
            HttpError::NoAddress(_) => "egress.no_address",
            HttpError::Connect { .. } => "http.connect",
            HttpError::Tls(_) => "http.tls",
            HttpError::Timeout(_) => "http.timeout",
            HttpError::Protocol(_) => "http.protocol",
            HttpError::ResponseTooLarge { .. } => "http.response_too_large",
            HttpError::RequestBody(_) => "http.request_body",
            HttpError::Recorded(_) => "http.recorded",
        }
    }

    /// The transcript form: `"<code>: <message>"`.
    pub fn to_record(&self) -> String {
        format!("{}: {self}", self.code())
    }
}

/// The `wasi:http` error the guest receives for a failure recorded as `record`
/// (`"<code>: <message>"`). Pure and total: an unknown code becomes `internal-error` with
/// the text, so a transcript from a newer build still replays deterministically.
pub fn guest_error_for_record(record: &str) -> WasiHttpError {
    let (code, message) = record.split_once(": ").unwrap_or((record, ""));
    match code {
        "egress.not_https" => WasiHttpError::HttpRequestDenied,
        "egress.blocked_address" => WasiHttpError::DestinationIpProhibited,
        "egress.bad_url" => WasiHttpError::HttpRequestUriInvalid,
        "egress.dns" => WasiHttpError::DnsError {
            rcode: Some(message.to_string()),
            info_code: None,
        },
        "egress.no_address" => WasiHttpError::DestinationNotFound,
        "http.connect" => WasiHttpError::ConnectionRefused,
        "http.tls" => WasiHttpError::TlsProtocolError,
        "http.timeout" => WasiHttpError::ConnectionTimeout,
        "http.protocol" => WasiHttpError::HttpProtocolError,
        "http.response_too_large" => WasiHttpError::HttpResponseBodySize(None),
        "http.request_body" => WasiHttpError::HttpRequestBodySize(None),
        _ => WasiHttpError::InternalError(Some(record.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<HttpError> {
        vec![
            HttpError::NotHttps {
                scheme: "http".into(),
            },
            HttpError::BadUrl("x".into()),
            HttpError::Blocked {
                addr: "10.0.0.1".into(),
                range: BlockedRange::Private,
            },
            HttpError::Dns {
                host: "h".into(),
                message: "nx".into(),
            },
            HttpError::NoAddress("h".into()),
            HttpError::Connect {
                addr: "a".into(),
                message: "refused".into(),
            },
            HttpError::Tls("bad cert".into()),
            HttpError::Timeout("connect".into()),
            HttpError::Protocol("p".into()),
            HttpError::ResponseTooLarge { limit: 5 },
            HttpError::RequestBody("unfinished".into()),
        ]
    }

    #[test]
    fn codes_are_unique_and_records_start_with_them() {
        let errs = all();
        let mut codes: Vec<_> = errs.iter().map(|e| e.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), errs.len());
        for e in &errs {
            assert!(e.to_record().starts_with(&format!("{}: ", e.code())));
        }
    }

    #[test]
    fn every_known_code_maps_to_a_specific_guest_error() {
        for e in all() {
            let g = guest_error_for_record(&e.to_record());
            assert!(
                !matches!(g, WasiHttpError::InternalError(_)),
                "{e:?} -> {g:?}"
            );
        }
        assert!(matches!(
            guest_error_for_record("egress.blocked_address: 10.0.0.1 is a private address"),
            WasiHttpError::DestinationIpProhibited
        ));
        assert!(matches!(
            guest_error_for_record("egress.not_https: only https:// is allowed, not http://"),
            WasiHttpError::HttpRequestDenied
        ));
    }

    #[test]
    fn unknown_records_replay_as_internal_error_with_text() {
        match guest_error_for_record("future.thing: whatever") {
            WasiHttpError::InternalError(Some(s)) => assert_eq!(s, "future.thing: whatever"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            guest_error_for_record(""),
            WasiHttpError::InternalError(_)
        ));
    }
}
