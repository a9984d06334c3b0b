//! The app state digest: an LtHash (lattice-based homomorphic set hash) of every
//! `(key, value)` pair in an app's state. **Pure.**
//!
//! Why LtHash: a call record must carry the digest of the app's whole state after the
//! call, and the node cannot afford to rehash the whole state per call. An LtHash is
//! *incremental* (a write costs one element hash to remove the old pair and one to add
//! the new one) and *order-independent* (the digest is a function of the set of pairs,
//! not of the order they were written), so the node, the recovery path and the auditor
//! all reach the same digest however they got to the same state. Unlike a plain XOR or
//! a single 256-bit modular sum of hashes — which fall to linear algebra over GF(2) and
//! to Wagner's generalized birthday attack respectively — LtHash16 with 1024 lanes is
//! the construction of Lewi et al. ("Securing Update Propagation with Homomorphic
//! Hashing", 2019) with about 200 bits of collision resistance.
//!
//! The state keeps the 2 KiB lane vector; records carry [`LtHash::digest`], a 32-byte
//! hash of the lanes (64 hex characters), so a record grows by 32 bytes, not 2 KiB.
//!
//! Why BLAKE3: an element is 2 KiB of extendable output, as in Lewi et al. (who use
//! BLAKE2xb). The first version expanded SHA-256 in counter mode, 64 compressions per
//! element; without SHA extensions on the CPU that was ~20 µs per element, half of an
//! audit's replay time and most of a state-writing call's. BLAKE3's XOF is SIMD-parallel.
//! Both hashes are domain-separated (`derive_key` contexts) and versioned (`v2`).
//!
//! ```
//! use ledgervm_node::digest::LtHash;
//! let mut a = LtHash::new();
//! a.add(b"k1", b"v1");
//! a.add(b"k2", b"v2");
//! let mut b = LtHash::new();
//! b.add(b"k2", b"v2");
//! b.add(b"k1", b"old");
//! b.update(b"k1", Some(b"old"), Some(b"v1"));
//! assert_eq!(a.digest(), b.digest());
//! ```

/// Lanes of 16 bits.
pub const LANES: usize = 1024;
/// Bytes of the lane vector.
pub const LTHASH_BYTES: usize = LANES * 2;

/// BLAKE3 `derive_key` context of an element's expansion.
pub const ELEMENT_CONTEXT: &str = "ledgervm 2026 state-digest v2 element";
/// BLAKE3 `derive_key` context of the digest of the lanes.
pub const FINAL_CONTEXT: &str = "ledgervm 2026 state-digest v2 final";

/// An LtHash16 accumulator over `(key, value)` pairs.
#[derive(Clone)]
pub struct LtHash {
    lanes: Box<[u16; LANES]>,
    /// [`LtHash::digest`] of `lanes`, once asked for; cleared by every change. A call
    /// that writes nothing records the same digest as the call before it, and hashing
    /// the 2 KiB of lanes again for each was ~1% of `ledgervm bench`'s CPU.
    digest: std::sync::OnceLock<String>,
}

impl PartialEq for LtHash {
    fn eq(&self, other: &LtHash) -> bool {
        self.lanes == other.lanes
    }
}

impl Eq for LtHash {}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", self.digest())
    }
}

impl Default for LtHash {
    fn default() -> LtHash {
        LtHash::new()
    }
}

