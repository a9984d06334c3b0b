//! `POST /v1/apps/{name}/calls/{func}`: run a call and answer once it is durable.
//!
//! A call the guest returned from answers 200; a call the guest failed (trap, out of
//! fuel, bad arguments, unknown function, …) is still a recorded, durable result, so it
//! answers 422 with the same body plus `code`/`message` — the receipt proves the failure.

use crate::ServerState;
use crate::apps::check_name;
use crate::error::{ApiError, json_response};
use crate::extract::{Caller, JsonBody, Path};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ledgervm_node::record::Outcome;
use ledgervm_node::{CallInput, CallResult, Node};
use ledgervm_runtime::value::Value;
use serde::{Deserialize, Serialize};

/// The call body: `{"args": [typed values]}`; `args` may be omitted for no arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    /// Typed values, decoded with the value codec so errors carry its codes and paths.
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
}

/// Decodes typed arguments (`{"type":"u32","value":5}`, …).
pub(crate) fn decode_args(args: Vec<serde_json::Value>) -> Result<Vec<Value>, ApiError> {
    Ok(Value::from_json_array(
        &serde_json::Value::Array(args),
        "args",
    )?)
}

/// Runs a call. [`Node::call`] runs it on a task of its own, so nothing the HTTP side
/// does (a client hanging up, the request timeout) can cancel it between execution and
/// its durable record.
pub(crate) async fn run_call(node: &Node, input: CallInput) -> Result<CallResult, ApiError> {
    Ok(node.call(input).await?)
}

/// The JSON body of a durable call's answer. Serialized straight from the result:
/// building a `serde_json::Value` first copied the receipt's entry and proof into a map
/// of owned strings for every call (a visible share of `ledgervm bench`'s CPU). Fields
/// are in the order the map used to print them (sorted), so the bytes did not change.
#[derive(Debug, Serialize)]
pub struct CallJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<CallerJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    fuel: u64,
    index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    receipt: &'a ledgervm_node::Receipt,
    result: &'a Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Debug, Serialize)]
struct CallerJson<'a> {
    authenticated: bool,
    id: &'a str,
}

/// The status and JSON body for a durable call: 200 when the guest returned, 422 with
/// the call error's code and message when it failed.
pub fn call_json(res: &CallResult) -> (StatusCode, CallJson<'_>) {
    let (status, code, message) = match &res.outcome {
        Outcome::Ok(_) => (StatusCode::OK, None, None),
        Outcome::Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(e.code()),
            Some(e.to_string()),
        ),
    };
    let body = CallJson {
        // Loud on purpose: a `--debug` user id is a claim, not an identity.
        caller: res.caller.as_deref().map(|id| CallerJson {
            authenticated: res.authenticated,
            id,
        }),
        code,
        fuel: res.fuel,
        index: res.index,
        message,
        receipt: &res.receipt,
        result: &res.outcome,
        stdout: (!res.stdout.is_empty()).then(|| String::from_utf8_lossy(&res.stdout)),
    };
    (status, body)
}

/// `POST /v1/apps/{name}/calls/{func}`; signed with the `X-Ledgervm-*` headers
/// ([`crate::auth`]) or anonymous.
pub(crate) async fn call(
    State(s): State<ServerState>,
    Path((app, func)): Path<(String, String)>,
    Caller(requester): Caller,
    JsonBody(body): JsonBody<CallBody>,
) -> Result<Response, ApiError> {
    check_name(&app)?;
    let args = decode_args(body.args)?;
    let input = CallInput {
        app,
        func,
        args,
        requester,
    };
    let res = run_call(&s.node, input).await?;
    let (status, body) = call_json(&res);
    Ok(json_response(status, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_decode_with_codec_codes_and_paths() {
        let ok = decode_args(vec![json!({"type": "u32", "value": 5})]).unwrap();
        assert_eq!(ok, vec![Value::U32(5)]);
        let e = decode_args(vec![
            json!({"type": "u32", "value": 5}),
            json!({"type": "u9", "value": 1}),
        ])
        .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.code.starts_with("value."), "{e}");
        assert!(e.message.contains("args[1]"), "{e}");
        assert_eq!(decode_args(vec![]).unwrap(), vec![]);
    }

    fn result(outcome: Outcome, stdout: &[u8]) -> CallResult {
        CallResult {
            index: 7,
            outcome,
            fuel: 99,
            stdout: stdout.to_vec(),
            receipt: ledgervm_node::Receipt {
                format: ledgervm_node::receipt::RECEIPT_FORMAT.into(),
                entry: "{}".into(),
                blob: None,
                proof: "p".into(),
            },
            caller: None,
            authenticated: false,
        }
    }

    #[test]
    fn ok_is_200_and_failure_is_422_with_code() {
        let res = result(Outcome::Ok(vec![Value::I32(12)]), b"");
        let (st, body) = call_json(&res);
        let body = serde_json::to_value(&body).unwrap();
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            body["result"],
            json!({"ok": [{"type": "i32", "value": 12}]})
        );
        assert_eq!(
            (body["index"].as_u64(), body["fuel"].as_u64()),
            (Some(7), Some(99))
        );
        assert!(
            body.get("stdout").is_none() && body.get("code").is_none(),
            "{body}"
        );
        assert_eq!(
            body["receipt"]["format"],
            ledgervm_node::receipt::RECEIPT_FORMAT
        );

        let err = ledgervm_runtime::CallError::Trap {
            code: "unreachable".into(),
            message: "wasm `unreachable` instruction executed".into(),
        };
        let res = result(Outcome::Err(err.clone()), b"hi \xff");
        let (st, body) = call_json(&res);
        let body = serde_json::to_value(&body).unwrap();
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["code"], "trap");
        assert_eq!(body["message"], err.to_string());
        assert_eq!(body["result"]["err"]["error"], "trap");
        assert_eq!(body["stdout"], "hi \u{fffd}");
    }

    #[test]
    fn call_body_rejects_unknown_fields_and_allows_missing_args() {
        assert!(serde_json::from_str::<CallBody>(r#"{"arg": []}"#).is_err());
        assert!(
            serde_json::from_str::<CallBody>("{}")
                .unwrap()
                .args
                .is_empty()
        );
    }
}
