//! The framed JSON protocol of Enclave OS, as a pure codec. **No I/O.**
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of JSON. The JSON
//! is either a bare request (`{"wasm_call": {…}}`) or the envelope Enclave OS clients
//! use, `{"Data": [bytes of the request JSON]}`; an answer is wrapped the same way as
//! the request it answers. Requests: `wasm_load`, `wasm_call`, `wasm_list`,
//! `wasm_unload`; answers carry `status` `loaded`/`ok`/`apps`/`unloaded`, or `error` with
//! a stable `code` and a `message`.
//!
//! [`FrameDecoder`] splits a byte stream into frames whatever the read boundaries are,
//! and refuses an oversized frame as soon as its header is seen (before buffering it).

use serde::Deserialize;
use serde_json::{Value, json};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 4;

/// Why a frame or request is refused. Each has a stable [`FrameError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announces more than the connection's limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame: {got} of {expected} bytes received")]
    Truncated {
        /// Bytes the header (or the header itself) needed.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// The payload is not JSON.
    #[error("frame payload is not JSON: {0}")]
    NotJson(String),
    /// `{"Data": …}` whose `Data` is not an array of bytes holding JSON.
    #[error("bad {{\"Data\": [...]}} envelope: {0}")]
    BadEnvelope(String),
    /// Valid JSON that is not one of the four requests.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl FrameError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Truncated { .. } => "frame_truncated",
            FrameError::NotJson(_) => "frame_not_json",
            FrameError::BadEnvelope(_) => "frame_bad_envelope",
            FrameError::BadRequest(_) => "frame_bad_request",
        }
    }

    /// Whether the connection can go on after this error: framing errors lose the frame
    /// boundary (or the peer is gone), so the connection is closed after the error frame.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FrameError::TooLarge { .. } | FrameError::Truncated { .. }
        )
    }
}

