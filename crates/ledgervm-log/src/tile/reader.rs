//! Reading stored hashes out of tiles, after Go `tlog`'s `TileHashReader`.

use std::collections::HashMap;

use super::{
    HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, Tile, TileError, hash_from_tile, tile_for_index,
    tile_subtree_hash,
};
use crate::merkle::{
    Hash, HashReader, MAX_TREE_SIZE, MerkleError, node_hash, stored_hash_index, sub_tree_index,
};

/// Where tile bytes come from (local storage, a cache, a remote server).
///
/// `read_tile` is asked for the tile *of a specific tree size*, so a partial tile comes
/// with its width; the source may return longer data (a wider partial or the full tile,
/// if the log has grown since), of which only the first `width` hashes are used.
/// Any `Fn(&Tile) -> Result<Vec<u8>, TileError>` closure is a source.
pub trait TileSource {
    /// The bytes of `tile`.
    fn read_tile(&self, tile: &Tile) -> Result<Vec<u8>, TileError>;

    /// The bytes of several tiles; override to batch or parallelise fetches.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileError> {
        tiles.iter().map(|t| self.read_tile(t)).collect()
    }
}

impl<F: Fn(&Tile) -> Result<Vec<u8>, TileError>> TileSource for F {
    fn read_tile(&self, tile: &Tile) -> Result<Vec<u8>, TileError> {
        self(tile)
    }
}

/// A [`HashReader`] for the tree of `size` leaves, served from tiles.
///
/// In verified mode ([`TileHashReader::new`]) every tile read is authenticated before
/// any hash is returned: the tiles covering the tree head must hash to the trusted root,
/// and each lower tile must hash to its entry in the (already authenticated) tile above.
/// Trusted mode ([`TileHashReader::trusted`]) skips this; use it only over storage this
/// process itself wrote and fsynced (e.g. while recomputing the root on recovery, where
/// no trusted root exists yet), never over data from the network.
///
/// ```
/// use ledgervm_log::merkle::*;
/// use ledgervm_log::tile::*;
///
/// let mut store: Vec<Hash> = Vec::new();
/// for i in 0..1000u64 {
///     let h = stored_hashes_for_record_hash(i, leaf_hash(&i.to_be_bytes()), &store).unwrap();
///     store.extend(h);
/// }
/// let root = tree_hash(1000, &store).unwrap();
/// let source = |t: &Tile| read_tile_data(t, &store).map_err(|e| TileError::Source(e.into()));
/// let reader = TileHashReader::new(1000, root, source);
/// let proof = prove_inclusion(777, 1000, &reader).unwrap();
/// verify_inclusion(777, 1000, &leaf_hash(&777u64.to_be_bytes()), &proof, &root).unwrap();
/// ```
pub struct TileHashReader<S> {
    size: u64,
    root: Option<Hash>,
    source: S,
}

impl<S: TileSource> TileHashReader<S> {
    /// A reader that authenticates every tile against `root`, the trusted root of the
    /// tree of `size` leaves (from a verified checkpoint).
    pub fn new(size: u64, root: Hash, source: S) -> Self {
        TileHashReader {
            size,
            root: Some(root),
            source,
        }
    }

    /// A reader that trusts its source (see the type's documentation for when).
    pub fn trusted(size: u64, source: S) -> Self {
        TileHashReader {
            size,
            root: None,
            source,
        }
    }

    /// The tree size this reader serves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Read stored hashes, with tile errors kept typed.
    pub fn read_hashes_checked(&self, indexes: &[u64]) -> Result<Vec<Hash>, TileError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.size;
        if n > MAX_TREE_SIZE {
            return Err(TileError::IndexNotInTree {
                index: indexes[0],
                size: n,
            });
        }
        let limit = stored_hash_index(0, n);
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles: Vec<Tile> = Vec::new();

        // Tiles needed to recompute the tree hash; in verified mode they authenticate
        // everything below them.
        let mut stx = Vec::new();
        if self.root.is_some() {
            sub_tree_index(0, n, &mut stx);
        }
        let mut stx_order = Vec::with_capacity(stx.len());
        for &x in &stx {
            let t = tile_parent(tile_for_index(x), 0, n).ok_or_else(|| bad_math(n, x))?;
            let j = *order.entry(t).or_insert_with(|| {
                tiles.push(t);
                tiles.len() - 1
            });
            stx_order.push(j);
        }

