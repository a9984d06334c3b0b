//! Bodies over the parsers that need `ledgervm-runtime`/`-node`/`-server`: canonical
//! records, the typed value codec, and the server's own request extractors.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::Request;
use ledgervm_node::record::Record;
use ledgervm_runtime::value::{FuncType, Value, ValueType, parse_plain};
use ledgervm_server::apps::LoadQuery;
use ledgervm_server::calls::CallBody;
use ledgervm_server::extract::{JsonBody, Query};
use ledgervm_server::immutable::{parse_args, split_query};
use serde_json::Value as Json;
use std::sync::OnceLock;

/// Log entries: a decoded record re-encodes to exactly its input (the decoder promises
/// to reject every non-canonical spelling).
pub fn record(data: &[u8]) {
    if let Ok(r) = Record::decode(data) {
        assert_eq!(r.encode().expect("decoded record encodes"), data);
    }
}

/// The typed value codec. Input: `<type JSON>\n<value JSON or plain word>`, or a whole
/// value JSON. Decoded values and types survive a JSON round trip, and whatever decodes
/// against a type checks against it.
pub fn typed_value(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = Value::from_json_str(text) {
        assert_eq!(Value::from_json(&v.to_json()).ok(), Some(v));
    }
    let Some((ty_text, value_text)) = text.split_once('\n') else {
        return;
    };
    let Ok(ty_json) = serde_json::from_str::<Json>(ty_text) else {
        return;
    };
    if let Ok(f) = FuncType::from_json(&ty_json) {
        assert_eq!(FuncType::from_json(&f.to_json()).ok(), Some(f));
    }
    let Ok(ty) = ValueType::from_json(&ty_json) else {
        return;
    };
    assert_eq!(ValueType::from_json(&ty.to_json()).ok().as_ref(), Some(&ty));
    if let Ok(json) = serde_json::from_str::<Json>(value_text)
        && let Ok(v) = Value::from_json_typed(&json, &ty)
    {
        assert!(
            v.check(&ty).is_ok(),
            "decoded against {ty} but does not check"
        );
    }
    if let Ok(v) = parse_plain(value_text, &ty) {
        assert!(
            v.check(&ty).is_ok(),
            "plain word parsed as {ty} but does not check"
        );
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime")
    })
}

fn signature() -> &'static FuncType {
    static SIG: OnceLock<FuncType> = OnceLock::new();
    SIG.get_or_init(|| {
        let json = serde_json::json!({
            "params": [
                {"name": "a", "type": "u32"}, {"name": "b", "type": "string"},
                {"name": "c", "type": "f64"}, {"name": "d", "type": {"list": "s8"}},
                {"name": "e", "type": {"option": "bool"}},
            ],
            "results": ["u64"],
        });
        FuncType::from_json(&json).expect("fixed signature decodes")
    })
}

/// HTTP request parsing as the server does it, through its real extractors. Input:
/// `<query string>\n<body>`. The body goes through `JsonBody<CallBody>` and the typed
/// argument decoder; the query through `Query<LoadQuery>` (load limits) and the
/// immudb-route word parser. Every failure must be an `ApiError` (4xx), never a panic.
pub fn http_body(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (query, body) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let uri = format!("/v1/apps/fuzz/calls?{query}");
    let Ok(req) = Request::builder()
        .method("POST")
        .uri(&uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    runtime().block_on(async {
        let (mut parts, body) = req.into_parts();
        if let Err(e) = Query::<LoadQuery>::from_request_parts(&mut parts, &()).await {
            assert!(e.status.is_client_error());
        }
        match Query::<Vec<(String, String)>>::from_request_parts(&mut parts, &()).await {
            Ok(Query(pairs)) => {
                if let Ok((_, words)) = split_query(pairs) {
                    let _ = parse_args(Some(signature()), &words);
                }
            }
            Err(e) => assert!(e.status.is_client_error()),
        }
        let req = Request::from_parts(parts, body);
        match JsonBody::<CallBody>::from_request(req, &()).await {
            Ok(JsonBody(call)) => {
                let _ = Value::from_json_array(&Json::Array(call.args), "args");
            }
            Err(e) => assert!(e.status.is_client_error()),
        }
    });
}
