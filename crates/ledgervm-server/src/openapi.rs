//! The OpenAPI 3.1 document, `GET /v1/openapi.json`.
//!
//! Hand-written JSON, one function per operation; [`document`] assembles them from the
//! route table ([`crate::routes::table`]) so paths and methods come from what is served.

use crate::routes::Route;
use crate::{ServerOptions, ServerState};
use axum::extract::State;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An OpenAPI operation object.
pub type Op = Value;

/// Builds the document from the route table.
pub fn document(routes: &[Route]) -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for r in routes {
        paths
            .entry(r.openapi_path())
            .or_default()
            .insert(r.method.as_str().to_ascii_lowercase(), r.op.clone());
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ledgervm",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Run WebAssembly apps with every load and call in a signed, append-only \
                Merkle log (C2SP tlog-tiles). Every error is {code, message} with a stable code.",
        },
        "paths": paths,
        "components": { "schemas": schemas() },
    })
}

/// `GET /v1/openapi.json`.
pub(crate) async fn serve_document(State(s): State<ServerState>) -> axum::Json<Value> {
    axum::Json((*s.openapi).clone())
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn ok(desc: &str, schema: Value) -> Value {
    json!({"description": desc, "content": json_content(schema)})
}

fn err(desc: &str) -> Value {
    ok(desc, r("Error"))
}

fn path_param(name: &str, schema: Value, desc: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema, "description": desc})
}

fn query_param(name: &str, required: bool, schema: Value, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": desc})
}

fn app_name() -> Value {
    path_param(
        "name",
        json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"}),
        "App name",
    )
}

fn index_param() -> Value {
    path_param(
        "index",
        json!({"type": "integer", "minimum": 0}),
        "Log entry index",
    )
}

fn header_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "schema": {"type": "string"}, "description": desc})
}

/// The `X-Ledgervm-*` request headers (docs/AUTH.md); `call` adds the code hash.
fn auth_headers(call: bool) -> Vec<Value> {
    let mut v = vec![
        header_param(
            "X-Ledgervm-Key",
            "Signer's Ed25519 public key, 64 lowercase hex digits",
        ),
        header_param(
            "X-Ledgervm-Signature",
            "Ed25519 signature, 128 lowercase hex digits, over the ledgervm/call/v1 (calls) or ledgervm/request/v1 (load/unload) payload",
        ),
        header_param(
            "X-Ledgervm-Nonce",
            "1-64 of A-Za-z0-9_-, never reused by a key within the skew window",
        ),
        header_param(
            "X-Ledgervm-Timestamp",
            "Signer's clock, ms since the Unix epoch; within the server's skew",
        ),
        header_param(
            "X-Ledgervm-User",
            "Plain user id, accepted only by a --debug server (unauthenticated)",
        ),
    ];
    if call {
        v.push(header_param(
            "X-Ledgervm-Code-Hash",
            "Code hash the call was signed for (else 409 auth.code_changed)",
        ));
    }
    v
}

/// The auth refusals, by status.
const AUTH_400: &str = "auth.malformed: incomplete or ill-formed X-Ledgervm-* headers";
const AUTH_401: &str = "auth.signature_required, auth.bad_signature, auth.stale_timestamp, auth.future_timestamp or auth.replayed_nonce";

fn u64_schema() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn common_errors(mut responses: Value, extra: &[(&str, &str)]) -> Value {
    let map = responses.as_object_mut().expect("responses is an object");
    for (status, desc) in extra {
        map.insert(status.to_string(), err(desc));
    }
    map.insert("503".into(), err("log unavailable or request timeout"));
    map.insert("500".into(), err("internal error"));
    responses
}

