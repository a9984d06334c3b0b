//! The C2SP tlog-tiles read paths and blobs: content, content types, cache headers, and
//! that nothing outside the tile tree (log key, journal, lock) can be reached.

mod common;

use common::*;
use ledgervm_log::merkle::{leaf_hash, root_from_leaf_hashes};
use ledgervm_log::note::Verifier;
use ledgervm_log::tile::decode_entry_bundle;
use ledgervm_node::receipt::verify_checkpoint;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_tiles_and_entry_bundles_are_served_with_cache_headers() {
    let s = start().await;
    s.load_wat("arith", ARITH_WAT).await;
    // Enough entries for one full level-0 tile and entry bundle (256) plus a partial.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..260 {
        let http = s.http.clone();
        let url = s.url("/v1/apps/arith/calls/add");
        tasks.spawn(async move {
            let body = json!({"args": [{"type": "i32", "value": i}, {"type": "i32", "value": 1}]});
            let resp = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 200);
        });
        if tasks.len() >= 16 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }

    let vkey = vkey(&s).await;
    let resp = s.http.get(s.url("/log/checkpoint")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let note = resp.bytes().await.unwrap();
    let (cp, _) = verify_checkpoint(&note, &Verifier::from_vkey(&vkey).unwrap()).unwrap();
    assert!(cp.size >= 262, "config + load + 260 calls: {}", cp.size);

    // Full tile and full entry bundle: immutable.
    let get = |p: &str| s.http.get(s.url(p)).send();
    let full = get("/log/tile/0/000").await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(
        full.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(full.headers()["content-type"], "application/octet-stream");
    let tile = full.bytes().await.unwrap();
    assert_eq!(tile.len(), 256 * 32);
    let bundle = get("/log/tile/entries/000").await.unwrap();
    assert_eq!(
        bundle.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let entries = decode_entry_bundle(&bundle.bytes().await.unwrap()).unwrap();
    assert_eq!(entries.len(), 256);
    // The hash tile holds exactly the leaf hashes of the bundle's entries.
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(&tile[i * 32..(i + 1) * 32], &leaf_hash(e)[..], "leaf {i}");
    }
    // Entry 1 is the load record the API shows.
    let (_, rec) = s.get_json("/v1/records/1").await;
    assert_eq!(
        rec["receipt"]["entry"].as_str().unwrap().as_bytes(),
        entries[1].as_slice()
    );

    // The rightmost partial tile and bundle: short-lived, and together with the full
    // tile they give the signed root.
    let w = cp.size - 256;
    let partial = get(&format!("/log/tile/0/001.p/{w}")).await.unwrap();
    assert_eq!(partial.status(), 200);
    assert_eq!(partial.headers()["cache-control"], "public, max-age=10");
    let ptile = partial.bytes().await.unwrap();
    let pbundle = get(&format!("/log/tile/entries/001.p/{w}")).await.unwrap();
    assert_eq!(pbundle.headers()["cache-control"], "public, max-age=10");
    let pentries = decode_entry_bundle(&pbundle.bytes().await.unwrap()).unwrap();
    assert_eq!(pentries.len() as u64, w);
    let leaves: Vec<[u8; 32]> = tile
        .chunks(32)
        .chain(ptile.chunks(32))
        .map(|c| c.try_into().unwrap())
        .collect();
    assert_eq!(leaves.len() as u64, cp.size);
    assert_eq!(root_from_leaf_hashes(&leaves), cp.root_hash);
    // Level-1 tile: one hash so far (the root of the first full level-0 tile).
    let l1 = get("/log/tile/1/000.p/1").await.unwrap();
    assert_eq!(l1.status(), 200);
    assert_eq!(
        l1.bytes().await.unwrap().as_ref(),
        &root_from_leaf_hashes(&leaves[..256])[..]
    );

    // A canonical path with no tile yet, and non-canonical spellings.
    assert_error(&s.get_json("/log/tile/0/999").await, 404, "tile_not_found");
    assert_error(
        &s.get_json("/log/tile/0/0000").await,
        404,
        "invalid_log_path",
    );
    assert_error(
        &s.get_json("/log/tile/0/000.p/0").await,
        404,
        "invalid_log_path",
    );
    assert_error(
        &s.get_json("/log/tile/entries/000.p/256").await,
        404,
        "invalid_log_path",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_private_files_are_unreachable() {
    let s = start().await;
    s.load_wat("arith", ARITH_WAT).await;
    let data = s.dir.path().join("data");
    let key = std::fs::read(data.join("log.key")).unwrap();
    assert!(data.join("log").join(".lock").exists() || data.join("log").join(".journal").exists());
    let secret_marker = &key[key.len() - 20..];
    for path in [
        "/log/tile/../../log.key",
        "/log/tile/../../log.key",
        "/log/tile/0/../../../log.key",
        "/log/.journal",
        "/log/.lock",
        "/log/tile/.journal",
        "/log/tile/../.journal",
        "/log/tile/%2e%2e/%2e%2e/log.key",
        "/log/tile/%2E%2E/%2E%2E/log.key",
        "/log/tile/..%2f..%2flog.key",
        "/log/tile/..%2F..%2Flog.key",
        "/log/tile/%2e%2e%2f.journal",
        "/log/tile/entries/..%2f..%2f.journal",
        "/log/tile/0/000%2f..%2f..%2f..%2flog.key",
        "/log/%2ejournal",
        "/log/tile/%00",
        "/log/tile/0/000%00",
        "/blobs/../log.key",
        "/blobs/..%2flog.key",
        "/log/checkpoint/../../log.key",
        "/log.key",
        "/log/log.key",
    ] {
        let (status, head, body) = raw_get(s.addr(), path).await;
        assert!(status == 404 || status == 400, "{path}: {status}\n{head}");
        assert!(
            !body
                .windows(secret_marker.len())
                .any(|w| w == secret_marker),
            "{path} leaked the key"
        );
        if status == 404 || status == 400 {
            let j: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(j["code"].is_string(), "{path}: {j}");
        }
    }
    // Still serving the real thing.
    let (status, _, body) = raw_get(s.addr(), "/log/checkpoint").await;
    assert_eq!(status, 200);
    assert!(body.starts_with(b"localhost/ledgervm\n"));
}
