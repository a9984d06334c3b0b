//! Where the auditor reads a log from: a server (over its tlog-tiles read paths) or a
//! local data directory (the same files, read directly). Neither is trusted: everything
//! read here is checked against the signed checkpoint by the caller.

use crate::error::ClientError;
use crate::http::{Client, KeyPin};
use crate::trust::TrustStore;
use ledgervm_log::tile::{TILE_WIDTH, Tile};
use std::path::{Path, PathBuf};

/// What to audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditTarget {
    /// A server's base URL (`http://127.0.0.1:8080`).
    Url(String),
    /// A node's data directory (`./ledgervm-data`: `log/` and `blobs/`).
    DataDir(PathBuf),
}

impl From<&str> for AuditTarget {
    /// `http://` / `https://` is a server, anything else a data directory.
    fn from(s: &str) -> AuditTarget {
        if s.starts_with("http://") || s.starts_with("https://") {
            AuditTarget::Url(s.to_string())
        } else {
            AuditTarget::DataDir(PathBuf::from(s))
        }
    }
}

/// An opened target.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Remote(Client),
    Local(PathBuf),
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, ClientError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::io(path, e)),
    }
}

impl Source {
    pub(crate) fn open(target: &AuditTarget, vkey: &str) -> Result<Source, ClientError> {
        Ok(match target {
            AuditTarget::Url(u) => Source::Remote(Client::new(
                u,
                TrustStore::memory(),
                KeyPin::Vkey(vkey.to_string()),
            )?),
            AuditTarget::DataDir(d) => {
                if !d.join("log").is_dir() {
                    return Err(ClientError::Audit(format!(
                        "{} has no log/ directory",
                        d.display()
                    )));
                }
                Source::Local(d.clone())
            }
        })
    }

    /// The signed checkpoint note.
    pub(crate) async fn checkpoint(&self) -> Result<Vec<u8>, ClientError> {
        let got = match self {
            Source::Remote(c) => c.raw(&["log", "checkpoint"]).await?,
            Source::Local(d) => read_opt(&d.join("log").join("checkpoint"))?,
        };
        got.ok_or_else(|| ClientError::Audit("the log has no checkpoint".into()))
    }

    async fn object(&self, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
        match self {
            Source::Remote(c) => {
                c.raw(&format!("log/{path}").split('/').collect::<Vec<_>>())
                    .await
            }
            Source::Local(d) => read_opt(&d.join("log").join(path)),
        }
    }

    /// A tile's bytes, or the entry bundle's when `entries`. A partial tile may have
    /// been superseded by the full one since the checkpoint was signed (tlog-tiles lets
    /// a log delete partials), so a missing partial falls back to the full tile; the
    /// caller uses only the first `width` items.
    pub(crate) async fn tile(
        &self,
        t: &Tile,
        entries: bool,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let path = |t: &Tile| if entries { t.entries_path() } else { t.path() };
        if let Some(b) = self.object(&path(t)).await? {
            return Ok(Some(b));
        }
        if t.width != TILE_WIDTH {
            return self.object(&path(&Tile::full(t.level, t.index))).await;
        }
        Ok(None)
    }

    /// A blob by SHA-256 name (unchecked; the caller hashes it).
    pub(crate) async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, ClientError> {
        if !ledgervm_node::ids::is_sha256_hex(sha256) {
            return Ok(None);
        }
        match self {
            Source::Remote(c) => c.raw(&["blobs", sha256]).await,
            Source::Local(d) => read_opt(&d.join("blobs").join(sha256)),
        }
    }
}
