//! Opening a log: read and verify the checkpoint, rebuild the right edge, and check the
//! stored tiles against the checkpoint root.

use super::edge::{Edge, TILE_WIDTH, level_count, perfect_root, split_hashes, tile_path};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::merkle::{Hash, leaf_hash};
use crate::note::{Signer, VerifierSet};
use crate::storage::{Storage, StorageError};
use crate::tile::decode_entry_bundle;

/// How much of the stored tree [`Log::open`](super::Log::open) re-hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOnOpen {
    /// Only the right edge: the partial tiles and partial bundle of the checkpoint's size
    /// must recompute the checkpoint's root. O(1) reads. Catches any damage a crash can
    /// do (a crash only touches the edge), but not bit rot in old full tiles.
    Edge,
    /// The edge, plus every full hash tile must hash to its entry one level up and every
    /// full entry bundle must hash to its level-0 tile. Reads the whole log.
    Full,
}

/// Why [`Log::open`](super::Log::open) failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored checkpoint does not parse, does not verify with the log's key, or is
    /// for another origin.
    #[error("stored checkpoint is invalid: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A tile or bundle under the checkpoint is missing.
    #[error("{path} is missing but the checkpoint covers it")]
    MissingTile {
        /// The object's path.
        path: String,
    },
    /// A tile or bundle under the checkpoint is malformed or does not hash to what the
    /// tree above it says.
    #[error("{path} is corrupt: {reason}")]
    CorruptTile {
        /// The object's path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The stored tiles recompute a root other than the checkpoint's.
    #[error("stored tiles give root {computed} but the checkpoint at size {size} says {expected}")]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
        /// The checkpoint's root, hex.
        expected: String,
        /// The recomputed root, hex.
        computed: String,
    },
    /// The background task running the recovery failed.
    #[error("recovery task failed: {0}")]
    Task(String),
}

impl OpenError {
    /// A stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::Storage(e) => e.code(),
            OpenError::Checkpoint(e) => e.code(),
            OpenError::MissingTile { .. } => "open.missing_tile",
            OpenError::CorruptTile { .. } => "open.corrupt_tile",
            OpenError::RootMismatch { .. } => "open.root_mismatch",
            OpenError::Task(_) => "open.task",
        }
    }
}

/// Signs the checkpoint for (`size`, `root`).
pub(crate) fn sign_checkpoint(signer: &Signer, origin: &str, size: u64, root: &Hash) -> Vec<u8> {
    // The origin was validated when the log was opened and the body has no extensions,
    // so neither constructing nor signing can fail here.
    Checkpoint::new(origin, size, *root)
        .and_then(|cp| cp.sign(signer))
        .expect("origin validated at open")
        .into_bytes()
}

/// Recovers the log in `storage`: returns the right edge and the checkpoint bytes.
pub(crate) fn recover(
    storage: &dyn Storage,
    signer: &Signer,
    origin: &str,
    verify: VerifyOnOpen,
) -> Result<(Edge, Vec<u8>), OpenError> {
    // Validate the origin up front, so signing later cannot fail.
    Checkpoint::new(origin, 0, [0; 32])?.to_note()?;
    let Some(bytes) = storage.read_checkpoint()? else {
        let edge = Edge::empty();
        let cp = sign_checkpoint(signer, origin, 0, &edge.root());
        storage.swap_checkpoint(None, &cp)?;
        return Ok((edge, cp));
    };
    let known = VerifierSet::new(vec![Box::new(signer.verifier())]);
    let (cp, _) = Checkpoint::open(&bytes, origin, &known)?;
    let edge = read_edge(storage, cp.size)?;
    let root = edge.root();
    if root != cp.root_hash {
        return Err(OpenError::RootMismatch {
            size: cp.size,
            expected: hex::encode(cp.root_hash),
            computed: hex::encode(root),
        });
    }
    if verify == VerifyOnOpen::Full {
        verify_full(storage, &edge_levels(storage, cp.size)?, cp.size)?;
    }
    Ok((edge, bytes))
}