        // Tiles containing the requested hashes, each preceded by the chain of parents
        // needed to authenticate it (parents always come before children in `tiles`).
        let mut index_order = Vec::with_capacity(indexes.len());
        for &x in indexes {
            if x >= limit {
                return Err(TileError::IndexNotInTree { index: x, size: n });
            }
            let base = tile_for_index(x);
            let own = tile_parent(base, 0, n).ok_or_else(|| bad_math(n, x))?;
            if self.root.is_none() {
                let j = *order.entry(own).or_insert_with(|| {
                    tiles.push(own);
                    tiles.len() - 1
                });
                index_order.push(j);
                continue;
            }
            // Walk up until a tile already planned (the tree-head tiles end the walk).
            let mut k = 0u8;
            loop {
                match tile_parent(base, k, n) {
                    Some(p) if order.contains_key(&p) => break,
                    Some(_) => k += 1,
                    None => return Err(bad_math(n, x)),
                }
            }
            // Walk back down, planning each child after its parent.
            while k > 0 {
                k -= 1;
                let p = tile_parent(base, k, n).ok_or_else(|| bad_math(n, x))?;
                if !p.is_full() {
                    // Only full tiles have parent tiles.
                    return Err(bad_math(n, x));
                }
                order.insert(p, tiles.len());
                tiles.push(p);
            }
            index_order.push(order[&own]);
        }

        let mut data = self.source.read_tiles(&tiles)?;
        if data.len() != tiles.len() {
            return Err(TileError::Source(
                format!(
                    "source returned {} tiles for {} requested",
                    data.len(),
                    tiles.len()
                )
                .into(),
            ));
        }
        for (t, d) in tiles.iter().zip(data.iter_mut()) {
            let need = t.width as usize * HASH_SIZE;
            if d.len() < need {
                return Err(TileError::ShortTileData { need, got: d.len() });
            }
            d.truncate(need);
        }

        if let Some(root) = self.root {
            // Authenticate the tree-head tiles against the trusted root…
            let last = stx.len() - 1;
            let mut th =
                hash_from_tile(&tiles[stx_order[last]], &data[stx_order[last]], stx[last])?;
            for i in (0..last).rev() {
                let h = hash_from_tile(&tiles[stx_order[i]], &data[stx_order[i]], stx[i])?;
                th = node_hash(&h, &th);
            }
            if th != root {
                return Err(TileError::InconsistentTile(format!(
                    "tree head of size {n}"
                )));
            }
            // …then every other tile against its parent, in planned (top-down) order.
            for i in 0..tiles.len() {
                if stx_order.contains(&i) {
                    continue;
                }
                let t = tiles[i];
                let p = tile_parent(t, 1, n).ok_or_else(|| bad_math(n, 0))?;
                let j = *order.get(&p).ok_or_else(|| bad_math(n, 0))?;
                let expect = hash_from_tile(
                    &p,
                    &data[j],
                    stored_hash_index(p.level * TILE_HEIGHT, t.index),
                )?;
                if tile_subtree_hash(&data[i]) != expect {
                    return Err(TileError::InconsistentTile(t.path()));
                }
            }
        }

        indexes
            .iter()
            .zip(index_order)
            .map(|(&x, j)| hash_from_tile(&tiles[j], &data[j], x))
            .collect()
    }
}

impl<S: TileSource> HashReader for TileHashReader<S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.read_hashes_checked(indexes)
            .map_err(|e| MerkleError::Read(Box::new(e)))
    }
}

fn bad_math(size: u64, index: u64) -> TileError {
    TileError::Source(format!("internal tile planning error: size {size} index {index}").into())
}

/// `t`'s `k`-th ancestor tile in the tree of `n` leaves, with the width that tree gives
/// it; `None` if the tree has no such tile.
fn tile_parent(t: Tile, k: u8, n: u64) -> Option<Tile> {
    let level = t.level.checked_add(k)?;
    let shift = (k as u32) * (TILE_HEIGHT as u32);
    let index = if shift >= 64 { 0 } else { t.index >> shift };
    let level_shift = level as u32 * TILE_HEIGHT as u32;
    if level_shift >= 64 {
        return None;
    }
    let max = n >> level_shift;
    let start = index << TILE_HEIGHT;
    if start >= max {
        return None;
    }
    let width = (max - start).min(TILE_WIDTH as u64) as u16;
    Some(Tile {
        level,
        index,
        width,
    })
}
