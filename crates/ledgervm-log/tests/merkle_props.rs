//! Property tests against the literal RFC 6962 definitions, and exhaustive single-bit
//! tampering of proofs, roots, leaves, indexes and sizes.

mod merkle_naive;

use ledgervm_log::merkle::*;
use proptest::prelude::*;

fn leaves(n: u64, seed: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
        .collect()
}

fn store(leaves: &[Hash]) -> Vec<Hash> {
    let mut s = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        let new = stored_hashes_for_record_hash(i as u64, *l, &s).unwrap();
        s.extend(new);
    }
    assert_eq!(s.len() as u64, stored_hash_count(leaves.len() as u64));
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_rfc6962_definitions(
        n in 1u64..3000,
        seed in any::<u64>(),
        picks in proptest::collection::vec((any::<u64>(), any::<u64>()), 8),
    ) {
        let ls = leaves(n, seed);
        let s = store(&ls);
        let sub = |lo, hi| merkle_naive::mth(&ls, lo, hi);
        let root = tree_hash(n, &s).unwrap();
        prop_assert_eq!(root, merkle_naive::mth(&ls, 0, n));
        prop_assert_eq!(root, root_from_leaf_hashes(&ls));
        for (a, b) in picks {
            // Inclusion of a random leaf in a random prefix tree.
            let size = 1 + a % n;
            let index = b % size;
            let p = prove_inclusion(index, size, &s).unwrap();
            prop_assert_eq!(&p, &merkle_naive::path(index, 0, size, &sub));
            let r = merkle_naive::mth(&ls, 0, size);
            prop_assert!(verify_inclusion(index, size, &ls[index as usize], &p, &r).is_ok());
            prop_assert!(merkle_naive::verify_inclusion(index, size, &ls[index as usize], &p, &r));
            // Consistency between two random prefixes.
            let (old, new) = (b % (size + 1), size);
            let c = prove_consistency(old, new, &s).unwrap();
            prop_assert_eq!(&c, &merkle_naive::proof(old, new, &sub));
            let ro = merkle_naive::mth(&ls, 0, old);
            prop_assert!(verify_consistency(old, new, &ro, &r, &c).is_ok());
            prop_assert!(merkle_naive::verify_consistency(old, new, &ro, &r, &c));
        }
    }

    #[test]
    fn stored_index_split_round_trip(level in 0u8..40, n in 0u64..(1 << 20)) {
        let i = stored_hash_index(level, n);
        prop_assert_eq!(split_stored_hash_index(i), (level, n));
    }

    #[test]
    fn verifiers_agree_on_garbage(
        index in 0u64..70, size in 0u64..70, old in 0u64..70,
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..9),
        root in any::<[u8; 32]>(), leaf in any::<[u8; 32]>(),
    ) {
        // Random claims are (overwhelmingly) false; both verifiers must say so alike.
        prop_assert_eq!(
            verify_inclusion(index, size, &leaf, &proof, &root).is_ok(),
            merkle_naive::verify_inclusion(index, size, &leaf, &proof, &root)
        );
        prop_assert_eq!(
            verify_consistency(old, size, &leaf, &root, &proof).is_ok(),
            merkle_naive::verify_consistency(old, size, &leaf, &root, &proof)
        );
    }
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut x = *h;
    x[bit / 8] ^= 1 << (bit % 8);
    x
}

/// Tally of accepted tamperings of the index or size: these are not forgeries but the
/// same proof read for another tree shape (see `verify_inclusion`'s docs); each one is
/// also accepted by the independent naive verifier.
#[derive(Default, Debug)]
struct Tally {
    shape_aliases: usize,
    rejected: usize,
}

fn check_inclusion_tampering(ls: &[Hash], s: &[Hash], index: u64, size: u64, t: &mut Tally) {
    let root = tree_hash(size, s).unwrap();
    let leaf = ls[index as usize];
    let proof = prove_inclusion(index, size, s).unwrap();
    verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
    let rejects =
        |i: u64, n: u64, l: &Hash, p: &[Hash], r: &Hash| verify_inclusion(i, n, l, p, r).is_err();
    for bit in 0..256 {
        assert!(
            rejects(index, size, &leaf, &proof, &flip(&root, bit)),
            "root bit {bit}"
        );
        assert!(
            rejects(index, size, &flip(&leaf, bit), &proof, &root),
            "leaf bit {bit}"
        );
        for k in 0..proof.len() {
            let mut p = proof.clone();
            p[k] = flip(&p[k], bit);
            assert!(
                rejects(index, size, &leaf, &p, &root),
                "proof[{k}] bit {bit}"
            );
        }
    }
    for bit in 0..64 {
        let i2 = index ^ (1 << bit);
        let accepted = !rejects(i2, size, &leaf, &proof, &root);
        // The index picks the left/right order at every level: flipping it never verifies.
        assert!(!accepted, "index {index}->{i2} size {size} accepted");
        let n2 = size ^ (1 << bit);
        let accepted = !rejects(index, n2, &leaf, &proof, &root);
        assert_eq!(
            accepted,
            merkle_naive::verify_inclusion(index, n2, &leaf, &proof, &root),
            "size {size}->{n2} index {index}: verifiers disagree"
        );
        if accepted {
            t.shape_aliases += 1;
        } else {
            t.rejected += 1;
        }
    }
    // Proof with an element added (anywhere) or removed (anywhere).
    for k in 0..=proof.len() {
        for extra in [root, leaf, [0u8; 32]] {
            let mut p = proof.clone();
            p.insert(k, extra);
            assert!(rejects(index, size, &leaf, &p, &root), "inserted at {k}");
        }
    }
    for k in 0..proof.len() {
        let mut p = proof.clone();
        p.remove(k);
        assert!(rejects(index, size, &leaf, &p, &root), "removed {k}");
    }
}

