//! Serving a partial tile or bundle from a wider version of the same object.
//!
//! A log only grows, so the partial tile `tile/L/N.p/W` is exactly the first `W` hashes
//! of every wider version of tile `L/N` (and of the full tile), and the partial bundle
//! `tile/entries/N.p/W` is the first `W` entries of every wider bundle. [`LocalStorage`]
//! uses this to answer for versions it never wrote as files — its background writer
//! skips versions superseded before it got to them — and for versions collected once
//! the full tile was durable, so a client holding an older checkpoint still gets the
//! tiles that checkpoint names. Pure: no I/O.
//!
//! [`LocalStorage`]: super::LocalStorage

use crate::tile::{Tile, TileError, narrower_version};

/// A partial object's path, split: `(the full object's path, the width asked for)`.
/// `None` for anything that is not a canonical partial tile or bundle path.
///
/// ```ignore
/// assert_eq!(split("tile/0/x001/067.p/8"), Some(("tile/0/x001/067", 8)));
/// ```
pub(super) fn split(path: &str) -> Option<(&str, u16)> {
    let t = parse(path).ok()?;
    (!t.is_full()).then(|| (growing_key(path), t.width))
}

fn parse(path: &str) -> Result<Tile, TileError> {
    if path.starts_with("tile/entries/") {
        Tile::parse_entries_path(path)
    } else {
        Tile::parse_path(path)
    }
}

/// The identity of a growing object, the path without its `.p/<W>` suffix:
/// `tile/0/x001/067.p/8` → `tile/0/x001/067`. Every version of one tile or bundle has
/// the same key; a full object is its own key. Cheap (no parsing), for the commit path.
pub(super) fn growing_key(path: &str) -> &str {
    match path.rfind(".p/") {
        Some(i) if path[i + 3..].bytes().all(|b| b.is_ascii_digit()) => &path[..i],
        _ => path,
    }
}

/// The version of the object at `path` (a partial tile or bundle `width` wide) cut from
/// `wider`, a wider version of it ([`narrower_version`]).
pub(super) fn cut(path: &str, width: u16, wider: &[u8]) -> Option<Vec<u8>> {
    narrower_version(path.starts_with("tile/entries/"), width.into(), wider).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tile::encode_entry_bundle;

    #[test]
    fn growing_keys() {
        assert_eq!(growing_key("tile/0/x001/067.p/8"), "tile/0/x001/067");
        assert_eq!(growing_key("tile/entries/000.p/255"), "tile/entries/000");
        assert_eq!(growing_key("tile/0/000"), "tile/0/000");
        assert_eq!(growing_key("a.p/x"), "a.p/x");
    }

    #[test]
    fn split_accepts_only_canonical_partials() {
        assert_eq!(split("tile/0/x001/067.p/8"), Some(("tile/0/x001/067", 8)));
        assert_eq!(
            split("tile/entries/000.p/255"),
            Some(("tile/entries/000", 255))
        );
        assert_eq!(split("tile/2/000.p/1"), Some(("tile/2/000", 1)));
        for not in [
            "tile/0/000",
            "tile/entries/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/08",
            "tile/0/0.p/8",
            "checkpoint",
            "blob/abc.p/1",
        ] {
            assert_eq!(split(not), None, "{not}");
        }
    }

    #[test]
    fn cut_hash_tiles() {
        let full: Vec<u8> = (0..256 * 32).map(|i| (i / 32) as u8).collect();
        for w in [1u16, 2, 100, 255] {
            let p = cut("tile/0/000.p/1", w, &full).unwrap();
            assert_eq!(p, full[..w as usize * 32]);
        }
        let partial = &full[..10 * 32];
        assert_eq!(cut("tile/1/000.p/10", 10, partial).unwrap(), partial);
        assert_eq!(cut("tile/1/000.p/11", 11, partial), None, "narrower source");
        assert_eq!(
            cut("tile/1/000.p/3", 3, &partial[..95]),
            None,
            "not whole hashes"
        );
    }

    #[test]
    fn cut_bundles_at_every_width() {
        let entries: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; i * 7 % 300]).collect();
        let wide = encode_entry_bundle(&entries).unwrap();
        for w in 1..=40u16 {
            let want = encode_entry_bundle(&entries[..w as usize]).unwrap();
            assert_eq!(cut("tile/entries/000.p/1", w, &wide).unwrap(), want, "{w}");
        }
        assert_eq!(cut("tile/entries/000.p/41", 41, &wide), None);
        assert_eq!(
            cut("tile/entries/000.p/40", 40, &wide[..wide.len() - 1]),
            None,
            "a truncated last entry"
        );
    }
}
