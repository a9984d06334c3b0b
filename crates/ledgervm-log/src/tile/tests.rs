use super::*;
use crate::merkle::{
    leaf_hash, prove_consistency, prove_inclusion, stored_hashes_for_record_hash, tree_hash,
};

fn build(n: u64) -> Vec<Hash> {
    let mut store = Vec::new();
    for i in 0..n {
        let h = stored_hashes_for_record_hash(i, leaf_hash(&i.to_be_bytes()), &store).unwrap();
        store.extend(h);
    }
    store
}

#[test]
fn spec_paths() {
    // C2SP tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    assert_eq!(Tile::full(0, 1234067).path(), "tile/0/x001/x234/067");
    assert_eq!(Tile::full(2, 0).path(), "tile/2/000");
    assert_eq!(Tile::full(1, 1000).path(), "tile/1/x001/000");
    assert_eq!(
        Tile {
            level: 0,
            index: 1234067,
            width: 4
        }
        .path(),
        "tile/0/x001/x234/067.p/4"
    );
    assert_eq!(Tile::full(0, 5).entries_path(), "tile/entries/005");
    assert_eq!(
        Tile {
            level: 0,
            index: 999,
            width: 255
        }
        .entries_path(),
        "tile/entries/999.p/255"
    );
}

#[test]
fn parse_accepts_canonical() {
    for p in [
        "tile/0/000",
        "tile/5/x001/x234/067",
        "tile/3/x001/000.p/1",
        "tile/0/067.p/255",
        "tile/0/x018/x446/x744/x073/x709/x551/615",
    ] {
        let t = Tile::parse_path(p).unwrap();
        assert_eq!(t.path(), p);
    }
    assert_eq!(
        Tile::parse_path("tile/0/x018/x446/x744/x073/x709/x551/615")
            .unwrap()
            .index,
        u64::MAX
    );
    let t = Tile::parse_entries_path("tile/entries/x001/x234/067.p/4").unwrap();
    assert_eq!(
        t,
        Tile {
            level: 0,
            index: 1234067,
            width: 4
        }
    );
}

#[test]
fn parse_rejects_noncanonical() {
    for p in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "tile/0/000/",
        "tile/00/000",
        "tile/01/000",
        "tile/6/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/a/000",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/x001/01",
        "tile/0/001/002",
        "tile/0/x001",
        "tile/0/xx01/002",
        "tile/0/x01/002",
        "tile/0/x1234/002",
        "tile/0/X001/002",
        "tile/0/00a",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/300",
        "tile/0/000.p/04",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.p/4/",
        "tile/0/000.p/4.p/3",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
        "tile/0/ 000",
        "tile/0/000 ",
        "tile/entries/000",
        "tile/0/000.P/4",
        "tile//000",
    ] {
        assert!(Tile::parse_path(p).is_err(), "accepted {p:?}");
    }
    for p in [
        "tile/entries/",
        "tile/entries/0",
        "tile/entries/000.p/0",
        "tile/entries/000.p/256",
        "tile/entries/x000/000",
        "tile/0/000",
        "tile/entries/0/000",
    ] {
        assert!(Tile::parse_entries_path(p).is_err(), "accepted {p:?}");
    }
}

#[test]
fn tile_for_index_matches_layout() {
    // Every stored hash of a 70,000-leaf tree sits where the tile layout says.
    let n = 70_000u64;
    let store = build(n);
    for l in 0..=2u8 {
        let mut idx = 0u64;
        while let Some(t) = tile_in_tree(l, idx, n) {
            let data = read_tile_data(&t, &store).unwrap();
            assert_eq!(data.len(), t.width as usize * HASH_SIZE);
            for i in 0..t.width as u64 {
                let level = l * TILE_HEIGHT;
                let hn = (idx << TILE_HEIGHT) + i;
                let x = stored_hash_index(level, hn);
                let got = hash_from_tile(&t, &data, x).unwrap();
                assert_eq!(got, store[x as usize]);
                // Intermediate levels inside the tile are computed from it too.
                for up in 1..TILE_HEIGHT {
                    if !(hn + 1).is_multiple_of(1 << up) {
                        break;
                    }
                    let xu = stored_hash_index(level + up, hn >> up);
                    assert_eq!(hash_from_tile(&t, &data, xu).unwrap(), store[xu as usize]);
                }
            }
            idx += 1;
        }
    }
}

