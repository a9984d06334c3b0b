//! Inclusion checks that reuse what earlier checks against the same root established.
//!
//! Every call receipt carries an inclusion proof, and the log checks each proof it hands
//! out against its current root before returning it (see [`crate::reader`]). A batch
//! commits tens of neighbouring leaves under one root, and their paths to the root merge
//! after a few levels; checking each proof in full hashed the shared upper part again
//! every time, ~40 SHA-256 compressions per receipt and about 7% of the server's CPU in
//! `ledgervm bench`.
//!
//! [`VerifiedNodes`] remembers, for one tree (size and root), the nodes that a verified
//! proof passed through and the proof suffix above each. A later proof whose walk reaches
//! one of those nodes with the same hash *and* the same remaining proof would, step by
//! step, repeat the remembered walk to the same root; it is accepted there. That is an
//! exact shortcut, not a weaker check: the RFC 9162 walk above a point depends only on
//! the node reached (its level and index, which fix `f_n` and `s_n`), its hash, and the
//! rest of the proof.

use std::collections::HashMap;

use super::Hash;
use super::proof::{check_inclusion_args, walk_inclusion};
use crate::merkle::ProofError;

/// Nodes of recent trees (size and root) that verified inclusion proofs passed through.
///
/// ```
/// use ledgervm_log::merkle::*;
/// let mut store: Vec<Hash> = Vec::new();
/// let leaves: Vec<Hash> = (0..20u8).map(|i| leaf_hash(&[i])).collect();
/// for (i, leaf) in leaves.iter().enumerate() {
///     let new = stored_hashes_for_record_hash(i as u64, *leaf, &store).unwrap();
///     store.extend(new);
/// }
/// let root = tree_hash(20, &store).unwrap();
/// let mut known = VerifiedNodes::default();
/// for i in 0..20 {
///     let proof = prove_inclusion(i, 20, &store).unwrap();
///     known.verify(i, 20, &leaves[i as usize], &proof, &root).unwrap();
/// }
/// // The shortcut never vouches for a leaf the proof does not lead from.
/// let proof = prove_inclusion(3, 20, &store).unwrap();
/// assert!(known.verify(3, 20, &leaves[4], &proof, &root).is_err());
/// ```
#[derive(Debug, Default)]
pub struct VerifiedNodes {
    /// The most recently used tree last.
    trees: Vec<Tree>,
}

#[derive(Debug)]
struct Tree {
    size: u64,
    root: Hash,
    /// The verified proofs that the entries of `nodes` point into.
    proofs: Vec<Vec<Hash>>,
    /// (level, index) → (hash, proof in `proofs`, how many of its hashes lie below).
    nodes: HashMap<(u8, u64), (Hash, usize, usize)>,
}

/// Trees remembered. Receipts are proved against the newest checkpoint when they are
/// made, and on a busy log that moves while one batch's receipts are being made, so
/// one batch's proofs are spread over a few neighbouring trees.
const MAX_TREES: usize = 4;

/// Verified proofs kept per tree; a batch commits a few dozen leaves under one root, and
/// the memory stays bounded for a caller who checks many proofs against an old root.
const MAX_PROOFS: usize = 256;

impl VerifiedNodes {
    /// Verifies, exactly as [`verify_inclusion`](super::verify_inclusion) does, that
    /// `leaf` is the leaf hash at `index` in the tree of `size` leaves with root `root`,
    /// skipping the part of the walk that an earlier verified proof for the same tree
    /// already covered.
    pub fn verify(
        &mut self,
        index: u64,
        size: u64,
        leaf: &Hash,
        proof: &[Hash],
        root: &Hash,
    ) -> Result<(), ProofError> {
        check_inclusion_args(index, size)?;
        match self
            .trees
            .iter()
            .position(|t| (t.size, t.root) == (size, *root))
        {
            Some(i) => {
                let t = self.trees.remove(i);
                self.trees.push(t);
            }
            None => {
                if self.trees.len() == MAX_TREES {
                    self.trees.remove(0);
                }
                self.trees.push(Tree {
                    size,
                    root: *root,
                    proofs: Vec::new(),
                    nodes: HashMap::new(),
                });
            }
        }
        let tree = self.trees.last_mut().expect("just pushed");
        if tree.proofs.len() == MAX_PROOFS {
            tree.proofs.clear();
            tree.nodes.clear();
        }
        tree.verify(index, leaf, proof)
    }
}

impl Tree {
    fn verify(&mut self, index: u64, leaf: &Hash, proof: &[Hash]) -> Result<(), ProofError> {
        // The nodes this walk passes through, recorded if it verifies.
        let mut path: Vec<((u8, u64), Hash, usize)> = Vec::with_capacity(proof.len());
        let walked = walk_inclusion(index, self.size, leaf, proof, |level, at, hash, used| {
            if self.known(level, at, hash, &proof[used..]) {
                return true;
            }
            path.push(((level, at), *hash, used));
            false
        })?;
        match walked {
            None => Ok(()),
            Some(r) if r != self.root => Err(ProofError::RootMismatch),
            Some(_) => {
                let id = self.proofs.len();
                self.proofs.push(proof.to_vec());
                for (node, hash, below) in path {
                    self.nodes.entry(node).or_insert((hash, id, below));
                }
                Ok(())
            }
        }
    }