pub(crate) fn load_app(opts: &ServerOptions) -> Op {
    let limit = |name: &str, desc: &str| query_param(name, false, u64_schema(), desc);
    let mut params = vec![
        app_name(),
        limit("fuel", "Fuel per call"),
        limit("max_memory_bytes", "Linear memory cap per call"),
        limit("max_table_elements", "Table size cap"),
        limit("max_output_bytes", "Cap per output stream"),
        limit("deadline_ms", "Wall-clock deadline per call, ms"),
        query_param(
            "policy",
            false,
            json!({"enum": ["anonymous", "signed", "allow_list"]}),
            "Who may call",
        ),
        query_param(
            "allow",
            false,
            json!({"type": "string"}),
            "For allow_list: comma-separated public keys",
        ),
        query_param(
            "private",
            false,
            json!({"type": "boolean"}),
            "Seal call payloads in the log under the app key",
        ),
        limit("max_keys", "Most keys the app's state may hold"),
        json!({"name": crate::apps::ENCRYPTION_KEY_HEADER, "in": "header", "required": false,
         "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
         "description": "Owner-supplied app key (BYOK), 32 bytes hex; without it the node generates one"}),
    ];
    params.extend(auth_headers(false));
    json!({
        "operationId": "loadApp",
        "summary": "Load an app (or a new version under the same name)",
        "description": format!("Appends an app.load record. Body limit {} bytes. A signed request makes its key the owner; over an existing name only the owner or the admin key may load.",
            opts.module_limit),
        "parameters": params,
        "requestBody": {"required": true, "content": {
            "application/wasm": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/plain": {"schema": {"type": "string", "description": "WAT text"}},
        }},
        "responses": common_errors(json!({"201": ok("Loaded; the app.load record is durable", r("AppInfo"))}), &[
            ("400", "invalid name, bad module, invalid limits, bad query or auth.malformed"),
            ("401", AUTH_401),
            ("403", "auth.not_owner or auth.debug_disabled"),
            ("413", "module too large"),
            ("415", "unsupported content type"),
        ]),
    })
}

pub(crate) fn list_apps() -> Op {
    json!({
        "operationId": "listApps",
        "summary": "List loaded apps",
        "responses": common_errors(json!({"200": ok("Apps by name", json!({
            "type": "object", "required": ["apps"],
            "properties": {"apps": {"type": "array", "items": r("AppInfo")}},
        }))}), &[]),
    })
}

pub(crate) fn get_app() -> Op {
    json!({
        "operationId": "getApp",
        "summary": "Describe a loaded app",
        "parameters": [app_name()],
        "responses": common_errors(json!({"200": ok("The app", r("AppInfo"))}), &[
            ("400", "invalid name"), ("404", "app_not_found"),
        ]),
    })
}

pub(crate) fn kv_get() -> Op {
    json!({
        "operationId": "getAppKv",
        "summary": "Read a key of an app's state, with the record that wrote it and its receipt",
        "parameters": [app_name(),
            {"name": "key", "in": "path", "required": true, "schema": {"type": "string"},
             "description": "the key, as the UTF-8 bytes of the path segment"}],
        "responses": common_errors(json!({"200": ok("The value", r("KvValue"))}), &[
            ("400", "invalid name"), ("403", "forbidden (private app)"),
            ("404", "app_not_found or kv_key_not_found"),
        ]),
    })
}

pub(crate) fn unload_app() -> Op {
    json!({
        "operationId": "unloadApp",
        "summary": "Unload an app (appends app.unload; history stays)",
        "description": "Only the app's owner or the admin key (anyone, for an app loaded anonymously on a server without an admin key).",
        "parameters": std::iter::once(app_name()).chain(auth_headers(false)).collect::<Vec<_>>(),
        "responses": common_errors(json!({"200": ok("Unloaded", json!({
            "type": "object", "required": ["name", "code_hash", "index"],
            "properties": {"name": {"type": "string"}, "code_hash": {"type": "string"},
                "index": {"type": "integer", "description": "index of the app.unload record"}},
        }))}), &[("400", AUTH_400), ("401", AUTH_401),
            ("403", "auth.not_owner or auth.debug_disabled"), ("404", "app_not_found")]),
    })
}

