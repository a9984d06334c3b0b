//! The app registry: which apps are loaded now, each with its compiled module, its load
//! record and its lock. Rebuilt from the log on start.

use crate::kv::AppKv;
use crate::record::{CallPolicy, ExportInfo, Load};
use crate::secret::KeySource;
use ledgervm_runtime::{AppKind, Limits, LoadedApp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the API says about a loaded app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// App name.
    pub name: String,
    /// Lowercase hex SHA-256 of the module: the app's identity.
    pub code_hash: String,
    /// The same digest as a CIDv1 (raw, sha2-256).
    pub cid: String,
    /// Core module or component.
    pub app_kind: AppKind,
    /// Callable exports with their types.
    pub exports: Vec<ExportInfo>,
    /// Index of the `app.load` record.
    pub index: u64,
    /// Module size in bytes.
    pub size: u64,
    /// Limits each call runs under.
    pub limits: Limits,
    /// Who may call.
    pub policy: CallPolicy,
    /// Caller id of whoever loaded it; absent when loaded anonymously.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether the app's key was generated at load or supplied by its owner.
    pub key_source: KeySource,
    /// Public id of the app's key (never the key).
    pub key_id: String,
    /// Whether call payloads are sealed in the log.
    pub private: bool,
    /// Most keys the app's state may hold.
    pub max_keys: u64,
}

impl AppInfo {
    /// From a load record and its index.
    pub fn from_load(load: &Load, index: u64) -> AppInfo {
        AppInfo {
            name: load.name.clone(),
            code_hash: load.code_hash.clone(),
            cid: load.cid.clone(),
            app_kind: load.app_kind,
            exports: load.exports.clone(),
            index,
            size: load.size,
            limits: load.limits.clone(),
            policy: load.policy.clone(),
            owner: load.owner.clone(),
            key_source: load.key_source,
            key_id: load.key_id.clone(),
            private: load.private,
            max_keys: load.max_keys,
        }
    }
}

/// One loaded app.
pub struct AppSlot {
    /// Public description.
    pub info: AppInfo,
    /// Compiled, pre-instantiated module.
    pub app: LoadedApp,
    /// The app's state generation (persistent, encrypted).
    pub state: Arc<AppKv>,
    /// Held for the whole of a call, from execution to sequencing: one call at a time
    /// per app, in log order (the NodeVMS "script-wide lock").
    pub lock: tokio::sync::Mutex<()>,
}

/// Loaded apps by name.
#[derive(Default)]
pub struct Registry {
    apps: BTreeMap<String, Arc<AppSlot>>,
}

impl Registry {
    /// The app loaded under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<AppSlot>> {
        self.apps.get(name).cloned()
    }

    /// Loads (or replaces) an app.
    pub fn insert(&mut self, slot: AppSlot) {
        self.apps.insert(slot.info.name.clone(), Arc::new(slot));
    }

    /// Removes an app.
    pub fn remove(&mut self, name: &str) -> Option<Arc<AppSlot>> {
        self.apps.remove(name)
    }

    /// All apps, by name.
    pub fn list(&self) -> Vec<AppInfo> {
        self.apps.values().map(|s| s.info.clone()).collect()
    }
}
