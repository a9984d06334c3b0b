//! Inclusion proofs for every leaf of a batch just appended, computed in memory. Pure:
//! no I/O.
//!
//! A receipt proves its entry against the checkpoint of the batch that committed it, and
//! the appender holds everything that takes: the perfect subtrees ("peaks") of the tree
//! before the batch, and the batch's leaf hashes. On the RFC 6962 path of a batch leaf,
//! every sibling either lies wholly left of the batch, and is then one of those peaks, or
//! touches the batch, and is hashed from the peaks and the batch's leaves. [`BatchTree`]
//! hashes each node of the RFC 6962 recursion that touches the batch once — about two
//! hashes per leaf plus two per level for the whole batch — after which every proof is
//! `log n` lookups.
//!
//! Building the proofs from the tiles instead, one receipt at a time, and checking each
//! against the root cost ~11% of `ledgervm bench`'s CPU: tile expansion, the proof's
//! ragged right edge re-hashed per receipt, and ~5 node hashes of check per receipt.
//! Here the check is structural and once per batch: [`BatchTree::new`] derives the
//! root from the same nodes the proofs are read from, and the appender refuses to commit
//! a batch whose root differs from the one it signs.
//!
//! ```
//! use ledgervm_log::merkle::{BatchTree, leaf_hash, node_hash, verify_inclusion};
//!
//! // A tree of 3 leaves, then a batch of 2: the peaks of the first 3 are the subtree
//! // of leaves 0..2 and leaf 2 alone, largest first.
//! let l: Vec<_> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
//! let peaks = [(2, node_hash(&l[0], &l[1])), (1, l[2])];
//! let batch = BatchTree::new(3, &peaks, &l[3..]).unwrap();
//! assert_eq!(batch.size(), 5);
//! for index in 3..5 {
//!     let proof = batch.inclusion_proof(index).unwrap();
//!     verify_inclusion(index, 5, &l[index as usize], &proof, &batch.root()).unwrap();
//! }
//! ```

use std::collections::HashMap;

use super::{Hash, MAX_TREE_SIZE, MerkleError, empty_root, maxpow2, node_hash};

/// The tree after one appended batch, holding the nodes the batch's inclusion proofs
/// need. See the module docs.
#[derive(Debug, Clone)]
pub struct BatchTree {
    first: u64,
    size: u64,
    root: Hash,
    /// MTH of leaves `lo..hi`, keyed `(lo, hi)`: the peaks before the batch, and every
    /// node of the root's RFC 6962 recursion that touches the batch.
    nodes: HashMap<(u64, u64), Hash>,
}

impl BatchTree {
    /// The tree of `first + leaves.len()` leaves whose first `first` leaves have the
    /// perfect subtrees `peaks` — `(leaf count, root)`, largest first, as the binary
    /// expansion of `first` gives them — followed by the leaf hashes `leaves`.
    ///
    /// Fails with [`MerkleError::BadRange`] when the peaks do not describe a tree of
    /// `first` leaves or the result would exceed [`MAX_TREE_SIZE`].
    pub fn new(first: u64, peaks: &[(u64, Hash)], leaves: &[Hash]) -> Result<Self, MerkleError> {
        let bad = |why: String| Err(MerkleError::BadRange(why));
        let size = match first.checked_add(leaves.len() as u64) {
            Some(s) if s <= MAX_TREE_SIZE => s,
            _ => return bad(format!("{first} + {} leaves is too large", leaves.len())),
        };
        let mut nodes = HashMap::with_capacity(2 * leaves.len() + 2 * 64);
        let mut start = 0u64;
        for &(count, hash) in peaks {
            // Largest first, each a power of two smaller than the one before: exactly
            // the binary expansion of `first`.
            let fits = count.is_power_of_two()
                && start & (count - 1) == 0
                && start.checked_add(count).is_some_and(|end| end <= first)
                && (start == 0 || count < start & start.wrapping_neg());
            if !fits {
                return bad(format!(
                    "peak of {count} leaves at {start} does not fit a tree of {first}"
                ));
            }
            nodes.insert((start, start + count), hash);
            start += count;
        }
        if start != first {
            return bad(format!("peaks cover {start} leaves, not {first}"));
        }
        let mut tree = BatchTree {
            first,
            size,
            root: empty_root(),
            nodes,
        };
        if !leaves.is_empty() {
            tree.root = tree.hash(0, size, leaves)?;
        } else if let Some((&(_, last), rest)) = peaks.split_last() {
            // No batch: the root of the peaks alone, folded from the right.
            tree.root = rest
                .iter()
                .rev()
                .fold(last, |acc, (_, h)| node_hash(h, &acc));
        }
        Ok(tree)
    }

