//! C2SP `tlog-tiles` coordinates, paths, tile math and entry bundles. Pure: no I/O.
//!
//! A hash tile at level `L`, index `N`, width `W` lists `W` consecutive stored hashes at
//! tree level `8·L`, starting with hash number `N·256`. Full tiles hold 256 hashes;
//! the rightmost tile of a level may be partial (`.p/<W>`, 1 ≤ W ≤ 255). The tile math
//! mirrors Go's `golang.org/x/mod/sumdb/tlog` with its tile height fixed at 8, as the
//! C2SP spec fixes it.
//!
//! ```
//! use ledgervm_log::tile::Tile;
//!
//! let t = Tile { level: 0, index: 1234067, width: 4 };
//! assert_eq!(t.path(), "tile/0/x001/x234/067.p/4");
//! assert_eq!(t.entries_path(), "tile/entries/x001/x234/067.p/4");
//! assert_eq!(Tile::parse_path(&t.path()).unwrap(), t);
//! ```

mod bundle;
mod reader;

pub use bundle::{MAX_ENTRY_SIZE, decode_entry_bundle, encode_entry_bundle};
pub use reader::{TileHashReader, TileSource};

use crate::merkle::{
    Hash, HashReader, MerkleError, node_hash, split_stored_hash_index, stored_hash_index,
};

/// Tile height: every tile spans 8 tree levels, i.e. 256 hashes (fixed by C2SP).
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u16 = 1 << TILE_HEIGHT;
/// Highest tile level C2SP `tlog-tiles` allows in a path (`L` is 0..=5).
pub const MAX_TILE_LEVEL: u8 = 5;
/// Size in bytes of one hash in a tile.
pub const HASH_SIZE: usize = 32;

/// Errors from tile paths, tile data and entry bundles.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// A path that is not a canonical C2SP tile path.
    #[error("malformed tile path {0:?}")]
    BadPath(String),
    /// A tile with impossible coordinates (width 0 or above 256, level too high).
    #[error("invalid tile level={level} index={index} width={width}")]
    InvalidTile {
        /// Level.
        level: u8,
        /// Index.
        index: u64,
        /// Width.
        width: u16,
    },
    /// Tile data shorter than the tile's width requires.
    #[error("tile data is {got} bytes, need at least {need}")]
    ShortTileData {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// The requested stored hash is not in the given tile.
    #[error("stored hash {index} is not in tile {tile}")]
    IndexNotInTile {
        /// Stored-hash index.
        index: u64,
        /// Path of the tile.
        tile: String,
    },
    /// The requested stored hash is not part of the tree the reader serves.
    #[error("stored hash {index} is not in the tree of size {size}")]
    IndexNotInTree {
        /// Stored-hash index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// Tile data does not hash to the trusted tree root (or to its parent tile).
    #[error("tile {0} is inconsistent with the trusted tree hash")]
    InconsistentTile(String),
    /// An entry longer than [`MAX_ENTRY_SIZE`] cannot be length-prefixed with a uint16.
    #[error("entry of {len} bytes exceeds the {max}-byte limit")]
    EntryTooLarge {
        /// Entry length.
        len: usize,
        /// The limit, [`MAX_ENTRY_SIZE`].
        max: usize,
    },
    /// An entry bundle ends inside a length prefix or an entry.
    #[error("entry bundle truncated at byte {0}")]
    BundleTruncated(usize),
    /// An entry bundle holds more than 256 entries.
    #[error("entry bundle holds more than 256 entries")]
    BundleTooLong,
    /// The tile source failed.
    #[error("tile source failed: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl TileError {
    /// Stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            TileError::BadPath(_) => "tile.bad_path",
            TileError::InvalidTile { .. } => "tile.invalid",
            TileError::ShortTileData { .. } => "tile.short_data",
            TileError::IndexNotInTile { .. } => "tile.index_not_in_tile",
            TileError::IndexNotInTree { .. } => "tile.index_not_in_tree",
            TileError::InconsistentTile(_) => "tile.inconsistent",
            TileError::EntryTooLarge { .. } => "tile.entry_too_large",
            TileError::BundleTruncated(_) => "tile.bundle_truncated",
            TileError::BundleTooLong => "tile.bundle_too_long",
            TileError::Source(_) => "tile.source",
        }
    }
}

/// A hash tile (or, through [`Tile::entries_path`], the entry bundle of a level-0 tile).
///
/// The height is always [`TILE_HEIGHT`]. `width` is 1..=256; 256 is a full tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Tile level: the tile holds tree-level `8·level` hashes.
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes present, 1..=256.
    pub width: u16,
}

