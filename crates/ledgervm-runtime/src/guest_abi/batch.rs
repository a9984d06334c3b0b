//! The byte layouts of the batch calls `kv_get_many` and `kv_set_many`. **Pure.**
//!
//! Lengths are `u32` little-endian, the same framing `kv_list_keys` writes, so a guest
//! can hand a page of listed keys straight to `kv_get_many`.
//!
//! ```
//! use ledgervm_runtime::guest_abi::batch::{encode_keys, parse_keys};
//! let buf = encode_keys(&[b"a", b"bc"]);
//! assert_eq!(buf, [1, 0, 0, 0, b'a', 2, 0, 0, 0, b'b', b'c']);
//! assert_eq!(parse_keys(&buf).unwrap(), vec![&b"a"[..], &b"bc"[..]]);
//! ```

use crate::state::{MAX_KEY_BYTES, MAX_VALUE_BYTES};

/// Why a batch buffer could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A length prefix runs past the end of the buffer, or a trailing partial prefix.
    #[error("batch buffer is malformed at byte {0}")]
    Malformed(usize),
    /// A key longer than [`MAX_KEY_BYTES`] (its length is given).
    #[error("key of {0} bytes exceeds the limit")]
    KeyTooLarge(usize),
    /// A value longer than [`MAX_VALUE_BYTES`] (its length is given).
    #[error("value of {0} bytes exceeds the limit")]
    ValueTooLarge(usize),
}

/// Splits off one `u32 LE length ‖ bytes` item starting at `*at`.
fn item<'a>(buf: &'a [u8], at: &mut usize) -> Result<&'a [u8], BatchError> {
    let start = *at;
    let prefix = buf
        .get(start..start + 4)
        .ok_or(BatchError::Malformed(start))?;
    let len = u32::from_le_bytes(prefix.try_into().expect("4 bytes")) as usize;
    let body = start + 4;
    let end = body.checked_add(len).ok_or(BatchError::Malformed(start))?;
    let bytes = buf.get(body..end).ok_or(BatchError::Malformed(start))?;
    *at = end;
    Ok(bytes)
}

/// Parses `kv_get_many`'s input: zero or more `u32 len ‖ key`. Keys are size-checked
/// here so no backend call happens for an oversized one.
pub fn parse_keys(buf: &[u8]) -> Result<Vec<&[u8]>, BatchError> {
    let mut at = 0;
    let mut keys = Vec::new();
    while at < buf.len() {
        let key = item(buf, &mut at)?;
        if key.len() > MAX_KEY_BYTES {
            return Err(BatchError::KeyTooLarge(key.len()));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// One `(key, value)` pair of a `kv_set_many` batch, borrowed from the guest's buffer.
pub type Entry<'a> = (&'a [u8], &'a [u8]);

/// Parses `kv_set_many`'s input: zero or more `u32 klen ‖ key ‖ u32 vlen ‖ value`.
pub fn parse_entries(buf: &[u8]) -> Result<Vec<Entry<'_>>, BatchError> {
    let mut at = 0;
    let mut entries = Vec::new();
    while at < buf.len() {
        let key = item(buf, &mut at)?;
        let value = item(buf, &mut at)?;
        if key.len() > MAX_KEY_BYTES {
            return Err(BatchError::KeyTooLarge(key.len()));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(BatchError::ValueTooLarge(value.len()));
        }
        entries.push((key, value));
    }
    Ok(entries)
}

/// The encoded size of one `kv_get_many` answer slot: a 4-byte `i32` length (-1 when
/// absent) followed by the value.
pub fn answer_len(value: Option<&[u8]>) -> usize {
    4 + value.map_or(0, <[u8]>::len)
}

/// Appends one `kv_get_many` answer slot to `out`.
pub fn push_answer(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(v) => {
            out.extend_from_slice(&(v.len() as i32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
}

/// Encodes keys the way `kv_get_many` reads them (for hosts, tools and tests).
pub fn encode_keys(keys: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for k in keys {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    out
}

/// Encodes entries the way `kv_set_many` reads them.
pub fn encode_entries(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in entries {
        out.extend_from_slice(&encode_keys(&[k, v]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_buffers_are_empty_batches() {
        assert!(parse_keys(&[]).unwrap().is_empty());
        assert!(parse_entries(&[]).unwrap().is_empty());
    }

    #[test]
    fn truncations_are_malformed_with_the_offset() {
        let buf = encode_keys(&[b"abc", b"de"]);
        for cut in 1..buf.len() {
            if cut == 7 {
                continue; // a whole first item: a valid one-key batch
            }
            let at = if cut < 7 { 0 } else { 7 };
            assert_eq!(
                parse_keys(&buf[..cut]),
                Err(BatchError::Malformed(at)),
                "{cut}"
            );
        }
        // A key with no value is not an entry.
        assert_eq!(
            parse_entries(&encode_keys(&[b"k"])),
            Err(BatchError::Malformed(5))
        );
    }

    #[test]
    fn a_huge_length_prefix_does_not_overflow() {
        let buf = [0xff, 0xff, 0xff, 0xff, 1, 2];
        assert_eq!(parse_keys(&buf), Err(BatchError::Malformed(0)));
    }

    #[test]
    fn size_limits_are_checked() {
        let big_key = vec![0u8; MAX_KEY_BYTES + 1];
        assert_eq!(
            parse_keys(&encode_keys(&[&big_key])),
            Err(BatchError::KeyTooLarge(MAX_KEY_BYTES + 1))
        );
        let big_value = vec![0u8; MAX_VALUE_BYTES + 1];
        assert_eq!(
            parse_entries(&encode_entries(&[(b"k", &big_value)])),
            Err(BatchError::ValueTooLarge(MAX_VALUE_BYTES + 1))
        );
    }

    #[test]
    fn answers_encode_absent_as_minus_one() {
        let mut out = Vec::new();
        push_answer(&mut out, None);
        push_answer(&mut out, Some(b"xy"));
        assert_eq!(out, [0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, b'x', b'y']);
        assert_eq!(answer_len(None) + answer_len(Some(b"xy")), out.len());
    }

    proptest! {
        #[test]
        fn entries_round_trip(pairs in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..80)),
            0..12,
        )) {
            let refs: Vec<(&[u8], &[u8])> =
                pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
            let encoded = encode_entries(&refs);
            prop_assert_eq!(parse_entries(&encoded).unwrap(), refs);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(buf in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_keys(&buf);
            let _ = parse_entries(&buf);
        }
    }
}
