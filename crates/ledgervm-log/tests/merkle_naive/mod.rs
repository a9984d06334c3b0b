//! RFC 6962 §2.1 taken literally: recursive MTH, PATH and PROOF over a function giving
//! MTH of any leaf range, plus verifiers that walk the same recursion. Deliberately
//! naive and independent of the crate's stored-hash indexing and RFC 9162 bit loops.
#![allow(dead_code)]

use ledgervm_log::merkle::{Hash, MAX_TREE_SIZE, empty_root, node_hash};

/// Largest power of two strictly less than n (n ≥ 2).
pub fn split_point(n: u64) -> u64 {
    let mut k = 1;
    while k < n - k {
        k *= 2;
    }
    k
}

/// MTH(D[lo..hi]) from leaf hashes.
pub fn mth(leaves: &[Hash], lo: u64, hi: u64) -> Hash {
    match hi - lo {
        0 => empty_root(),
        1 => leaves[lo as usize],
        n => {
            let k = split_point(n);
            node_hash(&mth(leaves, lo, lo + k), &mth(leaves, lo + k, hi))
        }
    }
}

/// PATH(m, D[lo..hi]), with `sub(lo, hi)` giving MTH of a range.
pub fn path(m: u64, lo: u64, hi: u64, sub: &dyn Fn(u64, u64) -> Hash) -> Vec<Hash> {
    let n = hi - lo;
    if n == 1 {
        return vec![];
    }
    let k = split_point(n);
    if m < k {
        let mut p = path(m, lo, lo + k, sub);
        p.push(sub(lo + k, hi));
        p
    } else {
        let mut p = path(m - k, lo + k, hi, sub);
        p.push(sub(lo, lo + k));
        p
    }
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
pub fn proof(m: u64, n: u64, sub: &dyn Fn(u64, u64) -> Hash) -> Vec<Hash> {
    if m == 0 || m == n {
        return vec![];
    }
    subproof(m, 0, n, true, sub)
}

fn subproof(m: u64, lo: u64, hi: u64, b: bool, sub: &dyn Fn(u64, u64) -> Hash) -> Vec<Hash> {
    let n = hi - lo;
    if m == n {
        return if b { vec![] } else { vec![sub(lo, hi)] };
    }
    let k = split_point(n);
    if m <= k {
        let mut p = subproof(m, lo, lo + k, b, sub);
        p.push(sub(lo + k, hi));
        p
    } else {
        let mut p = subproof(m - k, lo + k, hi, false, sub);
        p.push(sub(lo, lo + k));
        p
    }
}

/// Verify an inclusion proof by replaying the PATH recursion.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size || size > MAX_TREE_SIZE {
        return false;
    }
    // Sides from the root down; the proof lists siblings from the leaf up.
    let mut sides = Vec::new(); // true = sibling on the right
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            sides.push(true);
            hi = lo + k;
        } else {
            sides.push(false);
            lo += k;
        }
    }
    if sides.len() != proof.len() {
        return false;
    }
    let mut h = *leaf;
    for (p, right) in proof.iter().zip(sides.iter().rev()) {
        h = if *right {
            node_hash(&h, p)
        } else {
            node_hash(p, &h)
        };
    }
    h == *root
}

/// Verify a consistency proof by replaying the SUBPROOF recursion; computes both roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new || new > MAX_TREE_SIZE {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    let mut pos = 0usize;
    let Some((o, n)) = run(old, 0, new, true, old_root, proof, &mut pos) else {
        return false;
    };
    pos == proof.len() && o == *old_root && n == *new_root
}

fn run(
    m: u64,
    lo: u64,
    hi: u64,
    b: bool,
    old_root: &Hash,
    proof: &[Hash],
    pos: &mut usize,
) -> Option<(Hash, Hash)> {
    let n = hi - lo;
    if m == n {
        if b {
            return Some((*old_root, *old_root));
        }
        let p = *proof.get(*pos)?;
        *pos += 1;
        return Some((p, p));
    }
    let k = split_point(n);
    if m <= k {
        let (o, nw) = run(m, lo, lo + k, b, old_root, proof, pos)?;
        let p = *proof.get(*pos)?;
        *pos += 1;
        Some((o, node_hash(&nw, &p)))
    } else {
        let (o, nw) = run(m - k, lo + k, hi, false, old_root, proof, pos)?;
        let p = *proof.get(*pos)?;
        *pos += 1;
        Some((node_hash(&p, &o), node_hash(&p, &nw)))
    }
}
