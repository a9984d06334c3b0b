//! Reads served from stored tiles: entries, inclusion and consistency proofs, and roots
//! of earlier tree sizes.
//!
//! A small LRU cache holds tiles and entry bundles keyed by level, index *and width*.
//! Full tiles are immutable. A partial tile is too, once a checkpoint covers it: the path
//! `.p/<W>` names one width, and committed objects are never rewritten (only objects
//! beyond the checkpoint, which readers never ask for, can be). Partial tiles simply stop
//! being asked for as the log grows, and age out of the cache.
//!
//! Reads trust the storage (it is the log's own, fsynced data) and use
//! [`TileHashReader::trusted`], but each answer is checked before it is returned where
//! that is cheap: an entry must hash to its level-0 tile hash, and a proof for the
//! current tree size must verify against the current root. A damaged tile therefore
//! yields [`ReadError::Corrupt`], never a wrong answer.

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;

use crate::appender::{TILE_WIDTH, decode_bundle, tile_path};
use crate::merkle::{
    Hash, HashReader, MerkleError, leaf_hash, prove_consistency, prove_inclusion,
    stored_hash_index, tree_hash, verify_consistency, verify_inclusion,
};
use crate::storage::{Storage, StorageError};
use crate::tile::{Tile, TileError, TileHashReader, TileSource};

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The requested index or size is beyond the committed tree.
    #[error("{what} {value} is out of range for the tree of size {size}")]
    OutOfRange {
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The committed size.
        size: u64,
    },
    /// A tile or bundle that the committed tree covers is missing.
    #[error("{0} is missing from storage")]
    Missing(String),
    /// A stored tile or bundle is damaged: it does not match the committed tree.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The object (or proof) concerned.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The storage failed while the tile reader was reading through it.
    #[error("storage failed while reading tiles: {reason}")]
    Unavailable {
        /// The storage error's code.
        code: &'static str,
        /// The storage error's message.
        reason: String,
    },
    /// Tree math rejected the request.
    #[error(transparent)]
    Merkle(MerkleError),
}

impl ReadError {
    /// A stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::OutOfRange { .. } => "read.out_of_range",
            ReadError::Missing(_) => "read.missing",
            ReadError::Corrupt { .. } => "read.corrupt",
            ReadError::Storage(e) => e.code(),
            ReadError::Unavailable { .. } => "read.unavailable",
            ReadError::Merkle(e) => e.code(),
        }
    }
}

/// Which object a cache slot holds: a hash tile (`Some(level)`) or an entry bundle, its
/// index and its width.
type CacheKey = (Option<u8>, u64, usize);

/// Serves reads from a log's storage through a small cache of full tiles.
///
/// Every method takes the committed tree (`tree_size`, `root`) it reads under, normally
/// from [`Log`](crate::appender::Log), whose methods of the same names fill them in.
pub struct LogReader {
    storage: Arc<dyn Storage>,
    cache: Mutex<LruCache<CacheKey, Arc<Vec<u8>>>>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}

