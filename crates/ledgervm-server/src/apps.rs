//! `/v1/apps`: load, list, inspect and unload apps.

use crate::ServerState;
use crate::error::ApiError;
use crate::extract::{ModuleBody, Path, Query};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ledgervm_node::record::CallPolicy;
use ledgervm_node::{AppInfo, LoadRequest, Requester};
use ledgervm_runtime::Limits;
use serde::Deserialize;
use std::time::Duration;

/// Query options of `PUT /v1/apps/{name}`. Any limit given overrides the runtime's
/// default for that limit only; none given keeps the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadQuery {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Linear memory cap per memory, in bytes.
    pub max_memory_bytes: Option<u64>,
    /// Table size cap.
    pub max_table_elements: Option<u64>,
    /// Cap per output stream, in bytes.
    pub max_output_bytes: Option<usize>,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// `anonymous` (default), `signed` or `allow_list`.
    pub policy: Option<String>,
    /// For `allow_list`: the allowed keys, comma-separated lowercase hex.
    pub allow: Option<String>,
    /// Seal call payloads in the log under the app's key.
    pub private: Option<bool>,
    /// Most keys the app's state may hold.
    pub max_keys: Option<u64>,
}

pub use ledgervm_node::secret::ENCRYPTION_KEY_HEADER;

impl LoadQuery {
    /// The call policy asked for: `allow` only with `policy=allow_list`, and that policy
    /// needs at least one key (keys are checked by the node).
    pub fn policy(&self) -> Result<CallPolicy, ApiError> {
        let bad = |m: String| ApiError::bad_request(crate::error::codes::BAD_QUERY, m);
        match (self.policy.as_deref(), &self.allow) {
            (None | Some("anonymous"), None) => Ok(CallPolicy::Anonymous),
            (Some("signed"), None) => Ok(CallPolicy::Signed),
            (Some("allow_list"), Some(keys)) => {
                let keys: Vec<String> = keys
                    .split(',')
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect();
                if keys.is_empty() {
                    return Err(bad("policy=allow_list needs allow=KEY[,KEY...]".into()));
                }
                Ok(CallPolicy::AllowList(keys))
            }
            (Some("allow_list"), None) => {
                Err(bad("policy=allow_list needs allow=KEY[,KEY...]".into()))
            }
            (_, Some(_)) => Err(bad("allow= is only for policy=allow_list".into())),
            (Some(other), None) => Err(bad(format!(
                "unknown policy {other:?}: use anonymous, signed or allow_list"
            ))),
        }
    }

    /// The limits to load with: `None` when no limit option is present, so the node
    /// applies its own defaults.
    pub fn limits(&self, defaults: &Limits) -> Option<Limits> {
        let any = self.fuel.is_some()
            || self.max_memory_bytes.is_some()
            || self.max_table_elements.is_some()
            || self.max_output_bytes.is_some()
            || self.deadline_ms.is_some();
        any.then(|| Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            max_memory_bytes: self.max_memory_bytes.unwrap_or(defaults.max_memory_bytes),
            max_table_elements: self
                .max_table_elements
                .unwrap_or(defaults.max_table_elements),
            max_output_bytes: self.max_output_bytes.unwrap_or(defaults.max_output_bytes),
            deadline: self
                .deadline_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.deadline),
        })
    }
}

/// Rejects a bad name before anything else (and before a large body is used).
pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    if ledgervm_node::ids::is_valid_app_name(name) {
        Ok(())
    } else {
        Err(ledgervm_node::NodeError::InvalidName(name.to_string()).into())
    }
}

fn target(uri: &Uri) -> Option<&str> {
    uri.path_and_query().map(|pq| pq.as_str())
}

/// Loads an app for any transport, then re-issues the attested identity.
///
/// Spawned so a client that hangs up (or a request timeout) cannot cancel the load
/// half-way between its durable record and the registry update, nor skip the re-issue.
pub(crate) async fn load_app(
    s: &ServerState,
    req: LoadRequest,
    requester: Requester,
) -> Result<AppInfo, ApiError> {
    let (node, identity) = (s.node.clone(), s.identity.clone());
    Ok(tokio::spawn(async move {
        let info = node.load_as(req, requester).await?;
        identity.refresh(&node);
        Ok::<_, ledgervm_node::NodeError>(info)
    })
    .await??)
}

/// Unloads an app for any transport, then re-issues the attested identity.
pub(crate) async fn unload_app(
    s: &ServerState,
    name: String,
    requester: Requester,
) -> Result<(AppInfo, u64), ApiError> {
    let (node, identity) = (s.node.clone(), s.identity.clone());
    Ok(tokio::spawn(async move {
        let r = node.unload_as(&name, requester).await?;
        identity.refresh(&node);
        Ok::<_, ledgervm_node::NodeError>(r)
    })
    .await??)
}

