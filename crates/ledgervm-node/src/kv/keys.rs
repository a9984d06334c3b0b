//! App keys at rest: each loaded app's [`AppKey`] sealed under the node's master key in
//! `<data>/state/keys/<key_id>.key`, so a loaded app survives a restart; the file is
//! deleted on unload, which for a generated key destroys it for good.
//!
//! The master key lives in `<data>/state/master.key` (mode 0600). It protects app keys
//! against someone who copies the state database or the key files alone, not against
//! someone who reads the whole data directory — the same trust the log's signing key
//! already needs. A deployment that wants more keeps the data dir on an encrypted volume
//! or in an enclave; this layout is the seam where a hardware sealing key would go.

use crate::secret::AppKey;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Sealed app keys under one master key.
pub struct KeyVault {
    master: AppKey,
    dir: PathBuf,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVault").field("dir", &self.dir).finish()
    }
}

/// Writes `bytes` to `path` durably (temp file, fsync, rename, fsync dir), mode 0600.
pub(crate) fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

fn context(key_id: &str) -> Vec<u8> {
    format!("ledgervm/sealed-app-key/v1/{key_id}").into_bytes()
}

impl KeyVault {
    /// Opens the vault in `dir` (`master.key` and `keys/`), creating the master key.
    pub fn open(dir: &Path) -> std::io::Result<KeyVault> {
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys)?;
        let master_path = dir.join("master.key");
        let master = match std::fs::read_to_string(&master_path) {
            Ok(text) => AppKey::from_hex(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", master_path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = AppKey::generate();
                write_secret_file(&master_path, key.expose_hex().as_bytes())?;
                key
            }
            Err(e) => return Err(e),
        };
        Ok(KeyVault { master, dir: keys })
    }

    fn path(&self, key_id: &str) -> PathBuf {
        // key ids are 64 lowercase hex characters (checked by callers via AppKey).
        self.dir.join(format!("{key_id}.key"))
    }

    /// Seals `key` to disk (durable when this returns).
    pub fn store(&self, key: &AppKey) -> std::io::Result<()> {
        let id = key.key_id();
        let sealed = self
            .master
            .seal_value(&context(&id), key.expose_hex().as_bytes());
        write_secret_file(&self.path(&id), hex::encode(sealed).as_bytes())
    }

    /// The key named `key_id`, if it is sealed here.
    pub fn load(&self, key_id: &str) -> std::io::Result<Option<AppKey>> {
        if key_id.len() != 64 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let text = match std::fs::read_to_string(self.path(key_id)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("sealed key {key_id}: {what}"),
            )
        };
        let sealed = hex::decode(text.trim()).map_err(|_| bad("not hex"))?;
        let plain = zeroize::Zeroizing::new(
            self.master
                .open_value(&context(key_id), &sealed)
                .map_err(|_| bad("does not open under the master key"))?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| bad("not UTF-8"))?;
        let key = AppKey::from_hex(text).map_err(|_| bad("not a key"))?;
        if key.key_id() != key_id {
            return Err(bad("names another key"));
        }
        Ok(Some(key))
    }

    /// Deletes the sealed key (durable when this returns). Absent is fine.
    pub fn destroy(&self, key_id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(key_id)) {
            Ok(()) => sync_dir(&self.path(key_id)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Key ids of every sealed key.
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".key") {
                out.push(id.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_reopen_and_never_hit_disk_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let key = AppKey::generate();
        let id = key.key_id();
        {
            let v = KeyVault::open(dir.path()).unwrap();
            v.store(&key).unwrap();
            assert_eq!(v.list().unwrap(), vec![id.clone()]);
        }
        let file =
            std::fs::read_to_string(dir.path().join("keys").join(format!("{id}.key"))).unwrap();
        assert!(!file.contains(key.expose_hex().as_str()));
        let v = KeyVault::open(dir.path()).unwrap();
        assert_eq!(v.load(&id).unwrap().unwrap().key_id(), id);
        assert!(v.load("../../etc/passwd").unwrap().is_none());
        v.destroy(&id).unwrap();
        assert!(v.load(&id).unwrap().is_none());
        v.destroy(&id).unwrap();
        // Another master key cannot open a sealed key.
        v.store(&key).unwrap();
        std::fs::remove_file(dir.path().join("master.key")).unwrap();
        let other = KeyVault::open(dir.path()).unwrap();
        let err = other.load(&id).unwrap_err();
        assert!(!err.to_string().contains(key.expose_hex().as_str()));
    }
}
