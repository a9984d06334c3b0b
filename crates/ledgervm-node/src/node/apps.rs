//! Loading and unloading apps: ownership checks, key selection, the `app.load` and
//! `app.unload` records, and what an unload destroys (sealed keys, generated-key state).

use super::*;

impl Node {
    /// Loads an app as the operator (see [`Node::load_as`]).
    pub async fn load(&self, req: LoadRequest) -> Result<AppInfo, NodeError> {
        self.load_as(req, Requester::Operator).await
    }

    /// Loads an app (or a new version of it) for `requester` and returns what the
    /// registry says of it once its `app.load` record is durable. The app's state
    /// carries over to a new version loaded under the same name. Loading over an
    /// existing name needs its owner or the admin key ([`crate::authz`]); a signed
    /// request's body hash is that of `req.module` as sent.
    pub async fn load_as(
        &self,
        req: LoadRequest,
        requester: Requester,
    ) -> Result<AppInfo, NodeError> {
        if !is_valid_app_name(&req.name) {
            return Err(NodeError::InvalidName(req.name));
        }
        let limits = req
            .limits
            .unwrap_or_else(|| self.inner.runtime.config().default_limits.clone());
        limits
            .check_against(self.inner.runtime.config())
            .map_err(NodeError::InvalidLimits)?;
        let max_keys = req.max_keys.unwrap_or(self.inner.default_max_keys);
        if max_keys == 0 {
            return Err(NodeError::InvalidLimits(
                "max_keys must be at least 1".into(),
            ));
        }
        let module = ledgervm_runtime::app::to_binary(&req.module)?;
        crate::authz::check_policy(&req.policy)?;
        let app = self.compile(module.clone()).await?;
        let _admin = self.inner.admin.lock().await;
        let existing = self.app(&req.name);
        let body_sha256 = crate::ids::sha256_hex(&req.module);
        let ask = AdminAsk {
            origin: &self.inner.origin,
            method: "PUT",
            name: &req.name,
            body_sha256: &body_sha256,
            existing: existing.as_ref(),
        };
        let (owner, auth) = self.inner.authz.authorize_admin(&ask, &requester)?;
        let current = self.inner.registry.read().get(&req.name);
        // A new version keeps the loaded version's key (and so its state); a BYOK key
        // given for a loaded app must be that key.
        let (key, key_source) = match (req.encryption_key, &current) {
            (Some(k), Some(slot)) if k.key_id() != slot.info.key_id => {
                return Err(NodeError::InvalidKey(format!(
                    "app {:?} is loaded under another key; unload it to change keys",
                    req.name
                )));
            }
            (Some(_), Some(slot)) | (None, Some(slot)) => {
                (slot.state.key().clone(), slot.info.key_source)
            }
            (Some(k), None) => (k, KeySource::Byok),
            (None, None) => (AppKey::generate(), KeySource::Generated),
        };
        // After a failed commit the record would be refused anyway: refuse before the
        // blob and the sealed key are written, so no orphan files are left behind.
        if let Some(why) = self.write_failure() {
            return Err(NodeError::LogUnavailable(why));
        }
        let (blobs, bytes) = (self.inner.blobs.clone(), module.clone());
        tokio::task::spawn_blocking(move || blobs.put(&bytes))
            .await
            .map_err(join_err)?
            .map_err(|e| NodeError::LogUnavailable(e.to_string()))?;
        // The sealed key is durable before the record that needs it on recovery.
        let (node, sealed) = (self.clone(), key.clone());
        tokio::task::spawn_blocking(move || node.inner.vault.store(&sealed))
            .await
            .map_err(join_err)?
            .map_err(|e| NodeError::Internal(format!("sealing app key: {e}")))?;
        let code_hash = app.code_hash().to_string();
        let load = Load {
            name: req.name.clone(),
            cid: cid_v1_raw(&code_hash).expect("code hash is a sha256"),
            code_hash,
            size: module.len() as u64,
            app_kind: app.kind(),
            exports: app
                .exports()
                .iter()
                .map(|(name, ty)| ExportInfo {
                    name: name.clone(),
                    ty: ty.clone(),
                })
                .collect(),
            limits,
            policy: req.policy,
            engine: self.engine().clone(),
            owner,
            auth,
            key_source,
            key_id: key.key_id(),
            private: req.private,
            max_keys,
        };
        let index = self.append(&Record::Load(load.clone())).await?;
        let info = AppInfo::from_load(&load, index);
        let state = match current {
            Some(slot) => slot.state.clone(),
            None => self.generation(&req.name, key).await?,
        };
        self.inner.registry.write().insert(AppSlot {
            info: info.clone(),
            app,
            state,
            lock: Default::default(),
        });
        Ok(info)
    }