#[test]
fn hash_from_tile_rejects() {
    let store = build(300);
    let t = Tile {
        level: 0,
        index: 1,
        width: 44,
    };
    let data = read_tile_data(&t, &store).unwrap();
    // Hash of leaf 300 would need width 45.
    assert!(matches!(
        hash_from_tile(&t, &data, stored_hash_index(0, 300)),
        Err(TileError::IndexNotInTile { .. })
    ));
    assert!(matches!(
        hash_from_tile(&t, &data, stored_hash_index(0, 3)),
        Err(TileError::IndexNotInTile { .. })
    ));
    assert!(matches!(
        hash_from_tile(&t, &data[..100], stored_hash_index(0, 256)),
        Err(TileError::ShortTileData { .. })
    ));
    let bad = Tile {
        level: 0,
        index: 1,
        width: 0,
    };
    assert!(matches!(
        hash_from_tile(&bad, &data, 0),
        Err(TileError::InvalidTile { .. })
    ));
}

#[test]
fn new_tiles_covers_changes() {
    assert!(new_tiles(0, 0).is_empty());
    assert_eq!(
        new_tiles(0, 1),
        vec![Tile {
            level: 0,
            index: 0,
            width: 1
        }]
    );
    assert_eq!(new_tiles(1, 1), vec![]);
    assert_eq!(
        new_tiles(255, 256),
        vec![
            Tile::full(0, 0),
            Tile {
                level: 1,
                index: 0,
                width: 1
            }
        ]
    );
    assert_eq!(
        new_tiles(10, 600),
        vec![
            Tile::full(0, 0),
            Tile::full(0, 1),
            Tile {
                level: 0,
                index: 2,
                width: 88
            },
            Tile {
                level: 1,
                index: 0,
                width: 2
            },
        ]
    );
    // Brute force: a tile is listed iff its content differs between the two trees.
    for old in 0..700u64 {
        for new in [old, old + 1, old + 17, old + 256, old + 300] {
            let got = new_tiles(old, new);
            let mut want = Vec::new();
            for l in 0..3u8 {
                for i in 0..4u64 {
                    let a = tile_in_tree(l, i, old);
                    let b = tile_in_tree(l, i, new);
                    if let Some(b) = b.filter(|b| a != Some(*b)) {
                        want.push(b);
                    }
                }
            }
            assert_eq!(got, want, "{old}->{new}");
        }
    }
}

#[test]
fn tile_hash_reader_proofs() {
    let store = build(70_000);
    for &size in &[1u64, 2, 255, 256, 257, 65_535, 65_536, 65_537, 70_000] {
        let root = tree_hash(size, &store).unwrap();
        let src = |t: &Tile| {
            // Serve exactly the tree's own tile widths, as storage would.
            assert_eq!(Some(*t), tile_in_tree(t.level, t.index, size));
            read_tile_data(t, &store).map_err(|e| TileError::Source(e.into()))
        };
        let verified = TileHashReader::new(size, root, src);
        let trusted = TileHashReader::trusted(size, src);
        assert_eq!(tree_hash(size, &verified).unwrap(), root);
        assert_eq!(tree_hash(size, &trusted).unwrap(), root);
        for index in [0, size / 3, size / 2, size - 1] {
            let want = prove_inclusion(index, size, &store).unwrap();
            assert_eq!(prove_inclusion(index, size, &verified).unwrap(), want);
            assert_eq!(prove_inclusion(index, size, &trusted).unwrap(), want);
        }
        for old in [1, size / 2, size - 1, size] {
            if old == 0 {
                continue;
            }
            let want = prove_consistency(old, size, &store).unwrap();
            assert_eq!(prove_consistency(old, size, &verified).unwrap(), want);
        }
        assert!(matches!(
            verified.read_hashes_checked(&[stored_hash_index(0, size)]),
            Err(TileError::IndexNotInTree { .. })
        ));
    }
}