pub(crate) fn call(opts: &ServerOptions) -> Op {
    let mut call_params = vec![
        app_name(),
        path_param("func", json!({"type": "string"}), "Export name"),
    ];
    call_params.extend(auth_headers(true));
    json!({
        "operationId": "callApp",
        "summary": "Call an export; answers once the call record is durable",
        "description": format!("Body limit {} bytes. A guest failure is recorded and answered with 422 \
            and a receipt.", opts.body_limit),
        "parameters": call_params,
        "requestBody": {"required": true, "content": json_content(json!({
            "type": "object", "additionalProperties": false,
            "properties": {"args": {"type": "array", "items": r("TypedValue")}},
        }))},
        "responses": common_errors(json!({
            "200": ok("The call returned", r("CallResponse")),
            "422": ok("The guest failed; the failure is recorded", r("CallFailure")),
        }), &[
            ("400", "bad JSON, bad typed value, invalid name or auth.malformed"),
            ("401", AUTH_401),
            ("403", "auth.not_allowed (allow-list) or auth.debug_disabled"),
            ("404", "app_not_found"),
            ("409", "auth.code_changed: signed for another code version"),
            ("413", "body too large"),
            ("415", "not application/json"),
        ]),
    })
}

pub(crate) fn get_record() -> Op {
    json!({
        "operationId": "getRecord",
        "summary": "A decoded log record with its receipt",
        "parameters": [index_param()],
        "responses": common_errors(json!({"200": ok("The record", json!({
            "type": "object", "required": ["index", "record", "receipt"],
            "properties": {"index": u64_schema(), "record": r("Record"), "receipt": r("Receipt")},
        }))}), &[("400", "out_of_range or bad index")]),
    })
}

pub(crate) fn get_receipt() -> Op {
    json!({
        "operationId": "getReceipt",
        "summary": "An offline-verifiable receipt against the latest checkpoint",
        "parameters": [index_param()],
        "responses": common_errors(json!({"200": ok("The receipt", r("Receipt"))}), &[
            ("400", "out_of_range or bad index"),
        ]),
    })
}

pub(crate) fn inclusion() -> Op {
    json!({
        "operationId": "inclusionProof",
        "summary": "RFC 9162 inclusion proof",
        "parameters": [
            query_param("index", true, u64_schema(), "Leaf index"),
            query_param("size", true, u64_schema(), "Tree size"),
        ],
        "responses": common_errors(json!({"200": ok("The proof", json!({
            "type": "object", "required": ["index", "size", "proof"],
            "properties": {"index": u64_schema(), "size": u64_schema(), "proof": r("Hashes")},
        }))}), &[("400", "out_of_range or bad_query")]),
    })
}

pub(crate) fn consistency() -> Op {
    json!({
        "operationId": "consistencyProof",
        "summary": "RFC 9162 consistency proof",
        "parameters": [
            query_param("old", true, u64_schema(), "Older tree size"),
            query_param("new", true, u64_schema(), "Newer tree size"),
        ],
        "responses": common_errors(json!({"200": ok("The proof", json!({
            "type": "object", "required": ["old", "new", "proof"],
            "properties": {"old": u64_schema(), "new": u64_schema(), "proof": r("Hashes")},
        }))}), &[("400", "out_of_range or bad_query")]),
    })
}

pub(crate) fn log_info() -> Op {
    json!({
        "operationId": "logInfo",
        "summary": "The log's identity and latest signed checkpoint",
        "responses": common_errors(json!({"200": ok("Log info", r("LogInfo"))}), &[]),
    })
}

pub(crate) fn attestation() -> Op {
    json!({
        "operationId": "attestation",
        "summary": "The identity document bound to this connection's TLS certificate",
        "description": "A C2SP signed note (signed by the log key) listing the log vkey, the \
            engine fingerprint and the loaded apps' code hashes. The TLS certificate of the \
            connection carries SHA-256(document text) in the X.509 extension named by `oid`. \
            `current` is false when a load/unload re-issued the identity since this \
            connection's handshake; open a new connection for the newest one.",
        "responses": {"200": ok("Attestation", json!({
            "type": "object",
            "required": ["note", "document", "digest", "oid", "tls", "generation", "current"],
            "properties": {
                "note": {"type": "string"},
                "document": {"type": "object"},
                "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "oid": {"type": "string"},
                "tls": {"type": "boolean"},
                "generation": {"type": "integer"},
                "current": {"type": "boolean"},
            }
        }))},
    })
}

