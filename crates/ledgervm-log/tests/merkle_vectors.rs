//! RFC 6962 test vectors (see tests/vectors/rfc6962.json for their provenance) and
//! `ct-merkle` as an independent oracle.

mod merkle_naive;

use ledgervm_log::merkle::*;
use serde_json::Value;

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| h(x.as_str().unwrap()))
        .collect()
}

struct Vectors {
    leaves: Vec<Vec<u8>>,
    nodes: Vec<Vec<Hash>>,
    roots: Vec<Hash>,
    json: Value,
}

fn vectors() -> Vectors {
    let json: Value =
        serde_json::from_str(include_str!("vectors/rfc6962.json")).expect("valid JSON");
    let leaves = json["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| hex::decode(x.as_str().unwrap()).unwrap())
        .collect();
    let nodes = json["node_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(hashes)
        .collect();
    let roots = hashes(&json["roots"]);
    Vectors {
        leaves,
        nodes,
        roots,
        json,
    }
}

/// The stored-hash sequence of the 8-leaf tree, built through the crate's append path.
fn store(leaves: &[Vec<u8>]) -> Vec<Hash> {
    let mut s = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        let new = stored_hashes_for_record_hash(i as u64, leaf_hash(l), &s).unwrap();
        s.extend(new);
    }
    s
}

impl Vectors {
    /// MTH of a leaf range from the *published* complete-subtree hashes, combined by the
    /// RFC's split rule where the range is not a complete subtree.
    fn published_mth(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            return self.nodes[level][(lo / n) as usize];
        }
        let k = merkle_naive::split_point(n);
        node_hash(
            &self.published_mth(lo, lo + k),
            &self.published_mth(lo + k, hi),
        )
    }
}

#[test]
fn leaf_node_and_root_hashes() {
    let v = vectors();
    for (i, l) in v.leaves.iter().enumerate() {
        assert_eq!(leaf_hash(l), v.nodes[0][i], "leaf {i}");
    }
    for (level, row) in v.nodes.iter().enumerate().skip(1) {
        for (i, want) in row.iter().enumerate() {
            let below = &v.nodes[level - 1];
            assert_eq!(node_hash(&below[2 * i], &below[2 * i + 1]), *want);
        }
    }
    let s = store(&v.leaves);
    let leaf_hashes: Vec<Hash> = v.leaves.iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(v.roots.len(), 9);
    for n in 0..=8usize {
        assert_eq!(
            root_from_leaf_hashes(&leaf_hashes[..n]),
            v.roots[n],
            "MTH size {n}"
        );
        assert_eq!(
            tree_hash(n as u64, &s).unwrap(),
            v.roots[n],
            "tree_hash size {n}"
        );
    }
    assert_eq!(empty_root(), v.roots[0]);
}

#[test]
fn published_proofs_byte_for_byte() {
    let v = vectors();
    let s = store(&v.leaves);
    for p in v.json["inclusion_proofs"].as_array().unwrap() {
        let (index, size) = (p["index"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        let want = hashes(&p["proof"]);
        assert_eq!(
            prove_inclusion(index, size, &s).unwrap(),
            want,
            "PATH({index}, {size})"
        );
        verify_inclusion(
            index,
            size,
            &v.nodes[0][index as usize],
            &want,
            &v.roots[size as usize],
        )
        .unwrap();
    }
    for p in v.json["consistency_proofs"].as_array().unwrap() {
        let (old, new) = (p["old"].as_u64().unwrap(), p["new"].as_u64().unwrap());
        let want = hashes(&p["proof"]);
        assert_eq!(
            prove_consistency(old, new, &s).unwrap(),
            want,
            "PROOF({old}, {new})"
        );
        verify_consistency(
            old,
            new,
            &v.roots[old as usize],
            &v.roots[new as usize],
            &want,
        )
        .unwrap();
    }
}

#[test]
fn every_inclusion_proof_of_the_8_leaf_tree() {
    let v = vectors();
    let s = store(&v.leaves);
    let sub = |lo, hi| v.published_mth(lo, hi);
    let mut count = 0;
    for size in 1..=8u64 {
        for index in 0..size {
            let want = merkle_naive::path(index, 0, size, &sub);
            let got = prove_inclusion(index, size, &s).unwrap();
            assert_eq!(got, want, "PATH({index}, D[{size}])");
            let leaf = v.nodes[0][index as usize];
            verify_inclusion(index, size, &leaf, &got, &v.roots[size as usize]).unwrap();
            count += 1;
        }
    }
    assert_eq!(count, 36);
}

#[test]
fn every_consistency_proof_of_the_8_leaf_tree() {
    let v = vectors();
    let s = store(&v.leaves);
    let sub = |lo, hi| v.published_mth(lo, hi);
    let mut count = 0;
    for new in 0..=8u64 {
        for old in 0..=new {
            let want = merkle_naive::proof(old, new, &sub);
            let got = prove_consistency(old, new, &s).unwrap();
            assert_eq!(got, want, "PROOF({old}, D[{new}])");
            verify_consistency(
                old,
                new,
                &v.roots[old as usize],
                &v.roots[new as usize],
                &got,
            )
            .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));
            // A proof between *different* published roots never verifies.
            if old > 0 && old < new {
                assert!(
                    verify_consistency(
                        old,
                        new,
                        &v.roots[old as usize - 1],
                        &v.roots[new as usize],
                        &got
                    )
                    .is_err()
                );
            }
            count += 1;
        }
    }
    assert_eq!(count, 45);
}