    /// MTH of leaves `lo..hi`, memoised. Ranges wholly left of the batch must be peaks.
    fn hash(&mut self, lo: u64, hi: u64, leaves: &[Hash]) -> Result<Hash, MerkleError> {
        if let Some(h) = self.nodes.get(&(lo, hi)) {
            return Ok(*h);
        }
        if hi <= self.first {
            // Unreachable for peaks that passed `new`'s checks: the recursion only ever
            // splits a range left of the batch off at a peak boundary.
            return Err(MerkleError::BadRange(format!(
                "leaves {lo}..{hi} are not a peak of the tree of {}",
                self.first
            )));
        }
        let h = if hi - lo == 1 {
            leaves[(lo - self.first) as usize]
        } else {
            let (k, _) = maxpow2(hi - lo);
            let left = self.hash(lo, lo + k, leaves)?;
            let right = self.hash(lo + k, hi, leaves)?;
            node_hash(&left, &right)
        };
        self.nodes.insert((lo, hi), h);
        Ok(h)
    }

    /// The number of leaves before the batch: the index of its first leaf.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The tree size after the batch.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree after the batch.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The RFC 9162 inclusion proof of leaf `index` (one of the batch's) in the tree of
    /// [`BatchTree::size`] leaves: `log n` lookups, no hashing.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, MerkleError> {
        if !(self.first..self.size).contains(&index) {
            return Err(MerkleError::BadRange(format!(
                "leaf {index} is not in the batch {}..{}",
                self.first, self.size
            )));
        }
        let (mut lo, mut hi) = (0, self.size);
        let mut proof = Vec::with_capacity(64);
        while hi - lo > 1 {
            let (k, _) = maxpow2(hi - lo);
            let sibling = if index < lo + k {
                let right = (lo + k, hi);
                hi = lo + k;
                right
            } else {
                let left = (lo, lo + k);
                lo += k;
                left
            };
            proof.push(*self.nodes.get(&sibling).ok_or_else(|| {
                // Every sibling is a node of the root's recursion that `new` hashed.
                MerkleError::BadRange(format!("node {}..{} not held", sibling.0, sibling.1))
            })?);
        }
        proof.reverse();
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{
        leaf_hash, prove_inclusion, root_from_leaf_hashes, stored_hashes_for_record_hash,
        verify_inclusion,
    };
    use proptest::prelude::*;

    /// The perfect subtrees of `leaves`, largest first, hashed from scratch.
    fn peaks_of(leaves: &[Hash]) -> Vec<(u64, Hash)> {
        let (mut out, mut start) = (Vec::new(), 0usize);
        for bit in (0..64).rev() {
            let count = 1usize << bit;
            if leaves.len() & count != 0 {
                out.push((
                    count as u64,
                    root_from_leaf_hashes(&leaves[start..start + count]),
                ));
                start += count;
            }
        }
        out
    }

