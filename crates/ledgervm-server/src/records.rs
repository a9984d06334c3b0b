//! Records, receipts, proofs and the log's identity: `/v1/records`, `/v1/receipts`,
//! `/v1/proofs/*`, `/v1/log`.
//!
//! The node's readers may touch the disk (tiles behind a cache), so they run on the
//! blocking pool rather than on the async workers that serve calls.

use crate::ServerState;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use ledgervm_log::merkle::Hash;
use ledgervm_node::{Node, NodeError};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

/// Runs a node read on the blocking pool.
async fn read<T: Send + 'static>(
    node: &Node,
    f: impl FnOnce(&Node) -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    let node = node.clone();
    Ok(tokio::task::spawn_blocking(move || f(&node)).await??)
}

/// Proof hashes as standard base64 strings, as in C2SP checkpoints.
pub fn hashes_b64(proof: &[Hash]) -> Vec<String> {
    proof
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
        .collect()
}

/// `GET /v1/records/{index}` → `{"index", "record", "receipt"}`.
pub(crate) async fn record(
    State(s): State<ServerState>,
    Path(index): Path<u64>,
) -> Result<Json<Json_>, ApiError> {
    let (record, receipt) =
        read(&s.node, move |n| Ok((n.record(index)?, n.receipt(index)?))).await?;
    Ok(Json(
        json!({"index": index, "record": record, "receipt": receipt}),
    ))
}

/// `GET /v1/receipts/{index}` → the receipt against the latest checkpoint.
pub(crate) async fn receipt(
    State(s): State<ServerState>,
    Path(index): Path<u64>,
) -> Result<Json<ledgervm_node::Receipt>, ApiError> {
    Ok(Json(read(&s.node, move |n| n.receipt(index)).await?))
}

/// Query of `GET /v1/proofs/inclusion`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// Leaf index.
    pub index: u64,
    /// Tree size the proof is for.
    pub size: u64,
}

/// `GET /v1/proofs/inclusion?index=&size=`.
pub(crate) async fn inclusion(
    State(s): State<ServerState>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<Json_>, ApiError> {
    let proof = read(&s.node, move |n| n.inclusion_proof(q.index, q.size)).await?;
    Ok(Json(
        json!({"index": q.index, "size": q.size, "proof": hashes_b64(&proof)}),
    ))
}

/// Query of `GET /v1/proofs/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// Older tree size.
    pub old: u64,
    /// Newer tree size.
    pub new: u64,
}

/// `GET /v1/proofs/consistency?old=&new=`.
pub(crate) async fn consistency(
    State(s): State<ServerState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<Json_>, ApiError> {
    let proof = read(&s.node, move |n| n.consistency_proof(q.old, q.new)).await?;
    Ok(Json(
        json!({"old": q.old, "new": q.new, "proof": hashes_b64(&proof)}),
    ))
}

/// `GET /v1/log` → `{"origin", "vkey", "size", "checkpoint", "engine"}`. `size` is the
/// size the returned checkpoint signs, so the two always agree.
pub(crate) async fn log_info(State(s): State<ServerState>) -> Result<Json<Json_>, ApiError> {
    let note = s.node.checkpoint();
    let text = String::from_utf8(note.to_vec())
        .map_err(|_| ApiError::internal("checkpoint is not UTF-8"))?;
    let body = text.split("\n\n").next().unwrap_or("").to_string() + "\n";
    let cp = ledgervm_log::checkpoint::Checkpoint::parse(&body)
        .map_err(|e| ApiError::internal(format!("own checkpoint does not parse: {e}")))?;
    Ok(Json(json!({
        "origin": cp.origin,
        "vkey": s.node.vkey(),
        "size": cp.size,
        "checkpoint": text,
        "engine": s.node.engine(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_standard_padded_base64() {
        let h = [[0u8; 32], [0xffu8; 32]];
        let out = hashes_b64(&h);
        assert_eq!(out[0], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(out[1], "//////////////////////////////////////////8=");
        assert!(hashes_b64(&[]).is_empty());
    }
}