mod oracle {
    //! `ct-merkle` 0.3 as an independent implementation. Its proofs are the same
    //! RFC 6962 audit paths as concatenated bytes, so they compare byte for byte.

    use super::*;
    use ct_merkle::{
        ConsistencyProof, InclusionProof, RootHash, mem_backed_tree::MemoryBackedTree,
    };
    use sha2_oracle::Sha256;

    fn bytes(p: &[Hash]) -> Vec<u8> {
        p.concat()
    }

    fn root_digest(h: &Hash) -> sha2_oracle::digest::Output<Sha256> {
        (*h).into()
    }

    #[test]
    fn roots_and_proofs_match_ct_merkle() {
        let mut oracle: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
        let mut ours: Vec<Hash> = Vec::new();
        let mut roots: Vec<Hash> = vec![empty_root()];
        let mut checked = 0u64;
        for n in 1..=300u64 {
            let entry: Vec<u8> = format!("entry {n}").into_bytes();
            let new = stored_hashes_for_record_hash(n - 1, leaf_hash(&entry), &ours).unwrap();
            ours.extend(new);
            oracle.push(entry);
            let root = tree_hash(n, &ours).unwrap();
            assert_eq!(
                oracle.root().as_bytes().as_slice(),
                root.as_slice(),
                "root {n}"
            );
            roots.push(root);
            // All proofs for small trees, a sample for larger ones.
            let step = if n <= 64 { 1 } else { 1 + n / 17 };
            for index in (0..n).step_by(step as usize) {
                let theirs = oracle.prove_inclusion(index as usize);
                let mine = prove_inclusion(index, n, &ours).unwrap();
                assert_eq!(
                    theirs.as_bytes(),
                    bytes(&mine).as_slice(),
                    "PATH({index}, {n})"
                );
                // Cross-verify: their verifier on our proof.
                let item = oracle.get(index as usize).unwrap().clone();
                RootHash::<Sha256>::new(root_digest(&root), n)
                    .verify_inclusion(&item, index, &InclusionProof::from_bytes(bytes(&mine)))
                    .unwrap();
                checked += 1;
            }
            for old in (1..n).step_by(step as usize) {
                let theirs = oracle.prove_consistency((n - old) as usize);
                let mine = prove_consistency(old, n, &ours).unwrap();
                assert_eq!(
                    theirs.as_bytes(),
                    bytes(&mine).as_slice(),
                    "PROOF({old}, {n})"
                );
                let old_root = RootHash::<Sha256>::new(root_digest(&roots[old as usize]), old);
                let new_root = RootHash::<Sha256>::new(root_digest(&root), n);
                new_root
                    .verify_consistency(
                        &old_root,
                        &ConsistencyProof::try_from_bytes(bytes(&mine)).unwrap(),
                    )
                    .unwrap();
                // Our verifier on their proof.
                let theirs: Vec<Hash> = theirs
                    .as_bytes()
                    .chunks(32)
                    .map(|c| c.try_into().unwrap())
                    .collect();
                verify_consistency(old, n, &roots[old as usize], &root, &theirs).unwrap();
                checked += 1;
            }
        }
        assert!(checked > 10_000, "checked {checked}");
    }
}
