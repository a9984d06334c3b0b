//! Inclusion and consistency proofs: generation from stored hashes (after Go's
//! `sumdb/tlog`) and verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 specify.

use super::{
    Hash, HashReader, MAX_TREE_SIZE, MerkleError, check_size, empty_root, maxpow2, node_hash,
    read_exact, sub_tree_hash, sub_tree_index,
};

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Claimed leaf index.
        index: u64,
        /// Claimed tree size.
        size: u64,
    },
    /// The old size is larger than the new size.
    #[error("old size {old} is larger than new size {new}")]
    SizesOutOfOrder {
        /// Claimed old size.
        old: u64,
        /// Claimed new size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the claimed sizes.
    #[error("proof has the wrong length for the claimed sizes")]
    WrongLength,
    /// The recomputed root does not match the claimed root.
    #[error("recomputed root does not match")]
    RootMismatch,
    /// A size is above [`MAX_TREE_SIZE`].
    #[error("tree size above the supported maximum")]
    TooLarge,
}

impl ProofError {
    /// Stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ProofError::IndexOutOfRange { .. } => "proof.index_out_of_range",
            ProofError::SizesOutOfOrder { .. } => "proof.sizes_out_of_order",
            ProofError::WrongLength => "proof.wrong_length",
            ProofError::RootMismatch => "proof.root_mismatch",
            ProofError::TooLarge => "proof.too_large",
        }
    }
}

/// Inclusion proof (RFC 9162 audit path) for leaf `index` in the tree of `size` leaves.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    r: &R,
) -> Result<Vec<Hash>, MerkleError> {
    check_size(size)?;
    if index >= size {
        return Err(MerkleError::BadRange(format!(
            "inclusion proof for index {index} in tree of size {size}"
        )));
    }
    let mut indexes = Vec::new();
    leaf_proof_index(0, size, index, &mut indexes);
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(r, &indexes)?;
    let mut proof = Vec::new();
    let rest = leaf_proof(0, size, index, &hashes, &mut proof);
    debug_assert!(rest.is_empty());
    Ok(proof)
}

/// Stored indexes needed for the proof of leaf `n` in subtree `lo..hi`, in the order
/// [`leaf_proof`] consumes them.
fn leaf_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if lo + 1 == hi {
        return;
    }
    let (k, _) = maxpow2(hi - lo);
    if n < lo + k {
        leaf_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        leaf_proof_index(lo + k, hi, n, need);
    }
}

/// Build the audit path (leaf-side first) from hashes read for [`leaf_proof_index`].
fn leaf_proof<'a>(lo: u64, hi: u64, n: u64, hashes: &'a [Hash], out: &mut Vec<Hash>) -> &'a [Hash] {
    if lo + 1 == hi {
        return hashes;
    }
    let (k, _) = maxpow2(hi - lo);
    // The sibling subtree's hash is read before or after the recursion depending on the
    // side, but always appended after it: the path runs from the leaf up.
    if n < lo + k {
        let rest = leaf_proof(lo, lo + k, n, hashes, out);
        let (th, rest) = sub_tree_hash(lo + k, hi, rest);
        out.push(th);
        rest
    } else {
        let (th, rest) = sub_tree_hash(lo, lo + k, hashes);
        let rest = leaf_proof(lo + k, hi, n, rest, out);
        out.push(th);
        rest
    }
}

/// Consistency proof (RFC 9162 §2.1.4.1) from the tree of `old` leaves to the tree of
/// `new` leaves. Empty when `old == new` or `old == 0`.
pub fn prove_consistency<R: HashReader + ?Sized>(
    old: u64,
    new: u64,
    r: &R,
) -> Result<Vec<Hash>, MerkleError> {
    check_size(new)?;
    if old > new {
        return Err(MerkleError::BadRange(format!(
            "consistency proof from size {old} to smaller size {new}"
        )));
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut indexes = Vec::new();
    tree_proof_index(0, new, old, &mut indexes);
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(r, &indexes)?;
    let mut proof = Vec::new();
    let rest = tree_proof(0, new, old, &hashes, &mut proof);
    debug_assert!(rest.is_empty());
    Ok(proof)
}

/// Stored indexes for the consistency proof of old size `n` within subtree `lo..hi`.
fn tree_proof_index(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if n == hi {
        // SUBPROOF(m, D[lo..hi], b): the whole old tree is a prefix subtree; it is only
        // part of the proof when it is not the root of the old tree itself (lo != 0).
        if lo != 0 {
            sub_tree_index(lo, hi, need);
        }
        return;
    }
    let (k, _) = maxpow2(hi - lo);
    if n <= lo + k {
        tree_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        tree_proof_index(lo + k, hi, n, need);
    }
}

fn tree_proof<'a>(lo: u64, hi: u64, n: u64, hashes: &'a [Hash], out: &mut Vec<Hash>) -> &'a [Hash] {
    if n == hi {
        if lo == 0 {
            return hashes;
        }
        let (th, rest) = sub_tree_hash(lo, hi, hashes);
        out.push(th);
        return rest;
    }
    let (k, _) = maxpow2(hi - lo);
    if n <= lo + k {
        let rest = tree_proof(lo, lo + k, n, hashes, out);
        let (th, rest) = sub_tree_hash(lo + k, hi, rest);
        out.push(th);
        rest
    } else {
        let (th, rest) = sub_tree_hash(lo, lo + k, hashes);
        let rest = tree_proof(lo + k, hi, n, rest, out);
        out.push(th);
        rest
    }
}

