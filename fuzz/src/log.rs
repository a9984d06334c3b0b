//! Bodies over `ledgervm-log`'s pure parsers: signed notes, checkpoints, tile and entry
//! bundle paths, entry bundles and `tlog-proof` texts. No wasmtime in this build.

use ledgervm_log::checkpoint::Checkpoint;
use ledgervm_log::note::{Note, Signer, VerifierSet};
use ledgervm_log::tile::{Tile, decode_entry_bundle, encode_entry_bundle};
use ledgervm_log::tlog_proof::TlogProof;
use std::sync::OnceLock;

/// The fixed key the seed notes are signed with, so mutations of a validly signed seed
/// reach the code after signature verification (the seed is public: it is a test key).
pub const FUZZ_KEY: &str =
    "PRIVATE+KEY+fuzz.example/log+44c33050+AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH";

/// The origin line of the seed checkpoints.
pub const FUZZ_ORIGIN: &str = "fuzz.example/log";

fn known() -> &'static VerifierSet {
    static SET: OnceLock<VerifierSet> = OnceLock::new();
    SET.get_or_init(|| {
        let signer = Signer::from_private_key(FUZZ_KEY).expect("fixed fuzz key parses");
        VerifierSet::new(vec![Box::new(signer.verifier())])
    })
}

/// Checkpoint bodies and signed checkpoints: a parsed body re-formats to its input
/// (the parser is strict), and opening never panics.
pub fn checkpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cp) = Checkpoint::parse(text)
    {
        assert_eq!(cp.format(), text, "checkpoint parse is not canonical");
    }
    if let Ok((cp, opened)) = Checkpoint::open(data, FUZZ_ORIGIN, known()) {
        assert_eq!(cp.origin, FUZZ_ORIGIN);
        assert!(!opened.verified.is_empty());
    }
}

/// Signed notes: a parsed note formats back to the same bytes, and verification never
/// panics.
pub fn note(data: &[u8]) {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(
            n.format().as_bytes(),
            data,
            "note parse/format is not a round trip"
        );
        let _ = n.verify(known());
    }
}

/// Tile and entry-bundle paths: accepted paths are canonical, and whatever the server
/// would read is inside the tree layout (level <= 5, width 1..=256).
pub fn tile_path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Tile::parse_path(path) {
        assert_eq!(t.path(), path);
        assert!(t.level <= 5 && (1..=256).contains(&t.width));
    }
    if let Ok(t) = Tile::parse_entries_path(path) {
        assert_eq!(t.entries_path(), path);
        assert_eq!(t.level, 0);
    }
}

/// Entry bundles (how records come off the wire): decoding then re-encoding gives the
/// input back.
pub fn entry_bundle(data: &[u8]) {
    if let Ok(entries) = decode_entry_bundle(data) {
        let again = encode_entry_bundle(&entries).expect("decoded entries re-encode");
        assert_eq!(again, data, "entry bundle is not a round trip");
    }
}

/// `tlog-proof` receipt texts: a parsed proof re-encodes to its input.
pub fn tlog_proof(data: &[u8]) {
    if let Ok(p) = TlogProof::parse(data) {
        assert_eq!(p.to_text(), data, "tlog-proof parse is not canonical");
    }
}
