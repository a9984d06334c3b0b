//! The immudb demo's route, `GET /immutable/{app}?func=Sum&a=5&b=7`.
//!
//! Every query parameter other than `func` is an argument, taken in the order given and
//! parsed as plain text against the export's parameter types. The call is logged like
//! any other; before answering `verified WebAssembly app result: 12` the server checks
//! the call's receipt against its own log key, so "verified" means the result is in a
//! signed checkpoint, not just that the guest returned.

use crate::ServerState;
use crate::apps::check_name;
use crate::calls::{call_json, run_call};
use crate::error::{ApiError, codes, json_response};
use crate::extract::{Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledgervm_node::CallInput;
use ledgervm_node::Requester;
use ledgervm_node::record::Outcome;
use ledgervm_runtime::value::{FuncType, Value, parse_plain};

/// Splits the query into the function name and the argument words, in order.
pub fn split_query(
    pairs: Vec<(String, String)>,
) -> Result<(String, Vec<(String, String)>), ApiError> {
    let mut func = None;
    let mut args = Vec::new();
    for (k, v) in pairs {
        if k == "func" {
            if func.replace(v).is_some() {
                return Err(ApiError::bad_request(
                    codes::BAD_QUERY,
                    "`func` given more than once",
                ));
            }
        } else {
            args.push((k, v));
        }
    }
    let func = func.filter(|f| !f.is_empty()).ok_or_else(|| {
        ApiError::bad_request(codes::MISSING_FUNC, "the query needs func=<export name>")
    })?;
    Ok((func, args))
}

/// Parses argument words against a signature. Words beyond the parameters (or for an
/// export that does not exist) are passed as strings, so the node records exactly what
/// was asked and answers with its own `bad_arguments` / `no_such_function` outcome.
pub fn parse_args(
    ty: Option<&FuncType>,
    words: &[(String, String)],
) -> Result<Vec<Value>, ApiError> {
    words
        .iter()
        .enumerate()
        .map(|(i, (name, word))| match ty.and_then(|t| t.params.get(i)) {
            Some(p) => parse_plain(word, &p.ty).map_err(|e| {
                ApiError::bad_request(e.code(), format!("argument {name:?} ({}): {e}", p.ty))
            }),
            None => Ok(Value::String(word.clone())),
        })
        .collect()
}

/// Plain text of a result value: scalars as written on a command line, anything else
/// as its typed JSON.
pub fn plain_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::S8(n) => n.to_string(),
        Value::U8(n) => n.to_string(),
        Value::S16(n) => n.to_string(),
        Value::U16(n) => n.to_string(),
        Value::S32(n) | Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::S64(n) | Value::I64(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(_) | Value::F64(_) => {
            let x = v
                .as_f64()
                .or_else(|| v.as_f32().map(f64::from))
                .unwrap_or(f64::NAN);
            x.to_string()
        }
        Value::Char(c) => c.to_string(),
        Value::String(s) | Value::Enum(s) => s.clone(),
        other => other.to_json().to_string(),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"))
}

/// `GET /immutable/{app}?func=…&…`.
pub(crate) async fn immutable(
    State(s): State<ServerState>,
    Path(app): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_name(&app)?;
    let info = s
        .node
        .app(&app)
        .ok_or_else(|| ApiError::from(ledgervm_node::NodeError::AppNotFound(app.clone())))?;
    let (func, words) = split_query(pairs)?;
    let ty = info.exports.iter().find(|e| e.name == func).map(|e| &e.ty);
    let args = parse_args(ty, &words)?;
    let res = run_call(
        &s.node,
        CallInput {
            app,
            func,
            args,
            requester: Requester::Anonymous,
        },
    )
    .await?;
    let (status, body) = call_json(&res);
    if wants_json(&headers) || status != StatusCode::OK {
        return Ok(json_response(status, &body));
    }
    res.receipt
        .verify(s.node.vkey())
        .map_err(|e| ApiError::internal(format!("the call's own receipt does not verify: {e}")))?;
    let Outcome::Ok(values) = &res.outcome else {
        unreachable!("status is 200 only for Outcome::Ok")
    };
    let text = values.iter().map(plain_text).collect::<Vec<_>>().join(" ");
    let mut resp = (
        StatusCode::OK,
        format!("verified WebAssembly app result: {text}"),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledgervm_runtime::value::{Field, ValueType};

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn func_is_taken_out_and_order_kept() {
        let (f, a) = split_query(pairs(&[("b", "7"), ("func", "Sum"), ("a", "5")])).unwrap();
        assert_eq!(f, "Sum");
        assert_eq!(a, pairs(&[("b", "7"), ("a", "5")]));
        assert_eq!(
            split_query(pairs(&[("a", "1")])).unwrap_err().code,
            codes::MISSING_FUNC
        );
        assert_eq!(
            split_query(pairs(&[("func", "")])).unwrap_err().code,
            codes::MISSING_FUNC
        );
        assert_eq!(
            split_query(pairs(&[("func", "a"), ("func", "b")]))
                .unwrap_err()
                .code,
            codes::BAD_QUERY
        );
    }

    #[test]
    fn args_parse_against_the_signature() {
        let ty = FuncType {
            params: vec![
                Field::new("p0", ValueType::I32),
                Field::new("p1", ValueType::I32),
            ],
            results: vec![ValueType::I32],
        };
        let v = parse_args(Some(&ty), &pairs(&[("a", "5"), ("b", "7")])).unwrap();
        assert_eq!(v, vec![Value::I32(5), Value::I32(7)]);
        let e = parse_args(Some(&ty), &pairs(&[("a", "five")])).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.code.starts_with("value."), "{e}");
        assert!(e.message.contains("\"a\""), "{e}");
        let extra = parse_args(Some(&ty), &pairs(&[("a", "1"), ("b", "2"), ("c", "x")])).unwrap();
        assert_eq!(extra[2], Value::String("x".into()));
        assert_eq!(
            parse_args(None, &pairs(&[("a", "1")])).unwrap(),
            vec![Value::String("1".into())]
        );
    }

    #[test]
    fn plain_text_of_values() {
        assert_eq!(plain_text(&Value::I32(12)), "12");
        assert_eq!(plain_text(&Value::I32(-1)), "-1");
        assert_eq!(plain_text(&Value::U64(u64::MAX)), u64::MAX.to_string());
        assert_eq!(plain_text(&Value::f32(1.5)), "1.5");
        assert_eq!(plain_text(&Value::f64(-0.25)), "-0.25");
        assert_eq!(plain_text(&Value::String("hi".into())), "hi");
        assert_eq!(plain_text(&Value::Bool(true)), "true");
        assert!(plain_text(&Value::List(vec![Value::U8(1)])).starts_with('{'));
    }

    #[test]
    fn accept_json_detection() {
        let mut h = HeaderMap::new();
        assert!(!wants_json(&h));
        h.insert(
            header::ACCEPT,
            "text/html, Application/JSON;q=0.9".parse().unwrap(),
        );
        assert!(wants_json(&h));
    }
}
