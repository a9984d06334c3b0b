//! The right edge of the tree: the only state the appender needs to extend the log.
//! Pure: no I/O.
//!
//! For a tree of `n` leaves, level `L` of the `tlog-tiles` tree (Merkle level `8L`) holds
//! `n >> 8L` hashes; all but the last `(n >> 8L) % 256` of them sit in full, immutable
//! tiles. Those last ones — the contents of the rightmost partial tile on each level —
//! plus the entries of the rightmost partial bundle are enough to append, to emit every
//! tile a batch changes, and to compute the new root. Keeping just this edge in memory
//! makes a batch cost O(batch) hashing, with no reads from storage.

use crate::merkle::{Hash, leaf_hash, node_hash};
use crate::tile::Tile;

/// Hashes per tile (tile height 8).
pub(crate) const TILE_WIDTH: usize = 256;

/// The largest entry a bundle can hold (uint16 length prefix).
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

/// A tile or bundle at the right edge, as written to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    pub path: String,
    pub data: Vec<u8>,
}

/// The right edge of a tree. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Edge {
    size: u64,
    /// `levels[L]`: the hashes in the rightmost tile of level `L` (fewer than 256).
    levels: Vec<Vec<Hash>>,
    /// `peaks[L]`: `levels[L]` as perfect subtrees, largest first — (leaf count, root)
    /// with strictly decreasing powers of two, kept up to date as hashes are pushed.
    /// The root then costs O(log n) hashes per batch; re-hashing each partial tile from
    /// its hashes cost up to 255 and was ~4% of `ledgervm bench`'s CPU.
    peaks: Vec<Vec<(usize, Hash)>>,
    /// The entries in the rightmost entry bundle (fewer than 256).
    bundle: Vec<Vec<u8>>,
}

impl Edge {
    /// The edge of an empty tree.
    pub fn empty() -> Self {
        Edge::default()
    }

    /// Rebuilds an edge from the rightmost partial tile of each level and the rightmost
    /// partial bundle, as read back from storage. Checks only the shapes; the caller
    /// compares [`Edge::root`] with the checkpoint.
    pub fn from_parts(
        size: u64,
        levels: Vec<Vec<Hash>>,
        bundle: Vec<Vec<u8>>,
    ) -> Result<Self, &'static str> {
        for (l, hashes) in levels.iter().enumerate() {
            if hashes.len() as u64 != level_count(size, l as u32) % TILE_WIDTH as u64 {
                return Err("partial tile width does not match the tree size");
            }
        }
        if level_count(size, levels.len() as u32) != 0 && size != 0 {
            return Err("missing levels for the tree size");
        }
        if bundle.len() as u64 != size % TILE_WIDTH as u64 {
            return Err("partial bundle width does not match the tree size");
        }
        if let Some(l0) = levels.first()
            && bundle.iter().zip(l0).any(|(e, h)| leaf_hash(e) != *h)
        {
            return Err("partial bundle does not match the level-0 tile");
        }
        let peaks = levels
            .iter()
            .map(|hashes| {
                let mut p = Vec::new();
                for h in hashes {
                    push_peak(&mut p, *h);
                }
                p
            })
            .collect();
        Ok(Edge {
            size,
            levels,
            peaks,
            bundle,
        })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash of the tree.
    pub fn root(&self) -> Hash {
        // The tree is the left-to-right sequence of perfect subtrees given by the binary
        // expansion of its size; RFC 6962's left-balanced MTH is their right fold.
        let subtrees = self.subtrees();
        match subtrees.split_last() {
            None => crate::merkle::empty_root(),
            Some((&(_, last), rest)) => rest
                .iter()
                .rev()
                .fold(last, |acc, (_, h)| node_hash(h, &acc)),
        }
    }

    /// The tree's perfect subtrees, largest first, as `(leaf count, root)`: the binary
    /// expansion of its size, and what [`crate::merkle::BatchTree`] starts a batch from.
    pub fn subtrees(&self) -> Vec<(u64, Hash)> {
        self.peaks
            .iter()
            .enumerate()
            .rev()
            .flat_map(|(level, p)| p.iter().map(move |&(n, h)| ((n as u64) << (8 * level), h)))
            .collect()
    }

