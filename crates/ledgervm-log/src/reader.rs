//! Reads served from stored tiles: entries, inclusion and consistency proofs, and roots
//! of earlier tree sizes.
//!
//! Small LRU caches hold hash tiles and entry bundles keyed by level, index *and width*.
//! Full tiles are immutable. A partial tile is too, once a checkpoint covers it: the path
//! `.p/<W>` names one width, and committed objects are never rewritten (only objects
//! beyond the checkpoint, which readers never ask for, can be). Partial tiles simply stop
//! being asked for as the log grows, and age out of the cache.
//!
//! A cached hash tile is *expanded*: the 255 inner nodes of its 8-level subtree are hashed
//! once when it is loaded. Proofs need stored hashes at every Merkle level, and most of
//! them (levels not a multiple of 8) live inside tiles; computing them afresh for every
//! proof cost ~750 SHA-256 node hashes per proof, most of the proof's time.
//!
//! Reads trust the storage (it is the log's own, fsynced data), but each answer is checked
//! before it is returned where that is cheap: an entry must hash to its level-0 tile
//! hash, and a proof for the current tree size must verify against the current root. A
//! damaged tile therefore yields [`ReadError::Corrupt`], never a wrong answer.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;

use crate::appender::{TILE_WIDTH, tile_path};
use crate::merkle::{
    Hash, HashReader, MerkleError, leaf_hash, node_hash, prove_consistency, prove_inclusion,
    split_stored_hash_index, stored_hash_index, tree_hash, verify_consistency, verify_inclusion,
};
use crate::storage::{Storage, StorageError};
use crate::tile::{decode_entry_bundle, narrower_version};

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

/// A cache key: tile level, index and width.
type CacheKey = (u8, u64, usize);

/// A hash tile with its inner nodes: `levels[h][i]` is the node over hashes
/// `i·2^h .. (i+1)·2^h` of the tile, for the complete groups of its width.
#[derive(Debug)]
struct Expanded {
    levels: Vec<Vec<Hash>>,
}

impl Expanded {
    #[cfg(test)]
    fn new(hashes: Vec<Hash>) -> Self {
        Self::extend(None, hashes)
    }

    /// Expands `hashes`, reusing the inner nodes of `prev`, an expansion of a prefix of
    /// them (a narrower version of the same partial tile). The right edge of a growing
    /// log gets a new partial tile with every batch, and every proof or receipt asked for
    /// at the current size reads it: expanding each from scratch cost up to 255 hashes
    /// per batch and level.
    fn extend(prev: Option<&Expanded>, hashes: Vec<Hash>) -> Self {
        let mut levels = vec![hashes];
        for h in 1..8 {
            let below = &levels[h - 1];
            let n = below.len() / 2;
            let mut up: Vec<Hash> = Vec::with_capacity(n);
            if let Some(prev) = prev {
                up.extend_from_slice(&prev.levels[h][..prev.levels[h].len().min(n)]);
            }
            for i in up.len()..n {
                up.push(node_hash(&below[2 * i], &below[2 * i + 1]));
            }
            levels.push(up);
        }
        Expanded { levels }
    }
}

/// Serves reads from a log's storage through a small cache of full tiles.
///
/// Every method takes the committed tree (`tree_size`, `root`) it reads under, normally
/// from [`Log`](crate::appender::Log), whose methods of the same names fill them in.
pub struct LogReader {
    storage: Arc<dyn Storage>,
    tiles: Mutex<LruCache<CacheKey, Arc<Expanded>>>,
    /// The widest partial version seen of each partial tile, by (level, index): the base
    /// that the next, wider version extends ([`Expanded::extend`]).
    partials: Mutex<HashMap<(u8, u64), Arc<Expanded>>>,
    bundles: Mutex<LruCache<CacheKey, Arc<Vec<u8>>>>,
}

/// Partial-tile bases kept at most; the right edge of a log has one partial tile per
/// level, so this only bounds readers that wander over old sizes.
const MAX_PARTIAL_BASES: usize = 64;

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}

impl LogReader {
    /// A reader over `storage` caching up to `cache_tiles` hash tiles and as many entry
    /// bundles.
    pub fn new(storage: Arc<dyn Storage>, cache_tiles: usize) -> Self {
        let cap = NonZeroUsize::new(cache_tiles).unwrap_or(NonZeroUsize::MIN);
        LogReader {
            storage,
            tiles: Mutex::new(LruCache::new(cap)),
            partials: Mutex::new(HashMap::new()),
            bundles: Mutex::new(LruCache::new(cap)),
        }
    }

