//! JSON-RPC 2.0 over WebSocket at `/v1/ws`, in the manner of NodeVMS / LibVMS: an app's
//! exports are the methods, and a handshake tells the client what it can call and which
//! log vouches for the calls.
//!
//! * `rpc.handshake` `{"app"?}` → `{app, code_hash, methods: [{name, type}], origin,
//!   vkey, engine, size}`; the app comes from the params or the `?app=` query.
//! * `<export>` `[params…]` → `{returns, index, fuel}`. A param is typed JSON
//!   (`{"type":"u32","value":5}`) or plain JSON read against the export's signature
//!   (`5`). A guest failure is recorded and answered as error `-32000` with
//!   `data: {code, index}`.
//! * `rpc.receipt` `{"index"}` or `[index]` → the receipt of any entry.
//!
//! Requests on one socket are answered in order, one at a time.

use crate::ServerState;
use crate::calls::run_call;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use ledgervm_node::record::Outcome;
use ledgervm_node::{AppInfo, CallInput, Requester};
use ledgervm_runtime::value::Value;
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// Query of `GET /v1/ws`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// The app whose exports are the methods.
    pub app: Option<String>,
}

/// JSON-RPC error codes used (the standard ones, and -32000 for server errors).
pub mod codes {
    /// Not JSON.
    pub const PARSE: i64 = -32700;
    /// Not a JSON-RPC request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method (or no app chosen).
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Params do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The call failed (recorded) or the server refused it; `data.code` says why.
    pub const SERVER: i64 = -32000;
}

/// `GET /v1/ws` → upgrade.
pub(crate) async fn upgrade(
    State(s): State<ServerState>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let limit = s.body_limit;
    ws.max_message_size(limit)
        .on_upgrade(move |socket| session(socket, s, q.app))
}