/// Prefixes `payload` with its length.
///
/// ```
/// use ledgervm_server::frames::encode;
/// assert_eq!(encode(b"{}"), vec![0, 0, 0, 2, b'{', b'}']);
/// ```
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frames are below 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a byte stream into frame payloads.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max` bytes.
    pub fn new(max: usize) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            max,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `None` if more bytes are needed, or an error as soon as a
    /// header announces more than the limit.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes(self.buf[..HEADER_LEN].try_into().expect("4 bytes")) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let frame = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(frame))
    }

    /// At end of stream: an error if a partial frame is left.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buf.len() {
            0 => Ok(()),
            n if n < HEADER_LEN => Err(FrameError::Truncated {
                expected: HEADER_LEN,
                got: n,
            }),
            n => {
                let len = u32::from_be_bytes(self.buf[..HEADER_LEN].try_into().expect("4"));
                Err(FrameError::Truncated {
                    expected: len as usize,
                    got: n - HEADER_LEN,
                })
            }
        }
    }
}

/// How a request came, so its answer goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapping {
    /// Bare JSON.
    Bare,
    /// `{"Data": [bytes]}`.
    Envelope,
}

/// Parses a frame payload, unwrapping the `{"Data": [...]}` envelope if present.
pub fn open_payload(payload: &[u8]) -> Result<(Value, Wrapping), FrameError> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| FrameError::NotJson(e.to_string()))?;
    let Some(data) = v
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("Data"))
    else {
        return Ok((v, Wrapping::Bare));
    };
    let bytes: Vec<u8> = serde_json::from_value(data.clone())
        .map_err(|e| FrameError::BadEnvelope(format!("Data must be an array of bytes: {e}")))?;
    let inner = serde_json::from_slice(&bytes)
        .map_err(|e| FrameError::BadEnvelope(format!("Data is not JSON: {e}")))?;
    Ok((inner, Wrapping::Envelope))
}

/// The frame payload answering with `answer`, wrapped like the request.
pub fn seal_payload(answer: &Value, how: Wrapping) -> Vec<u8> {
    let inner = serde_json::to_vec(answer).expect("JSON values serialize");
    match how {
        Wrapping::Bare => inner,
        Wrapping::Envelope => serde_json::to_vec(&json!({ "Data": inner })).expect("serialize"),
    }
}

/// `wasm_load`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadReq {
    /// App name.
    pub name: String,
    /// Module bytes, as a JSON array of integers 0–255.
    pub bytes: Vec<u8>,
    /// SNI hostname for the app (echoed; defaults to the name).
    #[serde(default)]
    pub hostname: Option<String>,
    /// Hex AES-256 key for the app's KV store (BYOK).
    #[serde(default)]
    pub encryption_key: Option<String>,
}

/// `wasm_call`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallReq {
    /// App name.
    pub app: String,
    /// Export to call.
    pub function: String,
    /// Typed values (`{"type": "u32", "value": 5}`).
    #[serde(default)]
    pub params: Vec<Value>,
}

/// `wasm_unload`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadReq {
    /// App name.
    pub name: String,
}

/// `wasm_list` takes an empty object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListReq {}

/// One request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Load an app.
    WasmLoad(LoadReq),
    /// Call an export.
    WasmCall(CallReq),
    /// List loaded apps.
    WasmList(ListReq),
    /// Unload an app.
    WasmUnload(UnloadReq),
}

/// Decodes a request from (unwrapped) JSON.
pub fn parse_request(v: Value) -> Result<Request, FrameError> {
    serde_json::from_value(v).map_err(|e| FrameError::BadRequest(e.to_string()))
}

/// `{"status": "error", "code", "message"}`.
pub fn error_answer(code: &str, message: &str) -> Value {
    json!({"status": "error", "code": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decoder_handles_partial_reads_and_back_to_back_frames() {
        let mut d = FrameDecoder::new(100);
        let mut stream = encode(b"{\"a\":1}");
        stream.extend(encode(b"[]"));
        d.push(&stream[..3]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&stream[3..8]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&stream[8..]);
        assert_eq!(d.next_frame().unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(d.next_frame().unwrap().unwrap(), b"[]");
        assert_eq!(d.next_frame().unwrap(), None);
        d.finish().unwrap();
    }

    #[test]
    fn oversized_is_refused_at_the_header_and_truncation_at_the_end() {
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 0, 11]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0]);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        );
        d.push(&[0, 5, b'x']);
        assert_eq!(d.next_frame(), Ok(None));
        let e = d.finish().unwrap_err();
        assert_eq!(
            e,
            FrameError::Truncated {
                expected: 5,
                got: 1
            }
        );
        assert!(e.is_fatal());
        assert_eq!(e.code(), "frame_truncated");
    }

    #[test]
    fn envelope_and_bare_requests() {
        let inner = br#"{"wasm_list":{}}"#;
        let env = serde_json::to_vec(&json!({"Data": inner.to_vec()})).unwrap();
        let (v, how) = open_payload(&env).unwrap();
        assert_eq!(how, Wrapping::Envelope);
        assert_eq!(parse_request(v).unwrap(), Request::WasmList(ListReq {}));
        let (v, how) = open_payload(inner).unwrap();
        assert_eq!(how, Wrapping::Bare);
        assert_eq!(parse_request(v).unwrap(), Request::WasmList(ListReq {}));
        // Answers go back the same way.
        let ans = json!({"status": "apps", "apps": []});
        let sealed = seal_payload(&ans, Wrapping::Envelope);
        assert_eq!(
            open_payload(&sealed).unwrap(),
            (ans.clone(), Wrapping::Envelope)
        );
        assert_eq!(
            seal_payload(&ans, Wrapping::Bare),
            serde_json::to_vec(&ans).unwrap()
        );
    }

    #[test]
    fn bad_payloads_have_codes() {
        let code = |p: &[u8]| match open_payload(p).and_then(|(v, _)| parse_request(v)) {
            Err(e) => e.code(),
            Ok(r) => panic!("{r:?}"),
        };
        assert_eq!(code(b"\x00\xffgarbage"), "frame_not_json");
        assert_eq!(code(br#"{"Data": [256]}"#), "frame_bad_envelope");
        assert_eq!(code(br#"{"Data": "abc"}"#), "frame_bad_envelope");
        assert_eq!(code(br#"{"Data": [120]}"#), "frame_bad_envelope");
        assert_eq!(code(br#"{"wasm_frobnicate": {}}"#), "frame_bad_request");
        assert_eq!(
            code(br#"{"wasm_load": {"name": "a", "bytes": [300]}}"#),
            "frame_bad_request"
        );
        assert_eq!(code(br#"{"wasm_call": {"app": "a"}}"#), "frame_bad_request");
        assert_eq!(code(br#"[1,2]"#), "frame_bad_request");
    }

    #[test]
    fn the_seed_requests_parse() {
        let load = json!({"wasm_load": {"name": "test-app", "bytes": [0, 97, 115, 109],
            "hostname": "app.enclave.example.com"}});
        match parse_request(load).unwrap() {
            Request::WasmLoad(l) => {
                assert_eq!(l.bytes, b"\0asm");
                assert_eq!(l.hostname.as_deref(), Some("app.enclave.example.com"));
                assert_eq!(l.encryption_key, None);
            }
            r => panic!("{r:?}"),
        }
        let call = json!({"wasm_call": {"app": "test-app", "function": "kv-store", "params": [
            {"type": "string", "value": "greeting"}]}});
        assert!(
            matches!(parse_request(call).unwrap(), Request::WasmCall(c) if c.params.len() == 1)
        );
        let unload = json!({"wasm_unload": {"name": "test-app"}});
        assert_eq!(
            parse_request(unload).unwrap(),
            Request::WasmUnload(UnloadReq {
                name: "test-app".into()
            })
        );
    }

    proptest! {
        /// However the stream is cut into reads, the same frames come out, in order.
        #[test]
        fn any_split_yields_the_same_frames(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            cuts in proptest::collection::vec(1usize..17, 0..30),
        ) {
            let stream: Vec<u8> = frames.iter().flat_map(|f| encode(f)).collect();
            let mut d = FrameDecoder::new(64);
            let mut out = Vec::new();
            let mut pos = 0;
            for c in cuts.iter().chain(std::iter::repeat(&7)) {
                if pos >= stream.len() { break; }
                let end = (pos + c).min(stream.len());
                d.push(&stream[pos..end]);
                pos = end;
                while let Some(f) = d.next_frame().unwrap() { out.push(f); }
            }
            prop_assert_eq!(out, frames);
            prop_assert!(d.finish().is_ok());
        }

        /// Arbitrary bytes never panic the decoder or the request parser.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = FrameDecoder::new(64);
            d.push(&bytes);
            while let Ok(Some(f)) = d.next_frame() {
                let _ = open_payload(&f).and_then(|(v, _)| parse_request(v));
            }
            let _ = d.finish();
        }
    }
}