    /// Opens an app's state generation (blocking redb I/O off the async threads).
    pub(super) async fn generation(
        &self,
        name: &str,
        key: AppKey,
    ) -> Result<Arc<crate::kv::AppKv>, NodeError> {
        let (kv, name) = (self.inner.kv.clone(), name.to_string());
        tokio::task::spawn_blocking(move || kv.generation(&name, key))
            .await
            .map_err(join_err)?
            .map_err(|e| NodeError::Internal(e.to_string()))
    }

    /// Unloads an app: appends `app.unload` and drops it from the registry. Its state
    /// is persisted first; then its sealed key is deleted. A generated key is thereby
    /// gone for good and its state is deleted; a BYOK app's encrypted state stays on
    /// disk for a reload with the same key. The history stays in the log.
    /// Unloads an app as the operator (see [`Node::unload_as`]).
    pub async fn unload(&self, name: &str) -> Result<(AppInfo, u64), NodeError> {
        self.unload_as(name, Requester::Operator).await
    }

    /// Unloads an app for `requester` (its owner or the admin key): appends
    /// `app.unload`, drops it from the registry and discards its state. The history
    /// stays in the log.
    pub async fn unload_as(
        &self,
        name: &str,
        requester: Requester,
    ) -> Result<(AppInfo, u64), NodeError> {
        let _admin = self.inner.admin.lock().await;
        let slot = self
            .inner
            .registry
            .read()
            .get(name)
            .ok_or_else(|| NodeError::AppNotFound(name.into()))?;
        let ask = AdminAsk {
            origin: &self.inner.origin,
            method: "DELETE",
            name,
            body_sha256: crate::ids::EMPTY_SHA256,
            existing: Some(&slot.info),
        };
        let (_, auth) = self.inner.authz.authorize_admin(&ask, &requester)?;
        // Wait for calls in flight on this app so none is sequenced after the unload.
        let _lock = slot.lock.lock().await;
        let index = self
            .append(&Record::Unload(Unload {
                name: name.into(),
                code_hash: slot.info.code_hash.clone(),
                load_index: slot.info.index,
                auth,
            }))
            .await?;
        self.inner.registry.write().remove(name);
        // Earlier calls are durable (their records precede this one); wait for their
        // tasks to hand their writes to the store before the key goes.
        while slot.state.staged() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (node, info, state) = (self.clone(), slot.info.clone(), slot.state.clone());
        tokio::task::spawn_blocking(move || node.forget_generation(&info, &state))
            .await
            .map_err(join_err)??;
        Ok((slot.info.clone(), index))
    }

    /// After an unload record is durable: persist what is staged, destroy the sealed key
    /// and, for a generated key, the state it protected.
    fn forget_generation(&self, info: &AppInfo, state: &crate::kv::AppKv) -> Result<(), NodeError> {
        let internal = |e: &dyn std::fmt::Display| NodeError::Internal(e.to_string());
        state.persist_ready().map_err(|e| internal(&e))?;
        self.inner.kv.flush().map_err(|e| internal(&e))?;
        self.inner
            .vault
            .destroy(&info.key_id)
            .map_err(|e| internal(&e))?;
        if info.key_source == KeySource::Generated {
            self.inner
                .kv
                .drop_generation(&info.name, &info.key_id)
                .map_err(|e| internal(&e))?;
        }
        Ok(())
    }
}