fn check_consistency_tampering(s: &[Hash], old: u64, new: u64, t: &mut Tally) {
    let r1 = tree_hash(old, s).unwrap();
    let r2 = tree_hash(new, s).unwrap();
    let proof = prove_consistency(old, new, s).unwrap();
    verify_consistency(old, new, &r1, &r2, &proof).unwrap();
    let rejects =
        |a: u64, b: u64, x: &Hash, y: &Hash, p: &[Hash]| verify_consistency(a, b, x, y, p).is_err();
    for bit in 0..256 {
        if old != new {
            // With old == new, flipping both roots alike would be a different true claim.
            assert!(
                rejects(old, new, &flip(&r1, bit), &r2, &proof),
                "old root bit {bit}"
            );
            // Every tree extends the empty tree: from old == 0 nothing binds the new root.
            if old > 0 {
                assert!(
                    rejects(old, new, &r1, &flip(&r2, bit), &proof),
                    "new root bit {bit}"
                );
            } else {
                assert!(!rejects(old, new, &r1, &flip(&r2, bit), &proof));
            }
        } else {
            assert!(rejects(old, new, &flip(&r1, bit), &r2, &proof));
        }
        for k in 0..proof.len() {
            let mut p = proof.clone();
            p[k] = flip(&p[k], bit);
            assert!(rejects(old, new, &r1, &r2, &p), "proof[{k}] bit {bit}");
        }
    }
    for bit in 0..64 {
        for (a, b) in [(old ^ (1 << bit), new), (old, new ^ (1 << bit))] {
            let accepted = !rejects(a, b, &r1, &r2, &proof);
            assert_eq!(
                accepted,
                merkle_naive::verify_consistency(a, b, &r1, &r2, &proof),
                "({old},{new}) -> ({a},{b}): verifiers disagree"
            );
            if accepted {
                t.shape_aliases += 1;
            } else {
                t.rejected += 1;
            }
        }
    }
    for k in 0..=proof.len() {
        for extra in [r1, r2, [0u8; 32]] {
            let mut p = proof.clone();
            p.insert(k, extra);
            assert!(rejects(old, new, &r1, &r2, &p), "inserted at {k}");
        }
    }
    for k in 0..proof.len() {
        let mut p = proof.clone();
        p.remove(k);
        assert!(rejects(old, new, &r1, &r2, &p), "removed {k}");
    }
}

#[test]
fn every_single_bit_change_is_rejected_or_a_shape_alias() {
    let ls = leaves(1100, 7);
    let s = store(&ls);
    let mut inc = Tally::default();
    // Every (index, size) up to 20, then a spread of larger ones.
    let mut pairs: Vec<(u64, u64)> = (1..=20).flat_map(|n| (0..n).map(move |i| (i, n))).collect();
    for n in [31u64, 32, 33, 255, 256, 257, 777, 1024, 1025, 1100] {
        for i in [0, 1, n / 2, n - 2, n - 1] {
            pairs.push((i, n));
        }
    }
    for &(i, n) in &pairs {
        check_inclusion_tampering(&ls, &s, i, n, &mut inc);
    }
    let mut con = Tally::default();
    let mut cpairs: Vec<(u64, u64)> = (0..=20)
        .flat_map(|n| (0..=n).map(move |m| (m, n)))
        .collect();
    cpairs.extend([
        (7, 33),
        (31, 33),
        (1, 1100),
        (255, 256),
        (256, 1025),
        (511, 777),
        (1024, 1100),
        (1099, 1100),
    ]);
    for &(m, n) in &cpairs {
        check_consistency_tampering(&s, m, n, &mut con);
    }
    eprintln!("inclusion size flips: {inc:?}; consistency size flips: {con:?}");
    // Aliases exist (e.g. index 0 in sizes 5 and 7) but are a small minority.
    assert!(inc.shape_aliases > 0 && inc.shape_aliases * 10 < inc.rejected);
    assert!(con.shape_aliases * 10 < con.rejected);
}