    fn fetch(&self, level: Option<u8>, index: u64, width: usize) -> Result<Vec<u8>, ReadError> {
        let w = if width == TILE_WIDTH { 0 } else { width };
        let path = tile_path(level.map(u32::from), index, w);
        if let Some(d) = self.storage.get(&path)? {
            return Ok(d);
        }
        if w == 0 {
            return Err(ReadError::Missing(path));
        }
        // A partial tile may be deleted once its full tile is durable (a storage may
        // also cut it from there itself); the full tile starts with the same hashes or
        // entries. Malformed data is returned whole, for the caller's checks to reject.
        let full = tile_path(level.map(u32::from), index, 0);
        let d = self.storage.get(&full)?.ok_or(ReadError::Missing(path))?;
        Ok(match narrower_version(level.is_none(), width, &d) {
            Some(cut) => cut.to_vec(),
            None => d,
        })
    }

    fn bundle(&self, index: u64, width: usize) -> Result<Arc<Vec<u8>>, ReadError> {
        let key = (0, index, width);
        if let Some(d) = self.bundles.lock().get(&key) {
            return Ok(d.clone());
        }
        let data = Arc::new(self.fetch(None, index, width)?);
        self.bundles.lock().put(key, data.clone());
        Ok(data)
    }

    fn tile(&self, level: u8, index: u64, width: usize) -> Result<Arc<Expanded>, ReadError> {
        let key = (level, index, width);
        if let Some(t) = self.tiles.lock().get(&key) {
            return Ok(t.clone());
        }
        let data = self.fetch(Some(level), index, width)?;
        let hashes = split_hashes(&data, width).ok_or_else(|| ReadError::Corrupt {
            path: tile_path(Some(level.into()), index, width % TILE_WIDTH),
            reason: format!("{} bytes for a tile of width {width}", data.len()),
        })?;
        // Reuse a narrower expansion of this tile only if its hashes are a prefix of
        // these: a tampered or rewritten tile must not inherit another's inner nodes.
        let base = self
            .partials
            .lock()
            .get(&(level, index))
            .filter(|b| b.levels[0].len() <= width && hashes.starts_with(&b.levels[0]))
            .cloned();
        let t = Arc::new(Expanded::extend(base.as_deref(), hashes));
        {
            let mut partials = self.partials.lock();
            let k = (level, index);
            if width == TILE_WIDTH {
                partials.remove(&k);
            } else if partials.get(&k).is_none_or(|b| b.levels[0].len() < width) {
                // Stale bases (tiles that have since filled up) are dropped wholesale;
                // the live right edge repopulates at once.
                if partials.len() >= MAX_PARTIAL_BASES && !partials.contains_key(&k) {
                    partials.clear();
                }
                partials.insert(k, t.clone());
            }
        }
        self.tiles.lock().put(key, t.clone());
        Ok(t)
    }

    fn hashes(&self, tree_size: u64) -> View<'_> {
        View {
            reader: self,
            tree_size,
        }
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
        let data = self.bundle(b, width)?;
        let corrupt = |reason: &str| ReadError::Corrupt {
            path: tile_path(None, b, if width == TILE_WIDTH { 0 } else { width }),
            reason: reason.to_string(),
        };
        let mut entries = decode_entry_bundle(&data).map_err(|_| corrupt("malformed bundle"))?;
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

/// Maps tree-math errors, surfacing the reader's own failures (missing or damaged tiles,
/// storage errors) as themselves rather than as generic math errors.
fn merkle(e: MerkleError) -> ReadError {
    match e {
        MerkleError::Read(inner) => match inner.downcast::<ReadError>() {
            Ok(re) => *re,
            Err(other) => ReadError::Merkle(MerkleError::Read(other)),
        },
        e => ReadError::Merkle(e),
    }
}

fn split_hashes(data: &[u8], width: usize) -> Option<Vec<Hash>> {
    if data.len() != 32 * width {
        return None;
    }
    Some(
        data.chunks_exact(32)
            .map(|c| c.try_into().unwrap())
            .collect(),
    )
}

/// The stored hashes of the committed tree of `tree_size` leaves, served from expanded
/// tiles. Stored hash (level `8L + h`, `n`) is node `n mod (256 >> h)` on inner level `h`
/// of tile `(n << h) / 256` on tile level `L`.
struct View<'a> {
    reader: &'a LogReader,
    tree_size: u64,
}