    /// The root after pushing `leaves` onto `peaks` as a binary counter, then folding from
    /// the right: the appender's way, independent of the recursion under test.
    fn root_by_counter(peaks: &[(u64, Hash)], leaves: &[Hash]) -> Hash {
        let mut stack: Vec<(u64, Hash)> = peaks.to_vec();
        for l in leaves {
            stack.push((1, *l));
            while let [.., (n, a), (m, b)] = stack[..]
                && n == m
            {
                stack.truncate(stack.len() - 2);
                stack.push((2 * n, node_hash(&a, &b)));
            }
        }
        let mut it = stack.iter().rev().map(|&(_, h)| h);
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(last, |acc, h| node_hash(&h, &acc)),
        }
    }

    #[test]
    fn every_proof_of_every_batch_matches_the_reference_up_to_70_leaves() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut store: Vec<Hash> = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            let new = stored_hashes_for_record_hash(i as u64, *l, &store).unwrap();
            store.extend(new);
        }
        for size in 0..=leaves.len() {
            for first in 0..=size {
                let tree = BatchTree::new(
                    first as u64,
                    &peaks_of(&leaves[..first]),
                    &leaves[first..size],
                )
                .unwrap();
                assert_eq!(
                    tree.root(),
                    root_from_leaf_hashes(&leaves[..size]),
                    "{first}..{size}"
                );
                assert_eq!((tree.first(), tree.size()), (first as u64, size as u64));
                for index in first as u64..size as u64 {
                    let want = prove_inclusion(index, size as u64, &store).unwrap();
                    assert_eq!(
                        tree.inclusion_proof(index).unwrap(),
                        want,
                        "{index} in {size}"
                    );
                }
                for outside in [first.wrapping_sub(1), size] {
                    assert!(tree.inclusion_proof(outside as u64).is_err());
                }
            }
        }
    }

    #[test]
    fn peaks_that_are_not_the_binary_expansion_are_refused() {
        let h = [7u8; 32];
        for (first, peaks) in [
            (3, vec![(1, h), (2, h)]), // smallest first
            (3, vec![(3, h)]),         // not a power of two
            (4, vec![(2, h), (2, h)]), // equal neighbours
            (5, vec![(4, h)]),         // too few leaves
            (4, vec![(4, h), (1, h)]), // too many
            (2, vec![(0, h), (2, h)]), // an empty peak
            (1, vec![]),               // none at all
        ] {
            let e = BatchTree::new(first, &peaks, &[h]).unwrap_err();
            assert_eq!(e.code(), "merkle.bad_range", "{first} {peaks:?}");
        }
        assert!(BatchTree::new(MAX_TREE_SIZE, &[(MAX_TREE_SIZE, h)], &[h]).is_err());
    }

    #[test]
    fn an_empty_batch_has_the_old_root_and_no_proofs() {
        let leaves: Vec<Hash> = (0..6u8).map(|i| leaf_hash(&[i])).collect();
        let tree = BatchTree::new(6, &peaks_of(&leaves), &[]).unwrap();
        assert_eq!(tree.root(), root_from_leaf_hashes(&leaves));
        assert!(tree.inclusion_proof(6).is_err());
        assert_eq!(BatchTree::new(0, &[], &[]).unwrap().root(), empty_root());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Huge trees: random peaks stand for the leaves before the batch, so the root
        /// comes from the binary-counter fold and each proof must verify against it.
        #[test]
        fn proofs_in_huge_trees_verify(
            first in 0u64..(1 << 61),
            seed in any::<u8>(),
            batch in 1usize..300,
        ) {
            let peaks: Vec<(u64, Hash)> = (0..64u32)
                .rev()
                .filter(|b| first & (1 << b) != 0)
                .map(|b| (1u64 << b, [seed ^ b as u8; 32]))
                .collect();
            let leaves: Vec<Hash> =
                (0..batch as u32).map(|i| leaf_hash(&[&i.to_le_bytes()[..], &[seed]].concat())).collect();
            let tree = BatchTree::new(first, &peaks, &leaves).unwrap();
            let root = root_by_counter(&peaks, &leaves);
            prop_assert_eq!(tree.root(), root);
            for (i, leaf) in leaves.iter().enumerate() {
                let index = first + i as u64;
                let proof = tree.inclusion_proof(index).unwrap();
                prop_assert!(verify_inclusion(index, tree.size(), leaf, &proof, &root).is_ok());
            }
        }
    }
}
