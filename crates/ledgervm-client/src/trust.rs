//! Trusted state: the last checkpoint the client verified for each log, and the keys it
//! pinned on first use.
//!
//! A client that once verified checkpoint N accepts a later checkpoint M only if M
//! extends N (a valid RFC 9162 consistency proof); otherwise it refuses with
//! [`ClientError::Rollback`] or [`ClientError::Fork`] and writes both signed checkpoints
//! to `evidence/` — two checkpoints signed by one key that cannot both be true are proof
//! of misbehaviour anyone can check.
//!
//! Layout of a store directory (default `dirs::config_dir()/ledgervm/trust/`):
//! * `<origin>-<hash16>.json` — `{origin, vkey, size, checkpoint}` per log, where
//!   `hash16` names the (origin, vkey) pair, so a new key never inherits old state;
//! * `pins/<base url>-<hash16>` — the vkey pinned for a server URL on first use;
//! * `evidence/<time>-<rollback|fork>-<origin>.json` — refused checkpoints with the one
//!   they contradict.
//!
//! Every file is written atomically (temp file, fsync, rename, fsync of the directory).
//! Updates within one process are serialized; two processes sharing a store may race
//! (the later writer wins, and both still refused anything non-extending).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use ledgervm_client::trust::{Freshness, TrustStore};
//! use ledgervm_client::verify::{open_checkpoint, LogKey};
//! use ledgervm_log::checkpoint::Checkpoint;
//! use ledgervm_log::merkle::empty_root;
//!
//! let signer = ledgervm_log::note::Signer::generate("example.com/log").unwrap();
//! let key = LogKey::parse(&signer.verifier().vkey()).unwrap();
//! let store = TrustStore::memory();
//! let note = Checkpoint::new("example.com/log", 0, empty_root()).unwrap().sign(&signer).unwrap();
//! let cp = open_checkpoint(note.as_bytes(), &key).unwrap();
//! let no_proof_needed = |_: u64, _: u64| std::future::ready(Ok(Vec::new()));
//! store.advance(&key, &cp, Freshness::Latest, no_proof_needed).await.unwrap();
//! assert_eq!(store.trusted(&key).unwrap().unwrap().checkpoint.size, 0);
//! # });
//! ```

use crate::error::{ClientError, Evidence};
use crate::verify::{
    LogKey, Relation, SignedCheckpoint, check_consistency, open_checkpoint, relate,
};
use ledgervm_log::merkle::Hash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where trusted state lives.
#[derive(Clone, Debug)]
pub struct TrustStore {
    backend: Backend,
    /// Serializes read-check-write cycles within this process.
    lock: Arc<parking_lot::Mutex<()>>,
}

#[derive(Clone, Debug)]
enum Backend {
    Dir(PathBuf),
    Memory(Arc<parking_lot::Mutex<HashMap<String, String>>>),
}

/// What a presented checkpoint claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The log's current state (`/v1/log`, `/log/checkpoint`): anything smaller than
    /// the trusted checkpoint is a rollback.
    Latest,
    /// The checkpoint backing a receipt. Concurrent calls can legitimately come back with
    /// checkpoints older than one already seen, so an older one is accepted when it is a
    /// verified prefix of the trusted one (consistency proof from it to the trusted
    /// checkpoint); the trusted state does not move back.
    Receipt,
}

/// What [`TrustStore::advance`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advance {
    /// No checkpoint was trusted for this log; the presented one now is.
    FirstUse,
    /// Same as the trusted checkpoint.
    Unchanged,
    /// The presented checkpoint extends the trusted one and replaced it.
    Extended {
        /// Size of the previously trusted checkpoint.
        from: u64,
    },
    /// An older checkpoint proved to be a prefix of the trusted one (receipts only).
    OlderPrefix {
        /// Size of the trusted checkpoint, which stays.
        trusted: u64,
    },
}

/// The stored form of a trusted checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrustFile {
    origin: String,
    vkey: String,
    size: u64,
    checkpoint: String,
}

/// Turns arbitrary text into a short file-name-safe stem plus a hash of the full text.
fn safe_name(text: &str, salt: &str) -> String {
    let stem: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let digest = Sha256::digest(format!("{text}\n{salt}").as_bytes());
    format!("{stem}-{}", &hex::encode(digest)[..16])
}

