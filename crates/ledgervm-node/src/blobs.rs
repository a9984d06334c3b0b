//! Content-addressed blobs: module bytes and records too large for one log entry.
//!
//! A blob is named by the lowercase hex SHA-256 of its bytes, so a reader checks what it
//! got against the name and a tampered blob can never pass for the one a record commits
//! to. Blobs are written durably (temp file, `fsync`, rename, `fsync` of the directory)
//! *before* the record that names them is appended, so a durable record never points at
//! a missing blob.

use crate::ids::{is_sha256_hex, sha256_hex};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Blob store errors.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Not a lowercase hex SHA-256.
    #[error("invalid blob name {0:?}")]
    InvalidName(String),
    /// No blob of that name.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The stored bytes do not hash to their name (disk corruption or tampering).
    #[error("blob {0} is corrupt: its bytes do not hash to its name")]
    Corrupt(String),
    /// An I/O error.
    #[error("blob I/O error on {path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl BlobError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            BlobError::InvalidName(_) => "invalid_blob_name",
            BlobError::NotFound(_) => "blob_not_found",
            BlobError::Corrupt(_) => "blob_corrupt",
            BlobError::Io { .. } => "blob_io",
        }
    }
}

/// A directory of blobs named by their SHA-256.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let blobs = ledgervm_node::blobs::BlobStore::open(dir.path()).unwrap();
/// let name = blobs.put(b"module bytes").unwrap();
/// assert_eq!(blobs.get(&name).unwrap(), b"module bytes");
/// ```
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BlobStore {
    /// Opens (creating if needed) the blob directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<BlobStore, BlobError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(BlobStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, BlobError> {
        if !is_sha256_hex(name) {
            return Err(BlobError::InvalidName(name.to_string()));
        }
        Ok(self.dir.join(name))
    }

    /// Stores `bytes` durably and returns their name. Storing the same bytes twice is a
    /// no-op the second time.
    pub fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let name = sha256_hex(bytes);
        let path = self.path_of(&name)?;
        if path.exists() && self.get(&name).is_ok() {
            return Ok(name);
        }
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_data().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(name)
    }

    /// Reads a blob and checks it against its name.
    pub fn get(&self, name: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(name)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(name.to_string()));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        if sha256_hex(&bytes) != name {
            return Err(BlobError::Corrupt(name.to_string()));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let name = store.put(b"abc").unwrap();
        assert_eq!(name, sha256_hex(b"abc"));
        assert_eq!(store.put(b"abc").unwrap(), name);
        assert_eq!(store.get(&name).unwrap(), b"abc");
        assert_eq!(store.get("nope").unwrap_err().code(), "invalid_blob_name");
        assert_eq!(
            store.get(&sha256_hex(b"x")).unwrap_err().code(),
            "blob_not_found"
        );
        fs::write(dir.path().join(&name), b"abd").unwrap();
        assert_eq!(store.get(&name).unwrap_err().code(), "blob_corrupt");
        // A corrupt blob is rewritten by the next put of the right bytes.
        store.put(b"abc").unwrap();
        assert_eq!(store.get(&name).unwrap(), b"abc");
    }
}
