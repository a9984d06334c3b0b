//! Content identifiers: the code hash (SHA-256) is an app's identity, also shown as a
//! CIDv1 (raw codec, sha2-256 multihash) so the same module can be pinned on IPFS
//! unchanged. Pure.
//!
//! ```
//! let hash = ledgervm_node::ids::sha256_hex(b"hello");
//! assert_eq!(hash, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
//! // Same value `ipfs add --raw-leaves --cid-version=1` prints for these bytes.
//! assert_eq!(
//!     ledgervm_node::ids::cid_v1_raw(&hash).unwrap(),
//!     "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
//! );
//! ```

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the empty string (the body hash a signed `DELETE` covers).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a lowercase hex SHA-256 (64 chars of `[0-9a-f]`).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The CIDv1 (raw codec `0x55`, sha2-256 multihash) of a SHA-256 digest given as hex,
/// in its canonical base32 string form.
pub fn cid_v1_raw(sha256_hex: &str) -> Option<String> {
    const RAW: u64 = 0x55;
    const SHA2_256: u64 = 0x12;
    let digest = hex::decode(sha256_hex).ok().filter(|d| d.len() == 32)?;
    let mh = multihash::Multihash::<64>::wrap(SHA2_256, &digest).ok()?;
    Some(cid::Cid::new_v1(RAW, mh).to_string())
}

/// Whether `name` is a valid app name: `[A-Za-z0-9._-]{1,128}`, and not `.` or `..`
/// (names become URL path segments).
pub fn is_valid_app_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sha256_is_the_hash_of_nothing() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[test]
    fn app_names() {
        for ok in ["sum.wasm", "a", "A-b_c.9", &"x".repeat(128)] {
            assert!(is_valid_app_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "é",
            "a%2f",
            &"x".repeat(129),
            "a\0",
        ] {
            assert!(!is_valid_app_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn cid_rejects_non_digests() {
        assert_eq!(cid_v1_raw("zz"), None);
        assert_eq!(cid_v1_raw(&"ab".repeat(31)), None);
        assert!(is_sha256_hex(&sha256_hex(b"")));
        assert!(!is_sha256_hex(&"AB".repeat(32)));
    }
}