impl View<'_> {
    /// Stored hash `index`; `last` is the most recently used tile, reused if it is the
    /// one needed.
    fn hash_with(
        &self,
        index: u64,
        last: &mut Option<(CacheKey, Arc<Expanded>)>,
    ) -> Result<Hash, ReadError> {
        let (level, n) = split_stored_hash_index(index);
        let (tl, h) = (level / 8, u32::from(level % 8));
        let missing = || ReadError::OutOfRange {
            what: "stored hash",
            value: index,
            size: self.tree_size,
        };
        let count = self.tree_size.checked_shr(8 * u32::from(tl)).unwrap_or(0);
        let first = n
            .checked_shl(h)
            .filter(|f| f >> h == n)
            .ok_or_else(missing)?;
        let (t, pos) = (
            first / TILE_WIDTH as u64,
            (first % TILE_WIDTH as u64) as usize,
        );
        let width = if t < count / TILE_WIDTH as u64 {
            TILE_WIDTH
        } else if t == count / TILE_WIDTH as u64 {
            (count % TILE_WIDTH as u64) as usize
        } else {
            0
        };
        if pos + (1 << h) > width {
            return Err(missing());
        }
        let key = (tl, t, width);
        let tile = match last {
            Some((k, tile)) if *k == key => tile.clone(),
            _ => {
                let tile = self.reader.tile(tl, t, width)?;
                *last = Some((key, tile.clone()));
                tile
            }
        };
        Ok(tile.levels[h as usize][pos >> h])
    }
}

impl HashReader for View<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        // A proof's ~20 hashes come from a handful of tiles, mostly in runs: remember the
        // last tile so that a run costs one cache lookup (a mutex and a SipHash), not one
        // per hash.
        let mut last: Option<(CacheKey, Arc<Expanded>)> = None;
        indexes
            .iter()
            .map(|&i| {
                self.hash_with(i, &mut last)
                    .map_err(|e| MerkleError::Read(Box::new(e)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{root_from_leaf_hashes, stored_hash_count};
    use crate::tile::{Tile, TileError, TileHashReader};
    use std::collections::HashMap;

    /// Objects in memory: enough `Storage` for reading.
    #[derive(Default)]
    struct Mem(parking_lot::Mutex<HashMap<String, Vec<u8>>>);

    impl Storage for Mem {
        fn get(&self, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(self.0.lock().get(path).cloned())
        }
        fn put(&self, path: &str, data: Vec<u8>) -> Result<(), StorageError> {
            self.0.lock().insert(path.to_string(), data);
            Ok(())
        }
        fn read_checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(None)
        }
        fn swap_checkpoint(&self, _: Option<&[u8]>, _: &[u8]) -> Result<(), StorageError> {
            Ok(())
        }
    }

    fn build(n: u64) -> (Arc<Mem>, Vec<Hash>) {
        let mem = Arc::new(Mem::default());
        let mut edge = crate::appender::Edge::empty();
        let mut leaves = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
            let entries: Vec<Vec<u8>> = chunk.iter().map(|i| i.to_be_bytes().to_vec()).collect();
            leaves.extend(entries.iter().map(|e| leaf_hash(e)));
            for o in edge.append(&entries).0 {
                mem.put(&o.path, o.data).unwrap();
            }
        }
        (mem, leaves)
    }

    #[test]
    fn extending_a_partial_expansion_equals_expanding_afresh() {
        let leaves: Vec<Hash> = (0..256u32)
            .map(|i| crate::merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        for (a, b) in [
            (0, 1),
            (1, 2),
            (3, 200),
            (128, 255),
            (255, 256),
            (7, 7),
            (100, 256),
        ] {
            let prev = Expanded::new(leaves[..a].to_vec());
            let grown = Expanded::extend(Some(&prev), leaves[..b].to_vec());
            assert_eq!(
                grown.levels,
                Expanded::new(leaves[..b].to_vec()).levels,
                "{a}->{b}"
            );
        }
    }

    #[test]
    fn view_agrees_with_the_tile_module_on_every_stored_hash() {
        for n in [1u64, 2, 255, 256, 257, 700, 65_536, 70_001] {
            let (mem, leaves) = build(n);
            let reader = LogReader::new(mem.clone(), 8);
            let view = reader.hashes(n);
            let source = |t: &Tile| {
                mem.get(&t.path())
                    .unwrap()
                    .ok_or_else(|| TileError::Source(format!("missing {}", t.path()).into()))
            };
            let theirs = TileHashReader::new(n, root_from_leaf_hashes(&leaves), source);
            let all: Vec<u64> = (0..stored_hash_count(n)).collect();
            // Sample large trees; check small ones exhaustively.
            let step = (all.len() / 3000).max(1);
            let some: Vec<u64> = all.iter().copied().step_by(step).collect();
            assert_eq!(
                view.read_hashes(&some).unwrap(),
                theirs.read_hashes(&some).unwrap(),
                "size {n}"
            );
            assert!(view.read_hashes(&[stored_hash_count(n)]).is_err());
        }
    }
}