    /// Appends `entries` and returns every object the batch creates or changes (full and
    /// partial entry bundles, and full and partial hash tiles on every level) and the
    /// entries' leaf hashes.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> (Vec<Object>, Vec<Hash>) {
        let old = self.size;
        let mut out = Vec::new();
        let mut leaves = Vec::with_capacity(entries.len());
        for e in entries {
            debug_assert!(e.len() <= MAX_ENTRY_LEN);
            self.bundle.push(e.clone());
            if self.bundle.len() == TILE_WIDTH {
                out.push(Object {
                    path: tile_path(None, self.size / TILE_WIDTH as u64, 0),
                    data: bundle_bytes(&self.bundle),
                });
                self.bundle.clear();
            }
            let leaf = leaf_hash(e);
            leaves.push(leaf);
            self.push_hash(0, leaf, &mut out);
            self.size += 1;
        }
        let new = self.size;
        if !self.bundle.is_empty() && new != old {
            out.push(Object {
                path: tile_path(None, new / TILE_WIDTH as u64, self.bundle.len()),
                data: bundle_bytes(&self.bundle),
            });
        }
        for (l, hashes) in self.levels.iter().enumerate() {
            let l = l as u32;
            if !hashes.is_empty() && level_count(old, l) != level_count(new, l) {
                out.push(Object {
                    path: tile_path(
                        Some(l),
                        level_count(new, l) / TILE_WIDTH as u64,
                        hashes.len(),
                    ),
                    data: hashes.concat(),
                });
            }
        }
        (out, leaves)
    }

    fn push_hash(&mut self, level: usize, h: Hash, out: &mut Vec<Object>) {
        if self.levels.len() == level {
            self.levels.push(Vec::with_capacity(TILE_WIDTH));
            self.peaks.push(Vec::new());
        }
        self.levels[level].push(h);
        push_peak(&mut self.peaks[level], h);
        if self.levels[level].len() == TILE_WIDTH {
            // `self.size` has not been bumped yet for the leaf being added.
            let count = level_count(self.size + 1, level as u32);
            let full = std::mem::replace(&mut self.levels[level], Vec::with_capacity(TILE_WIDTH));
            out.push(Object {
                path: tile_path(Some(level as u32), count / TILE_WIDTH as u64 - 1, 0),
                data: full.concat(),
            });
            // A full tile is one perfect subtree: its peak is the tile's root.
            let (_, root) = self.peaks[level].pop().expect("a full tile has one peak");
            debug_assert!(self.peaks[level].is_empty());
            self.push_hash(level + 1, root, out);
        }
    }
}

/// The number of hashes on tile level `level` (Merkle level `8 * level`) of a tree with
/// `size` leaves.
pub(crate) fn level_count(size: u64, level: u32) -> u64 {
    size.checked_shr(8 * level).unwrap_or(0)
}

/// Pushes one hash onto a row's perfect subtrees (see [`Edge`]'s `peaks`), merging equal
/// neighbours: amortised one node hash per push.
fn push_peak(peaks: &mut Vec<(usize, Hash)>, h: Hash) {
    peaks.push((1, h));
    while let [.., (n, a), (m, b)] = peaks[..]
        && n == m
    {
        peaks.truncate(peaks.len() - 2);
        peaks.push((2 * n, node_hash(&a, &b)));
    }
}

