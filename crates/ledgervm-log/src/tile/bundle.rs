//! C2SP `tlog-tiles` entry bundles: each entry as a big-endian uint16 length followed by
//! that many bytes, up to 256 entries per bundle.

use super::{TILE_WIDTH, TileError};

/// Largest entry a bundle can hold: 65,535 bytes, the most a uint16 length prefix can
/// express. (DESIGN.md's "64 KiB" entry cap is this limit: 65,536 itself does not fit.)
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Encode entries into one bundle.
///
/// ```
/// use ledgervm_log::tile::{decode_entry_bundle, encode_entry_bundle};
/// let b = encode_entry_bundle(&[b"hi".as_slice(), b"".as_slice()]).unwrap();
/// assert_eq!(b, [0, 2, b'h', b'i', 0, 0]);
/// assert_eq!(decode_entry_bundle(&b).unwrap(), vec![b"hi".to_vec(), vec![]]);
/// ```
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.len() > TILE_WIDTH as usize {
        return Err(TileError::BundleTooLong);
    }
    let total: usize = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            len: e.len(),
            max: MAX_ENTRY_SIZE,
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decode a bundle; rejects a truncated prefix or entry and more than 256 entries.
/// (Trailing garbage always shows up as a truncated entry or an excess entry count, so
/// callers should also compare the count with the tile width they expected.)
pub fn decode_entry_bundle(data: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        if out.len() == TILE_WIDTH as usize {
            return Err(TileError::BundleTooLong);
        }
        let prefix = data
            .get(pos..pos + 2)
            .ok_or(TileError::BundleTruncated(pos))?;
        let len = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
        let body = data
            .get(pos + 2..pos + 2 + len)
            .ok_or(TileError::BundleTruncated(pos))?;
        out.push(body.to_vec());
        pos += 2 + len;
    }
    Ok(out)
}

/// The byte length of a bundle's first `n` entries; `None` if it has fewer, or one of
/// them is truncated.
pub(super) fn prefix_len(data: &[u8], n: usize) -> Option<usize> {
    let mut pos = 0usize;
    for _ in 0..n {
        let prefix = data.get(pos..pos + 2)?;
        pos += 2 + u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
        if pos > data.len() {
            return None;
        }
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let max = vec![7u8; MAX_ENTRY_SIZE];
        let entries: Vec<&[u8]> = vec![b"", b"a", &max];
        let b = encode_entry_bundle(&entries).unwrap();
        assert_eq!(b.len(), 2 + (2 + 1) + (2 + MAX_ENTRY_SIZE));
        assert_eq!(decode_entry_bundle(&b).unwrap(), entries);
        let over = vec![0u8; MAX_ENTRY_SIZE + 1];
        let e = encode_entry_bundle(&[&over]).unwrap_err();
        assert_eq!(e.code(), "tile.entry_too_large");
        assert!(decode_entry_bundle(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_truncation() {
        let b = encode_entry_bundle(&[b"hello".as_slice(), b"xy".as_slice()]).unwrap();
        for cut in 1..b.len() {
            if cut == 7 {
                // Exactly one whole entry: a valid one-entry bundle.
                assert_eq!(decode_entry_bundle(&b[..cut]).unwrap().len(), 1);
                continue;
            }
            assert!(
                matches!(
                    decode_entry_bundle(&b[..cut]),
                    Err(TileError::BundleTruncated(_))
                ),
                "cut {cut}"
            );
        }
        // Trailing byte after a complete bundle.
        let mut t = b.clone();
        t.push(0);
        assert!(matches!(
            decode_entry_bundle(&t),
            Err(TileError::BundleTruncated(11))
        ));
    }

    #[test]
    fn entry_count_cap() {
        let entries = vec![b"x".as_slice(); 257];
        assert!(matches!(
            encode_entry_bundle(&entries),
            Err(TileError::BundleTooLong)
        ));
        let ok = encode_entry_bundle(&entries[..256]).unwrap();
        assert_eq!(decode_entry_bundle(&ok).unwrap().len(), 256);
        let mut more = ok.clone();
        more.extend_from_slice(&[0, 0]);
        assert!(matches!(
            decode_entry_bundle(&more),
            Err(TileError::BundleTooLong)
        ));
    }
}
