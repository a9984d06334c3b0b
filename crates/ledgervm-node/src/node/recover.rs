//! Recovery: rebuild the registry from the log and catch every loaded app's state up
//! with the write sets the store has not persisted yet.
//!
//! The store is never ahead of the log (writes are persisted only after their commit),
//! so catching up is exact: every call record at or after a generation's persisted
//! `next` index is applied in log order, and each application is checked against the
//! state digest the record carries. At the end, each loaded app's digest must equal the
//! one in its last call record — a store that was tampered with or lost data that the
//! log still vouches for is refused rather than served.

use super::{Node, join_err};
use crate::error::NodeError;
use crate::kv::AppKv;
use crate::record::{CallRecord, Load, Outcome, Record};
use crate::registry::{AppInfo, AppSlot};
use crate::secret::KeySource;
use crate::state::{self, StateBase};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A loaded app as the scan sees it.
struct Scanned {
    load: Load,
    index: u64,
    /// `None` while the app's key is not sealed here (an app unloaded later on).
    kv: Option<Arc<AppKv>>,
}

fn corrupt(index: u64, what: impl std::fmt::Display) -> NodeError {
    NodeError::Corrupt(format!("entry {index}: {what}"))
}

impl Node {
    /// Replays the log's records into the registry and catches app states up.
    pub(super) async fn recover(&self, vkey: &str) -> Result<(), NodeError> {
        let size = self.inner.log.size();
        let mut loaded: HashMap<String, Scanned> = HashMap::new();
        // Last recorded digest per generation (`name`, `key_id`), across unloads.
        let mut last_digest: HashMap<(String, String), (u64, String)> = HashMap::new();
        let mut forgotten: BTreeSet<(String, String)> = BTreeSet::new();
        for index in 0..size {
            match self.record(index)? {
                Record::Config(c) if index == 0 => {
                    if c.vkey != vkey {
                        return Err(NodeError::Corrupt(format!(
                            "entry 0 names log key {} but the key on disk is {vkey}",
                            c.vkey
                        )));
                    }
                }
                Record::Load(load) => {
                    self.inner.authz.remember(load.auth.as_ref());
                    let kv = match loaded.remove(&load.name) {
                        Some(prev) if prev.load.key_id == load.key_id => prev.kv,
                        _ => self.open_generation(&load).await?,
                    };
                    loaded.insert(load.name.clone(), Scanned { load, index, kv });
                }
                Record::Unload(u) => {
                    self.inner.authz.remember(u.auth.as_ref());
                    if let Some(s) = loaded.remove(&u.name)
                        && s.load.key_source == KeySource::Generated
                    {
                        forgotten.insert((u.name.clone(), s.load.key_id.clone()));
                    }
                }
                Record::Call(call) => {
                    self.inner.authz.remember(call.auth.as_ref());
                    self.catch_up(index, *call, &loaded, &mut last_digest)?
                }
                Record::PrivateCall(p) => {
                    let Some(kv) = loaded.get(&p.app).and_then(|s| s.kv.clone()) else {
                        continue;
                    };
                    let call = p.open(kv.key()).map_err(|e| corrupt(index, e))?;
                    self.inner.authz.remember(call.auth.as_ref());
                    self.catch_up(index, call, &loaded, &mut last_digest)?;
                }
                other => {
                    return Err(corrupt(
                        index,
                        format!("unexpected {} record", other.kind()),
                    ));
                }
            }
        }
        let mut keep = BTreeSet::new();
        for (name, s) in loaded {
            let kv = s.kv.ok_or_else(|| {
                NodeError::Corrupt(format!("the sealed key of loaded app {name:?} is missing"))
            })?;
            let generation = (name.clone(), s.load.key_id.clone());
            if let Some((at, want)) = last_digest.get(&generation)
                && kv.digest().0.digest() != *want
            {
                return Err(NodeError::Corrupt(format!(
                    "state of app {name:?} does not match the digest of entry {at}"
                )));
            }
            keep.insert(s.load.key_id.clone());
            let module = self.blob(&s.load.code_hash)?;
            let app = self.compile(module).await?;
            self.inner.registry.write().insert(AppSlot {
                info: AppInfo::from_load(&s.load, s.index),
                app,
                state: kv,
                lock: Default::default(),
            });
        }
        // Finish unloads a crash interrupted: keys of apps no longer loaded, and the
        // state of generated-key apps that were unloaded.
        let node = self.clone();
        tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
            let internal = |e: &dyn std::fmt::Display| NodeError::Internal(e.to_string());
            for id in node.inner.vault.list().map_err(|e| internal(&e))? {
                if !keep.contains(&id) {
                    node.inner.vault.destroy(&id).map_err(|e| internal(&e))?;
                }
            }
            for (name, key_id) in forgotten {
                node.inner
                    .kv
                    .drop_generation(&name, &key_id)
                    .map_err(|e| internal(&e))?;
            }
            node.inner.kv.flush().map_err(|e| internal(&e))
        })
        .await
        .map_err(join_err)??;
        // Nonces accepted before the restart are refused as replays until they go stale.
        self.inner.authz.prune();
        tracing::info!(
            size,
            apps = self.inner.registry.read().list().len(),
            "recovered from log"
        );
        Ok(())
    }

    /// The generation a load record names, if its key is sealed here.
    async fn open_generation(&self, load: &Load) -> Result<Option<Arc<AppKv>>, NodeError> {
        let key = self
            .inner
            .vault
            .load(&load.key_id)
            .map_err(|e| NodeError::Internal(format!("app key {}: {e}", load.key_id)))?;
        match key {
            None => Ok(None),
            Some(key) => Ok(Some(self.generation(&load.name, key).await?)),
        }
    }

    /// Applies one call record to its app's generation if the store has not yet.
    fn catch_up(
        &self,
        index: u64,
        call: CallRecord,
        loaded: &HashMap<String, Scanned>,
        last_digest: &mut HashMap<(String, String), (u64, String)>,
    ) -> Result<(), NodeError> {
        let Some(s) = loaded.get(&call.app) else {
            return Err(corrupt(
                index,
                format!("call to {:?}, not loaded", call.app),
            ));
        };
        last_digest.insert(
            (call.app.clone(), s.load.key_id.clone()),
            (index, call.state_digest.clone()),
        );
        let Some(kv) = &s.kv else {
            return Ok(());
        };
        if index < kv.next_index() {
            return Ok(()); // persisted before the restart
        }
        let writes = match call.outcome {
            Outcome::Ok(_) => call.write_set,
            Outcome::Err(_) => Vec::new(),
        };
        let (mut digest, mut count) = kv.digest();
        for (key, new) in state::final_writes(&writes) {
            let old = kv.get(key).map_err(|e| corrupt(index, e))?;
            match (old.is_some(), new.is_some()) {
                (false, true) => count += 1,
                (true, false) => count -= 1,
                _ => {}
            }
        }
        state::update_shared_digest(&mut digest, &**kv, &writes).map_err(|e| corrupt(index, e))?;
        if digest.digest() != call.state_digest {
            return Err(corrupt(
                index,
                "write set does not lead to the recorded state digest",
            ));
        }
        let stage = kv.stage(writes, digest, count);
        kv.set_index(stage, index);
        kv.persist_ready()
            .map_err(|e| NodeError::Internal(e.to_string()))
    }
}