/// Writes `bytes` to `path` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("trust"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| ClientError::io(path, e))
}

impl TrustStore {
    /// A store in `dir` (created when first written).
    pub fn open(dir: impl Into<PathBuf>) -> TrustStore {
        TrustStore {
            backend: Backend::Dir(dir.into()),
            lock: Default::default(),
        }
    }

    /// The user's store: `dirs::config_dir()/ledgervm/trust`.
    pub fn default_location() -> Result<TrustStore, ClientError> {
        let base = dirs::config_dir().ok_or_else(|| {
            ClientError::InvalidArgument("no user config directory on this system".into())
        })?;
        Ok(TrustStore::open(base.join("ledgervm").join("trust")))
    }

    /// A store that lives only in memory (tests, one-shot tools). Evidence is kept in
    /// the error only.
    pub fn memory() -> TrustStore {
        TrustStore {
            backend: Backend::Memory(Default::default()),
            lock: Default::default(),
        }
    }

    /// The directory, for a file-backed store.
    pub fn dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Dir(d) => Some(d),
            Backend::Memory(_) => None,
        }
    }

    fn read(&self, name: &str) -> Result<Option<String>, ClientError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.lock().get(name).cloned()),
            Backend::Dir(d) => {
                let path = d.join(name);
                match std::fs::read_to_string(&path) {
                    Ok(s) => Ok(Some(s)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ClientError::io(path, e)),
                }
            }
        }
    }

    fn write(&self, name: &str, text: &str) -> Result<Option<PathBuf>, ClientError> {
        match &self.backend {
            Backend::Memory(m) => {
                m.lock().insert(name.to_string(), text.to_string());
                Ok(None)
            }
            Backend::Dir(d) => {
                let path = d.join(name);
                write_atomic(&path, text.as_bytes())?;
                Ok(Some(path))
            }
        }
    }

    fn trust_name(key: &LogKey) -> String {
        format!("{}.json", safe_name(key.origin(), key.vkey()))
    }

    /// The vkey pinned for `base_url` on first use, if any.
    pub fn pinned_key(&self, base_url: &str) -> Result<Option<String>, ClientError> {
        let name = format!("pins/{}", safe_name(base_url, ""));
        Ok(self.read(&name)?.map(|s| s.trim().to_string()))
    }

    /// Pins `vkey` for `base_url` (trust on first use). Refuses to replace a different
    /// pinned key with [`ClientError::KeyChanged`].
    pub fn pin_key(&self, base_url: &str, vkey: &str) -> Result<(), ClientError> {
        let _g = self.lock.lock();
        match self.pinned_key(base_url)? {
            Some(p) if p == vkey => Ok(()),
            Some(p) => Err(ClientError::KeyChanged {
                pinned: p,
                presented: vkey.to_string(),
            }),
            None => self
                .write(
                    &format!("pins/{}", safe_name(base_url, "")),
                    &format!("{vkey}\n"),
                )
                .map(|_| ()),
        }
    }

    /// The checkpoint trusted for the log with `key`, re-verified against the key.
    pub fn trusted(&self, key: &LogKey) -> Result<Option<SignedCheckpoint>, ClientError> {
        let Some(text) = self.read(&Self::trust_name(key))? else {
            return Ok(None);
        };
        let file: TrustFile = serde_json::from_str(&text).map_err(|e| {
            ClientError::io(Self::trust_name(key), format!("unreadable trust file: {e}"))
        })?;
        open_checkpoint(file.checkpoint.as_bytes(), key).map(Some)
    }

    fn store(&self, key: &LogKey, cp: &SignedCheckpoint) -> Result<(), ClientError> {
        let file = TrustFile {
            origin: key.origin().to_string(),
            vkey: key.vkey().to_string(),
            size: cp.checkpoint.size,
            checkpoint: cp.note.clone(),
        };
        let text = serde_json::to_string_pretty(&file).expect("plain struct serializes");
        self.write(&Self::trust_name(key), &text).map(|_| ())
    }

    /// Writes both checkpoints to `evidence/` and returns them for the error.
    fn evidence(
        &self,
        key: &LogKey,
        kind: &str,
        trusted: &SignedCheckpoint,
        presented: &SignedCheckpoint,
        reason: &str,
    ) -> Evidence {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "evidence/{}{:09}-{kind}-{}.json",
            now.as_secs(),
            now.subsec_nanos(),
            safe_name(key.origin(), key.vkey())
        );
        let body = serde_json::json!({
            "kind": kind,
            "origin": key.origin(),
            "vkey": key.vkey(),
            "reason": reason,
            "trusted": trusted.note,
            "presented": presented.note,
        });
        let saved_to = match self.write(&name, &serde_json::to_string_pretty(&body).expect("json"))
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "could not save misbehaviour evidence");
                None
            }
        };
        Evidence {
            trusted: trusted.note.clone(),
            presented: presented.note.clone(),
            saved_to,
        }
    }

    fn rollback(
        &self,
        key: &LogKey,
        trusted: &SignedCheckpoint,
        presented: &SignedCheckpoint,
    ) -> ClientError {
        let reason = "presented as the current state but smaller than a verified checkpoint";
        ClientError::Rollback {
            trusted_size: trusted.checkpoint.size,
            presented_size: presented.checkpoint.size,
            evidence: Box::new(self.evidence(key, "rollback", trusted, presented, reason)),
        }
    }

    fn fork(
        &self,
        key: &LogKey,
        trusted: &SignedCheckpoint,
        presented: &SignedCheckpoint,
        reason: String,
    ) -> ClientError {
        ClientError::Fork {
            trusted_size: trusted.checkpoint.size,
            presented_size: presented.checkpoint.size,
            evidence: Box::new(self.evidence(key, "fork", trusted, presented, &reason)),
            reason,
        }
    }

    /// Accepts `presented` (already signature-checked against `key`) if it is consistent
    /// with the trusted checkpoint, advancing the trusted state when it is newer.
    ///
    /// `consistency(old, new)` fetches a consistency proof between two tree sizes; it is
    /// called only when one is needed, without holding the store's lock. A proof that
    /// fails to verify is a fork; a proof the server refuses to give is an error (and the
    /// checkpoint is not accepted).
    pub async fn advance<F, Fut>(
        &self,
        key: &LogKey,
        presented: &SignedCheckpoint,
        freshness: Freshness,
        consistency: F,
    ) -> Result<Advance, ClientError>
    where
        F: Fn(u64, u64) -> Fut,
        Fut: Future<Output = Result<Vec<Hash>, ClientError>>,
    {
        // Another task may advance the store while a proof is being fetched: re-check
        // against what is stored before writing, and start over if it moved.
        for _ in 0..16 {
            let trusted = {
                let _g = self.lock.lock();
                match self.trusted(key)? {
                    None => {
                        self.store(key, presented)?;
                        return Ok(Advance::FirstUse);
                    }
                    Some(t) => t,
                }
            };
            let (t, p) = (&trusted.checkpoint, &presented.checkpoint);
            match relate(t, p) {
                Relation::Same => return Ok(Advance::Unchanged),
                Relation::Fork => {
                    let reason = "same size, different root hash".to_string();
                    return Err(self.fork(key, &trusted, presented, reason));
                }
                Relation::Older if freshness == Freshness::Latest => {
                    return Err(self.rollback(key, &trusted, presented));
                }
                Relation::Older => {
                    let proof = consistency(p.size, t.size).await?;
                    return match check_consistency(p, t, &proof) {
                        Ok(()) => Ok(Advance::OlderPrefix { trusted: t.size }),
                        Err(reason) => Err(self.fork(key, &trusted, presented, reason)),
                    };
                }
                Relation::Newer => {
                    let proof = consistency(t.size, p.size).await?;
                    if let Err(reason) = check_consistency(t, p, &proof) {
                        return Err(self.fork(key, &trusted, presented, reason));
                    }
                    let _g = self.lock.lock();
                    let now = self.trusted(key)?;
                    if now.as_ref().map(|n| &n.checkpoint) != Some(t) {
                        continue;
                    }
                    self.store(key, presented)?;
                    return Ok(Advance::Extended { from: t.size });
                }
            }
        }
        Err(ClientError::Verification(
            "trusted state kept changing while checking a checkpoint".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
