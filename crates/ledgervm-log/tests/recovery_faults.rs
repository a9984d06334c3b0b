//! Recovery, test 1: inject a failure at every write step, re-open, check the invariants.
//!
//! Two depths: [`FaultyStorage`] faults the trait-level writes (puts, the checkpoint
//! swap) the log makes; [`LocalOptions::fault`] faults each file operation inside
//! [`LocalStorage`] (journal append and fdatasync, object writes and renames, flush
//! fsyncs, journal rotation). Each mode is run once failing cleanly and once tearing
//! (a write leaves a prefix of its bytes; a checkpoint swap lands but reports failure).
//! For N = 1, 2, ... the N-th step faults, until a run finishes with no fault at all.

mod common;

use std::path::Path;

use common::{ORIGIN, entry, opts, reopen_and_check, signer};
use ledgervm_log::appender::{AppendError, Log};
use ledgervm_log::storage::{
    FaultInjector, FaultMode, FaultyStorage, LocalOptions, LocalStorage, Storage,
};

/// Entries committed before the faulty run (ends mid-tile, mid-bundle).
const BASE: u64 = 450;
/// The faulty run's waves: each is appended concurrently, then awaited.
const WAVES: [u64; 3] = [3, 80, 30];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

async fn make_base(dir: &Path) -> (u64, [u8; 32]) {
    let s = LocalStorage::open_with(
        dir,
        LocalOptions {
            flush_threshold: 1,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    let log = Log::open(s, signer(), ORIGIN, opts(100)).await.unwrap();
    let hs: Vec<_> = (0..BASE)
        .map(|k| tokio::spawn(log.append(entry(k))))
        .collect();
    for h in hs {
        h.await.unwrap().unwrap();
    }
    let head = (log.size(), log.root());
    log.close().await;
    // Journals are flushed in the background, so the last batches may still be only in
    // the journal: a re-open replays them and retires it, leaving the files complete
    // and durable, as the faulty runs and the corruption test expect.
    drop(LocalStorage::open(dir).unwrap());
    head
}

/// Appends the waves through `storage` until the first failure. Returns the
/// acknowledged entries.
async fn faulty_run<S: Storage>(storage: S) -> Vec<(u64, Vec<u8>)> {
    let log = match Log::open(storage, signer(), ORIGIN, opts(100)).await {
        Ok(l) => l,
        Err(_) => return Vec::new(),
    };
    let mut acked = Vec::new();
    let mut k = BASE;
    'waves: for w in WAVES {
        let hs: Vec<_> = (k..k + w)
            .map(|k| (k, tokio::spawn(log.append(entry(k)))))
            .collect();
        k += w;
        let mut failed = false;
        for (k, h) in hs {
            match h.await.unwrap() {
                Ok(i) => {
                    assert_eq!(i, k, "indexes follow submission order");
                    acked.push((i, entry(k)));
                }
                Err(e) => {
                    assert!(
                        matches!(e, AppendError::Commit(_) | AppendError::ReadOnly),
                        "unexpected error {e}"
                    );
                    failed = true;
                }
            }
        }
        if failed {
            assert!(log.is_read_only());
            let e = log.append(b"after".to_vec()).await.unwrap_err();
            assert_eq!(e.code(), "append.read_only");
            break 'waves;
        }
    }
    log.close().await;
    acked
}

/// A scratch directory, on tmpfs when there is one: these tests check the recovery logic
/// at every step, which an in-process fault cannot tell apart from a power cut anyway (the
/// page cache survives), so paying for real fsyncs hundreds of times buys nothing. The
/// kill test and the interop test run on the real disk.
fn scratch() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}

async fn every_step(depth: &str, mode: FaultMode) {
    let root = scratch();
    let base_dir = root.path().join("base");
    let base_head = make_base(&base_dir).await;
    let mut n = 1u64;
    loop {
        let dir = root.path().join(format!("run-{n}"));
        copy_dir(&base_dir, &dir);
        let faults = FaultInjector::new(n, mode);
        let acked = match depth {
            "trait" => {
                let s = FaultyStorage::new(LocalStorage::open(&dir).unwrap(), faults.clone());
                faulty_run(s).await
            }
            _ => {
                let s = LocalStorage::open_with(
                    &dir,
                    LocalOptions {
                        // Small, so flushes (and their faults) happen within the run.
                        flush_threshold: 24 << 10,
                        fault: Some(faults.clone()),
                    },
                )
                .unwrap();
                faulty_run(s).await
            }
        };
        let log = reopen_and_check(&dir, &acked, Some(&entry), Some(base_head)).await;
        // The recovered log takes appends again and survives another re-open.
        let size = log.size();
        let i = log.append(entry(size)).await.unwrap();
        assert_eq!(i, size);
        let head = (log.size(), log.root());
        log.close().await;
        if n.is_multiple_of(4) {
            let again = reopen_and_check(&dir, &[(i, entry(i))], Some(&entry), Some(head)).await;
            again.close().await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
        if !faults.tripped() {
            let total: u64 = BASE + WAVES.iter().sum::<u64>();
            assert_eq!(
                acked.len() as u64,
                total - BASE,
                "clean run acknowledges everything"
            );
            assert!(
                n > 10,
                "{depth}/{mode:?}: only {n} write steps; the loop tested little"
            );
            eprintln!("{depth}/{mode:?}: faulted each of {} write steps", n - 1);
            break;
        }
        n += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trait_level_fail_at_every_step() {
    every_step("trait", FaultMode::Fail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trait_level_tear_at_every_step() {
    every_step("trait", FaultMode::Tear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_level_fail_at_every_step() {
    every_step("file", FaultMode::Fail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_level_tear_at_every_step() {
    every_step("file", FaultMode::Tear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_full_tile_is_a_typed_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    make_base(&dir).await;
    // Flip one bit in the (full) level-0 tile 0 and in the (full) bundle 0 in turn.
    for path in ["tile/0/000", "tile/entries/000"] {
        let p = dir.join(path);
        let good = std::fs::read(&p).unwrap();
        let mut bad = good.clone();
        bad[5] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        let s = LocalStorage::open(&dir).unwrap();
        let e = Log::open(s, signer(), ORIGIN, opts(64)).await.unwrap_err();
        assert_eq!(e.code(), "open.corrupt_tile", "{path}: {e}");
        std::fs::write(&p, &good).unwrap();
    }
    // A damaged partial level-0 tile no longer matches its bundle.
    let p = dir.join("tile/0/001.p/194");
    let good = std::fs::read(&p).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    std::fs::write(&p, &bad).unwrap();
    let s = LocalStorage::open(&dir).unwrap();
    let e = Log::open(s, signer(), ORIGIN, opts(64)).await.unwrap_err();
    assert_eq!(e.code(), "open.corrupt_tile", "{e}");
    std::fs::write(&p, &good).unwrap();
    // A damaged partial tile higher up: the recomputed root no longer matches.
    let p = dir.join("tile/1/000.p/1");
    let mut bad = std::fs::read(&p).unwrap();
    bad[0] ^= 1;
    std::fs::write(&p, &bad).unwrap();
    let s = LocalStorage::open(&dir).unwrap();
    let e = Log::open(s, signer(), ORIGIN, opts(64)).await.unwrap_err();
    assert_eq!(e.code(), "open.root_mismatch", "{e}");
    // A missing one.
    std::fs::remove_file(&p).unwrap();
    let s = LocalStorage::open(&dir).unwrap();
    let e = Log::open(s, signer(), ORIGIN, opts(64)).await.unwrap_err();
    assert_eq!(e.code(), "open.missing_tile", "{e}");
}
