//! The appender and the reads, end to end on real `LocalStorage`.

mod common;

use std::time::Duration;

use common::{ORIGIN, entry, opts, signer};
use ledgervm_log::appender::{Log, LogOptions, MAX_ENTRY_LEN};
use ledgervm_log::merkle::{
    Hash, leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion,
};
use ledgervm_log::note::Signer;
use ledgervm_log::storage::{FaultInjector, FaultMode, FaultyStorage, LocalStorage};

async fn open(dir: &std::path::Path, o: LogOptions) -> Log {
    Log::open(LocalStorage::open(dir).unwrap(), signer(), ORIGIN, o)
        .await
        .unwrap()
}

async fn append_all(log: &Log, ks: std::ops::Range<u64>) -> Vec<u64> {
    let hs: Vec<_> = ks.map(|k| tokio::spawn(log.append(entry(k)))).collect();
    let mut out = Vec::new();
    for h in hs {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_batched_and_ordered() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(64)).await;
    assert_eq!(log.size(), 0);
    let idx = append_all(&log, 0..1000).await;
    assert_eq!(idx, (0..1000).collect::<Vec<_>>());
    assert_eq!(log.size(), 1000);
    let b = log.batches_committed();
    assert!(
        (1000 / 64..1000).contains(&b),
        "{b} batches for 1000 queued appends"
    );
    // Everything readable, and the root is the RFC 6962 root of the entries.
    let leaves: Vec<Hash> = (0..1000).map(|k| leaf_hash(&entry(k))).collect();
    assert_eq!(log.root(), root_from_leaf_hashes(&leaves));
    for i in 0..1000 {
        assert_eq!(log.entry(i).unwrap(), entry(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_append_comes_with_a_proof_against_its_own_signed_checkpoint() {
    use ledgervm_log::checkpoint::Checkpoint;
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(16)).await;
    // Some appends before, so batches start mid-tile and mid-subtree.
    append_all(&log, 0..37).await;
    let hs: Vec<_> = (37..700)
        .map(|k| tokio::spawn(log.append_with_proof(entry(k))))
        .collect();
    let mut appended = Vec::new();
    for h in hs {
        appended.push(h.await.unwrap().unwrap());
    }
    let known = ledgervm_log::note::VerifierSet::new(vec![Box::new(signer().verifier())]);
    let (size, root) = (log.size(), log.root());
    let mut sizes = std::collections::BTreeSet::new();
    for (k, a) in (37..700u64).zip(appended) {
        assert_eq!(a.index(), k);
        let (cp, _) = Checkpoint::open(a.checkpoint(), ORIGIN, &known).unwrap();
        assert_eq!((cp.size, cp.root_hash), (a.tree_size(), a.root()));
        assert!(a.tree_size() > k, "the checkpoint covers the entry");
        let proof = a.inclusion_proof().unwrap();
        verify_inclusion(k, a.tree_size(), &leaf_hash(&entry(k)), &proof, &a.root()).unwrap();
        // The tree it proves against is the log's, as a consistency proof shows.
        let consistency = log.consistency_proof(a.tree_size(), size).unwrap();
        verify_consistency(a.tree_size(), size, &a.root(), &root, &consistency).unwrap();
        sizes.insert(a.tree_size());
    }
    assert!(sizes.len() > 1, "several batches: {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_batch_one_commits_each_entry() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(1)).await;
    append_all(&log, 0..20).await;
    assert_eq!(log.batches_committed(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_wait_gathers_a_batch_and_close_commits_a_partial_one() {
    let d = tempfile::tempdir().unwrap();
    let o = LogOptions {
        max_batch: 3,
        max_wait: Duration::from_secs(600),
        ..opts(3)
    };
    let log = open(d.path(), o).await;
    // Three appends trickling in become one batch, committed as soon as it is full.
    let mut hs = Vec::new();
    for k in 0..3 {
        hs.push(tokio::spawn(log.append(entry(k))));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for h in hs {
        h.await.unwrap().unwrap();
    }
    assert_eq!(log.batches_committed(), 1);
    // A lone append would wait for company; closing commits it without waiting.
    let lone = tokio::spawn(log.clone().append(entry(3)));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let closer = log.clone();
    closer.close().await;
    assert_eq!(lone.await.unwrap().unwrap(), 3);
    assert_eq!(log.size(), 4);
    assert_eq!(
        log.append(entry(4)).await.unwrap_err().code(),
        "append.closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_entries_get_a_typed_error() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(8)).await;
    let e = log.append(vec![0; MAX_ENTRY_LEN + 1]).await.unwrap_err();
    assert_eq!(e.code(), "append.entry_too_large");
    assert_eq!(log.append(vec![7; MAX_ENTRY_LEN]).await.unwrap(), 0);
    assert_eq!(log.append(Vec::new()).await.unwrap(), 1);
    assert_eq!(log.entry(0).unwrap(), vec![7; MAX_ENTRY_LEN]);
    assert_eq!(log.entry(1).unwrap(), Vec::<u8>::new());
    assert!(!log.is_read_only());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_for_many_sizes() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(97)).await;
    let n = 66_000u64; // three tile levels
    for chunk in (0..n).step_by(5_000) {
        append_all(&log, chunk..(chunk + 5_000).min(n)).await;
    }
    let leaves: Vec<Hash> = (0..n).map(|k| leaf_hash(&entry(k))).collect();
    let root = log.root();
    assert_eq!(root, root_from_leaf_hashes(&leaves));
    let sizes = [
        1u64,
        2,
        3,
        255,
        256,
        257,
        511,
        65_535,
        65_536,
        65_537,
        n - 1,
        n,
    ];
    for &s in &sizes {
        let rs = root_from_leaf_hashes(&leaves[..s as usize]);
        assert_eq!(log.root_at(s).unwrap(), rs, "root at {s}");
        for i in [0, s / 2, s - 1] {
            let p = log.inclusion_proof(i, s).unwrap();
            verify_inclusion(i, s, &leaves[i as usize], &p, &rs).unwrap();
        }
        for &old in &sizes {
            if old <= s {
                let p = log.consistency_proof(old, s).unwrap();
                let ro = root_from_leaf_hashes(&leaves[..old as usize]);
                verify_consistency(old, s, &ro, &rs, &p).unwrap();
            }
        }
    }
    assert_eq!(
        log.inclusion_proof(n, n).unwrap_err().code(),
        "read.out_of_range"
    );
    assert_eq!(
        log.inclusion_proof(0, n + 1).unwrap_err().code(),
        "read.out_of_range"
    );
    assert_eq!(
        log.consistency_proof(5, 4).unwrap_err().code(),
        "read.out_of_range"
    );
    assert_eq!(log.entry(n).unwrap_err().code(), "read.out_of_range");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_continues_where_it_left_off() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(50)).await;
    append_all(&log, 0..300).await;
    let (size, root, cp) = (log.size(), log.root(), log.checkpoint());
    log.close().await;
    let log = open(d.path(), opts(50)).await;
    assert_eq!((log.size(), log.root(), log.checkpoint()), (size, root, cp));
    assert_eq!(
        append_all(&log, 300..310).await,
        (300..310).collect::<Vec<_>>()
    );
    let leaves: Vec<Hash> = (0..310).map(|k| leaf_hash(&entry(k))).collect();
    assert_eq!(log.root(), root_from_leaf_hashes(&leaves));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_or_origin_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(8)).await;
    append_all(&log, 0..3).await;
    log.close().await;
    let other = Signer::generate(ORIGIN).unwrap();
    let e = Log::open(
        LocalStorage::open(d.path()).unwrap(),
        other,
        ORIGIN,
        opts(8),
    )
    .await
    .unwrap_err();
    assert!(e.code().starts_with("note."), "{e} ({})", e.code());
    let e = Log::open(
        LocalStorage::open(d.path()).unwrap(),
        signer(),
        "other/log",
        opts(8),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "checkpoint.wrong_origin", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_makes_the_log_read_only() {
    let d = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new(4, FaultMode::Fail);
    let s = FaultyStorage::new(LocalStorage::open(d.path()).unwrap(), faults.clone());
    let log = Log::open(s, signer(), ORIGIN, opts(8)).await.unwrap();
    // Step 1 is the new log's first checkpoint; the first append takes steps 2–4.
    let e = log.append(entry(0)).await.unwrap_err();
    assert_eq!(e.code(), "append.commit_failed", "{e}");
    assert!(faults.tripped());
    assert!(log.is_read_only());
    assert_eq!(
        log.append(entry(1)).await.unwrap_err().code(),
        "append.read_only"
    );
    // Reads still work at the last good checkpoint.
    assert_eq!(log.size(), 0);
    log.close().await;
    let log = open(d.path(), opts(8)).await;
    assert_eq!(log.size(), 0);
    assert_eq!(log.append(entry(0)).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_tiles_give_corrupt_errors_not_wrong_answers() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(100)).await;
    append_all(&log, 0..600).await;
    log.close().await;
    // Re-opening replays and empties the journal; otherwise the next open would repair
    // the damage below from it.
    drop(LocalStorage::open(d.path()).unwrap());
    // Damage a full bundle and a full level-0 tile, then open without full verification
    // (which would refuse the log) to see what reads do.
    for path in ["tile/entries/001", "tile/0/001"] {
        let p = d.path().join(path);
        let mut b = std::fs::read(&p).unwrap();
        b[40] ^= 0x10;
        std::fs::write(&p, b).unwrap();
    }
    let o = LogOptions {
        verify_on_open: ledgervm_log::appender::VerifyOnOpen::Edge,
        ..opts(100)
    };
    let log = open(d.path(), o).await;
    assert_eq!(log.entry(5).unwrap(), entry(5));
    // Byte 40 of bundle 1 is inside entry 256; of tile 0/001, inside leaf hash 257.
    assert_eq!(log.entry(256).unwrap_err().code(), "read.corrupt");
    assert_eq!(log.entry(257).unwrap_err().code(), "read.corrupt");
    assert_eq!(log.entry(300).unwrap(), entry(300));
    let size = log.size();
    // Every proof that uses a hash from the damaged tile fails its self-check.
    let bad = (256..512)
        .filter(|&i| log.inclusion_proof(i, size).is_err())
        .count();
    assert!(bad > 0, "no proof noticed the damaged tile");
    for i in 256..512 {
        if let Err(e) = log.inclusion_proof(i, size) {
            assert_eq!(e.code(), "read.corrupt");
        }
    }
    assert!(log.inclusion_proof(5, size).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_partial_tiles_are_collected_and_old_sizes_still_read() {
    use ledgervm_log::reader::LogReader;
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    let storage = Arc::new(LocalStorage::open(d.path()).unwrap());
    let log = Log::open(storage.clone(), signer(), ORIGIN, opts(7))
        .await
        .unwrap();
    append_all(&log, 0..300).await;
    let root_300 = log.root();
    append_all(&log, 300..600).await;
    storage.flush().unwrap();
    // Tiles 0 and 1 filled up: their partial versions are gone, the open one's remain.
    assert!(!d.path().join("tile/0/000.p").exists());
    assert!(!d.path().join("tile/entries/001.p").exists());
    assert!(d.path().join("tile/0/002.p").exists());
    let leaves: Vec<Hash> = (0..600).map(|k| leaf_hash(&entry(k))).collect();
    assert_eq!(log.root(), root_from_leaf_hashes(&leaves));
    // A reader still serving the old size 300 falls back to the full tiles.
    let old = LogReader::new(storage.clone(), 16);
    assert_eq!(old.entry(299, 300, root_300).unwrap(), entry(299));
    let p = old.inclusion_proof(299, 300, 300, root_300).unwrap();
    verify_inclusion(299, 300, &leaves[299], &p, &root_300).unwrap();
    log.close().await;
}

/// A receipt's checkpoint and proof come from one read of the head: while other appends
/// keep committing, every proof still verifies against the root of the checkpoint it
/// came with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_with_proof_matches_its_checkpoint_under_concurrent_commits() {
    use ledgervm_log::checkpoint::Checkpoint;
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), opts(8)).await;
    let writer = {
        let log = log.clone();
        tokio::spawn(async move { append_all(&log, 0..600).await })
    };
    let mut checked = 0;
    while checked < 300 || !writer.is_finished() {
        let size = log.size();
        if size == 0 {
            tokio::task::yield_now().await;
            continue;
        }
        let index = (checked * 7919) % size;
        let (cp, proof) = log.checkpoint_with_proof(index).unwrap();
        let text = String::from_utf8(cp.to_vec()).unwrap();
        let body = text.split("\n\n").next().unwrap().to_string() + "\n";
        let cp = Checkpoint::parse(&body).unwrap();
        assert!(cp.size > index);
        verify_inclusion(
            index,
            cp.size,
            &leaf_hash(&entry(index)),
            &proof,
            &cp.root_hash,
        )
        .unwrap();
        checked += 1;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
}