pub(crate) fn websocket() -> Op {
    json!({
        "operationId": "websocket",
        "summary": "JSON-RPC 2.0 over WebSocket (docs/PROTOCOLS.md)",
        "description": "Upgrade to a WebSocket. `rpc.handshake` returns the app's methods, \
            the log origin and vkey; an app's exports are methods taking typed or plain \
            JSON params; `rpc.receipt` returns a call's receipt.",
        "parameters": [query_param("app", false, json!({"type": "string"}), "App whose exports are the methods")],
        "responses": {
            "101": {"description": "Switching to the WebSocket protocol"},
            "400": err("Not a WebSocket upgrade"),
        },
    })
}

pub(crate) fn document_op() -> Op {
    json!({
        "operationId": "openapi",
        "summary": "This document",
        "responses": {"200": ok("OpenAPI 3.1", json!({"type": "object"}))},
    })
}

fn raw(desc: &str, media: &str, cache: &str) -> Value {
    json!({
        "description": desc,
        "headers": {"Cache-Control": {"schema": {"type": "string"}, "description": cache}},
        "content": {media: {"schema": {"type": "string", "format": "binary"}}},
    })
}

pub(crate) fn blob() -> Op {
    json!({
        "operationId": "getBlob",
        "summary": "A content-addressed blob (modules are named by their code hash)",
        "parameters": [path_param("sha256", json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}), "SHA-256")],
        "responses": common_errors(json!({
            "200": raw("Blob bytes", "application/octet-stream", crate::tiles::IMMUTABLE),
        }), &[("400", "invalid_blob_name"), ("404", "blob_not_found")]),
    })
}

pub(crate) fn checkpoint() -> Op {
    json!({
        "operationId": "getCheckpoint",
        "summary": "C2SP tlog-tiles: the signed checkpoint",
        "responses": common_errors(json!({
            "200": raw("Signed note", "text/plain; charset=utf-8", crate::tiles::NO_STORE),
        }), &[]),
    })
}

pub(crate) fn tile() -> Op {
    json!({
        "operationId": "getTile",
        "summary": "C2SP tlog-tiles: hash tiles <L>/<N>[.p/<W>] and entry bundles entries/<N>[.p/<W>]",
        "description": "The path parameter spans several segments, e.g. 0/x001/234.p/7 or entries/000.",
        "parameters": [path_param("path", json!({"type": "string"}), "Tile path below /log/tile/")],
        "responses": common_errors(json!({
            "200": raw("Tile bytes; full tiles are immutable, partial tiles short-lived",
                "application/octet-stream", crate::tiles::IMMUTABLE),
        }), &[("404", "invalid_log_path or tile_not_found")]),
    })
}

pub(crate) fn immutable() -> Op {
    json!({
        "operationId": "immutableCall",
        "summary": "immudb demo route: call a core-module export with plain query arguments",
        "description": "Every query parameter except func is an argument, in order. Answers \
            `verified WebAssembly app result: <r>` as text/plain, or the call JSON with Accept: application/json.",
        "parameters": [
            path_param("app", json!({"type": "string"}), "App name"),
            query_param("func", true, json!({"type": "string"}), "Export name"),
        ],
        "responses": common_errors(json!({
            "200": {"description": "Result", "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": r("CallResponse")},
            }},
            "422": ok("The guest failed; the failure is recorded", r("CallFailure")),
        }), &[("400", "missing_func, bad argument or invalid name"), ("404", "app_not_found")]),
    })
}