/// Verify that `leaf` is the leaf hash at `index` in the tree of `size` leaves with root
/// `root`, following RFC 9162 §2.1.3.2 step by step.
///
/// Note what an inclusion proof can and cannot say: the tree size only shapes the path,
/// so a proof may also verify for a *different* size whose path has the same shape (e.g.
/// index 0 in sizes 5..=8). The size is bound to the root by the signed checkpoint, not
/// by the proof.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TooLarge);
    }
    // Step 1.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Steps 2–3.
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    // Step 4.
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verify that the tree of `new` leaves with root `new_root` extends the tree of `old`
/// leaves with root `old_root`, following RFC 9162 §2.1.4.2.
///
/// Edge cases the RFC leaves to the caller: `old == new` requires an empty proof and
/// equal roots; `old == 0` requires an empty proof and `old_root` equal to the empty
/// tree's hash (every tree extends the empty one).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if new > MAX_TREE_SIZE {
        return Err(ProofError::TooLarge);
    }
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // Step 1.
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    // Step 2: if old is a power of two, the old root is itself the first path element.
    let (first, rest): (&Hash, &[Hash]) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    // Steps 3–4.
    let mut f_n = old - 1;
    let mut s_n = new - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let mut fr = *first;
    let mut sr = *first;
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{leaf_hash, root_from_leaf_hashes, stored_hashes_for_record_hash};
    use super::*;

    fn build(n: u64) -> (Vec<Hash>, Vec<Hash>) {
        let mut store = Vec::new();
        let mut leaves = Vec::new();
        for i in 0..n {
            let l = leaf_hash(&i.to_le_bytes());
            leaves.push(l);
            store.extend(stored_hashes_for_record_hash(i, l, &store).unwrap());
        }
        (store, leaves)
    }

    #[test]
    fn all_inclusion_proofs_small_trees() {
        let (store, leaves) = build(70);
        for size in 1..=70u64 {
            let root = root_from_leaf_hashes(&leaves[..size as usize]);
            for index in 0..size {
                let p = prove_inclusion(index, size, &store).unwrap();
                verify_inclusion(index, size, &leaves[index as usize], &p, &root).unwrap();
            }
            assert!(prove_inclusion(size, size, &store).is_err());
        }
    }

    #[test]
    fn all_consistency_proofs_small_trees() {
        let (store, leaves) = build(70);
        let roots: Vec<Hash> = (0..=70)
            .map(|n| root_from_leaf_hashes(&leaves[..n]))
            .collect();
        for new in 0..=70u64 {
            for old in 0..=new {
                let p = prove_consistency(old, new, &store).unwrap();
                verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &p)
                    .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));
            }
        }
        assert!(prove_consistency(5, 4, &store).is_err());
    }

    #[test]
    fn edge_cases_rejected() {
        let (store, leaves) = build(8);
        let root8 = root_from_leaf_hashes(&leaves);
        let root4 = root_from_leaf_hashes(&leaves[..4]);
        assert_eq!(
            verify_inclusion(8, 8, &leaves[0], &[], &root8),
            Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
        );
        assert_eq!(
            verify_consistency(8, 4, &root8, &root4, &[]),
            Err(ProofError::SizesOutOfOrder { old: 8, new: 4 })
        );
        assert_eq!(
            verify_consistency(4, 8, &root4, &root8, &[]),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_consistency(0, 8, &root4, &root8, &[]),
            Err(ProofError::RootMismatch)
        );
        verify_consistency(0, 8, &empty_root(), &root8, &[]).unwrap();
        let p = prove_consistency(4, 8, &store).unwrap();
        assert_eq!(
            verify_consistency(8, 8, &root8, &root8, &p),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_inclusion(0, u64::MAX, &leaves[0], &[], &root8),
            Err(ProofError::TooLarge)
        );
    }
}