impl Tile {
    /// A full (256-wide) tile.
    pub fn full(level: u8, index: u64) -> Tile {
        Tile {
            level,
            index,
            width: TILE_WIDTH,
        }
    }

    /// Whether this tile holds all 256 hashes.
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Coordinates are usable for tile math: width 1..=256 and the level's hashes fit
    /// in a `u64` stored-hash index.
    fn check(&self) -> Result<(), TileError> {
        if self.width == 0 || self.width > TILE_WIDTH || self.level > 7 {
            return Err(TileError::InvalidTile {
                level: self.level,
                index: self.index,
                width: self.width,
            });
        }
        Ok(())
    }

    /// The C2SP hash tile path, `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// The C2SP entry bundle path, `tile/entries/<N>[.p/<W>]`, for the entries under
    /// this level-0 tile. (The level is ignored; bundles only exist at level 0.)
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.suffix())
    }

    fn suffix(&self) -> String {
        let mut s = encode_index(self.index);
        if self.width != TILE_WIDTH {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parse a canonical hash tile path, `tile/<L>/<N>[.p/<W>]`.
    ///
    /// Strict: the level is 0..=5 without leading zeros, every index group has exactly
    /// three digits with `x` on all but the last and no all-zero leading group, and a
    /// partial width is 1..=255 without leading zeros.
    pub fn parse_path(path: &str) -> Result<Tile, TileError> {
        let bad = || TileError::BadPath(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (level, rest) = rest.split_once('/').ok_or_else(bad)?;
        let level = parse_decimal(level).ok_or_else(bad)?;
        if level > MAX_TILE_LEVEL as u64 {
            return Err(bad());
        }
        let (index, width) = parse_suffix(rest).ok_or_else(bad)?;
        let t = Tile {
            level: level as u8,
            index,
            width,
        };
        // Re-encoding must give the input back: rejects every non-canonical spelling.
        if t.path() != path {
            return Err(bad());
        }
        Ok(t)
    }

    /// Parse a canonical entry bundle path, `tile/entries/<N>[.p/<W>]`, into the
    /// level-0 tile it belongs to.
    pub fn parse_entries_path(path: &str) -> Result<Tile, TileError> {
        let bad = || TileError::BadPath(path.to_owned());
        let rest = path.strip_prefix("tile/entries/").ok_or_else(bad)?;
        let (index, width) = parse_suffix(rest).ok_or_else(bad)?;
        let t = Tile {
            level: 0,
            index,
            width,
        };
        if t.entries_path() != path {
            return Err(bad());
        }
        Ok(t)
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

/// `1234067` → `x001/x234/067`.
fn encode_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut n = n / 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Plain decimal with no sign and no leading zeros (except "0" itself).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parse `<N>[.p/<W>]`; canonical form is checked by the caller's round trip.
fn parse_suffix(s: &str) -> Option<(u64, u16)> {
    let (groups, width) = match s.split_once(".p/") {
        Some((g, w)) => {
            let w = parse_decimal(w)?;
            if w == 0 || w >= TILE_WIDTH as u64 {
                return None;
            }
            (g, w as u16)
        }
        None => (s, TILE_WIDTH),
    };
    let mut n: u64 = 0;
    let parts: Vec<&str> = groups.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let digits = if i + 1 < parts.len() {
            part.strip_prefix('x')?
        } else {
            part
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let g: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(g)?;
    }
    Some((n, width))
}

/// The tile that holds stored hash `index` in the smallest tree containing it, with the
/// byte range of that hash's data inside the tile. For a hash above the tile's base
/// level, the range spans the base-level hashes it is computed from.
fn tile_for_index_range(index: u64) -> (Tile, usize, usize) {
    let (level, n) = split_stored_hash_index(index);
    let tl = level / TILE_HEIGHT;
    let in_level = level - tl * TILE_HEIGHT;
    let t_index = (n << in_level) >> TILE_HEIGHT;
    let n_in = n - ((t_index << TILE_HEIGHT) >> in_level);
    let width = ((n_in + 1) << in_level) as u16;
    let start = ((n_in << in_level) as usize) * HASH_SIZE;
    let end = (((n_in + 1) << in_level) as usize) * HASH_SIZE;
    (
        Tile {
            level: tl,
            index: t_index,
            width,
        },
        start,
        end,
    )
}

/// The smallest tile holding stored hash `index` (or the hashes it is computed from,
/// for hashes between tile levels). Its width is the minimum needed, not the width of
/// any particular tree's tile.
pub fn tile_for_index(index: u64) -> Tile {
    tile_for_index_range(index).0
}

/// Read stored hash `index` out of the data of tile `t`.
///
/// `data` must hold at least `t.width` hashes (longer data, e.g. a wider version of the
/// same tile, is fine: tiles only grow to the right).
pub fn hash_from_tile(t: &Tile, data: &[u8], index: u64) -> Result<Hash, TileError> {
    t.check()?;
    let need = t.width as usize * HASH_SIZE;
    if data.len() < need {
        return Err(TileError::ShortTileData {
            need,
            got: data.len(),
        });
    }
    let (t1, start, end) = tile_for_index_range(index);
    if t.level != t1.level || t.index != t1.index || t.width < t1.width {
        return Err(TileError::IndexNotInTile {
            index,
            tile: t.path(),
        });
    }
    Ok(tile_subtree_hash(&data[start..end]))
}

/// The bytes of the `width`-wide version of a tile (or, with `entries`, of an entry
/// bundle) cut from `wider`, a wider version or the full one: a log only grows, so the
/// narrower version is exactly a prefix. `None` if `wider` holds fewer than `width`
/// hashes or entries, or is not whole hashes or entries up to there.
///
/// ```
/// use ledgervm_log::tile::{encode_entry_bundle, narrower_version};
/// let bundle = encode_entry_bundle(&[b"ab".as_slice(), b"c"]).unwrap();
/// assert_eq!(narrower_version(true, 1, &bundle), Some(&bundle[..4]));
/// assert_eq!(narrower_version(false, 1, &[7; 64]), Some(&[7; 32][..]));
/// assert_eq!(narrower_version(false, 3, &[7; 64]), None);
/// ```
pub fn narrower_version(entries: bool, width: usize, wider: &[u8]) -> Option<&[u8]> {
    let len = if entries {
        bundle::prefix_len(wider, width)?
    } else {
        let len = width * HASH_SIZE;
        (wider.len() >= len && wider.len().is_multiple_of(HASH_SIZE)).then_some(len)?
    };
    Some(&wider[..len])
}

/// MTH of a power-of-two run of hashes laid out in tile data.
pub(crate) fn tile_subtree_hash(data: &[u8]) -> Hash {
    debug_assert!(data.len() >= HASH_SIZE && (data.len() / HASH_SIZE).is_power_of_two());
    if data.len() == HASH_SIZE {
        let mut h = [0u8; HASH_SIZE];
        h.copy_from_slice(data);
        return h;
    }
    let mid = data.len() / 2;
    node_hash(
        &tile_subtree_hash(&data[..mid]),
        &tile_subtree_hash(&data[mid..]),
    )
}

/// The tiles (hash tiles; their level-0 members also name entry bundles) that a tree
/// growing from `old_size` to `new_size` must write: every tile that is new or wider.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<Tile> {
    let h = TILE_HEIGHT as u32;
    let mut tiles = Vec::new();
    let mut level: u32 = 0;
    while level * h < 64 && (new_size >> (h * level)) > 0 {
        let old_n = old_size >> (h * level);
        let new_n = new_size >> (h * level);
        level += 1;
        if old_n >= new_n {
            continue;
        }
        for n in (old_n >> h)..(new_n >> h) {
            tiles.push(Tile::full((level - 1) as u8, n));
        }
        let n = new_n >> h;
        let w = new_n - (n << h);
        if w > 0 {
            tiles.push(Tile {
                level: (level - 1) as u8,
                index: n,
                width: w as u16,
            });
        }
    }
    tiles
}

/// The tile of the tree of `size` leaves at `(level, index)`: full, partial, or `None`
/// if that tree has no such tile.
pub fn tile_in_tree(level: u8, index: u64, size: u64) -> Option<Tile> {
    let shift = TILE_HEIGHT as u32 * level as u32;
    if shift >= 64 {
        return None;
    }
    let hashes_at_level = size >> shift;
    let start = index.checked_mul(TILE_WIDTH as u64)?;
    if start >= hashes_at_level {
        return None;
    }
    let width = (hashes_at_level - start).min(TILE_WIDTH as u64) as u16;
    Some(Tile {
        level,
        index,
        width,
    })
}

/// Assemble tile `t`'s data from stored hashes (what an appender writes to disk).
pub fn read_tile_data<R: HashReader + ?Sized>(t: &Tile, r: &R) -> Result<Vec<u8>, MerkleError> {
    t.check().map_err(|e| MerkleError::Read(Box::new(e)))?;
    let start = t.index << TILE_HEIGHT;
    let indexes: Vec<u64> = (0..t.width as u64)
        .map(|i| stored_hash_index(t.level * TILE_HEIGHT, start + i))
        .collect();
    let hashes = crate::merkle::read_exact(r, &indexes)?;
    Ok(hashes.concat())
}

#[cfg(test)]
mod tests;