/// `PUT /v1/apps/{name}` → 201 with the [`AppInfo`]. Over an existing name, only its
/// owner or the admin key may load (signed with the `X-Ledgervm-*` headers).
pub(crate) async fn load(
    State(s): State<ServerState>,
    Path(name): Path<String>,
    Query(q): Query<LoadQuery>,
    uri: Uri,
    headers: HeaderMap,
    ModuleBody(body): ModuleBody,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let requester = crate::auth::requester(&headers, target(&uri))?;
    let limits = q.limits(&s.node.runtime().config().default_limits);
    let encryption_key = match headers.get(ENCRYPTION_KEY_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| ledgervm_node::secret::AppKey::from_hex(t).ok())
                .ok_or_else(|| {
                    ledgervm_node::NodeError::InvalidKey(format!(
                        "{ENCRYPTION_KEY_HEADER} must be 32 bytes as 64 hex characters"
                    ))
                })?,
        ),
    };
    let req = LoadRequest {
        name: name.clone(),
        module: body.to_vec(),
        limits,
        policy: q.policy()?,
        encryption_key,
        private: q.private.unwrap_or(false),
        max_keys: q.max_keys,
    };
    let info = load_app(&s, req, requester).await?;
    let mut resp = (StatusCode::CREATED, axum::Json(info)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/apps/{name}")) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// `GET /v1/apps` → `{"apps": [AppInfo…]}`.
pub(crate) async fn list(State(s): State<ServerState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "apps": s.node.apps() }))
}

/// `GET /v1/apps/{name}` → [`AppInfo`].
pub(crate) async fn get(
    State(s): State<ServerState>,
    Path(name): Path<String>,
) -> Result<axum::Json<AppInfo>, ApiError> {
    check_name(&name)?;
    s.node
        .app(&name)
        .map(axum::Json)
        .ok_or_else(|| ledgervm_node::NodeError::AppNotFound(name).into())
}

/// `GET /v1/apps/{name}/kv/{key}` → [`ledgervm_node::node::KvValue`]: the durable value
/// of a key (the path segment's UTF-8 bytes), the index of the record that wrote it and
/// that record's receipt.
pub(crate) async fn kv_get(
    State(s): State<ServerState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<axum::Json<ledgervm_node::node::KvValue>, ApiError> {
    check_name(&name)?;
    Ok(axum::Json(s.node.kv_get(&name, key.as_bytes()).await?))
}

/// `DELETE /v1/apps/{name}` → `{"name", "code_hash", "index"}` (the unload record's index).
/// Only the app's owner or the admin key (or anyone, for an ownerless app on a server
/// without an admin key).
pub(crate) async fn unload(
    State(s): State<ServerState>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    check_name(&name)?;
    let requester = crate::auth::requester(&headers, target(&uri))?;
    let (info, index) = unload_app(&s, name, requester).await?;
    Ok(axum::Json(serde_json::json!({
        "name": info.name,
        "code_hash": info.code_hash,
        "index": index,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_only_when_asked_and_overriding_one_field_at_a_time() {
        let d = Limits::default();
        assert_eq!(LoadQuery::default().limits(&d), None);
        let q = LoadQuery {
            fuel: Some(7),
            deadline_ms: Some(250),
            ..Default::default()
        };
        let l = q.limits(&d).unwrap();
        assert_eq!(l.fuel, 7);
        assert_eq!(l.deadline, Duration::from_millis(250));
        assert_eq!(l.max_memory_bytes, d.max_memory_bytes);
        assert_eq!(l.max_output_bytes, d.max_output_bytes);
        let q = LoadQuery {
            policy: Some("signed".into()),
            ..Default::default()
        };
        assert_eq!(q.limits(&d), None, "policy alone is not a limit");
        assert_eq!(q.policy().unwrap(), CallPolicy::Signed);
    }

    #[test]
    fn policies_from_the_query() {
        let q = |policy: Option<&str>, allow: Option<&str>| LoadQuery {
            policy: policy.map(str::to_string),
            allow: allow.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(q(None, None).policy().unwrap(), CallPolicy::Anonymous);
        assert_eq!(
            q(Some("allow_list"), Some("aa, bb")).policy().unwrap(),
            CallPolicy::AllowList(vec!["aa".into(), "bb".into()])
        );
        for (p, a) in [
            (Some("allow_list"), None),
            (Some("allow_list"), Some(" , ")),
            (Some("signed"), Some("aa")),
            (None, Some("aa")),
            (Some("owner"), None),
        ] {
            let e = q(p, a).policy().unwrap_err();
            assert_eq!(e.code, "bad_query", "{p:?} {a:?}");
        }
    }

    #[test]
    fn names_are_checked_like_the_node_does() {
        assert!(check_name("sum.wasm").is_ok());
        let e = check_name("a/b").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code.as_ref()),
            (400, "invalid_app_name")
        );
        assert!(check_name("..").is_err());
    }
}
