//! Helpers shared by the integration tests: a served node, built guests and
//! data-directory surgery.
#![allow(dead_code)]

use ledgervm_log::tile::tile_in_tree;
use std::path::{Path, PathBuf};

/// `$LEDGERVM_GUESTS_DIR`, or `<repo>/guests/out`.
pub fn guests_dir() -> PathBuf {
    std::env::var_os("LEDGERVM_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../guests/out"))
}

/// A built guest's bytes.
pub fn guest(name: &str) -> Vec<u8> {
    let path = guests_dir().join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("guest {} (build guests first): {e}", path.display()))
}

/// `(start, len)` of each entry body in an entry bundle.
pub fn entry_spans(bundle: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 2 <= bundle.len() {
        let len = u16::from_be_bytes([bundle[pos], bundle[pos + 1]]) as usize;
        out.push((pos + 2, len));
        pos += 2 + len;
    }
    out
}

/// Flips one byte in the middle of entry `index` of the entry bundle the tree of `size`
/// entries uses, in a node data directory. Returns the bundle's path.
pub fn flip_entry_byte(data_dir: &Path, size: u64, index: u64) -> PathBuf {
    let tile = tile_in_tree(0, index / 256, size).expect("index in tree");
    let path = data_dir.join("log").join(tile.entries_path());
    let mut bundle = std::fs::read(&path).unwrap();
    let (start, len) = entry_spans(&bundle)[(index % 256) as usize];
    bundle[start + len / 2] ^= 0x01;
    std::fs::write(&path, &bundle).unwrap();
    path
}

/// The crate's directory, read at run time: the shared target directory may hold a test
/// binary that was built in another checkout, and `env!` would point there.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// A node on a fresh data directory, served on loopback with the server's defaults
/// (TLS with a self-signed, identity-bound certificate).
pub struct Served {
    /// The data directory (removed on drop).
    pub data: tempfile::TempDir,
    pub node: ledgervm_node::Node,
    /// The log's verifier key.
    pub vkey: String,
    pub server: ledgervm_server::ServerHandle,
}

/// Opens a node in a fresh temp dir and serves it on 127.0.0.1 (any port).
pub async fn serve_fresh() -> Served {
    let data = tempfile::tempdir().unwrap();
    let node = ledgervm_node::Node::open(ledgervm_node::NodeOptions::new(data.path()))
        .await
        .unwrap();
    let vkey = node.vkey().to_string();
    let server = ledgervm_server::serve(
        node.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    Served {
        data,
        node,
        vkey,
        server,
    }
}
