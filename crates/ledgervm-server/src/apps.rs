//! `/v1/apps`: load, list, inspect and unload apps.

use crate::ServerState;
use crate::error::ApiError;
use crate::extract::{ModuleBody, Path, Query};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledgervm_node::record::CallPolicy;
use ledgervm_node::{AppInfo, LoadRequest};
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
    /// `anonymous` (default) or `signed`.
    pub policy: Option<CallPolicy>,
}

impl LoadQuery {
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

/// Loads an app for any transport, then re-issues the attested identity.
///
/// Spawned so a client that hangs up (or a request timeout) cannot cancel the load
/// half-way between its durable record and the registry update, nor skip the re-issue.
pub(crate) async fn load_app(s: &ServerState, req: LoadRequest) -> Result<AppInfo, ApiError> {
    let (node, identity) = (s.node.clone(), s.identity.clone());
    Ok(tokio::spawn(async move {
        let info = node.load(req).await?;
        identity.refresh(&node);
        Ok::<_, ledgervm_node::NodeError>(info)
    })
    .await??)
}

/// Unloads an app for any transport, then re-issues the attested identity.
pub(crate) async fn unload_app(s: &ServerState, name: String) -> Result<(AppInfo, u64), ApiError> {
    let (node, identity) = (s.node.clone(), s.identity.clone());
    Ok(tokio::spawn(async move {
        let r = node.unload(&name).await?;
        identity.refresh(&node);
        Ok::<_, ledgervm_node::NodeError>(r)
    })
    .await??)
}

/// `PUT /v1/apps/{name}` → 201 with the [`AppInfo`].
pub(crate) async fn load(
    State(s): State<ServerState>,
    Path(name): Path<String>,
    Query(q): Query<LoadQuery>,
    ModuleBody(body): ModuleBody,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let limits = q.limits(&s.node.runtime().config().default_limits);
    let req = LoadRequest {
        name: name.clone(),
        module: body.to_vec(),
        limits,
        policy: q.policy.unwrap_or_default(),
    };
    let info = load_app(&s, req).await?;
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

/// `DELETE /v1/apps/{name}` → `{"name", "code_hash", "index"}` (the unload record's index).
pub(crate) async fn unload(
    State(s): State<ServerState>,
    Path(name): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    check_name(&name)?;
    let (info, index) = unload_app(&s, name).await?;
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
            policy: Some(CallPolicy::Signed),
            ..Default::default()
        };
        assert_eq!(q.limits(&d), None, "policy alone is not a limit");
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
