//! Verified reads of app state (`GET /v1/apps/{name}/kv/{key}`).

use crate::error::ClientError;
use crate::http::Client;
use ledgervm_node::node::KvValue;
use ledgervm_node::record::Record;

/// Checks that a verified record vouches for `value`: it is a call of `app` whose write
/// set's last write of `key` sets `value`. Pure.
///
/// ```
/// # use ledgervm_node::record::*;
/// # use ledgervm_runtime::state::Caller;
/// let call = CallRecord {
///     app: "a".into(), code_hash: "ab".repeat(32), load_index: 1, func: "f".into(),
///     args: vec![], caller: Caller::anonymous(), transcript: Default::default(),
///     outcome: Outcome::Ok(vec![]), fuel: 1, stdout: vec![], stderr: vec![],
///     write_set: vec![Write { key: b"k".to_vec(), value: Some(HexBytes(b"v".to_vec())) }],
///     state_digest: "00".repeat(32), auth: None,
/// };
/// let r = Record::Call(Box::new(call));
/// assert!(ledgervm_client::kv::check_kv_record(&r, "a", b"k", b"v").is_ok());
/// assert!(ledgervm_client::kv::check_kv_record(&r, "a", b"k", b"w").is_err());
/// assert!(ledgervm_client::kv::check_kv_record(&r, "b", b"k", b"v").is_err());
/// ```
pub fn check_kv_record(
    record: &Record,
    app: &str,
    key: &[u8],
    value: &[u8],
) -> Result<(), ClientError> {
    let Record::Call(call) = record else {
        return Err(ClientError::Verification(format!(
            "the record vouching for the value is a {} record, not a call",
            record.kind()
        )));
    };
    if call.app != app {
        return Err(ClientError::Verification(format!(
            "the record vouching for the value is a call of {:?}, not {app:?}",
            call.app
        )));
    }
    if call.outcome.as_result().is_err() {
        return Err(ClientError::Verification(
            "the record vouching for the value is a failed call (it wrote nothing)".into(),
        ));
    }
    let last = call.write_set.iter().rev().find(|w| w.key == key);
    match last.and_then(|w| w.value.as_ref()) {
        Some(v) if v.0 == value => Ok(()),
        Some(_) => Err(ClientError::Verification(
            "the record's last write of the key sets another value".into(),
        )),
        None => Err(ClientError::Verification(
            "the record does not write the key (or deletes it)".into(),
        )),
    }
}

impl Client {
    /// `GET /v1/apps/{app}/kv/{key}`: the value with the record that wrote it, verified:
    /// the receipt against the trusted checkpoint, and the record against the value.
    pub async fn kv_get(&self, app: &str, key: &str) -> Result<KvValue, ClientError> {
        let body: KvValue = self.get_json(&["v1", "apps", app, "kv", key], &[]).await?;
        if body.app != app || body.key != key.as_bytes() {
            return Err(ClientError::Protocol(
                "the answer names another app or key".into(),
            ));
        }
        let verified = self.accept_receipt(&body.receipt, body.index).await?;
        check_kv_record(&verified.record, app, key.as_bytes(), &body.value)?;
        Ok(body)
    }
}