#[test]
fn tile_hash_reader_detects_tampering() {
    let size = 70_000u64;
    let store = build(size);
    let root = tree_hash(size, &store).unwrap();
    // Flip one byte in each tile in turn; a verified read touching it must fail.
    let all: Vec<Tile> = (0..=2u8)
        .flat_map(|l| (0..300u64).filter_map(move |i| tile_in_tree(l, i, size)))
        .collect();
    for victim in all.iter().step_by(7).chain(all.last()) {
        let src = |t: &Tile| {
            let mut d = read_tile_data(t, &store).map_err(|e| TileError::Source(e.into()))?;
            if t == victim {
                d[5] ^= 1;
            }
            Ok(d)
        };
        let r = TileHashReader::new(size, root, src);
        let x = stored_hash_index(victim.level * TILE_HEIGHT, victim.index << TILE_HEIGHT);
        assert!(
            matches!(
                r.read_hashes_checked(&[x]),
                Err(TileError::InconsistentTile(_))
            ),
            "tampered {victim} not detected"
        );
        // The trusted reader returns the tampered hash: it does not verify.
        let t = TileHashReader::trusted(size, src);
        assert_ne!(t.read_hashes_checked(&[x]).unwrap()[0], store[x as usize]);

        // Tampering with the tile's *last* hash is caught too, even when only its first
        // hash is asked for: whole tiles are authenticated, not just the hashes read.
        let src_last = |t: &Tile| {
            let mut d = read_tile_data(t, &store).map_err(|e| TileError::Source(e.into()))?;
            if t == victim {
                let n = d.len();
                d[n - 1] ^= 0x80;
            }
            Ok(d)
        };
        let r = TileHashReader::new(size, root, src_last);
        assert!(
            matches!(
                r.read_hashes_checked(&[x]),
                Err(TileError::InconsistentTile(_))
            ),
            "tampered end of {victim} not detected"
        );
    }
    // A wrong root fails everything.
    let r = TileHashReader::new(size, [0u8; 32], |t: &Tile| {
        read_tile_data(t, &store).map_err(|e| TileError::Source(e.into()))
    });
    assert!(matches!(
        r.read_hashes_checked(&[0]),
        Err(TileError::InconsistentTile(_))
    ));
}

#[test]
fn longer_tile_data_is_accepted() {
    // A source may answer a partial-tile request with the (later) full tile.
    let store = build(600);
    let root = tree_hash(300, &store).unwrap();
    let src = |t: &Tile| {
        // The same tile as the 600-leaf tree has it: wider, or full.
        let wide = tile_in_tree(t.level, t.index, 600).unwrap();
        assert!(wide.width >= t.width);
        read_tile_data(&wide, &store).map_err(|e| TileError::Source(e.into()))
    };
    let r = TileHashReader::new(300, root, src);
    assert_eq!(tree_hash(300, &r).unwrap(), root);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn path_round_trip(level in 0u8..=5, index in any::<u64>(), width in 1u16..=256) {
            let t = Tile { level, index, width };
            prop_assert_eq!(Tile::parse_path(&t.path()).unwrap(), t);
            let e = Tile { level: 0, ..t };
            prop_assert_eq!(Tile::parse_entries_path(&t.entries_path()).unwrap(), e);
        }

        #[test]
        fn bundle_round_trip(entries in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..300), 0..=256)) {
            let b = encode_entry_bundle(&entries).unwrap();
            prop_assert_eq!(decode_entry_bundle(&b).unwrap(), entries);
        }

        #[test]
        fn tile_math_is_total(
            level in any::<u8>(), index in any::<u64>(), width in any::<u16>(),
            len in 0usize..9000, x in any::<u64>(), old in any::<u64>(), new in any::<u64>(),
        ) {
            let t = Tile { level, index, width };
            let data = vec![0u8; len];
            let _ = hash_from_tile(&t, &data, x);
            let _ = tile_for_index(x);
            let _ = tile_in_tree(level, index, new);
            let _ = crate::merkle::split_stored_hash_index(x);
            // new_tiles lists at most a few tiles per level for small growth.
            let (lo, hi) = (old.min(new), old.min(new).saturating_add(new % 5000));
            prop_assert!(new_tiles(lo, hi).len() <= 8 * (2 + 5000 / 256));
        }

        #[test]
        fn parse_never_panics(s in "[tile/entrx0-9.p]{0,40}") {
            if let Ok(t) = Tile::parse_path(&s) {
                prop_assert_eq!(t.path(), s.clone());
            }
            if let Ok(t) = Tile::parse_entries_path(&s) {
                prop_assert_eq!(t.entries_path(), s);
            }
        }
    }
}
