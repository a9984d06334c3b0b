//! Tile paths against `tlog_scales.tiles.tile_path` (PyPI tlog-scales), the reference
//! the interop suite checks the on-disk layout with; see tests/vectors/tile_paths.json.

use ledgervm_log::tile::Tile;
use serde_json::Value;

#[test]
fn paths_match_tlog_scales() {
    let v: Value = serde_json::from_str(include_str!("vectors/tile_paths.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 200);
    for c in cases {
        let level = c["level"].as_i64().unwrap();
        let index = c["index"].as_u64().unwrap();
        let width = c["width"].as_u64().unwrap() as u16;
        let want = c["path"].as_str().unwrap();
        if level < 0 {
            let t = Tile {
                level: 0,
                index,
                width,
            };
            assert_eq!(t.entries_path(), want);
            assert_eq!(Tile::parse_entries_path(want).unwrap(), t);
        } else {
            let t = Tile {
                level: level as u8,
                index,
                width,
            };
            assert_eq!(t.path(), want);
            assert_eq!(Tile::parse_path(want).unwrap(), t);
        }
    }
}