async fn session(mut socket: WebSocket, s: ServerState, mut app: Option<String>) {
    while let Some(Ok(msg)) = socket.recv().await {
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(_) => {
                let e = error(Json::Null, codes::INVALID_REQUEST, "send text frames", None);
                if socket
                    .send(Message::Text(e.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Message::Close(_) => return,
            _ => continue,
        };
        let answer = answer(&s, &mut app, &text).await;
        if socket
            .send(Message::Text(answer.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn error(id: Json, code: i64, message: &str, data: Option<Json>) -> Json {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

fn ok(id: Json, result: Json) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Answers one JSON-RPC message.
pub(crate) async fn answer(s: &ServerState, app: &mut Option<String>, text: &str) -> Json {
    let req: Json = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return error(Json::Null, codes::PARSE, &format!("not JSON: {e}"), None),
    };
    let id = req.get("id").cloned().unwrap_or(Json::Null);
    let (Some(method), true) = (
        req.get("method").and_then(Json::as_str),
        req.get("jsonrpc") == Some(&json!("2.0")),
    ) else {
        return error(
            id,
            codes::INVALID_REQUEST,
            "expected {jsonrpc: \"2.0\", id, method, params}",
            None,
        );
    };
    let params = req.get("params").cloned().unwrap_or(Json::Null);
    match method {
        "rpc.handshake" => {
            if let Some(a) = params.get("app").and_then(Json::as_str) {
                *app = Some(a.to_string());
            }
            handshake(s, id, app.as_deref())
        }
        "rpc.receipt" => {
            let index = params
                .get("index")
                .or_else(|| params.get(0))
                .and_then(Json::as_u64);
            let Some(index) = index else {
                return error(
                    id,
                    codes::INVALID_PARAMS,
                    "expected {\"index\": n} or [n]",
                    None,
                );
            };
            let node = s.node.clone();
            match tokio::task::spawn_blocking(move || node.receipt(index)).await {
                Ok(Ok(r)) => ok(id, json!(r)),
                Ok(Err(e)) => {
                    let e = crate::ApiError::from(e);
                    error(id, codes::SERVER, &e.message, Some(json!({"code": e.code})))
                }
                Err(e) => error(
                    id,
                    codes::SERVER,
                    &e.to_string(),
                    Some(json!({"code": "internal"})),
                ),
            }
        }
        func => call(s, id, app.as_deref(), func, params).await,
    }
}

fn loaded(s: &ServerState, app: Option<&str>) -> Result<AppInfo, (i64, String, Json)> {
    let Some(app) = app else {
        return Err((
            codes::METHOD_NOT_FOUND,
            "no app chosen: connect to /v1/ws?app=NAME or call rpc.handshake {\"app\": NAME}"
                .into(),
            json!({"code": "no_app"}),
        ));
    };
    s.node.app(app).ok_or_else(|| {
        (
            codes::SERVER,
            format!("app {app:?} is not loaded"),
            json!({"code": "app_not_found"}),
        )
    })
}

fn handshake(s: &ServerState, id: Json, app: Option<&str>) -> Json {
    let info = match loaded(s, app) {
        Ok(i) => i,
        Err((c, m, d)) => return error(id, c, &m, Some(d)),
    };
    let methods: Vec<Json> = info
        .exports
        .iter()
        .map(|e| json!({"name": e.name, "type": e.ty}))
        .collect();
    ok(
        id,
        json!({
            "app": info.name,
            "code_hash": info.code_hash,
            "load_index": info.index,
            "methods": methods,
            "origin": s.node.origin(),
            "vkey": s.node.vkey(),
            "engine": s.node.engine(),
            "size": s.node.size(),
            "log": "/log/",
        }),
    )
}

/// Reads one param: typed JSON if it carries a `type`, plain JSON against `ty` otherwise.
fn param(j: &Json, ty: &ledgervm_runtime::value::ValueType, at: usize) -> Result<Value, String> {
    let typed = j.as_object().is_some_and(|o| o.contains_key("type"));
    let r = if typed {
        Value::from_json_at(j, &format!("params[{at}]"))
    } else {
        Value::from_plain_json(j, ty)
    };
    r.map_err(|e| format!("params[{at}]: {e}"))
}

async fn call(s: &ServerState, id: Json, app: Option<&str>, func: &str, params: Json) -> Json {
    let info = match loaded(s, app) {
        Ok(i) => i,
        Err((c, m, d)) => return error(id, c, &m, Some(d)),
    };
    let Some(export) = info.exports.iter().find(|e| e.name == func) else {
        return error(
            id,
            codes::METHOD_NOT_FOUND,
            &format!("{} has no export {func:?}", info.name),
            Some(json!({"code": "method_not_found"})),
        );
    };
    let list = match params {
        Json::Null => vec![],
        Json::Array(a) => a,
        _ => return error(id, codes::INVALID_PARAMS, "params must be an array", None),
    };
    if list.len() != export.ty.params.len() {
        return error(
            id,
            codes::INVALID_PARAMS,
            &format!(
                "{func} takes {} params, got {}",
                export.ty.params.len(),
                list.len()
            ),
            None,
        );
    }
    let mut args = Vec::with_capacity(list.len());
    for (i, (j, f)) in list.iter().zip(&export.ty.params).enumerate() {
        match param(j, &f.ty, i) {
            Ok(v) => args.push(v),
            Err(m) => return error(id, codes::INVALID_PARAMS, &m, None),
        }
    }
    let input = CallInput {
        app: info.name.clone(),
        func: func.to_string(),
        args,
        requester: Requester::Anonymous,
    };
    match run_call(&s.node, input).await {
        Ok(r) => match &r.outcome {
            Outcome::Ok(vals) => ok(
                id,
                json!({
                    "returns": vals.iter().map(Value::to_json).collect::<Vec<_>>(),
                    "index": r.index,
                    "fuel": r.fuel,
                }),
            ),
            Outcome::Err(e) => error(
                id,
                codes::SERVER,
                &e.to_string(),
                Some(json!({"code": e.code(), "index": r.index})),
            ),
        },
        Err(e) => error(id, codes::SERVER, &e.message, Some(json!({"code": e.code}))),
    }
}
