//! Verified reads of app state: a value with the record that wrote it and a receipt.

use super::{Node, join_err};
use crate::error::NodeError;
use crate::receipt::Receipt;
use serde::{Deserialize, Serialize};

/// A value read from an app's state, vouched for by a log record.
///
/// The receipt's entry is the call record (index [`KvValue::index`]) whose write set
/// last set the key, with its inclusion proof against a signed checkpoint; a client
/// checks that the record is a call of [`KvValue::app`] whose last write of the key is
/// [`KvValue::value`]. This proves the value was written by a logged call. It does not
/// by itself prove that no later call overwrote it (the state digest is a set hash, not
/// a map root); for that, replay the log from the record on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvValue {
    /// App name.
    pub app: String,
    /// The key, lowercase hex.
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    pub key: Vec<u8>,
    /// The value, lowercase hex.
    #[serde(with = "ledgervm_runtime::transcript::hex_bytes")]
    pub value: Vec<u8>,
    /// Index of the call record that wrote it.
    pub index: u64,
    /// Receipt for that record.
    pub receipt: Receipt,
}

impl Node {
    /// The durable value of `key` in `app`'s state, with the record that wrote it.
    ///
    /// Private apps refuse (`forbidden`): their values are only for key holders, and
    /// their records are sealed so a client could not check the value anyway.
    pub async fn kv_get(&self, app: &str, key: &[u8]) -> Result<KvValue, NodeError> {
        let slot = self
            .inner
            .registry
            .read()
            .get(app)
            .ok_or_else(|| NodeError::AppNotFound(app.into()))?;
        if slot.info.private {
            return Err(NodeError::Forbidden(format!(
                "app {app:?} is private: its state is not served"
            )));
        }
        let not_found = || NodeError::KvKeyNotFound {
            app: app.into(),
            key: String::from_utf8_lossy(key).into_owned(),
        };
        ledgervm_runtime::state::check_key(key).map_err(|_| not_found())?;
        let (kv, k) = (slot.state.clone(), key.to_vec());
        let stored = tokio::task::spawn_blocking(move || kv.read_persisted(&k))
            .await
            .map_err(join_err)?
            .map_err(|e| NodeError::Internal(e.to_string()))?
            .ok_or_else(not_found)?;
        let receipt = self.receipt(stored.index)?;
        Ok(KvValue {
            app: app.into(),
            key: key.to_vec(),
            value: stored.value,
            index: stored.index,
            receipt,
        })
    }
}
