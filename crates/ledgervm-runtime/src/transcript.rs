//! Oracle transcripts: every host answer that is not a function of (module, arguments,
//! state), recorded in live mode and replayed in replay mode. Pure data, no I/O.
//!
//! The JSON form is deterministic (field order fixed by the structs, bytes as lowercase
//! hex), so a transcript can go into a canonical call record unchanged:
//!
//! ```
//! use ledgervm_runtime::transcript::{OracleEvent, Transcript};
//! let t = Transcript {
//!     events: vec![
//!         OracleEvent::Random { bytes: vec![0xde, 0xad] },
//!         OracleEvent::WallClock { secs: 1_700_000_000, nanos: 5 },
//!     ],
//!     deadline_fuel: None,
//! };
//! let json = serde_json::to_string(&t).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"events":[{"kind":"random","bytes":"dead"},{"kind":"wall_clock","secs":1700000000,"nanos":5}]}"#
//! );
//! assert_eq!(serde_json::from_str::<Transcript>(&json).unwrap(), t);
//! ```

use serde::{Deserialize, Serialize};

/// All oracle answers of one call, in the order the guest asked for them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// The answers, in order.
    pub events: Vec<OracleEvent>,
    /// Set when the live call was stopped by the wall-clock deadline: the fuel consumed
    /// at the stop. The deadline is a host input like any oracle, so it lives here: a
    /// replay runs with exactly this much fuel and must stop at the same point (reported
    /// as [`crate::CallError::Deadline`] again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_fuel: Option<u64>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }
}

/// One oracle answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OracleEvent {
    /// Random bytes handed to the guest (`random_get`, `wasi:random`), one event per
    /// host fill, exactly as many bytes as the guest asked for.
    Random {
        /// The bytes.
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// A wall-clock reading (time since the Unix epoch).
    WallClock {
        /// Whole seconds.
        secs: u64,
        /// Nanoseconds within the second (< 1e9).
        nanos: u32,
    },
    /// A monotonic-clock reading, nanoseconds since an arbitrary per-runtime origin.
    MonotonicClock {
        /// Nanoseconds.
        nanos: u64,
    },
    /// An outbound HTTP exchange (`wasi:http` outgoing-handler). `response` is `Err`
    /// with the error text when the request failed or was refused by egress policy.
    Http {
        /// What the guest sent.
        request: HttpRequestRecord,
        /// What came back.
        response: Result<HttpResponseRecord, String>,
    },
}

impl OracleEvent {
    /// A short description of this answer for divergence messages, e.g.
    /// `"random(16 bytes)"`. Mirrors what the hooks put in `Divergence::asked`.
    pub fn describe(&self) -> String {
        match self {
            OracleEvent::Random { bytes } => format!("random({} bytes)", bytes.len()),
            OracleEvent::WallClock { .. } => "wall clock".to_string(),
            OracleEvent::MonotonicClock { .. } => "monotonic clock".to_string(),
            OracleEvent::Http { request, .. } => {
                format!("http {} {}", request.method, request.url)
            }
        }
    }
}

/// An outbound HTTP request as the guest made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequestRecord {
    /// `GET`, `POST`, …
    pub method: String,
    /// Absolute URL (`https://host/path?query`).
    pub url: String,
    /// Headers in the order sent; names as given (lowercase in practice).
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[serde(with = "hex_bytes")]
    pub body: Vec<u8>,
}

/// An HTTP response as the guest received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponseRecord {
    /// Status code.
    pub status: u16,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// Response body (complete).
    #[serde(with = "hex_bytes")]
    pub body: Vec<u8>,
}

/// Whether a call records its oracle answers or replays them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CallMode {
    /// Answer from the host (real randomness, clocks, network) and record every answer.
    #[default]
    Live,
    /// Answer only from this transcript; asking for anything else is a
    /// [`crate::Divergence`].
    Replay(Transcript),
}

/// Serde helper: `Vec<u8>` as a lowercase hex string (deterministic and compact enough;
/// large bodies go to content-addressed blobs at the record layer).
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    /// Deserializes lowercase or uppercase hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(s.as_ref()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = OracleEvent> {
        let headers = proptest::collection::vec(("[a-z-]{1,8}", "[ -~]{0,12}"), 0..3);
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|bytes| OracleEvent::Random { bytes }),
            (any::<u64>(), 0u32..1_000_000_000)
                .prop_map(|(secs, nanos)| OracleEvent::WallClock { secs, nanos }),
            any::<u64>().prop_map(|nanos| OracleEvent::MonotonicClock { nanos }),
            (
                "[A-Z]{3,6}",
                "https://[a-z]{1,8}/[a-z]{0,8}",
                headers.clone(),
                proptest::collection::vec(any::<u8>(), 0..20),
                prop_oneof![
                    (
                        100u16..600,
                        headers,
                        proptest::collection::vec(any::<u8>(), 0..20)
                    )
                        .prop_map(|(status, headers, body)| Ok(
                            HttpResponseRecord {
                                status,
                                headers,
                                body
                            }
                        )),
                    "[ -~]{0,20}".prop_map(Err),
                ]
            )
                .prop_map(|(method, url, headers, body, response)| OracleEvent::Http {
                    request: HttpRequestRecord {
                        method,
                        url,
                        headers,
                        body
                    },
                    response
                }),
        ]
    }

    proptest! {
        #[test]
        fn json_round_trip_is_identity_and_deterministic(
            events in proptest::collection::vec(event(), 0..8),
            deadline_fuel in proptest::option::of(any::<u64>()),
        ) {
            let t = Transcript { events, deadline_fuel };
            let a = serde_json::to_string(&t).unwrap();
            let back: Transcript = serde_json::from_str(&a).unwrap();
            prop_assert_eq!(&back, &t);
            prop_assert_eq!(serde_json::to_string(&back).unwrap(), a);
        }
    }

    #[test]
    fn http_event_json_shape() {
        let e = OracleEvent::Http {
            request: HttpRequestRecord {
                method: "GET".into(),
                url: "https://a/b".into(),
                headers: vec![("accept".into(), "*/*".into())],
                body: vec![],
            },
            response: Err("refused".into()),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"http","request":{"method":"GET","url":"https://a/b","headers":[["accept","*/*"]],"body":""},"response":{"Err":"refused"}}"#
        );
        assert_eq!(e.describe(), "http GET https://a/b");
    }

    #[test]
    fn bad_hex_is_an_error_not_a_panic() {
        let r = serde_json::from_str::<OracleEvent>(r#"{"kind":"random","bytes":"zz"}"#);
        assert!(r.is_err());
    }
}