impl LogReader {
    /// A reader over `storage` caching up to `cache_tiles` tiles and bundles.
    pub fn new(storage: Arc<dyn Storage>, cache_tiles: usize) -> Self {
        LogReader {
            storage,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(cache_tiles).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn object(&self, key: CacheKey) -> Result<Arc<Vec<u8>>, ReadError> {
        if let Some(d) = self.cache.lock().get(&key) {
            return Ok(d.clone());
        }
        let width = if key.2 == TILE_WIDTH { 0 } else { key.2 };
        let path = tile_path(key.0.map(u32::from), key.1, width);
        let data = Arc::new(self.storage.get(&path)?.ok_or(ReadError::Missing(path))?);
        self.cache.lock().put(key, data.clone());
        Ok(data)
    }

    fn hashes(&self, tree_size: u64) -> TileHashReader<Source<'_>> {
        TileHashReader::trusted(tree_size, Source { reader: self })
    }

    /// The entry at `index` of the committed tree of `tree_size` leaves.
    pub fn entry(&self, index: u64, tree_size: u64, _root: Hash) -> Result<Vec<u8>, ReadError> {
        if index >= tree_size {
            return Err(ReadError::OutOfRange {
                what: "index",
                value: index,
                size: tree_size,
            });
        }
        let b = index / TILE_WIDTH as u64;
        let width = if b < tree_size / TILE_WIDTH as u64 {
            TILE_WIDTH
        } else {
            (tree_size % TILE_WIDTH as u64) as usize
        };
        let data = self.object((None, b, width))?;
        let corrupt = |reason: &str| ReadError::Corrupt {
            path: tile_path(None, b, if width == TILE_WIDTH { 0 } else { width }),
            reason: reason.to_string(),
        };
        let mut entries = decode_bundle(&data).ok_or_else(|| corrupt("malformed bundle"))?;
        let i = (index % TILE_WIDTH as u64) as usize;
        if entries.len() != width {
            return Err(corrupt("wrong number of entries"));
        }
        let entry = entries.swap_remove(i);
        let want = self
            .hashes(tree_size)
            .read_hashes(&[stored_hash_index(0, index)])
            .map_err(merkle)?;
        if leaf_hash(&entry) != want[0] {
            return Err(corrupt("entry does not match its leaf hash"));
        }
        Ok(entry)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves, read under the
    /// committed tree of `tree_size` leaves with root `root`.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
        tree_size: u64,
        root: Hash,
    ) -> Result<Vec<Hash>, ReadError> {
        check_size("size", size, tree_size)?;
        if index >= size {
            return Err(ReadError::OutOfRange {
                what: "index",
                value: index,
                size,
            });
        }
        let r = self.hashes(tree_size);
        let proof = prove_inclusion(index, size, &r).map_err(merkle)?;
        if size == tree_size {
            let leaf = r
                .read_hashes(&[stored_hash_index(0, index)])
                .map_err(merkle)?;
            verify_inclusion(index, size, &leaf[0], &proof, &root).map_err(|e| {
                ReadError::Corrupt {
                    path: format!("inclusion proof {index}@{size}"),
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(proof)
    }

    /// The consistency proof from the tree of `old` leaves to the tree of `new` leaves.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
        tree_size: u64,
        root: Hash,
    ) -> Result<Vec<Hash>, ReadError> {
        check_size("new size", new, tree_size)?;
        check_size("old size", old, new)?;
        let r = self.hashes(tree_size);
        let proof = prove_consistency(old, new, &r).map_err(merkle)?;
        if new == tree_size && old > 0 && old < new {
            let old_root = tree_hash(old, &r).map_err(merkle)?;
            verify_consistency(old, new, &old_root, &root, &proof).map_err(|e| {
                ReadError::Corrupt {
                    path: format!("consistency proof {old}->{new}"),
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(proof)
    }

    /// The root hash of the tree of `size` leaves.
    pub fn root_at(&self, size: u64, tree_size: u64, root: Hash) -> Result<Hash, ReadError> {
        check_size("size", size, tree_size)?;
        if size == tree_size {
            return Ok(root);
        }
        tree_hash(size, &self.hashes(tree_size)).map_err(merkle)
    }
}

fn check_size(what: &'static str, value: u64, size: u64) -> Result<(), ReadError> {
    if value > size {
        return Err(ReadError::OutOfRange { what, value, size });
    }
    Ok(())
}

/// Maps tree-math errors, surfacing storage failures and missing or damaged tiles as
/// such rather than as generic math errors.
fn merkle(e: MerkleError) -> ReadError {
    if let MerkleError::Read(inner) = &e
        && let Some(te) = inner.downcast_ref::<TileError>()
    {
        if let TileError::Source(src) = te
            && let Some(re) = src.downcast_ref::<SourceError>()
        {
            return re.0.to_read_error();
        }
        return ReadError::Corrupt {
            path: "tile".into(),
            reason: te.to_string(),
        };
    }
    ReadError::Merkle(e)
}

/// A storage failure carried through the tile reader's boxed error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SourceError(SourceFailure);

#[derive(Debug)]
enum SourceFailure {
    Missing(String),
    Storage(String, &'static str),
}

impl std::fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceFailure::Missing(p) => write!(f, "{p} is missing from storage"),
            SourceFailure::Storage(m, _) => f.write_str(m),
        }
    }
}

impl SourceFailure {
    fn to_read_error(&self) -> ReadError {
        match self {
            SourceFailure::Missing(p) => ReadError::Missing(p.clone()),
            SourceFailure::Storage(m, code) => ReadError::Unavailable {
                code,
                reason: m.clone(),
            },
        }
    }
}

struct Source<'a> {
    reader: &'a LogReader,
}

impl TileSource for Source<'_> {
    fn read_tile(&self, tile: &Tile) -> Result<Vec<u8>, TileError> {
        let key = (Some(tile.level), tile.index, tile.width as usize);
        match self.reader.object(key) {
            Ok(d) => Ok(d.as_ref().clone()),
            Err(ReadError::Missing(p)) => Err(TileError::Source(Box::new(SourceError(
                SourceFailure::Missing(p),
            )))),
            Err(e) => Err(TileError::Source(Box::new(SourceError(
                SourceFailure::Storage(e.to_string(), e.code()),
            )))),
        }
    }
}