/// The root of a perfect subtree given its bottom row (a power-of-two count).
pub(crate) fn perfect_root(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut row: Vec<Hash> = hashes.to_vec();
    while row.len() > 1 {
        row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    row[0]
}

/// A bundle of the edge's entries: at most 256 (a full bundle is cut at once) of at most
/// [`MAX_ENTRY_LEN`] bytes each (checked on append), so encoding cannot fail.
fn bundle_bytes(entries: &[Vec<u8>]) -> Vec<u8> {
    crate::tile::encode_entry_bundle(entries).expect("appended entries fit a bundle")
}

/// The `tlog-tiles` path of the tile at `level` (`None`: entry bundles) and `index`, with
/// `width` for a partial tile (`0`: full).
pub(crate) fn tile_path(level: Option<u32>, index: u64, width: usize) -> String {
    let t = Tile {
        level: level.unwrap_or(0) as u8,
        index,
        width: if width == 0 {
            TILE_WIDTH as u16
        } else {
            width as u16
        },
    };
    match level {
        Some(_) => t.path(),
        None => t.entries_path(),
    }
}

/// Splits a tile's bytes into hashes; `None` unless the length is `32 * width`.
pub(crate) fn split_hashes(data: &[u8], width: usize) -> Option<Vec<Hash>> {
    if data.len() != 32 * width {
        return None;
    }
    Some(data.chunks(32).map(|c| c.try_into().unwrap()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::root_from_leaf_hashes;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn entry(i: u64) -> Vec<u8> {
        format!("entry {i}").into_bytes()
    }

    #[test]
    fn paths_match_the_spec_examples() {
        assert_eq!(tile_path(Some(0), 1234067, 0), "tile/0/x001/x234/067");
        assert_eq!(tile_path(Some(0), 1234067, 8), "tile/0/x001/x234/067.p/8");
        assert_eq!(tile_path(None, 1234067, 0), "tile/entries/x001/x234/067");
        assert_eq!(tile_path(Some(2), 0, 1), "tile/2/000.p/1");
        assert_eq!(tile_path(Some(1), 1000, 0), "tile/1/x001/000");
    }

    /// Replays the emitted objects into a map, as storage would, and checks the final
    /// state against a from-scratch construction.
    fn check_against_scratch(batches: &[usize]) {
        let mut edge = Edge::empty();
        let mut store: HashMap<String, Vec<u8>> = HashMap::new();
        let mut leaves = Vec::new();
        let mut n = 0u64;
        for &b in batches {
            let entries: Vec<Vec<u8>> = (n..n + b as u64).map(entry).collect();
            let before = edge.subtrees();
            let (objects, hashes) = edge.append(&entries);
            for o in objects {
                store.insert(o.path, o.data);
            }
            assert_eq!(
                hashes,
                entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>()
            );
            // The batch's proof tree starts from the subtrees before it and agrees on the root.
            let batch = crate::merkle::BatchTree::new(n, &before, &hashes).unwrap();
            leaves.extend(hashes);
            n += b as u64;
            assert_eq!(edge.size(), n);
            assert_eq!(edge.root(), root_from_leaf_hashes(&leaves), "size {n}");
            assert_eq!(batch.root(), edge.root(), "size {n}");
            // Every full tile and the current partial tiles are present and correct.
            let mut row = leaves.clone();
            let mut level = 0u32;
            while !row.is_empty() {
                for (t, chunk) in row.chunks(TILE_WIDTH).enumerate() {
                    let width = if chunk.len() == TILE_WIDTH {
                        0
                    } else {
                        chunk.len()
                    };
                    let p = tile_path(Some(level), t as u64, width);
                    assert_eq!(store.get(&p), Some(&chunk.concat()), "{p} at size {n}");
                }
                row = row
                    .chunks(TILE_WIDTH)
                    .filter(|c| c.len() == TILE_WIDTH)
                    .map(perfect_root)
                    .collect();
                level += 1;
            }
            let all: Vec<Vec<u8>> = (0..n).map(entry).collect();
            for (t, chunk) in all.chunks(TILE_WIDTH).enumerate() {
                let width = if chunk.len() == TILE_WIDTH {
                    0
                } else {
                    chunk.len()
                };
                let p = tile_path(None, t as u64, width);
                assert_eq!(store.get(&p), Some(&bundle_bytes(chunk)), "{p}");
            }
            // Rebuilding the edge from the partial tiles yields the same edge.
            let mut levels = Vec::new();
            let mut l = 0;
            while level_count(n, l) > 0 {
                let w = (level_count(n, l) % 256) as usize;
                levels.push(if w == 0 {
                    vec![]
                } else {
                    let p = tile_path(Some(l), level_count(n, l) / 256, w);
                    split_hashes(&store[&p], w).unwrap()
                });
                l += 1;
            }
            let w = (n % 256) as usize;
            let bundle = if w == 0 {
                vec![]
            } else {
                crate::tile::decode_entry_bundle(&store[&tile_path(None, n / 256, w)]).unwrap()
            };
            let rebuilt = Edge::from_parts(n, levels, bundle).unwrap();
            assert_eq!(rebuilt.root(), edge.root());
        }
    }

    #[test]
    fn edge_matches_scratch_on_boundaries() {
        check_against_scratch(&[1, 254, 1, 1, 255, 256, 512, 3]);
        check_against_scratch(&[256 * 256 + 5, 3]);
    }

    #[test]
    fn empty_tree_root() {
        assert_eq!(Edge::empty().root(), crate::merkle::empty_root());
        assert!(Edge::empty().append(&[]).0.is_empty());
    }

    #[test]
    fn from_parts_rejects_bad_shapes() {
        assert!(Edge::from_parts(3, vec![vec![[0; 32]; 2]], vec![vec![]; 3]).is_err());
        assert!(
            Edge::from_parts(3, vec![vec![leaf_hash(b"a"); 3]], vec![b"b".to_vec(); 3]).is_err()
        );
        assert!(Edge::from_parts(256, vec![vec![]], vec![]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn prop_any_batching(batches in proptest::collection::vec(1usize..700, 1..6)) {
            check_against_scratch(&batches);
        }
    }
}