fn get(storage: &dyn Storage, path: String) -> Result<(Vec<u8>, String), OpenError> {
    match storage.get(&path)? {
        Some(b) => Ok((b, path)),
        None => Err(OpenError::MissingTile { path }),
    }
}

/// The hashes of the rightmost (partial) tile on each level for `size`.
fn edge_levels(storage: &dyn Storage, size: u64) -> Result<Vec<Vec<Hash>>, OpenError> {
    let mut levels = Vec::new();
    let mut l = 0u32;
    while level_count(size, l) > 0 {
        let count = level_count(size, l);
        let w = (count % TILE_WIDTH as u64) as usize;
        if w == 0 {
            levels.push(Vec::new());
        } else {
            let (data, path) = get(storage, tile_path(Some(l), count / TILE_WIDTH as u64, w))?;
            levels.push(split_hashes(&data, w).ok_or(OpenError::CorruptTile {
                path,
                reason: "wrong length for its width",
            })?);
        }
        l += 1;
    }
    Ok(levels)
}

fn read_edge(storage: &dyn Storage, size: u64) -> Result<Edge, OpenError> {
    let levels = edge_levels(storage, size)?;
    let w = (size % TILE_WIDTH as u64) as usize;
    let bundle = if w == 0 {
        Vec::new()
    } else {
        let (data, path) = get(storage, tile_path(None, size / TILE_WIDTH as u64, w))?;
        decode_entry_bundle(&data).map_err(|_| OpenError::CorruptTile {
            path,
            reason: "malformed entry bundle",
        })?
    };
    let bundle_path = tile_path(None, size / TILE_WIDTH as u64, w);
    Edge::from_parts(size, levels, bundle).map_err(|reason| OpenError::CorruptTile {
        path: bundle_path,
        reason,
    })
}

/// Checks every full tile and bundle under `size` against the level above it. The edge
/// (already checked against the root) anchors the top; each level's full tiles are
/// checked against the hashes of the level above, which were checked before them. Memory
/// stays at one level-1 row (`size / 256` hashes): level 0 is checked tile by tile.
fn verify_full(storage: &dyn Storage, edge: &[Vec<Hash>], size: u64) -> Result<(), OpenError> {
    // `above[t]`: the expected root of full tile `t` on the current level.
    let mut above: Vec<Hash> = Vec::new();
    for l in (0..edge.len() as u32).rev() {
        let count = level_count(size, l);
        let full = count / TILE_WIDTH as u64;
        let mut this_level: Vec<Hash> = Vec::new();
        for t in 0..full {
            let (data, path) = get(storage, tile_path(Some(l), t, 0))?;
            let hashes = split_hashes(&data, TILE_WIDTH).ok_or(OpenError::CorruptTile {
                path: path.clone(),
                reason: "wrong length for a full tile",
            })?;
            if perfect_root(&hashes) != above[t as usize] {
                return Err(OpenError::CorruptTile {
                    path,
                    reason: "does not hash to its entry in the level above",
                });
            }
            if l == 0 {
                verify_bundle(storage, t, &hashes)?;
            } else {
                this_level.extend_from_slice(&hashes);
            }
        }
        this_level.extend_from_slice(&edge[l as usize]);
        above = this_level;
    }
    Ok(())
}

fn verify_bundle(storage: &dyn Storage, index: u64, hashes: &[Hash]) -> Result<(), OpenError> {
    let (data, path) = get(storage, tile_path(None, index, 0))?;
    let entries = decode_entry_bundle(&data)
        .ok()
        .filter(|e| e.len() == TILE_WIDTH)
        .ok_or(OpenError::CorruptTile {
            path: path.clone(),
            reason: "malformed full entry bundle",
        })?;
    if entries.iter().zip(hashes).any(|(e, h)| leaf_hash(e) != *h) {
        return Err(OpenError::CorruptTile {
            path,
            reason: "entries do not hash to the level-0 tile",
        });
    }
    Ok(())
}
