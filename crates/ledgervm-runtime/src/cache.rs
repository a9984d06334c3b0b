//! On-disk cache of compiled modules and components, so a restart does not recompile.
//!
//! Key: SHA-256 over (artifact kind, SHA-256 of the wasm bytes, engine fingerprint,
//! wasmtime's own precompile-compatibility hash — which covers the host CPU features the
//! code was compiled for). File: `MAGIC ‖ SHA-256(artifact) ‖ artifact`, written to a
//! temporary file, fsynced and renamed into place.
//!
//! `Module::deserialize` is `unsafe`: wasmtime trusts the bytes to be its own output. So
//! the checksum is verified *before* deserializing, and any mismatch (or a deserialize
//! error) counts as corrupt: the file is removed and the module recompiled. The cache
//! directory must still be writable only by the node (a checksum stops corruption, not an
//! attacker who can write both checksum and artifact).

use crate::engine::EngineFingerprint;
use crate::error::LoadError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::Module;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"LVMCACH1";
const HEADER: usize = MAGIC.len() + 32;

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Loaded from disk without compiling.
    pub hits: u64,
    /// Not on disk (or unusable): compiled.
    pub compiles: u64,
    /// On disk but failed the checksum or deserialization; removed and recompiled.
    pub corrupt: u64,
    /// Artifacts written.
    pub stores: u64,
}

/// The cache directory and its counters.
#[derive(Debug)]
pub struct ModuleCache {
    dir: PathBuf,
    hits: AtomicU64,
    compiles: AtomicU64,
    corrupt: AtomicU64,
    stores: AtomicU64,
}

/// What kind of artifact a file holds (part of the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Module,
    Component,
}

impl ModuleCache {
    /// Opens (creating if needed) a cache directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<ModuleCache, LoadError> {
        std::fs::create_dir_all(dir.as_ref())?;
        Ok(ModuleCache {
            dir: dir.as_ref().to_path_buf(),
            hits: AtomicU64::new(0),
            compiles: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            stores: AtomicU64::new(0),
        })
    }

    /// Counter snapshot.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            stores: self.stores.load(Ordering::Relaxed),
        }
    }

    /// The file a given wasm binary's artifact lives in.
    pub fn path_for_module(&self, engine: &Engine, fp: &EngineFingerprint, wasm: &[u8]) -> PathBuf {
        self.path(Kind::Module, engine, fp, wasm)
    }

    fn path(&self, kind: Kind, engine: &Engine, fp: &EngineFingerprint, wasm: &[u8]) -> PathBuf {
        // wasmtime's compatibility hash is a `Hash` impl, not bytes; feed it to a hasher
        // whose output we then fold into the SHA-256 key. DefaultHasher's algorithm may
        // change between Rust releases, which only costs a recompile.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let mut key = Sha256::new();
        key.update(match kind {
            Kind::Module => b"module\n".as_slice(),
            Kind::Component => b"component\n".as_slice(),
        });
        key.update(Sha256::digest(wasm));
        key.update(fp.wasmtime_version.as_bytes());
        key.update(b"\n");
        key.update(fp.config_hash.as_bytes());
        key.update(h.finish().to_le_bytes());
        let name = match kind {
            Kind::Module => "m",
            Kind::Component => "c",
        };
        self.dir
            .join(format!("{name}-{}.cwasm", hex::encode(key.finalize())))
    }

    /// A compiled core module for `wasm`, from disk if a valid artifact is there.
    pub fn module(
        &self,
        engine: &Engine,
        fp: &EngineFingerprint,
        wasm: &[u8],
    ) -> Result<Module, LoadError> {
        self.get_or_compile(
            self.path(Kind::Module, engine, fp, wasm),
            || {
                let m =
                    Module::new(engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                let bytes = m
                    .serialize()
                    .map_err(|e| LoadError::Compile(format!("serialize: {e:#}")))?;
                Ok((m, bytes))
            },
            // SAFETY: the bytes passed the SHA-256 check against the checksum written
            // together with them by `store`, i.e. they are exactly what
            // `Module::serialize` produced for this engine configuration.
            |bytes| unsafe { Module::deserialize(engine, bytes) }.map_err(|e| e.to_string()),
        )
    }

    /// A compiled component for `wasm`, from disk if a valid artifact is there.
    pub fn component(
        &self,
        engine: &Engine,
        fp: &EngineFingerprint,
        wasm: &[u8],
    ) -> Result<Component, LoadError> {
        self.get_or_compile(
            self.path(Kind::Component, engine, fp, wasm),
            || {
                let c = Component::new(engine, wasm)
                    .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                let bytes = c
                    .serialize()
                    .map_err(|e| LoadError::Compile(format!("serialize: {e:#}")))?;
                Ok((c, bytes))
            },
            // SAFETY: as for modules: checksum verified before deserializing.
            |bytes| unsafe { Component::deserialize(engine, bytes) }.map_err(|e| e.to_string()),
        )
    }

    fn get_or_compile<T>(
        &self,
        path: PathBuf,
        compile: impl FnOnce() -> Result<(T, Vec<u8>), LoadError>,
        deserialize: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, LoadError> {
        match std::fs::read(&path) {
            Ok(file) => match verified_artifact(&file) {
                Some(artifact) => match deserialize(artifact) {
                    Ok(t) => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(t);
                    }
                    Err(e) => self.discard(&path, &format!("deserialize failed: {e}")),
                },
                None => self.discard(&path, "checksum mismatch"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LoadError::CacheIo(e)),
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let (t, bytes) = compile()?;
        // A failed store only costs a recompile next time; do not fail the load.
        match store(&path, &bytes) {
            Ok(()) => {
                self.stores.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(path = %path.display(), "module cache store failed: {e}"),
        }
        Ok(t)
    }

    fn discard(&self, path: &Path, why: &str) {
        self.corrupt.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(path = %path.display(), "discarding corrupt module cache file: {why}");
        let _ = std::fs::remove_file(path);
    }
}

/// The artifact inside a cache file, if the header and checksum are right.
fn verified_artifact(file: &[u8]) -> Option<&[u8]> {
    if file.len() < HEADER || &file[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (sum, artifact) = file[MAGIC.len()..].split_at(32);
    (Sha256::digest(artifact).as_slice() == sum).then_some(artifact)
}

/// Writes `MAGIC ‖ sha256 ‖ artifact` durably: temp file, fsync, rename, fsync dir.
fn store(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&Sha256::digest(artifact))?;
        f.write_all(artifact)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_artifact_rejects_every_single_byte_flip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        store(&p, b"compiled code").unwrap();
        let good = std::fs::read(&p).unwrap();
        assert_eq!(verified_artifact(&good), Some(&b"compiled code"[..]));
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert_eq!(verified_artifact(&bad), None, "flip at {i} accepted");
        }
        assert_eq!(verified_artifact(&good[..HEADER - 1]), None);
        assert_eq!(verified_artifact(&good[..good.len() - 1]), None);
    }
}