    /// Whether the node at (`level`, `index`) was passed through by a verified proof with
    /// hash `hash` and with `rest` above it.
    fn known(&self, level: u8, index: u64, hash: &Hash, rest: &[Hash]) -> bool {
        self.nodes
            .get(&(level, index))
            .is_some_and(|&(h, id, below)| h == *hash && self.proofs[id][below..] == *rest)
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

    /// The stored hashes, leaf hashes and root of the tree of `n` leaves.
    fn tree(n: u64) -> (Vec<Hash>, Vec<Hash>, Hash) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut store = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let new = stored_hashes_for_record_hash(i as u64, *leaf, &store).unwrap();
            store.extend(new);
        }
        let root = root_from_leaf_hashes(&leaves);
        (store, leaves, root)
    }

    #[test]
    fn every_leaf_of_small_trees_in_any_order() {
        for n in 1..=70u64 {
            let (store, leaves, root) = tree(n);
            let mut known = VerifiedNodes::default();
            // Backwards, then forwards: later checks meet nodes from earlier ones.
            for i in (0..n).rev().chain(0..n) {
                let p = prove_inclusion(i, n, &store).unwrap();
                known.verify(i, n, &leaves[i as usize], &p, &root).unwrap();
            }
        }
    }

    #[test]
    fn a_shared_upper_path_does_not_vouch_for_a_wrong_lower_part() {
        let (store, leaves, root) = tree(100);
        let mut known = VerifiedNodes::default();
        let p = prove_inclusion(40, 100, &store).unwrap();
        known.verify(40, 100, &leaves[40], &p, &root).unwrap();
        let mut q = prove_inclusion(41, 100, &store).unwrap();
        q[0][0] ^= 1;
        assert_eq!(
            known.verify(41, 100, &leaves[41], &q, &root),
            Err(ProofError::RootMismatch)
        );
        // The right lower part with a wrong upper hash fails too, though its walk meets
        // a remembered node (with a different remaining proof).
        let mut q = prove_inclusion(41, 100, &store).unwrap();
        let last = q.len() - 1;
        q[last][5] ^= 1;
        assert_eq!(
            known.verify(41, 100, &leaves[41], &q, &root),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn neighbouring_trees_are_kept_apart() {
        let mut known = VerifiedNodes::default();
        let trees: Vec<_> = (90..96).map(tree).collect();
        for round in 0..3 {
            for (n, (store, leaves, root)) in (90u64..).zip(&trees) {
                for i in (round * 7..n).step_by(11) {
                    let p = prove_inclusion(i, n, store).unwrap();
                    known.verify(i, n, &leaves[i as usize], &p, root).unwrap();
                    // The same proof against a neighbour's root is refused.
                    let other = &trees[(n as usize - 90 + 1) % trees.len()].2;
                    assert!(known.verify(i, n, &leaves[i as usize], &p, other).is_err());
                }
            }
        }
    }

    #[test]
    fn a_proof_for_another_root_or_a_wrong_index_is_refused() {
        let (store, leaves, root) = tree(50);
        let (_, _, other) = tree(51);
        let mut known = VerifiedNodes::default();
        let p = prove_inclusion(7, 50, &store).unwrap();
        known.verify(7, 50, &leaves[7], &p, &root).unwrap();
        assert_eq!(
            known.verify(7, 50, &leaves[7], &p, &other),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            known.verify(50, 50, &leaves[7], &p, &root),
            Err(ProofError::IndexOutOfRange {
                index: 50,
                size: 50
            })
        );
    }

    proptest! {
        /// On any sequence of checks, right or tampered, against one tree, the cached
        /// verifier answers exactly as the plain one.
        #[test]
        fn agrees_with_the_plain_verifier(
            n in 1u64..300,
            checks in prop::collection::vec((any::<u64>(), 0u8..6, any::<u64>()), 1..40),
        ) {
            let (store, leaves, root) = tree(n);
            let mut known = VerifiedNodes::default();
            for (i, tamper, pick) in checks {
                let i = i % n;
                let mut leaf = leaves[i as usize];
                let mut p = prove_inclusion(i, n, &store).unwrap();
                let mut size = n;
                match tamper {
                    0..=2 => {}
                    3 if !p.is_empty() => {
                        let k = (pick % p.len() as u64) as usize;
                        p[k][(pick % 32) as usize] ^= 1;
                    }
                    3 => leaf[0] ^= 1,
                    4 => { p.pop(); }
                    _ => size = n + 1 + pick % 4,
                }
                prop_assert_eq!(
                    known.verify(i, size, &leaf, &p, &root),
                    verify_inclusion(i, size, &leaf, &p, &root)
                );
            }
        }
    }
}