fn schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    json!({
        "Error": {"type": "object", "required": ["code", "message"],
            "properties": {"code": s("string"), "message": s("string")}},
        "TypedValue": {"type": "object", "required": ["type"],
            "description": "ledgervm typed value, e.g. {\"type\":\"u32\",\"value\":5}",
            "properties": {"type": s("string"), "value": {}}},
        "Hashes": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}},
        "Limits": {"type": "object", "properties": {
            "fuel": s("integer"), "max_memory_bytes": s("integer"), "max_table_elements": s("integer"),
            "max_output_bytes": s("integer"), "deadline": {"type": "integer", "description": "ms"}}},
        "AppInfo": {"type": "object",
            "required": ["name", "code_hash", "cid", "app_kind", "exports", "index", "size", "limits", "policy",
                "key_source", "key_id", "private", "max_keys"],
            "properties": {
                "name": s("string"), "code_hash": s("string"), "cid": s("string"),
                "app_kind": {"enum": ["core_module", "component"]},
                "exports": {"type": "array", "items": {"type": "object", "required": ["name", "type"],
                    "properties": {"name": s("string"), "type": s("object")}}},
                "index": s("integer"), "size": s("integer"), "limits": r("Limits"),
                "policy": {"oneOf": [{"enum": ["anonymous", "signed"]}, {"type": "object",
                    "required": ["allow_list"], "properties": {"allow_list": {"type": "array", "items": s("string")}}}]},
                "owner": {"type": "string", "description": "caller id that loaded it (absent: anonymous)"},
                "key_source": {"enum": ["generated", "byok"]},
                "key_id": {"type": "string", "description": "public id of the app key (SHA-256 based), never the key"},
                "private": s("boolean"), "max_keys": s("integer")}},
        "KvValue": {"type": "object", "required": ["app", "key", "value", "index", "receipt"], "properties": {
            "app": s("string"), "key": {"type": "string", "description": "lowercase hex"},
            "value": {"type": "string", "description": "lowercase hex"},
            "index": {"type": "integer", "description": "index of the call record that wrote the value"},
            "receipt": r("Receipt")}},
        "Outcome": {"oneOf": [
            {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "array", "items": r("TypedValue")}}},
            {"type": "object", "required": ["err"], "properties": {"err": {"type": "object",
                "description": "ledgervm_runtime::CallError; `error` is its stable code",
                "required": ["error"], "properties": {"error": s("string")}}}},
        ]},
        "Receipt": {"type": "object", "required": ["format", "entry", "proof"], "properties": {
            "format": {"const": ledgervm_node::receipt::RECEIPT_FORMAT},
            "entry": {"type": "string", "description": "the log entry, verbatim (canonical JSON)"},
            "blob": {"type": "string", "description": "the full record when entry is a blob pointer"},
            "proof": {"type": "string", "description": "C2SP tlog-proof text"}}},
        "CallResponse": {"type": "object", "required": ["result", "index", "fuel", "receipt"], "properties": {
            "result": r("Outcome"), "index": s("integer"), "fuel": s("integer"),
            "stdout": s("string"), "receipt": r("Receipt"),
            "caller": {"type": "object", "description": "present for identified callers; authenticated is false for --debug user ids", "properties": {"id": s("string"), "authenticated": s("boolean")}}}},
        "CallFailure": {"allOf": [r("CallResponse"), {"type": "object", "required": ["code", "message"],
            "properties": {"code": s("string"), "message": s("string")}}]},
        "Record": {"type": "object", "required": ["kind"], "properties": {
            "kind": {"enum": ["config", "app.load", "app.unload", "call"]}}},
        "LogInfo": {"type": "object", "required": ["origin", "vkey", "size", "checkpoint", "engine"], "properties": {
            "origin": s("string"), "vkey": s("string"), "size": s("integer"), "checkpoint": s("string"),
            "engine": {"type": "object", "properties": {"wasmtime_version": s("string"), "config_hash": s("string")}}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_and_nothing_else() {
        let table = crate::routes::table(&ServerOptions::default());
        let doc = document(&table);
        assert_eq!(doc["openapi"], "3.1.0");
        let mut n = 0;
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                n += 1;
                assert!(
                    table.iter().any(|r| r.openapi_path() == *path
                        && r.method.as_str().eq_ignore_ascii_case(method)),
                    "{method} {path} documented but not routed"
                );
                assert!(op["operationId"].is_string(), "{method} {path}");
                assert!(op["responses"].is_object(), "{method} {path}");
            }
        }
        assert_eq!(n, table.len());
    }

    #[test]
    fn every_ref_resolves() {
        let doc = document(&crate::routes::table(&ServerOptions::default()));
        fn walk(v: &Value, doc: &Value) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        let name = r.strip_prefix("#/components/schemas/").expect("local ref");
                        assert!(
                            doc["components"]["schemas"].get(name).is_some(),
                            "dangling {r}"
                        );
                    }
                    m.values().for_each(|x| walk(x, doc));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, doc)),
                _ => {}
            }
        }
        walk(&doc, &doc);
    }
}