/// The 1024 lanes an element contributes: the BLAKE3 XOF (in `derive_key` mode under
/// [`ELEMENT_CONTEXT`]) of the length-prefixed pair, 2048 bytes read as little-endian u16.
fn element(key: &[u8], value: &[u8]) -> [u16; LANES] {
    let mut h = blake3::Hasher::new_derive_key(ELEMENT_CONTEXT);
    h.update(&(key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(&(value.len() as u64).to_be_bytes());
    h.update(value);
    let mut bytes = [0u8; LTHASH_BYTES];
    h.finalize_xof().fill(&mut bytes);
    let mut out = [0u16; LANES];
    for (lane, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *lane = u16::from_le_bytes([pair[0], pair[1]]);
    }
    out
}

impl LtHash {
    /// The digest of the empty state.
    pub fn new() -> LtHash {
        LtHash {
            lanes: Box::new([0; LANES]),
            digest: std::sync::OnceLock::new(),
        }
    }

    /// From the bytes of [`LtHash::to_bytes`]; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<LtHash> {
        if bytes.len() != LTHASH_BYTES {
            return None;
        }
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(LtHash {
            lanes,
            digest: std::sync::OnceLock::new(),
        })
    }

    /// The lane vector, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.lanes.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    /// Adds a pair to the set.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        self.digest.take();
        for (l, e) in self.lanes.iter_mut().zip(element(key, value)) {
            *l = l.wrapping_add(e);
        }
    }

    /// Removes a pair from the set (it must have been added).
    pub fn remove(&mut self, key: &[u8], value: &[u8]) {
        self.digest.take();
        for (l, e) in self.lanes.iter_mut().zip(element(key, value)) {
            *l = l.wrapping_sub(e);
        }
    }

    /// Replaces `key`'s pair: `old` is its value before (`None` = absent), `new` after
    /// (`None` = deleted).
    pub fn update(&mut self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.remove(key, old);
        }
        if let Some(new) = new {
            self.add(key, new);
        }
    }

    /// The digest records carry: the lowercase hex BLAKE3 hash (`derive_key` under
    /// [`FINAL_CONTEXT`]) of the lanes' bytes.
    pub fn digest(&self) -> String {
        self.digest
            .get_or_init(|| {
                let mut h = blake3::Hasher::new_derive_key(FINAL_CONTEXT);
                h.update(&self.to_bytes());
                hex::encode(h.finalize().as_bytes())
            })
            .clone()
    }
}

/// The digest of a whole state given as pairs (for tests and full rebuilds).
pub fn digest_of<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> LtHash {
    let mut h = LtHash::new();
    for (k, v) in pairs {
        h.add(k, v);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_change_after_a_digest_is_seen_by_the_next_digest() {
        let mut a = LtHash::new();
        let empty = a.digest();
        a.add(b"k", b"v");
        let one = a.digest();
        assert_ne!(one, empty);
        assert_eq!(one, digest_of([(&b"k"[..], &b"v"[..])]).digest());
        let copy = a.clone();
        a.update(b"k", Some(b"v"), Some(b"w"));
        assert_eq!(a.digest(), digest_of([(&b"k"[..], &b"w"[..])]).digest());
        assert_eq!(copy.digest(), one, "a clone keeps its own digest");
        a.remove(b"k", b"w");
        assert_eq!(a.digest(), empty);
    }

    #[test]
    fn empty_and_round_trip() {
        let e = LtHash::new();
        assert_eq!(
            e.digest(),
            LtHash::from_bytes(&e.to_bytes()).unwrap().digest()
        );
        assert!(LtHash::from_bytes(&[0; 3]).is_none());
        let mut a = LtHash::new();
        a.add(b"k", b"v");
        assert_ne!(a.digest(), e.digest());
        a.remove(b"k", b"v");
        assert_eq!(a, e);
    }

    /// Computed with the PyPI `blake3` package (the reference implementation's Python
    /// binding) from the definition in docs/STATE.md, not with this code.
    #[test]
    fn matches_an_independent_computation() {
        assert_eq!(
            LtHash::new().digest(),
            "0840712d8f68126e662d688aa232ee26153aecd24644ecc1dd6fd70346b7a492"
        );
        let state = [(&b"k1"[..], &b"v1"[..]), (&b"k2"[..], &b"v2"[..])];
        assert_eq!(
            digest_of(state).digest(),
            "6edeac560ab93bd819a6b6b12ff94cd8bc65a8837dd349c93f48d3f9664caae3"
        );
    }

    #[test]
    fn pair_boundaries_are_unambiguous() {
        // ("ab", "c") and ("a", "bc") must differ: lengths are hashed.
        let mut x = LtHash::new();
        x.add(b"ab", b"c");
        let mut y = LtHash::new();
        y.add(b"a", b"bc");
        assert_ne!(x.digest(), y.digest());
    }

    proptest! {
        /// Applying writes incrementally in any order gives the digest of the final map.
        #[test]
        fn incremental_equals_full(
            writes in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..3), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4))),
                0..40),
        ) {
            let mut map: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut inc = LtHash::new();
            for (k, v) in &writes {
                let old = map.get(k).cloned();
                inc.update(k, old.as_deref(), v.as_deref());
                match v {
                    Some(v) => { map.insert(k.clone(), v.clone()); }
                    None => { map.remove(k); }
                }
            }
            let full = digest_of(map.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
            prop_assert_eq!(inc.digest(), full.digest());
            let reversed = digest_of(map.iter().rev().map(|(k, v)| (k.as_slice(), v.as_slice())));
            prop_assert_eq!(reversed, full);
        }
    }
}
