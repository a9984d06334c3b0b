use super::*;
use ledgervm_log::merkle::tree_hash;

struct Log {
    leaves: Vec<Hash>,
    root: Hash,
    tiles: Vec<Tile>,
    data: HashMap<Tile, Vec<u8>>,
}

fn log(n: u64) -> Log {
    let leaves: Vec<Hash> = (0..n)
        .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
        .collect();
    let mut stored = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        let h = stored_hashes_for_record_hash(i as u64, *l, &stored).unwrap();
        stored.extend(h);
    }
    let tiles = tiles_of(n);
    let data = tiles
        .iter()
        .map(|t| (*t, read_tile_data(t, &stored).unwrap()))
        .collect();
    Log {
        root: tree_hash(n, &stored).unwrap(),
        leaves,
        tiles,
        data,
    }
}

#[test]
fn tiles_of_lists_every_tile_of_the_tree() {
    let paths: Vec<String> = tiles_of(600).iter().map(|t| t.path()).collect();
    assert_eq!(
        paths,
        [
            "tile/0/000",
            "tile/0/001",
            "tile/0/002.p/88",
            "tile/1/000.p/2"
        ]
    );
    assert!(tiles_of(0).is_empty());
    assert_eq!(
        tiles_of(256).iter().map(|t| t.path()).collect::<Vec<_>>(),
        ["tile/0/000", "tile/1/000.p/1"]
    );
    assert_eq!(tiles_of(65536 * 2 + 1).len(), 513 + 2 + 1);
}

#[test]
fn clean_tiles_pass_and_a_changed_tile_names_its_first_leaf() {
    let l = log(600);
    assert_eq!(l.leaves.len(), 600);
    assert_eq!(root_from_leaf_hashes(&l.leaves), l.root);
    assert_eq!(check_tiles(&l.leaves, &l.tiles, &l.data).unwrap(), None);

    let mut data = l.data.clone();
    data.get_mut(&l.tiles[1]).unwrap()[5 * HASH_SIZE] ^= 1;
    let d = check_tiles(&l.leaves, &l.tiles, &data).unwrap().unwrap();
    assert_eq!((d.index, d.what), (256 + 5, DivergenceKind::Tile));

    // Level-1 hash #1 covers leaves 256..512.
    let mut data = l.data.clone();
    data.get_mut(&l.tiles[3]).unwrap()[HASH_SIZE + 3] ^= 0x80;
    let d = check_tiles(&l.leaves, &l.tiles, &data).unwrap().unwrap();
    assert_eq!((d.index, d.what), (256, DivergenceKind::Tile));

    let mut data = l.data.clone();
    data.remove(&l.tiles[2]);
    let d = check_tiles(&l.leaves, &l.tiles, &data).unwrap().unwrap();
    assert_eq!((d.index, d.what), (512, DivergenceKind::Missing));
}

#[test]
fn a_changed_entry_is_named_through_authenticated_tiles() {
    let l = log(600);
    for at in [0usize, 255, 256, 300, 599] {
        let mut leaves = l.leaves.clone();
        leaves[at] = leaf_hash(b"tampered");
        assert_ne!(root_from_leaf_hashes(&leaves), l.root);
        let d = locate_bad_entry(600, l.root, &leaves, &l.data);
        assert_eq!(
            (d.index, d.what),
            (at as u64, DivergenceKind::Entry),
            "{d:?}"
        );
        assert_eq!(d.expected, hex::encode(l.leaves[at]));
    }
}

#[test]
fn tiles_changed_along_with_the_entry_do_not_authenticate() {
    let l = log(600);
    let mut leaves = l.leaves.clone();
    leaves[300] = leaf_hash(b"tampered");
    // The attacker also rewrites the leaf hash in the level-0 tile…
    let mut data = l.data.clone();
    data.get_mut(&l.tiles[1]).unwrap()[(300 - 256) * HASH_SIZE..(301 - 256) * HASH_SIZE]
        .copy_from_slice(&leaves[300]);
    // …which the signed root exposes: the tile no longer hashes into the tree.
    let d = locate_bad_entry(600, l.root, &leaves, &data);
    assert_eq!((d.index, d.what), (256, DivergenceKind::Tree), "{d:?}");

    // Missing entries at the end with intact tiles: the tree is named at the gap.
    let d = locate_bad_entry(600, l.root, &l.leaves[..512], &l.data);
    assert_eq!((d.index, d.what), (512, DivergenceKind::Tree), "{d:?}");
}

#[test]
fn keep_first_keeps_the_lowest_index() {
    let d = |index| Divergence {
        index,
        what: DivergenceKind::Fuel,
        expected: String::new(),
        got: String::new(),
    };
    let mut slot = None;
    keep_first(&mut slot, d(9));
    keep_first(&mut slot, d(12));
    keep_first(&mut slot, d(3));
    assert_eq!(slot.unwrap().index, 3);
    assert_eq!(DivergenceKind::WriteSet.to_string(), "write_set");
}
